//! The HSM clusters of `AWS_CLOUDHSM` custom key stores (`[[hsm_clusters]]`,
//! docs/HSM.md): each a PKCS#11 token, named by its module and label.
//!
//! One context per module for the life of the server. A connection is a
//! login as the token's user with the store's password (the user PIN) and
//! a small pool of sessions (after a login every session of the process is
//! logged in); a token is logged in by one store at a time. A key is an
//! AES-256 key made in the token, labelled with the KMS key id, sensitive
//! and never extractable; AES-GCM runs in the token.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use kms_core::crypto::{SecretBytes, SecretString};
use kms_core::model::ConnectionErrorCodeType as Code;
use kms_core::ports::{Hsm, HsmCluster, HsmConnectError, HsmConnection};
use kms_core::Error;

/// One `[[hsm_clusters]]` entry, validated.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `cluster-` and 11 to 16 of [2-7a-zA-Z] (AWS's `CloudHsmClusterId`).
    pub id: String,
    pub module: PathBuf,
    pub token_label: String,
    /// The PEM text of `trust_anchor_file`, when set.
    pub trust_anchor: Option<String>,
}

/// Sessions kept open per connection beyond the one in use.
const IDLE_SESSIONS: usize = 8;
const TAG_BITS: u64 = 128;

/// The configured clusters.
pub struct Pkcs11Clusters {
    clusters: Vec<ClusterConfig>,
    /// Loaded modules, by path (a module no connection uses is finalized
    /// and loaded afresh on next use, so that it sees the tokens as they
    /// are now: SoftHSM2 reads a token's PIN once per initialization).
    modules: Mutex<HashMap<PathBuf, Arc<Pkcs11>>>,
    /// Tokens logged in now (module path and label).
    logged_in: Arc<Mutex<HashSet<String>>>,
}

impl Pkcs11Clusters {
    pub fn new(clusters: Vec<ClusterConfig>) -> Self {
        Pkcs11Clusters {
            clusters,
            modules: Mutex::new(HashMap::new()),
            logged_in: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn config(&self, id: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.id == id)
    }

    fn module(&self, c: &ClusterConfig) -> Result<Arc<Pkcs11>, String> {
        let mut modules = self.modules.lock().map_err(|_| "PKCS#11 module lock poisoned".to_string())?;
        if let Some(m) = modules.get(&c.module) {
            if Arc::strong_count(m) > 1 {
                return Ok(m.clone());
            }
            // Unused: finalized before it is initialized again.
            drop(modules.remove(&c.module));
        }
        let m = Arc::new(crate::token::load(&c.module)?);
        modules.insert(c.module.clone(), m.clone());
        Ok(m)
    }

    fn find(&self, c: &ClusterConfig) -> Result<(Arc<Pkcs11>, Option<Slot>), String> {
        let ctx = self.module(c)?;
        let slot = crate::token::slot(&ctx, &c.token_label)?;
        Ok((ctx, slot))
    }
}

fn token_key(c: &ClusterConfig) -> String {
    format!("{}\u{0}{}", c.module.display(), c.token_label)
}

impl Hsm for Pkcs11Clusters {
    fn cluster(&self, cluster_id: &str) -> Option<HsmCluster> {
        self.config(cluster_id).map(|c| HsmCluster {
            id: c.id.clone(),
            trust_anchor: c.trust_anchor.clone(),
            token: token_key(c),
        })
    }

    fn check(&self, cluster_id: &str) -> Result<(), String> {
        let c = self.config(cluster_id).ok_or("not configured")?;
        match self.find(c)? {
            (_, Some(_)) => Ok(()),
            (_, None) => Err(format!("no PKCS#11 token labelled '{}' in {}", c.token_label, c.module.display())),
        }
    }

    fn connect(&self, cluster_id: &str, pin: &SecretString) -> Result<Arc<dyn HsmConnection>, HsmConnectError> {
        let fail = |code, message: String| HsmConnectError { code, message };
        let c = self.config(cluster_id).ok_or_else(|| fail(Code::ClusterNotFound, "not configured".into()))?;
        let (ctx, slot) = self.find(c).map_err(|e| fail(Code::InternalError, e))?;
        let slot = slot.ok_or_else(|| {
            fail(
                Code::ClusterNotFound,
                format!("no PKCS#11 token labelled '{}' in {}", c.token_label, c.module.display()),
            )
        })?;
        let key = token_key(c);
        {
            let mut logged_in = self.logged_in.lock().map_err(|_| fail(Code::InternalError, "lock poisoned".into()))?;
            if !logged_in.insert(key.clone()) {
                return Err(fail(
                    Code::UserLoggedIn,
                    format!("token '{}' is logged in by another custom key store", c.token_label),
                ));
            }
        }
        let release = || {
            if let Ok(mut l) = self.logged_in.lock() {
                l.remove(&key);
            }
        };
        let session = match ctx.open_rw_session(slot) {
            Ok(s) => s,
            Err(e) => {
                release();
                return Err(fail(Code::NetworkErrors, format!("C_OpenSession: {e}")));
            }
        };
        if let Err(e) = session.login(UserType::User, Some(&AuthPin::new(pin.expose().into()))) {
            release();
            let code = match &e {
                CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
                    Code::InvalidCredentials
                }
                CkError::Pkcs11(RvError::PinLocked, _) => Code::UserLockedOut,
                CkError::Pkcs11(RvError::UserPinNotInitialized, _) => Code::UserNotFound,
                CkError::Pkcs11(RvError::UserAlreadyLoggedIn | RvError::UserAnotherAlreadyLoggedIn, _) => {
                    Code::UserLoggedIn
                }
                CkError::Pkcs11(RvError::DeviceRemoved | RvError::TokenNotPresent, _) => Code::ClusterNotFound,
                _ => Code::InternalError,
            };
            return Err(fail(code, format!("C_Login: {e}")));
        }
        Ok(Arc::new(TokenConnection {
            ctx,
            slot,
            sessions: Mutex::new(vec![session]),
            handles: Mutex::new(HashMap::new()),
            logged_in: self.logged_in.clone(),
            token: key,
            closed: std::sync::atomic::AtomicBool::new(false),
        }))
    }
}

/// A logged-in token.
struct TokenConnection {
    ctx: Arc<Pkcs11>,
    slot: Slot,
    /// Idle sessions (the first one logged in).
    sessions: Mutex<Vec<Session>>,
    /// Key handles by label (valid for every session of the process).
    handles: Mutex<HashMap<String, ObjectHandle>>,
    logged_in: Arc<Mutex<HashSet<String>>>,
    token: String,
    closed: std::sync::atomic::AtomicBool,
}

/// A token failure as the service sees it: the key is not reachable now
/// (retryable), with the reason for the log.
fn unavailable(what: &str) -> impl Fn(CkError) -> Error + '_ {
    move |e| {
        tracing::warn!(error = %e, "PKCS#11 {what} failed");
        Error::KeyUnavailable(format!("The HSM did not complete {what}. You can retry the request."))
    }
}

impl TokenConnection {
    /// Run `f` with a session of the pool (a new one when all are busy).
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, Error>) -> Result<T, Error> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::KeyUnavailable("The custom key store is disconnected.".into()));
        }
        let idle = self.sessions.lock().map_err(|_| Error::internal("session pool poisoned"))?.pop();
        let session = match idle {
            Some(s) => s,
            None => self.ctx.open_rw_session(self.slot).map_err(unavailable("C_OpenSession"))?,
        };
        let out = f(&session);
        // A session the token dropped (removed, reset) is not kept.
        let broken = matches!(&out, Err(Error::KeyUnavailable(_)));
        if !broken {
            if let Ok(mut pool) = self.sessions.lock() {
                if pool.len() < IDLE_SESSIONS {
                    pool.push(session);
                }
            }
        }
        out
    }

    fn handle(&self, s: &Session, label: &str) -> Result<ObjectHandle, Error> {
        if let Some(h) = self.handles.lock().map_err(|_| Error::internal("handle cache poisoned"))?.get(label) {
            return Ok(*h);
        }
        let found = s
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(unavailable("C_FindObjects"))?;
        match found.as_slice() {
            [h] => {
                if let Ok(mut m) = self.handles.lock() {
                    m.insert(label.to_string(), *h);
                }
                Ok(*h)
            }
            [] => Err(Error::KeyUnavailable(
                "The key's material is not in the HSM of its custom key store. You can retry the request.".into(),
            )),
            _ => Err(Error::internal(format!("several keys labelled {label} in the token"))),
        }
    }
}

impl HsmConnection for TokenConnection {
    fn generate_key(&self, label: &str) -> Result<(), Error> {
        self.with_session(|s| {
            let h = s
                .generate_key(&Mechanism::AesKeyGen, &crate::token::aes_key_template(label))
                .map_err(unavailable("C_GenerateKey"))?;
            if let Ok(mut m) = self.handles.lock() {
                m.insert(label.to_string(), h);
            }
            Ok(())
        })
    }

    fn encrypt(&self, label: &str, iv: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        self.with_session(|s| {
            let k = self.handle(s, label)?;
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(Error::internal)?;
            s.encrypt(&Mechanism::AesGcm(params), k, plaintext).map_err(unavailable("C_Encrypt"))
        })
    }

    fn decrypt(&self, label: &str, iv: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<SecretBytes, Error> {
        self.with_session(|s| {
            let k = self.handle(s, label)?;
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(Error::internal)?;
            match s.decrypt(&Mechanism::AesGcm(params), k, ciphertext) {
                Ok(p) => Ok(SecretBytes::new(p)),
                // The tag does not verify: tokens answer CKR_ENCRYPTED_DATA_INVALID,
                // or (SoftHSM2) CKR_GENERAL_ERROR; a session that still
                // answers tells the data from a token gone.
                Err(CkError::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange, _)) => {
                    Err(Error::InvalidCiphertext)
                }
                Err(e) if s.get_session_info().is_ok() => {
                    tracing::debug!(error = %e, "PKCS#11 C_Decrypt refused the ciphertext");
                    Err(Error::InvalidCiphertext)
                }
                Err(e) => Err(unavailable("C_Decrypt")(e)),
            }
        })
    }

    fn destroy_key(&self, label: &str) -> Result<bool, Error> {
        self.with_session(|s| {
            let h = match self.handle(s, label) {
                Ok(h) => h,
                Err(Error::KeyUnavailable(_)) => return Ok(false),
                Err(e) => return Err(e),
            };
            s.destroy_object(h).map_err(unavailable("C_DestroyObject"))?;
            if let Ok(mut m) = self.handles.lock() {
                m.remove(label);
            }
            Ok(true)
        })
    }

    fn random(&self, n: usize) -> Result<SecretBytes, Error> {
        self.with_session(|s| {
            let bytes = s.generate_random_vec(n as u32).map_err(unavailable("C_GenerateRandom"))?;
            Ok(SecretBytes::new(bytes))
        })
    }

    fn close(&self) {
        if self.closed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        if let Ok(mut pool) = self.sessions.lock() {
            if let Some(s) = pool.first() {
                let _ = s.logout();
            }
            pool.clear();
        }
        if let Ok(mut l) = self.logged_in.lock() {
            l.remove(&self.token);
        }
    }
}

impl Drop for TokenConnection {
    fn drop(&mut self) {
        self.close();
    }
}
