//! The cryptography of every asymmetric and HMAC key spec of AWS KMS, behind
//! a small synchronous API with no I/O.
//!
//! - Key material crosses the API as bytes: private keys as DER PKCS#8
//!   (HMAC keys raw), public keys as DER SubjectPublicKeyInfo, the formats
//!   `GenerateDataKeyPair` and `GetPublicKey` return. Secrets come back as
//!   [`SecretBytes`] (zeroized on drop, redacted in `Debug`).
//! - Every function takes the key's [`KeySpec`] and checks that the
//!   algorithm and message type belong to it, so the service can map an
//!   [`Error`] kind straight to an AWS exception.
//! - Providers: aws-lc-rs wherever it covers the algorithm (RSA, ECDSA,
//!   ECDH on NIST curves, Ed25519, ML-DSA, ML-KEM encapsulation and
//!   decapsulation, HMAC); the RustCrypto `sm2` crate for SM2 (sign,
//!   encrypt, key agreement), `ed25519-dalek` for Ed25519ph, `ml-dsa` for
//!   ML-DSA with an external mu and `ml-kem` for ML-KEM keys from their
//!   seed and their DER encodings, which aws-lc-rs does not expose. Nothing
//!   is hand-rolled.
//! - RSA-4096 generation takes seconds: run [`generate`] on a blocking thread.
//!
//! | Spec | Usages | Algorithms |
//! |---|---|---|
//! | RSA_2048/3072/4096 | ENCRYPT_DECRYPT, SIGN_VERIFY | RSAES_OAEP_SHA_1/256; RSASSA_PKCS1_V1_5_SHA_256/384/512, RSASSA_PSS_SHA_256/384/512 |
//! | ECC_NIST_P256/P384/P521 | SIGN_VERIFY, KEY_AGREEMENT | ECDSA_SHA_256/384/512 (one per curve); ECDH |
//! | ECC_SECG_P256K1 | SIGN_VERIFY | ECDSA_SHA_256 |
//! | ECC_NIST_EDWARDS25519 | SIGN_VERIFY | ED25519_SHA_512 (RAW), ED25519_PH_SHA_512 (DIGEST) |
//! | SM2 | ENCRYPT_DECRYPT, SIGN_VERIFY, KEY_AGREEMENT | SM2PKE; SM2DSA; ECDH |
//! | HMAC_224/256/384/512 | GENERATE_VERIFY_MAC | HMAC_SHA_224/256/384/512 |
//! | ML_DSA_44/65/87 | SIGN_VERIFY | ML_DSA_SHAKE_256 (RAW, EXTERNAL_MU) |
//! | ML_KEM_512/768/1024 | ENCAPSULATE_DECAPSULATE | ML_KEM |
//!
//! ML-KEM keys (FIPS 203, encodings of RFC 9935): the public key is an SPKI
//! with the id-alg-ml-kem-512/768/1024 OID and no parameters, as AWS's
//! `GetPublicKey` returns; the private key a PKCS#8 holding the 64-byte seed
//! `[0] IMPLICIT OCTET STRING`, the RFC's seed form and OpenSSL 3.5's
//! default (AWS does not document which form `GenerateDataKeyPair`
//! returns). See [`encapsulate`] and [`decapsulate`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ecc;
mod ed25519;
mod error;
mod hmac;
mod import;
mod mldsa;
mod mlkem;
mod private;
mod rsa;
mod secret;
mod sm2;
mod spec;

pub use error::{Error, Result};
pub use import::{import_private_key, unwrap_key_material, WrappingAlgorithm};
pub use mldsa::MU_LEN;
pub use private::PrivateKey;
pub use secret::{KeyPair, SecretBytes};
pub use sm2::DEFAULT_DISTINGUISHING_ID as SM2_DEFAULT_DISTINGUISHING_ID;
pub use spec::{
    digest_len, encapsulation_algorithms, encapsulation_ciphertext_len, encryption_algorithms, hmac_key_len,
    key_agreement_algorithms, mac_algorithms, max_plaintext_len, message_types, signing_algorithms,
    EncapsulationAlgorithm, EncryptionAlgorithm, KeyAgreementAlgorithm, KeySpec, KeyUsage, MacAlgorithm, MessageType,
    SigningAlgorithm, FIPS, ML_KEM_SHARED_SECRET_LEN,
};

use KeySpec as K;

/// Generates a new key of `spec`: for asymmetric specs a key pair (private
/// key DER PKCS#8 v1, public key DER SPKI), for HMAC specs a random key of
/// the spec's length ([`hmac_key_len`]).
///
/// Also serves `GenerateDataKeyPair` (the specs for which
/// [`KeySpec::is_data_key_pair_spec`] holds): both encodings are the
/// standard ones OpenSSL reads.
pub fn generate(spec: KeySpec) -> Result<KeyPair> {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => rsa::generate(spec),
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => ecc::generate(spec),
        K::EccNistEdwards25519 => ed25519::generate(),
        K::Sm2 => sm2::generate(),
        K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512 => hmac::generate(spec),
        K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => mldsa::generate(spec),
        K::MlKem512 | K::MlKem768 | K::MlKem1024 => mlkem::generate(spec),
    }
}

/// Signs `message` with the PKCS#8 `private_key` of `spec`.
///
/// `message_type`: [`MessageType::Raw`] signs the message (the algorithm
/// hashes it); [`MessageType::Digest`] signs a digest the caller computed
/// with the algorithm's hash, which must be [`digest_len`] bytes long
/// (else [`Error::InvalidDigestLength`]); [`MessageType::ExternalMu`] is for
/// ML-DSA only, a 64-byte mu. See [`message_types`] for the combinations
/// AWS allows (Ed25519 in particular); others give
/// [`Error::UnsupportedMessageType`].
///
/// Signatures: RSA raw (modulus-sized), ECDSA and SM2DSA DER
/// `SEQUENCE { r, s }`, Ed25519 64 bytes, ML-DSA per FIPS 204.
pub fn sign(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => rsa::sign(spec, private_key, algorithm, message_type, message),
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
            ecc::sign(spec, private_key, algorithm, message_type, message)
        }
        K::EccNistEdwards25519 => ed25519::sign(private_key, algorithm, message_type, message),
        K::Sm2 => sm2::sign(private_key, algorithm, message_type, message),
        K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => mldsa::sign(spec, private_key, algorithm, message_type, message),
        K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512 | K::MlKem512 | K::MlKem768 | K::MlKem1024 => {
            Err(Error::UnsupportedOperation { spec })
        }
    }
}

/// Verifies `signature` over `message` with the DER SPKI `public_key` of
/// `spec`. `Ok(false)` for a wrong or malformed signature; errors only for
/// an algorithm or message type the spec does not allow, a wrong digest
/// length, or a public key that is not an SPKI of the spec. The message
/// type need not be the one used to sign (RAW and DIGEST of the same
/// message verify alike, except for Ed25519ph, which is DIGEST only).
pub fn verify(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => {
            rsa::verify(spec, public_key, algorithm, message_type, message, signature)
        }
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
            ecc::verify(spec, public_key, algorithm, message_type, message, signature)
        }
        K::EccNistEdwards25519 => ed25519::verify(public_key, algorithm, message_type, message, signature),
        K::Sm2 => sm2::verify(public_key, algorithm, message_type, message, signature),
        K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => {
            mldsa::verify(spec, public_key, algorithm, message_type, message, signature)
        }
        K::Hmac224 | K::Hmac256 | K::Hmac384 | K::Hmac512 | K::MlKem512 | K::MlKem768 | K::MlKem1024 => {
            Err(Error::UnsupportedOperation { spec })
        }
    }
}

/// Encrypts `plaintext` with the DER SPKI `public_key` of `spec`.
///
/// RSA: RSAES-OAEP with the named hash for both OAEP and MGF1 and an empty
/// label (so any standard library's ciphertext made with the public key
/// decrypts). SM2: SM2PKE, ciphertext in ASN.1 DER. Plaintexts longer than
/// [`max_plaintext_len`] give [`Error::PlaintextTooLong`].
pub fn encrypt(spec: KeySpec, public_key: &[u8], algorithm: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => rsa::encrypt(spec, public_key, algorithm, plaintext),
        K::Sm2 => sm2::encrypt(public_key, algorithm, plaintext),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

/// Decrypts `ciphertext` with the PKCS#8 `private_key` of `spec` (the
/// inverse of [`encrypt`]). A ciphertext of the wrong size gives
/// [`Error::MalformedCiphertext`]; any other failure
/// [`Error::DecryptionFailed`], without detail.
pub fn decrypt(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => rsa::decrypt(spec, private_key, algorithm, ciphertext),
        K::Sm2 => sm2::decrypt(private_key, algorithm, ciphertext),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

/// HMAC of `message` under the raw `key` of an HMAC spec; `algorithm` must be
/// the spec's ([`mac_algorithms`]). Any non-empty key length is accepted
/// (imported HMAC key material need not have the generated length).
pub fn mac(spec: KeySpec, algorithm: MacAlgorithm, key: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    hmac::mac(spec, algorithm, key, message)
}

/// Checks `tag` against the HMAC of `message`, in constant time;
/// `Ok(false)` when it does not match (including a tag of the wrong length).
pub fn verify_mac(spec: KeySpec, algorithm: MacAlgorithm, key: &[u8], message: &[u8], tag: &[u8]) -> Result<bool> {
    hmac::verify_mac(spec, algorithm, key, message, tag)
}

/// ECDH (`DeriveSharedSecret`): the raw shared secret of the PKCS#8
/// `private_key` of `spec` and the peer's DER SPKI public key on the same
/// curve, that is the x-coordinate of the shared point (32, 48 or 66 bytes
/// for P-256, P-384, P-521; 32 for SM2). A peer key that is not an SPKI on
/// the key's curve gives [`Error::MalformedPublicKey`].
pub fn derive_shared_secret(
    spec: KeySpec,
    algorithm: KeyAgreementAlgorithm,
    private_key: &[u8],
    peer_public_key: &[u8],
) -> Result<SecretBytes> {
    let KeyAgreementAlgorithm::Ecdh = algorithm;
    match spec {
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 => {
            ecc::derive_shared_secret(spec, private_key, peer_public_key)
        }
        K::Sm2 => sm2::derive_shared_secret(private_key, peer_public_key),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

/// ML-KEM encapsulation to the DER SPKI `public_key` of an ML-KEM spec:
/// returns the ciphertext ([`encapsulation_ciphertext_len`] bytes) and the
/// 32-byte shared secret. What a holder of the public key does outside
/// KMS; here for tests and for a service that offers it.
///
/// A public key that is not the canonical SPKI of the spec (its OID, no
/// parameters, the parameter set's key length, and coefficients that pass
/// the FIPS 203 modulus check) gives [`Error::MalformedPublicKey`]; a spec
/// that is not ML-KEM [`Error::UnsupportedOperation`].
pub fn encapsulate(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: EncapsulationAlgorithm,
) -> Result<(Vec<u8>, SecretBytes)> {
    mlkem::encapsulate(spec, public_key, algorithm)
}

/// ML-KEM decapsulation (`Decapsulate`) of `ciphertext` with the PKCS#8
/// `private_key` of an ML-KEM spec: the 32-byte shared secret.
///
/// A ciphertext whose length is not [`encapsulation_ciphertext_len`] gives
/// [`Error::MalformedCiphertext`] (AWS: `InvalidCiphertextException`). Any
/// ciphertext of the right length gives a secret: one that was altered, or
/// made for another key, gives a pseudo-random secret unrelated to the
/// encapsulated one (FIPS 203 implicit rejection), not an error, as AWS
/// documents. A spec that is not ML-KEM gives [`Error::UnsupportedOperation`].
pub fn decapsulate(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: EncapsulationAlgorithm,
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    mlkem::decapsulate(spec, private_key, algorithm, ciphertext)
}

/// The ML-DSA message representative mu (FIPS 204 section 6.2, empty
/// context) of `message` for the DER SPKI `public_key` of an ML-DSA spec:
/// `SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || message, 64)`, the value
/// a caller sends as an `EXTERNAL_MU` message.
pub fn ml_dsa_external_mu(spec: KeySpec, public_key: &[u8], message: &[u8]) -> Result<[u8; MU_LEN]> {
    mldsa::external_mu(spec, public_key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.3, test "abc": Ed25519ph of a 3-byte message. The
    /// public API only takes 64-byte DIGEST inputs, so the construction is
    /// checked here, with the vector from `tests/data/rfc8032_ed25519.txt`.
    #[test]
    fn ed25519ph_rfc8032_vector() {
        let data = include_str!("../tests/data/rfc8032_ed25519.txt");
        let record = data.split("\n\n").find(|r| r.contains("variant = ed25519ph")).unwrap();
        let field = |name: &str| {
            let line = record.lines().find(|l| l.starts_with(&format!("{name} ="))).unwrap();
            hex(line.split_once('=').unwrap().1.trim())
        };
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&field("secret_key")).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
            aws_lc_rs::signature::KeyPair::public_key(&pair),
        )
        .unwrap();
        assert!(spki.as_ref().ends_with(&field("public_key")));
        let message = field("message");
        let signature = ed25519::ph_sign(pkcs8.as_ref(), &message).unwrap();
        assert_eq!(signature, field("signature"));
        assert!(ed25519::ph_verify(spki.as_ref(), &message, &signature).unwrap());
        assert!(!ed25519::ph_verify(spki.as_ref(), b"abd", &signature).unwrap());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
