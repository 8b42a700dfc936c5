//! The audit trail.
//!
//! * [`AuditLog`] appends one CloudTrail-format event per request to log
//!   files under an audit directory. A dedicated writer thread batches the
//!   events that arrive together, writes them, fsyncs once, and only then
//!   releases every waiting request (group commit): no request is answered
//!   before its event is durable.
//! * Every line carries the hash of the previous line and its own hash
//!   (`sha256(prev || event)`), so a change, deletion, insertion or
//!   reordering breaks the chain ([`format`]).
//! * Signed digests (ECDSA P-256) cover each log file at intervals and at
//!   rotation: the file's SHA-256, size, record count and last hash, chained
//!   to the previous digest's signature, like CloudTrail's digest files.
//! * [`verify::verify_dir`] checks a directory offline; [`query`] filters
//!   events; [`export`] writes CloudTrail log files (`{"Records": [...]}`,
//!   gzip).

pub mod export;
pub mod format;
pub mod query;
pub mod verify;
mod writer;

pub use writer::{AuditConfig, AuditLog, AuditStats};
