//! The proxy side of AWS's External Key Store (XKS) proxy API
//! (`aws/aws-kms-xksproxy-api-spec`, docs/XKS.md): `kms xks-proxy`.
//!
//! * [`config`]: the proxy's TOML file, validated into [`config::ProxyConfig`].
//! * [`error`]: the spec's errors (`{"errorName", "errorMessage"}` and status),
//!   one exhaustive mapping.
//! * [`wire`]: the four operations' request and response bodies, and their
//!   validation.
//! * [`client`]: the KMS side: kms-core's `XksProxy` port over HTTPS.
//! * [`keys`]: the proxy's own AES-256 keys, sealed under the root key in
//!   `<data_dir>/xks-keys.json`, with their status (the kill switch).
//! * [`proxy`]: the listener (HTTPS, or plain HTTP only with
//!   `insecure_http`), routing, SigV4, policy, the operations and the audit
//!   trail.

pub mod client;
pub mod config;
pub mod error;
pub mod keys;
pub mod proxy;
pub mod wire;
