//! AWS KMS key specs, key usages and algorithm names, with the tables that
//! say which algorithms each key spec supports (as `DescribeKey` and
//! `GetPublicKey` report them) and AWS's plaintext limits.
//!
//! Every enum spells its values exactly as the AWS wire protocol does
//! (`as_str`) and parses exactly those spellings (`parse`, case-sensitive).

use std::fmt;

macro_rules! aws_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in AWS's documentation order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The AWS spelling of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire ),+
                }
            }

            /// Parses the AWS spelling (case-sensitive); `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $wire => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_enum! {
    /// The asymmetric and HMAC key specs of AWS KMS (`SYMMETRIC_DEFAULT` is
    /// not here: symmetric encryption keys are the service's own business).
    pub enum KeySpec {
        /// RSA, 2048-bit modulus.
        Rsa2048 => "RSA_2048",
        /// RSA, 3072-bit modulus.
        Rsa3072 => "RSA_3072",
        /// RSA, 4096-bit modulus.
        Rsa4096 => "RSA_4096",
        /// NIST P-256 (secp256r1).
        EccNistP256 => "ECC_NIST_P256",
        /// NIST P-384 (secp384r1).
        EccNistP384 => "ECC_NIST_P384",
        /// NIST P-521 (secp521r1).
        EccNistP521 => "ECC_NIST_P521",
        /// secp256k1.
        EccSecgP256k1 => "ECC_SECG_P256K1",
        /// Ed25519.
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        /// SM2 (GM/T 0003), China Regions only in AWS.
        Sm2 => "SM2",
        /// HMAC with SHA-224.
        Hmac224 => "HMAC_224",
        /// HMAC with SHA-256.
        Hmac256 => "HMAC_256",
        /// HMAC with SHA-384.
        Hmac384 => "HMAC_384",
        /// HMAC with SHA-512.
        Hmac512 => "HMAC_512",
        /// ML-DSA-44 (FIPS 204).
        MlDsa44 => "ML_DSA_44",
        /// ML-DSA-65 (FIPS 204).
        MlDsa65 => "ML_DSA_65",
        /// ML-DSA-87 (FIPS 204).
        MlDsa87 => "ML_DSA_87",
        /// ML-KEM-512 (FIPS 203).
        MlKem512 => "ML_KEM_512",
        /// ML-KEM-768 (FIPS 203).
        MlKem768 => "ML_KEM_768",
        /// ML-KEM-1024 (FIPS 203).
        MlKem1024 => "ML_KEM_1024",
    }
}

aws_enum! {
    /// What a KMS key may be used for (fixed at creation).
    pub enum KeyUsage {
        /// `Encrypt` / `Decrypt` (RSA, SM2).
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        /// `Sign` / `Verify`.
        SignVerify => "SIGN_VERIFY",
        /// `GenerateMac` / `VerifyMac` (HMAC).
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        /// `DeriveSharedSecret` (NIST P curves, SM2).
        KeyAgreement => "KEY_AGREEMENT",
        /// `Decapsulate` (ML-KEM); encapsulation needs only the public key.
        EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
    }
}

aws_enum! {
    /// `SigningAlgorithmSpec`.
    pub enum SigningAlgorithm {
        /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt.
        RsassaPssSha256 => "RSASSA_PSS_SHA_256",
        /// RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt.
        RsassaPssSha384 => "RSASSA_PSS_SHA_384",
        /// RSASSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt.
        RsassaPssSha512 => "RSASSA_PSS_SHA_512",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
        /// ECDSA with SHA-256 (P-256, secp256k1), DER signature.
        EcdsaSha256 => "ECDSA_SHA_256",
        /// ECDSA with SHA-384 (P-384), DER signature.
        EcdsaSha384 => "ECDSA_SHA_384",
        /// ECDSA with SHA-512 (P-521), DER signature.
        EcdsaSha512 => "ECDSA_SHA_512",
        /// SM2DSA with SM3 and the distinguishing id `1234567812345678`, DER signature.
        Sm2Dsa => "SM2DSA",
        /// ML-DSA (FIPS 204, hedged, empty context).
        MlDsaShake256 => "ML_DSA_SHAKE_256",
        /// Pure Ed25519 (RFC 8032); RAW messages only.
        Ed25519Sha512 => "ED25519_SHA_512",
        /// Ed25519ph (RFC 8032); DIGEST messages only, pre-hashed once more.
        Ed25519PhSha512 => "ED25519_PH_SHA_512",
    }
}

aws_enum! {
    /// `EncryptionAlgorithmSpec`, asymmetric values only.
    pub enum EncryptionAlgorithm {
        /// RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label.
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        /// RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label.
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        /// SM2 public-key encryption (GM/T 0003.4), ASN.1 DER ciphertext.
        Sm2Pke => "SM2PKE",
    }
}

aws_enum! {
    /// `MacAlgorithmSpec`.
    pub enum MacAlgorithm {
        /// HMAC-SHA-224.
        HmacSha224 => "HMAC_SHA_224",
        /// HMAC-SHA-256.
        HmacSha256 => "HMAC_SHA_256",
        /// HMAC-SHA-384.
        HmacSha384 => "HMAC_SHA_384",
        /// HMAC-SHA-512.
        HmacSha512 => "HMAC_SHA_512",
    }
}

aws_enum! {
    /// `KeyAgreementAlgorithmSpec`.
    pub enum KeyAgreementAlgorithm {
        /// Elliptic Curve Cryptography Cofactor Diffie-Hellman primitive; the
        /// raw shared secret is the x-coordinate of the shared point.
        Ecdh => "ECDH",
    }
}

aws_enum! {
    /// `EncapsulationAlgorithmSpec`.
    pub enum EncapsulationAlgorithm {
        /// ML-KEM (FIPS 203) with the key's parameter set; the shared secret
        /// is 32 bytes.
        MlKem => "ML_KEM",
    }
}

aws_enum! {
    /// `MessageType` of `Sign` and `Verify`.
    pub enum MessageType {
        /// The message itself; the algorithm hashes it.
        Raw => "RAW",
        /// A digest made by the caller with the algorithm's hash; its length
        /// must be the hash's output length.
        Digest => "DIGEST",
        /// ML-DSA only: the 64-byte message representative mu of FIPS 204.
        ExternalMu => "EXTERNAL_MU",
    }
}

use EncryptionAlgorithm as E;
use KeySpec as K;
use KeyUsage as U;
use SigningAlgorithm as S;

const RSA_SIGNING: &[SigningAlgorithm] = &[
    S::RsassaPkcs1V15Sha256,
    S::RsassaPkcs1V15Sha384,
    S::RsassaPkcs1V15Sha512,
    S::RsassaPssSha256,
    S::RsassaPssSha384,
    S::RsassaPssSha512,
];

impl KeySpec {
    /// The key usages AWS allows for this spec (one is chosen at creation).
    pub fn key_usages(self) -> &'static [KeyUsage] {
        match self {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => &[U::EncryptDecrypt, U::SignVerify],
            K::EccNistP256 | K::EccNistP384 | K::EccNistP521 => &[U::SignVerify, U::KeyAgreement],
            K::EccSecgP256k1 | K::EccNistEdwards25519 => &[U::SignVerify],
            K::Sm2 => &[U::EncryptDecrypt, U::SignVerify, U::KeyAgreement],
            K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512 => &[U::GenerateVerifyMac],
            K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => &[U::SignVerify],
            K::MlKem512 | K::MlKem768 | K::MlKem1024 => &[U::EncapsulateDecapsulate],
        }
    }

    /// Whether AWS allows `usage` for this spec.
    pub fn allows_usage(self, usage: KeyUsage) -> bool {
        self.key_usages().contains(&usage)
    }

    /// Whether this is one of AWS's `DataKeyPairSpec` values
    /// (`GenerateDataKeyPair`): RSA, the ECC specs, SM2 and ML-KEM.
    pub fn is_data_key_pair_spec(self) -> bool {
        matches!(
            self,
            K::Rsa2048
                | K::Rsa3072
                | K::Rsa4096
                | K::EccNistP256
                | K::EccNistP384
                | K::EccNistP521
                | K::EccSecgP256k1
                | K::EccNistEdwards25519
                | K::Sm2
                | K::MlKem512
                | K::MlKem768
                | K::MlKem1024
        )
    }

    /// Whether the spec is an HMAC spec (symmetric; no public key).
    pub fn is_hmac(self) -> bool {
        matches!(self, K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512)
    }

    /// Whether the spec is an ML-DSA spec.
    pub fn is_ml_dsa(self) -> bool {
        matches!(self, K::MlDsa44 | K::MlDsa65 | K::MlDsa87)
    }

    /// Whether the spec is an ML-KEM spec (key encapsulation).
    pub fn is_ml_kem(self) -> bool {
        matches!(self, K::MlKem512 | K::MlKem768 | K::MlKem1024)
    }

    /// Whether a FIPS build serves the spec: every part of it done by the
    /// AWS-LC FIPS module, with an approved curve. Not SM2, Ed25519 (its
    /// prehashed form), ML-DSA (external mu) and ML-KEM (seed expansion and
    /// encodings), partly done with RustCrypto, nor secp256k1, not an
    /// approved curve.
    pub fn in_fips_module(self) -> bool {
        !matches!(self, K::Sm2 | K::EccSecgP256k1 | K::EccNistEdwards25519) && !self.is_ml_dsa() && !self.is_ml_kem()
    }
}

/// Whether this build's cryptography is the AWS-LC FIPS module (the `fips`
/// feature, docs/FIPS.md).
pub const FIPS: bool = cfg!(feature = "fips");

/// The signing algorithms of a spec, in the order `DescribeKey` lists them
/// for a `SIGN_VERIFY` key; empty for specs that cannot sign.
pub fn signing_algorithms(spec: KeySpec) -> &'static [SigningAlgorithm] {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => RSA_SIGNING,
        K::EccNistP256 | K::EccSecgP256k1 => &[S::EcdsaSha256],
        K::EccNistP384 => &[S::EcdsaSha384],
        K::EccNistP521 => &[S::EcdsaSha512],
        K::EccNistEdwards25519 => &[S::Ed25519Sha512, S::Ed25519PhSha512],
        K::Sm2 => &[S::Sm2Dsa],
        K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => &[S::MlDsaShake256],
        K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512 | K::MlKem512 | K::MlKem768 | K::MlKem1024 => &[],
    }
}

/// The encryption algorithms of a spec, as `DescribeKey` lists them for an
/// `ENCRYPT_DECRYPT` key; empty for specs that cannot encrypt.
pub fn encryption_algorithms(spec: KeySpec) -> &'static [EncryptionAlgorithm] {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => &[E::RsaesOaepSha1, E::RsaesOaepSha256],
        K::Sm2 => &[E::Sm2Pke],
        _ => &[],
    }
}

/// The key agreement algorithms of a spec, as `DescribeKey` lists them for a
/// `KEY_AGREEMENT` key; empty for specs that cannot derive shared secrets.
pub fn key_agreement_algorithms(spec: KeySpec) -> &'static [KeyAgreementAlgorithm] {
    match spec {
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::Sm2 => &[KeyAgreementAlgorithm::Ecdh],
        _ => &[],
    }
}

/// The encapsulation algorithms of a spec, as `DescribeKey` lists them for an
/// `ENCAPSULATE_DECAPSULATE` key; empty for specs that cannot decapsulate.
pub fn encapsulation_algorithms(spec: KeySpec) -> &'static [EncapsulationAlgorithm] {
    match spec {
        K::MlKem512 | K::MlKem768 | K::MlKem1024 => &[EncapsulationAlgorithm::MlKem],
        _ => &[],
    }
}

/// The length in bytes of an ML-KEM ciphertext of the spec (FIPS 203
/// table 3: 768, 1088 and 1568 bytes for ML-KEM-512, -768 and -1024), the
/// only length `Decapsulate` accepts; `None` for other specs.
pub fn encapsulation_ciphertext_len(spec: KeySpec) -> Option<usize> {
    match spec {
        K::MlKem512 => Some(768),
        K::MlKem768 => Some(1088),
        K::MlKem1024 => Some(1568),
        _ => None,
    }
}

/// The length in bytes of an ML-KEM shared secret (every parameter set).
pub const ML_KEM_SHARED_SECRET_LEN: usize = 32;

/// The MAC algorithm of an HMAC spec (one each); empty for other specs.
pub fn mac_algorithms(spec: KeySpec) -> &'static [MacAlgorithm] {
    match spec {
        K::Hmac224 => &[MacAlgorithm::HmacSha224],
        K::Hmac256 => &[MacAlgorithm::HmacSha256],
        K::Hmac384 => &[MacAlgorithm::HmacSha384],
        K::Hmac512 => &[MacAlgorithm::HmacSha512],
        _ => &[],
    }
}

/// The largest plaintext AWS accepts in one `Encrypt` call with this spec and
/// algorithm (RSA-OAEP: `k - 2*hLen - 2`; SM2PKE: 1024 bytes), or `None`
/// when the algorithm does not belong to the spec.
pub fn max_plaintext_len(spec: KeySpec, algorithm: EncryptionAlgorithm) -> Option<usize> {
    let modulus = match spec {
        K::Rsa2048 => 256,
        K::Rsa3072 => 384,
        K::Rsa4096 => 512,
        K::Sm2 => return (algorithm == E::Sm2Pke).then_some(1024),
        _ => return None,
    };
    match algorithm {
        E::RsaesOaepSha1 => Some(modulus - 2 * 20 - 2),
        E::RsaesOaepSha256 => Some(modulus - 2 * 32 - 2),
        E::Sm2Pke => None,
    }
}

/// The length in bytes of the digest a `DIGEST` message must have for this
/// algorithm (`None` for algorithms without a `DIGEST` form: pure Ed25519
/// and ML-DSA, whose pre-hashed form is `EXTERNAL_MU`, 64 bytes).
pub fn digest_len(algorithm: SigningAlgorithm) -> Option<usize> {
    match algorithm {
        S::RsassaPssSha256 | S::RsassaPkcs1V15Sha256 | S::EcdsaSha256 | S::Sm2Dsa => Some(32),
        S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => Some(48),
        S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 | S::EcdsaSha512 | S::Ed25519PhSha512 => Some(64),
        S::Ed25519Sha512 | S::MlDsaShake256 => None,
    }
}

/// The message types an algorithm accepts.
///
/// AWS documents that `ED25519_SHA_512` requires `RAW` and
/// `ED25519_PH_SHA_512` requires `DIGEST` (a 64-byte value that KMS hashes
/// once more, as Ed25519ph does); ML-DSA takes `RAW` or `EXTERNAL_MU`; every
/// other algorithm takes `RAW` or `DIGEST`.
pub fn message_types(algorithm: SigningAlgorithm) -> &'static [MessageType] {
    match algorithm {
        S::Ed25519Sha512 => &[MessageType::Raw],
        S::Ed25519PhSha512 => &[MessageType::Digest],
        S::MlDsaShake256 => &[MessageType::Raw, MessageType::ExternalMu],
        _ => &[MessageType::Raw, MessageType::Digest],
    }
}

/// HMAC key length in bytes that [`crate::generate`] produces for an HMAC spec.
pub fn hmac_key_len(spec: KeySpec) -> Option<usize> {
    match spec {
        K::Hmac224 => Some(28),
        K::Hmac256 => Some(32),
        K::Hmac384 => Some(48),
        K::Hmac512 => Some(64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in KeySpec::ALL {
            assert_eq!(KeySpec::parse(s.as_str()), Some(*s));
        }
        for a in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(a.as_str()), Some(*a));
        }
        for a in EncryptionAlgorithm::ALL {
            assert_eq!(EncryptionAlgorithm::parse(&a.to_string()), Some(*a));
        }
        for u in KeyUsage::ALL {
            assert_eq!(KeyUsage::parse(u.as_str()), Some(*u));
        }
        assert_eq!(EncapsulationAlgorithm::parse("ML_KEM"), Some(EncapsulationAlgorithm::MlKem));
        assert_eq!(KeySpec::ALL.len(), 19);
        assert_eq!(KeySpec::parse("rsa_2048"), None);
        assert_eq!(KeySpec::parse("SYMMETRIC_DEFAULT"), None);
    }

    #[test]
    fn aws_plaintext_limits() {
        let l = |s, a| max_plaintext_len(s, a);
        assert_eq!(l(K::Rsa2048, E::RsaesOaepSha1), Some(214));
        assert_eq!(l(K::Rsa2048, E::RsaesOaepSha256), Some(190));
        assert_eq!(l(K::Rsa3072, E::RsaesOaepSha1), Some(342));
        assert_eq!(l(K::Rsa3072, E::RsaesOaepSha256), Some(318));
        assert_eq!(l(K::Rsa4096, E::RsaesOaepSha1), Some(470));
        assert_eq!(l(K::Rsa4096, E::RsaesOaepSha256), Some(446));
        assert_eq!(l(K::Sm2, E::Sm2Pke), Some(1024));
        assert_eq!(l(K::Sm2, E::RsaesOaepSha256), None);
        assert_eq!(l(K::Rsa2048, E::Sm2Pke), None);
        assert_eq!(l(K::EccNistP256, E::RsaesOaepSha1), None);
    }

    #[test]
    fn every_usage_has_algorithms() {
        for spec in KeySpec::ALL {
            for usage in spec.key_usages() {
                let n = match usage {
                    U::SignVerify => signing_algorithms(*spec).len(),
                    U::EncryptDecrypt => encryption_algorithms(*spec).len(),
                    U::KeyAgreement => key_agreement_algorithms(*spec).len(),
                    U::GenerateVerifyMac => mac_algorithms(*spec).len(),
                    U::EncapsulateDecapsulate => encapsulation_algorithms(*spec).len(),
                };
                assert!(n > 0, "{spec} {usage}");
            }
        }
    }
}
