//! Seeds (docs/SEEDS.md): users, roles and keys a server creates at start
//! when they are not there yet, through the service's own operations (so
//! that every value is checked as the API checks it), run as an
//! administrator of each account. A seed only creates: what exists already
//! is left as it is, provided it is the same object (a key of the same
//! account, spec, usage, origin and, when the seed fixes it, material; an
//! alias on the same key; an access key of the same user with the same
//! secret); anything else is a conflict, found before anything is written.
//! A seed that fails while it is applied is rolled back with the store's
//! checkpoint, so that nothing of it is half-applied.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::keys::FixedKey;
use super::{Kms, Regions, RequestContext};
use crate::crypto::{SecretBytes, SecretString};
use crate::error::{Error, Result};
use crate::identity::Principal;
use crate::model::*;
use crate::types::*;
use crate::validate::Validate;

/// What a seed creates.
#[derive(Debug, Default)]
pub struct Seed {
    pub users: Vec<SeedUser>,
    pub roles: Vec<SeedRole>,
    pub keys: Vec<SeedKey>,
}

#[derive(Debug)]
pub struct SeedUser {
    pub account: String,
    pub name: String,
    pub admin: bool,
    /// Inline identity policies, by name.
    pub policies: Vec<(String, String)>,
    pub tags: Vec<Tag>,
    /// Access key ids and their secrets.
    pub access_keys: Vec<(String, SecretString)>,
}

#[derive(Debug)]
pub struct SeedRole {
    pub account: String,
    pub name: String,
    pub trust_policy: String,
    pub max_session_duration: Option<i64>,
    pub policies: Vec<(String, String)>,
    pub tags: Vec<Tag>,
}

#[derive(Debug)]
pub struct SeedKey {
    /// `None`: the server's default region.
    pub region: Option<String>,
    pub account: String,
    pub key_id: String,
    /// CreateKey's members (its `Policy` is applied last, see `policy`).
    pub create: CreateKeyRequest,
    /// The key policy, set once everything else is (so that a policy that
    /// does not let the account's administrators in still seeds).
    pub policy: Option<String>,
    pub aliases: Vec<String>,
    pub enabled: bool,
    /// Automatic rotation with this period (days).
    pub rotation_period_days: Option<i32>,
    pub material: Option<SeedMaterial>,
    /// CreateGrant requests (`KeyId` is the key's); each has a `Name`,
    /// which is how a grant is known again.
    pub grants: Vec<CreateGrantRequest>,
}

/// Fixed key material.
#[derive(Debug)]
pub enum SeedMaterial {
    /// The bytes: 32 for SYMMETRIC_DEFAULT, the HMAC key for HMAC specs,
    /// DER PKCS#8 for RSA, ECC, Ed25519 and SM2.
    Bytes(SecretBytes),
    /// Derived from this string ([`crate::crypto::derive_seed_material`]):
    /// SYMMETRIC_DEFAULT and HMAC specs.
    Derived(SecretString),
}

/// The entry of a seed a failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedEntry {
    User(usize),
    Role(usize),
    Key(usize),
}

/// Why a seed was refused; `entry` is `None` for the store itself.
#[derive(Debug)]
pub struct SeedError {
    pub entry: Option<SeedEntry>,
    pub problem: SeedProblem,
}

#[derive(Debug)]
pub enum SeedProblem {
    /// What the operation that applies the entry answered.
    Service(Error),
    /// The entry names an object that exists and is another.
    Conflict(String),
    /// The entry cannot be applied (named twice, an unserved region).
    Invalid(String),
}

/// What a seed did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedOutcome {
    /// Users, roles, access keys, keys, aliases and grants created.
    pub created: usize,
    /// Entries that were there already.
    pub kept: usize,
}

fn fail(entry: SeedEntry) -> impl Fn(Error) -> SeedError {
    move |e| SeedError { entry: Some(entry), problem: SeedProblem::Service(e) }
}

fn conflict(entry: SeedEntry, message: String) -> SeedError {
    SeedError { entry: Some(entry), problem: SeedProblem::Conflict(message) }
}

fn invalid(entry: SeedEntry, message: String) -> SeedError {
    SeedError { entry: Some(entry), problem: SeedProblem::Invalid(message) }
}

fn store_error(e: Error) -> SeedError {
    SeedError { entry: None, problem: SeedProblem::Service(e) }
}

/// An administrator of `account` that no store holds: the seed's caller.
fn seeder(account: &str, partition: &str) -> RequestContext {
    let user = UserRecord {
        account: account.to_string(),
        name: "kms-seed".into(),
        user_id: String::new(),
        created_ms: 0,
        admin: true,
        policies: Default::default(),
        tags: vec![],
    };
    RequestContext::new("seed".into(), Arc::new(Principal::from_user(&user, partition)), String::new())
}

/// What applying one key entry must do.
struct KeyPlan {
    kms: Arc<Kms>,
    exists: bool,
    aliases: Vec<String>,
    grants: Vec<usize>,
    material: Option<kms_crypto::KeyPair>,
}

impl Regions {
    /// Apply `seed`: check it against the store, then create what is
    /// missing; on a failure, return the store to where it was.
    pub async fn seed(&self, seed: &Seed) -> std::result::Result<SeedOutcome, SeedError> {
        let mut out = SeedOutcome::default();
        let plans = self.plan(seed, &mut out).await?;
        if plans.iter().all(|p| p.exists && p.aliases.is_empty() && p.grants.is_empty())
            && self.identities_present(seed).await.map_err(store_error)?
        {
            // A restart with a seed applied before: no checkpoint (which
            // may cost a copy of the store in some backends).
            out.kept += seed.roles.len() + seed.users.iter().map(|u| 1 + u.access_keys.len()).sum::<usize>();
            return Ok(out);
        }
        self.store.checkpoint().await.map_err(store_error)?;
        let applied = self.apply(seed, plans, &mut out).await;
        let undone = match &applied {
            Err(_) => self.store.rollback().await,
            Ok(()) => Ok(()),
        };
        self.store.drop_checkpoint().await.map_err(store_error)?;
        undone.map_err(store_error)?;
        applied?;
        Ok(out)
    }

    /// Whether every seeded user, access key and role exists.
    async fn identities_present(&self, seed: &Seed) -> Result<bool> {
        for u in &seed.users {
            let known = {
                let creds = self.shared.creds.read().map_err(super::poisoned)?;
                u.access_keys.iter().all(|(id, _)| creds.contains_key(id))
            };
            if !known || self.store.get_user(&u.account, &u.name).await?.is_none() {
                return Ok(false);
            }
        }
        for r in &seed.roles {
            if self.store.get_role(&r.account, &r.name).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Find conflicts and what is there already (no writes).
    async fn plan(&self, seed: &Seed, out: &mut SeedOutcome) -> std::result::Result<Vec<KeyPlan>, SeedError> {
        let mut access_keys = BTreeSet::new();
        for (i, u) in seed.users.iter().enumerate() {
            let entry = SeedEntry::User(i);
            for (id, secret) in &u.access_keys {
                if !access_keys.insert(id.as_str()) {
                    return Err(invalid(entry, format!("access key {id} is seeded twice")));
                }
                let known = self.shared.creds.read().map_err(super::poisoned).map_err(fail(entry))?.get(id).cloned();
                if let Some(c) = known {
                    let p = &c.principal;
                    if p.account != u.account || p.user_name != u.name || !p.is_user() {
                        return Err(conflict(entry, format!("access key {id} belongs to {}", p.arn)));
                    }
                    if !crate::crypto::ct_eq(c.secret.expose().as_bytes(), secret.expose().as_bytes()) {
                        return Err(conflict(entry, format!("access key {id} has another secret")));
                    }
                }
            }
        }
        let mut plans = Vec::with_capacity(seed.keys.len());
        let mut seen = BTreeSet::new();
        for (i, k) in seed.keys.iter().enumerate() {
            let entry = SeedEntry::Key(i);
            let region = k.region.clone().unwrap_or_else(|| self.default_region.clone());
            let kms = self
                .get(&region)
                .await
                .map_err(fail(entry))?
                .ok_or_else(|| invalid(entry, format!("region {region} is not served by this server")))?;
            if !seen.insert((region.clone(), k.key_id.clone())) {
                return Err(invalid(entry, format!("key {} is seeded twice in {region}", k.key_id)));
            }
            let material = seed_material(k).map_err(fail(entry))?;
            let existing = kms.store.get_key(&k.key_id).await.map_err(fail(entry))?;
            let exists = existing.is_some();
            if let Some(r) = existing {
                kms.same_key(k, &r, material.as_ref()).map_err(|m| conflict(entry, m))?;
            }
            let mut aliases = vec![];
            for a in &k.aliases {
                if !seen.insert((region.clone(), format!("{}/{a}", k.account))) {
                    return Err(invalid(entry, format!("alias {a} is seeded twice in {region}")));
                }
                match kms.alias_target(&k.account, a).map_err(fail(entry))? {
                    Some(t) if t == k.key_id => out.kept += 1,
                    Some(t) => return Err(conflict(entry, format!("{a} is an alias of key {t}"))),
                    None => aliases.push(a.clone()),
                }
            }
            let existing_grants =
                if exists { kms.store.list_grants(&k.key_id).await.map_err(fail(entry))? } else { vec![] };
            let grants = (0..k.grants.len())
                .filter(|g| {
                    let named = existing_grants.iter().any(|e| e.name.is_some() && e.name == k.grants[*g].name);
                    out.kept += usize::from(named);
                    !named
                })
                .collect();
            out.kept += usize::from(exists);
            plans.push(KeyPlan { kms, exists, aliases, grants, material });
        }
        Ok(plans)
    }

    async fn apply(
        &self,
        seed: &Seed,
        plans: Vec<KeyPlan>,
        out: &mut SeedOutcome,
    ) -> std::result::Result<(), SeedError> {
        let home = self
            .get(&self.default_region)
            .await
            .map_err(store_error)?
            .ok_or_else(|| store_error(Error::internal("the default region is not open")))?;
        for (i, u) in seed.users.iter().enumerate() {
            out.created += home.seed_user(u, out).await.map_err(fail(SeedEntry::User(i)))?;
        }
        for (i, r) in seed.roles.iter().enumerate() {
            match home.seed_role(r).await.map_err(fail(SeedEntry::Role(i)))? {
                true => out.created += 1,
                false => out.kept += 1,
            }
        }
        for (i, (k, plan)) in seed.keys.iter().zip(plans).enumerate() {
            out.created += plan.kms.seed_key(k, &plan).await.map_err(fail(SeedEntry::Key(i)))?;
        }
        Ok(())
    }
}

/// The seed's material for `k`, checked against its spec.
fn seed_material(k: &SeedKey) -> Result<Option<kms_crypto::KeyPair>> {
    let Some(m) = &k.material else { return Ok(None) };
    let spec = match (&k.create.key_spec, &k.create.customer_master_key_spec) {
        (Some(s), _) | (None, Some(s)) => {
            KeySpec::parse(s).ok_or_else(|| Error::Validation(format!("'{s}' is not a key spec")))?
        }
        (None, None) => KeySpec::SymmetricDefault,
    };
    if k.create.origin.as_deref().is_some_and(|o| o != "AWS_KMS") {
        return Err(Error::Validation("Key material can be seeded for keys of origin AWS_KMS only.".into()));
    }
    let crypto = super::asymmetric::crypto_spec(spec);
    let raw_len = match crypto {
        None => Some(crate::crypto::AES256_KEY_LEN),
        Some(cs) => kms_crypto::hmac_key_len(cs),
    };
    let bytes = match (m, raw_len) {
        (SeedMaterial::Bytes(b), _) => SecretBytes::new(b.expose().to_vec()),
        (SeedMaterial::Derived(s), Some(len)) => crate::crypto::derive_seed_material(s.expose(), &k.key_id, len)?,
        (SeedMaterial::Derived(_), None) => {
            return Err(Error::Validation(format!(
            "Key material of {spec} keys cannot be derived from a string; give the private key (DER PKCS#8, base64)."
        )))
        }
    };
    match (raw_len, crypto) {
        (Some(len), _) if bytes.expose().len() != len => {
            Err(Error::Validation(format!("Key material of {spec} keys is {len} bytes, not {}.", bytes.expose().len())))
        }
        (Some(_), _) => Ok(Some(kms_crypto::KeyPair { private_key: bytes, public_key: None })),
        (None, Some(cs)) => kms_crypto::import_private_key(cs, bytes.expose())
            .map(Some)
            .map_err(|e| Error::Validation(format!("The key material is not a {spec} private key: {e}"))),
        (None, None) => Err(Error::internal("a spec without material")),
    }
}

impl Kms {
    /// Whether the stored key `r` is the one `k` seeds; else what differs.
    fn same_key(
        &self,
        k: &SeedKey,
        r: &KeyRecord,
        material: Option<&kms_crypto::KeyPair>,
    ) -> std::result::Result<(), String> {
        let id = &k.key_id;
        let spec = k.create.key_spec.as_deref().or(k.create.customer_master_key_spec.as_deref());
        let usage = k.create.key_usage.as_deref();
        let origin = k.create.origin.as_deref().unwrap_or("AWS_KMS");
        if r.account != k.account {
            return Err(format!("key {id} belongs to account {}", r.account));
        }
        if spec.unwrap_or("SYMMETRIC_DEFAULT") != r.key_spec.as_str() {
            return Err(format!("key {id} is a {} key", r.key_spec));
        }
        if usage.is_some_and(|u| u != r.key_usage.as_str()) {
            return Err(format!("key {id} has key usage {}", r.key_usage));
        }
        if origin != r.origin.as_str() {
            return Err(format!("key {id} has origin {}", r.origin));
        }
        let Some(m) = material else { return Ok(()) };
        let same = match (&m.public_key, r.materials.first()) {
            (Some(public), _) => r.public_key.as_ref() == Some(public),
            (None, Some(first)) => self
                .shared
                .root
                .open(&KeyRecord::material_binding(&r.key_id, &first.id), &first.sealed)
                .is_ok_and(|raw| raw == m.private_key),
            (None, None) => false,
        };
        if same {
            Ok(())
        } else {
            Err(format!("key {id} has other key material"))
        }
    }

    async fn seed_user(&self, u: &SeedUser, out: &mut SeedOutcome) -> Result<usize> {
        let ctx = seeder(&u.account, &self.loc.partition);
        let mut created = 0;
        let user = match self.store.get_user(&u.account, &u.name).await? {
            Some(user) => {
                out.kept += 1;
                user
            }
            None => {
                crate::identity::is_user_name(&u.name)
                    .then_some(())
                    .ok_or_else(|| Error::Validation(format!("'{}' is not a user name", u.name)))?;
                let user = self.new_user(&u.account, &u.name, u.admin).await?;
                let (name, account) = (Some(u.name.clone()), Some(u.account.clone()));
                for (policy_name, doc) in &u.policies {
                    let req = UserPolicyRequest {
                        user_name: name.clone(),
                        account_id: account.clone(),
                        policy_name: Some(policy_name.clone()),
                        policy_document: Some(doc.clone()),
                    };
                    self.put_user_policy(&ctx, req).await?;
                }
                if !u.tags.is_empty() {
                    let req = TagUserRequest { user_name: name, account_id: account, tags: Some(u.tags.clone()) };
                    self.tag_user(&ctx, req).await?;
                }
                created += 1;
                // As the policies and tags left it (the access keys'
                // principal is made from it).
                self.store.get_user(&u.account, &u.name).await?.unwrap_or(user)
            }
        };
        for (id, secret) in &u.access_keys {
            if self.shared.creds.read().map_err(super::poisoned)?.contains_key(id) {
                out.kept += 1;
                continue;
            }
            self.new_access_key(&user, Some((id, secret.expose()))).await?;
            created += 1;
        }
        Ok(created)
    }

    /// Whether it created the role.
    async fn seed_role(&self, r: &SeedRole) -> Result<bool> {
        let ctx = seeder(&r.account, &self.loc.partition);
        if self.store.get_role(&r.account, &r.name).await?.is_some() {
            return Ok(false);
        }
        let req = |policy: Option<&(String, String)>| RoleRequest {
            role_name: Some(r.name.clone()),
            account_id: Some(r.account.clone()),
            assume_role_policy_document: Some(r.trust_policy.clone()),
            max_session_duration: r.max_session_duration,
            policy_name: policy.map(|p| p.0.clone()),
            policy_document: policy.map(|p| p.1.clone()),
            tags: Some(r.tags.clone()),
        };
        self.create_role(&ctx, req(None)).await?;
        for p in &r.policies {
            self.put_role_policy(&ctx, req(Some(p))).await?;
        }
        Ok(true)
    }

    /// Create what `plan` found missing of `k`: the key, then its aliases,
    /// grants, rotation and state, then its policy.
    async fn seed_key(&self, k: &SeedKey, plan: &KeyPlan) -> Result<usize> {
        let ctx = seeder(&k.account, &self.loc.partition);
        let key_id = Some(k.key_id.clone());
        let mut created = 0;
        if !plan.exists {
            if !crate::ids::is_key_id(&k.key_id)
                || k.key_id.starts_with("mrk-") != (k.create.multi_region == Some(true))
            {
                return Err(Error::Validation(format!(
                    "'{}' is not a key id (a lowercase UUID, or mrk- and 32 hex digits for a multi-Region key)",
                    k.key_id
                )));
            }
            let mut req = CreateKeyRequest { policy: None, ..k.create.clone() };
            req.bypass_policy_lockout_safety_check = None;
            req.validate()?;
            let material = plan.material.as_ref().map(|m| kms_crypto::KeyPair {
                private_key: SecretBytes::new(m.private_key.expose().to_vec()),
                public_key: m.public_key.clone(),
            });
            self.create_key_as(&ctx, req, Some(FixedKey { key_id: k.key_id.clone(), material })).await?;
            created += 1;
        }
        for a in &plan.aliases {
            let req = CreateAliasRequest { alias_name: Some(a.clone()), target_key_id: key_id.clone() };
            req.validate()?;
            self.create_alias(&ctx, req).await?;
            created += 1;
        }
        for g in &plan.grants {
            let req = CreateGrantRequest { key_id: key_id.clone(), ..k.grants[*g].clone() };
            req.validate()?;
            self.create_grant(&ctx, req).await?;
            created += 1;
        }
        if plan.exists {
            return Ok(created);
        }
        if let Some(days) = k.rotation_period_days {
            let req = EnableKeyRotationRequest { key_id: key_id.clone(), rotation_period_in_days: Some(days) };
            req.validate()?;
            self.enable_key_rotation(&ctx, req).await?;
        }
        if !k.enabled {
            self.disable_key(&ctx, DisableKeyRequest { key_id: key_id.clone() }).await?;
        }
        if let Some(policy) = &k.policy {
            let req = PutKeyPolicyRequest {
                key_id,
                policy_name: Some("default".into()),
                policy: Some(policy.clone()),
                bypass_policy_lockout_safety_check: Some(true),
            };
            req.validate()?;
            self.put_key_policy(&ctx, req).await?;
        }
        Ok(created)
    }
}
