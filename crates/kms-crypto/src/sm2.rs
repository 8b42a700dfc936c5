//! SM2 (GM/T 0003): key generation, SM2DSA, SM2PKE and ECDH over the SM2
//! curve, from the RustCrypto `sm2` crate (aws-lc has no SM2).
//!
//! What AWS documents, and what this module does:
//! - Keys are `id-ecPublicKey` keys on the curve `sm2p256v1`
//!   (1.2.156.10197.1.301): SPKI public keys, PKCS#8 private keys.
//! - SM2DSA with `RAW` signs `SM3(Z || M)` where `Z` is computed with the
//!   default distinguishing id `1234567812345678`; with `DIGEST` the caller
//!   has already computed that 32-byte value (with whatever id they chose)
//!   and it is signed as is. Signatures are DER `SEQUENCE { r, s }`.
//! - SM2PKE ciphertexts are ASN.1 DER `SEQUENCE { x, y, hash (C3),
//!   ciphertext (C2) }` (GM/T 0009), which OpenSSL produces and accepts.
//! - Key agreement is the ECDH primitive; the shared secret is the
//!   x-coordinate of the shared point (32 bytes).

use ::sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use ::sm2::dsa::signature::{RandomizedSigner, Verifier};
use ::sm2::dsa::{DerSignature, SigningKey, VerifyingKey};
use ::sm2::elliptic_curve::common::getrandom::SysRng;
use ::sm2::elliptic_curve::Generate;
use ::sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ::sm2::pke::{DecryptingKey, EncryptingKey};
use ::sm2::{PublicKey, SecretKey};

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{EncryptionAlgorithm, KeySpec, MessageType, SigningAlgorithm};

const SPEC: KeySpec = KeySpec::Sm2;

/// The distinguishing id AWS KMS uses for SM2DSA over RAW messages
/// (GM/T 0009-2012 default).
pub const DEFAULT_DISTINGUISHING_ID: &str = "1234567812345678";

/// Length of an SM3 digest, the `DIGEST` form of SM2DSA.
const DIGEST_LEN: usize = 32;

pub(crate) fn generate() -> Result<KeyPair> {
    let secret = SecretKey::try_generate().map_err(|_| Error::Internal("SM2 key generation"))?;
    let private = secret.to_pkcs8_der().map_err(|_| Error::Internal("SM2 PKCS#8 encoding"))?;
    let public = secret.public_key().to_public_key_der().map_err(|_| Error::Internal("SM2 SPKI encoding"))?;
    Ok(KeyPair {
        private_key: SecretBytes::from_slice(private.as_bytes()),
        public_key: Some(public.as_bytes().to_vec()),
    })
}

/// Checks an imported DER PKCS#8 SM2 private key and returns it re-encoded
/// as generated keys are, with its public key.
pub(crate) fn import(pkcs8: &[u8]) -> Result<KeyPair> {
    let secret = secret_key(pkcs8)?;
    let private = secret.to_pkcs8_der().map_err(|_| Error::Internal("SM2 PKCS#8 encoding"))?;
    let public = secret.public_key().to_public_key_der().map_err(|_| Error::Internal("SM2 SPKI encoding"))?;
    Ok(KeyPair {
        private_key: SecretBytes::from_slice(private.as_bytes()),
        public_key: Some(public.as_bytes().to_vec()),
    })
}

fn secret_key(private_key: &[u8]) -> Result<SecretKey> {
    SecretKey::from_pkcs8_der(private_key).map_err(|_| Error::InvalidKeyMaterial { spec: SPEC })
}

fn public_key(public_key: &[u8]) -> Result<PublicKey> {
    PublicKey::from_public_key_der(public_key).map_err(|_| Error::MalformedPublicKey { spec: SPEC })
}

fn check_signing(algorithm: SigningAlgorithm, message_type: MessageType, message: &[u8]) -> Result<()> {
    if algorithm != SigningAlgorithm::Sm2Dsa {
        return Err(Error::UnsupportedAlgorithm { spec: SPEC, algorithm: algorithm.as_str() });
    }
    match message_type {
        MessageType::Raw => Ok(()),
        MessageType::Digest if message.len() == DIGEST_LEN => Ok(()),
        MessageType::Digest => {
            Err(Error::InvalidDigestLength { algorithm, expected: DIGEST_LEN, actual: message.len() })
        }
        MessageType::ExternalMu => Err(Error::UnsupportedMessageType { algorithm, message_type }),
    }
}

pub(crate) fn sign(
    private_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    check_signing(algorithm, message_type, message)?;
    let key = SigningKey::new(DEFAULT_DISTINGUISHING_ID, &secret_key(private_key)?)
        .map_err(|_| Error::InvalidKeyMaterial { spec: SPEC })?;
    let signature = match message_type {
        MessageType::Digest => key.sign_prehash_with_rng(&mut SysRng, message),
        _ => key.try_sign_with_rng(&mut SysRng, message),
    }
    .map_err(|_| Error::Internal("SM2DSA signing"))?;
    Ok(DerSignature::from(signature).to_vec())
}

pub(crate) fn verify(
    public: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    check_signing(algorithm, message_type, message)?;
    let key = VerifyingKey::new(DEFAULT_DISTINGUISHING_ID, public_key(public)?)
        .map_err(|_| Error::MalformedPublicKey { spec: SPEC })?;
    let Ok(der) = DerSignature::from_bytes(signature) else {
        return Ok(false);
    };
    let Ok(signature) = ::sm2::dsa::Signature::try_from(der) else {
        return Ok(false);
    };
    let verified = match message_type {
        MessageType::Digest => key.verify_prehash(message, &signature),
        _ => key.verify(message, &signature),
    };
    Ok(verified.is_ok())
}

fn check_pke(algorithm: EncryptionAlgorithm) -> Result<()> {
    if algorithm != EncryptionAlgorithm::Sm2Pke {
        return Err(Error::UnsupportedAlgorithm { spec: SPEC, algorithm: algorithm.as_str() });
    }
    Ok(())
}

pub(crate) fn encrypt(public: &[u8], algorithm: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
    check_pke(algorithm)?;
    let max = crate::spec::max_plaintext_len(SPEC, algorithm).unwrap_or(0);
    if plaintext.len() > max {
        return Err(Error::PlaintextTooLong { max, actual: plaintext.len() });
    }
    EncryptingKey::new(public_key(public)?)
        .encrypt_der(&mut SysRng, plaintext)
        .map_err(|_| Error::Internal("SM2PKE encryption"))
}

pub(crate) fn decrypt(private_key: &[u8], algorithm: EncryptionAlgorithm, ciphertext: &[u8]) -> Result<SecretBytes> {
    check_pke(algorithm)?;
    let key = DecryptingKey::new(secret_key(private_key)?);
    key.decrypt_der(ciphertext).map(SecretBytes::new).map_err(|_| Error::DecryptionFailed)
}

pub(crate) fn derive_shared_secret(private_key: &[u8], peer_public_key: &[u8]) -> Result<SecretBytes> {
    let secret = secret_key(private_key)?;
    let peer = public_key(peer_public_key)?;
    let shared = secret.diffie_hellman(&peer);
    Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
}
