//! Roles and STS: `AssumeRole` issues temporary credentials (an `ASIA...`
//! access key, a secret and a session token, with an expiry) for a role
//! whose trust policy lets the caller assume it; `GetCallerIdentity`. The
//! operator API manages roles and their inline policies.
//!
//! A session token carries the session sealed under the root key
//! ([`SessionClaims`]), so that every server sharing the store and root key
//! accepts it (several nodes on one database), not only the one that made
//! it; a role deleted on any of them ends its sessions on all.

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

/// What a session token seals (under the root key, bound to the session's
/// access key id).
#[derive(serde::Serialize, serde::Deserialize)]
struct SessionClaims {
    secret: String,
    account: String,
    role: String,
    session: String,
    expires_ms: i64,
    /// The store's session epoch when it was made ([`SESSION_EPOCH`]):
    /// `kms admin reset` changes it, ending every session.
    epoch: String,
}

/// The store's metadata entry naming the present session epoch.
pub(super) const SESSION_EPOCH: &str = "sts-session-epoch";

/// Session tokens start as AWS's do.
const TOKEN_PREFIX: &str = "FwoGZXIvYXdzE";

fn session_binding(access_key_id: &str) -> String {
    format!("sts-session/{access_key_id}")
}

impl super::Shared {
    /// A session token for `claims`.
    fn seal_session(&self, access_key_id: &str, claims: &SessionClaims) -> Result<SecretString> {
        use base64::Engine as _;
        let json = crate::crypto::SecretBytes::new(serde_json::to_vec(claims).map_err(Error::internal)?);
        let sealed = self.root.seal(&session_binding(access_key_id), json.expose())?;
        Ok(SecretString::new(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(sealed))))
    }

    /// The session a token made by any server sharing the root key carries
    /// (`UnrecognizedClient` when it opens to none, or its role is gone;
    /// `ExpiredToken` after its expiry), remembered for its next call.
    pub(super) fn session_of_token(
        &self,
        now_ms: i64,
        access_key_id: &str,
        token: &str,
        partition: &str,
    ) -> Result<Arc<Credential>> {
        use base64::Engine as _;
        let sealed = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .ok_or(Error::UnrecognizedClient)?;
        let json = self.root.open(&session_binding(access_key_id), &sealed).map_err(|_| Error::UnrecognizedClient)?;
        let claims: SessionClaims = serde_json::from_slice(json.expose()).map_err(|_| Error::UnrecognizedClient)?;
        if claims.epoch != *self.session_epoch.read().map_err(poisoned)? {
            return Err(Error::UnrecognizedClient);
        }
        if claims.expires_ms <= now_ms {
            return Err(Error::ExpiredToken);
        }
        let role = self
            .roles
            .read()
            .map_err(poisoned)?
            .get(&(claims.account.clone(), claims.role.clone()))
            .cloned()
            .ok_or(Error::UnrecognizedClient)?;
        let credential = Arc::new(Credential {
            access_key_id: access_key_id.to_string(),
            secret: SecretString::new(claims.secret),
            principal: Arc::new(Principal::from_role_session(&role, &claims.session, partition)),
        });
        let mut sessions = self.sessions.write().map_err(poisoned)?;
        sessions.retain(|_, s| s.expires_ms > now_ms);
        sessions.insert(
            access_key_id.to_string(),
            Session {
                credential: credential.clone(),
                token: SecretString::new(token.to_string()),
                expires_ms: claims.expires_ms,
                role: (claims.account, claims.role),
            },
        );
        Ok(credential)
    }

    /// After the roles were read again: every live session's principal
    /// from its role as it is now, and the sessions of deleted roles ended.
    pub(super) fn refresh_all_sessions(&self, partition: &str) -> Result<()> {
        let roles = self.roles.read().map_err(poisoned)?;
        let mut sessions = self.sessions.write().map_err(poisoned)?;
        sessions.retain(|_, s| roles.contains_key(&s.role));
        for s in sessions.values_mut() {
            if let Some(role) = roles.get(&s.role) {
                s.credential = Arc::new(Credential {
                    access_key_id: s.credential.access_key_id.clone(),
                    secret: s.credential.secret.clone(),
                    principal: Arc::new(Principal::from_role_session(
                        role,
                        &s.credential.principal.user_name,
                        partition,
                    )),
                });
            }
        }
        Ok(())
    }
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
        let expires_ms = self.clock.now_ms() + duration * 1000;
        let claims = SessionClaims {
            secret: secret.expose().to_string(),
            account: account.clone(),
            role: name.clone(),
            session: session.clone(),
            expires_ms,
            epoch: self.shared.session_epoch.read().map_err(poisoned)?.clone(),
        };
        let token = self.shared.seal_session(&access_key_id, &claims)?;
        let principal = Arc::new(Principal::from_role_session(&role, &session, &self.loc.partition));
        let out = AssumeRoleOutput {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret.clone(),
            session_token: token.clone(),
            expiration_ms: expires_ms,
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
        self.reload_credentials().await?;
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
        // Its sessions end with it.
        self.reload_credentials().await?;
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
        self.reload_credentials().await?;
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
