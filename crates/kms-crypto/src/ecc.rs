//! ECC_NIST_P256/P384/P521 and ECC_SECG_P256K1: key generation, ECDSA
//! (DER signatures) over messages or precomputed digests, and ECDH for the
//! NIST curves. All from aws-lc-rs.

use aws_lc_rs::agreement::{self, ParsedPublicKeyFormat};
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair as _, UnparsedPublicKey,
};

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{KeySpec, MessageType, SigningAlgorithm};

struct Curve {
    signing: &'static EcdsaSigningAlgorithm,
    verification: &'static EcdsaVerificationAlgorithm,
    /// The one ECDSA algorithm AWS pairs with the curve.
    algorithm: SigningAlgorithm,
    digest: &'static digest::Algorithm,
}

fn curve(spec: KeySpec) -> Result<Curve> {
    Ok(match spec {
        KeySpec::EccNistP256 => Curve {
            signing: &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            verification: &signature::ECDSA_P256_SHA256_ASN1,
            algorithm: SigningAlgorithm::EcdsaSha256,
            digest: &digest::SHA256,
        },
        KeySpec::EccNistP384 => Curve {
            signing: &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            verification: &signature::ECDSA_P384_SHA384_ASN1,
            algorithm: SigningAlgorithm::EcdsaSha384,
            digest: &digest::SHA384,
        },
        KeySpec::EccNistP521 => Curve {
            signing: &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            verification: &signature::ECDSA_P521_SHA512_ASN1,
            algorithm: SigningAlgorithm::EcdsaSha512,
            digest: &digest::SHA512,
        },
        KeySpec::EccSecgP256k1 => Curve {
            signing: &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            verification: &signature::ECDSA_P256K1_SHA256_ASN1,
            algorithm: SigningAlgorithm::EcdsaSha256,
            digest: &digest::SHA256,
        },
        _ => return Err(Error::UnsupportedOperation { spec }),
    })
}

/// The curve of `spec`, checking that `algorithm` is the one AWS pairs with it.
fn curve_for(spec: KeySpec, algorithm: SigningAlgorithm) -> Result<Curve> {
    let curve = curve(spec)?;
    if curve.algorithm != algorithm {
        return Err(Error::UnsupportedAlgorithm { spec, algorithm: algorithm.as_str() });
    }
    Ok(curve)
}

fn prepare_digest(curve: &Curve, message_type: MessageType, message: &[u8]) -> Result<Option<Digest>> {
    match message_type {
        MessageType::Raw => Ok(None),
        MessageType::Digest => {
            Digest::import_less_safe(message, curve.digest).map(Some).map_err(|_| Error::InvalidDigestLength {
                algorithm: curve.algorithm,
                expected: curve.digest.output_len(),
                actual: message.len(),
            })
        }
        MessageType::ExternalMu => Err(Error::UnsupportedMessageType { algorithm: curve.algorithm, message_type }),
    }
}

pub(crate) fn generate(spec: KeySpec) -> Result<KeyPair> {
    let curve = curve(spec)?;
    let pair = EcdsaKeyPair::generate(curve.signing).map_err(|_| Error::Internal("EC key generation"))?;
    let private = pair.to_pkcs8v1().map_err(|_| Error::Internal("EC PKCS#8 encoding"))?;
    let public =
        AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).map_err(|_| Error::Internal("EC SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

/// Checks an imported DER PKCS#8 EC private key against the curve of `spec`
/// and returns it re-encoded as generated keys are, with its public key.
pub(crate) fn import(spec: KeySpec, pkcs8: &[u8]) -> Result<KeyPair> {
    let pair = load_signing_key(spec, pkcs8)?;
    let private = pair.to_pkcs8v1().map_err(|_| Error::Internal("EC PKCS#8 encoding"))?;
    let public =
        AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).map_err(|_| Error::Internal("EC SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

pub(crate) fn sign(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    sign_with(spec, &load_signing_key(spec, private_key)?, algorithm, message_type, message)
}

pub(crate) fn load_signing_key(spec: KeySpec, private_key: &[u8]) -> Result<EcdsaKeyPair> {
    EcdsaKeyPair::from_pkcs8(curve(spec)?.signing, private_key).map_err(|_| Error::InvalidKeyMaterial { spec })
}

/// [`sign`] with a parsed key.
pub(crate) fn sign_with(
    spec: KeySpec,
    pair: &EcdsaKeyPair,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    let curve = curve_for(spec, algorithm)?;
    let digest = prepare_digest(&curve, message_type, message)?;
    let signature = match &digest {
        None => pair.sign(&SystemRandom::new(), message),
        Some(digest) => pair.sign_digest(digest),
    }
    .map_err(|_| Error::Internal("ECDSA signing"))?;
    Ok(signature.as_ref().to_vec())
}

pub(crate) fn verify(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    let curve = curve_for(spec, algorithm)?;
    let digest = prepare_digest(&curve, message_type, message)?;
    let key = UnparsedPublicKey::new(curve.verification, public_key)
        .parse()
        .map_err(|_| Error::MalformedPublicKey { spec })?;
    let verified = match &digest {
        None => key.verify_sig(message, signature),
        Some(digest) => key.verify_digest_sig(digest, signature),
    };
    Ok(verified.is_ok())
}

fn ecdh_algorithm(spec: KeySpec) -> Result<&'static agreement::Algorithm> {
    match spec {
        KeySpec::EccNistP256 => Ok(&agreement::ECDH_P256),
        KeySpec::EccNistP384 => Ok(&agreement::ECDH_P384),
        KeySpec::EccNistP521 => Ok(&agreement::ECDH_P521),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

pub(crate) fn derive_shared_secret(spec: KeySpec, private_key: &[u8], peer_public_key: &[u8]) -> Result<SecretBytes> {
    let alg = ecdh_algorithm(spec)?;
    let peer = agreement::ParsedPublicKey::try_from(&agreement::UnparsedPublicKey::new(alg, peer_public_key))
        .map_err(|_| Error::MalformedPublicKey { spec })?;
    // AWS takes the peer key as a DER SubjectPublicKeyInfo only.
    if peer.format() != ParsedPublicKeyFormat::X509 || peer.alg() != alg {
        return Err(Error::MalformedPublicKey { spec });
    }
    let private = agreement::PrivateKey::from_private_key_der(alg, private_key)
        .map_err(|_| Error::InvalidKeyMaterial { spec })?;
    agreement::agree(&private, peer, Error::MalformedPublicKey { spec }, |secret| Ok(SecretBytes::from_slice(secret)))
}
