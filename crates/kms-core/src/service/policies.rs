//! Key policies, stored and validated: PutKeyPolicy, GetKeyPolicy,
//! ListKeyPolicies. (Evaluation arrives with authorization.)

use super::{Access, Aliases, Kms, RequestContext};
use crate::error::{Error, Result};
use crate::model::*;

/// The only policy name a key has.
pub const POLICY_NAME: &str = "default";
impl Kms {
    /// Validate a key policy and, unless bypassed, the lockout safety check:
    /// the policy must let the caller (or its account) call PutKeyPolicy.
    pub(super) fn check_policy(&self, ctx: &RequestContext, policy: &str, bypass: bool) -> Result<()> {
        let limit = self.shared.quotas.key_policy_bytes();
        if policy.len() > limit {
            return Err(Error::LimitExceeded(format!("The key policy exceeds the maximum size of {limit} bytes.")));
        }
        kms_policy::validate(policy).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        if !bypass {
            let p = &ctx.principal;
            let root = format!("arn:{}:iam::{}:root", self.loc.partition, p.account);
            if !kms_policy::allows_principal_action(policy, &[&p.arn, &root, &p.account], "kms:PutKeyPolicy") {
                return Err(Error::MalformedPolicyDocument(
                    "The new key policy will not allow you to update the key policy in the future.".into(),
                ));
            }
        }
        Ok(())
    }

    fn check_policy_name(name: Option<&str>) -> Result<()> {
        match name {
            None | Some(POLICY_NAME) => Ok(()),
            Some(_) => Err(Error::NotFound("No such policy exists".into())),
        }
    }

    pub async fn put_key_policy(&self, ctx: &RequestContext, req: PutKeyPolicyRequest) -> Result<()> {
        Self::check_policy_name(req.policy_name.as_deref())?;
        let policy = req.policy.unwrap_or_default();
        self.check_policy(ctx, &policy, req.bypass_policy_lockout_safety_check.unwrap_or(false))?;
        let access = Access::new("kms:PutKeyPolicy").with(
            "kms:BypassPolicyLockoutSafetyCheck",
            vec![req.bypass_policy_lockout_safety_check.unwrap_or(false).to_string()],
        );
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            Self::manageable(r, arn)?;
            r.policy = policy.clone();
            Ok(())
        })
        .await
    }

    pub async fn get_key_policy(&self, ctx: &RequestContext, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse> {
        Self::check_policy_name(req.policy_name.as_deref())?;
        let access = Access::new("kms:GetKeyPolicy");
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        Ok(GetKeyPolicyResponse { policy: Some(k.record.policy.clone()), policy_name: Some(POLICY_NAME.into()) })
    }

    pub async fn list_key_policies(
        &self,
        ctx: &RequestContext,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse> {
        let access = Access::new("kms:ListKeyPolicies");
        self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        Ok(ListKeyPoliciesResponse {
            policy_names: Some(vec![POLICY_NAME.into()]),
            next_marker: None,
            truncated: Some(false),
        })
    }
}
