//! HMAC_224/256/384/512 (RFC 2104 with SHA-2) from aws-lc-rs; verification
//! compares in constant time.

use aws_lc_rs::hmac;

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{hmac_key_len, KeySpec, MacAlgorithm};

fn algorithm(spec: KeySpec, mac_algorithm: MacAlgorithm) -> Result<hmac::Algorithm> {
    let (expected, alg) = match spec {
        KeySpec::Hmac224 => (MacAlgorithm::HmacSha224, hmac::HMAC_SHA224),
        KeySpec::Hmac256 => (MacAlgorithm::HmacSha256, hmac::HMAC_SHA256),
        KeySpec::Hmac384 => (MacAlgorithm::HmacSha384, hmac::HMAC_SHA384),
        KeySpec::Hmac512 => (MacAlgorithm::HmacSha512, hmac::HMAC_SHA512),
        _ => return Err(Error::UnsupportedOperation { spec }),
    };
    if mac_algorithm != expected {
        return Err(Error::UnsupportedAlgorithm { spec, algorithm: mac_algorithm.as_str() });
    }
    Ok(alg)
}

pub(crate) fn generate(spec: KeySpec) -> Result<KeyPair> {
    let len = hmac_key_len(spec).ok_or(Error::UnsupportedOperation { spec })?;
    let mut key = SecretBytes::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(key.expose_mut()).map_err(|_| Error::Internal("random source"))?;
    Ok(KeyPair { private_key: key, public_key: None })
}

fn key(spec: KeySpec, mac_algorithm: MacAlgorithm, key: &[u8]) -> Result<hmac::Key> {
    let alg = algorithm(spec, mac_algorithm)?;
    if key.is_empty() {
        return Err(Error::InvalidKeyMaterial { spec });
    }
    Ok(hmac::Key::new(alg, key))
}

pub(crate) fn mac(spec: KeySpec, mac_algorithm: MacAlgorithm, key_bytes: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    let key = key(spec, mac_algorithm, key_bytes)?;
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

pub(crate) fn verify_mac(
    spec: KeySpec,
    mac_algorithm: MacAlgorithm,
    key_bytes: &[u8],
    message: &[u8],
    tag: &[u8],
) -> Result<bool> {
    let key = key(spec, mac_algorithm, key_bytes)?;
    Ok(hmac::verify(&key, message, tag).is_ok())
}
