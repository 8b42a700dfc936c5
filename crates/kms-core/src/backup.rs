//! The backup file (docs/BACKUP.md): a [`Snapshot`] of the store, its
//! records as stored (key material and secrets sealed under the root key),
//! with a SHA-256 digest that shows damage and the digest sealed under the
//! root key, which shows that the file was made under the root key it is
//! restored with (and that nobody who lacks the root key made or changed
//! it).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::crypto::{hex, sha256, RootKey};
use crate::error::{Error, Result};
use crate::types::Snapshot;

pub const FORMAT: &str = "kms-backup";
pub const VERSION: u32 = 1;
/// What the sealed digest is bound to.
const BINDING: &str = "backup/v1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupFile {
    pub format: String,
    pub version: u32,
    /// When the snapshot was taken (RFC 3339).
    pub created: String,
    /// Keys, grants, aliases, users, roles and access keys in it.
    pub records: usize,
    /// The snapshot's JSON, base64.
    pub snapshot: String,
    /// SHA-256 of the snapshot's JSON, hex.
    pub sha256: String,
    /// The digest sealed under the root key, base64.
    pub seal: String,
}

impl BackupFile {
    pub fn make(snapshot: &Snapshot, root: &RootKey, now_ms: i64) -> Result<BackupFile> {
        let json = serde_json::to_vec(snapshot).map_err(Error::internal)?;
        let digest = sha256(&json);
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(BackupFile {
            format: FORMAT.into(),
            version: VERSION,
            created: crate::time::rfc3339(now_ms),
            records: snapshot.records(),
            snapshot: b64.encode(&json),
            sha256: hex(&digest),
            seal: b64.encode(root.seal(BINDING, &digest)?),
        })
    }

    /// Check a backup file's bytes and return its snapshot: refused (with
    /// the reason) when it is not a backup, of a newer format, damaged, or
    /// made under another root key.
    pub fn open(bytes: &[u8], root: &RootKey) -> std::result::Result<Snapshot, String> {
        let f: BackupFile = serde_json::from_slice(bytes).map_err(|e| format!("not a kms backup file: {e}"))?;
        if f.format != FORMAT {
            return Err(format!("not a kms backup file (format '{}')", f.format));
        }
        if f.version > VERSION {
            return Err(format!("backup format version {} is newer than this build's {VERSION}", f.version));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let damaged = |what: &str| format!("the backup file is damaged ({what}); refusing it");
        let json = b64.decode(f.snapshot.as_bytes()).map_err(|_| damaged("its snapshot is not base64"))?;
        let digest = sha256(&json);
        if hex(&digest) != f.sha256 {
            return Err(damaged("its digest does not match its contents"));
        }
        let sealed = b64.decode(f.seal.as_bytes()).map_err(|_| damaged("its seal is not base64"))?;
        let opened = root.open(BINDING, &sealed).map_err(|_| {
            "the backup file was made under another root key than this one (or its seal is damaged); refusing it"
                .to_string()
        })?;
        if opened.expose() != digest {
            return Err(damaged("its seal is of other contents"));
        }
        let s: Snapshot = serde_json::from_slice(&json).map_err(|e| damaged(&e.to_string()))?;
        if s.records() != f.records {
            return Err(damaged("its record count does not match"));
        }
        Ok(s)
    }
}
