//! The operator API: users and access keys.

use std::sync::Arc;

use super::{Kms, NewCredentials, RequestContext};
use crate::crypto::SecretString;
use crate::error::{Error, Result};
use crate::identity::{self, Credential, Principal};
use crate::ids;
use crate::model::*;
use crate::types::*;

impl Kms {
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

    pub(super) async fn new_user(&self, account: &str, name: &str, admin: bool) -> Result<UserRecord> {
        let user = UserRecord {
            account: account.to_string(),
            name: name.to_string(),
            user_id: identity::new_user_id()?,
            created_ms: self.clock.now_ms(),
            admin,
            policies: Default::default(),
            tags: vec![],
        };
        self.store.put_user(&user).await?;
        Ok(user)
    }

    pub(super) async fn new_access_key(
        &self,
        user: &UserRecord,
        fixed: Option<(&str, &str)>,
    ) -> Result<AccessKeyOutput> {
        let (id, secret) = match fixed {
            Some((id, secret)) => (id.to_string(), SecretString::new(secret.to_string())),
            None => (identity::new_access_key_id()?, identity::new_secret_access_key()?),
        };
        let rec = AccessKeyRecord {
            access_key_id: id.clone(),
            account: user.account.clone(),
            user_name: user.name.clone(),
            sealed_secret: self.shared.root.seal(&AccessKeyRecord::secret_binding(&id), secret.expose().as_bytes())?,
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
        self.shared
            .creds
            .write()
            .map_err(super::poisoned)?
            .insert(id.clone(), Arc::new(Credential { access_key_id: id, secret, principal }));
        Ok(out)
    }

    pub(super) fn require_admin(&self, ctx: &RequestContext, op: &str) -> Result<()> {
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
            .pattern("userName", name.as_deref(), identity::is_user_name, "[\\w+=,.@-]+")
            .pattern("accountId", account.as_deref(), ids::is_account_id, "^[0-9]{12}$");
        v.finish()?;
        let account = account.clone().unwrap_or_else(|| ctx.principal.account.clone());
        Ok((account, name.clone().unwrap_or_default()))
    }

    pub async fn create_user(&self, ctx: &RequestContext, req: CreateUserRequest) -> Result<AccessKeyOutput> {
        self.require_admin(ctx, "CreateUser")?;
        let (account, name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let _w = self.shared.identity_lock.lock().await;
        if self.store.get_user(&account, &name).await?.is_some() {
            return Err(Error::AlreadyExists(format!("User with name {name} already exists.")));
        }
        let user = self.new_user(&account, &name, req.admin.unwrap_or(false)).await?;
        self.new_access_key(&user, None).await
    }

    pub async fn create_access_key(&self, ctx: &RequestContext, req: UserRef) -> Result<AccessKeyOutput> {
        self.require_admin(ctx, "CreateAccessKey")?;
        let (account, name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let _w = self.shared.identity_lock.lock().await;
        let user = self.get_user(&account, &name).await?;
        self.new_access_key(&user, None).await
    }

    async fn get_user(&self, account: &str, name: &str) -> Result<UserRecord> {
        self.store
            .get_user(account, name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("The user with name {name} cannot be found.")))
    }

    pub async fn list_users(&self, ctx: &RequestContext, req: ListUsersRequest) -> Result<ListUsersResponse> {
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
        let _w = self.shared.identity_lock.lock().await;
        self.get_user(&account, &name).await?;
        self.store.delete_user(&account, &name).await?;
        self.shared
            .creds
            .write()
            .map_err(super::poisoned)?
            .retain(|_, c| !(c.principal.account == account && c.principal.user_name == name));
        Ok(Empty {})
    }

    pub async fn delete_access_key(&self, ctx: &RequestContext, req: DeleteAccessKeyRequest) -> Result<Empty> {
        self.require_admin(ctx, "DeleteAccessKey")?;
        let mut v = crate::validate::Validator::default();
        v.required("accessKeyId", &req.access_key_id);
        v.finish()?;
        let id = req.access_key_id.unwrap_or_default();
        let _w = self.shared.identity_lock.lock().await;
        let removed = self.shared.creds.write().map_err(super::poisoned)?.remove(&id);
        if removed.is_none() {
            return Err(Error::NotFound(format!("The Access Key with id {id} cannot be found.")));
        }
        self.store.delete_access_key(&id).await?;
        Ok(Empty {})
    }

    /// Move the service clock forward (`--dev` only), then run the
    /// background job, so that what became due (deletions, rotations,
    /// expiries) has happened when this returns.
    pub async fn advance_clock(&self, ctx: &RequestContext, req: AdvanceClockRequest) -> Result<AdvanceClockResponse> {
        self.require_admin(ctx, "AdvanceClock")?;
        let mut v = crate::validate::Validator::default();
        v.required("seconds", &req.seconds).range("seconds", req.seconds, 1, 100 * 365 * 86400);
        v.finish()?;
        if !self.clock.advance(req.seconds.unwrap_or(0) * 1000) {
            return Err(Error::UnsupportedOperation(
                "The service clock can only be moved when the server runs with --dev.".into(),
            ));
        }
        self.regions()?.run_jobs().await?;
        Ok(AdvanceClockResponse { now: epoch_seconds(self.clock.now_ms()) })
    }

    /// The operator API of fault injection and reset, `--dev` only (like
    /// the clock).
    fn require_dev(&self, ctx: &RequestContext, op: &str) -> Result<()> {
        self.require_admin(ctx, op)?;
        if !self.clock.is_adjustable() {
            let what = if op == "Reset" { "The server can only be reset" } else { "Faults can only be injected" };
            return Err(Error::UnsupportedOperation(format!("{what} when the server runs with --dev.")));
        }
        Ok(())
    }

    pub async fn set_fault(&self, ctx: &RequestContext, req: SetFaultRequest) -> Result<SetFaultResponse> {
        self.require_dev(ctx, "SetFault")?;
        Ok(SetFaultResponse { fault_id: self.shared.faults.set(req)? })
    }

    pub async fn list_faults(&self, ctx: &RequestContext, _req: ListFaultsRequest) -> Result<ListFaultsResponse> {
        self.require_dev(ctx, "ListFaults")?;
        Ok(ListFaultsResponse { faults: self.shared.faults.list()? })
    }

    pub async fn clear_faults(&self, ctx: &RequestContext, req: ClearFaultsRequest) -> Result<Empty> {
        self.require_dev(ctx, "ClearFaults")?;
        self.shared.faults.clear(req.fault_id.as_deref())?;
        Ok(Empty {})
    }

    /// `kms backup`: a snapshot of the whole store (one read transaction)
    /// as a backup file, its records as sealed as they are stored.
    pub async fn backup(&self, ctx: &RequestContext, _req: BackupRequest) -> Result<crate::backup::BackupFile> {
        self.require_admin(ctx, "Backup")?;
        // Last-usage times kept in memory go in too.
        self.regions()?.flush_usage().await?;
        let snapshot = self.store.snapshot().await?;
        crate::backup::BackupFile::make(&snapshot, &self.shared.root, self.clock.now_ms())
    }

    /// `kms admin reset` (`--dev` only): back to the seeded state.
    pub async fn reset(&self, ctx: &RequestContext, _req: ResetRequest) -> Result<Empty> {
        self.require_dev(ctx, "Reset")?;
        self.regions()?.reset().await?;
        Ok(Empty {})
    }

    pub(super) fn policy_name(name: &Option<String>) -> Result<String> {
        let mut v = crate::validate::Validator::default();
        v.required("policyName", name).str_len("policyName", name.as_deref(), 1, 128).pattern(
            "policyName",
            name.as_deref(),
            |s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)),
            "[\\w+=,.@-]+",
        );
        v.finish()?;
        Ok(name.clone().unwrap_or_default())
    }

    /// Change a user record, then rebuild the credential cache so that the
    /// change applies to the very next request.
    async fn update_user(
        &self,
        ctx: &RequestContext,
        user_name: &Option<String>,
        account: &Option<String>,
        f: impl FnOnce(&mut UserRecord) -> Result<()>,
    ) -> Result<UserRecord> {
        let (account, name) = self.user_ref(ctx, user_name, account)?;
        let _w = self.shared.identity_lock.lock().await;
        let mut user = self.get_user(&account, &name).await?;
        f(&mut user)?;
        self.store.put_user(&user).await?;
        self.reload_credentials().await?;
        Ok(user)
    }

    pub async fn put_user_policy(&self, ctx: &RequestContext, req: UserPolicyRequest) -> Result<Empty> {
        self.require_admin(ctx, "PutUserPolicy")?;
        let name = Self::policy_name(&req.policy_name)?;
        let mut v = crate::validate::Validator::default();
        v.required("policyDocument", &req.policy_document).str_len(
            "policyDocument",
            req.policy_document.as_deref(),
            1,
            131072,
        );
        v.finish()?;
        let doc = req.policy_document.unwrap_or_default();
        kms_policy::Policy::parse(&doc, kms_policy::PolicyKind::Identity)
            .map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        self.update_user(ctx, &req.user_name, &req.account_id, |u| {
            u.policies.insert(name, doc);
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub async fn get_user_policy(&self, ctx: &RequestContext, req: UserPolicyRequest) -> Result<UserPolicyResponse> {
        self.require_admin(ctx, "GetUserPolicy")?;
        let name = Self::policy_name(&req.policy_name)?;
        let (account, user_name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let user = self.get_user(&account, &user_name).await?;
        let doc = user
            .policies
            .get(&name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("The user policy with name {name} cannot be found.")))?;
        Ok(UserPolicyResponse { user_name, policy_name: name, policy_document: doc })
    }

    pub async fn delete_user_policy(&self, ctx: &RequestContext, req: UserPolicyRequest) -> Result<Empty> {
        self.require_admin(ctx, "DeleteUserPolicy")?;
        let name = Self::policy_name(&req.policy_name)?;
        self.update_user(ctx, &req.user_name, &req.account_id, |u| {
            u.policies
                .remove(&name)
                .map(|_| ())
                .ok_or_else(|| Error::NotFound(format!("The user policy with name {name} cannot be found.")))
        })
        .await?;
        Ok(Empty {})
    }

    pub async fn list_user_policies(&self, ctx: &RequestContext, req: UserRef) -> Result<ListUserPoliciesResponse> {
        self.require_admin(ctx, "ListUserPolicies")?;
        let (account, name) = self.user_ref(ctx, &req.user_name, &req.account_id)?;
        let user = self.get_user(&account, &name).await?;
        Ok(ListUserPoliciesResponse { policy_names: user.policies.keys().cloned().collect() })
    }

    pub async fn tag_user(&self, ctx: &RequestContext, req: TagUserRequest) -> Result<Empty> {
        self.require_admin(ctx, "TagUser")?;
        let tags = req.tags.unwrap_or_default();
        self.update_user(ctx, &req.user_name, &req.account_id, |u| {
            for t in tags {
                let (k, v) = (t.tag_key.unwrap_or_default(), t.tag_value.unwrap_or_default());
                match u.tags.iter_mut().find(|(ek, _)| *ek == k) {
                    Some(slot) => slot.1 = v,
                    None => u.tags.push((k, v)),
                }
            }
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }
}
