//! Evaluating a policy against a request, and AWS KMS's combination of the
//! key policy with the caller's identity policies.

use std::fmt;

use crate::context::{Env, RequestContext};
use crate::parse::{Effect, Policy, PolicyKind, Statement};
use crate::principal::{Name, PrincipalKind, Reach};

/// The label [`authorize`] gives the key policy in [`StatementRef::policy`].
pub const KEY_POLICY_LABEL: &str = "key policy";

/// Which statement of which policy decided, for audit logs and errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementRef {
    /// The caller's label for the policy, e.g. `key policy` or
    /// `user policy alice/ReadOnly`.
    pub policy: String,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
    /// The statement's position in the policy, from 0.
    pub index: usize,
    /// Whether the policy is resource-based (a key policy) or
    /// identity-based; it selects the wording of [`Decision::message`].
    pub kind: PolicyKind,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{} statement {sid:?}", self.policy),
            None => write!(f, "{} statement #{}", self.policy, self.index),
        }
    }
}

/// Which statements of one policy match a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyResult {
    /// The first matching `Deny`.
    pub deny: Option<StatementRef>,
    /// The first matching `Allow` that names the caller directly (its user,
    /// role or session ARN, a service name, or `*`); in an identity policy,
    /// the first matching `Allow`.
    pub allow: Option<StatementRef>,
    /// The first matching `Allow` that reaches the caller only through its
    /// account (`"<account>"` or `arn:aws:iam::<account>:root`), which in a
    /// key policy delegates to the account's identity policies.
    pub account_allow: Option<StatementRef>,
}

impl Policy {
    /// Which statements match `req`; `label` names this policy in the
    /// returned [`StatementRef`]s.
    pub fn evaluate(&self, label: &str, req: &RequestContext) -> PolicyResult {
        self.evaluate_in(label, &Env::new(req))
    }

    fn evaluate_in(&self, label: &str, env: &Env) -> PolicyResult {
        let mut r = PolicyResult::default();
        for s in &self.statements {
            let Some(reach) = s.principal_reach(&env.chain) else {
                continue;
            };
            let slot = match (s.effect, reach) {
                (Effect::Deny, _) => &mut r.deny,
                (Effect::Allow, Reach::Direct) => &mut r.allow,
                (Effect::Allow, Reach::Account) => &mut r.account_allow,
            };
            if slot.is_none() && s.covers(env) {
                *slot = Some(StatementRef {
                    policy: label.to_string(),
                    sid: s.sid.clone(),
                    index: s.index,
                    kind: self.kind(),
                });
            }
        }
        r
    }

    /// The key-policy lockout safety check: does some `Allow` statement
    /// name one of `principals` (ARNs or account ids) for `action`?
    /// Resources and conditions are assumed satisfiable.
    pub(crate) fn names_for_action(&self, principals: &[&str], action: &str) -> bool {
        let chain: Vec<(Name, Reach)> = principals
            .iter()
            .map(|p| (Name::aws(p).unwrap_or_else(|| Name::Arn(p.to_string())), Reach::Direct))
            .collect();
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principal_reach(&chain).is_some()
                && s.action.covers(|a| a.matches(action, true))
        })
    }
}

impl Statement {
    /// How the statement reaches the caller; identity statements (no
    /// principal element) apply to their owner directly.
    fn principal_reach(&self, chain: &[(Name, Reach)]) -> Option<Reach> {
        match &self.principal {
            None => Some(Reach::Direct),
            Some(p) => p.reach(chain),
        }
    }

    /// Do the action, resource and conditions cover the request?
    fn covers(&self, env: &Env) -> bool {
        self.action.covers(|a| a.matches(env.req.action, true))
            && self.resource.covers(|r| r.resolve(env, true).is_some_and(|p| p.matches(env.req.resource, false)))
            && self.conditions.iter().all(|c| c.holds(env))
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the deciding statement: the key-policy statement when the
    /// key policy allows the caller on its own, else the identity-policy
    /// statement.
    Allow(StatementRef),
    /// Denied by this statement.
    ExplicitDeny(StatementRef),
    /// The key policy allows the caller neither directly nor through its
    /// account.
    NoResourcePolicyAllows,
    /// The key policy delegates to the caller's account (or, for a
    /// cross-account call, names the caller), but no identity policy allows.
    NoIdentityPolicyAllows,
}

impl Decision {
    /// Is the request allowed?
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The message of AWS's `AccessDeniedException` for this decision. For
    /// `Allow`, a similar sentence naming the deciding statement (for logs).
    pub fn message(&self, principal_arn: &str, action: &str, resource: &str) -> String {
        let denied = format!("User: {principal_arn} is not authorized to perform: {action} on resource: {resource}");
        match self {
            Decision::Allow(s) => {
                format!("User: {principal_arn} is authorized to perform: {action} on resource: {resource} by {s}")
            }
            Decision::ExplicitDeny(s) => {
                let policy = match s.kind {
                    PolicyKind::Resource => "a resource-based",
                    PolicyKind::Identity => "an identity-based",
                };
                format!("{denied} with an explicit deny in {policy} policy")
            }
            Decision::NoResourcePolicyAllows => {
                format!("{denied} because no resource-based policy allows the {action} action")
            }
            Decision::NoIdentityPolicyAllows => {
                format!("{denied} because no identity-based policy allows the {action} action")
            }
        }
    }
}

/// AWS KMS's authorization rule, as a pure function of the key policy (a
/// [`PolicyKind::Resource`] policy), the caller's identity policies (each
/// with its label) and the request:
///
/// 1. an explicit `Deny` in the key policy or any identity policy wins;
/// 2. else the request is allowed when the key policy allows the caller
///    directly, or when it allows the caller's account (root delegation)
///    and some identity policy allows;
/// 3. a cross-account call (the caller's account differs from the account
///    in the key ARN) always needs both: the key policy must name the
///    caller or its account, and an identity policy must allow. The root
///    user and service principals are not subject to identity policies.
pub fn authorize(key_policy: &Policy, identity_policies: &[(String, &Policy)], req: &RequestContext) -> Decision {
    let env = Env::new(req);
    let key = key_policy.evaluate_in(KEY_POLICY_LABEL, &env);
    let identity: Vec<PolicyResult> = identity_policies.iter().map(|(label, p)| p.evaluate_in(label, &env)).collect();
    if let Some(deny) = key.deny.or_else(|| identity.iter().find_map(|r| r.deny.clone())) {
        return Decision::ExplicitDeny(deny);
    }
    let identity_allow = identity.into_iter().find_map(|r| r.allow.or(r.account_allow));
    let p = req.principal;
    let cross_account = p.kind != PrincipalKind::Service && req.resource_account().is_some_and(|a| a != p.account);
    match (key.allow, key.account_allow) {
        (Some(s), _) if !cross_account || p.kind == PrincipalKind::Root => Decision::Allow(s),
        (Some(_), _) | (None, Some(_)) => identity_allow.map_or(Decision::NoIdentityPolicyAllows, Decision::Allow),
        (None, None) => Decision::NoResourcePolicyAllows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_key_policy, ConditionContext, Principal};
    use serde_json::{json, Value};

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn policy(v: Value, kind: PolicyKind) -> Policy {
        Policy::parse(&v.to_string(), kind).unwrap()
    }

    fn identity(statements: Value) -> Policy {
        policy(json!({"Version": "2012-10-17", "Statement": statements}), PolicyKind::Identity)
    }

    fn decide(key: &Policy, ids: &[&Policy], who: &str, action: &str, ctx: &ConditionContext) -> Decision {
        let principal = Principal::from_arn(who).unwrap();
        let ids: Vec<(String, &Policy)> =
            ids.iter().enumerate().map(|(i, p)| (format!("identity policy {i}"), *p)).collect();
        authorize(key, &ids, &RequestContext { principal: &principal, action, resource: KEY, conditions: ctx })
    }

    fn sid(d: &Decision) -> Option<&str> {
        match d {
            Decision::Allow(s) | Decision::ExplicitDeny(s) => s.sid.as_deref(),
            _ => None,
        }
    }

    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
    const ROOT: &str = "arn:aws:iam::111122223333:root";
    const BOB: &str = "arn:aws:iam::444455556666:user/bob";

    #[test]
    fn default_policy_delegates_to_iam() {
        let key =
            policy(serde_json::from_str(&default_key_policy("aws", "111122223333")).unwrap(), PolicyKind::Resource);
        let none = ConditionContext::new();
        assert_eq!(decide(&key, &[], ALICE, "kms:Decrypt", &none), Decision::NoIdentityPolicyAllows);
        let allow = identity(json!([{"Sid": "Use", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]));
        let d = decide(&key, &[&allow], ALICE, "kms:Decrypt", &none);
        assert_eq!(sid(&d), Some("Use"));
        let Decision::Allow(s) = &d else { panic!("{d:?}") };
        assert_eq!((s.policy.as_str(), s.kind, s.index), ("identity policy 0", PolicyKind::Identity, 0));
        assert_eq!(decide(&key, &[&allow], ALICE, "kms:Encrypt", &none), Decision::NoIdentityPolicyAllows);
        // The root user needs no identity policy.
        let d = decide(&key, &[], ROOT, "kms:Decrypt", &none);
        assert_eq!(sid(&d), Some("Enable IAM User Permissions"));
        // Another account is not named.
        assert_eq!(decide(&key, &[&allow], BOB, "kms:Decrypt", &none), Decision::NoResourcePolicyAllows);
    }

    #[test]
    fn direct_grants_need_no_identity_policy() {
        let key = policy(
            json!({"Statement": [
                {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Alice", "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"}
            ]}),
            PolicyKind::Resource,
        );
        let none = ConditionContext::new();
        let d = decide(&key, &[], ALICE, "kms:Decrypt", &none);
        assert_eq!(sid(&d), Some("Alice"));
        assert!(d.is_allowed());
        assert_eq!(decide(&key, &[], ALICE, "kms:Encrypt", &none), Decision::NoIdentityPolicyAllows);
    }

    #[test]
    fn explicit_denies_win() {
        let key = policy(
            json!({"Statement": [
                {"Sid": "All", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                {"Sid": "NoDelete", "Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
            ]}),
            PolicyKind::Resource,
        );
        let none = ConditionContext::new();
        let d = decide(&key, &[], ALICE, "kms:ScheduleKeyDeletion", &none);
        assert_eq!(sid(&d), Some("NoDelete"));
        assert_eq!(
            d.message(ALICE, "kms:ScheduleKeyDeletion", KEY),
            format!("User: {ALICE} is not authorized to perform: kms:ScheduleKeyDeletion on resource: {KEY} with an explicit deny in a resource-based policy")
        );
        let deny = identity(json!([{"Sid": "D", "Effect": "Deny", "Action": "kms:Dec*", "Resource": "*"}]));
        let d = decide(&key, &[&deny], ALICE, "kms:Decrypt", &none);
        assert_eq!(sid(&d), Some("D"));
        assert!(d.message(ALICE, "kms:Decrypt", KEY).ends_with("with an explicit deny in an identity-based policy"));
    }

    #[test]
    fn cross_account_needs_both_sides() {
        let key = policy(
            json!({"Statement": [
                {"Sid": "Bob", "Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:Decrypt", "Resource": "*"},
                {"Sid": "Acct", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:Encrypt", "Resource": "*"}
            ]}),
            PolicyKind::Resource,
        );
        let none = ConditionContext::new();
        assert_eq!(decide(&key, &[], BOB, "kms:Decrypt", &none), Decision::NoIdentityPolicyAllows);
        let allow = identity(
            json!([{"Sid": "B", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": KEY}]),
        );
        assert_eq!(sid(&decide(&key, &[&allow], BOB, "kms:Decrypt", &none)), Some("B"));
        assert_eq!(sid(&decide(&key, &[&allow], BOB, "kms:Encrypt", &none)), Some("B"));
        assert_eq!(decide(&key, &[&allow], BOB, "kms:ReEncryptFrom", &none), Decision::NoResourcePolicyAllows);
        // The other account's root user needs no identity policy.
        let d = decide(&key, &[], "arn:aws:iam::444455556666:root", "kms:Encrypt", &none);
        assert_eq!(sid(&d), Some("Acct"));
    }

    #[test]
    fn messages() {
        let m = |d: Decision| d.message(ALICE, "kms:Decrypt", KEY);
        assert_eq!(
            m(Decision::NoResourcePolicyAllows),
            format!("User: {ALICE} is not authorized to perform: kms:Decrypt on resource: {KEY} because no resource-based policy allows the kms:Decrypt action")
        );
        assert_eq!(
            m(Decision::NoIdentityPolicyAllows),
            format!("User: {ALICE} is not authorized to perform: kms:Decrypt on resource: {KEY} because no identity-based policy allows the kms:Decrypt action")
        );
        let s = StatementRef { policy: "key policy".into(), sid: None, index: 3, kind: PolicyKind::Resource };
        assert_eq!(s.to_string(), "key policy statement #3");
        assert!(m(Decision::Allow(s)).ends_with("by key policy statement #3"));
    }

    #[test]
    fn evaluate_reports_each_kind_of_match() {
        let key = policy(
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Acct", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Home", "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:*",
                 "Resource": "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"},
                {"Sid": "NotHere", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "NotResource": "arn:aws:kms:us-east-1:*"},
                {"Sid": "Later", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}
            ]}),
            PolicyKind::Resource,
        );
        let p = Principal::from_arn(ALICE).unwrap();
        let c = ConditionContext::new();
        let req = RequestContext { principal: &p, action: "kms:Decrypt", resource: KEY, conditions: &c };
        let r = key.evaluate("kp", &req);
        assert_eq!(r.account_allow.and_then(|s| s.sid), Some("Acct".into()));
        assert_eq!(r.allow.and_then(|s| s.sid), Some("Home".into()));
        assert_eq!(r.deny, None);
        let other = "arn:aws:kms:eu-west-1:111122223333:key/k";
        let r = key.evaluate("kp", &RequestContext { resource: other, ..req });
        assert_eq!(r.deny.and_then(|s| s.sid), Some("NotHere".into()));
    }
}
