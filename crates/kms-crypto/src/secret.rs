//! Secret byte strings and generated key pairs.

use std::fmt;

use zeroize::Zeroizing;

/// Secret bytes (private keys, HMAC keys, plaintext, shared secrets):
/// zeroized on drop, redacted in `Debug`, compared in constant time, no
/// `Display` or `Serialize`.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl PartialEq for SecretBytes {
    /// Constant time in the contents (the lengths are not secret).
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl Eq for SecretBytes {}

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes::new(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, writable (to fill a buffer in place).
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted {} bytes>)", self.0.len())
    }
}

/// A freshly generated key.
#[derive(Debug)]
pub struct KeyPair {
    /// Asymmetric specs: the private key as DER PKCS#8 `PrivateKeyInfo`
    /// (version 0, RFC 5208; for ML-DSA the 32-byte seed form of the IETF
    /// LAMPS ML-DSA key format, for ML-KEM the 64-byte seed form of the
    /// LAMPS ML-KEM key format, both of which OpenSSL 3.5 reads). HMAC
    /// specs: the raw key (28, 32, 48 or 64 bytes).
    pub private_key: SecretBytes,
    /// Asymmetric specs: the public key as DER SubjectPublicKeyInfo (what
    /// `GetPublicKey` returns). HMAC specs: `None`.
    pub public_key: Option<Vec<u8>>,
}
