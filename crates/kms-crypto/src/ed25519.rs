//! ECC_NIST_EDWARDS25519: key generation and pure Ed25519 from aws-lc-rs;
//! Ed25519ph (which aws-lc-rs does not expose) from ed25519-dalek.
//!
//! AWS: `ED25519_SHA_512` takes `RAW` messages only; `ED25519_PH_SHA_512`
//! takes `DIGEST` messages only, 64 bytes, "and KMS still performs the
//! SHA-512 prehash ... the input is hashed twice". So a `DIGEST` message `d`
//! is signed as the Ed25519ph (RFC 8032, empty context) signature of the
//! message `d`, whose prehash is `SHA-512(d)`.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Digest as _, Sha512};

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{KeySpec, MessageType, SigningAlgorithm};

const SPEC: KeySpec = KeySpec::EccNistEdwards25519;
const PH_INPUT_LEN: usize = 64;

pub(crate) fn generate() -> Result<KeyPair> {
    let pair = Ed25519KeyPair::generate().map_err(|_| Error::Internal("Ed25519 key generation"))?;
    let private = pair.to_pkcs8v1().map_err(|_| Error::Internal("Ed25519 PKCS#8 encoding"))?;
    let public =
        AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).map_err(|_| Error::Internal("Ed25519 SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

/// Checks an imported DER PKCS#8 (v1 or v2) Ed25519 private key and returns
/// it re-encoded as generated keys are, with its public key.
pub(crate) fn import(pkcs8: &[u8]) -> Result<KeyPair> {
    let pair =
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| Error::InvalidKeyMaterial { spec: SPEC })?;
    let private = pair.to_pkcs8v1().map_err(|_| Error::Internal("Ed25519 PKCS#8 encoding"))?;
    let public =
        AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).map_err(|_| Error::Internal("Ed25519 SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

/// Which variant, after checking the algorithm and message type.
enum Variant {
    Pure,
    Prehash,
}

fn variant(algorithm: SigningAlgorithm, message_type: MessageType, message: &[u8]) -> Result<Variant> {
    match (algorithm, message_type) {
        (SigningAlgorithm::Ed25519Sha512, MessageType::Raw) => Ok(Variant::Pure),
        (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) => {
            if message.len() != PH_INPUT_LEN {
                return Err(Error::InvalidDigestLength { algorithm, expected: PH_INPUT_LEN, actual: message.len() });
            }
            Ok(Variant::Prehash)
        }
        (SigningAlgorithm::Ed25519Sha512 | SigningAlgorithm::Ed25519PhSha512, _) => {
            Err(Error::UnsupportedMessageType { algorithm, message_type })
        }
        _ => Err(Error::UnsupportedAlgorithm { spec: SPEC, algorithm: algorithm.as_str() }),
    }
}

pub(crate) fn sign(
    private_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    match variant(algorithm, message_type, message)? {
        Variant::Pure => {
            let pair = Ed25519KeyPair::from_pkcs8(private_key).map_err(|_| Error::InvalidKeyMaterial { spec: SPEC })?;
            let signature = pair.try_sign(message).map_err(|_| Error::Internal("Ed25519 signing"))?;
            Ok(signature.as_ref().to_vec())
        }
        Variant::Prehash => ph_sign(private_key, message),
    }
}

/// Ed25519ph (RFC 8032 section 5.1, empty context) of `message`.
pub(crate) fn ph_sign(private_key: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    let key =
        ed25519_dalek::SigningKey::from_pkcs8_der(private_key).map_err(|_| Error::InvalidKeyMaterial { spec: SPEC })?;
    let signature = key
        .sign_prehashed(Sha512::new().chain_update(message), None)
        .map_err(|_| Error::Internal("Ed25519ph signing"))?;
    Ok(signature.to_bytes().to_vec())
}

/// Verification of an Ed25519ph signature (RFC 8032, empty context) of `message`.
pub(crate) fn ph_verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool> {
    let key = ed25519_dalek::VerifyingKey::from_public_key_der(public_key)
        .map_err(|_| Error::MalformedPublicKey { spec: SPEC })?;
    let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
        return Ok(false);
    };
    Ok(key.verify_prehashed(Sha512::new().chain_update(message), None, &signature).is_ok())
}

pub(crate) fn verify(
    public_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    match variant(algorithm, message_type, message)? {
        Variant::Pure => {
            let key = UnparsedPublicKey::new(&signature::ED25519, public_key)
                .parse()
                .map_err(|_| Error::MalformedPublicKey { spec: SPEC })?;
            Ok(key.verify_sig(message, signature).is_ok())
        }
        Variant::Prehash => ph_verify(public_key, message, signature),
    }
}
