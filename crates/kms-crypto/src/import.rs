//! Imported key material (`GetParametersForImport`, `ImportKeyMaterial`):
//! opening what a client wrapped under an import's wrapping public key, and
//! checking the private key it brought.
//!
//! Wrapping algorithms, as AWS documents them
//! (importing-keys-encrypt-key-material):
//! - `RSAES_OAEP_SHA_1` / `_SHA_256`: the material encrypted with RSA-OAEP
//!   (MGF1 with the same hash, empty label) under an RSA wrapping key;
//! - `RSA_AES_KEY_WRAP_SHA_1` / `_SHA_256`: a fresh AES-256 key encrypted
//!   with RSA-OAEP, followed by the material wrapped under that AES key with
//!   AES key wrap with padding (RFC 5649); the form private keys need, being
//!   longer than OAEP can carry;
//! - `SM2PKE`: SM2 public-key encryption under an SM2 wrapping key.

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{EncryptionAlgorithm, KeySpec};
use crate::{ecc, ed25519, rsa, sm2};

/// AWS's `AlgorithmSpec` values that can still wrap material
/// (`RSAES_PKCS1_V1_5` is no longer accepted by AWS and is not here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    /// `RSAES_OAEP_SHA_1`
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256`
    RsaesOaepSha256,
    /// `RSA_AES_KEY_WRAP_SHA_1`
    RsaAesKeyWrapSha1,
    /// `RSA_AES_KEY_WRAP_SHA_256`
    RsaAesKeyWrapSha256,
    /// `SM2PKE`
    Sm2Pke,
}

impl WrappingAlgorithm {
    /// The wrapping key spec the algorithm needs: an RSA spec, or SM2.
    pub fn fits(self, wrapping_spec: KeySpec) -> bool {
        match self {
            WrappingAlgorithm::Sm2Pke => wrapping_spec == KeySpec::Sm2,
            _ => matches!(wrapping_spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096),
        }
    }
}

/// Opens `wrapped`, made by a client with the public key of the wrapping
/// key pair (`wrapping_spec`, private key `wrapping_key` in PKCS#8).
/// Anything that does not open is [`Error::DecryptionFailed`].
pub fn unwrap_key_material(
    wrapping_spec: KeySpec,
    wrapping_key: &[u8],
    algorithm: WrappingAlgorithm,
    wrapped: &[u8],
) -> Result<SecretBytes> {
    use WrappingAlgorithm as W;
    if !algorithm.fits(wrapping_spec) {
        return Err(Error::UnsupportedOperation { spec: wrapping_spec });
    }
    let failed = |_| Error::DecryptionFailed;
    match algorithm {
        W::RsaesOaepSha1 => rsa::decrypt(wrapping_spec, wrapping_key, EncryptionAlgorithm::RsaesOaepSha1, wrapped),
        W::RsaesOaepSha256 => rsa::decrypt(wrapping_spec, wrapping_key, EncryptionAlgorithm::RsaesOaepSha256, wrapped),
        W::RsaAesKeyWrapSha1 | W::RsaAesKeyWrapSha256 => {
            let oaep = if algorithm == W::RsaAesKeyWrapSha1 {
                EncryptionAlgorithm::RsaesOaepSha1
            } else {
                EncryptionAlgorithm::RsaesOaepSha256
            };
            let n = rsa::modulus_len(wrapping_spec)?;
            if wrapped.len() <= n {
                return Err(Error::DecryptionFailed);
            }
            let (head, tail) = wrapped.split_at(n);
            let aes = rsa::decrypt(wrapping_spec, wrapping_key, oaep, head).map_err(failed)?;
            let kek = AesKek::new(&AES_256, aes.expose()).map_err(|_| Error::DecryptionFailed)?;
            let mut out = Zeroizing::new(vec![0u8; tail.len()]);
            let material = kek.unwrap_with_padding(tail, &mut out).map_err(|_| Error::DecryptionFailed)?;
            Ok(SecretBytes::from_slice(material))
        }
        W::Sm2Pke => sm2::decrypt(wrapping_key, EncryptionAlgorithm::Sm2Pke, wrapped).map_err(failed),
    }
    .map_err(|e| match e {
        Error::Internal(_) => e,
        _ => Error::DecryptionFailed,
    })
}

/// Checks an imported private key (DER PKCS#8, the format AWS documents)
/// against `spec`, and returns it re-encoded the way generated keys are,
/// with its public key (DER SPKI). ML-DSA and ML-KEM material cannot be
/// imported ([`Error::UnsupportedOperation`]); a key that does not parse as
/// the spec's is [`Error::InvalidKeyMaterial`].
pub fn import_private_key(spec: KeySpec, pkcs8: &[u8]) -> Result<KeyPair> {
    use KeySpec as K;
    match spec {
        K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => rsa::import(spec, pkcs8),
        K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => ecc::import(spec, pkcs8),
        K::EccNistEdwards25519 => ed25519::import(pkcs8),
        K::Sm2 => sm2::import(pkcs8),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};

    fn rsa_wrap(public: &[u8], aes: &[u8]) -> Vec<u8> {
        let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public).unwrap()).unwrap();
        let mut out = vec![0u8; key.ciphertext_size()];
        key.encrypt(&OAEP_SHA256_MGF1SHA256, aes, &mut out, None).unwrap().to_vec()
    }

    #[test]
    fn rsa_aes_key_wrap_round_trip_and_tamper() {
        let wrapping = crate::generate(KeySpec::Rsa2048).unwrap();
        let material = crate::generate(KeySpec::EccNistP384).unwrap();
        let aes = [7u8; 32];
        let mut blob = rsa_wrap(wrapping.public_key.as_ref().unwrap(), &aes);
        let mut kwp = vec![0u8; material.private_key.len() + 16];
        let wrapped =
            AesKek::new(&AES_256, &aes).unwrap().wrap_with_padding(material.private_key.expose(), &mut kwp).unwrap();
        blob.extend_from_slice(wrapped);
        let w = WrappingAlgorithm::RsaAesKeyWrapSha256;
        let opened = unwrap_key_material(KeySpec::Rsa2048, wrapping.private_key.expose(), w, &blob).unwrap();
        assert_eq!(opened.expose(), material.private_key.expose());
        let imported = import_private_key(KeySpec::EccNistP384, opened.expose()).unwrap();
        assert_eq!(imported.public_key, material.public_key);
        // Wrong curve, wrong algorithm, a flipped bit: refused.
        assert!(matches!(
            import_private_key(KeySpec::EccNistP256, opened.expose()),
            Err(Error::InvalidKeyMaterial { .. })
        ));
        let other = WrappingAlgorithm::RsaAesKeyWrapSha1;
        assert_eq!(
            unwrap_key_material(KeySpec::Rsa2048, wrapping.private_key.expose(), other, &blob).unwrap_err(),
            Error::DecryptionFailed
        );
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert_eq!(
            unwrap_key_material(KeySpec::Rsa2048, wrapping.private_key.expose(), w, &blob).unwrap_err(),
            Error::DecryptionFailed
        );
        assert!(!WrappingAlgorithm::Sm2Pke.fits(KeySpec::Rsa2048));
    }

    #[test]
    fn imported_rsa_key_must_have_the_specs_size() {
        let pair = crate::generate(KeySpec::Rsa2048).unwrap();
        assert!(import_private_key(KeySpec::Rsa2048, pair.private_key.expose()).is_ok());
        assert!(matches!(
            import_private_key(KeySpec::Rsa3072, pair.private_key.expose()),
            Err(Error::InvalidKeyMaterial { .. })
        ));
        assert!(matches!(
            import_private_key(KeySpec::MlDsa44, pair.private_key.expose()),
            Err(Error::UnsupportedOperation { .. })
        ));
    }
}
