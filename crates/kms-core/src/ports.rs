//! Ports: what the service needs from the outside world. Storage sits behind
//! [`Store`]; time behind [`Clock`].

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;

use crate::error::Result;
use crate::types::{AccessKeyRecord, AliasRecord, GrantRecord, KeyRecord, KeyState, RoleRecord, Snapshot, UserRecord};

/// Durable storage. Every method is one transaction: it either happens
/// completely or not at all. Implementations never see plaintext key
/// material or secrets: those arrive sealed under the root key.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A view of this store whose keys, grants, aliases and job queue are
    /// those of the key space `name` (one per region; `""` is the store's
    /// original key space, the one this store itself shows). Metadata and
    /// identities (users, roles, access keys) are shared by every view.
    async fn key_space(&self, name: &str) -> Result<std::sync::Arc<dyn Store>>;

    /// A named value in the store's metadata (root-key check value, ...).
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>>;
    async fn put_meta(&self, name: &str, value: &[u8]) -> Result<()>;
    async fn delete_meta(&self, name: &str) -> Result<()>;
    /// Every metadata entry whose name starts with `prefix`, by name (few:
    /// custom key stores are kept here, ten per account at most).
    async fn list_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;

    async fn get_key(&self, key_id: &str) -> Result<Option<KeyRecord>>;
    /// Insert or replace a key record, if the stored one is the one it was
    /// made from: its `revision` is `key.revision - 1` (none stored: `key`
    /// is new, revision 1). Otherwise nothing is written and the answer is
    /// [`crate::Error::StaleRecord`] (another server changed the key since
    /// it was read). The stored last usage is kept when it is the later.
    async fn put_key(&self, key: &KeyRecord) -> Result<()>;
    /// Set a key's last usage, unless the stored one is later (the key's
    /// revision is not changed, and other servers are not told). Nothing
    /// happens for a key that is gone.
    async fn merge_usage(&self, key_id: &str, usage: &crate::types::LastUsage) -> Result<()>;
    /// Remove a key record, its material, its grants and every alias that points at it.
    async fn delete_key(&self, key_id: &str) -> Result<()>;
    /// How many keys are in each key state, states with none left out
    /// (asked at every `/metrics` scrape: the embedded store keeps the
    /// counts as keys change; PostgreSQL counts with `GROUP BY`).
    async fn count_keys_by_state(&self) -> Result<Vec<(KeyState, u64)>>;
    /// Ids of at most `limit` keys whose `KeyRecord::next_job_ms` is at or
    /// before `now_ms`, soonest first (the background job's queue, kept by
    /// `put_key` and `delete_key`).
    async fn keys_due(&self, now_ms: i64, limit: usize) -> Result<Vec<String>>;

    /// Insert or replace a grant.
    async fn put_grant(&self, grant: &GrantRecord) -> Result<()>;
    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<()>;
    /// The grants of one key, by grant id.
    async fn list_grants(&self, key_id: &str) -> Result<Vec<GrantRecord>>;
    /// A grant by id, whichever key it is on.
    async fn find_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>>;
    /// Every grant whose retiring principal is `principal`.
    async fn list_retirable_grants(&self, principal: &str) -> Result<Vec<GrantRecord>>;

    /// Insert or replace an alias.
    async fn put_alias(&self, alias: &AliasRecord) -> Result<()>;
    async fn delete_alias(&self, account: &str, name: &str) -> Result<()>;
    /// Every alias (they are few; the service keeps them in memory).
    async fn list_aliases(&self) -> Result<Vec<AliasRecord>>;
    /// Key ids of `account` in ascending order, strictly after `after`.
    async fn list_key_ids(&self, account: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// How many keys `account` has (in any state), without reading them.
    async fn count_keys(&self, account: &str) -> Result<u64>;

    async fn get_user(&self, account: &str, name: &str) -> Result<Option<UserRecord>>;
    async fn put_user(&self, user: &UserRecord) -> Result<()>;
    /// Remove a user and all its access keys.
    async fn delete_user(&self, account: &str, name: &str) -> Result<()>;
    /// All users, or those of one account.
    async fn list_users(&self, account: Option<&str>) -> Result<Vec<UserRecord>>;

    async fn get_role(&self, account: &str, name: &str) -> Result<Option<RoleRecord>>;
    async fn put_role(&self, role: &RoleRecord) -> Result<()>;
    async fn delete_role(&self, account: &str, name: &str) -> Result<()>;
    /// All roles, or those of one account.
    async fn list_roles(&self, account: Option<&str>) -> Result<Vec<RoleRecord>>;

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<()>;
    async fn delete_access_key(&self, access_key_id: &str) -> Result<()>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>>;

    /// Remember the whole store's present state (every key space, the
    /// identities, the metadata), replacing a checkpoint kept before: a seed
    /// that fails is undone with it, and `kms admin reset` returns to it.
    async fn checkpoint(&self) -> Result<()>;
    /// Return the whole store to its checkpoint (kept, for another rollback).
    async fn rollback(&self) -> Result<()>;
    /// Forget the checkpoint (a backend may hold old data while one exists).
    async fn drop_checkpoint(&self) -> Result<()>;

    /// Every record of the whole store (every key space), as of one moment
    /// (one read transaction): a backup.
    async fn snapshot(&self) -> Result<Snapshot>;
    /// Write every record of `snapshot` into this store, in one
    /// transaction; refused unless the store holds no key, user or access
    /// key (a restore, or a migration from another backend).
    async fn restore(&self, snapshot: &Snapshot) -> Result<()>;

    /// What other servers sharing this store change, for the caches
    /// (`None`: no other server can share it, as with the embedded store).
    /// Called once, on the store itself (not a key space view).
    fn changes(&self) -> Option<tokio::sync::mpsc::Receiver<Change>> {
        None
    }

    /// Whether this server runs the background job now: the store lets one
    /// server sharing it at a time (PostgreSQL: an advisory lock held by a
    /// connection of its own; another server takes it when that one's
    /// connection ends). Always, for a store no other server can share.
    async fn lead_jobs(&self) -> Result<bool> {
        Ok(true)
    }
}

/// A change to the store made by some server sharing it ([`Store::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A key record, or its grants, in key space `space`.
    Key { space: String, key_id: String },
    /// An alias of key space `space`.
    Alias { space: String },
    /// A user, role or access key.
    Identity,
    /// Changes may have been missed from here on (the feed is broken): keep
    /// nothing cached until [`Change::Resumed`].
    Lost,
    /// The feed works (again): drop every cache, then cache again.
    Resumed,
}

/// Where audit events go. `record` returns only once the event is durable
/// (on disk): the caller answers the request after that, never before.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    /// Append one event (a CloudTrail record, serialized JSON).
    async fn record(&self, event: Vec<u8>) -> Result<()>;
}

/// The service's clock, in epoch milliseconds. An adjustable clock (only in
/// `--dev`) can be moved forward so that deletion windows and expiries can be
/// tested in seconds. SigV4 clock-skew checks do not use it: they compare
/// against the real time the client signed with.
#[derive(Debug)]
pub struct Clock {
    offset_ms: AtomicI64,
    adjustable: bool,
}

impl Clock {
    pub fn system() -> Self {
        Clock { offset_ms: AtomicI64::new(0), adjustable: false }
    }
    pub fn adjustable() -> Self {
        Clock { offset_ms: AtomicI64::new(0), adjustable: true }
    }
    pub fn real_now_ms() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
    pub fn now_ms(&self) -> i64 {
        Self::real_now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }
    pub fn is_adjustable(&self) -> bool {
        self.adjustable
    }
    /// Move the clock forward; `false` when this clock is not adjustable.
    pub fn advance(&self, ms: i64) -> bool {
        if !self.adjustable || ms < 0 {
            return false;
        }
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        true
    }
}

/// Another server, serving another region (multi-Region replication; the
/// protocol is in docs/REGIONS.md). Implementations authenticate both ways,
/// bound every call by a timeout, and answer `Error::PeerUnavailable` when
/// the peer cannot be reached, so that the caller retries later.
#[async_trait]
pub trait Peer: Send + Sync + 'static {
    /// The peer's public key for wrapping key material (`PeerKey::public`).
    async fn wrapping_key(&self) -> Result<Vec<u8>>;
    /// Deliver one message; `Ok` once the peer has applied it durably.
    async fn deliver(&self, message: &crate::service::PeerMessage) -> Result<()>;
}

/// Where the keys of `AWS_CLOUDHSM` custom key stores live: the HSM
/// "clusters" the server is configured with (docs/HSM.md), each a PKCS#11
/// token. The methods block (a token call may take milliseconds); the
/// service runs them on blocking threads.
pub trait Hsm: Send + Sync + 'static {
    /// A configured cluster, or `None`.
    fn cluster(&self, cluster_id: &str) -> Option<HsmCluster>;
    /// Whether the cluster's token can be reached now (module loaded, token
    /// present): `Err` says why not.
    fn check(&self, cluster_id: &str) -> std::result::Result<(), String>;
    /// Log in to the cluster's token with the user PIN.
    fn connect(
        &self,
        cluster_id: &str,
        pin: &crate::crypto::SecretString,
    ) -> std::result::Result<std::sync::Arc<dyn HsmConnection>, HsmConnectError>;
}

/// What the server's configuration says about one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmCluster {
    pub id: String,
    /// The trust anchor certificate the cluster expects (PEM), if set:
    /// `CreateCustomKeyStore` must present the same one.
    pub trust_anchor: Option<String>,
    /// Clusters that name the same token (AWS: clusters that share a
    /// backup history) are related; `UpdateCustomKeyStore` may move a store
    /// between them.
    pub token: String,
}

/// Why a connection failed: AWS's `ConnectionErrorCode` and a text for the
/// log (no secrets).
#[derive(Debug, Clone)]
pub struct HsmConnectError {
    pub code: crate::model::ConnectionErrorCodeType,
    pub message: String,
}

/// A logged-in token. Keys are named by their label (the KMS key id);
/// every key is an AES-256 key made in the token, sensitive and not
/// extractable.
pub trait HsmConnection: Send + Sync + 'static {
    /// Make a key in the token.
    fn generate_key(&self, label: &str) -> Result<()>;
    /// AES-GCM in the token with this IV and AAD: ciphertext || tag.
    fn encrypt(&self, label: &str, iv: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>>;
    /// The inverse of `encrypt`; `Error::InvalidCiphertext` when the tag
    /// does not verify.
    fn decrypt(&self, label: &str, iv: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<crate::crypto::SecretBytes>;
    /// Destroy a key; `false` when there was none.
    fn destroy_key(&self, label: &str) -> Result<bool>;
    /// Random bytes from the token's generator.
    fn random(&self, n: usize) -> Result<crate::crypto::SecretBytes>;
    /// Log out and close the sessions.
    fn close(&self);
}

/// The HTTP client of XKS proxies (custom key stores of type
/// `EXTERNAL_KEY_STORE`, docs/XKS.md). An implementation POSTs a JSON body
/// over HTTPS to `<endpoint><uri_path>/<suffix>`, signed with SigV4
/// (service `kms-xks-proxy`, the caller's region) with the store's
/// credential, and gives back the body of a 200 or why there was none. The
/// service bounds each call by the spec's 250 ms budget itself.
#[async_trait]
pub trait XksProxy: Send + Sync + 'static {
    async fn call(
        &self,
        target: &XksTarget<'_>,
        suffix: &str,
        body: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, XksCallError>;
}

/// Where and as whom a proxy call goes.
#[derive(Debug)]
pub struct XksTarget<'a> {
    /// `https://<host>` (`XksProxyUriEndpoint`).
    pub endpoint: &'a str,
    /// `[/<prefix>]/kms/xks/v1` (`XksProxyUriPath`).
    pub uri_path: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a crate::crypto::SecretString,
    pub region: &'a str,
}

/// Why a proxy call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XksCallError {
    /// The proxy answered with a status other than 200: its `errorName`,
    /// when the body is the spec's error shape.
    Proxy { status: u16, error_name: Option<String> },
    /// No TCP connection.
    Connect(String),
    /// No TLS session (the certificate, the protocol).
    Tls(String),
    /// No answer in time.
    Timeout,
    /// A 200 whose body is not JSON, or a broken exchange.
    Malformed(String),
}
