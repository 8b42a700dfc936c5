//! The service: one async method per operation, named after it
//! (`TrentService.Encrypt` -> `Operation::Encrypt` -> `Kms::encrypt`).
//! Each method validates, resolves the key, checks its state, does the
//! cryptography and persists; storage sits behind [`Store`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ciphertext;
use crate::crypto::{hex, AesKey, KeyMaterial, RootKey, SecretString};
use crate::error::{Error, Result};
use crate::identity::{self, Credential, CredentialResolver, Principal};
use crate::ids::{self, KeyRef, Location};
use crate::model::*;
use crate::ports::{Clock, Store};
use crate::types::*;

/// Per-request facts established before the operation runs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Arc<Principal>,
    pub access_key_id: String,
}

/// A key record with its materials opened, ready for cryptography.
pub struct LiveKey {
    pub record: KeyRecord,
    pub arn: String,
    materials: Vec<([u8; 32], AesKey)>,
}

impl LiveKey {
    fn material(&self, id: &[u8; 32]) -> Option<&AesKey> {
        self.materials
            .iter()
            .find(|(mid, _)| mid == id)
            .map(|(_, k)| k)
    }
    fn current(&self) -> Option<&([u8; 32], AesKey)> {
        self.materials.last()
    }
}

const ROOT_CHECK: &str = "root-key-check";
const ROOT_CHECK_VALUE: &[u8] = b"kms root key check v1";

/// The credentials a bootstrap created; shown once to the operator.
pub type NewCredentials = AccessKeyOutput;

pub struct Kms {
    loc: Location,
    store: Arc<dyn Store>,
    clock: Arc<Clock>,
    root: RootKey,
    creds: RwLock<HashMap<String, Arc<Credential>>>,
    keys: RwLock<HashMap<String, Arc<LiveKey>>>,
    /// Serialises read-modify-write sequences on records.
    write_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("loc", &self.loc)
            .finish_non_exhaustive()
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
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .map_err(|_| Error::internal("bad material id"))?;
    }
    Ok(out)
}

impl Kms {
    /// Open the service over a store. Checks that `root` is the root key the
    /// store was sealed under (writing the check value into an empty store),
    /// and loads the access keys.
    pub async fn open(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<Clock>,
        loc: Location,
    ) -> Result<Self, OpenError> {
        match store.get_meta(ROOT_CHECK).await.map_err(OpenError::Store)? {
            Some(sealed) => {
                let v = root
                    .open(ROOT_CHECK, &sealed)
                    .map_err(|_| OpenError::WrongRootKey)?;
                if v.expose() != ROOT_CHECK_VALUE {
                    return Err(OpenError::WrongRootKey);
                }
            }
            None => {
                let sealed = root
                    .seal(ROOT_CHECK, ROOT_CHECK_VALUE)
                    .map_err(OpenError::Store)?;
                store
                    .put_meta(ROOT_CHECK, &sealed)
                    .await
                    .map_err(OpenError::Store)?;
            }
        }
        let kms = Kms {
            loc,
            store,
            clock,
            root,
            creds: RwLock::new(HashMap::new()),
            keys: RwLock::new(HashMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
        };
        kms.reload_credentials().await.map_err(OpenError::Store)?;
        Ok(kms)
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The store, for tools that inspect it (tests, migrations).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn reload_credentials(&self) -> Result<()> {
        let users = self.store.list_users(None).await?;
        let mut map = HashMap::new();
        for ak in self.store.list_access_keys().await? {
            let Some(user) = users
                .iter()
                .find(|u| u.account == ak.account && u.name == ak.user_name)
            else {
                continue;
            };
            let secret = self.root.open(
                &AccessKeyRecord::secret_binding(&ak.access_key_id),
                &ak.sealed_secret,
            )?;
            let secret = String::from_utf8(secret.expose().to_vec()).map_err(Error::internal)?;
            map.insert(
                ak.access_key_id.clone(),
                Arc::new(Credential {
                    access_key_id: ak.access_key_id.clone(),
                    secret: SecretString::new(secret),
                    principal: Arc::new(Principal::from_user(user, &self.loc.partition)),
                }),
            );
        }
        *self
            .creds
            .write()
            .map_err(|_| Error::internal("credential cache poisoned"))? = map;
        Ok(())
    }

    // ------------------------------------------------------------ identities

    /// Create `account`'s user `name` with one access key unless any user
    /// exists already. Returns the new credentials when it created them.
    /// With `fixed`, the access key id and secret are the given ones (used by
    /// `--dev` for the well-known `test`/`test`).
    pub async fn bootstrap(
        &self,
        account: &str,
        name: &str,
        fixed: Option<(&str, &str)>,
    ) -> Result<Option<NewCredentials>> {
        if !self.store.list_users(None).await?.is_empty() {
            return Ok(None);
        }
        let user = self.new_user(account, name, true).await?;
        Ok(Some(self.new_access_key(&user, fixed).await?))
    }

    async fn new_user(&self, account: &str, name: &str, admin: bool) -> Result<UserRecord> {
        let user = UserRecord {
            account: account.to_string(),
            name: name.to_string(),
            user_id: identity::new_user_id()?,
            created_ms: self.clock.now_ms(),
            admin,
        };
        self.store.put_user(&user).await?;
        Ok(user)
    }

    async fn new_access_key(
        &self,
        user: &UserRecord,
        fixed: Option<(&str, &str)>,
    ) -> Result<AccessKeyOutput> {
        let (id, secret) = match fixed {
            Some((id, secret)) => (id.to_string(), SecretString::new(secret.to_string())),
            None => (
                identity::new_access_key_id()?,
                identity::new_secret_access_key()?,
            ),
        };
        let rec = AccessKeyRecord {
            access_key_id: id.clone(),
            account: user.account.clone(),
            user_name: user.name.clone(),
            sealed_secret: self.root.seal(
                &AccessKeyRecord::secret_binding(&id),
                secret.expose().as_bytes(),
            )?,
            created_ms: self.clock.now_ms(),
        };
        self.store.put_access_key(&rec).await?;
        let principal = Arc::new(Principal::from_user(user, &self.loc.partition));
        let out = AccessKeyOutput {
            user_name: user.name.clone(),
            account_id: user.account.clone(),
            arn: principal.arn.clone(),
            access_key_id: id.clone(),
            secret_access_key: secret.expose().to_string(),
        };
        self.creds
            .write()
            .map_err(|_| Error::internal("credential cache poisoned"))?
            .insert(
                id.clone(),
                Arc::new(Credential {
                    access_key_id: id,
                    secret,
                    principal,
                }),
            );
        Ok(out)
    }

    fn require_admin(&self, ctx: &RequestContext, op: &str) -> Result<()> {
        if ctx.principal.admin {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "User: {} is not authorized to perform: kms-admin:{op}",
                ctx.principal.arn
            )))
        }
    }

    fn user_ref(
        &self,
        ctx: &RequestContext,
        name: &Option<String>,
        account: &Option<String>,
    ) -> Result<(String, String)> {
        let mut v = crate::validate::Validator::default();
        v.required("userName", name)
            .pattern(
                "userName",
                name.as_deref(),
                identity::is_user_name,
                "[\\w+=,.@-]+",
            )
            .pattern(
                "accountId",
                account.as_deref(),
                ids::is_account_id,
                "^[0-9]{12}$",
            );
        v.finish()?;
        let account = account
            .clone()
            .unwrap_or_else(|| ctx.principal.account.clone());
        Ok((account, name.clone().unwrap_or_default()))
    }

    pub async fn create_user(
        &self,
        ctx: &RequestContext,
        req: CreateUserRequest,
    ) -> Result<AccessKeyOutput> {
        self.require_admin(ctx, "CreateUser")?;
        let (account, name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let _w = self.write_lock.lock().await;
        if self.store.get_user(&account, &name).await?.is_some() {
            return Err(Error::AlreadyExists(format!(
                "User with name {name} already exists."
            )));
        }
        let user = self
            .new_user(&account, &name, req.admin.unwrap_or(false))
            .await?;
        self.new_access_key(&user, None).await
    }

    pub async fn create_access_key(
        &self,
        ctx: &RequestContext,
        req: UserRef,
    ) -> Result<AccessKeyOutput> {
        self.require_admin(ctx, "CreateAccessKey")?;
        let (account, name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let _w = self.write_lock.lock().await;
        let user = self.get_user(&account, &name).await?;
        self.new_access_key(&user, None).await
    }

    async fn get_user(&self, account: &str, name: &str) -> Result<UserRecord> {
        self.store
            .get_user(account, name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("The user with name {name} cannot be found.")))
    }

    pub async fn list_users(
        &self,
        ctx: &RequestContext,
        req: ListUsersRequest,
    ) -> Result<ListUsersResponse> {
        self.require_admin(ctx, "ListUsers")?;
        let users = self.store.list_users(req.account_id.as_deref()).await?;
        let keys = self.store.list_access_keys().await?;
        Ok(ListUsersResponse {
            users: users
                .iter()
                .map(|u| UserOutput {
                    user_name: u.name.clone(),
                    account_id: u.account.clone(),
                    user_id: u.user_id.clone(),
                    arn: u.arn(&self.loc.partition),
                    create_date: epoch_seconds(u.created_ms),
                    admin: u.admin,
                    access_key_ids: keys
                        .iter()
                        .filter(|k| k.account == u.account && k.user_name == u.name)
                        .map(|k| k.access_key_id.clone())
                        .collect(),
                })
                .collect(),
        })
    }

    pub async fn delete_user(&self, ctx: &RequestContext, req: UserRef) -> Result<Empty> {
        self.require_admin(ctx, "DeleteUser")?;
        let (account, name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let _w = self.write_lock.lock().await;
        self.get_user(&account, &name).await?;
        self.store.delete_user(&account, &name).await?;
        self.creds
            .write()
            .map_err(|_| Error::internal("credential cache poisoned"))?
            .retain(|_, c| !(c.principal.account == account && c.principal.user_name == name));
        Ok(Empty {})
    }

    pub async fn delete_access_key(
        &self,
        ctx: &RequestContext,
        req: DeleteAccessKeyRequest,
    ) -> Result<Empty> {
        self.require_admin(ctx, "DeleteAccessKey")?;
        let mut v = crate::validate::Validator::default();
        v.required("accessKeyId", &req.access_key_id);
        v.finish()?;
        let id = req.access_key_id.unwrap_or_default();
        let _w = self.write_lock.lock().await;
        let removed = self
            .creds
            .write()
            .map_err(|_| Error::internal("credential cache poisoned"))?
            .remove(&id);
        if removed.is_none() {
            return Err(Error::NotFound(format!(
                "The Access Key with id {id} cannot be found."
            )));
        }
        self.store.delete_access_key(&id).await?;
        Ok(Empty {})
    }

    // ------------------------------------------------------------ keys

    fn metadata(&self, k: &KeyRecord) -> KeyMetadata {
        let symmetric = k.key_spec == KeySpec::SymmetricDefault;
        KeyMetadata {
            aws_account_id: k.account.clone(),
            key_id: k.key_id.clone(),
            arn: self.loc.key_arn(&k.account, &k.key_id),
            creation_date: epoch_seconds(k.created_ms),
            enabled: k.state == KeyState::Enabled,
            description: k.description.clone(),
            key_usage: k.key_usage.as_str().to_string(),
            key_state: k.state.as_str().to_string(),
            deletion_date: k.deletion_ms.map(epoch_seconds),
            origin: k.origin.as_str().to_string(),
            key_manager: KeyManager::Customer.as_str().to_string(),
            customer_master_key_spec: k.key_spec.as_str().to_string(),
            key_spec: k.key_spec.as_str().to_string(),
            encryption_algorithms: symmetric
                .then(|| vec![EncryptionAlgorithm::SymmetricDefault.as_str().to_string()]),
            multi_region: k.multi_region,
            pending_deletion_window_in_days: k.pending_window_days,
            current_key_material_id: k.current_material().map(|m| m.id.clone()),
        }
    }

    fn live(&self, record: KeyRecord) -> Result<Arc<LiveKey>> {
        let mut materials = Vec::with_capacity(record.materials.len());
        for m in &record.materials {
            let raw = self.root.open(
                &KeyRecord::material_binding(&record.key_id, &m.id),
                &m.sealed,
            )?;
            let material = KeyMaterial::from_bytes(raw.expose())?;
            materials.push((parse_material_id(&m.id)?, material.aes()?));
        }
        let arn = self.loc.key_arn(&record.account, &record.key_id);
        let live = Arc::new(LiveKey {
            record,
            arn,
            materials,
        });
        self.keys
            .write()
            .map_err(|_| Error::internal("key cache poisoned"))?
            .insert(live.record.key_id.clone(), live.clone());
        Ok(live)
    }

    /// Load a key by id (any account), from the cache or the store.
    async fn load(&self, key_id: &str) -> Result<Option<Arc<LiveKey>>> {
        if let Some(k) = self
            .keys
            .read()
            .map_err(|_| Error::internal("key cache poisoned"))?
            .get(key_id)
        {
            return Ok(Some(k.clone()));
        }
        match self.store.get_key(key_id).await? {
            Some(rec) => Ok(Some(self.live(rec)?)),
            None => Ok(None),
        }
    }

    /// Resolve a `KeyId` member (key id, key ARN, alias name or alias ARN).
    async fn resolve(&self, ctx: &RequestContext, key_id: &str) -> Result<Arc<LiveKey>> {
        let (account, id) = match KeyRef::parse(key_id, &self.loc)? {
            KeyRef::KeyId(id) => (ctx.principal.account.clone(), id),
            KeyRef::KeyArn { account, key_id } => (account, key_id),
            KeyRef::AliasName(name) => {
                return Err(Error::NotFound(format!(
                    "Alias '{}' is not found.",
                    self.loc.alias_arn(&ctx.principal.account, &name)
                )))
            }
            KeyRef::AliasArn {
                account,
                alias_name,
            } => {
                return Err(Error::NotFound(format!(
                    "Alias '{}' is not found.",
                    self.loc.alias_arn(&account, &alias_name)
                )))
            }
        };
        match self.load(&id).await? {
            Some(k) if k.record.account == account => Ok(k),
            _ => Err(Error::NotFound(format!(
                "Key '{}' does not exist",
                self.loc.key_arn(&account, &id)
            ))),
        }
    }

    /// The key state gate for cryptographic use.
    fn usable(k: &LiveKey) -> Result<()> {
        match k.record.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(Error::Disabled(format!("{} is disabled.", k.arn))),
            KeyState::PendingDeletion => Err(Error::InvalidState(format!(
                "{} is pending deletion.",
                k.arn
            ))),
            KeyState::PendingImport => {
                Err(Error::InvalidState(format!("{} is pending import.", k.arn)))
            }
            other => Err(Error::InvalidState(format!("{} is {}.", k.arn, other))),
        }
    }

    fn symmetric_encrypt_decrypt(k: &LiveKey, algorithm: Option<&str>) -> Result<()> {
        if k.record.key_usage != KeyUsage::EncryptDecrypt {
            return Err(Error::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for this operation.",
                k.arn, k.record.key_usage
            )));
        }
        match algorithm {
            None | Some("SYMMETRIC_DEFAULT") => Ok(()),
            Some(a) => Err(Error::InvalidKeyUsage(format!(
                "Algorithm {a} is incompatible with key spec {}.",
                k.record.key_spec
            ))),
        }
    }

    pub async fn create_key(
        &self,
        ctx: &RequestContext,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse> {
        req.validate()?;
        let account = ctx.principal.account.clone();
        let spec = match (&req.key_spec, &req.customer_master_key_spec) {
            (Some(_), Some(_)) => {
                return Err(Error::Validation(
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
                ))
            }
            (Some(s), None) | (None, Some(s)) => KeySpec::parse(s).ok_or_else(|| Error::internal("validated enum"))?,
            (None, None) => KeySpec::SymmetricDefault,
        };
        let usage = match &req.key_usage {
            Some(u) => KeyUsage::parse(u).ok_or_else(|| Error::internal("validated enum"))?,
            None => KeyUsage::EncryptDecrypt,
        };
        if spec != KeySpec::SymmetricDefault {
            return Err(Error::UnsupportedOperation(format!(
                "KeySpec {spec} is not supported by this server yet."
            )));
        }
        if usage != KeyUsage::EncryptDecrypt {
            return Err(Error::Validation(format!(
                "KeyUsage {usage} is not compatible with KeySpec {spec}"
            )));
        }
        let origin = match &req.origin {
            Some(o) => Origin::parse(o).ok_or_else(|| Error::internal("validated enum"))?,
            None => Origin::AwsKms,
        };
        if origin != Origin::AwsKms || req.custom_key_store_id.is_some() || req.xks_key_id.is_some()
        {
            return Err(Error::UnsupportedOperation(format!(
                "Origin {origin} is not supported by this server yet."
            )));
        }
        if req.multi_region == Some(true) {
            return Err(Error::UnsupportedOperation(
                "Multi-Region keys are not supported by this server yet.".into(),
            ));
        }
        let policy = match req.policy {
            Some(p) => {
                kms_policy::validate(&p).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
                p
            }
            None => kms_policy::default_key_policy(&self.loc.partition, &account),
        };
        let key_id = ids::new_key_id()?;
        let mut mid = [0u8; 32];
        crate::crypto::fill_random(&mut mid)?;
        let material_id = hex(&mid);
        let material = KeyMaterial::generate()?;
        let now = self.clock.now_ms();
        let record = KeyRecord {
            key_id: key_id.clone(),
            account,
            created_ms: now,
            description: req.description.unwrap_or_default(),
            key_usage: usage,
            key_spec: spec,
            origin,
            state: KeyState::Enabled,
            deletion_ms: None,
            pending_window_days: None,
            policy,
            tags: req
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    (
                        t.tag_key.unwrap_or_default(),
                        t.tag_value.unwrap_or_default(),
                    )
                })
                .collect(),
            multi_region: false,
            materials: vec![MaterialRecord {
                sealed: self.root.seal(
                    &KeyRecord::material_binding(&key_id, &material_id),
                    material.expose(),
                )?,
                id: material_id,
                created_ms: now,
            }],
        };
        self.store.put_key(&record).await?;
        let metadata = self.metadata(&record);
        self.live(record)?;
        Ok(CreateKeyResponse {
            key_metadata: metadata,
        })
    }

    pub async fn describe_key(
        &self,
        ctx: &RequestContext,
        req: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse> {
        req.validate()?;
        let k = self
            .resolve(ctx, req.key_id.as_deref().unwrap_or_default())
            .await?;
        Ok(DescribeKeyResponse {
            key_metadata: self.metadata(&k.record),
        })
    }

    pub async fn list_keys(
        &self,
        ctx: &RequestContext,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse> {
        req.validate()?;
        if let Some(m) = &req.marker {
            if !ids::is_key_id(m) {
                return Err(Error::InvalidMarker("Invalid marker".into()));
            }
        }
        let limit = req.limit.unwrap_or(100) as usize;
        let account = &ctx.principal.account;
        let mut ids = self
            .store
            .list_key_ids(account, req.marker.as_deref(), limit + 1)
            .await?;
        let truncated = ids.len() > limit;
        ids.truncate(limit);
        let next_marker = if truncated { ids.last().cloned() } else { None };
        Ok(ListKeysResponse {
            keys: ids
                .into_iter()
                .map(|id| KeyListEntry {
                    key_arn: self.loc.key_arn(account, &id),
                    key_id: id,
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    pub async fn encrypt(
        &self,
        ctx: &RequestContext,
        req: EncryptRequest,
    ) -> Result<EncryptResponse> {
        req.validate()?;
        let k = self
            .resolve(ctx, req.key_id.as_deref().unwrap_or_default())
            .await?;
        Self::usable(&k)?;
        Self::symmetric_encrypt_decrypt(&k, req.encryption_algorithm.as_deref())?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let (mid, aes) = k
            .current()
            .ok_or_else(|| Error::internal("key has no material"))?;
        let ctx_map = req.encryption_context.unwrap_or_default();
        let plaintext = req.plaintext.unwrap_or_default();
        let blob = ciphertext::seal(aes, &k.record.key_id, mid, &ctx_map, plaintext.expose())?;
        Ok(EncryptResponse {
            ciphertext_blob: blob,
            key_id: k.arn.clone(),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault.as_str().to_string(),
        })
    }

    pub async fn decrypt(
        &self,
        ctx: &RequestContext,
        req: DecryptRequest,
    ) -> Result<DecryptResponse> {
        req.validate()?;
        let blob = req.ciphertext_blob.unwrap_or_default();
        let header = ciphertext::parse_header(&blob)?;
        if let Some(given) = req.key_id.as_deref() {
            let named = self.resolve(ctx, given).await?;
            if named.record.key_id != header.key_id {
                return Err(Error::IncorrectKey(
                    "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                ));
            }
        }
        let k = self
            .load(&header.key_id)
            .await?
            .ok_or(Error::InvalidCiphertext)?;
        Self::usable(&k)?;
        Self::symmetric_encrypt_decrypt(&k, req.encryption_algorithm.as_deref())?;
        let aes = k
            .material(&header.material_id)
            .ok_or(Error::InvalidCiphertext)?;
        let plaintext = ciphertext::open(aes, &blob, &req.encryption_context.unwrap_or_default())?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        Ok(DecryptResponse {
            key_id: k.arn.clone(),
            plaintext: Some(plaintext),
            encryption_algorithm: EncryptionAlgorithm::SymmetricDefault.as_str().to_string(),
            key_material_id: header.material_id_hex(),
        })
    }
}

impl CredentialResolver for Kms {
    fn resolve(&self, access_key_id: &str, session_token: Option<&str>) -> Option<Arc<Credential>> {
        if session_token.is_some() {
            // Temporary credentials arrive with roles (STS); none exist yet.
            return None;
        }
        self.creds.read().ok()?.get(access_key_id).cloned()
    }
}
