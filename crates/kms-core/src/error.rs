//! The one domain error enum. Every failure a client can observe is one of
//! these variants; `kms-api` maps each to its AWS exception in exactly one
//! exhaustive `match` (see `kms_api::error`).

/// A domain error. Messages are AWS's message texts and must never carry
/// plaintext, key material, secrets or signatures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- protocol ----
    #[error("unknown operation")]
    UnknownOperation,
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    Validation(String),
    #[error("request body larger than {0} bytes")]
    RequestTooLarge(usize),

    // ---- authentication ----
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    AccessDenied(String),

    // ---- KMS ----
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    /// AWS answers a bad ciphertext with no message at all.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    #[error("{0}")]
    IncorrectKey(String),
    /// `Verify` with a signature that does not verify (AWS: no message).
    #[error("invalid signature")]
    KmsInvalidSignature,
    /// `VerifyMac` with a MAC that does not verify (AWS: no message).
    #[error("invalid MAC")]
    KmsInvalidMac,
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    InvalidMarker(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRunOperation,
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    #[error("{0}")]
    CustomKeyStoreNameInUse(String),
    #[error("{0}")]
    CustomKeyStoreInvalidState(String),
    #[error("{0}")]
    CustomKeyStoreHasCmks(String),
    #[error("{0}")]
    CloudHsmClusterNotFound(String),
    #[error("{0}")]
    CloudHsmClusterInUse(String),
    #[error("{0}")]
    CloudHsmClusterNotActive(String),
    #[error("{0}")]
    CloudHsmClusterNotRelated(String),
    #[error("{0}")]
    IncorrectTrustAnchor(String),
    #[error("{0}")]
    XksKeyAlreadyInUse(String),
    #[error("{0}")]
    XksKeyInvalidConfiguration(String),
    #[error("{0}")]
    XksKeyNotFound(String),
    #[error("{0}")]
    XksProxyIncorrectAuthenticationCredential(String),
    #[error("{0}")]
    XksProxyInvalidConfiguration(String),
    #[error("{0}")]
    XksProxyInvalidResponse(String),
    #[error("{0}")]
    XksProxyUriInUse(String),
    #[error("{0}")]
    XksProxyUriEndpointInUse(String),
    #[error("{0}")]
    XksProxyUriUnreachable(String),
    #[error("{0}")]
    XksProxyVpcEndpointServiceInUse(String),
    #[error("{0}")]
    XksProxyVpcEndpointServiceNotFound(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    InvalidGrantToken(String),
    #[error("{0}")]
    InvalidGrantId(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    #[error("{0}")]
    InvalidImportToken(String),

    /// An injected fault (`crate::faults`) or a dependency that did not answer in time.
    #[error("{0}")]
    DependencyTimeout(String),
    /// An injected fault (`crate::faults`): the key's material is not reachable.
    #[error("{0}")]
    KeyUnavailable(String),
    /// Over a request quota (`crate::quota`), or the server is full.
    #[error("{}", crate::quota::THROTTLED)]
    Throttling,

    // ---- faults ----
    /// Another server (a replication peer) cannot be reached or refused
    /// the call; the text names it (no secrets).
    #[error("{0}")]
    PeerUnavailable(String),
    /// A key record changed by another server between the read and the
    /// write of a read-modify-write (the store's compare on its revision).
    /// Retried by the service; a client that still sees it retries (500).
    #[error("{0}")]
    StaleRecord(String),
    /// An internal fault. The text goes to the log (under the request id),
    /// never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
