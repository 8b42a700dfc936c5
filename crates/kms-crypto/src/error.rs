//! The crate's one error type. Each variant is a kind the service maps to
//! one AWS exception; none of them carries key material, plaintext or
//! signatures. An invalid signature or MAC is not an error: `verify` and
//! `verify_mac` return `Ok(false)`.

use crate::spec::{KeySpec, MessageType, SigningAlgorithm};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in kinds the service can map to AWS exceptions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The algorithm does not belong to the key spec (AWS:
    /// `InvalidKeyUsageException`, "Algorithm X is incompatible with key spec Y.").
    #[error("algorithm {algorithm} is incompatible with key spec {spec}")]
    UnsupportedAlgorithm {
        /// The key's spec.
        spec: KeySpec,
        /// The AWS name of the requested algorithm.
        algorithm: &'static str,
    },

    /// The operation does not exist for the key spec at all (for example
    /// `encrypt` with an ECC key, `mac` with an RSA key).
    #[error("operation not supported for key spec {spec}")]
    UnsupportedOperation {
        /// The key's spec.
        spec: KeySpec,
    },

    /// The message type cannot be used with the signing algorithm (AWS
    /// documents `ED25519_SHA_512` as RAW-only, `ED25519_PH_SHA_512` as
    /// DIGEST-only, `EXTERNAL_MU` as ML-DSA-only).
    #[error("message type {message_type} cannot be used with {algorithm}")]
    UnsupportedMessageType {
        /// The requested algorithm.
        algorithm: SigningAlgorithm,
        /// The requested message type.
        message_type: MessageType,
    },

    /// A `DIGEST` (or `EXTERNAL_MU`) message whose length is not the
    /// algorithm's digest length (AWS: `ValidationException`, "Digest is
    /// invalid length for algorithm X.").
    #[error("digest is invalid length for algorithm {algorithm}: expected {expected} bytes, got {actual}")]
    InvalidDigestLength {
        /// The requested algorithm.
        algorithm: SigningAlgorithm,
        /// The required length.
        expected: usize,
        /// The length given.
        actual: usize,
    },

    /// The plaintext is longer than the spec and algorithm allow
    /// ([`crate::max_plaintext_len`]).
    #[error("plaintext is {actual} bytes, the limit is {max}")]
    PlaintextTooLong {
        /// The limit.
        max: usize,
        /// The length given.
        actual: usize,
    },

    /// A public key that is not a DER SubjectPublicKeyInfo of the spec's key
    /// type and curve or size (for `derive_shared_secret`, the caller's
    /// `PublicKey`: AWS `ValidationException`).
    #[error("public key is malformed or does not match key spec {spec}")]
    MalformedPublicKey {
        /// The spec the key should have.
        spec: KeySpec,
    },

    /// Ciphertext that cannot be a ciphertext of this key and algorithm (wrong
    /// length, not DER). AWS: `InvalidCiphertextException`.
    #[error("ciphertext is malformed")]
    MalformedCiphertext,

    /// Decryption failed (padding or integrity check). AWS:
    /// `InvalidCiphertextException`. Deliberately carries no detail.
    #[error("ciphertext could not be decrypted")]
    DecryptionFailed,

    /// Stored private key material that does not parse as the spec's key
    /// (a corrupted or mislabelled record): an internal error.
    #[error("private key material is invalid for key spec {spec}")]
    InvalidKeyMaterial {
        /// The spec the key should have.
        spec: KeySpec,
    },

    /// The cryptographic library failed (random source, key generation,
    /// signing): an internal error.
    #[error("internal cryptographic failure: {0}")]
    Internal(&'static str),
}
