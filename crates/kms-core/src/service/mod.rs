//! The service: one async method per operation, named after it
//! (`TrentService.Encrypt` -> `Operation::Encrypt` -> `Kms::encrypt`).
//! A method gets a request the wire layer has already checked against the
//! model (`model::generated`, `Validate`); it applies its operation's own
//! rules, resolves and authorizes the key, checks its state, does the
//! cryptography and persists; storage sits behind [`Store`].
//!
//! Submodules group the operations: `keys` (lifecycle), `crypto_ops`
//! (symmetric and asymmetric encryption), `asymmetric` (signing, MACs, key
//! agreement, key encapsulation, public keys, data key pairs), `aliases`,
//! `tags`, `policies`, `grants`, `identities` (operator API), `unbuilt`
//! (the model's operations not built yet).

mod aliases;
mod asymmetric;
mod authz;
mod crypto_ops;
mod custom_key_stores;
pub use custom_key_stores::CUSTOM_KEY_STORES_PER_ACCOUNT;
mod grants;
mod identities;
mod import;
mod jobs;
pub use jobs::JobEvent;
mod keys;
pub use keys::ALLOW_DELETION_TAG;
mod policies;
mod rotation;
mod seed;
pub use seed::{Seed, SeedEntry, SeedError, SeedKey, SeedMaterial, SeedOutcome, SeedProblem, SeedRole, SeedUser};
mod simulate;
mod sts;
pub use sts::{AssumeRoleInput, AssumeRoleOutput};
#[cfg(test)]
mod coverage;
pub mod regions;
mod tags;
mod xks;
pub use regions::{Regions, RegionsConfig, Served};
pub use xks::XKS_TIMEOUT;
mod replication;
pub use replication::PeerMessage;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use crate::crypto::{AesKey, KeyMaterial, RootKey, SecretString};
use crate::error::{Error, Result};
use crate::identity::{Credential, CredentialResolver, Principal};
use crate::ids::{KeyRef, Location};
use crate::model::*;
use crate::ports::{Clock, Store};
use crate::types::*;
use authz::Access;

/// Per-request facts established before the operation runs, and what the
/// operation learned that the audit record needs ([`Facts`]).
#[derive(Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Arc<Principal>,
    pub access_key_id: String,
    /// The client's address (`aws:SourceIp`).
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
    pub facts: Mutex<Facts>,
}

/// What an operation learned about the request, for its audit record.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// ARNs of the keys the request resolved, in order.
    pub keys: Vec<String>,
    /// The key material the request used.
    pub key_material_id: Option<String>,
    /// The alias the request named its key by (`kms:RequestAlias`).
    pub request_alias: Option<String>,
    /// The fault injected into the call (`--dev`), for its audit record.
    pub injected_fault: Option<String>,
    /// The authorization decision and what decided it.
    pub decision: Option<String>,
}

impl RequestContext {
    pub fn new(request_id: String, principal: Arc<Principal>, access_key_id: String) -> Self {
        RequestContext {
            request_id,
            principal,
            access_key_id,
            source_ip: None,
            secure_transport: false,
            facts: Mutex::new(Facts::default()),
        }
    }

    /// Attach what the connection tells: the client's address and TLS.
    pub fn from_connection(mut self, source_ip: Option<std::net::IpAddr>, secure_transport: bool) -> Self {
        self.source_ip = source_ip;
        self.secure_transport = secure_transport;
        self
    }
    pub(crate) fn note_key(&self, arn: &str) {
        if let Ok(mut f) = self.facts.lock() {
            if !f.keys.iter().any(|k| k == arn) {
                f.keys.push(arn.to_string());
            }
        }
    }
    /// Mark the call as hit by an injected fault.
    pub fn note_fault(&self, what: &str) {
        if let Ok(mut f) = self.facts.lock() {
            f.injected_fault = Some(what.to_string());
        }
    }
    pub(crate) fn note_material(&self, id: &str) {
        if let Ok(mut f) = self.facts.lock() {
            f.key_material_id = Some(id.to_string());
        }
    }
    pub fn facts(&self) -> Facts {
        self.facts.lock().map(|f| f.clone()).unwrap_or_default()
    }
    /// What the call learned, once it is over.
    pub fn into_facts(self) -> Facts {
        self.facts.into_inner().unwrap_or_default()
    }
}

/// Opened key materials: (material id, material), oldest first; only
/// materials present and not pending rotation.
type Materials = Arc<Vec<([u8; 32], Material)>>;

/// One opened key material.
enum Material {
    /// A symmetric encryption key's AES-256-GCM key.
    Aes(AesKey),
    /// An asymmetric key's private key (parsed on first use, then kept).
    Private(kms_crypto::PrivateKey),
    /// An HMAC key.
    Hmac(crate::crypto::SecretBytes),
    /// A key in the HSM of this custom key store (labelled with the key id).
    Hsm(String),
}

/// A key record with its materials opened, ready for cryptography.
pub struct LiveKey {
    pub record: KeyRecord,
    pub arn: String,
    /// The parsed key policy; `None` when the stored policy no longer parses
    /// (then nothing is allowed by it).
    policy: Option<Arc<kms_policy::Policy>>,
    materials: Materials,
    /// Index in `materials` of the current material (`None` when it is
    /// absent: imported material deleted or expired).
    current: Option<usize>,
    /// The last successful cryptographic use, kept in memory and written to
    /// the store by [`Kms::flush_usage`] (so that crypto calls do no writes).
    usage: Mutex<(Option<LastUsage>, bool)>,
    /// The key's grants.
    grants: Grants,
    /// Policy decisions on this key that no condition key can change.
    decisions: authz::Decisions,
}

/// A key's grants, shared between cached versions of the key.
type Grants = Arc<Vec<GrantRecord>>;

impl LiveKey {
    fn material(&self, id: &[u8; 32]) -> Option<&Material> {
        self.materials.iter().find(|(mid, _)| mid == id).map(|(_, m)| m)
    }
    fn current_material(&self) -> Option<&([u8; 32], Material)> {
        self.current.and_then(|i| self.materials.get(i))
    }
    /// The private key of an asymmetric key.
    fn private_key(&self) -> Result<&kms_crypto::PrivateKey> {
        match self.current_material() {
            Some((_, Material::Private(k))) => Ok(k),
            _ => Err(Error::internal("key has no private key")),
        }
    }
    /// The key of an HMAC key.
    fn hmac_key(&self) -> Result<&[u8]> {
        match self.current_material() {
            Some((_, Material::Hmac(s))) => Ok(s.expose()),
            _ => Err(Error::internal("key has no HMAC key material")),
        }
    }
    fn last_usage(&self) -> Option<LastUsage> {
        self.usage.lock().ok().and_then(|u| u.0.clone())
    }
    fn record_use(&self, operation: &str, at_ms: i64, ctx: &RequestContext) {
        let usage = LastUsage {
            operation: operation.into(),
            at_ms,
            request_id: ctx.request_id.clone(),
            principal: Some(ctx.principal.arn.clone()),
        };
        if let Ok(mut u) = self.usage.lock() {
            *u = (Some(usage), true);
        }
    }
}

/// Most keys kept opened in memory; past it, an arbitrary tenth is dropped
/// and reloaded from the store on its next use.
const KEY_CACHE_MAX: usize = 20_000;

/// A day of the service clock.
const DAY_MS: i64 = 86_400_000;

const ROOT_CHECK: &str = "root-key-check";
const ROOT_CHECK_VALUE: &[u8] = b"kms root key check v1";

/// The credentials a bootstrap created; shown once to the operator.
pub type NewCredentials = AccessKeyOutput;

pub struct Kms {
    /// This region's partition and region (its ARNs).
    loc: Location,
    /// This region's key space of the store.
    store: Arc<dyn Store>,
    clock: Arc<Clock>,
    /// What every region of this server shares: the root key, identities,
    /// the background job's wake-up, the other regions.
    shared: Arc<Shared>,
    keys: RwLock<HashMap<String, Arc<LiveKey>>>,
    /// Grows (under the `keys` lock) whenever a writer replaces or drops a
    /// cached key, so that a load that read the store before a write does
    /// not cache what it read after the write ([`Kms::cache`]).
    cache_epoch: std::sync::atomic::AtomicU64,
    /// Parsed key policies by text, shared between keys.
    policies: RwLock<HashMap<String, std::sync::Weak<kms_policy::Policy>>>,
    /// Every alias, by (account, alias name).
    aliases: RwLock<BTreeMap<(String, String), AliasRecord>>,
    /// Serialises read-modify-write sequences on this region's records.
    write_lock: tokio::sync::Mutex<()>,
    /// What the background job did, for the audit trail
    /// ([`Kms::take_job_events`]).
    job_events: Mutex<Vec<JobEvent>>,
    /// This region's request quotas.
    quotas: crate::quota::Quotas,
    /// Keys per account in this region, counted on first need, while a
    /// keys-per-account limit is set.
    key_counts: tokio::sync::Mutex<HashMap<String, u64>>,
    /// This region's custom key stores, by id (`custom_key_stores`).
    custom_key_stores: RwLock<BTreeMap<String, CustomKeyStoreRecord>>,
    /// The logged-in HSM tokens of the connected ones, by store id.
    hsm_connections: RwLock<HashMap<String, Arc<dyn crate::ports::HsmConnection>>>,
}

/// What the regions of one server share.
pub(crate) struct Shared {
    root: RootKey,
    creds: RwLock<HashMap<String, Arc<Credential>>>,
    /// Temporary credentials of assumed-role sessions, by access key id
    /// (a cache: a token any server sharing the root key made is opened
    /// on its first use, `Shared::session_of_token`).
    sessions: RwLock<HashMap<String, sts::Session>>,
    /// Every role, by (account, name): the principals of sessions
    /// ([`Shared::session_of_token`]).
    roles: RwLock<HashMap<(String, String), RoleRecord>>,
    /// The store's session epoch (see `sts::SESSION_EPOCH`).
    session_epoch: RwLock<String>,
    /// Serialises changes of identities (users, roles, access keys).
    identity_lock: tokio::sync::Mutex<()>,
    /// Safe deletion: ScheduleKeyDeletion refuses a key used within this
    /// many days (0: off, AWS's behaviour) unless the key carries the tag
    /// [`ALLOW_DELETION_TAG`]` = true`.
    deletion_guard_days: u32,
    /// Request quotas, as configured.
    quotas: crate::quota::QuotaConfig,
    /// Injected faults (`--dev` only), every region alike.
    faults: crate::faults::Faults,
    /// Wakes the background job early (an on-demand rotation to finish, a
    /// replica to create).
    jobs_wake: tokio::sync::Notify,
    /// The server's regions (for multi-Region keys).
    regions: std::sync::Weak<Regions>,
    /// The HSM clusters custom key stores may use (none configured: `None`).
    hsm: Option<Arc<dyn crate::ports::Hsm>>,
    /// Whether the caches may keep what they read: false while the store's
    /// change feed is down (other servers' changes could be missed), so
    /// that every call reads the store ([`Regions::follow`]).
    coherent: std::sync::atomic::AtomicBool,
    /// The client of XKS proxies (external key stores).
    xks: Option<Arc<dyn crate::ports::XksProxy>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms").field("loc", &self.loc).finish_non_exhaustive()
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the root key does not match this data directory (the data was sealed under a different root key); refusing to start")]
    WrongRootKey,
    #[error("{0}")]
    Store(Error),
}

fn parse_material_id(s: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err(Error::internal("bad material id"));
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| Error::internal("bad material id"))?;
    }
    Ok(out)
}

/// The quota a cryptographic action with a key of `spec` counts against
/// (`None` for the other actions, charged by operation in `Kms::admit`).
fn crypto_quota(action: &str, spec: KeySpec) -> Option<crate::quota::QuotaClass> {
    match action {
        "kms:Encrypt"
        | "kms:Decrypt"
        | "kms:ReEncryptFrom"
        | "kms:ReEncryptTo"
        | "kms:GenerateDataKey"
        | "kms:GenerateDataKeyWithoutPlaintext"
        | "kms:GenerateMac"
        | "kms:VerifyMac"
        | "kms:Sign"
        | "kms:Verify"
        | "kms:DeriveSharedSecret"
        | "kms:Encapsulate"
        | "kms:Decapsulate" => Some(crate::quota::QuotaClass::of_key(spec)),
        _ => None,
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("a cache lock was poisoned")
}

/// Whether an operation accepts an alias in place of a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aliases {
    Allowed,
    Refused,
}

impl Kms {
    /// This region's service over its key space (see [`Regions::open`]).
    async fn open_region(shared: Arc<Shared>, store: Arc<dyn Store>, clock: Arc<Clock>, loc: Location) -> Result<Self> {
        let aliases =
            store.list_aliases().await?.into_iter().map(|a| ((a.account.clone(), a.name.clone()), a)).collect();
        let kms = Kms {
            store,
            clock,
            keys: RwLock::new(HashMap::new()),
            cache_epoch: std::sync::atomic::AtomicU64::new(0),
            policies: RwLock::new(HashMap::new()),
            aliases: RwLock::new(aliases),
            write_lock: tokio::sync::Mutex::new(()),
            job_events: Mutex::new(Vec::new()),
            quotas: crate::quota::Quotas::new(shared.quotas.clone(), &loc.region),
            key_counts: tokio::sync::Mutex::new(HashMap::new()),
            custom_key_stores: RwLock::new(BTreeMap::new()),
            hsm_connections: RwLock::new(HashMap::new()),
            loc,
            shared,
        };
        kms.load_custom_key_stores().await?;
        Ok(kms)
    }

    /// The server's regions (gone only while the server shuts down).
    fn regions(&self) -> Result<Arc<Regions>> {
        self.shared.regions.upgrade().ok_or_else(|| Error::internal("the server is shutting down"))
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A service secret kept in the store sealed under the root key (for
    /// example the audit signing key): opened if present, else made by
    /// `generate`, sealed and stored.
    pub async fn service_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> std::result::Result<Vec<u8>, String>,
    ) -> Result<crate::crypto::SecretBytes> {
        let binding = format!("service-secret/{name}");
        if let Some(sealed) = self.store.get_meta(&binding).await? {
            return self.shared.root.open(&binding, &sealed);
        }
        let secret = crate::crypto::SecretBytes::new(generate().map_err(Error::Internal)?);
        let sealed = self.shared.root.seal(&binding, secret.expose())?;
        self.store.put_meta(&binding, &sealed).await?;
        Ok(secret)
    }

    /// The store, for tools that inspect it (tests, migrations).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn reload_credentials(&self) -> Result<()> {
        self.shared.reload_credentials(self.store.as_ref(), &self.loc.partition).await
    }

    // ------------------------------------------------------------ key cache

    /// Open a record's materials and cache it.
    /// `loaded` is the cache epoch read before the record was.
    fn open_key(&self, record: KeyRecord, grants: Vec<GrantRecord>, loaded: u64) -> Result<Arc<LiveKey>> {
        let mut materials = Vec::with_capacity(record.materials.len());
        for m in record.materials.iter().filter(|m| m.present() && !m.pending_rotation) {
            if let (true, Some(place)) = (m.in_hsm, &record.custom_key_store) {
                materials.push((parse_material_id(&m.id)?, Material::Hsm(place.id.clone())));
                continue;
            }
            let raw = self.shared.root.open(&KeyRecord::material_binding(&record.key_id, &m.id), &m.sealed)?;
            let material = match asymmetric::crypto_spec(record.key_spec) {
                None => Material::Aes(KeyMaterial::from_bytes(raw.expose())?.aes()?),
                Some(cs) if cs.is_hmac() => Material::Hmac(raw),
                Some(cs) => Material::Private(kms_crypto::PrivateKey::new(cs, raw)),
            };
            materials.push((parse_material_id(&m.id)?, material));
        }
        let usage = record.last_usage.clone();
        self.cache(record, Arc::new(materials), usage, Arc::new(grants), loaded)
    }

    /// A new material of `key_id` that KMS made (at creation or by a
    /// rotation): a random id, the bytes sealed under the root key.
    fn new_material(
        &self,
        key_id: &str,
        material: &[u8],
        now: i64,
        rotation: Option<RotationRecord>,
    ) -> Result<MaterialRecord> {
        let mut mid = [0u8; 32];
        crate::crypto::fill_random(&mut mid)?;
        self.material_record(key_id, crate::crypto::hex(&mid), material, now, rotation)
    }

    /// A material record of `key_id` with the material id `id`.
    fn material_record(
        &self,
        key_id: &str,
        id: String,
        material: &[u8],
        now: i64,
        rotation: Option<RotationRecord>,
    ) -> Result<MaterialRecord> {
        Ok(MaterialRecord {
            sealed: self.shared.root.seal(&KeyRecord::material_binding(key_id, &id), material)?,
            id,
            created_ms: now,
            rotation,
            pending_rotation: false,
            import: None,
            in_hsm: false,
        })
    }

    /// Index of the record's current material among its opened ones.
    fn current_index(record: &KeyRecord, materials: &[([u8; 32], Material)]) -> Option<usize> {
        let current = parse_material_id(&record.current_material().filter(|m| m.present())?.id).ok()?;
        materials.iter().rposition(|(id, _)| *id == current)
    }

    /// Put a key just read from the store in the cache: `loaded` is the
    /// epoch read before reading it; the key is cached only if no write
    /// dropped a key from the cache since, so that a record read before a
    /// write never outlives it in the cache. (Writers drop the key, and its
    /// next use reads it.)
    fn cache(
        &self,
        record: KeyRecord,
        materials: Materials,
        usage: Option<LastUsage>,
        grants: Grants,
        loaded: u64,
    ) -> Result<Arc<LiveKey>> {
        use std::sync::atomic::Ordering;
        let arn = self.loc.key_arn(&record.account, &record.key_id);
        let policy = self.parsed_policy(&record.policy, &arn)?;
        let current = Self::current_index(&record, &materials);
        let live = Arc::new(LiveKey {
            record,
            arn,
            policy,
            materials,
            current,
            usage: Mutex::new((usage, false)),
            grants,
            decisions: Default::default(),
        });
        let mut keys = self.keys.write().map_err(poisoned)?;
        if !self.shared.coherent.load(Ordering::Acquire) {
            return Ok(live);
        }
        if loaded != self.cache_epoch.load(Ordering::Acquire) {
            return Ok(live);
        }
        keys.insert(live.record.key_id.clone(), live.clone());
        if keys.len() > KEY_CACHE_MAX {
            // Drop a tenth of the cache (keys with unflushed usage stay); a
            // dropped key is reloaded from the store on its next use.
            let doomed: Vec<String> = keys
                .iter()
                .filter(|(id, k)| **id != live.record.key_id && !k.usage.lock().map(|u| u.1).unwrap_or(true))
                .map(|(id, _)| id.clone())
                .take(KEY_CACHE_MAX / 10)
                .collect();
            for id in doomed {
                keys.remove(&id);
            }
        }
        Ok(live)
    }

    /// The parsed form of a key policy, shared by every key with the same
    /// text (most keys of an account have the default policy). `None` when
    /// the stored text no longer parses: then the policy allows nothing.
    fn parsed_policy(&self, text: &str, arn: &str) -> Result<Option<Arc<kms_policy::Policy>>> {
        if let Some(p) = self.policies.read().map_err(poisoned)?.get(text).and_then(std::sync::Weak::upgrade) {
            return Ok(Some(p));
        }
        match kms_policy::Policy::parse(text, kms_policy::PolicyKind::Resource) {
            Ok(p) => {
                let p = Arc::new(p);
                let mut cache = self.policies.write().map_err(poisoned)?;
                if cache.len() > KEY_CACHE_MAX {
                    cache.retain(|_, w| w.strong_count() > 0);
                }
                cache.insert(text.to_string(), Arc::downgrade(&p));
                Ok(Some(p))
            }
            Err(e) => {
                tracing::warn!(key = %arn, error = %e, "stored key policy no longer parses; it allows nothing");
                Ok(None)
            }
        }
    }

    fn evict(&self, key_id: &str) -> Result<()> {
        let mut keys = self.keys.write().map_err(poisoned)?;
        self.cache_epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        keys.remove(key_id);
        Ok(())
    }

    /// Drop a key from the cache, its unflushed last usage written first
    /// (another server changed it, or its grants changed).
    async fn uncache(&self, key_id: &str) -> Result<()> {
        let gone = {
            let mut keys = self.keys.write().map_err(poisoned)?;
            self.cache_epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            keys.remove(key_id)
        };
        let dirty = gone.and_then(|k| k.usage.lock().ok().filter(|u| u.1).and_then(|u| u.0.clone()));
        if let Some(usage) = dirty {
            self.store.merge_usage(key_id, &usage).await?;
        }
        Ok(())
    }

    /// Drop every cached key (their unflushed last usage is written first,
    /// if the store takes it).
    async fn forget_keys(&self) -> Result<()> {
        if let Err(e) = self.flush_usage().await {
            tracing::debug!(error = %e, "last usage not written before the cache was dropped");
        }
        let mut keys = self.keys.write().map_err(poisoned)?;
        self.cache_epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        keys.clear();
        Ok(())
    }

    /// Read every alias of this region again.
    async fn reload_aliases(&self) -> Result<()> {
        let all = self.store.list_aliases().await?;
        *self.aliases.write().map_err(poisoned)? =
            all.into_iter().map(|a| ((a.account.clone(), a.name.clone()), a)).collect();
        Ok(())
    }

    /// Load a key by id (any account), from the cache or the store. A key
    /// whose deletion window has ended is gone, even before the deletion job
    /// has destroyed it.
    async fn load(&self, key_id: &str) -> Result<Option<Arc<LiveKey>>> {
        let cached = self.keys.read().map_err(poisoned)?.get(key_id).cloned();
        let live = match cached {
            Some(k) => k,
            None => {
                // A write that lands while the record is read makes the read
                // stale: read again (writers store before they bump the
                // epoch), so that the key is cached and its usage kept.
                let mut attempts = 0;
                loop {
                    let epoch = self.cache_epoch.load(std::sync::atomic::Ordering::Acquire);
                    let Some(rec) = self.store.get_key(key_id).await? else { return Ok(None) };
                    let grants = self.store.list_grants(&rec.key_id).await?;
                    let live = self.open_key(rec, grants, epoch)?;
                    attempts += 1;
                    if attempts >= 8 || self.cache_epoch.load(std::sync::atomic::Ordering::Acquire) == epoch {
                        break live;
                    }
                }
            }
        };
        if self.is_due(&live.record) {
            return Ok(None);
        }
        Ok(Some(live))
    }

    fn is_due(&self, r: &KeyRecord) -> bool {
        r.state == KeyState::PendingDeletion && r.deletion_ms.is_some_and(|d| d <= self.clock.now_ms())
    }

    fn alias_target(&self, account: &str, name: &str) -> Result<Option<String>> {
        Ok(self
            .aliases
            .read()
            .map_err(poisoned)?
            .get(&(account.to_string(), name.to_string()))
            .map(|a| a.target_key_id.clone()))
    }

    /// Resolve a `KeyId` member (key id, key ARN, and where `aliases` allows,
    /// alias name or alias ARN), then authorize `access` on it (`None`: the
    /// caller authorizes).
    async fn resolve_as(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        aliases: Aliases,
        access: Option<&authz::Access<'_>>,
    ) -> Result<Arc<LiveKey>> {
        let key_ref = KeyRef::parse(key_id, &self.loc)?;
        let (account, id) = match key_ref {
            KeyRef::KeyId(id) => (ctx.principal.account.clone(), id),
            KeyRef::KeyArn { account, key_id } => (account, key_id),
            KeyRef::AliasName(_) | KeyRef::AliasArn { .. } if aliases == Aliases::Refused => {
                return Err(Error::NotFound(format!("Invalid keyId '{key_id}'")));
            }
            KeyRef::AliasName(name) => {
                Self::note_alias(ctx, &name);
                self.alias_key(&ctx.principal.account, &name)?
            }
            KeyRef::AliasArn { account, alias_name } => {
                Self::note_alias(ctx, &alias_name);
                self.alias_key(&account, &alias_name)?
            }
        };
        match self.load(&id).await? {
            Some(k) if k.record.account == account => {
                ctx.note_key(&k.arn);
                if !self.quotas.is_off() {
                    if let Some(class) = access.and_then(|a| crypto_quota(a.action, k.record.key_spec)) {
                        // The caller's account pays (AWS: cross-account calls too),
                        // and a key's custom key store too.
                        self.quotas.charge(&ctx.principal.account, class)?;
                        if let Some(store) = &k.record.custom_key_store {
                            self.quotas.charge(&store.id, crate::quota::QuotaClass::CustomKeyStore)?;
                        }
                    }
                }
                if let Some(access) = access {
                    self.authorize(ctx, &k, access)?;
                }
                Ok(k)
            }
            _ => Err(Error::NotFound(format!("Key '{}' does not exist", self.loc.key_arn(&account, &id)))),
        }
    }

    fn note_alias(ctx: &RequestContext, name: &str) {
        if let Ok(mut f) = ctx.facts.lock() {
            f.request_alias = Some(name.to_string());
        }
    }

    fn alias_key(&self, account: &str, name: &str) -> Result<(String, String)> {
        match self.alias_target(account, name)? {
            Some(id) => Ok((account.to_string(), id)),
            None => Err(Error::NotFound(format!("Alias '{}' is not found.", self.loc.alias_arn(account, name)))),
        }
    }

    /// Resolve a key for a cryptographic or read operation (aliases allowed).
    async fn resolve(&self, ctx: &RequestContext, key_id: &str, access: &authz::Access<'_>) -> Result<Arc<LiveKey>> {
        self.resolve_as(ctx, key_id, Aliases::Allowed, Some(access)).await
    }

    /// Charge a call of `op` to its quota before it runs (control-plane
    /// operations and GenerateRandom; cryptographic operations are charged
    /// by their key, in `resolve_as`). `ThrottlingException` when over.
    pub fn admit(&self, ctx: &RequestContext, op: crate::model::Operation) -> Result<()> {
        if self.quotas.is_off() {
            return Ok(());
        }
        match crate::quota::class_of_operation(op) {
            Some(class) => self.quotas.charge(&ctx.principal.account, class),
            None => Ok(()),
        }
    }

    /// Whether any fault is set (`--dev`).
    pub fn faults_active(&self) -> bool {
        self.shared.faults.is_active()
    }

    /// The fault to inject into a call of `operation` naming `key_id`, if any.
    pub fn injected_fault(&self, operation: &str, key_id: Option<&str>) -> Option<crate::faults::Injected> {
        self.shared.faults.pick(operation, key_id)
    }

    /// Count a new key of `account` against the keys-per-account limit
    /// (`LimitExceededException` when it is reached); undo with
    /// [`Kms::release_key`] if the key is not made after all.
    async fn reserve_key(&self, account: &str) -> Result<()> {
        let Some(limit) = self.quotas.key_limit() else { return Ok(()) };
        let mut counts = self.key_counts.lock().await;
        let n = match counts.get(account) {
            Some(n) => *n,
            None => self.store.count_keys(account).await?,
        };
        if n >= limit {
            counts.insert(account.to_string(), n);
            return Err(Error::LimitExceeded(format!(
                "The request was rejected because account {account} already has {limit} KMS keys in {}, the most it may have.",
                self.loc.region
            )));
        }
        counts.insert(account.to_string(), n + 1);
        Ok(())
    }

    /// A key of `account` is gone (destroyed, or not made after all).
    async fn release_key(&self, account: &str) {
        if let Some(n) = self.key_counts.lock().await.get_mut(account) {
            *n = n.saturating_sub(1);
        }
    }

    /// Throttled calls of this region, by (class, account).
    pub fn throttled(&self) -> Vec<(String, String, u64)> {
        self.quotas.throttled()
    }

    /// Change a key record: resolve it (key id or ARN only), let `f` change
    /// a copy, persist it, and replace the cached key (reusing its opened
    /// materials). Serialised with every other write. A multi-Region change
    /// reaches the set's other regions of this server before this returns
    /// (peers: by the background job).
    async fn update_key<T>(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        access: &authz::Access<'_>,
        mut f: impl FnMut(&mut KeyRecord, &str) -> Result<T>,
    ) -> Result<T> {
        let mut attempts = 0;
        loop {
            let w = self.write_lock.lock().await;
            let live = self.resolve_as(ctx, key_id, Aliases::Refused, Some(access)).await?;
            let mut rec = live.record.clone();
            let out = f(&mut rec, &live.arn)?;
            let outbox = Self::queue_syncs(&live.record, &mut rec, self.clock.now_ms());
            let targets: Vec<String> =
                rec.multi_region_set.iter().flat_map(|s| s.outbox.iter().map(|o| o.region.clone())).collect();
            let id = rec.key_id.clone();
            match self.put_record(&mut rec).await {
                // Another server changed the key since this one cached it:
                // again, from the store.
                Err(Error::StaleRecord(_)) if attempts < 3 => {
                    attempts += 1;
                    self.evict(&id)?;
                    continue;
                }
                r => r?,
            }
            // Dropped, not replaced: the next use reads the store, so that
            // a later write by another server, announced meanwhile, is
            // never hidden by this one.
            self.evict(&id)?;
            drop(w);
            if outbox {
                self.deliver_now(&id, &targets).await;
            }
            return Ok(out);
        }
    }

    /// Write a key record (read from the store, or new) as its next
    /// revision, with the cached key's last usage when that is the later.
    /// [`Error::StaleRecord`] when another server wrote the key since.
    async fn put_record(&self, rec: &mut KeyRecord) -> Result<()> {
        if let Some(live) = self.keys.read().map_err(poisoned)?.get(&rec.key_id).cloned() {
            if let Some(u) = live.last_usage() {
                rec.note_usage(u);
            }
        }
        rec.revision += 1;
        self.store.put_key(rec).await
    }

    /// Write a key record changed from `old` (under the write lock, by
    /// the service itself): multi-Region syncs queued, the cached key
    /// dropped. Returns whether the key has syncs to deliver.
    async fn write_record(&self, old: &KeyRecord, mut rec: KeyRecord, now: i64) -> Result<bool> {
        let outbox = Self::queue_syncs(old, &mut rec, now);
        self.put_record(&mut rec).await?;
        self.evict(&rec.key_id)?;
        if outbox {
            self.shared.jobs_wake.notify_one();
        }
        Ok(outbox)
    }

    /// Write in-memory last-usage records to the store (each kept there
    /// unless another server's is later). Run periodically and at shutdown.
    pub async fn flush_usage(&self) -> Result<usize> {
        let dirty: Vec<Arc<LiveKey>> = self
            .keys
            .read()
            .map_err(poisoned)?
            .values()
            .filter(|k| k.usage.lock().map(|u| u.1).unwrap_or(false))
            .cloned()
            .collect();
        let mut n = 0;
        for k in dirty {
            let usage = {
                let mut u = k.usage.lock().map_err(poisoned)?;
                u.1 = false;
                u.0.clone()
            };
            let Some(usage) = usage else { continue };
            if let Err(e) = self.store.merge_usage(&k.record.key_id, &usage).await {
                // Written with the next flush.
                if let Ok(mut u) = k.usage.lock() {
                    u.1 = true;
                }
                return Err(e);
            }
            n += 1;
        }
        Ok(n)
    }

    // ------------------------------------------------------------ shared checks

    /// The key state gate for cryptographic use.
    fn usable(k: &LiveKey) -> Result<()> {
        Self::usable_record(&k.record, &k.arn)
    }

    /// [`Kms::usable`] for a record: Enabled, else `DisabledException` or
    /// `KMSInvalidStateException` naming the state.
    fn usable_record(r: &KeyRecord, arn: &str) -> Result<()> {
        asymmetric::fips_check(r.key_spec.as_str())?;
        match r.state {
            KeyState::Enabled => Ok(()),
            // A key whose primary Region is changing still encrypts and
            // decrypts (AWS), if it was Enabled.
            KeyState::Updating
                if r.multi_region_set.as_ref().and_then(|s| s.settle).is_some_and(|(_, s)| s == KeyState::Enabled) =>
            {
                Ok(())
            }
            KeyState::Disabled => Err(Error::Disabled(format!("{arn} is disabled."))),
            _ => Err(Self::invalid_state(r, arn)),
        }
    }

    fn invalid_state(r: &KeyRecord, arn: &str) -> Error {
        let state = match r.state {
            KeyState::PendingDeletion => "pending deletion",
            KeyState::PendingImport => "pending import",
            KeyState::PendingReplicaDeletion => "pending replica deletion",
            KeyState::Creating => "creating",
            KeyState::Updating => "updating",
            KeyState::Unavailable => "unavailable",
            KeyState::Enabled => "enabled",
            KeyState::Disabled => "disabled",
        };
        Error::InvalidState(format!("{arn} is {state}."))
    }

    /// Management operations (descriptions, tags, aliases, policies,
    /// scheduling deletion) work on Enabled, Disabled, Unavailable (a
    /// custom key store not connected) and PendingImport keys (AWS's
    /// key-state table), and on multi-Region keys being
    /// created or updated (AWS: a `Creating` replica can be managed).
    fn manageable(r: &KeyRecord, arn: &str) -> Result<()> {
        match r.state {
            KeyState::Enabled
            | KeyState::Disabled
            | KeyState::Unavailable
            | KeyState::PendingImport
            | KeyState::Creating
            | KeyState::Updating => Ok(()),
            _ => Err(Self::invalid_state(r, arn)),
        }
    }

    /// EnableKey, DisableKey and CreateGrant: Enabled and Disabled keys
    /// only (a key pending import: "is pending import.").
    fn enabled_or_disabled(r: &KeyRecord, arn: &str) -> Result<()> {
        match r.state {
            KeyState::Enabled | KeyState::Disabled => Ok(()),
            _ => Err(Self::invalid_state(r, arn)),
        }
    }
}

impl Shared {
    async fn reload_credentials(&self, store: &dyn Store, partition: &str) -> Result<()> {
        let users = store.list_users(None).await?;
        let mut map = HashMap::new();
        for ak in store.list_access_keys().await? {
            let Some(user) = users.iter().find(|u| u.account == ak.account && u.name == ak.user_name) else {
                continue;
            };
            let secret = self.root.open(&AccessKeyRecord::secret_binding(&ak.access_key_id), &ak.sealed_secret)?;
            let secret = String::from_utf8(secret.expose().to_vec()).map_err(Error::internal)?;
            map.insert(
                ak.access_key_id.clone(),
                Arc::new(Credential {
                    access_key_id: ak.access_key_id.clone(),
                    secret: SecretString::new(secret),
                    principal: Arc::new(Principal::from_user(user, partition)),
                }),
            );
        }
        *self.creds.write().map_err(poisoned)? = map;
        let epoch = store.get_meta(sts::SESSION_EPOCH).await?.unwrap_or_default();
        *self.session_epoch.write().map_err(poisoned)? = String::from_utf8_lossy(&epoch).into_owned();
        let roles = store.list_roles(None).await?;
        *self.roles.write().map_err(poisoned)? =
            roles.into_iter().map(|r| ((r.account.clone(), r.name.clone()), r)).collect();
        self.refresh_all_sessions(partition)
    }

    fn resolve_credential(
        &self,
        clock: &Clock,
        partition: &str,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<Arc<Credential>> {
        match session_token {
            None => self.creds.read().map_err(poisoned)?.get(access_key_id).cloned().ok_or(Error::UnrecognizedClient),
            Some(token) => {
                let sessions = self.sessions.read().map_err(poisoned)?;
                let Some(s) = sessions.get(access_key_id) else {
                    drop(sessions);
                    return self.session_of_token(clock.now_ms(), access_key_id, token, partition);
                };
                if !crate::crypto::ct_eq(s.token.expose().as_bytes(), token.as_bytes()) {
                    return Err(Error::UnrecognizedClient);
                }
                if s.expires_ms <= clock.now_ms() {
                    return Err(Error::ExpiredToken);
                }
                Ok(s.credential.clone())
            }
        }
    }
}

impl CredentialResolver for Kms {
    fn resolve(&self, access_key_id: &str, session_token: Option<&str>) -> Result<Arc<Credential>> {
        self.shared.resolve_credential(&self.clock, &self.loc.partition, access_key_id, session_token)
    }
}
