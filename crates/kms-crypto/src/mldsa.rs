//! ML_DSA_44/65/87 (FIPS 204): key generation and `RAW` signing and
//! verification from aws-lc-rs; `EXTERNAL_MU` (signing and verifying a
//! precomputed 64-byte mu, FIPS 204 section 6.2), which aws-lc-rs does not
//! expose, from the RustCrypto `ml-dsa` crate. Both derive the same key from
//! the 32-byte seed that the PKCS#8 private key holds.
//!
//! Signing is hedged (randomized), as AWS documents; the context string is
//! empty.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{
    self, KeyPair as _, PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, UnparsedPublicKey,
};
use ml_dsa::common::getrandom::SysRng;
use ml_dsa::pkcs8::der::AnyRef;
use ml_dsa::pkcs8::spki::AssociatedAlgorithmIdentifier;
use ml_dsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ml_dsa::signature::digest::Update as _;
use ml_dsa::{EncodedSignature, MlDsa44, MlDsa65, MlDsa87, MlDsaParams};

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{KeySpec, MessageType, SigningAlgorithm};

/// Length of the ML-DSA message representative mu.
pub const MU_LEN: usize = 64;

fn algorithms(spec: KeySpec) -> Result<(&'static PqdsaSigningAlgorithm, &'static PqdsaVerificationAlgorithm)> {
    match spec {
        KeySpec::MlDsa44 => Ok((&signature::ML_DSA_44_SIGNING, &signature::ML_DSA_44)),
        KeySpec::MlDsa65 => Ok((&signature::ML_DSA_65_SIGNING, &signature::ML_DSA_65)),
        KeySpec::MlDsa87 => Ok((&signature::ML_DSA_87_SIGNING, &signature::ML_DSA_87)),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

pub(crate) fn generate(spec: KeySpec) -> Result<KeyPair> {
    let (signing, _) = algorithms(spec)?;
    let pair = PqdsaKeyPair::generate(signing).map_err(|_| Error::Internal("ML-DSA key generation"))?;
    let private = pair.to_pkcs8v1().map_err(|_| Error::Internal("ML-DSA PKCS#8 encoding"))?;
    let public =
        AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).map_err(|_| Error::Internal("ML-DSA SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

fn check(spec: KeySpec, algorithm: SigningAlgorithm, message_type: MessageType, message: &[u8]) -> Result<()> {
    if algorithm != SigningAlgorithm::MlDsaShake256 {
        return Err(Error::UnsupportedAlgorithm { spec, algorithm: algorithm.as_str() });
    }
    match message_type {
        MessageType::Raw => Ok(()),
        MessageType::ExternalMu if message.len() == MU_LEN => Ok(()),
        MessageType::ExternalMu => {
            Err(Error::InvalidDigestLength { algorithm, expected: MU_LEN, actual: message.len() })
        }
        MessageType::Digest => Err(Error::UnsupportedMessageType { algorithm, message_type }),
    }
}

/// Bounds the RustCrypto parameter sets need for PKCS#8 / SPKI decoding.
trait Params: MlDsaParams + AssociatedAlgorithmIdentifier<Params = AnyRef<'static>> {}
impl<P: MlDsaParams + AssociatedAlgorithmIdentifier<Params = AnyRef<'static>>> Params for P {}

fn sign_mu<P: Params>(spec: KeySpec, private_key: &[u8], mu: &[u8]) -> Result<Vec<u8>> {
    let key =
        ml_dsa::ExpandedSigningKey::<P>::from_pkcs8_der(private_key).map_err(|_| Error::InvalidKeyMaterial { spec })?;
    let mu = mu.try_into().map_err(|_| Error::Internal("mu length"))?;
    let signature = key.sign_mu_randomized(mu, &mut SysRng).map_err(|_| Error::Internal("ML-DSA signing"))?;
    Ok(signature.encode().to_vec())
}

fn verifying_key<P: Params>(spec: KeySpec, public_key: &[u8]) -> Result<ml_dsa::VerifyingKey<P>> {
    ml_dsa::VerifyingKey::<P>::from_public_key_der(public_key).map_err(|_| Error::MalformedPublicKey { spec })
}

fn verify_mu<P: Params>(spec: KeySpec, public_key: &[u8], mu: &[u8], signature: &[u8]) -> Result<bool> {
    let key = verifying_key::<P>(spec, public_key)?;
    let mu = mu.try_into().map_err(|_| Error::Internal("mu length"))?;
    let Ok(encoded) = <&EncodedSignature<P>>::try_from(signature) else {
        return Ok(false);
    };
    let Some(signature) = ml_dsa::Signature::<P>::decode(encoded) else {
        return Ok(false);
    };
    Ok(key.verify_mu(mu, &signature))
}

fn mu_of<P: Params>(spec: KeySpec, public_key: &[u8], message: &[u8]) -> Result<[u8; MU_LEN]> {
    let key = verifying_key::<P>(spec, public_key)?;
    let mu = key
        .compute_mu(
            |shake| {
                shake.update(message);
                Ok(())
            },
            &[],
        )
        .map_err(|_| Error::Internal("ML-DSA mu"))?;
    let mut out = [0u8; MU_LEN];
    out.copy_from_slice(&mu);
    Ok(out)
}

pub(crate) fn sign(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    let (signing, _) = algorithms(spec)?;
    check(spec, algorithm, message_type, message)?;
    if message_type == MessageType::ExternalMu {
        return match spec {
            KeySpec::MlDsa44 => sign_mu::<MlDsa44>(spec, private_key, message),
            KeySpec::MlDsa65 => sign_mu::<MlDsa65>(spec, private_key, message),
            _ => sign_mu::<MlDsa87>(spec, private_key, message),
        };
    }
    let pair = PqdsaKeyPair::from_pkcs8(signing, private_key).map_err(|_| Error::InvalidKeyMaterial { spec })?;
    let mut signature = vec![0u8; signing.signature_len()];
    let len = pair.sign(message, &mut signature).map_err(|_| Error::Internal("ML-DSA signing"))?;
    signature.truncate(len);
    Ok(signature)
}

pub(crate) fn verify(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    let (_, verification) = algorithms(spec)?;
    check(spec, algorithm, message_type, message)?;
    if message_type == MessageType::ExternalMu {
        return match spec {
            KeySpec::MlDsa44 => verify_mu::<MlDsa44>(spec, public_key, message, signature),
            KeySpec::MlDsa65 => verify_mu::<MlDsa65>(spec, public_key, message, signature),
            _ => verify_mu::<MlDsa87>(spec, public_key, message, signature),
        };
    }
    let key =
        UnparsedPublicKey::new(verification, public_key).parse().map_err(|_| Error::MalformedPublicKey { spec })?;
    Ok(key.verify_sig(message, signature).is_ok())
}

pub(crate) fn external_mu(spec: KeySpec, public_key: &[u8], message: &[u8]) -> Result<[u8; MU_LEN]> {
    algorithms(spec)?;
    match spec {
        KeySpec::MlDsa44 => mu_of::<MlDsa44>(spec, public_key, message),
        KeySpec::MlDsa65 => mu_of::<MlDsa65>(spec, public_key, message),
        _ => mu_of::<MlDsa87>(spec, public_key, message),
    }
}
