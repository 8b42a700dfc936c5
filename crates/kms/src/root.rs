//! The root key that seals every record, and how it is protected
//! (docs/ROOT-KEY.md): `KMS_ROOT_KEY`, a file (`root.key`, or
//! `root_key_file`), or wrapped ([`Wrapper`]) by a key of another
//! AWS-KMS-compatible service (`[root_key.kms]`, `root.key.kms`: that
//! service's Decrypt once at start, like Vault's awskms seal) or by a key
//! in a PKCS#11 token (`[root_key.pkcs11]`, `root.key.pkcs11`). `kms admin
//! rewrap-root` moves a data directory from one protection to another; the
//! records do not change, since the root key itself stays the same.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use kms_core::crypto::RootKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::{self, Client};
use crate::config::{Config, RootKms, ROOT_KEY_ENV};
use kms_hsm::TokenConfig;

pub const ROOT_KEY_FILE: &str = "root.key";
/// The root key wrapped by another KMS.
pub const WRAPPED_ROOT_KEY_FILE: &str = "root.key.kms";
/// The root key wrapped by a key in a PKCS#11 token.
pub const TOKEN_ROOT_KEY_FILE: &str = "root.key.pkcs11";

/// What wraps the root key.
#[derive(Debug, Clone)]
pub enum Wrapper {
    Kms(RootKms),
    Pkcs11(TokenConfig),
}

/// `root.key.pkcs11`: the token, its key, and the ciphertext.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TokenWrapped {
    module: PathBuf,
    token_label: String,
    key_label: String,
    iv: String,
    ciphertext: String,
}

impl Wrapper {
    /// The data directory's file of the wrapped root key.
    pub fn file_name(&self) -> &'static str {
        match self {
            Wrapper::Kms(_) => WRAPPED_ROOT_KEY_FILE,
            Wrapper::Pkcs11(_) => TOKEN_ROOT_KEY_FILE,
        }
    }

    /// Its configuration table.
    pub fn section(&self) -> &'static str {
        match self {
            Wrapper::Kms(_) => "[root_key.kms]",
            Wrapper::Pkcs11(_) => "[root_key.pkcs11]",
        }
    }

    fn describe(&self) -> String {
        match self {
            Wrapper::Kms(k) => format!("{} key {}", k.endpoint, k.key_id),
            Wrapper::Pkcs11(t) => format!("PKCS#11 token '{}' key '{}'", t.token_label, t.key_label),
        }
    }

    /// The wrapped form of `encoded` (the root key's base64 form).
    async fn wrap(&self, encoded: &str) -> Result<Vec<u8>, String> {
        match self {
            Wrapper::Kms(k) => wrap(k, encoded).await,
            Wrapper::Pkcs11(t) => {
                let (token, plain) = (t.clone(), Zeroizing::new(encoded.as_bytes().to_vec()));
                let (iv, ciphertext) = tokio::task::spawn_blocking(move || kms_hsm::wrap(&token, &plain))
                    .await
                    .map_err(|e| e.to_string())??;
                let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                let w = TokenWrapped {
                    module: t.module.clone(),
                    token_label: t.token_label.clone(),
                    key_label: t.key_label.clone(),
                    iv: b64(&iv),
                    ciphertext: b64(&ciphertext),
                };
                serde_json::to_vec_pretty(&w).map_err(|e| e.to_string())
            }
        }
    }

    /// The root key's encoded form from the wrapped file at `path`.
    async fn unwrap(&self, path: &Path) -> Result<Zeroizing<String>, String> {
        let failed = |e: String| {
            format!("cannot unwrap the root key ({}) with {}: {e}; refusing to start", path.display(), self.describe())
        };
        match self {
            Wrapper::Kms(k) => unwrap(path, k).await.map_err(failed),
            Wrapper::Pkcs11(t) => {
                let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let w: TokenWrapped = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                let d =
                    |s: &str| base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| failed(e.to_string()));
                let (iv, ciphertext, t) = (d(&w.iv)?, d(&w.ciphertext)?, t.clone());
                let plain = tokio::task::spawn_blocking(move || kms_hsm::unwrap(&t, &iv, &ciphertext))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(failed)?;
                let encoded = std::str::from_utf8(&plain).map_err(|e| failed(e.to_string()))?;
                RootKey::from_encoded(encoded).map_err(failed)?;
                Ok(Zeroizing::new(encoded.to_string()))
            }
        }
    }

    /// The wrapper a wrapped file records (for `rewrap-root` without
    /// `--from-config`): the other KMS's endpoint and key with the AWS
    /// default credentials, or the token with the PIN of `KMS_PKCS11_PIN`.
    fn recorded(path: &Path) -> Result<Wrapper, String> {
        let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if path.file_name().is_some_and(|n| n == TOKEN_ROOT_KEY_FILE) {
            let w: TokenWrapped = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let pin = std::env::var(crate::config::PKCS11_PIN_ENV).map_err(|_| {
                format!("give the token's PIN in {} (or use --from-config)", crate::config::PKCS11_PIN_ENV)
            })?;
            return Ok(Wrapper::Pkcs11(TokenConfig {
                module: w.module,
                token_label: w.token_label,
                key_label: w.key_label,
                pin: std::sync::Arc::new(kms_core::crypto::SecretString::new(pin)),
            }));
        }
        let w: Wrapped = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Wrapper::Kms(RootKms {
            endpoint: w.endpoint,
            region: w.region,
            key_id: w.key_id,
            ca_file: None,
            credentials_file: None,
            profile: None,
        }))
    }
}
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

/// Unwrap `root.key.kms` with the other KMS: the root key's encoded form.
async fn unwrap(path: &Path, k: &RootKms) -> Result<Zeroizing<String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let w: Wrapped = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let c = kms_client(k)?;
    let body =
        serde_json::json!({"KeyId": w.key_id, "CiphertextBlob": w.ciphertext_blob, "EncryptionContext": context()});
    let reply = call(&c, "Decrypt", body).await?;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        plaintext: String,
    }
    let out: Out = serde_json::from_slice(&reply).map_err(|e| e.to_string())?;
    let out = Zeroizing::new(out.plaintext);
    let encoded =
        Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(out.as_bytes()).map_err(|e| e.to_string())?);
    let encoded = std::str::from_utf8(&encoded).map_err(|e| e.to_string())?;
    RootKey::from_encoded(encoded)?;
    Ok(Zeroizing::new(encoded.to_string()))
}

/// The wrapped root key files a data directory may hold.
const WRAPPED_FILES: [&str; 2] = [WRAPPED_ROOT_KEY_FILE, TOKEN_ROOT_KEY_FILE];

/// Find the root key of `data_dir` (`fresh`: a new data directory, whose
/// root key this start makes): `KMS_ROOT_KEY`; else the wrapped file of
/// the configured [`Wrapper`]; else the root key file (`root_key_file`, or
/// `<data_dir>/root.key`).
pub async fn load(cfg: &Config, data_dir: &Path, fresh: bool) -> Result<RootKey, String> {
    load_from(cfg.root_key_file.as_deref(), cfg.root_wrapper.as_ref(), data_dir, fresh).await
}

/// [`load`] with the two settings it reads given directly (the XKS proxy's
/// data directory keeps its root key the same way as the server's).
pub async fn load_from(
    root_key_file: Option<&Path>,
    root_wrapper: Option<&Wrapper>,
    data_dir: &Path,
    fresh: bool,
) -> Result<RootKey, String> {
    if let Ok(v) = std::env::var(ROOT_KEY_ENV) {
        return RootKey::from_encoded(&v).map_err(|e| format!("{ROOT_KEY_ENV}: {e}"));
    }
    let (path, configured) = match root_key_file {
        Some(p) => (p.to_path_buf(), true),
        None => (data_dir.join(ROOT_KEY_FILE), false),
    };
    let present = WRAPPED_FILES.iter().map(|f| data_dir.join(f)).find(|p| p.exists());
    if let Some(w) = root_wrapper {
        let wrapped = data_dir.join(w.file_name());
        if wrapped.exists() {
            return RootKey::from_encoded(&w.unwrap(&wrapped).await?);
        }
        if fresh {
            let encoded = RootKey::generate_encoded().map_err(|e| e.to_string())?;
            let bytes =
                w.wrap(&encoded).await.map_err(|e| format!("cannot wrap a new root key with {}: {e}", w.describe()))?;
            write_private(&wrapped, &bytes).map_err(|e| format!("cannot create {}: {e}", wrapped.display()))?;
            tracing::info!(path = %wrapped.display(), by = %w.describe(), "created a new root key, wrapped");
            return RootKey::from_encoded(&encoded);
        }
        let now = present.clone().or_else(|| path.exists().then(|| path.clone()));
        return Err(format!(
            "{} is set but {} is missing{}; refusing to start",
            w.section(),
            wrapped.display(),
            match now {
                Some(p) => format!(
                    ": the root key is in {}; move it with `kms admin rewrap-root --data-dir {}`",
                    p.display(),
                    data_dir.display()
                ),
                None => String::new(),
            }
        ));
    }
    if let Some(p) = present.filter(|_| !path.exists()) {
        return Err(format!(
            "the root key is wrapped ({}); set [root_key.kms] or [root_key.pkcs11] to unwrap it, or move it to a file with `kms admin rewrap-root --data-dir {} --to-file`",
            p.display(),
            data_dir.display()
        ));
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
/// (the file, or a wrapped file, unwrapped with `from`, else with what the
/// file records). The new form is written (and synced) before the old one
/// is removed; the records are not touched. Run it with the server stopped.
pub async fn rewrap(data_dir: &Path, from: Option<&Wrapper>, to: Option<&Wrapper>) -> Result<PathBuf, String> {
    let file = data_dir.join(ROOT_KEY_FILE);
    let mut held: Vec<PathBuf> =
        std::iter::once(ROOT_KEY_FILE).chain(WRAPPED_FILES).map(|f| data_dir.join(f)).filter(|p| p.exists()).collect();
    let old = match held.len() {
        0 => return Err(format!("{} holds no root key", data_dir.display())),
        1 => held.remove(0),
        _ => {
            let names: Vec<String> = held.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "{} all exist; remove the ones that are not this data directory's root key",
                names.join(", ")
            ));
        }
    };
    let encoded = if old == file {
        Zeroizing::new(
            std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                .trim()
                .to_string(),
        )
    } else {
        let w = match from {
            Some(w) if data_dir.join(w.file_name()) == old => w.clone(),
            Some(w) => return Err(format!("the root key is in {}, not where {} wraps it", old.display(), w.section())),
            None => Wrapper::recorded(&old)?,
        };
        w.unwrap(&old).await?
    };
    RootKey::from_encoded(&encoded)?;
    let new = match to {
        Some(w) => data_dir.join(w.file_name()),
        None => file.clone(),
    };
    let bytes = match to {
        Some(w) => w.wrap(&encoded).await?,
        None if new == old => return Err(format!("the root key is already in {}", old.display())),
        None => format!("{}\n", encoded.as_str()).into_bytes(),
    };
    let bytes = Zeroizing::new(bytes);
    // Beside it first (the old form stays until the new one is complete):
    // a move from one KMS to another replaces the file in place.
    let tmp = new.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &new).map_err(|e| format!("cannot write {}: {e}", new.display()))?;
    if new != old {
        std::fs::remove_file(&old).map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
    }
    Ok(new)
}
