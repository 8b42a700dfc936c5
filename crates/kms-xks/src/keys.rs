//! The proxy's own keys: AES-256, each sealed under the root key (bound to
//! its id) in `<data_dir>/xks-keys.json`, with its status. `kms xks-proxy
//! keys ...` changes the file (written whole to a temporary file, synced,
//! then renamed over, under a lock file); the running proxy notices the
//! change on its next call (the file's inode, size and mtime), so disabling
//! a key (the kill switch) takes effect within one call, without a restart.
//!
//! A key may instead live in a PKCS#11 token (the proxy's `[pkcs11]`):
//! its record then holds no material, only `in_token`, and the token's
//! AES-256 key labelled with the key's id does the AES-GCM; its status is
//! kept here all the same.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::Engine as _;
use kms_core::crypto::{fill_random, KeyMaterial, RootKey, SecretBytes};
use kms_core::ports::HsmConnection;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Result, XksError};

pub const KEYS_FILE: &str = "xks-keys.json";
const LOCK_FILE: &str = "xks-keys.json.lock";
const VERSION: u32 = 1;

/// The spec's `keyStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "DISABLED")]
    Disabled,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Enabled => "ENABLED",
            KeyStatus::Disabled => "DISABLED",
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: String,
    status: KeyStatus,
    /// Epoch seconds.
    created: i64,
    /// The key, sealed under the root key with binding `xks-key/<id>`,
    /// base64; empty for a key in the token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    material: String,
    /// The key is in the PKCS#11 token, labelled with its id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    in_token: bool,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u32,
    keys: Vec<Record>,
}

/// What `keys list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub status: KeyStatus,
    pub created: i64,
    pub in_token: bool,
}

/// An opened key, ready for AES-GCM.
pub struct OpenKey {
    pub id: String,
    pub status: KeyStatus,
    /// `None`: the key is in the token.
    aes: Option<LessSafeKey>,
}

impl std::fmt::Debug for OpenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenKey").field("id", &self.id).field("status", &self.status).finish_non_exhaustive()
    }
}

pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

impl OpenKey {
    /// AES-256-GCM under a fresh random 96-bit IV: (iv, ciphertext, tag).
    /// Whether the key is in the PKCS#11 token (its calls block).
    pub fn in_token(&self) -> bool {
        self.aes.is_none()
    }

    pub fn encrypt(
        &self,
        token: Option<&dyn HsmConnection>,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<([u8; IV_LEN], Vec<u8>, [u8; TAG_LEN])> {
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut iv).map_err(|e| XksError::Internal(e.to_string()))?;
        let Some(aes) = &self.aes else {
            let t = token.ok_or_else(no_token)?;
            let mut out = t.encrypt(&self.id, &iv, aad, plaintext).map_err(token_error)?;
            if out.len() < TAG_LEN {
                return Err(XksError::Internal("the token's AES-GCM answer is too short".into()));
            }
            let tag_bytes = out.split_off(out.len() - TAG_LEN);
            let mut tag = [0u8; TAG_LEN];
            tag.copy_from_slice(&tag_bytes);
            return Ok((iv, out, tag));
        };
        let mut buf = plaintext.to_vec();
        let tag = aes
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
            .map_err(|_| XksError::Internal("AES-GCM seal failed".into()))?;
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        Ok((iv, buf, t))
    }

    /// The inverse; `InvalidCiphertextException` when it does not
    /// authenticate. This proxy makes 96-bit IVs only, so a 128-bit IV
    /// cannot be one of its ciphertexts.
    pub fn decrypt(
        &self,
        token: Option<&dyn HsmConnection>,
        aad: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<SecretBytes> {
        let invalid = || {
            XksError::InvalidCiphertext(
                "The ciphertext, initialization vector, additional authenticated data or authentication tag is invalid"
                    .into(),
            )
        };
        let Some(aes) = &self.aes else {
            let t = token.ok_or_else(no_token)?;
            if iv.len() != IV_LEN {
                return Err(invalid());
            }
            let mut sealed = Vec::with_capacity(ciphertext.len() + tag.len());
            sealed.extend_from_slice(ciphertext);
            sealed.extend_from_slice(tag);
            return t.decrypt(&self.id, iv, aad, &sealed).map_err(|e| match e {
                kms_core::error::Error::InvalidCiphertext => invalid(),
                e => token_error(e),
            });
        };
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| invalid())?;
        let mut buf = Zeroizing::new(Vec::with_capacity(ciphertext.len() + tag.len()));
        buf.extend_from_slice(ciphertext);
        buf.extend_from_slice(tag);
        let n = aes.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| invalid())?.len();
        buf.truncate(n);
        Ok(SecretBytes::new(std::mem::take(&mut *buf)))
    }
}

/// Log in to the proxy's token.
pub fn open_token(p: &crate::config::Pkcs11Config) -> std::result::Result<Arc<dyn HsmConnection>, String> {
    use kms_core::ports::Hsm as _;
    const ID: &str = "xks-proxy";
    let clusters = kms_hsm::Pkcs11Clusters::new(vec![kms_hsm::ClusterConfig {
        id: ID.into(),
        module: p.module.clone(),
        token_label: p.token_label.clone(),
        trust_anchor: None,
    }]);
    clusters.check(ID)?;
    clusters.connect(ID, &p.pin).map_err(|e| format!("PKCS#11 token {}: {} ({})", p.token_label, e.message, e.code))
}

fn no_token() -> XksError {
    XksError::Internal("the key is in a PKCS#11 token, but the proxy has no [pkcs11] configured".into())
}

/// A token that fails: the backing key manager failed (500).
fn token_error(e: kms_core::error::Error) -> XksError {
    XksError::Internal(format!("PKCS#11 token: {e}"))
}

/// The file's identity, to notice a change.
type Stamp = (u64, u64, std::time::SystemTime);

fn stamp(path: &Path) -> std::io::Result<Option<Stamp>> {
    match std::fs::metadata(path) {
        Ok(m) => {
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let ino = 0;
            Ok(Some((ino, m.len(), m.modified()?)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

struct Cache {
    stamp: Option<Stamp>,
    keys: HashMap<String, Arc<OpenKey>>,
}

/// The sealed key store of one data directory.
pub struct KeyStore {
    path: PathBuf,
    dir: PathBuf,
    root: Arc<RootKey>,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn binding(id: &str) -> String {
    format!("xks-key/{id}")
}

impl KeyStore {
    /// Open the store of `dir` (an absent file is an empty store); every
    /// key must open under `root`.
    pub fn open(dir: &Path, root: Arc<RootKey>) -> std::result::Result<KeyStore, String> {
        let s = KeyStore {
            path: dir.join(KEYS_FILE),
            dir: dir.to_path_buf(),
            root,
            cache: RwLock::new(Cache { stamp: None, keys: HashMap::new() }),
        };
        s.reload()?;
        Ok(s)
    }

    /// Whether `dir` holds a key store already.
    pub fn exists(dir: &Path) -> bool {
        dir.join(KEYS_FILE).exists()
    }

    fn read(&self) -> std::result::Result<StoreFile, String> {
        match std::fs::read(&self.path) {
            Ok(b) => {
                let f: StoreFile = serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", self.path.display()))?;
                if f.version != VERSION {
                    return Err(format!("{}: unknown version {}", self.path.display(), f.version));
                }
                Ok(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile { version: VERSION, keys: vec![] }),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    fn open_record(&self, r: &Record) -> std::result::Result<OpenKey, String> {
        if r.in_token {
            return Ok(OpenKey { id: r.id.clone(), status: r.status, aes: None });
        }
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&r.material)
            .map_err(|_| format!("key {}: its sealed material is not base64", r.id))?;
        let raw = self.root.open(&binding(&r.id), &sealed).map_err(|_| {
            format!("key {}: its material does not open under this root key (another data directory's?)", r.id)
        })?;
        let m = KeyMaterial::from_bytes(raw.expose()).map_err(|e| format!("key {}: {e}", r.id))?;
        let aes = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, m.expose()).map_err(|_| format!("key {}: bad key length", r.id))?,
        );
        Ok(OpenKey { id: r.id.clone(), status: r.status, aes: Some(aes) })
    }

    /// Read the file again if it changed since the last read.
    fn reload(&self) -> std::result::Result<(), String> {
        let now = stamp(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        if let Ok(c) = self.cache.read() {
            if c.stamp == now && (now.is_some() || c.keys.is_empty()) {
                return Ok(());
            }
        }
        let f = self.read()?;
        let mut keys = HashMap::new();
        for r in &f.keys {
            keys.insert(r.id.clone(), Arc::new(self.open_record(r)?));
        }
        let mut c = self.cache.write().map_err(|_| "key cache poisoned".to_string())?;
        *c = Cache { stamp: now, keys };
        Ok(())
    }

    /// The key named `id`, as the file says now.
    pub fn get(&self, id: &str) -> Result<Option<Arc<OpenKey>>> {
        self.reload().map_err(XksError::Internal)?;
        let c = self.cache.read().map_err(|_| XksError::Internal("key cache poisoned".into()))?;
        Ok(c.keys.get(id).cloned())
    }

    /// A deep check for GetHealthStatus: the file reads, every key opens,
    /// and the root key seals and opens.
    pub fn check(&self) -> std::result::Result<(), String> {
        self.reload()?;
        let sealed = self.root.seal("xks-health", b"check").map_err(|e| e.to_string())?;
        self.root.open("xks-health", &sealed).map(|_| ()).map_err(|e| e.to_string())
    }

    pub fn list(&self) -> std::result::Result<Vec<KeyInfo>, String> {
        Ok(self
            .read()?
            .keys
            .into_iter()
            .map(|r| KeyInfo { id: r.id, status: r.status, created: r.created, in_token: r.in_token })
            .collect())
    }

    /// Make a new key `id` (enabled): here, sealed, or (with `token`) in
    /// the PKCS#11 token.
    pub fn create(
        &self,
        id: &str,
        now: i64,
        token: Option<&dyn HsmConnection>,
    ) -> std::result::Result<KeyInfo, String> {
        if !crate::wire::valid_key_id(id) {
            return Err(format!("'{id}' is not a valid external key id: 1 to 128 of A-Z a-z 0-9 - . _"));
        }
        self.change(|f| {
            if f.keys.iter().any(|r| r.id == id) {
                return Err(format!("key {id} exists already"));
            }
            let material = match token {
                Some(t) => {
                    t.generate_key(id).map_err(|e| format!("PKCS#11 token: {e}"))?;
                    String::new()
                }
                None => {
                    let m = KeyMaterial::generate().map_err(|e| e.to_string())?;
                    let sealed = self.root.seal(&binding(id), m.expose()).map_err(|e| e.to_string())?;
                    base64::engine::general_purpose::STANDARD.encode(sealed)
                }
            };
            let r = Record {
                id: id.to_string(),
                status: KeyStatus::Enabled,
                created: now,
                material,
                in_token: token.is_some(),
            };
            let info = KeyInfo { id: r.id.clone(), status: r.status, created: r.created, in_token: r.in_token };
            f.keys.push(r);
            Ok(info)
        })
    }

    /// Enable or disable key `id`.
    pub fn set_status(&self, id: &str, status: KeyStatus) -> std::result::Result<KeyInfo, String> {
        self.change(|f| {
            let r = f.keys.iter_mut().find(|r| r.id == id).ok_or_else(|| format!("no key {id}"))?;
            r.status = status;
            Ok(KeyInfo { id: r.id.clone(), status: r.status, created: r.created, in_token: r.in_token })
        })
    }

    /// Read, change and write the file under the lock file.
    fn change<T>(
        &self,
        f: impl FnOnce(&mut StoreFile) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, String> {
        let lock = self.dir.join(LOCK_FILE);
        std::fs::OpenOptions::new().write(true).create_new(true).open(&lock).map_err(|e| {
            format!("cannot take the lock {}: {e} (another `keys` command running? remove it if not)", lock.display())
        })?;
        let result = (|| {
            let mut file = self.read()?;
            let out = f(&mut file)?;
            let bytes = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
            let tmp = self.dir.join(format!("{KEYS_FILE}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                let mut h = o.open(&tmp)?;
                h.write_all(&bytes)?;
                h.sync_all()?;
                std::fs::rename(&tmp, &self.path)?;
                if let Ok(d) = std::fs::File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            };
            write().map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
            Ok(out)
        })();
        let _ = std::fs::remove_file(&lock);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Arc<RootKey> {
        Arc::new(RootKey::from_encoded(&RootKey::generate_encoded().unwrap()).unwrap())
    }

    #[test]
    fn create_disable_and_round_trip() {
        let dir = std::env::temp_dir().join(format!("kms-xks-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let r = root();
        let s = KeyStore::open(&dir, r.clone()).unwrap();
        assert!(s.get("k1").unwrap().is_none());
        s.create("k1", 1, None).unwrap();
        assert!(s.create("k1", 1, None).is_err());
        assert!(s.create("bad/id", 1, None).is_err());
        let k = s.get("k1").unwrap().unwrap();
        let (iv, ct, tag) = k.encrypt(None, b"aad", b"hello").unwrap();
        assert_eq!(k.decrypt(None, b"aad", &iv, &ct, &tag).unwrap().expose(), b"hello");
        assert!(matches!(k.decrypt(None, b"aaX", &iv, &ct, &tag), Err(XksError::InvalidCiphertext(_))));
        assert!(matches!(k.decrypt(None, b"aad", &[0u8; 16], &ct, &tag), Err(XksError::InvalidCiphertext(_))));
        // Another handle (the CLI) disables it; this one sees it on the next get.
        KeyStore::open(&dir, r.clone()).unwrap().set_status("k1", KeyStatus::Disabled).unwrap();
        assert_eq!(s.get("k1").unwrap().unwrap().status, KeyStatus::Disabled);
        // The material is not in the file in clear, and another root key opens nothing.
        assert!(KeyStore::open(&dir, root()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
