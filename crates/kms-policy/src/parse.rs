//! Reading and validating a policy document into a [`Policy`].

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::condition::{parse_conditions, Condition};
use crate::pattern::Pattern;
use crate::principal::PrincipalElement;
use crate::variables::Template;
use crate::{malformed, PolicyError};

/// Which kind of policy a document is; it decides whether statements name
/// principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A resource-based policy (a key policy): every statement has a
    /// `Principal` or `NotPrincipal`.
    Resource,
    /// An identity-based policy (attached to a user or role): no statement
    /// has a principal.
    Identity,
}

/// A statement's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Effect": "Allow"`
    Allow,
    /// `"Effect": "Deny"`
    Deny,
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<String>,
    id: Option<String>,
    pub(crate) statements: Vec<Statement>,
    /// Whether evaluation reads the request context (conditions or policy
    /// variables); when no policy does, callers may skip building it.
    uses_context: bool,
}

/// One statement of a [`Policy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) index: usize,
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `None` in identity policies.
    pub(crate) principal: Option<PrincipalElement>,
    pub(crate) action: Listed<Pattern>,
    pub(crate) resource: Listed<Template>,
    pub(crate) conditions: Vec<Condition>,
}

/// `Action` / `NotAction`, `Resource` / `NotResource`: a list of patterns,
/// possibly negated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listed<T> {
    negated: bool,
    items: Vec<T>,
}

impl<T> Listed<T> {
    /// Does the element cover the request: some item matches (`Action`), or
    /// none does (`NotAction`)?
    pub(crate) fn covers(&self, matches: impl FnMut(&T) -> bool) -> bool {
        self.items.iter().any(matches) != self.negated
    }
}

const VERSIONS: &[&str] = &["2008-10-17", "2012-10-17"];
/// The version from which policy variables exist.
const VARIABLES_VERSION: &str = "2012-10-17";
const POLICY_KEYS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_KEYS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

/// A non-empty string, or a non-empty list of non-empty strings.
pub(crate) fn string_list(v: &Value) -> Option<Vec<&str>> {
    let list: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    (!list.is_empty() && list.iter().all(|s| !s.is_empty())).then_some(list)
}

fn unsupported_element(m: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), PolicyError> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(malformed(format!("{what} contains an unsupported element: {k}"))),
        None => Ok(()),
    }
}

/// At most one of the two elements `a` and `b`; `true` with `b` (the
/// negated form).
fn one_of<'a>(m: &'a Map<String, Value>, a: &str, b: &str) -> Result<Option<(&'a Value, bool)>, PolicyError> {
    match (m.get(a), m.get(b)) {
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(malformed(format!("Policy statement cannot contain both {a} and {b}"))),
    }
}

/// Exactly one of `a` / `b`, as a checked list.
fn listed<'a, T>(
    m: &'a Map<String, Value>,
    a: &str,
    b: &str,
    read: impl Fn(&'a str) -> Result<T, PolicyError>,
) -> Result<Listed<T>, PolicyError> {
    let (v, negated) = one_of(m, a, b)?
        .ok_or_else(|| malformed(format!("Policy statement must contain exactly one of {a} or {b}")))?;
    let name = if negated { b } else { a };
    let items = string_list(v)
        .ok_or_else(|| {
            malformed(format!("{name} must be a non-empty string or a non-empty list of non-empty strings"))
        })?
        .into_iter()
        .map(read)
        .collect::<Result<_, _>>()?;
    Ok(Listed { negated, items })
}

/// `*`, or `<service>:<action pattern>`.
fn action(s: &str) -> Result<Pattern, PolicyError> {
    let ok = s == "*"
        || s.split_once(':').is_some_and(|(vendor, name)| {
            !vendor.is_empty()
                && vendor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.is_empty()
                && !name.contains(char::is_whitespace)
        });
    if ok {
        Ok(Pattern::wildcard(s))
    } else {
        Err(malformed(format!("Action {s:?} must be \"*\" or \"<service>:<action>\", such as \"kms:Decrypt\"")))
    }
}

impl Policy {
    /// Parse a role trust policy: a resource-based policy whose statements
    /// name no resource (the role is the resource); a statement without
    /// `Resource` or `NotResource` applies to the role.
    pub fn parse_trust(doc: &str) -> Result<Policy, PolicyError> {
        let mut v: Value =
            serde_json::from_str(doc).map_err(|_| malformed("The policy document is not valid JSON."))?;
        let statements: Vec<&mut Value> = match v.get_mut("Statement") {
            Some(Value::Array(a)) => a.iter_mut().collect(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => vec![],
        };
        for s in statements {
            if let Value::Object(m) = s {
                if !m.contains_key("Resource") && !m.contains_key("NotResource") {
                    m.insert("Resource".into(), Value::String("*".into()));
                }
            }
        }
        Policy::parse(&v.to_string(), PolicyKind::Resource)
    }

    /// Parse and validate a policy document of the given kind. The error's
    /// text is the message of AWS's `MalformedPolicyDocumentException`.
    pub fn parse(doc: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let v: Value = serde_json::from_str(doc).map_err(|_| malformed("The policy document is not valid JSON."))?;
        let m = v.as_object().ok_or_else(|| malformed("Policy document must be a JSON object"))?;
        unsupported_element(m, POLICY_KEYS, "Policy document")?;
        let version = match m.get("Version") {
            None => None,
            Some(Value::String(s)) if VERSIONS.contains(&s.as_str()) => Some(s.clone()),
            Some(_) => {
                return Err(malformed(
                    "Policy document contains an invalid Version (expected 2012-10-17 or 2008-10-17)",
                ))
            }
        };
        let id = match m.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("Policy document Id must be a string")),
        };
        let list: Vec<&Value> = match m.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => return Err(malformed("Policy document must contain at least one Statement")),
        };
        let variables = version.as_deref() == Some(VARIABLES_VERSION);
        let statements = list
            .into_iter()
            .enumerate()
            .map(|(i, s)| Statement::parse(s, i, kind, variables))
            .collect::<Result<Vec<_>, _>>()?;
        if kind == PolicyKind::Identity {
            let mut seen = BTreeSet::new();
            if statements.iter().filter_map(|s| s.sid.as_deref()).any(|sid| !seen.insert(sid)) {
                return Err(malformed("Statement IDs (SID) in a single policy must be unique."));
            }
        }
        let uses_context = statements.iter().any(|s| !s.conditions.is_empty()) || doc.contains("${");
        Ok(Policy { kind, version, id, statements, uses_context })
    }

    /// Whether evaluating this policy reads the request's condition keys.
    pub fn uses_context(&self) -> bool {
        self.uses_context
    }

    /// Whether this is a resource-based (key) or identity-based policy.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The `Version` element, if present.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The `Id` element, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

impl Statement {
    fn parse(v: &Value, index: usize, kind: PolicyKind, variables: bool) -> Result<Statement, PolicyError> {
        let m = v.as_object().ok_or_else(|| malformed("Policy statement must be a JSON object"))?;
        unsupported_element(m, STATEMENT_KEYS, "Policy statement")?;
        let effect = match m.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(malformed("Policy statement must contain a valid Effect (Allow or Deny)")),
        };
        let sid = match m.get("Sid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("Statement Sid must be a string")),
        };
        let principal = match (kind, one_of(m, "Principal", "NotPrincipal")?) {
            (PolicyKind::Resource, Some((p, negated))) => Some(PrincipalElement::parse(p, negated)?),
            (PolicyKind::Resource, None) => {
                return Err(malformed("Policy statement must contain a Principal or NotPrincipal"))
            }
            (PolicyKind::Identity, Some(_)) => {
                return Err(malformed("Policy document should not specify a principal."))
            }
            (PolicyKind::Identity, None) => None,
        };
        let action = listed(m, "Action", "NotAction", action)?;
        let resource = listed(m, "Resource", "NotResource", |r| {
            if r == "*" || r.starts_with("arn:") {
                Ok(Template::parse(r, variables))
            } else {
                Err(malformed(format!("Resource {r:?} must be \"*\" or an ARN")))
            }
        })?;
        let conditions = match m.get("Condition") {
            Some(c) => parse_conditions(c, variables)?,
            None => Vec::new(),
        };
        Ok(Statement { index, sid, effect, principal, action, resource, conditions })
    }

    /// The `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The statement's position in the policy's `Statement` list, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Allow or Deny.
    pub fn effect(&self) -> Effect {
        self.effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key_policy(v: Value) -> Result<Policy, String> {
        Policy::parse(&v.to_string(), PolicyKind::Resource).map_err(|e| e.0)
    }

    fn statement(extra: Value) -> Value {
        let mut s = json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    s.remove(k);
                } else {
                    s.insert(k.clone(), v.clone());
                }
            }
        }
        json!({"Version": "2012-10-17", "Statement": [s]})
    }

    fn refused(extra: Value) -> String {
        key_policy(statement(extra)).unwrap_err()
    }

    #[test]
    fn accepts_documented_shapes() {
        let p = key_policy(json!({
            "Version": "2012-10-17",
            "Id": "key-consolepolicy-3",
            "Statement": [
                {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Allow use of the key", "Effect": "Allow",
                 "Principal": {"AWS": ["arn:aws:iam::111122223333:role/ExampleRole", "444455556666"]},
                 "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                 "Resource": "*",
                 "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}}},
                {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "NotAction": "kms:Describe*", "NotResource": "arn:aws:kms:*:111122223333:key/*"}
            ]
        }))
        .unwrap();
        assert_eq!(p.kind(), PolicyKind::Resource);
        assert_eq!(p.version(), Some("2012-10-17"));
        assert_eq!(p.id(), Some("key-consolepolicy-3"));
        assert_eq!(p.statements().len(), 3);
        assert_eq!(p.statements()[1].sid(), Some("Allow use of the key"));
        assert_eq!(p.statements()[2].effect(), Effect::Deny);
        assert_eq!(p.statements()[2].index(), 2);
        // A single statement object, no Version.
        let p = key_policy(json!({"Statement": {"Effect": "Deny", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "*", "Resource": "*"}})).unwrap();
        assert_eq!(p.version(), None);
        // Resource policies may repeat Sids.
        let s = json!({"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"});
        assert!(key_policy(json!({"Statement": [s.clone(), s]})).is_ok());
    }

    #[test]
    fn refuses_malformed_documents() {
        assert_eq!(Policy::parse("{", PolicyKind::Resource).unwrap_err().0, "The policy document is not valid JSON.");
        assert!(key_policy(json!([])).unwrap_err().contains("JSON object"));
        assert!(key_policy(json!({"Statement": []})).unwrap_err().contains("at least one Statement"));
        assert!(key_policy(json!({"Version": "2012-10-17"})).unwrap_err().contains("at least one Statement"));
        assert!(key_policy(json!({"Version": "2020-01-01", "Statement": {}})).unwrap_err().contains("invalid Version"));
        assert!(key_policy(json!({"Id": 5, "Statement": {}})).unwrap_err().contains("Id must be a string"));
        assert_eq!(
            key_policy(json!({"Statement": {}, "Extra": 1})).unwrap_err(),
            "Policy document contains an unsupported element: Extra"
        );
        assert!(key_policy(json!({"Statement": [1]})).unwrap_err().contains("must be a JSON object"));
    }

    #[test]
    fn refuses_malformed_statements() {
        assert_eq!(refused(json!({"Foo": 1})), "Policy statement contains an unsupported element: Foo");
        assert!(refused(json!({"Effect": null})).contains("valid Effect"));
        assert!(refused(json!({"Effect": "allow"})).contains("valid Effect"));
        assert!(refused(json!({"Sid": 1})).contains("Sid must be a string"));
        assert!(refused(json!({"Principal": null})).contains("must contain a Principal or NotPrincipal"));
        assert!(refused(json!({"NotPrincipal": "*"})).contains("both Principal and NotPrincipal"));
        assert!(refused(json!({"Principal": {"AWS": []}})).contains("invalid principals"));
        assert!(refused(json!({"Action": null})).contains("exactly one of Action or NotAction"));
        assert!(refused(json!({"NotAction": "kms:Decrypt"})).contains("both Action and NotAction"));
        assert!(refused(json!({"Action": []})).contains("Action must be a non-empty"));
        assert!(refused(json!({"Action": [""]})).contains("Action must be a non-empty"));
        assert!(refused(json!({"Action": "Decrypt"})).contains("<service>:<action>"));
        assert!(refused(json!({"Resource": null})).contains("exactly one of Resource or NotResource"));
        assert!(refused(json!({"Resource": "key/1"})).contains("must be \"*\" or an ARN"));
        assert!(refused(json!({"Resource": null, "NotResource": []})).contains("NotResource must be a non-empty"));
        assert!(refused(json!({"Condition": {"StringEqualz": {"a:b": "c"}}})).contains("unsupported operator"));
        assert!(refused(json!({"Condition": "x"})).contains("JSON object"));
    }

    #[test]
    fn identity_policies() {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:111122223333:key/*"}
        ]});
        assert!(Policy::parse(&doc.to_string(), PolicyKind::Identity).is_ok());
        assert!(Policy::parse(&doc.to_string(), PolicyKind::Resource).is_err());
        let with_principal = statement(json!({}));
        assert_eq!(
            Policy::parse(&with_principal.to_string(), PolicyKind::Identity).unwrap_err().0,
            "Policy document should not specify a principal."
        );
        let s = json!({"Sid": "A", "Effect": "Allow", "Action": "kms:*", "Resource": "*"});
        let dup = json!({"Statement": [s.clone(), s]});
        assert!(Policy::parse(&dup.to_string(), PolicyKind::Identity).unwrap_err().0.contains("must be unique"));
    }
}
