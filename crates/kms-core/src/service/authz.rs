//! Authorization of every call: the key policy, the caller's identity
//! policies and grants, evaluated by `kms-policy` with the condition keys the
//! request supplies. The decision (and the statement or grant that decided)
//! goes into the request's facts for the audit record.

use std::sync::{Arc, Mutex, Weak};

use kms_policy::{ConditionContext, Decision, RequestContext as PolicyRequest};

use super::{Kms, LiveKey, RequestContext};
use crate::ciphertext::EncryptionContext;
use crate::error::{Error, Result};
use crate::identity::Principal;

/// What a call asks to do, with the request values that condition keys see.
#[derive(Default)]
pub struct Access<'a> {
    /// `kms:<Operation>`.
    pub action: &'a str,
    pub encryption_context: Option<&'a EncryptionContext>,
    pub algorithm: Option<(&'static str, &'a str)>,
    /// Further condition keys of this request.
    pub extra: Vec<(String, Vec<String>)>,
}

impl<'a> Access<'a> {
    pub fn new(action: &'a str) -> Self {
        Access { action, ..Default::default() }
    }
    pub fn context(mut self, ec: &'a EncryptionContext) -> Self {
        self.encryption_context = Some(ec);
        self
    }
    pub fn encryption_algorithm(mut self, alg: Option<&'a str>) -> Self {
        self.algorithm = Some(("kms:EncryptionAlgorithm", alg.unwrap_or("SYMMETRIC_DEFAULT")));
        self
    }
    pub fn with(mut self, key: &str, values: Vec<String>) -> Self {
        self.extra.push((key.to_string(), values));
        self
    }
}

/// The policy decisions made on one cached key that no condition key took
/// part in: (caller, action) -> the statement that allowed it. Such a
/// decision is a function of the key policy, the caller's identity policies
/// and the action alone, and each of those is fixed for an entry: the key
/// policy is this cached key's own (a new policy makes a new cached key),
/// and a caller is its [`Principal`] object, which is built anew whenever
/// its identity policies or tags change (it is never changed in place).
/// An entry holds a `Weak` of its principal, so that the address it is
/// compared by cannot be reused while the entry exists. Only allows are
/// kept; a denial is evaluated every time (grants may still allow it).
#[derive(Default)]
pub(super) struct Decisions(Mutex<Vec<Remembered>>);

struct Remembered {
    principal: Weak<Principal>,
    action: Box<str>,
    /// What the audit record says decided.
    decided: Arc<str>,
}

/// Decisions remembered per key (callers x actions); beyond it the oldest goes.
const DECISIONS_PER_KEY: usize = 8;

impl Decisions {
    fn get(&self, principal: &Arc<Principal>, action: &str) -> Option<Arc<str>> {
        let d = self.0.lock().ok()?;
        d.iter()
            .find(|r| std::ptr::eq(r.principal.as_ptr(), Arc::as_ptr(principal)) && &*r.action == action)
            .map(|r| r.decided.clone())
    }

    fn put(&self, principal: &Arc<Principal>, action: &str, decided: Arc<str>) {
        let Ok(mut d) = self.0.lock() else { return };
        d.retain(|r| r.principal.strong_count() > 0);
        if d.len() >= DECISIONS_PER_KEY {
            d.remove(0);
        }
        d.push(Remembered { principal: Arc::downgrade(principal), action: action.into(), decided });
    }
}

impl Kms {
    /// Condition keys about the caller, the connection and the time.
    fn base_conditions(&self, ctx: &RequestContext, access: &Access<'_>) -> ConditionContext {
        let mut c = ConditionContext::new();
        let p = &ctx.principal;
        let now = self.clock.now_ms();
        c.set("aws:CurrentTime", crate::time::rfc3339(now));
        c.set("aws:EpochTime", (now / 1000).to_string());
        c.set("aws:SecureTransport", ctx.secure_transport.to_string());
        if let Some(ip) = ctx.source_ip {
            c.set("aws:SourceIp", ip.to_string());
        }
        c.set("aws:userid", p.user_id.clone());
        if p.is_user() {
            c.set("aws:username", p.user_name.clone());
        }
        for (k, v) in &p.tags {
            c.set(&format!("aws:PrincipalTag/{k}"), v.clone());
        }
        if let Some(ec) = access.encryption_context {
            for (k, v) in ec {
                c.set(&format!("kms:EncryptionContext:{k}"), v.clone());
            }
            if !ec.is_empty() {
                c.set_many("kms:EncryptionContextKeys", ec.keys().cloned());
            }
        }
        if let Some((k, v)) = access.algorithm {
            c.set(k, v);
        }
        for (k, v) in &access.extra {
            c.set_many(k, v.iter().cloned());
        }
        if let Some(alias) = ctx.facts.lock().ok().and_then(|f| f.request_alias.clone()) {
            c.set("kms:RequestAlias", alias);
        }
        c
    }

    /// Condition keys about the key.
    fn key_conditions(&self, c: &mut ConditionContext, k: &LiveKey) {
        let r = &k.record;
        c.set("kms:KeySpec", r.key_spec.as_str());
        c.set("kms:KeyUsage", r.key_usage.as_str());
        c.set("kms:KeyOrigin", r.origin.as_str());
        c.set("kms:MultiRegion", r.multi_region.to_string());
        if let Some(set) = &r.multi_region_set {
            c.set("kms:MultiRegionKeyType", if set.is_primary() { "PRIMARY" } else { "REPLICA" });
        }
        for (t, v) in &r.tags {
            c.set(&format!("aws:ResourceTag/{t}"), v.clone());
        }
        if let Ok(aliases) = self.aliases.read() {
            let names: Vec<String> = aliases
                .values()
                .filter(|a| a.account == r.account && a.target_key_id == r.key_id)
                .map(|a| a.name.clone())
                .collect();
            if !names.is_empty() {
                c.set_many("kms:ResourceAliases", names);
            }
        }
    }

    fn identity_uses_context(ctx: &RequestContext) -> bool {
        ctx.principal.policies.iter().any(|(_, p)| p.uses_context())
    }

    fn decision_text(d: &Decision) -> String {
        match d {
            Decision::Allow(s) => format!("allowed by {s}"),
            Decision::ExplicitDeny(s) => format!("denied by {s}"),
            Decision::NoResourcePolicyAllows => "denied: no key policy statement allows".to_string(),
            Decision::NoIdentityPolicyAllows => "denied: no identity policy statement allows".to_string(),
        }
    }

    fn note_decision(ctx: &RequestContext, text: String) {
        if let Ok(mut f) = ctx.facts.lock() {
            f.decision = Some(text);
        }
    }

    fn record_decision(ctx: &RequestContext, d: &Decision) {
        Self::note_decision(ctx, Self::decision_text(d));
    }

    fn denied(ctx: &RequestContext, d: &Decision, action: &str, resource: &str) -> Error {
        Error::AccessDenied(d.message(&ctx.principal.arn, action, resource))
    }

    /// Authorize `access` on key `k`: key policy + identity policies.
    pub(super) fn authorize(&self, ctx: &RequestContext, k: &LiveKey, access: &Access<'_>) -> Result<()> {
        // Condition keys are built only when some policy reads them; when
        // none does, an allow is remembered for the key.
        let needed = k.policy.as_ref().is_some_and(|p| p.uses_context()) || Self::identity_uses_context(ctx);
        if !needed {
            if let Some(decided) = k.decisions.get(&ctx.principal, access.action) {
                Self::note_decision(ctx, decided.to_string());
                return Ok(());
            }
        }
        let c = if needed {
            let mut c = self.base_conditions(ctx, access);
            self.key_conditions(&mut c, k);
            c
        } else {
            ConditionContext::new()
        };
        let req = PolicyRequest {
            principal: &ctx.principal.policy_principal,
            action: access.action,
            resource: &k.arn,
            conditions: &c,
        };
        let identity: Vec<(String, &kms_policy::Policy)> =
            ctx.principal.policies.iter().map(|(l, p)| (l.clone(), p.as_ref())).collect();
        let decision = match &k.policy {
            Some(policy) => kms_policy::authorize(policy, &identity, &req),
            None => Decision::NoResourcePolicyAllows,
        };
        if decision.is_allowed() {
            let text = Self::decision_text(&decision);
            if !needed {
                k.decisions.put(&ctx.principal, access.action, Arc::from(text.as_str()));
            }
            Self::note_decision(ctx, text);
            return Ok(());
        }
        Self::record_decision(ctx, &decision);
        // A grant allows what the policies do not, but never against an explicit deny.
        if !matches!(decision, Decision::ExplicitDeny(_)) {
            let p = &ctx.principal.policy_principal;
            let mut names = vec![p.arn.as_str()];
            names.extend(p.role_arn.as_deref());
            let op = access.action.strip_prefix("kms:").unwrap_or(access.action);
            if let Some(g) = k.grants.iter().find(|g| g.allows(&names, op, access.encryption_context)) {
                if let Ok(mut f) = ctx.facts.lock() {
                    f.decision = Some(format!("allowed by grant {}", g.grant_id));
                }
                return Ok(());
            }
        }
        Err(Self::denied(ctx, &decision, access.action, &k.arn))
    }

    /// Authorize an action that names no key (CreateKey, ListKeys, ...):
    /// identity policies alone, on resource `*`.
    pub(super) fn authorize_identity(&self, ctx: &RequestContext, access: &Access<'_>) -> Result<()> {
        let c =
            if Self::identity_uses_context(ctx) { self.base_conditions(ctx, access) } else { ConditionContext::new() };
        let req = PolicyRequest {
            principal: &ctx.principal.policy_principal,
            action: access.action,
            resource: "*",
            conditions: &c,
        };
        let mut allow = None;
        let mut decision = None;
        for (label, p) in &ctx.principal.policies {
            let r = p.evaluate(label, &req);
            if let Some(d) = r.deny {
                decision = Some(Decision::ExplicitDeny(d));
                break;
            }
            if allow.is_none() {
                allow = r.allow.or(r.account_allow);
            }
        }
        let decision = decision.unwrap_or(match allow {
            Some(s) => Decision::Allow(s),
            None => Decision::NoIdentityPolicyAllows,
        });
        Self::record_decision(ctx, &decision);
        if decision.is_allowed() {
            Ok(())
        } else {
            Err(Self::denied(ctx, &decision, access.action, "*"))
        }
    }
}
