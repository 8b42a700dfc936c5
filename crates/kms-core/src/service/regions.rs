//! The regions one server serves. Each region is a [`Kms`] over its own key
//! space of the store (keys, grants, aliases, the job queue); identities,
//! sessions and the root key are shared, as IAM and STS credentials are
//! global in AWS. A request's region is the one its SigV4 credential scope
//! names; the API asks [`Regions::get`] for it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{poisoned, Kms, Shared, ROOT_CHECK, ROOT_CHECK_VALUE};
use crate::crypto::RootKey;
use crate::error::{Error, Result};
use crate::identity::{Credential, CredentialResolver};
use crate::ids::Location;
use crate::ports::{Clock, Peer, Store};

/// Which regions a server answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// These regions only.
    List(Vec<String>),
    /// Any well-formed region (`--dev`), each opened on first use.
    Any,
}

/// What `ReplicaRegion` and a region name must look like (the model's
/// pattern for regions).
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    (3..=4).contains(&parts.len())
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Most regions `--dev` opens (AWS has fewer than 40).
pub const MAX_OPEN_REGIONS: usize = 64;

/// The store's metadata entry naming the region of its original key space.
const HOME_REGION: &str = "home-region";

pub struct Regions {
    partition: String,
    /// The region of the store's original key space (the data directory's
    /// keys before it served several regions).
    home: String,
    served: Served,
    /// The first region served (the configured `region`).
    pub(super) default_region: String,
    pub(super) store: Arc<dyn Store>,
    clock: Arc<Clock>,
    pub(super) shared: Arc<Shared>,
    open: RwLock<BTreeMap<String, Arc<Kms>>>,
    /// Serialises the opening of regions.
    opening: tokio::sync::Mutex<()>,
    /// The other servers, by the region each serves.
    peers: BTreeMap<String, Arc<dyn Peer>>,
    /// The key peers wrap replicated material for (loaded on first use).
    peer_key: tokio::sync::OnceCell<crate::crypto::PeerKey>,
}

impl std::fmt::Debug for Regions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regions").field("home", &self.home).field("served", &self.served).finish_non_exhaustive()
    }
}

/// How a server is set up; see [`Regions::open`].
pub struct RegionsConfig {
    pub partition: String,
    /// The first region served; a new data directory's original key space
    /// belongs to it.
    pub default_region: String,
    pub served: Served,
    /// See `Kms::schedule_key_deletion`; 0 turns the check off.
    pub deletion_guard_days: u32,
    /// Other servers and the region each serves.
    pub peers: BTreeMap<String, Arc<dyn Peer>>,
    /// Request quotas (every region its own buckets).
    pub quotas: crate::quota::QuotaConfig,
    /// The HSM clusters custom key stores may use.
    pub hsm: Option<Arc<dyn crate::ports::Hsm>>,
    /// The client of XKS proxies (external key stores).
    pub xks: Option<Arc<dyn crate::ports::XksProxy>>,
}

impl Regions {
    /// Open the service over a store: check that `root` is the root key the
    /// store was sealed under (writing the check value into an empty store),
    /// load the identities, and open the default region (and every listed
    /// region).
    pub async fn open(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<Clock>,
        cfg: RegionsConfig,
    ) -> Result<Arc<Self>, super::OpenError> {
        use super::OpenError;
        match store.get_meta(ROOT_CHECK).await.map_err(OpenError::Store)? {
            Some(sealed) => {
                let v = root.open(ROOT_CHECK, &sealed).map_err(|_| OpenError::WrongRootKey)?;
                if v.expose() != ROOT_CHECK_VALUE {
                    return Err(OpenError::WrongRootKey);
                }
            }
            None => {
                let sealed = root.seal(ROOT_CHECK, ROOT_CHECK_VALUE).map_err(OpenError::Store)?;
                store.put_meta(ROOT_CHECK, &sealed).await.map_err(OpenError::Store)?;
            }
        }
        let home = match store.get_meta(HOME_REGION).await.map_err(OpenError::Store)? {
            Some(v) => String::from_utf8(v).map_err(|e| OpenError::Store(Error::internal(e)))?,
            None => {
                store.put_meta(HOME_REGION, cfg.default_region.as_bytes()).await.map_err(OpenError::Store)?;
                cfg.default_region.clone()
            }
        };
        let regions = Arc::new_cyclic(|weak| Regions {
            partition: cfg.partition,
            home,
            served: cfg.served.clone(),
            default_region: cfg.default_region.clone(),
            store,
            clock,
            shared: Arc::new(Shared {
                root,
                creds: RwLock::new(Default::default()),
                roles: RwLock::new(Default::default()),
                session_epoch: RwLock::new(String::new()),
                sessions: RwLock::new(Default::default()),
                identity_lock: tokio::sync::Mutex::new(()),
                deletion_guard_days: cfg.deletion_guard_days,
                quotas: cfg.quotas,
                faults: Default::default(),
                jobs_wake: tokio::sync::Notify::new(),
                regions: weak.clone(),
                hsm: cfg.hsm,
                coherent: std::sync::atomic::AtomicBool::new(true),
                xks: cfg.xks,
            }),
            open: RwLock::new(BTreeMap::new()),
            opening: tokio::sync::Mutex::new(()),
            peers: cfg.peers,
            peer_key: tokio::sync::OnceCell::new(),
        });
        regions
            .shared
            .reload_credentials(regions.store.as_ref(), &regions.partition)
            .await
            .map_err(OpenError::Store)?;
        let mut first = vec![cfg.default_region];
        if let Served::List(list) = &cfg.served {
            first.extend(list.iter().cloned());
        }
        for r in first {
            regions.open_region(&r).await.map_err(OpenError::Store)?;
        }
        Ok(regions)
    }

    /// Whether this server serves `name` (without opening it: the API asks
    /// before it has authenticated the request).
    pub fn serves(&self, name: &str) -> bool {
        match &self.served {
            Served::List(l) => l.iter().any(|r| r == name),
            Served::Any => {
                is_region_name(name)
                    && self.open.read().is_ok_and(|m| m.contains_key(name) || m.len() < MAX_OPEN_REGIONS)
            }
        }
    }

    /// The region `name`, if this server serves it (in `--dev`, any
    /// well-formed region, opened on first use, up to [`MAX_OPEN_REGIONS`]).
    pub async fn get(&self, name: &str) -> Result<Option<Arc<Kms>>> {
        if let Some(k) = self.open.read().map_err(poisoned)?.get(name) {
            return Ok(Some(k.clone()));
        }
        match &self.served {
            Served::Any if self.serves(name) => self.open_region(name).await.map(Some),
            _ => Ok(None),
        }
    }

    /// An open region without waiting (the hot path: every served region is
    /// open after the first request to it).
    pub fn get_open(&self, name: &str) -> Option<Arc<Kms>> {
        self.open.read().ok()?.get(name).cloned()
    }

    async fn open_region(&self, name: &str) -> Result<Arc<Kms>> {
        let _o = self.opening.lock().await;
        if let Some(k) = self.open.read().map_err(poisoned)?.get(name) {
            return Ok(k.clone());
        }
        let kms = self.new_region(name).await?;
        self.open.write().map_err(poisoned)?.insert(name.to_string(), kms.clone());
        Ok(kms)
    }

    /// A `Kms` over the key space of `name`, with empty caches.
    async fn new_region(&self, name: &str) -> Result<Arc<Kms>> {
        let space = if name == self.home { "" } else { name };
        let store = self.store.key_space(space).await?;
        let loc = Location { partition: self.partition.clone(), region: name.to_string() };
        let kms = Arc::new(Kms::open_region(self.shared.clone(), store, self.clock.clone(), loc).await?);
        kms.resume_connections();
        Ok(kms)
    }

    /// Remember the store's present state as the one [`Regions::reset`]
    /// returns to (`--dev`, after the seed).
    pub async fn checkpoint(&self) -> Result<()> {
        self.store.checkpoint().await
    }

    /// `kms admin reset` (`--dev`): return the store to its checkpoint and
    /// every open region to empty caches, quotas and counts; end every
    /// assumed-role session; clear every injected fault. The clock stays
    /// where it is. Changes wait for the reset, and a call in flight while
    /// it runs may finish on either side of it.
    pub async fn reset(&self) -> Result<()> {
        let _identities = self.shared.identity_lock.lock().await;
        let _opening = self.opening.lock().await;
        let open: Vec<(String, Arc<Kms>)> =
            self.open.read().map_err(poisoned)?.iter().map(|(n, k)| (n.clone(), k.clone())).collect();
        let mut writers = Vec::with_capacity(open.len());
        for (_, k) in &open {
            writers.push(k.write_lock.lock().await);
        }
        self.store.rollback().await?;
        for (_, k) in &open {
            k.close_connections().await?;
        }
        let mut fresh = BTreeMap::new();
        for (name, _) in &open {
            fresh.insert(name.clone(), self.new_region(name).await?);
        }
        *self.open.write().map_err(poisoned)? = fresh;
        // Every session ends, also the tokens other servers would accept.
        let mut epoch = [0u8; 16];
        crate::crypto::fill_random(&mut epoch)?;
        self.store.put_meta(super::sts::SESSION_EPOCH, crate::crypto::hex(&epoch).as_bytes()).await?;
        self.shared.sessions.write().map_err(poisoned)?.clear();
        self.shared.faults.clear(None)?;
        self.shared.reload_credentials(self.store.as_ref(), &self.partition).await
    }

    /// Every open region, by name.
    pub fn all(&self) -> Vec<Arc<Kms>> {
        self.open.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// The region a new data directory's keys belong to.
    pub fn home(&self) -> &str {
        &self.home
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether `region` is a region of this server or of a peer.
    pub(crate) fn knows(&self, region: &str) -> bool {
        self.peers.contains_key(region)
            || match &self.served {
                Served::List(l) => {
                    l.iter().any(|r| r == region) || self.open.read().is_ok_and(|m| m.contains_key(region))
                }
                Served::Any => is_region_name(region),
            }
    }

    /// The peer serving `region`, when another server does.
    pub(crate) fn peer(&self, region: &str) -> Option<&Arc<dyn Peer>> {
        self.peers.get(region)
    }

    /// The key peers wrap replicated material for: a service secret sealed
    /// under the root key, made on first use.
    pub(crate) async fn peer_key(&self) -> Result<&crate::crypto::PeerKey> {
        self.peer_key
            .get_or_try_init(|| async {
                let binding = "service-secret/peer-wrapping-key";
                let secret = match self.store.get_meta(binding).await? {
                    Some(sealed) => self.shared.root.open(binding, &sealed)?,
                    None => {
                        let s = crate::crypto::SecretBytes::new(crate::crypto::PeerKey::generate_secret()?);
                        self.store.put_meta(binding, &self.shared.root.seal(binding, s.expose())?).await?;
                        s
                    }
                };
                crate::crypto::PeerKey::from_secret(secret.expose())
            })
            .await
    }

    /// Ask the background job for a pass now.
    pub fn wake_jobs(&self) {
        self.shared.jobs_wake.notify_one();
    }

    /// Resolves when the background job was asked for a pass.
    pub async fn jobs_woken(&self) {
        self.shared.jobs_wake.notified().await;
    }

    /// Follow the changes other servers sharing the store make
    /// ([`Store::changes`]; `None` for a store nobody shares): from now
    /// until the feed says it works, and whenever it breaks, nothing is
    /// kept in the key cache (every call reads the store); a change drops
    /// what it changed (a key with its grants, a region's aliases, the
    /// credentials). Returns the loop to run (it ends when the feed does).
    pub fn follow(
        self: &Arc<Self>,
        changes: Option<tokio::sync::mpsc::Receiver<crate::ports::Change>>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let mut changes = changes?;
        self.set_coherent(false);
        let regions = Arc::downgrade(self);
        Some(async move {
            while let Some(change) = changes.recv().await {
                let Some(r) = regions.upgrade() else { return };
                if let Err(e) = r.apply_change(change).await {
                    tracing::warn!(error = %e, "a change of another server could not be applied; caches dropped");
                    r.set_coherent(false);
                    let _ = r.forget_all().await;
                }
            }
        })
    }

    fn set_coherent(&self, on: bool) {
        self.shared.coherent.store(on, std::sync::atomic::Ordering::Release);
    }

    /// Every region's key cache and aliases, and the credentials, afresh.
    async fn forget_all(&self) -> Result<()> {
        for k in self.all() {
            k.forget_keys().await?;
            k.reload_aliases().await?;
        }
        self.shared.reload_credentials(self.store.as_ref(), &self.partition).await
    }

    async fn apply_change(&self, change: crate::ports::Change) -> Result<()> {
        use crate::ports::Change;
        let region = |space: &str| if space.is_empty() { self.home.clone() } else { space.to_string() };
        match change {
            Change::Key { space, key_id } => {
                if let Some(k) = self.get_open(&region(&space)) {
                    k.uncache(&key_id).await?;
                }
            }
            Change::Alias { space } => {
                if let Some(k) = self.get_open(&region(&space)) {
                    k.reload_aliases().await?;
                }
            }
            Change::Identity => self.shared.reload_credentials(self.store.as_ref(), &self.partition).await?,
            Change::Lost => {
                self.set_coherent(false);
                for k in self.all() {
                    k.forget_keys().await?;
                }
            }
            Change::Resumed => {
                self.set_coherent(true);
                self.forget_all().await?;
            }
        }
        Ok(())
    }

    /// One pass of the background job over every open region (a region
    /// that fails does not hold up the others; the first error is returned),
    /// if this server runs the job now ([`Store::lead_jobs`]).
    pub async fn run_jobs(&self) -> Result<usize> {
        if !self.store.lead_jobs().await? {
            return Ok(0);
        }
        let (mut n, mut first_error) = (0, None);
        for k in self.all() {
            match k.run_jobs().await {
                Ok(c) => n += c,
                Err(e) => {
                    tracing::error!(region = %k.location().region, error = %e, "background job failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(n), Err)
    }

    /// Write every region's last-usage records.
    pub async fn flush_usage(&self) -> Result<usize> {
        let mut n = 0;
        for k in self.all() {
            n += k.flush_usage().await?;
        }
        Ok(n)
    }
}

impl CredentialResolver for Regions {
    fn resolve(&self, access_key_id: &str, session_token: Option<&str>) -> Result<Arc<Credential>> {
        self.shared.resolve_credential(&self.clock, &self.partition, access_key_id, session_token)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn region_names() {
        for ok in ["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-5"] {
            assert!(super::is_region_name(ok), "{ok}");
        }
        for bad in ["", "us-east", "us-east-", "US-east-1", "us--1", "us-east-1-1x", "a-b-c-d-1", "us_east_1"] {
            assert!(!super::is_region_name(bad), "{bad}");
        }
    }
}
