//! Principals: the caller of a request, and the `Principal` / `NotPrincipal`
//! element of a statement that names callers.

use serde_json::Value;

use crate::arn::{is_account_id, Arn, PrincipalArn};
use crate::{malformed, PolicyError};

/// What kind of identity is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// The account's root user (`arn:aws:iam::<account>:root`).
    Root,
    /// An IAM user.
    User,
    /// An IAM role acting as itself (not a session).
    Role,
    /// A session of an assumed role (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    AssumedRole,
    /// An AWS service principal; its `arn` is the service name, such as
    /// `cloudtrail.amazonaws.com`, and it belongs to no account.
    Service,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The caller's ARN (for a service principal: the service name).
    pub arn: String,
    /// The caller's account id (empty for a service principal).
    pub account: String,
    /// What kind of identity the caller is.
    pub kind: PrincipalKind,
    /// For an assumed-role session: the role's ARN
    /// (`arn:aws:iam::<acct>:role/<name>`), which key-policy principals may name.
    pub role_arn: Option<String>,
}

impl Principal {
    /// The principal an IAM or STS ARN names: root, user, role or
    /// assumed-role session. For a session, `role_arn` is derived without a
    /// role path (the session ARN does not carry it); a caller that knows the
    /// path should set `role_arn` itself.
    pub fn from_arn(arn: &str) -> Option<Principal> {
        let a = Arn::parse(arn)?;
        let (kind, role_arn) = match a.principal()? {
            PrincipalArn::Root => (PrincipalKind::Root, None),
            PrincipalArn::User => (PrincipalKind::User, None),
            PrincipalArn::Role => (PrincipalKind::Role, None),
            PrincipalArn::AssumedRole { role } => {
                (PrincipalKind::AssumedRole, Some(format!("arn:{}:iam::{}:role/{role}", a.partition, a.account)))
            }
            PrincipalArn::FederatedUser => return None,
        };
        Some(Principal { arn: arn.to_string(), account: a.account.to_string(), kind, role_arn })
    }

    /// An AWS service principal such as `cloudtrail.amazonaws.com`.
    pub fn service(name: &str) -> Principal {
        Principal { arn: name.to_string(), account: String::new(), kind: PrincipalKind::Service, role_arn: None }
    }

    /// The identities a statement's principal element is checked against,
    /// each with how directly naming it grants access: the caller itself
    /// (and, for a session, its role) directly; its account (`"<acct>"` or
    /// `arn:aws:iam::<acct>:root`) by delegation, except for the root user,
    /// which *is* the account.
    pub(crate) fn chain(&self) -> Vec<(Name, Reach)> {
        let account = Name::Account(self.account.clone());
        match self.kind {
            PrincipalKind::Root => vec![(account, Reach::Direct)],
            PrincipalKind::Service => vec![(Name::Service(self.arn.clone()), Reach::Direct)],
            PrincipalKind::User | PrincipalKind::Role | PrincipalKind::AssumedRole => {
                let mut chain = vec![(Name::Arn(self.arn.clone()), Reach::Direct)];
                if let Some(role) = &self.role_arn {
                    chain.push((Name::Arn(role.clone()), Reach::Direct));
                }
                chain.push((account, Reach::Account));
                chain
            }
        }
    }
}

/// How a statement's principal element reaches the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reach {
    /// Through the caller's account: in a key policy, this delegates the
    /// decision to the account's identity policies.
    Account,
    /// The caller (or everyone) is named: the statement alone decides.
    Direct,
}

/// One name in a principal element, normalised so that equal principals
/// compare equal (an account id and its root ARN are the same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    /// `"Principal": "*"`: every caller, service principals included.
    Everyone,
    /// `{"AWS": "*"}`: every IAM identity.
    AnyAws,
    Account(String),
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

impl Name {
    /// Read an `AWS` principal value: `*`, an account id, or a root, user,
    /// role, assumed-role or federated-user ARN.
    pub(crate) fn aws(s: &str) -> Option<Name> {
        if s == "*" {
            return Some(Name::AnyAws);
        }
        if is_account_id(s) {
            return Some(Name::Account(s.to_string()));
        }
        if s.contains(['*', '?']) {
            return None;
        }
        let arn = Arn::parse(s)?;
        Some(match arn.principal()? {
            PrincipalArn::Root => Name::Account(arn.account.to_string()),
            _ => Name::Arn(s.to_string()),
        })
    }

    /// Read one value of a principal element's `kind` (`AWS`, `Service`,
    /// `Federated` or `CanonicalUser`).
    fn parse(kind: &str, s: &str) -> Option<Name> {
        let wrap: fn(String) -> Name = match kind {
            "AWS" => return Name::aws(s),
            "Service" => Name::Service,
            "Federated" => Name::Federated,
            "CanonicalUser" => Name::CanonicalUser,
            _ => return None,
        };
        let plain = !s.contains(['*', '?']) && !s.contains(char::is_whitespace);
        plain.then(|| wrap(s.to_string()))
    }

    /// Does this policy name cover the caller identity `id`?
    fn covers(&self, id: &Name) -> bool {
        match self {
            Name::Everyone => true,
            Name::AnyAws => !matches!(id, Name::Service(_)),
            named => named == id,
        }
    }
}

const INVALID_PRINCIPAL: &str = "Policy contains a statement with one or more invalid principals.";

/// A `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrincipalElement {
    negated: bool,
    names: Vec<Name>,
}

impl PrincipalElement {
    /// Parse the value of a `Principal` (`negated == false`) or
    /// `NotPrincipal` element.
    pub(crate) fn parse(v: &Value, negated: bool) -> Result<Self, PolicyError> {
        let invalid = || malformed(INVALID_PRINCIPAL);
        let names = match v {
            Value::String(s) if s == "*" => vec![Name::Everyone],
            Value::Object(m) if !m.is_empty() => {
                let mut names = Vec::new();
                for (kind, v) in m {
                    for s in crate::parse::string_list(v).ok_or_else(invalid)? {
                        names.push(Name::parse(kind, s).ok_or_else(invalid)?);
                    }
                }
                names
            }
            _ => return Err(invalid()),
        };
        Ok(PrincipalElement { negated, names })
    }

    /// How the element reaches a caller whose identities are `chain`, or
    /// `None` when the statement does not apply to the caller.
    ///
    /// `Principal`: the most direct identity named. `NotPrincipal` (IAM's
    /// rule): the statement applies unless *every* identity of the caller
    /// (user or session, role, account) is listed, and then reaches it
    /// directly.
    pub(crate) fn reach(&self, chain: &[(Name, Reach)]) -> Option<Reach> {
        let named = |id: &Name| self.names.iter().any(|n| n.covers(id));
        if self.negated {
            chain.iter().any(|(id, _)| !named(id)).then_some(Reach::Direct)
        } else {
            chain.iter().filter(|(id, _)| named(id)).map(|(_, r)| *r).max()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn element(v: Value) -> PrincipalElement {
        PrincipalElement::parse(&v, false).unwrap()
    }

    fn alice() -> Principal {
        Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap()
    }

    fn session() -> Principal {
        Principal::from_arn("arn:aws:sts::111122223333:assumed-role/Admin/s1").unwrap()
    }

    #[test]
    fn from_arn() {
        let s = session();
        assert_eq!(s.kind, PrincipalKind::AssumedRole);
        assert_eq!(s.account, "111122223333");
        assert_eq!(s.role_arn.as_deref(), Some("arn:aws:iam::111122223333:role/Admin"));
        assert_eq!(Principal::from_arn("arn:aws:iam::111122223333:root").map(|p| p.kind), Some(PrincipalKind::Root));
        assert!(Principal::from_arn("alice").is_none());
    }

    #[test]
    fn direct_and_account_reach() {
        let a = alice().chain();
        let e = element(json!({"AWS": "arn:aws:iam::111122223333:root"}));
        assert_eq!(e.reach(&a), Some(Reach::Account));
        let e = element(json!({"AWS": "111122223333"}));
        assert_eq!(e.reach(&a), Some(Reach::Account));
        let e = element(json!({"AWS": ["111122223333", "arn:aws:iam::111122223333:user/alice"]}));
        assert_eq!(e.reach(&a), Some(Reach::Direct));
        let e = element(json!({"AWS": "arn:aws:iam::111122223333:user/bob"}));
        assert_eq!(e.reach(&a), None);
        let e = element(json!({"AWS": "arn:aws:iam::444455556666:root"}));
        assert_eq!(e.reach(&a), None);
        // The root user is the account.
        let root = Principal::from_arn("arn:aws:iam::111122223333:root").unwrap();
        let e = element(json!({"AWS": "111122223333"}));
        assert_eq!(e.reach(&root.chain()), Some(Reach::Direct));
    }

    #[test]
    fn roles_and_sessions() {
        let s = session().chain();
        let e = element(json!({"AWS": "arn:aws:iam::111122223333:role/Admin"}));
        assert_eq!(e.reach(&s), Some(Reach::Direct));
        let e = element(json!({"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/s1"}));
        assert_eq!(e.reach(&s), Some(Reach::Direct));
        let e = element(json!({"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/s2"}));
        assert_eq!(e.reach(&s), None);
    }

    #[test]
    fn everyone_and_services() {
        let svc = Principal::service("cloudtrail.amazonaws.com").chain();
        assert_eq!(element(json!("*")).reach(&svc), Some(Reach::Direct));
        assert_eq!(element(json!({"AWS": "*"})).reach(&svc), None);
        assert_eq!(element(json!({"AWS": "*"})).reach(&alice().chain()), Some(Reach::Direct));
        let e = element(json!({"Service": ["cloudtrail.amazonaws.com"]}));
        assert_eq!(e.reach(&svc), Some(Reach::Direct));
        assert_eq!(e.reach(&alice().chain()), None);
        let e = element(json!({"Federated": "cognito-identity.amazonaws.com"}));
        assert_eq!(e.reach(&alice().chain()), None);
    }

    #[test]
    fn not_principal_needs_every_identity_listed() {
        let only_session =
            PrincipalElement::parse(&json!({"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/s1"}), true).unwrap();
        assert_eq!(only_session.reach(&session().chain()), Some(Reach::Direct));
        let all = PrincipalElement::parse(
            &json!({"AWS": [
                "arn:aws:sts::111122223333:assumed-role/Admin/s1",
                "arn:aws:iam::111122223333:role/Admin",
                "arn:aws:iam::111122223333:root"
            ]}),
            true,
        )
        .unwrap();
        assert_eq!(all.reach(&session().chain()), None);
        assert_eq!(all.reach(&alice().chain()), Some(Reach::Direct));
        let star = PrincipalElement::parse(&json!("*"), true).unwrap();
        assert_eq!(star.reach(&alice().chain()), None);
    }

    #[test]
    fn invalid_principals() {
        for v in [
            json!("alice"),
            json!({}),
            json!({"AWS": []}),
            json!({"AWS": ""}),
            json!({"AWS": "alice"}),
            json!({"AWS": "arn:aws:iam::111122223333:user/*"}),
            json!({"AWS": "arn:aws:iam::111122223333:group/devs"}),
            json!({"AWS": 111122223333u64}),
            json!({"Service": "*"}),
            json!({"Bogus": "x"}),
        ] {
            let e = PrincipalElement::parse(&v, false).unwrap_err();
            assert_eq!(e.0, INVALID_PRINCIPAL, "{v}");
        }
    }
}
