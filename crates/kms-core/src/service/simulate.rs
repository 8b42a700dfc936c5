//! The policy simulator (beyond AWS): would this principal be allowed this
//! action on this key with this context, and which statement or grant
//! decides? Runs the same authorization as a real call, without the call.

use std::sync::Arc;

use super::{Access, Aliases, Kms, RequestContext};
use crate::error::{Error, Result};
use crate::identity::Principal;
use crate::model::*;
use crate::validate::Validator;

impl Kms {
    /// The principal an ARN names: a user, a role (as a session named
    /// `simulation`) or an assumed-role session.
    async fn principal_for_arn(&self, arn: &str) -> Result<Principal> {
        let unknown = || Error::NotFound(format!("No principal {arn} exists."));
        let rest = arn.strip_prefix(&format!("arn:{}:", self.loc.partition)).ok_or_else(unknown)?;
        let (service, rest) = rest.split_once("::").ok_or_else(unknown)?;
        let (account, resource) = rest.split_once(':').ok_or_else(unknown)?;
        match (service, resource.split_once('/')) {
            ("iam", Some(("user", name))) => {
                let u = self.store.get_user(account, name).await?.ok_or_else(unknown)?;
                Ok(Principal::from_user(&u, &self.loc.partition))
            }
            ("iam", Some(("role", name))) => {
                let r = self.store.get_role(account, name).await?.ok_or_else(unknown)?;
                Ok(Principal::from_role_session(&r, "simulation", &self.loc.partition))
            }
            ("sts", Some(("assumed-role", rs))) => {
                let (role, session) = rs.split_once('/').ok_or_else(unknown)?;
                let r = self.store.get_role(account, role).await?.ok_or_else(unknown)?;
                Ok(Principal::from_role_session(&r, session, &self.loc.partition))
            }
            _ => Err(unknown()),
        }
    }

    pub async fn simulate(&self, ctx: &RequestContext, req: SimulateRequest) -> Result<SimulateResponse> {
        self.require_admin(ctx, "Simulate")?;
        let mut v = Validator::default();
        v.required("principalArn", &req.principal_arn).required("action", &req.action);
        v.finish()?;
        let principal = self.principal_for_arn(req.principal_arn.as_deref().unwrap_or_default()).await?;
        let sim = RequestContext::new(ctx.request_id.clone(), Arc::new(principal), "simulation".into())
            .from_connection(ctx.source_ip, ctx.secure_transport);
        let action = req.action.unwrap_or_default();
        let ec = req.encryption_context.unwrap_or_default();
        let mut access = Access::new(&action);
        if !ec.is_empty() {
            access = access.context(&ec);
        }
        for (k, vals) in req.context.unwrap_or_default() {
            access = access.with(&k, vals);
        }
        let result = match req.key_id.as_deref() {
            Some(key) => {
                let k = self.resolve_as(&sim, key, Aliases::Allowed, None).await?;
                self.authorize(&sim, &k, &access)
            }
            None => self.authorize_identity(&sim, &access),
        };
        let decided_by = sim.facts().decision;
        match result {
            Ok(()) => Ok(SimulateResponse { allowed: true, decided_by, message: None }),
            Err(Error::AccessDenied(m)) => Ok(SimulateResponse { allowed: false, decided_by, message: Some(m) }),
            Err(e) => Err(e),
        }
    }
}
