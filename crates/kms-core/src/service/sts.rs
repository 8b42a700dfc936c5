//! Roles and STS: `AssumeRole` issues temporary credentials (an `ASIA...`
//! access key, a secret and a session token, with an expiry) for a role
//! whose trust policy lets the caller assume it; `GetCallerIdentity`. The
//! operator API manages roles and their inline policies.

use std::sync::Arc;

use kms_policy::{ConditionContext, Policy, PolicyKind, RequestContext as PolicyRequest};

use super::{poisoned, Kms, RequestContext};
use crate::crypto::SecretString;
use crate::error::{Error, Result};
use crate::identity::{self, Credential, Principal};
use crate::model::*;
use crate::types::*;
use crate::validate::Validator;

/// A live assumed-role session.
pub(super) struct Session {
    pub credential: Arc<Credential>,
    pub token: SecretString,
    pub expires_ms: i64,
    /// (account, role name), to refresh the principal when the role changes.
    role: (String, String),
}

/// What `AssumeRole` asks for.
#[derive(Debug, Default)]
pub struct AssumeRoleInput {
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub duration_seconds: Option<i64>,
}

/// Temporary credentials. The secret and token are shown once, here.
pub struct AssumeRoleOutput {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: SecretString,
    pub expiration_ms: i64,
    pub assumed_role_id: String,
    pub arn: String,
}

pub const DEFAULT_SESSION_SECS: i64 = 3600;
const MIN_SESSION_SECS: i64 = 900;
const MAX_SESSION_SECS: i64 = 43200;

fn is_session_name(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

impl Kms {
    pub async fn assume_role(&self, ctx: &RequestContext, input: AssumeRoleInput) -> Result<AssumeRoleOutput> {
        let mut v = Validator::default();
        v.required("roleArn", &input.role_arn)
            .str_len("roleArn", input.role_arn.as_deref(), 20, 2048)
            .required("roleSessionName", &input.role_session_name)
            .str_len("roleSessionName", input.role_session_name.as_deref(), 2, 64)
            .pattern("roleSessionName", input.role_session_name.as_deref(), is_session_name, "[\\w+=,.@-]*")
            .range("durationSeconds", input.duration_seconds, MIN_SESSION_SECS, MAX_SESSION_SECS);
        v.finish()?;
        let role_arn = input.role_arn.unwrap_or_default();
        let session = input.role_session_name.unwrap_or_default();
        let denied = || {
            Error::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                ctx.principal.arn
            ))
        };
        // arn:aws:iam::<account>:role/<name>
        let parsed = role_arn
            .strip_prefix(&format!("arn:{}:iam::", self.loc.partition))
            .and_then(|r| r.split_once(":role/"))
            .map(|(a, n)| (a.to_string(), n.rsplit('/').next().unwrap_or(n).to_string()));
        let Some((account, name)) = parsed else {
            return Err(Error::Validation(format!("{role_arn} is invalid")));
        };
        let role = self.store.get_role(&account, &name).await?.ok_or_else(denied)?;
        let trust = Policy::parse_trust(&role.trust_policy).map_err(|_| denied())?;
        let conditions = ConditionContext::new();
        let req = PolicyRequest {
            principal: &ctx.principal.policy_principal,
            action: "sts:AssumeRole",
            resource: &role_arn,
            conditions: &conditions,
        };
        let identity: Vec<(String, &Policy)> =
            ctx.principal.policies.iter().map(|(l, p)| (l.clone(), p.as_ref())).collect();
        let decision = kms_policy::authorize(&trust, &identity, &req);
        if let Ok(mut f) = ctx.facts.lock() {
            f.decision = Some(format!("{decision:?}"));
        }
        if !decision.is_allowed() {
            return Err(denied());
        }
        let duration = input.duration_seconds.unwrap_or(DEFAULT_SESSION_SECS);
        if duration > role.max_session_secs {
            return Err(Error::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
            ));
        }
        let access_key_id = identity::new_session_access_key_id()?;
        let secret = identity::new_secret_access_key()?;
        let token = identity::new_session_token()?;
        let principal = Arc::new(Principal::from_role_session(&role, &session, &self.loc.partition));
        let out = AssumeRoleOutput {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret.clone(),
            session_token: token.clone(),
            expiration_ms: self.clock.now_ms() + duration * 1000,
            assumed_role_id: principal.user_id.clone(),
            arn: principal.arn.clone(),
        };
        let credential = Arc::new(Credential { access_key_id: access_key_id.clone(), secret, principal });
        let mut sessions = self.shared.sessions.write().map_err(poisoned)?;
        let now = self.clock.now_ms();
        sessions.retain(|_, s| s.expires_ms > now);
        sessions
            .insert(access_key_id, Session { credential, token, expires_ms: out.expiration_ms, role: (account, name) });
        Ok(out)
    }

    /// `GetCallerIdentity`: (ARN, user id, account) of the caller.
    pub fn get_caller_identity(&self, ctx: &RequestContext) -> (String, String, String) {
        let p = &ctx.principal;
        (p.arn.clone(), p.user_id.clone(), p.account.clone())
    }

    /// Rebuild the principals of a role's live sessions after the role changed.
    fn refresh_sessions(&self, role: &RoleRecord) -> Result<()> {
        let mut sessions = self.shared.sessions.write().map_err(poisoned)?;
        for s in sessions.values_mut() {
            if s.role == (role.account.clone(), role.name.clone()) {
                let principal = Arc::new(Principal::from_role_session(
                    role,
                    &s.credential.principal.user_name,
                    &self.loc.partition,
                ));
                s.credential = Arc::new(Credential {
                    access_key_id: s.credential.access_key_id.clone(),
                    secret: s.credential.secret.clone(),
                    principal,
                });
            }
        }
        Ok(())
    }

    fn role_output(&self, r: &RoleRecord) -> RoleOutput {
        RoleOutput {
            role_name: r.name.clone(),
            account_id: r.account.clone(),
            role_id: r.role_id.clone(),
            arn: r.arn(&self.loc.partition),
            create_date: epoch_seconds(r.created_ms),
            assume_role_policy_document: r.trust_policy.clone(),
            max_session_duration: r.max_session_secs,
            policy_names: r.policies.keys().cloned().collect(),
        }
    }

    fn role_ref(&self, ctx: &RequestContext, req: &RoleRequest) -> Result<(String, String)> {
        let mut v = Validator::default();
        v.required("roleName", &req.role_name)
            .pattern("roleName", req.role_name.as_deref(), is_role_name, "[\\w+=,.@-]+")
            .pattern("accountId", req.account_id.as_deref(), crate::ids::is_account_id, "^[0-9]{12}$");
        v.finish()?;
        Ok((
            req.account_id.clone().unwrap_or_else(|| ctx.principal.account.clone()),
            req.role_name.clone().unwrap_or_default(),
        ))
    }

    async fn get_role(&self, account: &str, name: &str) -> Result<RoleRecord> {
        self.store
            .get_role(account, name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("The role with name {name} cannot be found.")))
    }

    pub async fn create_role(&self, ctx: &RequestContext, req: RoleRequest) -> Result<RoleOutput> {
        self.require_admin(ctx, "CreateRole")?;
        let (account, name) = self.role_ref(ctx, &req)?;
        let mut v = Validator::default();
        v.required("assumeRolePolicyDocument", &req.assume_role_policy_document).range(
            "maxSessionDuration",
            req.max_session_duration,
            DEFAULT_SESSION_SECS,
            MAX_SESSION_SECS,
        );
        v.finish()?;
        let trust = req.assume_role_policy_document.clone().unwrap_or_default();
        Policy::parse_trust(&trust).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        let _w = self.shared.identity_lock.lock().await;
        if self.store.get_role(&account, &name).await?.is_some() {
            return Err(Error::AlreadyExists(format!("Role with name {name} already exists.")));
        }
        let role = RoleRecord {
            account,
            name,
            role_id: identity::new_role_id()?,
            created_ms: self.clock.now_ms(),
            trust_policy: trust,
            policies: Default::default(),
            tags: req
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.tag_key.unwrap_or_default(), t.tag_value.unwrap_or_default()))
                .collect(),
            max_session_secs: req.max_session_duration.unwrap_or(DEFAULT_SESSION_SECS),
        };
        self.store.put_role(&role).await?;
        Ok(self.role_output(&role))
    }

    pub async fn list_roles(&self, ctx: &RequestContext, req: ListUsersRequest) -> Result<ListRolesResponse> {
        self.require_admin(ctx, "ListRoles")?;
        let roles = self.store.list_roles(req.account_id.as_deref()).await?;
        Ok(ListRolesResponse { roles: roles.iter().map(|r| self.role_output(r)).collect() })
    }

    pub async fn delete_role(&self, ctx: &RequestContext, req: RoleRequest) -> Result<Empty> {
        self.require_admin(ctx, "DeleteRole")?;
        let (account, name) = self.role_ref(ctx, &req)?;
        let _w = self.shared.identity_lock.lock().await;
        self.get_role(&account, &name).await?;
        self.store.delete_role(&account, &name).await?;
        self.shared.sessions.write().map_err(poisoned)?.retain(|_, s| s.role != (account.clone(), name.clone()));
        Ok(Empty {})
    }

    /// Change a role, then refresh its live sessions.
    async fn update_role(
        &self,
        ctx: &RequestContext,
        req: &RoleRequest,
        f: impl FnOnce(&mut RoleRecord) -> Result<()>,
    ) -> Result<Empty> {
        let (account, name) = self.role_ref(ctx, req)?;
        let _w = self.shared.identity_lock.lock().await;
        let mut role = self.get_role(&account, &name).await?;
        f(&mut role)?;
        self.store.put_role(&role).await?;
        self.refresh_sessions(&role)?;
        Ok(Empty {})
    }

    pub async fn put_role_policy(&self, ctx: &RequestContext, req: RoleRequest) -> Result<Empty> {
        self.require_admin(ctx, "PutRolePolicy")?;
        let name = Self::policy_name(&req.policy_name)?;
        let mut v = Validator::default();
        v.required("policyDocument", &req.policy_document);
        v.finish()?;
        let doc = req.policy_document.clone().unwrap_or_default();
        Policy::parse(&doc, PolicyKind::Identity).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        self.update_role(ctx, &req, |r| {
            r.policies.insert(name, doc);
            Ok(())
        })
        .await
    }

    pub async fn delete_role_policy(&self, ctx: &RequestContext, req: RoleRequest) -> Result<Empty> {
        self.require_admin(ctx, "DeleteRolePolicy")?;
        let name = Self::policy_name(&req.policy_name)?;
        self.update_role(ctx, &req, |r| {
            r.policies
                .remove(&name)
                .map(|_| ())
                .ok_or_else(|| Error::NotFound(format!("The role policy with name {name} cannot be found.")))
        })
        .await
    }

    pub async fn update_assume_role_policy(&self, ctx: &RequestContext, req: RoleRequest) -> Result<Empty> {
        self.require_admin(ctx, "UpdateAssumeRolePolicy")?;
        let mut v = Validator::default();
        v.required("assumeRolePolicyDocument", &req.assume_role_policy_document);
        v.finish()?;
        let trust = req.assume_role_policy_document.clone().unwrap_or_default();
        Policy::parse_trust(&trust).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        self.update_role(ctx, &req, |r| {
            r.trust_policy = trust;
            Ok(())
        })
        .await
    }
}
