//! The request being authorized and its condition keys.

use std::collections::BTreeMap;

use crate::arn::Arn;
use crate::principal::{Name, Principal, PrincipalKind, Reach};

/// The condition keys of a request: each key (case-insensitive) has a list
/// of string values; multi-valued keys such as `kms:EncryptionContextKeys`
/// or `aws:TagKeys` have several. A key with no values is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionContext {
    values: BTreeMap<String, Vec<String>>,
}

impl ConditionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key` to the single value `value`, replacing any earlier values.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.set_many(key, [value])
    }

    /// Set `key` to `values` (a multi-valued key), replacing any earlier
    /// values. An empty list removes the key.
    pub fn set_many<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let key = key.to_lowercase();
        if values.is_empty() {
            self.values.remove(&key);
        } else {
            self.values.insert(key, values);
        }
        self
    }

    /// The values of `key` (case-insensitive), or `None` when absent.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_lowercase()).map(Vec::as_slice)
    }

    /// The keys and their values, keys in lower case.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// Who calls.
    pub principal: &'a Principal,
    /// The action, e.g. `kms:Decrypt`.
    pub action: &'a str,
    /// The resource: the key ARN.
    pub resource: &'a str,
    /// The request's condition keys.
    pub conditions: &'a ConditionContext,
}

impl RequestContext<'_> {
    /// The account that owns the resource (the key's account), if the
    /// resource is an ARN with an account.
    pub(crate) fn resource_account(&self) -> Option<&str> {
        Arn::parse(self.resource).map(|a| a.account).filter(|a| !a.is_empty())
    }
}

/// A request as the evaluator sees it: the caller's identities, and the
/// condition keys including those derived from the principal and resource.
pub(crate) struct Env<'a> {
    pub req: &'a RequestContext<'a>,
    pub chain: Vec<(Name, Reach)>,
    derived: Vec<(&'static str, Vec<String>)>,
}

impl<'a> Env<'a> {
    /// Derive the global keys that the principal and resource determine.
    /// They take precedence over the same keys in the caller's context, so
    /// a context cannot contradict the authenticated principal:
    /// `aws:PrincipalArn` (for a session: its role's ARN),
    /// `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username` (users),
    /// `kms:CallerAccount` and `aws:ResourceAccount`.
    pub(crate) fn new(req: &'a RequestContext<'a>) -> Self {
        let p = req.principal;
        let mut derived = Vec::new();
        if p.kind != PrincipalKind::Service {
            let principal_arn = match (&p.kind, &p.role_arn) {
                (PrincipalKind::AssumedRole, Some(role)) => role.clone(),
                _ => p.arn.clone(),
            };
            derived.push(("aws:principalarn", vec![principal_arn]));
            derived.push(("aws:principalaccount", vec![p.account.clone()]));
            derived.push(("kms:calleraccount", vec![p.account.clone()]));
            let kind = match p.kind {
                PrincipalKind::Root => Some("Account"),
                PrincipalKind::User => Some("User"),
                PrincipalKind::AssumedRole => Some("AssumedRole"),
                PrincipalKind::Role | PrincipalKind::Service => None,
            };
            if let Some(kind) = kind {
                derived.push(("aws:principaltype", vec![kind.to_string()]));
            }
        }
        if p.kind == PrincipalKind::User {
            if let Some(name) = p.arn.rsplit('/').next() {
                derived.push(("aws:username", vec![name.to_string()]));
            }
        }
        if let Some(account) = req.resource_account() {
            derived.push(("aws:resourceaccount", vec![account.to_string()]));
        }
        Env { req, chain: p.chain(), derived }
    }

    /// The values of a condition key, given in lower case.
    pub(crate) fn get(&self, key: &str) -> Option<&[String]> {
        self.derived
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
            .or_else(|| self.req.conditions.values.get(key).map(Vec::as_slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut c = ConditionContext::new();
        c.set("kms:ViaService", "ec2.us-east-1.amazonaws.com").set_many("kms:EncryptionContextKeys", ["a", "b"]);
        assert_eq!(c.get("KMS:VIASERVICE"), Some(&["ec2.us-east-1.amazonaws.com".to_string()][..]));
        assert_eq!(c.get("kms:encryptioncontextkeys").map(<[_]>::len), Some(2));
        c.set_many("kms:EncryptionContextKeys", Vec::<String>::new());
        assert_eq!(c.get("kms:EncryptionContextKeys"), None);
        assert_eq!(c.iter().count(), 1);
    }

    #[test]
    fn derived_keys() {
        let p = Principal::from_arn("arn:aws:iam::111122223333:user/ops/alice").unwrap();
        let mut c = ConditionContext::new();
        c.set("aws:username", "mallory").set("aws:userid", "AIDAEXAMPLE");
        let req = RequestContext {
            principal: &p,
            action: "kms:Decrypt",
            resource: "arn:aws:kms:us-east-1:444455556666:key/k",
            conditions: &c,
        };
        let env = Env::new(&req);
        let one = |k| env.get(k).map(|v| v[0].as_str());
        assert_eq!(one("aws:username"), Some("alice"));
        assert_eq!(one("aws:userid"), Some("AIDAEXAMPLE"));
        assert_eq!(one("kms:calleraccount"), Some("111122223333"));
        assert_eq!(one("aws:resourceaccount"), Some("444455556666"));
        assert_eq!(one("aws:principaltype"), Some("User"));

        let s = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/R/s").unwrap();
        let req = RequestContext { principal: &s, ..req };
        let env = Env::new(&req);
        assert_eq!(env.get("aws:principalarn").map(|v| v[0].as_str()), Some("arn:aws:iam::111122223333:role/R"));
        assert_eq!(env.get("aws:username").map(|v| v[0].as_str()), Some("mallory"));
    }
}
