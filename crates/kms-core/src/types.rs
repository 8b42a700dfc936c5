//! Domain types: key states, usages, specs, origins, and the records the
//! store keeps. Enum strings are AWS's, verbatim.

use serde::{Deserialize, Serialize};

pub use crate::model::{CustomerMasterKeySpec, EncryptionAlgorithm, KeyManager, KeySpec, KeyState, KeyUsage, Origin};

/// One version of a key's material, sealed under the root key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaterialRecord {
    /// 64 lowercase hex digits (AWS's `KeyMaterialId`).
    pub id: String,
    /// The sealed material; empty when imported material was deleted or
    /// expired (AWS's `PENDING_IMPORT`: importing the same bytes again
    /// restores it).
    #[serde(with = "crate::model::b64")]
    pub sealed: Vec<u8>,
    pub created_ms: i64,
    /// How this material became current; `None` for a key's first material
    /// and for imported material pending rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationRecord>,
    /// Imported with `NEW_KEY_MATERIAL` and not yet made current by
    /// `RotateKeyOnDemand`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_rotation: bool,
    /// Imported material (keys with origin `EXTERNAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportRecord>,
    /// The material is a key in the HSM of the key's custom key store
    /// (labelled with the key id), not here: `sealed` is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_hsm: bool,
}

impl MaterialRecord {
    /// Whether the material is here, or in the key's HSM (not deleted or
    /// expired).
    pub fn present(&self) -> bool {
        !self.sealed.is_empty() || self.in_hsm
    }
    /// When imported material that expires expires.
    pub fn expires_ms(&self) -> Option<i64> {
        self.import.as_ref().filter(|_| self.present()).and_then(|i| i.valid_to_ms)
    }
}

/// A rotation: when, and whether on demand (else automatic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRecord {
    pub at_ms: i64,
    pub on_demand: bool,
}

/// What `ImportKeyMaterial` set for one imported material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// `ValidTo`; `None` for `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    #[serde(default)]
    pub valid_to_ms: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Automatic rotation of a key (`EnableKeyRotation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRotation {
    pub period_days: i32,
    /// `NextRotationDate`.
    pub next_ms: i64,
}

/// A multi-Region key's set, as this region's key knows it. The primary's
/// copy is the authority; the replicas get it with every change
/// (`PeerMessage::Sync`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionSet {
    /// This key's region.
    pub region: String,
    pub primary_region: String,
    /// Every replica's region, in the order they were made.
    pub replica_regions: Vec<String>,
    /// Grows with every change of the shared properties; a key applies a
    /// sync only if it is at least as new as what it holds.
    pub generation: u64,
    /// Syncs still to deliver to other regions (retried with backoff).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<Outbound>,
    /// The state a `Creating` or `Updating` key takes when `settle_ms` passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<(i64, KeyState)>,
    /// The primary's material ids (an imported replica must import the
    /// same material: same bytes, same id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_materials: Vec<String>,
}

impl MultiRegionSet {
    pub fn is_primary(&self) -> bool {
        self.primary_region == self.region
    }
    /// Every region of the set, the primary first.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary_region.as_str()).chain(self.replica_regions.iter().map(String::as_str))
    }
}

/// A sync to deliver to another region of a multi-Region set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    pub region: String,
    /// What only the first sync to a new replica carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<NewReplica>,
    /// Tell the primary that this replica is gone (instead of a sync).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default)]
    pub attempts: u32,
    pub next_ms: i64,
}

/// The independent properties a new replica starts with (ReplicateKey's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReplica {
    pub policy: String,
    pub description: String,
    pub tags: Vec<(String, String)>,
}

/// Everything the service stores about a KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub account: String,
    pub created_ms: i64,
    pub description: String,
    pub key_usage: KeyUsage,
    pub key_spec: KeySpec,
    pub origin: Origin,
    pub state: KeyState,
    #[serde(default)]
    pub deletion_ms: Option<i64>,
    #[serde(default)]
    pub pending_window_days: Option<i32>,
    pub policy: String,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub multi_region: bool,
    /// A multi-Region key's place in its set (`None` for single-Region keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region_set: Option<MultiRegionSet>,
    /// Oldest first; the last one is current.
    pub materials: Vec<MaterialRecord>,
    /// Automatic rotation, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotation: Option<AutoRotation>,
    /// When a `RotateKeyOnDemand` still in progress started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_ms: Option<i64>,
    /// The last successful cryptographic use (GetKeyLastUsage).
    #[serde(default)]
    pub last_usage: Option<LastUsage>,
    /// Asymmetric keys: the public key, DER SubjectPublicKeyInfo (not
    /// secret; the private key is the sealed material). `None` for
    /// symmetric and HMAC keys.
    #[serde(default, with = "crate::model::opt_b64", skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Vec<u8>>,
    /// The custom key store the key is in (`None`: AWS KMS's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store: Option<InCustomKeyStore>,
    /// How many times the record was written (1 when created): the store
    /// writes a record only over the revision it was made from
    /// ([`crate::ports::Store::put_key`]), so that two servers sharing a
    /// store never lose each other's changes. 0 in records older than it.
    #[serde(default)]
    pub revision: u64,
}

/// A key's place in a custom key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InCustomKeyStore {
    pub id: String,
    /// While the store is not connected the key is `Unavailable` (unless
    /// pending deletion); this is the state it returns to on connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_state: Option<KeyState>,
    /// `EXTERNAL_KEY_STORE`: the external key's id at the proxy (`XksKeyId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xks_key_id: Option<String>,
}

/// A custom key store (`CreateCustomKeyStore`), kept in the store's
/// metadata (`Kms::custom_key_store_name`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomKeyStoreRecord {
    pub id: String,
    pub account: String,
    pub name: String,
    pub store_type: crate::model::CustomKeyStoreType,
    pub created_ms: i64,
    pub state: crate::model::ConnectionStateType,
    /// Only while `state` is `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<crate::model::ConnectionErrorCodeType>,
    /// `AWS_CLOUDHSM`: the configured cluster and the trust anchor given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchor: Option<String>,
    /// The password (the token's user PIN), sealed under the root key
    /// (bound to `CustomKeyStoreRecord::secret_binding`).
    #[serde(default, with = "crate::model::b64", skip_serializing_if = "Vec::is_empty")]
    pub sealed_password: Vec<u8>,
    /// `EXTERNAL_KEY_STORE`: the proxy (its secret access key is sealed in
    /// `sealed_password`, bound the same way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xks: Option<XksProxyRecord>,
}

/// The proxy of an external key store, as configured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct XksProxyRecord {
    pub connectivity: crate::model::XksProxyConnectivityType,
    pub uri_endpoint: String,
    pub uri_path: String,
    pub access_key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_service_owner: Option<String>,
}

impl CustomKeyStoreRecord {
    pub fn secret_binding(id: &str) -> String {
        format!("custom-key-store/{id}")
    }
}

/// The last successful cryptographic operation with a key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastUsage {
    pub operation: String,
    pub at_ms: i64,
    pub request_id: String,
    /// The caller's ARN (not in AWS's GetKeyLastUsage; `kms admin key-usage` shows it).
    #[serde(default)]
    pub principal: Option<String>,
}

/// An alias: a name in an account that points at a key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AliasRecord {
    pub account: String,
    /// `alias/...`
    pub name: String,
    pub target_key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl KeyRecord {
    /// Take `usage` as the key's last usage if it is the later (two
    /// servers' records of uses merge so); whether it was.
    pub fn note_usage(&mut self, usage: LastUsage) -> bool {
        let later = self.last_usage.as_ref().is_none_or(|u| u.at_ms < usage.at_ms);
        if later {
            self.last_usage = Some(usage);
        }
        later
    }

    /// The current material: the newest one not pending rotation (it may
    /// be absent, when imported material was deleted or expired).
    pub fn current_material(&self) -> Option<&MaterialRecord> {
        self.materials.iter().rev().find(|m| !m.pending_rotation)
    }
    /// What the store binds a sealed material to.
    pub fn material_binding(key_id: &str, material_id: &str) -> String {
        format!("key-material/{key_id}/{material_id}")
    }
    /// When the background job next has something to do with this key
    /// (destroy it, rotate it, expire imported material), or `None`. The
    /// store keeps keys in a queue by this time, so that the job never
    /// scans every key and a restart loses nothing.
    pub fn next_job_ms(&self) -> Option<i64> {
        let deletion = (self.state == KeyState::PendingDeletion).then_some(self.deletion_ms).flatten();
        // Disabled keys and keys pending deletion do not rotate on schedule
        // (AWS: they rotate once re-enabled, when the date has passed).
        // A replica rotates with its primary, never on its own.
        let rotation = (self.state == KeyState::Enabled && !self.is_replica())
            .then(|| self.auto_rotation.as_ref().map(|r| r.next_ms))
            .flatten();
        let expiry = self.materials.iter().filter_map(MaterialRecord::expires_ms).min();
        let (mut outbox, mut settle) = (None, None);
        if let Some(set) = &self.multi_region_set {
            outbox = set.outbox.iter().map(|o| o.next_ms).min();
            // A key settles once every region has the change.
            settle = set.settle.filter(|_| set.outbox.is_empty()).map(|(at, _)| at);
        }
        [deletion, rotation, self.on_demand_rotation_ms, expiry, outbox, settle].into_iter().flatten().min()
    }
    /// A multi-Region replica (its shared properties follow the primary).
    pub fn is_replica(&self) -> bool {
        self.multi_region_set.as_ref().is_some_and(|s| !s.is_primary())
    }
}

/// An IAM user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    pub account: String,
    pub name: String,
    /// AWS-style unique id (`AIDA...`).
    pub user_id: String,
    pub created_ms: i64,
    /// May call the operator (`KmsAdmin.*`) API, and has AdministratorAccess.
    pub admin: bool,
    /// Inline identity policies: name -> JSON document.
    #[serde(default)]
    pub policies: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl UserRecord {
    pub fn arn(&self, partition: &str) -> String {
        format!("arn:{partition}:iam::{}:user/{}", self.account, self.name)
    }
}

/// An IAM role: who may assume it (the trust policy) and what its sessions
/// may do (inline identity policies).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleRecord {
    pub account: String,
    pub name: String,
    /// AWS-style unique id (`AROA...`).
    pub role_id: String,
    pub created_ms: i64,
    /// The trust policy (`AssumeRolePolicyDocument`), a resource policy.
    pub trust_policy: String,
    #[serde(default)]
    pub policies: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Longest session, in seconds (3600 to 43200).
    pub max_session_secs: i64,
}

impl RoleRecord {
    pub fn arn(&self, partition: &str) -> String {
        format!("arn:{partition}:iam::{}:role/{}", self.account, self.name)
    }
}

/// An access key of a user; the secret is sealed under the root key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account: String,
    pub user_name: String,
    #[serde(with = "crate::model::b64")]
    pub sealed_secret: Vec<u8>,
    pub created_ms: i64,
}

impl AccessKeyRecord {
    pub fn secret_binding(access_key_id: &str) -> String {
        format!("access-key/{access_key_id}")
    }
}

/// A grant: permission for a grantee principal to use a key for some operations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantRecord {
    /// 64 lowercase hex digits.
    pub grant_id: String,
    pub key_id: String,
    /// The key's account.
    pub account: String,
    #[serde(default)]
    pub name: Option<String>,
    pub created_ms: i64,
    pub grantee_principal: String,
    #[serde(default)]
    pub retiring_principal: Option<String>,
    /// The account of the principal that created the grant.
    pub issuing_account: String,
    /// Operation names (`Decrypt`, `Encrypt`, ...).
    pub operations: Vec<String>,
    #[serde(default)]
    pub context_subset: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub context_equals: Option<std::collections::BTreeMap<String, String>>,
}

impl GrantRecord {
    /// Does this grant let `principal` (ARNs that name the caller) perform
    /// `operation` with encryption context `ec`?
    pub fn allows(
        &self,
        principals: &[&str],
        operation: &str,
        ec: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        if !principals.contains(&self.grantee_principal.as_str()) || !self.operations.iter().any(|o| o == operation) {
            return false;
        }
        let empty = std::collections::BTreeMap::new();
        let ec = ec.unwrap_or(&empty);
        if let Some(eq) = &self.context_equals {
            if eq != ec {
                return false;
            }
        }
        if let Some(sub) = &self.context_subset {
            if !sub.iter().all(|(k, v)| ec.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }
}

/// Every record of a store, as stored (material and secrets sealed): what a
/// backup holds ([`crate::backup`]).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Metadata entries (the root-key check value, sealed service secrets,
    /// the home region), without the backend's own (its schema version).
    pub meta: Vec<(String, Vec<u8>)>,
    /// One per key space (`""`: the store's original one).
    pub spaces: Vec<SpaceSnapshot>,
    pub users: Vec<UserRecord>,
    pub roles: Vec<RoleRecord>,
    pub access_keys: Vec<AccessKeyRecord>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SpaceSnapshot {
    pub name: String,
    pub keys: Vec<KeyRecord>,
    pub grants: Vec<GrantRecord>,
    pub aliases: Vec<AliasRecord>,
}

impl Snapshot {
    /// Keys, grants, aliases, users, roles and access keys.
    pub fn records(&self) -> usize {
        self.spaces.iter().map(|s| s.keys.len() + s.grants.len() + s.aliases.len()).sum::<usize>()
            + self.users.len()
            + self.roles.len()
            + self.access_keys.len()
    }
}
