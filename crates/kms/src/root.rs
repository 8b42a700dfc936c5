//! The root key that seals every record, and how it is protected
//! (docs/ROOT-KEY.md): `KMS_ROOT_KEY`, a file (`root.key`, or
//! `root_key_file`), or wrapped by a key of another AWS-KMS-compatible
//! service (`[root_key.kms]`: `root.key.kms` holds the ciphertext, and the
//! server calls that service's Decrypt once at start, like Vault's awskms
//! seal). `kms admin rewrap-root` moves a data directory from one
//! protection to the other; the records do not change, since the root key
//! itself stays the same.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use kms_core::crypto::RootKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::{self, Client};
use crate::config::{Config, RootKms, ROOT_KEY_ENV};

pub const ROOT_KEY_FILE: &str = "root.key";
/// The root key wrapped by another KMS.
pub const WRAPPED_ROOT_KEY_FILE: &str = "root.key.kms";
/// The encryption context of the wrapped root key.
const CONTEXT_KEY: &str = "kms-root-key";
const CONTEXT_VALUE: &str = "v1";
/// How long the other KMS may take to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// `root.key.kms`: what wraps the root key, and the ciphertext.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wrapped {
    endpoint: String,
    region: String,
    key_id: String,
    ciphertext_blob: String,
}

#[cfg(unix)]
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(not(unix))]
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

fn kms_client(k: &RootKms) -> Result<Client, String> {
    let creds = match &k.credentials_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("root_key.kms.credentials_file {}: {e}", f.display()))?;
            let profile = k.profile.as_deref().unwrap_or("default");
            client::read_profile(&text, profile)
                .ok_or_else(|| format!("root_key.kms: profile '{profile}' not found in {}", f.display()))?
        }
        None => client::resolve_credentials(k.profile.as_deref()).map_err(|e| format!("root_key.kms: {e}"))?,
    };
    let tls = k.ca_file.as_deref().map(|f| client::tls_connector(f, "root_key.kms.ca_file")).transpose()?;
    Client::with_tls(&k.endpoint, &k.region, creds, tls)
}

/// One call to the other KMS; its answer, or why there is none.
async fn call(c: &Client, op: &str, body: serde_json::Value) -> Result<Zeroizing<Vec<u8>>, String> {
    let target = format!("TrentService.{op}");
    let reply = match tokio::time::timeout(CALL_TIMEOUT, c.call(&target, &body)).await {
        Ok(r) => r?,
        Err(_) => return Err(format!("{} did not answer within {CALL_TIMEOUT:?}", c.endpoint)),
    };
    if let Some((t, m)) = reply.error() {
        return Err(format!("{} answered {op} with {t}: {m}", c.endpoint));
    }
    Ok(Zeroizing::new(reply.body))
}

fn context() -> serde_json::Value {
    serde_json::json!({ CONTEXT_KEY: CONTEXT_VALUE })
}

/// Wrap `encoded` (the root key's base64 form) with the other KMS's key.
async fn wrap(k: &RootKms, encoded: &str) -> Result<Vec<u8>, String> {
    let c = kms_client(k)?;
    let plaintext = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(encoded.as_bytes()));
    let body = serde_json::json!({"KeyId": k.key_id, "Plaintext": plaintext.as_str(), "EncryptionContext": context()});
    let reply = call(&c, "Encrypt", body).await?;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        ciphertext_blob: String,
    }
    let out: Out = serde_json::from_slice(&reply).map_err(|e| format!("{}: Encrypt: {e}", c.endpoint))?;
    let w = Wrapped {
        endpoint: k.endpoint.clone(),
        region: k.region.clone(),
        key_id: k.key_id.clone(),
        ciphertext_blob: out.ciphertext_blob,
    };
    serde_json::to_vec_pretty(&w).map_err(|e| e.to_string())
}

/// Unwrap `root.key.kms` with the other KMS (`k`'s endpoint and
/// credentials, else the endpoint the file names and the AWS default
/// credentials): the root key's encoded form.
async fn unwrap(path: &Path, k: Option<&RootKms>) -> Result<Zeroizing<String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let w: Wrapped = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let recorded;
    let k = match k {
        Some(k) => k,
        None => {
            recorded = RootKms {
                endpoint: w.endpoint.clone(),
                region: w.region.clone(),
                key_id: w.key_id.clone(),
                ca_file: None,
                credentials_file: None,
                profile: None,
            };
            &recorded
        }
    };
    let c = kms_client(k)?;
    let body =
        serde_json::json!({"KeyId": w.key_id, "CiphertextBlob": w.ciphertext_blob, "EncryptionContext": context()});
    let failed = |e: String| {
        format!(
            "cannot unwrap the root key ({}) with {} key {}: {e}; refusing to start",
            path.display(),
            k.endpoint,
            w.key_id
        )
    };
    let reply = call(&c, "Decrypt", body).await.map_err(failed)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        plaintext: String,
    }
    let out: Out = serde_json::from_slice(&reply).map_err(|e| failed(e.to_string()))?;
    let out = Zeroizing::new(out.plaintext);
    let encoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD.decode(out.as_bytes()).map_err(|e| failed(e.to_string()))?,
    );
    let encoded = std::str::from_utf8(&encoded).map_err(|e| failed(e.to_string()))?;
    RootKey::from_encoded(encoded).map_err(failed)?;
    Ok(Zeroizing::new(encoded.to_string()))
}

/// Find the root key of `data_dir` (`fresh`: a new data directory, whose
/// root key this start makes): `KMS_ROOT_KEY`; else `root.key.kms` with
/// `[root_key.kms]`; else the root key file (`root_key_file`, or
/// `<data_dir>/root.key`).
pub async fn load(cfg: &Config, data_dir: &Path, fresh: bool) -> Result<RootKey, String> {
    if let Ok(v) = std::env::var(ROOT_KEY_ENV) {
        return RootKey::from_encoded(&v).map_err(|e| format!("{ROOT_KEY_ENV}: {e}"));
    }
    let wrapped = data_dir.join(WRAPPED_ROOT_KEY_FILE);
    let (path, configured) = match &cfg.root_key_file {
        Some(p) => (p.clone(), true),
        None => (data_dir.join(ROOT_KEY_FILE), false),
    };
    match (&cfg.root_kms, wrapped.exists()) {
        (Some(k), true) => return RootKey::from_encoded(&unwrap(&wrapped, Some(k)).await?),
        (Some(k), false) if fresh => {
            let encoded = RootKey::generate_encoded().map_err(|e| e.to_string())?;
            let w = wrap(k, &encoded).await.map_err(|e| format!("cannot wrap a new root key: {e}"))?;
            write_private(&wrapped, &w).map_err(|e| format!("cannot create {}: {e}", wrapped.display()))?;
            tracing::info!(path = %wrapped.display(), endpoint = %k.endpoint, key = %k.key_id, "created a new root key, wrapped by another KMS");
            return RootKey::from_encoded(&encoded);
        }
        (Some(_), false) => {
            return Err(format!(
                "[root_key.kms] is set but {} is missing{}; refusing to start",
                wrapped.display(),
                if path.exists() {
                    format!(": the root key is in {}; move it under the other KMS with `kms admin rewrap-root --data-dir {}`", path.display(), data_dir.display())
                } else {
                    String::new()
                }
            ))
        }
        (None, true) if !path.exists() => {
            return Err(format!(
                "the root key is wrapped by another KMS ({}); set [root_key.kms] to unwrap it, or move it to a file with `kms admin rewrap-root --data-dir {} --to-file`",
                wrapped.display(),
                data_dir.display()
            ))
        }
        (None, _) => {}
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => RootKey::from_encoded(&text).map_err(|e| format!("root key file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !configured && fresh => {
            let encoded = RootKey::generate_encoded().map_err(|e| e.to_string())?;
            write_private(&path, format!("{}\n", encoded.as_str()).as_bytes())
                .map_err(|e| format!("cannot create root key file {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new root key (mode 0600); back it up: without it the data directory cannot be read");
            RootKey::from_encoded(&encoded)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "root key file {} is missing{}; refusing to start. Restore the root key, or point root_key_file or {ROOT_KEY_ENV} at it",
            path.display(),
            if fresh { "" } else { " but the data directory holds data sealed under a root key" }
        )),
        Err(e) => Err(format!("cannot read root key file {}: {e}", path.display())),
    }
}

/// `kms admin rewrap-root`: move `data_dir`'s root key to the protection
/// `to` names (`None`: a file, `<data_dir>/root.key`), from the one it has
/// (the file, or `root.key.kms`, unwrapped with `from`'s settings or the
/// ones it records). The new form is written (and synced) before the old
/// one is removed; the records are not touched. Run it with the server
/// stopped.
pub async fn rewrap(data_dir: &Path, from: Option<&RootKms>, to: Option<&RootKms>) -> Result<PathBuf, String> {
    let file = data_dir.join(ROOT_KEY_FILE);
    let wrapped = data_dir.join(WRAPPED_ROOT_KEY_FILE);
    let encoded = match (wrapped.exists(), file.exists()) {
        (true, true) => {
            return Err(format!(
                "{} and {} both exist; remove the one that is not this data directory's root key",
                file.display(),
                wrapped.display()
            ))
        }
        (true, false) => unwrap(&wrapped, from).await?,
        (false, true) => Zeroizing::new(
            std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                .trim()
                .to_string(),
        ),
        (false, false) => {
            return Err(format!(
                "{} holds no root key ({ROOT_KEY_FILE} or {WRAPPED_ROOT_KEY_FILE})",
                data_dir.display()
            ))
        }
    };
    RootKey::from_encoded(&encoded)?;
    let (new, old) = match to {
        Some(k) => {
            let w = wrap(k, &encoded).await?;
            let tmp = data_dir.join(format!("{WRAPPED_ROOT_KEY_FILE}.new"));
            let _ = std::fs::remove_file(&tmp);
            write_private(&tmp, &w).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            // The old form may be the wrapped file itself (a move to another KMS).
            let old = if wrapped.exists() { None } else { Some(file.clone()) };
            std::fs::rename(&tmp, &wrapped).map_err(|e| format!("cannot write {}: {e}", wrapped.display()))?;
            (wrapped.clone(), old)
        }
        None => {
            if file.exists() {
                return Err(format!("the root key is already in {}", file.display()));
            }
            write_private(&file, format!("{}\n", encoded.as_str()).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            (file.clone(), Some(wrapped.clone()))
        }
    };
    if let Some(old) = old {
        std::fs::remove_file(&old).map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
    }
    Ok(new)
}
