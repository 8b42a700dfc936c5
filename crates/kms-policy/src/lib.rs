//! The IAM-style policy language used by key policies: pure (no I/O, no
//! clock). Today it parses and validates documents; evaluation arrives with
//! the authorization work.

use serde_json::Value;

/// Why a document was refused; the text is the message of AWS's
/// `MalformedPolicyDocumentException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const VERSIONS: &[&str] = &["2008-10-17", "2012-10-17"];
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn malformed(msg: &str) -> PolicyError {
    PolicyError(msg.to_string())
}

fn string_or_strings(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => {
            !a.is_empty()
                && a.iter()
                    .all(|x| matches!(x, Value::String(s) if !s.is_empty()))
        }
        _ => false,
    }
}

fn principal_ok(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "*",
        Value::Object(m) => {
            !m.is_empty()
                && m.iter().all(|(k, v)| {
                    matches!(
                        k.as_str(),
                        "AWS" | "Service" | "Federated" | "CanonicalUser"
                    ) && string_or_strings(v)
                })
        }
        _ => false,
    }
}

fn condition_ok(v: &Value) -> bool {
    match v {
        Value::Object(ops) => ops.values().all(|keys| match keys {
            Value::Object(k) => k.values().all(|vals| match vals {
                Value::Array(a) => a.iter().all(|x| !x.is_object() && !x.is_array()),
                Value::Object(_) => false,
                _ => true,
            }),
            _ => false,
        }),
        _ => false,
    }
}

fn statement_ok(s: &Value) -> Result<(), PolicyError> {
    let m = s
        .as_object()
        .ok_or_else(|| malformed("Policy statement must be a JSON object"))?;
    if let Some(k) = m.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
        return Err(PolicyError(format!(
            "Policy statement contains an unsupported element: {k}"
        )));
    }
    match m.get("Effect").and_then(Value::as_str) {
        Some("Allow") | Some("Deny") => {}
        _ => {
            return Err(malformed(
                "Policy statement must contain a valid Effect (Allow or Deny)",
            ))
        }
    }
    if let Some(sid) = m.get("Sid") {
        if !sid.is_string() {
            return Err(malformed("Statement Sid must be a string"));
        }
    }
    let principal = match (m.get("Principal"), m.get("NotPrincipal")) {
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => return Err(malformed("Policy statement must contain a principal")),
        (Some(_), Some(_)) => {
            return Err(malformed(
                "Policy statement cannot contain both Principal and NotPrincipal",
            ))
        }
    };
    if !principal_ok(principal) {
        return Err(malformed(
            "Policy contains a statement with one or more invalid principals.",
        ));
    }
    match (m.get("Action"), m.get("NotAction")) {
        (Some(a), None) | (None, Some(a)) if string_or_strings(a) => {}
        _ => {
            return Err(malformed(
                "Policy statement must contain exactly one of Action or NotAction",
            ))
        }
    }
    match (m.get("Resource"), m.get("NotResource")) {
        (Some(r), None) | (None, Some(r)) if string_or_strings(r) => {}
        _ => {
            return Err(malformed(
                "Policy statement must contain exactly one of Resource or NotResource",
            ))
        }
    }
    if let Some(c) = m.get("Condition") {
        if !condition_ok(c) {
            return Err(malformed("Policy statement contains a malformed Condition"));
        }
    }
    Ok(())
}

/// Validate a key policy document.
pub fn validate(doc: &str) -> Result<(), PolicyError> {
    let v: Value = serde_json::from_str(doc)
        .map_err(|_| malformed("The policy document is not valid JSON."))?;
    let m = v
        .as_object()
        .ok_or_else(|| malformed("Policy document must be a JSON object"))?;
    if let Some(ver) = m.get("Version") {
        if !ver.as_str().is_some_and(|s| VERSIONS.contains(&s)) {
            return Err(malformed("Policy document contains an invalid Version"));
        }
    }
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
    {
        return Err(PolicyError(format!(
            "Policy document contains an unsupported element: {k}"
        )));
    }
    match m.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().try_for_each(statement_ok),
        Some(s @ Value::Object(_)) => statement_ok(s),
        _ => Err(malformed(
            "Policy document must contain at least one Statement",
        )),
    }
}

/// IAM wildcard matching: `*` matches any run of characters, `?` any one
/// character. `case_insensitive` for action names.
pub fn wildcard_match(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let norm = |s: &str| {
        if case_insensitive {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let (p, v): (Vec<char>, Vec<char>) = (
        norm(pattern).chars().collect(),
        norm(value).chars().collect(),
    );
    let (mut pi, mut vi, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The key-policy lockout safety check: does some `Allow` statement name one
/// of `principals` (ARNs or account ids) for `action`? Conditions are
/// assumed satisfiable, as AWS's check does not evaluate them either.
pub fn allows_principal_action(doc: &str, principals: &[&str], action: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(doc) else {
        return false;
    };
    let statements: Vec<&Value> = match &v["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => vec![],
    };
    statements.iter().any(|s| {
        if s["Effect"] != "Allow" {
            return false;
        }
        let principal_ok = match &s["Principal"] {
            Value::String(p) => p == "*",
            Value::Object(m) => m.get("AWS").is_some_and(|aws| {
                strings(aws)
                    .iter()
                    .any(|p| *p == "*" || principals.iter().any(|q| q == p))
            }),
            _ => false,
        };
        let action_ok = strings(&s["Action"])
            .iter()
            .any(|a| wildcard_match(a, action, true));
        principal_ok && action_ok
    })
}

/// The key policy AWS gives a key created without one: the account's root
/// may do everything, which delegates access to the account's IAM policies.
pub fn default_key_policy(partition: &str, account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{partition}:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid() {
        validate(&default_key_policy("aws", "111122223333")).unwrap();
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("kms:*", "kms:Decrypt", true));
        assert!(wildcard_match("KMS:De*t", "kms:Decrypt", true));
        assert!(wildcard_match("kms:?ncrypt", "kms:Encrypt", true));
        assert!(!wildcard_match("kms:Encrypt", "kms:Decrypt", true));
        assert!(wildcard_match("*", "", false));
        assert!(!wildcard_match("a*b", "acbd", false));
    }

    #[test]
    fn lockout_check() {
        let p = default_key_policy("aws", "111122223333");
        assert!(allows_principal_action(
            &p,
            &["arn:aws:iam::111122223333:root"],
            "kms:PutKeyPolicy"
        ));
        assert!(!allows_principal_action(
            &p,
            &["arn:aws:iam::444455556666:root"],
            "kms:PutKeyPolicy"
        ));
        let only_decrypt = r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}}"#;
        assert!(!allows_principal_action(
            only_decrypt,
            &["x"],
            "kms:PutKeyPolicy"
        ));
    }

    #[test]
    fn refuses_malformed() {
        assert!(validate("not json").is_err());
        assert!(validate("[]").is_err());
        assert!(validate(r#"{"Statement": []}"#).is_err());
        assert!(validate(r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#).is_err());
        assert!(validate(r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#).is_ok());
        assert!(validate(
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*"}}"#
        )
        .is_err());
    }
}
