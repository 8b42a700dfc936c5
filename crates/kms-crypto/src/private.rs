//! A private key kept for repeated use: parsing and checking an RSA or EC
//! private key costs more than a signature with it (for RSA-2048 about three
//! times more), and an ML-KEM private key is a seed that must be expanded
//! (FIPS 203 key generation) before it can decapsulate, so the parsed form
//! is kept after the first use.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::kem::DecapsulationKey;
use aws_lc_rs::rsa::OaepPrivateDecryptingKey;
use aws_lc_rs::signature::{EcdsaKeyPair, RsaKeyPair};

use crate::error::Result;
use crate::secret::SecretBytes;
use crate::spec::{
    EncapsulationAlgorithm, EncryptionAlgorithm, KeyAgreementAlgorithm, KeySpec, MessageType, SigningAlgorithm,
};
use crate::{ecc, mlkem, rsa};

/// A parsed key, of the kind its first use needed (a key has one usage).
enum Parsed {
    RsaSigning(RsaKeyPair),
    RsaDecrypting(OaepPrivateDecryptingKey),
    Ecdsa(EcdsaKeyPair),
    /// The expanded ML-KEM decapsulation key.
    MlKem(DecapsulationKey),
}

/// The private key of an asymmetric spec (DER PKCS#8, as [`crate::generate`]
/// returns it). Signing, decrypting and decapsulating with it give the same
/// results as [`crate::sign`], [`crate::decrypt`] and [`crate::decapsulate`]
/// with the DER bytes; RSA, NIST / secp256k1 EC and ML-KEM keys are parsed
/// once, on first use, and the other specs parse the DER each time. Redacted in `Debug`; the DER bytes are zeroized
/// on drop, and aws-lc clears the parsed key's memory when it frees it.
pub struct PrivateKey {
    spec: KeySpec,
    der: SecretBytes,
    parsed: OnceLock<Parsed>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.spec.as_str())
    }
}

impl PrivateKey {
    /// Wraps the DER PKCS#8 `der` of `spec`; nothing is parsed yet.
    pub fn new(spec: KeySpec, der: SecretBytes) -> Self {
        PrivateKey { spec, der, parsed: OnceLock::new() }
    }

    /// The key's spec.
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The DER PKCS#8 bytes.
    pub fn der(&self) -> &[u8] {
        self.der.expose()
    }

    /// The parsed key: the cached one, or `parse`'s result, cached when the
    /// cache is still empty.
    fn parsed(&self, parse: impl FnOnce() -> Result<Parsed>) -> Result<&Parsed> {
        if let Some(p) = self.parsed.get() {
            return Ok(p);
        }
        let p = parse()?;
        // A concurrent first use may have won; either parse is the same key.
        Ok(self.parsed.get_or_init(|| p))
    }

    /// Signs like [`crate::sign`].
    pub fn sign(&self, algorithm: SigningAlgorithm, message_type: MessageType, message: &[u8]) -> Result<Vec<u8>> {
        let spec = self.spec;
        match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                match self.parsed(|| rsa::load_signing_key(spec, self.der()).map(Parsed::RsaSigning))? {
                    Parsed::RsaSigning(pair) => rsa::sign_with(spec, pair, algorithm, message_type, message),
                    _ => crate::sign(spec, self.der(), algorithm, message_type, message),
                }
            }
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 | KeySpec::EccSecgP256k1 => {
                match self.parsed(|| ecc::load_signing_key(spec, self.der()).map(Parsed::Ecdsa))? {
                    Parsed::Ecdsa(pair) => ecc::sign_with(spec, pair, algorithm, message_type, message),
                    _ => crate::sign(spec, self.der(), algorithm, message_type, message),
                }
            }
            _ => crate::sign(spec, self.der(), algorithm, message_type, message),
        }
    }

    /// Decrypts like [`crate::decrypt`].
    pub fn decrypt(&self, algorithm: EncryptionAlgorithm, ciphertext: &[u8]) -> Result<SecretBytes> {
        let spec = self.spec;
        match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                match self.parsed(|| rsa::load_decrypting_key(spec, self.der()).map(Parsed::RsaDecrypting))? {
                    Parsed::RsaDecrypting(key) => rsa::decrypt_with(spec, key, algorithm, ciphertext),
                    _ => crate::decrypt(spec, self.der(), algorithm, ciphertext),
                }
            }
            _ => crate::decrypt(spec, self.der(), algorithm, ciphertext),
        }
    }

    /// Decapsulates like [`crate::decapsulate`]; an ML-KEM key's seed is
    /// expanded on first use only.
    pub fn decapsulate(&self, algorithm: EncapsulationAlgorithm, ciphertext: &[u8]) -> Result<SecretBytes> {
        let spec = self.spec;
        // Algorithm and length first, as the DER function checks them.
        mlkem::check(spec, algorithm, ciphertext)?;
        match self.parsed(|| mlkem::load_decapsulation_key(spec, self.der()).map(Parsed::MlKem))? {
            Parsed::MlKem(key) => mlkem::decapsulate_with(key, ciphertext),
            _ => crate::decapsulate(spec, self.der(), algorithm, ciphertext),
        }
    }

    /// Key agreement like [`crate::derive_shared_secret`].
    pub fn derive_shared_secret(
        &self,
        algorithm: KeyAgreementAlgorithm,
        peer_public_key: &[u8],
    ) -> Result<SecretBytes> {
        crate::derive_shared_secret(self.spec, algorithm, self.der(), peer_public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::EncryptionAlgorithm as E;

    /// The cached parse signs and decrypts exactly like the DER functions,
    /// on first and later uses.
    #[test]
    fn same_results_as_the_der_functions() {
        for (spec, alg) in [
            (KeySpec::Rsa2048, SigningAlgorithm::RsassaPkcs1V15Sha256),
            (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256),
            (KeySpec::EccSecgP256k1, SigningAlgorithm::EcdsaSha256),
            (KeySpec::EccNistEdwards25519, SigningAlgorithm::Ed25519Sha512),
        ] {
            let pair = crate::generate(spec).unwrap();
            let public = pair.public_key.clone().unwrap();
            let key = PrivateKey::new(spec, pair.private_key.clone());
            for _ in 0..2 {
                let sig = key.sign(alg, MessageType::Raw, b"message").unwrap();
                assert!(crate::verify(spec, &public, alg, MessageType::Raw, b"message", &sig).unwrap(), "{spec:?}");
            }
            let other = crate::sign(spec, pair.private_key.expose(), alg, MessageType::Raw, b"message").unwrap();
            assert!(crate::verify(spec, &public, alg, MessageType::Raw, b"message", &other).unwrap());
            assert!(format!("{key:?}").contains("redacted"));
        }
        let pair = crate::generate(KeySpec::Rsa2048).unwrap();
        let public = pair.public_key.clone().unwrap();
        let key = PrivateKey::new(KeySpec::Rsa2048, pair.private_key);
        for _ in 0..2 {
            let ct = crate::encrypt(KeySpec::Rsa2048, &public, E::RsaesOaepSha256, b"secret").unwrap();
            assert_eq!(key.decrypt(E::RsaesOaepSha256, &ct).unwrap().expose(), b"secret");
        }
        // Wrong message type and digest length errors come through unchanged.
        assert!(key.sign(SigningAlgorithm::RsassaPkcs1V15Sha256, MessageType::Digest, b"short").is_err());
    }

    #[test]
    fn invalid_material_is_an_error_not_a_cached_value() {
        let key = PrivateKey::new(KeySpec::EccNistP256, SecretBytes::from_slice(b"not a key"));
        for _ in 0..2 {
            assert!(key.sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m").is_err());
        }
    }
}
