#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Round trips for every key spec, algorithm and message type (ML-KEM
//! encapsulation and decapsulation included), the algorithm tables, the
//! ML-KEM key encodings, and the error kinds the service maps to AWS
//! exceptions.

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use kms_crypto::{
    decapsulate, decrypt, derive_shared_secret, digest_len, encapsulate, encapsulation_algorithms,
    encapsulation_ciphertext_len, encrypt, encryption_algorithms, generate, key_agreement_algorithms, mac,
    mac_algorithms, max_plaintext_len, message_types, ml_dsa_external_mu, sign, signing_algorithms, verify, verify_mac,
    EncapsulationAlgorithm, EncryptionAlgorithm, Error, KeyAgreementAlgorithm, KeyPair, KeySpec, KeyUsage,
    MacAlgorithm, MessageType, PrivateKey, SigningAlgorithm,
};

/// One generated key per spec, shared by the tests of this binary (RSA-4096
/// generation is slow).
fn key(spec: KeySpec) -> &'static KeyPair {
    static KEYS: [OnceLock<KeyPair>; KeySpec::ALL.len()] = [const { OnceLock::new() }; KeySpec::ALL.len()];
    let i = KeySpec::ALL.iter().position(|s| *s == spec).unwrap();
    KEYS[i].get_or_init(|| generate(spec).unwrap())
}

fn private(spec: KeySpec) -> &'static [u8] {
    key(spec).private_key.expose()
}

fn public(spec: KeySpec) -> &'static [u8] {
    key(spec).public_key.as_deref().unwrap()
}

/// The digest a caller would send for `algorithm` with a `DIGEST` message.
fn digest_of(algorithm: SigningAlgorithm, message: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest::{digest, SHA256, SHA384, SHA512};
    let alg = match digest_len(algorithm)? {
        32 if algorithm != SigningAlgorithm::Sm2Dsa => &SHA256,
        48 => &SHA384,
        64 => &SHA512,
        _ => return None, // SM2DSA: SM3(Z || M), not computed here
    };
    Some(digest(alg, message).as_ref().to_vec())
}

const ASYMMETRIC: [KeySpec; 12] = [
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::Rsa4096,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
    KeySpec::EccNistEdwards25519,
    KeySpec::Sm2,
    KeySpec::MlDsa44,
    KeySpec::MlDsa65,
    KeySpec::MlDsa87,
];

#[test]
fn generate_every_spec() {
    for spec in KeySpec::ALL {
        let pair = key(*spec);
        assert!(!pair.private_key.is_empty());
        let debug = format!("{pair:?}");
        assert!(debug.contains("redacted"), "{debug}");
        if spec.is_hmac() {
            assert!(pair.public_key.is_none());
            assert_eq!(Some(pair.private_key.len()), kms_crypto::hmac_key_len(*spec));
        } else {
            // DER SEQUENCEs.
            assert_eq!(pair.private_key.expose()[0], 0x30, "{spec}");
            assert_eq!(public(*spec)[0], 0x30, "{spec}");
        }
    }
    // Two generations differ.
    let a = generate(KeySpec::Hmac256).unwrap();
    let b = generate(KeySpec::Hmac256).unwrap();
    assert_ne!(a.private_key, b.private_key);
}

#[test]
fn sign_verify_every_algorithm_and_message_type() {
    let message = b"The quick brown fox jumps over the lazy dog";
    for spec in ASYMMETRIC {
        if !spec.allows_usage(KeyUsage::SignVerify) {
            continue;
        }
        for &algorithm in signing_algorithms(spec) {
            for &message_type in message_types(algorithm) {
                let input: Vec<u8> = match message_type {
                    MessageType::Raw => message.to_vec(),
                    MessageType::Digest => match digest_of(algorithm, message) {
                        Some(d) => d,
                        None => vec![0x5a; digest_len(algorithm).unwrap()],
                    },
                    MessageType::ExternalMu => ml_dsa_external_mu(spec, public(spec), message).unwrap().to_vec(),
                };
                let what = format!("{spec} {algorithm} {message_type}");
                let signature = sign(spec, private(spec), algorithm, message_type, &input)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(verify(spec, public(spec), algorithm, message_type, &input, &signature).unwrap(), "{what}");
                let mut tampered_input = input.clone();
                tampered_input[0] ^= 1;
                assert!(
                    !verify(spec, public(spec), algorithm, message_type, &tampered_input, &signature).unwrap(),
                    "{what}: tampered message"
                );
                let mut tampered_sig = signature.clone();
                let last = tampered_sig.len() - 1;
                tampered_sig[last] ^= 1;
                assert!(
                    !verify(spec, public(spec), algorithm, message_type, &input, &tampered_sig).unwrap(),
                    "{what}: tampered signature"
                );
                assert!(
                    !verify(spec, public(spec), algorithm, message_type, &input, b"").unwrap(),
                    "{what}: empty signature"
                );
                // Verifying with another key of the same spec fails.
                let other = generate(spec).unwrap();
                if !matches!(spec, KeySpec::Rsa3072 | KeySpec::Rsa4096) {
                    assert!(!verify(
                        spec,
                        other.public_key.as_deref().unwrap(),
                        algorithm,
                        message_type,
                        &input,
                        &signature
                    )
                    .unwrap());
                }
            }
        }
    }
}

/// RAW and DIGEST of the same message are interchangeable (as AWS documents:
/// "the message type does not need to be the same as the one used for
/// signing"), for every algorithm whose digest we can compute here.
#[test]
fn raw_and_digest_are_interchangeable() {
    let message = b"interchangeable";
    for spec in ASYMMETRIC {
        for &algorithm in signing_algorithms(spec) {
            if message_types(algorithm) != [MessageType::Raw, MessageType::Digest] {
                continue;
            }
            let Some(digest) = digest_of(algorithm, message) else {
                continue;
            };
            let by_raw = sign(spec, private(spec), algorithm, MessageType::Raw, message).unwrap();
            let by_digest = sign(spec, private(spec), algorithm, MessageType::Digest, &digest).unwrap();
            for sig in [&by_raw, &by_digest] {
                assert!(verify(spec, public(spec), algorithm, MessageType::Raw, message, sig).unwrap());
                assert!(verify(spec, public(spec), algorithm, MessageType::Digest, &digest, sig).unwrap());
            }
        }
    }
}

#[test]
fn rsa_pkcs1_signatures_are_deterministic() {
    for alg in [
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        SigningAlgorithm::RsassaPkcs1V15Sha384,
        SigningAlgorithm::RsassaPkcs1V15Sha512,
    ] {
        let a = sign(KeySpec::Rsa2048, private(KeySpec::Rsa2048), alg, MessageType::Raw, b"m");
        let b = sign(KeySpec::Rsa2048, private(KeySpec::Rsa2048), alg, MessageType::Raw, b"m");
        assert_eq!(a.unwrap(), b.unwrap());
    }
    let s =
        sign(KeySpec::Rsa4096, private(KeySpec::Rsa4096), SigningAlgorithm::RsassaPssSha512, MessageType::Raw, b"m")
            .unwrap();
    assert_eq!(s.len(), 512);
}

#[test]
fn ml_dsa_external_mu_matches_raw_across_implementations() {
    // EXTERNAL_MU is signed and verified by the ml-dsa crate, RAW by aws-lc:
    // each must accept the other's signatures.
    let message = vec![0xa5; 10_000];
    for spec in [KeySpec::MlDsa44, KeySpec::MlDsa65, KeySpec::MlDsa87] {
        let alg = SigningAlgorithm::MlDsaShake256;
        let mu = ml_dsa_external_mu(spec, public(spec), &message).unwrap();
        let by_mu = sign(spec, private(spec), alg, MessageType::ExternalMu, &mu).unwrap();
        let by_raw = sign(spec, private(spec), alg, MessageType::Raw, &message).unwrap();
        for sig in [&by_mu, &by_raw] {
            assert!(verify(spec, public(spec), alg, MessageType::Raw, &message, sig).unwrap());
            assert!(verify(spec, public(spec), alg, MessageType::ExternalMu, &mu, sig).unwrap());
        }
        // Hedged signing: two signatures of the same message differ.
        let again = sign(spec, private(spec), alg, MessageType::Raw, &message).unwrap();
        assert_ne!(by_raw, again);
    }
}

#[test]
fn signing_errors() {
    let p256 = KeySpec::EccNistP256;
    // Wrong digest length: a distinct error with the expected length.
    assert_eq!(
        sign(p256, private(p256), SigningAlgorithm::EcdsaSha256, MessageType::Digest, &[0; 31]).unwrap_err(),
        Error::InvalidDigestLength { algorithm: SigningAlgorithm::EcdsaSha256, expected: 32, actual: 31 }
    );
    assert!(matches!(
        verify(
            KeySpec::Rsa2048,
            public(KeySpec::Rsa2048),
            SigningAlgorithm::RsassaPssSha384,
            MessageType::Digest,
            &[0; 32],
            &[0; 256]
        ),
        Err(Error::InvalidDigestLength { expected: 48, actual: 32, .. })
    ));
    assert!(matches!(
        sign(KeySpec::Sm2, private(KeySpec::Sm2), SigningAlgorithm::Sm2Dsa, MessageType::Digest, &[0; 33]),
        Err(Error::InvalidDigestLength { expected: 32, actual: 33, .. })
    ));
    assert!(matches!(
        sign(
            KeySpec::MlDsa65,
            private(KeySpec::MlDsa65),
            SigningAlgorithm::MlDsaShake256,
            MessageType::ExternalMu,
            &[0; 32]
        ),
        Err(Error::InvalidDigestLength { expected: 64, actual: 32, .. })
    ));
    assert!(matches!(
        sign(
            KeySpec::EccNistEdwards25519,
            private(KeySpec::EccNistEdwards25519),
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &[0; 32]
        ),
        Err(Error::InvalidDigestLength { expected: 64, actual: 32, .. })
    ));

    // An algorithm of another spec.
    for (spec, alg) in [
        (p256, SigningAlgorithm::EcdsaSha384),
        (KeySpec::EccSecgP256k1, SigningAlgorithm::EcdsaSha512),
        (KeySpec::EccNistP521, SigningAlgorithm::EcdsaSha256),
        (KeySpec::Rsa2048, SigningAlgorithm::EcdsaSha256),
        (KeySpec::EccNistEdwards25519, SigningAlgorithm::EcdsaSha256),
        (KeySpec::Sm2, SigningAlgorithm::EcdsaSha256),
        (KeySpec::MlDsa44, SigningAlgorithm::Ed25519Sha512),
    ] {
        let err = sign(spec, private(spec), alg, MessageType::Raw, b"m").unwrap_err();
        assert_eq!(err, Error::UnsupportedAlgorithm { spec, algorithm: alg.as_str() });
        assert_eq!(err.to_string(), format!("algorithm {alg} is incompatible with key spec {spec}"));
    }

    // A spec that cannot sign at all.
    assert_eq!(
        sign(KeySpec::Hmac256, private(KeySpec::Hmac256), SigningAlgorithm::RsassaPssSha256, MessageType::Raw, b"m")
            .unwrap_err(),
        Error::UnsupportedOperation { spec: KeySpec::Hmac256 }
    );

    // Message types AWS does not allow for the algorithm.
    for (spec, alg, mt, len) in [
        (KeySpec::EccNistEdwards25519, SigningAlgorithm::Ed25519Sha512, MessageType::Digest, 64),
        (KeySpec::EccNistEdwards25519, SigningAlgorithm::Ed25519PhSha512, MessageType::Raw, 64),
        (KeySpec::MlDsa44, SigningAlgorithm::MlDsaShake256, MessageType::Digest, 64),
        (p256, SigningAlgorithm::EcdsaSha256, MessageType::ExternalMu, 64),
        (KeySpec::Rsa2048, SigningAlgorithm::RsassaPssSha256, MessageType::ExternalMu, 64),
        (KeySpec::Sm2, SigningAlgorithm::Sm2Dsa, MessageType::ExternalMu, 64),
    ] {
        assert_eq!(
            sign(spec, private(spec), alg, mt, &vec![0; len]).unwrap_err(),
            Error::UnsupportedMessageType { algorithm: alg, message_type: mt },
            "{spec} {alg} {mt}"
        );
    }

    // Key material of another spec, malformed public keys.
    assert_eq!(
        sign(KeySpec::EccNistP384, private(p256), SigningAlgorithm::EcdsaSha384, MessageType::Raw, b"m").unwrap_err(),
        Error::InvalidKeyMaterial { spec: KeySpec::EccNistP384 }
    );
    assert_eq!(
        sign(KeySpec::Rsa3072, private(KeySpec::Rsa2048), SigningAlgorithm::RsassaPssSha256, MessageType::Raw, b"m")
            .unwrap_err(),
        Error::InvalidKeyMaterial { spec: KeySpec::Rsa3072 }
    );
    for spec in ASYMMETRIC {
        let alg = signing_algorithms(spec)[0];
        for bad in [&b"not a key"[..], public(KeySpec::EccNistP384)] {
            if spec == KeySpec::EccNistP384 && bad != b"not a key" {
                continue;
            }
            assert_eq!(
                verify(spec, bad, alg, message_types(alg)[0], &[0; 64], &[0; 64]).unwrap_err(),
                Error::MalformedPublicKey { spec },
                "{spec}"
            );
        }
    }
}

#[test]
fn rsa_oaep_round_trip_and_limits() {
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        for &alg in encryption_algorithms(spec) {
            let max = max_plaintext_len(spec, alg).unwrap();
            for len in [0, 1, max] {
                let plaintext = vec![0x42; len];
                let ct = encrypt(spec, public(spec), alg, &plaintext).unwrap();
                assert_eq!(ct.len() * 8, spec.as_str()[4..].parse::<usize>().unwrap());
                let pt = decrypt(spec, private(spec), alg, &ct).unwrap();
                assert_eq!(pt.expose(), &plaintext[..]);
                // Randomized padding.
                assert_ne!(ct, encrypt(spec, public(spec), alg, &plaintext).unwrap());
            }
            assert_eq!(
                encrypt(spec, public(spec), alg, &vec![0; max + 1]).unwrap_err(),
                Error::PlaintextTooLong { max, actual: max + 1 }
            );
        }
    }
    let spec = KeySpec::Rsa2048;
    assert_eq!(
        encrypt(spec, public(spec), EncryptionAlgorithm::Sm2Pke, b"x").unwrap_err(),
        Error::UnsupportedAlgorithm { spec, algorithm: "SM2PKE" }
    );
    assert_eq!(
        encrypt(spec, public(KeySpec::Rsa3072), EncryptionAlgorithm::RsaesOaepSha256, b"x").unwrap_err(),
        Error::MalformedPublicKey { spec }
    );
    assert_eq!(
        encrypt(spec, b"junk", EncryptionAlgorithm::RsaesOaepSha256, b"x").unwrap_err(),
        Error::MalformedPublicKey { spec }
    );
    assert_eq!(
        encrypt(KeySpec::EccNistP256, public(KeySpec::EccNistP256), EncryptionAlgorithm::RsaesOaepSha256, b"x")
            .unwrap_err(),
        Error::UnsupportedOperation { spec: KeySpec::EccNistP256 }
    );
}

#[test]
fn sm2pke_round_trip() {
    let spec = KeySpec::Sm2;
    let alg = EncryptionAlgorithm::Sm2Pke;
    for len in [1, 16, 1024] {
        let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let ct = encrypt(spec, public(spec), alg, &plaintext).unwrap();
        assert_eq!(ct[0], 0x30, "DER SEQUENCE");
        assert_eq!(decrypt(spec, private(spec), alg, &ct).unwrap().expose(), &plaintext[..]);
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decrypt(spec, private(spec), alg, &bad).unwrap_err(), Error::DecryptionFailed);
    }
    assert!(matches!(
        encrypt(spec, public(spec), alg, &[0; 1025]),
        Err(Error::PlaintextTooLong { max: 1024, actual: 1025 })
    ));
    assert_eq!(decrypt(spec, private(spec), alg, b"junk").unwrap_err(), Error::DecryptionFailed);
    assert!(matches!(
        encrypt(spec, public(spec), EncryptionAlgorithm::RsaesOaepSha1, b"x"),
        Err(Error::UnsupportedAlgorithm { .. })
    ));
}

#[test]
fn ecdh_both_sides_agree() {
    for (spec, len) in
        [(KeySpec::EccNistP256, 32), (KeySpec::EccNistP384, 48), (KeySpec::EccNistP521, 66), (KeySpec::Sm2, 32)]
    {
        let alg = KeyAgreementAlgorithm::Ecdh;
        let other = generate(spec).unwrap();
        let other_public = other.public_key.as_deref().unwrap();
        let ours = derive_shared_secret(spec, alg, private(spec), other_public).unwrap();
        let theirs = derive_shared_secret(spec, alg, other.private_key.expose(), public(spec)).unwrap();
        assert_eq!(ours, theirs, "{spec}");
        assert_eq!(ours.len(), len);
        assert!(format!("{ours:?}").contains("redacted"));

        // A peer key on another curve, or not an SPKI at all.
        let wrong = if spec == KeySpec::EccNistP256 { KeySpec::EccNistP384 } else { KeySpec::EccNistP256 };
        assert_eq!(
            derive_shared_secret(spec, alg, private(spec), public(wrong)).unwrap_err(),
            Error::MalformedPublicKey { spec },
            "{spec}"
        );
        assert_eq!(
            derive_shared_secret(spec, alg, private(spec), b"\x04junk").unwrap_err(),
            Error::MalformedPublicKey { spec }
        );
    }
    // A bare uncompressed point is refused: AWS takes SPKI only.
    let spki = public(KeySpec::EccNistP256);
    let point = &spki[spki.len() - 65..];
    assert_eq!(point[0], 0x04);
    assert_eq!(
        derive_shared_secret(KeySpec::EccNistP256, KeyAgreementAlgorithm::Ecdh, private(KeySpec::EccNistP256), point)
            .unwrap_err(),
        Error::MalformedPublicKey { spec: KeySpec::EccNistP256 }
    );
    for spec in [KeySpec::EccSecgP256k1, KeySpec::Rsa2048, KeySpec::EccNistEdwards25519] {
        assert!(matches!(
            derive_shared_secret(spec, KeyAgreementAlgorithm::Ecdh, private(spec), public(spec)),
            Err(Error::UnsupportedOperation { .. })
        ));
    }
}

#[test]
fn hmac_round_trip() {
    for spec in [KeySpec::Hmac224, KeySpec::Hmac256, KeySpec::Hmac384, KeySpec::Hmac512] {
        let alg = mac_algorithms(spec)[0];
        let tag = mac(spec, alg, private(spec), b"message").unwrap();
        assert_eq!(tag.len(), kms_crypto::hmac_key_len(spec).unwrap());
        assert!(verify_mac(spec, alg, private(spec), b"message", &tag).unwrap());
        assert!(!verify_mac(spec, alg, private(spec), b"messagf", &tag).unwrap());
        assert!(!verify_mac(spec, alg, private(spec), b"message", &[]).unwrap());
        let wrong = if alg == MacAlgorithm::HmacSha256 { MacAlgorithm::HmacSha512 } else { MacAlgorithm::HmacSha256 };
        assert_eq!(
            mac(spec, wrong, private(spec), b"m").unwrap_err(),
            Error::UnsupportedAlgorithm { spec, algorithm: wrong.as_str() }
        );
    }
    assert_eq!(
        mac(KeySpec::Rsa2048, MacAlgorithm::HmacSha256, b"k", b"m").unwrap_err(),
        Error::UnsupportedOperation { spec: KeySpec::Rsa2048 }
    );
}

#[test]
fn algorithm_tables_match_aws() {
    use EncryptionAlgorithm as E;
    use KeyUsage as U;
    use SigningAlgorithm as S;
    let names = |v: &[S]| v.iter().map(|a| a.as_str()).collect::<Vec<_>>();
    assert_eq!(
        names(signing_algorithms(KeySpec::Rsa3072)),
        [
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512"
        ]
    );
    assert_eq!(signing_algorithms(KeySpec::EccNistP256), [S::EcdsaSha256]);
    assert_eq!(signing_algorithms(KeySpec::EccNistP384), [S::EcdsaSha384]);
    assert_eq!(signing_algorithms(KeySpec::EccNistP521), [S::EcdsaSha512]);
    assert_eq!(signing_algorithms(KeySpec::EccSecgP256k1), [S::EcdsaSha256]);
    assert_eq!(signing_algorithms(KeySpec::EccNistEdwards25519), [S::Ed25519Sha512, S::Ed25519PhSha512]);
    assert_eq!(signing_algorithms(KeySpec::Sm2), [S::Sm2Dsa]);
    assert_eq!(signing_algorithms(KeySpec::MlDsa87), [S::MlDsaShake256]);
    assert!(signing_algorithms(KeySpec::Hmac256).is_empty());

    assert_eq!(encryption_algorithms(KeySpec::Rsa2048), [E::RsaesOaepSha1, E::RsaesOaepSha256]);
    assert_eq!(encryption_algorithms(KeySpec::Sm2), [E::Sm2Pke]);
    assert!(encryption_algorithms(KeySpec::EccNistP256).is_empty());

    for spec in [KeySpec::EccNistP256, KeySpec::EccNistP384, KeySpec::EccNistP521, KeySpec::Sm2] {
        assert_eq!(key_agreement_algorithms(spec), [KeyAgreementAlgorithm::Ecdh]);
    }
    assert!(key_agreement_algorithms(KeySpec::EccSecgP256k1).is_empty());
    assert_eq!(mac_algorithms(KeySpec::Hmac384), [MacAlgorithm::HmacSha384]);

    assert_eq!(KeySpec::Rsa4096.key_usages(), [U::EncryptDecrypt, U::SignVerify]);
    assert_eq!(KeySpec::EccNistP521.key_usages(), [U::SignVerify, U::KeyAgreement]);
    assert_eq!(KeySpec::EccSecgP256k1.key_usages(), [U::SignVerify]);
    assert_eq!(KeySpec::EccNistEdwards25519.key_usages(), [U::SignVerify]);
    assert_eq!(KeySpec::Sm2.key_usages(), [U::EncryptDecrypt, U::SignVerify, U::KeyAgreement]);
    assert_eq!(KeySpec::Hmac224.key_usages(), [U::GenerateVerifyMac]);
    assert_eq!(KeySpec::MlDsa44.key_usages(), [U::SignVerify]);
    for spec in [KeySpec::MlKem512, KeySpec::MlKem768, KeySpec::MlKem1024] {
        assert_eq!(spec.key_usages(), [U::EncapsulateDecapsulate]);
        assert_eq!(encapsulation_algorithms(spec), [EncapsulationAlgorithm::MlKem]);
        assert!(signing_algorithms(spec).is_empty() && encryption_algorithms(spec).is_empty());
        assert!(spec.is_ml_kem());
    }
    assert_eq!(U::EncapsulateDecapsulate.as_str(), "ENCAPSULATE_DECAPSULATE");
    assert_eq!(EncapsulationAlgorithm::ALL, [EncapsulationAlgorithm::MlKem]);
    assert_eq!(EncapsulationAlgorithm::MlKem.as_str(), "ML_KEM");
    assert!(encapsulation_algorithms(KeySpec::Rsa2048).is_empty());
    // FIPS 203 table 3.
    let lens: Vec<_> = [KeySpec::MlKem512, KeySpec::MlKem768, KeySpec::MlKem1024, KeySpec::MlDsa65]
        .into_iter()
        .map(encapsulation_ciphertext_len)
        .collect();
    assert_eq!(lens, [Some(768), Some(1088), Some(1568), None]);
    assert_eq!(kms_crypto::ML_KEM_SHARED_SECRET_LEN, 32);

    let pair_specs: Vec<_> = KeySpec::ALL.iter().filter(|s| s.is_data_key_pair_spec()).map(|s| s.as_str()).collect();
    assert_eq!(
        pair_specs,
        [
            "RSA_2048",
            "RSA_3072",
            "RSA_4096",
            "ECC_NIST_P256",
            "ECC_NIST_P384",
            "ECC_NIST_P521",
            "ECC_SECG_P256K1",
            "ECC_NIST_EDWARDS25519",
            "SM2",
            "ML_KEM_512",
            "ML_KEM_768",
            "ML_KEM_1024"
        ]
    );
}

const ML_KEM: [KeySpec; 3] = [KeySpec::MlKem512, KeySpec::MlKem768, KeySpec::MlKem1024];
const KEM: EncapsulationAlgorithm = EncapsulationAlgorithm::MlKem;

/// DER content bytes of id-alg-ml-kem-512/768/1024 (2.16.840.1.101.3.4.4.1/2/3).
fn ml_kem_oid(spec: KeySpec) -> Vec<u8> {
    let last = ML_KEM.iter().position(|s| *s == spec).unwrap() as u8 + 1;
    vec![0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, last]
}

/// A DER TLV (definite length, short or two-byte long form).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn ml_kem_encapsulate_then_decapsulate() {
    for spec in ML_KEM {
        let cached = PrivateKey::new(spec, key(spec).private_key.clone());
        let (ct, secret) = encapsulate(spec, public(spec), KEM).unwrap();
        assert_eq!(Some(ct.len()), encapsulation_ciphertext_len(spec), "{spec}");
        assert_eq!(secret.len(), kms_crypto::ML_KEM_SHARED_SECRET_LEN);
        assert!(format!("{secret:?}").contains("redacted"));
        assert_eq!(decapsulate(spec, private(spec), KEM, &ct).unwrap(), secret, "{spec}");
        // The cached key gives the same secret, on first and later uses.
        for _ in 0..2 {
            assert_eq!(cached.decapsulate(KEM, &ct).unwrap(), secret, "{spec}");
        }
        // Randomized: another encapsulation, another ciphertext and secret.
        let (ct2, secret2) = encapsulate(spec, public(spec), KEM).unwrap();
        assert_ne!(ct, ct2);
        assert_ne!(secret, secret2);
        assert_eq!(cached.decapsulate(KEM, &ct2).unwrap(), secret2);
    }
}

#[test]
fn ml_kem_wrong_length_ciphertext_is_malformed() {
    for spec in ML_KEM {
        let n = encapsulation_ciphertext_len(spec).unwrap();
        let cached = PrivateKey::new(spec, key(spec).private_key.clone());
        // Including the lengths of the other parameter sets.
        for len in [0, 1, n - 1, n + 1, 768, 1088, 1568, 2 * n].into_iter().filter(|l| *l != n) {
            let ct = vec![0x5a; len];
            assert_eq!(
                decapsulate(spec, private(spec), KEM, &ct).unwrap_err(),
                Error::MalformedCiphertext,
                "{spec} {len}"
            );
            assert_eq!(cached.decapsulate(KEM, &ct).unwrap_err(), Error::MalformedCiphertext, "{spec} {len}");
        }
        // The length is checked before the key is read.
        assert_eq!(decapsulate(spec, b"junk", KEM, &[0; 3]).unwrap_err(), Error::MalformedCiphertext);
        // A ciphertext made for another parameter set is the wrong length too.
        let other = if spec == KeySpec::MlKem768 { KeySpec::MlKem1024 } else { KeySpec::MlKem768 };
        let (ct, _) = encapsulate(other, public(other), KEM).unwrap();
        assert_eq!(decapsulate(spec, private(spec), KEM, &ct).unwrap_err(), Error::MalformedCiphertext);
    }
}

/// FIPS 203 implicit rejection, as AWS documents for `Decapsulate`: an
/// altered ciphertext, or one made for another key, gives a secret (a
/// pseudo-random one), never an error.
#[test]
fn ml_kem_implicit_rejection() {
    for spec in ML_KEM {
        let (ct, secret) = encapsulate(spec, public(spec), KEM).unwrap();
        for i in [0, ct.len() / 2, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            let rejected = decapsulate(spec, private(spec), KEM, &bad).unwrap();
            assert_eq!(rejected.len(), 32);
            assert_ne!(rejected, secret, "{spec} byte {i}");
            // Deterministic in the key and the ciphertext.
            assert_eq!(decapsulate(spec, private(spec), KEM, &bad).unwrap(), rejected);
        }
        let zeros = decapsulate(spec, private(spec), KEM, &vec![0; ct.len()]).unwrap();
        assert_eq!(zeros.len(), 32);
        assert_ne!(zeros, secret);

        let other = generate(spec).unwrap();
        let (theirs, their_secret) = encapsulate(spec, other.public_key.as_deref().unwrap(), KEM).unwrap();
        assert_eq!(decapsulate(spec, other.private_key.expose(), KEM, &theirs).unwrap(), their_secret);
        assert_ne!(decapsulate(spec, private(spec), KEM, &theirs).unwrap(), their_secret, "{spec}");
    }
}

/// The SPKI and the PKCS#8 (seed form) of RFC 9935, byte for byte, and both
/// parse back.
#[test]
fn ml_kem_key_encodings() {
    for (spec, ek_len) in ML_KEM.into_iter().zip([800, 1184, 1568]) {
        let algorithm = der(0x30, &der(0x06, &ml_kem_oid(spec)));
        let spki = public(spec);
        // SEQUENCE { SEQUENCE { OID }, BIT STRING (0 unused bits) ek }
        let raw = &spki[spki.len() - ek_len..];
        assert_eq!(spki, der(0x30, &cat(&[algorithm.clone(), der(0x03, &cat(&[vec![0], raw.to_vec()]))])), "{spec}");
        // SEQUENCE { INTEGER 0, SEQUENCE { OID }, OCTET STRING { [0] 64 bytes } }
        let pkcs8 = private(spec);
        assert_eq!(pkcs8.len(), 86, "{spec}");
        let seed = &pkcs8[pkcs8.len() - 64..];
        let expected = der(0x30, &cat(&[der(0x02, &[0]), algorithm.clone(), der(0x04, &der(0x80, seed))]));
        assert_eq!(pkcs8, expected, "{spec}");
        // They parse back and belong together (the round-trip tests above
        // use them as they are); a new key has a new seed.
        let (ct, secret) = encapsulate(spec, spki, KEM).unwrap();
        assert_eq!(decapsulate(spec, &expected, KEM, &ct).unwrap(), secret);
        let other = generate(spec).unwrap();
        assert_ne!(&other.private_key.expose()[22..], seed);
    }
}

#[test]
fn ml_kem_key_errors() {
    let spec = KeySpec::MlKem768;
    let malformed = Error::MalformedPublicKey { spec };
    let spki = public(spec).to_vec();
    let raw = spki[22..].to_vec();
    assert_eq!(raw.len(), 1184);
    // Other specs' keys, the raw key without its SPKI, junk.
    for bad in [
        public(KeySpec::MlKem512),
        public(KeySpec::MlKem1024),
        public(KeySpec::MlDsa65),
        public(KeySpec::EccNistP256),
        &raw,
        b"junk",
        b"",
    ] {
        assert_eq!(encapsulate(spec, bad, KEM).unwrap_err(), malformed);
    }
    // Trailing data.
    assert_eq!(encapsulate(spec, &cat(&[spki.clone(), vec![0]]), KEM).unwrap_err(), malformed);
    // The right OID with another parameter set's key length.
    let mut wrong_len = public(KeySpec::MlKem512).to_vec();
    assert_eq!(wrong_len[16], 1);
    wrong_len[16] = 2;
    assert_eq!(encapsulate(spec, &wrong_len, KEM).unwrap_err(), malformed);
    // Parameters present (NULL): RFC 9935 says absent.
    let with_null =
        der(0x30, &cat(&[der(0x30, &cat(&[der(0x06, &ml_kem_oid(spec)), vec![0x05, 0x00]])), spki[17..].to_vec()]));
    assert_eq!(encapsulate(spec, &with_null, KEM).unwrap_err(), malformed);
    // A coefficient out of range (4095 >= q): fails the FIPS 203 modulus check.
    let mut out_of_range = spki.clone();
    out_of_range[22] = 0xff;
    out_of_range[23] |= 0x0f;
    assert_eq!(encapsulate(spec, &out_of_range, KEM).unwrap_err(), malformed);

    // Private keys that are not this spec's seed-form PKCS#8.
    let ct = vec![0; 1088];
    let invalid = Error::InvalidKeyMaterial { spec };
    let expanded_form = der(
        0x30,
        &cat(&[der(0x02, &[0]), der(0x30, &der(0x06, &ml_kem_oid(spec))), der(0x04, &der(0x04, &[0x11; 2400]))]),
    );
    for bad in [b"junk".as_slice(), private(KeySpec::MlKem512), private(KeySpec::MlDsa65), &expanded_form] {
        assert_eq!(decapsulate(spec, bad, KEM, &ct).unwrap_err(), invalid);
        let cached = PrivateKey::new(spec, kms_crypto::SecretBytes::from_slice(bad));
        for _ in 0..2 {
            assert_eq!(cached.decapsulate(KEM, &ct).unwrap_err(), invalid);
        }
    }

    // Other specs cannot encapsulate or decapsulate; ML-KEM keys do nothing else.
    assert_eq!(
        encapsulate(KeySpec::MlDsa65, public(KeySpec::MlDsa65), KEM).unwrap_err(),
        Error::UnsupportedOperation { spec: KeySpec::MlDsa65 }
    );
    let rsa = KeySpec::Rsa2048;
    assert_eq!(decapsulate(rsa, private(rsa), KEM, &[0; 256]).unwrap_err(), Error::UnsupportedOperation { spec: rsa });
    let cached = PrivateKey::new(rsa, key(rsa).private_key.clone());
    assert_eq!(cached.decapsulate(KEM, &[0; 256]).unwrap_err(), Error::UnsupportedOperation { spec: rsa });
    let unsupported = Error::UnsupportedOperation { spec };
    let sig = SigningAlgorithm::MlDsaShake256;
    assert_eq!(sign(spec, private(spec), sig, MessageType::Raw, b"m").unwrap_err(), unsupported);
    assert_eq!(verify(spec, public(spec), sig, MessageType::Raw, b"m", b"s").unwrap_err(), unsupported);
    assert_eq!(encrypt(spec, public(spec), EncryptionAlgorithm::RsaesOaepSha256, b"m").unwrap_err(), unsupported);
    assert_eq!(decrypt(spec, private(spec), EncryptionAlgorithm::RsaesOaepSha256, &ct).unwrap_err(), unsupported);
    assert_eq!(
        derive_shared_secret(spec, KeyAgreementAlgorithm::Ecdh, private(spec), public(spec)).unwrap_err(),
        unsupported
    );
}
