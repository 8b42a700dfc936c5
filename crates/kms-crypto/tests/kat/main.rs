#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Known-answer tests from published vectors (files in `tests/data`):
//! RFC 4231 (HMAC), RFC 8032 (Ed25519), Wycheproof (ECDSA P-256 verify,
//! ECDH P-256, RSA-OAEP SHA-1 and SHA-256 decrypt), and ML-KEM
//! decapsulation of the RFC 9935 example keys, with answers computed by
//! kyber-py.

#[path = "../common/mod.rs"]
mod common;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::KeyPair as _;
use common::{hex, records};
use kms_crypto::{
    decapsulate, decrypt, derive_shared_secret, encapsulate, mac, sign, verify, verify_mac, EncapsulationAlgorithm,
    EncryptionAlgorithm, Error, KeyAgreementAlgorithm, KeySpec, MacAlgorithm, MessageType, PrivateKey, SecretBytes,
    SigningAlgorithm,
};

#[test]
fn rfc4231_hmac() {
    let cases = records("rfc4231_hmac.txt");
    assert_eq!(cases.len(), 7);
    let algs = [
        (KeySpec::Hmac224, MacAlgorithm::HmacSha224, "hmac_sha_224"),
        (KeySpec::Hmac256, MacAlgorithm::HmacSha256, "hmac_sha_256"),
        (KeySpec::Hmac384, MacAlgorithm::HmacSha384, "hmac_sha_384"),
        (KeySpec::Hmac512, MacAlgorithm::HmacSha512, "hmac_sha_512"),
    ];
    for case in &cases {
        let key = case.bytes("key");
        let data = case.bytes("data");
        for (spec, alg, field) in algs {
            let expected = case.bytes(field);
            let tag = mac(spec, alg, &key, &data).unwrap();
            // Case 5 publishes a truncated (128-bit) output.
            assert_eq!(&tag[..expected.len()], &expected[..], "case {}", case.text("case"));
            assert!(verify_mac(spec, alg, &key, &data, &tag).unwrap());
            let mut bad = tag.clone();
            bad[0] ^= 1;
            assert!(!verify_mac(spec, alg, &key, &data, &bad).unwrap());
            // A truncated tag does not verify: KMS compares whole MACs.
            assert!(!verify_mac(spec, alg, &key, &data, &tag[..16]).unwrap());
        }
    }
}

#[test]
fn rfc8032_ed25519() {
    let mut pure = 0;
    for case in records("rfc8032_ed25519.txt") {
        if case.text("variant") != "ed25519" {
            continue; // Ed25519ph is checked by a unit test (its input is not 64 bytes).
        }
        pure += 1;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&case.bytes("secret_key")).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let spki = AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).unwrap();
        assert!(spki.as_ref().ends_with(&case.bytes("public_key")));
        let message = case.bytes("message");
        let expected = case.bytes("signature");
        let signature = sign(
            KeySpec::EccNistEdwards25519,
            pkcs8.as_ref(),
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            &message,
        )
        .unwrap();
        assert_eq!(signature, expected, "{}", case.text("name"));
        assert!(verify(
            KeySpec::EccNistEdwards25519,
            spki.as_ref(),
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            &message,
            &expected,
        )
        .unwrap());
        let mut tampered = message.clone();
        tampered.push(0);
        assert!(!verify(
            KeySpec::EccNistEdwards25519,
            spki.as_ref(),
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            &tampered,
            &expected,
        )
        .unwrap());
    }
    assert_eq!(pure, 4);
}

#[test]
fn wycheproof_ecdsa_p256_verify() {
    let cases = records("wycheproof_ecdsa_secp256r1_sha256.txt");
    assert_eq!(cases.len(), 11);
    for case in cases {
        let spki = case.bytes("public_key");
        let message = case.bytes("message");
        let signature = case.bytes("signature");
        let valid = case.text("result") == "valid";
        let raw =
            verify(KeySpec::EccNistP256, &spki, SigningAlgorithm::EcdsaSha256, MessageType::Raw, &message, &signature)
                .unwrap();
        assert_eq!(raw, valid, "tc {}", case.text("tc"));
        // The same check over the SHA-256 digest of the message.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message);
        let dig = verify(
            KeySpec::EccNistP256,
            &spki,
            SigningAlgorithm::EcdsaSha256,
            MessageType::Digest,
            digest.as_ref(),
            &signature,
        )
        .unwrap();
        assert_eq!(dig, valid, "tc {} (DIGEST)", case.text("tc"));
    }
}

#[test]
fn wycheproof_ecdh_p256() {
    let cases = records("wycheproof_ecdh_secp256r1.txt");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let private = aws_lc_rs::agreement::PrivateKey::from_private_key(
            &aws_lc_rs::agreement::ECDH_P256,
            &case.bytes("private"),
        )
        .unwrap();
        let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&private).unwrap();
        let shared = derive_shared_secret(
            KeySpec::EccNistP256,
            KeyAgreementAlgorithm::Ecdh,
            pkcs8.as_ref(),
            &case.bytes("public"),
        )
        .unwrap();
        assert_eq!(shared.expose(), &case.bytes("shared")[..], "tc {}", case.text("tc"));
    }
}

fn oaep_vectors(file: &str, algorithm: EncryptionAlgorithm) {
    let cases = records(file);
    let pkcs8 = cases[0].bytes("private_key_pkcs8");
    assert_eq!(cases.len(), 8);
    for case in &cases[1..] {
        let ciphertext = case.bytes("ciphertext");
        let plaintext = decrypt(KeySpec::Rsa2048, &pkcs8, algorithm, &ciphertext).unwrap();
        assert_eq!(plaintext.expose(), &case.bytes("message")[..], "tc {}", case.text("tc"));

        let other = match algorithm {
            EncryptionAlgorithm::RsaesOaepSha1 => EncryptionAlgorithm::RsaesOaepSha256,
            _ => EncryptionAlgorithm::RsaesOaepSha1,
        };
        assert_eq!(decrypt(KeySpec::Rsa2048, &pkcs8, other, &ciphertext).unwrap_err(), Error::DecryptionFailed);
        let mut bad = ciphertext.clone();
        bad[100] ^= 0x40;
        assert_eq!(decrypt(KeySpec::Rsa2048, &pkcs8, algorithm, &bad).unwrap_err(), Error::DecryptionFailed);
        assert_eq!(
            decrypt(KeySpec::Rsa2048, &pkcs8, algorithm, &ciphertext[1..]).unwrap_err(),
            Error::MalformedCiphertext
        );
    }
    // The key is a 2048-bit key: any other RSA spec refuses it.
    assert_eq!(
        decrypt(KeySpec::Rsa3072, &pkcs8, algorithm, &hex("00")).unwrap_err(),
        Error::InvalidKeyMaterial { spec: KeySpec::Rsa3072 }
    );
}

#[test]
fn wycheproof_rsa_oaep_sha256_decrypt() {
    oaep_vectors("wycheproof_rsa_oaep_2048_sha256_mgf1sha256.txt", EncryptionAlgorithm::RsaesOaepSha256);
}

#[test]
fn wycheproof_rsa_oaep_sha1_decrypt() {
    oaep_vectors("wycheproof_rsa_oaep_2048_sha1_mgf1sha1.txt", EncryptionAlgorithm::RsaesOaepSha1);
}

/// ML-KEM-512/768/1024 with the keys of the RFC 9935 examples (seed
/// 00..3f): decapsulating kyber-py's ciphertext gives its shared secret,
/// and the altered ciphertext its implicit-rejection secret, which depends
/// on the `z` half of the seed; the example SPKI is the public key of the
/// example PKCS#8.
#[test]
fn ml_kem_rfc9935_keys_decapsulate_kyber_py_ciphertexts() {
    let kem = EncapsulationAlgorithm::MlKem;
    let cases = records("ml_kem_kyber_py.txt");
    assert_eq!(cases.len(), 3);
    for case in &cases {
        let spec = KeySpec::parse(case.text("spec")).unwrap();
        let private = case.bytes("private");
        let public = case.bytes("public");
        let ciphertext = case.bytes("ciphertext");
        let shared = SecretBytes::new(case.bytes("shared"));
        assert_eq!(&private[22..], &case.bytes("seed")[..], "{spec}: the PKCS#8 holds the seed");
        assert_eq!(decapsulate(spec, &private, kem, &ciphertext).unwrap(), shared, "{spec}");
        let cached = PrivateKey::new(spec, SecretBytes::new(private.clone()));
        assert_eq!(cached.decapsulate(kem, &ciphertext).unwrap(), shared, "{spec}");

        let mut altered = ciphertext.clone();
        *altered.last_mut().unwrap() ^= 1;
        let rejected = SecretBytes::new(case.bytes("rejected_shared"));
        assert_eq!(decapsulate(spec, &private, kem, &altered).unwrap(), rejected, "{spec}");
        assert_eq!(cached.decapsulate(kem, &altered).unwrap(), rejected, "{spec}");

        let (ours, secret) = encapsulate(spec, &public, kem).unwrap();
        assert_eq!(cached.decapsulate(kem, &ours).unwrap(), secret, "{spec}");
        assert_eq!(
            decapsulate(spec, &private, kem, &ciphertext[1..]).unwrap_err(),
            Error::MalformedCiphertext,
            "{spec}"
        );
    }
}
