//! The `Condition` element: every IAM condition operator, its `...IfExists`
//! form and the `ForAllValues:` / `ForAnyValue:` set qualifiers.
//!
//! Semantics (IAM's):
//! - operators in a block, and keys under one operator, are ANDed; the
//!   values listed for one key are ORed;
//! - a negated operator (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`,
//!   ...) holds when the request value matches *none* of the listed values;
//! - a key absent from the request makes a positive operator false and a
//!   negated one true; `...IfExists` holds when the key is absent; `Null`
//!   tests presence itself; `ForAllValues:` holds when the key is absent,
//!   `ForAnyValue:` does not;
//! - with a multi-valued request key and no set qualifier, a positive
//!   operator holds when some request value matches, a negated one when no
//!   request value matches; `ForAllValues:` requires every request value to
//!   satisfy the operator, `ForAnyValue:` at least one;
//! - a request value that cannot be read as the operator's type (a number,
//!   date, boolean, base64 or IP address) satisfies neither the operator nor
//!   its negation.

use serde_json::Value;

use crate::context::Env;
use crate::pattern::Pattern;
use crate::values::{parse_binary, parse_bool, parse_date, parse_ip, parse_number, Cidr};
use crate::variables::Template;
use crate::{malformed, PolicyError};

/// A comparison of the request value (left) with the policy value (right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// How string and ARN values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextMode {
    Equals,
    EqualsIgnoreCase,
    Like,
    /// `Arn*`: component-wise, with wildcards (`ArnEquals` and `ArnLike`
    /// behave the same in IAM).
    Arn,
}

/// The operator families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Text(TextMode),
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Null,
}

/// Every operator: name, family, negated.
const OPERATORS: &[(&str, Family, bool)] = {
    use Cmp::*;
    use Family::*;
    use TextMode::*;
    &[
        ("StringEquals", Text(Equals), false),
        ("StringNotEquals", Text(Equals), true),
        ("StringEqualsIgnoreCase", Text(EqualsIgnoreCase), false),
        ("StringNotEqualsIgnoreCase", Text(EqualsIgnoreCase), true),
        ("StringLike", Text(Like), false),
        ("StringNotLike", Text(Like), true),
        ("NumericEquals", Numeric(Eq), false),
        ("NumericNotEquals", Numeric(Eq), true),
        ("NumericLessThan", Numeric(Lt), false),
        ("NumericLessThanEquals", Numeric(Le), false),
        ("NumericGreaterThan", Numeric(Gt), false),
        ("NumericGreaterThanEquals", Numeric(Ge), false),
        ("DateEquals", Date(Eq), false),
        ("DateNotEquals", Date(Eq), true),
        ("DateLessThan", Date(Lt), false),
        ("DateLessThanEquals", Date(Le), false),
        ("DateGreaterThan", Date(Gt), false),
        ("DateGreaterThanEquals", Date(Ge), false),
        ("Bool", Bool, false),
        ("BinaryEquals", Binary, false),
        ("IpAddress", Ip, false),
        ("NotIpAddress", Ip, true),
        ("ArnEquals", Text(Arn), false),
        ("ArnLike", Text(Arn), false),
        ("ArnNotEquals", Text(Arn), true),
        ("ArnNotLike", Text(Arn), true),
        ("Null", Null, false),
    ]
};

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

/// The policy values of one key, typed by the operator family.
#[derive(Debug, Clone, PartialEq)]
enum Operands {
    Text(TextMode, Vec<Template>),
    Numeric(Cmp, Vec<f64>),
    Date(Cmp, Vec<i128>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    Null(Vec<bool>),
}

/// One operator applied to one key: `"StringEquals": {"kms:ViaService": [...]}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// The key, in lower case.
    key: String,
    operands: Operands,
    negated: bool,
    if_exists: bool,
    set: Option<SetQualifier>,
}

/// Strip `prefix` from `s` ignoring ASCII case.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..at])
}

/// An operator name: optional set qualifier, base operator (any letter
/// case), optional `IfExists`.
fn operator(name: &str) -> Option<(Family, bool, bool, Option<SetQualifier>)> {
    let (set, rest) = if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
        (Some(SetQualifier::ForAllValues), r)
    } else if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
        (Some(SetQualifier::ForAnyValue), r)
    } else {
        (None, name)
    };
    let lookup =
        |base: &str| OPERATORS.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(base)).map(|(_, f, neg)| (*f, *neg));
    let (family, negated, if_exists) = match lookup(rest) {
        Some((f, neg)) => (f, neg, false),
        None => {
            let (f, neg) = lookup(strip_suffix_ci(rest, "IfExists")?)?;
            (f, neg, true)
        }
    };
    if family == Family::Null && (if_exists || set.is_some()) {
        return None;
    }
    Some((family, negated, if_exists, set))
}

/// A scalar condition value as text (numbers and booleans too).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Read the list of values with `read`, or say which one is invalid.
fn typed<T>(
    texts: &[String],
    read: impl Fn(&str) -> Option<T>,
    what: &str,
    op: &str,
    key: &str,
) -> Result<Vec<T>, PolicyError> {
    texts
        .iter()
        .map(|t| {
            read(t).ok_or_else(|| {
                malformed(format!("Condition {op} for key {key} has an invalid value {t:?}: expected {what}"))
            })
        })
        .collect()
}

/// Parse a `Condition` element. `variables`: whether the policy's version
/// supports policy variables.
pub(crate) fn parse_conditions(v: &Value, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let ops = v.as_object().ok_or_else(|| malformed("Condition must be a JSON object"))?;
    let mut out = Vec::new();
    for (op, keys) in ops {
        let (family, negated, if_exists, set) =
            operator(op).ok_or_else(|| malformed(format!("Condition contains an unsupported operator: {op}")))?;
        let keys = keys
            .as_object()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| malformed(format!("Condition operator {op} must map condition keys to values")))?;
        for (key, values) in keys {
            if !valid_key(key) {
                return Err(malformed(format!("Condition contains an invalid condition key: {key:?}")));
            }
            let list: Vec<&Value> = match values {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            let texts: Option<Vec<String>> = list.into_iter().map(scalar_text).collect();
            let texts = texts.filter(|t| !t.is_empty()).ok_or_else(|| {
                malformed(format!(
                    "Condition {op} for key {key} must have a string, number or boolean value, or a non-empty list of them"
                ))
            })?;
            let operands = match family {
                Family::Text(mode) => {
                    Operands::Text(mode, texts.iter().map(|t| Template::parse(t, variables)).collect())
                }
                Family::Numeric(c) => Operands::Numeric(c, typed(&texts, parse_number, "a number", op, key)?),
                Family::Date(c) => {
                    Operands::Date(c, typed(&texts, parse_date, "an ISO 8601 date or epoch seconds", op, key)?)
                }
                Family::Bool => Operands::Bool(typed(&texts, parse_bool, "true or false", op, key)?),
                Family::Null => Operands::Null(typed(&texts, parse_bool, "true or false", op, key)?),
                Family::Binary => Operands::Binary(typed(&texts, parse_binary, "base64", op, key)?),
                Family::Ip => Operands::Ip(typed(&texts, Cidr::parse, "an IP address or CIDR range", op, key)?),
            };
            out.push(Condition { key: key.to_lowercase(), operands, negated, if_exists, set });
        }
    }
    Ok(out)
}

/// `vendor:name`, no blanks.
fn valid_key(key: &str) -> bool {
    key.split_once(':').is_some_and(|(vendor, name)| !vendor.is_empty() && !name.is_empty())
        && !key.contains(char::is_whitespace)
}

impl Condition {
    /// Does the condition hold for the request?
    pub(crate) fn holds(&self, env: &Env) -> bool {
        let values = env.get(&self.key);
        if let Operands::Null(expected) = &self.operands {
            return expected.contains(&values.is_none());
        }
        let Some(values) = values else {
            return self.if_exists
                || match self.set {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => self.negated,
                };
        };
        let patterns = match &self.operands {
            Operands::Text(mode, templates) => {
                let wildcards = matches!(mode, TextMode::Like | TextMode::Arn);
                templates.iter().filter_map(|t| t.resolve(env, wildcards)).collect()
            }
            _ => Vec::new(),
        };
        let satisfied = |v: &String| self.matches_any(v, &patterns).is_some_and(|m| m != self.negated);
        match (self.set, self.negated) {
            (Some(SetQualifier::ForAllValues), _) | (None, true) => values.iter().all(satisfied),
            (Some(SetQualifier::ForAnyValue), _) | (None, false) => values.iter().any(satisfied),
        }
    }

    /// Does the request value `v` match one of the policy values (the
    /// resolved `patterns` for text operators)? `None` if `v` cannot be read
    /// as the operator's type.
    fn matches_any(&self, v: &str, patterns: &[Pattern]) -> Option<bool> {
        Some(match &self.operands {
            Operands::Text(TextMode::Equals | TextMode::Like, _) => patterns.iter().any(|p| p.matches(v, false)),
            Operands::Text(TextMode::EqualsIgnoreCase, _) => patterns.iter().any(|p| p.matches(v, true)),
            Operands::Text(TextMode::Arn, _) => patterns.iter().any(|p| p.matches_arn(v)),
            Operands::Numeric(c, ns) => {
                let x = parse_number(v)?;
                ns.iter().any(|n| c.holds(x, *n))
            }
            Operands::Date(c, ds) => {
                let x = parse_date(v)?;
                ds.iter().any(|d| c.holds(x, *d))
            }
            Operands::Bool(bs) => bs.contains(&parse_bool(v)?),
            Operands::Binary(bs) => bs.contains(&parse_binary(v)?),
            Operands::Ip(cidrs) => {
                let ip = parse_ip(v)?;
                cidrs.iter().any(|c| c.contains(ip))
            }
            Operands::Null(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConditionContext, Principal, RequestContext};
    use serde_json::json;

    /// Evaluate a condition block (policy version 2012-10-17) against `ctx`
    /// for alice in account 111122223333.
    fn holds(block: Value, ctx: &[(&str, &[&str])]) -> bool {
        let conds = parse_conditions(&block, true).unwrap();
        let mut c = ConditionContext::new();
        for (k, v) in ctx {
            c.set_many(k, v.iter().copied());
        }
        let p = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let req = RequestContext {
            principal: &p,
            action: "kms:Decrypt",
            resource: "arn:aws:kms:us-east-1:111122223333:key/k",
            conditions: &c,
        };
        let env = Env::new(&req);
        conds.iter().all(|c| c.holds(&env))
    }

    fn err(block: Value) -> String {
        parse_conditions(&block, true).unwrap_err().0
    }

    const VIA: &str = "kms:ViaService";
    const EC2: &[&str] = &["ec2.us-east-1.amazonaws.com"];
    const S3: &[&str] = &["s3.us-east-1.amazonaws.com"];

    #[test]
    fn string_equals() {
        let b = || json!({"StringEquals": {VIA: ["ec2.us-east-1.amazonaws.com", "rds.us-east-1.amazonaws.com"]}});
        assert!(holds(b(), &[(VIA, EC2)]));
        assert!(!holds(b(), &[(VIA, S3)]));
        assert!(!holds(b(), &[]));
        assert!(!holds(b(), &[(VIA, &["EC2.us-east-1.amazonaws.com"])]));
        // Keys are case-insensitive on both sides.
        assert!(holds(json!({"StringEquals": {"KMS:VIASERVICE": EC2[0]}}), &[("kms:viaservice", EC2)]));
        // `*` is not a wildcard for StringEquals.
        assert!(!holds(json!({"StringEquals": {VIA: "*"}}), &[(VIA, EC2)]));
        // Numbers and booleans are compared as text.
        assert!(holds(json!({"StringEquals": {"k:n": 5}}), &[("k:n", &["5"])]));
        assert!(holds(json!({"StringEquals": {"k:b": true}}), &[("k:b", &["true"])]));
    }

    #[test]
    fn string_not_equals_needs_every_value_to_differ() {
        let b = || json!({"StringNotEquals": {VIA: ["ec2.us-east-1.amazonaws.com", "rds.us-east-1.amazonaws.com"]}});
        assert!(!holds(b(), &[(VIA, EC2)]));
        assert!(!holds(b(), &[(VIA, &["rds.us-east-1.amazonaws.com"])]));
        assert!(holds(b(), &[(VIA, S3)]));
        // Absent key: a negated operator holds.
        assert!(holds(b(), &[]));
    }

    #[test]
    fn ignore_case() {
        let b = || json!({"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "Ops"}});
        assert!(holds(b(), &[("aws:PrincipalTag/team", &["oPS"])]));
        assert!(!holds(b(), &[("aws:PrincipalTag/team", &["dev"])]));
        let b = || json!({"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": ["Ops", "Sec"]}});
        assert!(!holds(b(), &[("aws:PrincipalTag/team", &["SEC"])]));
        assert!(holds(b(), &[("aws:PrincipalTag/team", &["dev"])]));
    }

    #[test]
    fn string_like() {
        let b = || json!({"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"}});
        let k = "kms:EncryptionContext:aws:cloudtrail:arn";
        assert!(holds(b(), &[(k, &["arn:aws:cloudtrail:us-east-1:111122223333:trail/main"])]));
        assert!(!holds(b(), &[(k, &["arn:aws:cloudtrail:us-east-1:444455556666:trail/main"])]));
        assert!(holds(json!({"StringLike": {"k:x": "a?c"}}), &[("k:x", &["abc"])]));
        assert!(!holds(json!({"StringLike": {"k:x": "a?c"}}), &[("k:x", &["ac"])]));
        let b = || json!({"StringNotLike": {"k:x": ["a*", "b*"]}});
        assert!(!holds(b(), &[("k:x", &["bx"])]));
        assert!(holds(b(), &[("k:x", &["cx"])]));
        assert!(holds(b(), &[]));
    }

    #[test]
    fn numeric() {
        let n = |op: &str, policy: Value, v: &str| holds(json!({op: {"k:n": policy}}), &[("k:n", &[v])]);
        assert!(n("NumericEquals", json!(10), "10"));
        assert!(n("NumericEquals", json!("10"), "10.0"));
        assert!(!n("NumericEquals", json!(10), "11"));
        assert!(n("NumericNotEquals", json!([10, 11]), "12"));
        assert!(!n("NumericNotEquals", json!([10, 11]), "11"));
        assert!(n("NumericLessThan", json!(10), "9.5"));
        assert!(!n("NumericLessThan", json!(10), "10"));
        assert!(n("NumericLessThanEquals", json!(10), "10"));
        assert!(n("NumericGreaterThan", json!(10), "11"));
        assert!(!n("NumericGreaterThan", json!(10), "10"));
        assert!(n("NumericGreaterThanEquals", json!(10), "10"));
        // A request value that is not a number satisfies neither form.
        assert!(!n("NumericEquals", json!(10), "ten"));
        assert!(!n("NumericNotEquals", json!(10), "ten"));
        assert!(err(json!({"NumericEquals": {"k:n": "ten"}})).contains("expected a number"));
    }

    #[test]
    fn dates() {
        let d = |op: &str, v: &str| {
            holds(json!({op: {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}), &[("aws:CurrentTime", &[v])])
        };
        assert!(d("DateEquals", "2026-01-01T01:00:00+01:00"));
        assert!(d("DateEquals", "1767225600"));
        assert!(!d("DateEquals", "2026-01-01T00:00:01Z"));
        assert!(d("DateNotEquals", "2026-01-01T00:00:01Z"));
        assert!(d("DateLessThan", "2025-12-31T23:59:59.999Z"));
        assert!(!d("DateLessThan", "2026-01-01T00:00:00Z"));
        assert!(d("DateLessThanEquals", "2026-01-01T00:00:00Z"));
        assert!(d("DateGreaterThan", "2026-01-01T00:00:00.001Z"));
        assert!(!d("DateGreaterThan", "2026-01-01T00:00:00Z"));
        assert!(d("DateGreaterThanEquals", "2026-01-01T00:00:00Z"));
        assert!(!d("DateEquals", "yesterday"));
        // Epoch seconds in the policy, as a JSON number.
        assert!(holds(json!({"DateLessThan": {"aws:EpochTime": 1767225600}}), &[("aws:EpochTime", &["1767225599"])]));
        assert!(err(json!({"DateLessThan": {"aws:CurrentTime": "soon"}})).contains("ISO 8601"));
    }

    #[test]
    fn bool_and_binary() {
        let b = || json!({"Bool": {"aws:SecureTransport": "true"}});
        assert!(holds(b(), &[("aws:SecureTransport", &["TRUE"])]));
        assert!(!holds(b(), &[("aws:SecureTransport", &["false"])]));
        assert!(!holds(b(), &[]));
        assert!(holds(
            json!({"Bool": {"kms:GrantIsForAWSResource": true}}),
            &[("kms:GrantIsForAWSResource", &["true"])]
        ));
        assert!(err(json!({"Bool": {"aws:SecureTransport": "yes"}})).contains("true or false"));
        let b = || json!({"BinaryEquals": {"k:bin": "QmluYXJ5VmFsdWU="}});
        assert!(holds(b(), &[("k:bin", &["QmluYXJ5VmFsdWU="])]));
        assert!(!holds(b(), &[("k:bin", &["QmluYXJ5"])]));
        assert!(!holds(b(), &[("k:bin", &["not base64!"])]));
        assert!(err(json!({"BinaryEquals": {"k:bin": "%%"}})).contains("base64"));
    }

    #[test]
    fn ip_addresses() {
        let b = || json!({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]}});
        let at = |b: Value, v: &str| holds(b, &[("aws:SourceIp", &[v])]);
        assert!(at(b(), "192.0.2.200"));
        assert!(at(b(), "2001:db8:abcd::1"));
        assert!(at(b(), "198.51.100.7"));
        assert!(!at(b(), "198.51.100.8"));
        assert!(!at(b(), "garbage"));
        let n = || json!({"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}});
        assert!(!at(n(), "203.0.113.9"));
        assert!(at(n(), "198.51.100.1"));
        assert!(!at(n(), "garbage"));
        assert!(holds(n(), &[]));
        assert!(err(json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/40"}})).contains("CIDR"));
    }

    #[test]
    fn arns() {
        let k = "aws:SourceArn";
        let b = |op: &str| json!({op: {k: "arn:aws:cloudtrail:*:111122223333:trail/*"}});
        let trail = [(k, &["arn:aws:cloudtrail:us-east-1:111122223333:trail/t"][..])];
        let other = [(k, &["arn:aws:cloudtrail:us-east-1:444455556666:trail/t"][..])];
        for op in ["ArnLike", "ArnEquals"] {
            assert!(holds(b(op), &trail), "{op}");
            assert!(!holds(b(op), &other), "{op}");
        }
        for op in ["ArnNotLike", "ArnNotEquals"] {
            assert!(!holds(b(op), &trail), "{op}");
            assert!(holds(b(op), &other), "{op}");
            assert!(holds(b(op), &[]), "{op}");
        }
        assert!(!holds(b("ArnLike"), &[(k, &["not-an-arn"])]));
        // Arn matching is case-sensitive.
        assert!(!holds(b("ArnLike"), &[(k, &["arn:aws:CloudTrail:us-east-1:111122223333:trail/t"])]));
    }

    #[test]
    fn if_exists() {
        let b = || json!({"StringEqualsIfExists": {VIA: EC2[0]}});
        assert!(holds(b(), &[]));
        assert!(holds(b(), &[(VIA, EC2)]));
        assert!(!holds(b(), &[(VIA, S3)]));
        let b = || json!({"NumericLessThanIfExists": {"k:n": 3}});
        assert!(holds(b(), &[]));
        assert!(!holds(b(), &[("k:n", &["4"])]));
        let b = || json!({"StringNotLikeIfExists": {VIA: "ec2.*"}});
        assert!(holds(b(), &[]));
        assert!(!holds(b(), &[(VIA, EC2)]));
        let b = || json!({"ForAllValues:StringEqualsIfExists": {"k:s": ["a", "b"]}});
        assert!(holds(b(), &[]));
        assert!(!holds(b(), &[("k:s", &["a", "c"])]));
        let b = || json!({"ForAnyValue:StringEqualsIfExists": {"k:s": ["a"]}});
        assert!(holds(b(), &[]));
        assert!(holds(b(), &[("k:s", &["c", "a"])]));
    }

    #[test]
    fn null() {
        let b = |v: Value| json!({"Null": {"aws:TokenIssueTime": v}});
        assert!(holds(b(json!("true")), &[]));
        assert!(!holds(b(json!(true)), &[("aws:TokenIssueTime", &["x"])]));
        assert!(holds(b(json!("false")), &[("aws:TokenIssueTime", &["x"])]));
        assert!(!holds(b(json!(false)), &[]));
        assert!(holds(b(json!(["true", "false"])), &[]));
        assert!(err(json!({"NullIfExists": {"k:x": "true"}})).contains("unsupported operator"));
        assert!(err(json!({"ForAnyValue:Null": {"k:x": "true"}})).contains("unsupported operator"));
    }

    #[test]
    fn set_qualifiers() {
        let k = "kms:EncryptionContextKeys";
        let all = || json!({"ForAllValues:StringEquals": {k: ["Department", "Project"]}});
        assert!(holds(all(), &[(k, &["Department"])]));
        assert!(holds(all(), &[(k, &["Project", "Department"])]));
        assert!(!holds(all(), &[(k, &["Department", "Secret"])]));
        assert!(holds(all(), &[]), "ForAllValues holds when the key is absent");
        let any = || json!({"ForAnyValue:StringEquals": {k: ["Department", "Project"]}});
        assert!(holds(any(), &[(k, &["Secret", "Project"])]));
        assert!(!holds(any(), &[(k, &["Secret"])]));
        assert!(!holds(any(), &[]), "ForAnyValue fails when the key is absent");
        // Negated operators under set qualifiers: per request value.
        let all_not = || json!({"ForAllValues:StringNotLike": {"aws:TagKeys": ["aws:*", "kms:*"]}});
        assert!(holds(all_not(), &[("aws:TagKeys", &["team", "env"])]));
        assert!(!holds(all_not(), &[("aws:TagKeys", &["team", "aws:x"])]));
        let any_not = || json!({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}});
        assert!(holds(any_not(), &[("aws:TagKeys", &["team", "env"])]));
        assert!(!holds(any_not(), &[("aws:TagKeys", &["team"])]));
        assert!(!holds(any_not(), &[]));
        // No qualifier, several request values: any matches / none matches.
        assert!(holds(json!({"StringEquals": {"aws:TagKeys": "env"}}), &[("aws:TagKeys", &["team", "env"])]));
        assert!(!holds(json!({"StringNotEquals": {"aws:TagKeys": "env"}}), &[("aws:TagKeys", &["team", "env"])]));
        // Operator names are matched ignoring case.
        assert!(holds(json!({"forallvalues:stringequals": {k: ["a"]}}), &[(k, &["a"])]));
    }

    #[test]
    fn blocks_are_anded() {
        let b = || {
            json!({
                "StringEquals": {VIA: EC2[0], "kms:CallerAccount": "111122223333"},
                "Bool": {"aws:SecureTransport": "true"}
            })
        };
        assert!(holds(b(), &[(VIA, EC2), ("aws:SecureTransport", &["true"])]));
        assert!(!holds(b(), &[(VIA, EC2), ("aws:SecureTransport", &["false"])]));
        assert!(!holds(b(), &[(VIA, S3), ("aws:SecureTransport", &["true"])]));
        // kms:CallerAccount comes from the principal.
        assert!(!holds(
            json!({"StringEquals": {"kms:CallerAccount": "444455556666"}}),
            &[("kms:CallerAccount", &["444455556666"])]
        ));
    }

    #[test]
    fn variables_in_values() {
        let b = || json!({"StringEquals": {"kms:EncryptionContext:user": "${aws:username}"}});
        assert!(holds(b(), &[("kms:EncryptionContext:user", &["alice"])]));
        assert!(!holds(b(), &[("kms:EncryptionContext:user", &["bob"])]));
        let b = || json!({"StringLike": {"k:p": "home/${aws:username}/*"}});
        assert!(holds(b(), &[("k:p", &["home/alice/x"])]));
        assert!(!holds(b(), &[("k:p", &["home/bob/x"])]));
        // Unresolved: the value matches nothing.
        let b = || json!({"StringEquals": {"k:p": ["${aws:SourceVpc}", "fixed"]}});
        assert!(!holds(b(), &[("k:p", &["${aws:SourceVpc}"])]));
        assert!(holds(b(), &[("k:p", &["fixed"])]));
        let b = || json!({"ArnLike": {"aws:SourceArn": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}});
        assert!(holds(b(), &[("aws:SourceArn", &["arn:aws:iam::111122223333:role/x"])]));
        // Without a 2012-10-17 version, `${...}` is text.
        let conds = parse_conditions(&json!({"StringEquals": {"k:p": "${aws:username}"}}), false).unwrap();
        assert!(
            matches!(&conds[0].operands, Operands::Text(_, t) if *t == vec![Template::parse("${aws:username}", false)])
        );
    }

    #[test]
    fn malformed_conditions() {
        assert!(err(json!({"StringEqualz": {"k:x": "a"}})).contains("unsupported operator: StringEqualz"));
        assert!(err(json!({"StringEquals": {}})).contains("must map condition keys"));
        assert!(err(json!({"StringEquals": "a"})).contains("must map condition keys"));
        assert!(err(json!({"StringEquals": {"k:x": []}})).contains("non-empty list"));
        assert!(err(json!({"StringEquals": {"k:x": {"a": 1}}})).contains("non-empty list"));
        assert!(err(json!({"StringEquals": {"k:x": [null]}})).contains("non-empty list"));
        assert!(err(json!({"StringEquals": {"nokey": "a"}})).contains("invalid condition key"));
        assert!(err(json!([])).contains("JSON object"));
        assert!(parse_conditions(&json!({}), true).unwrap().is_empty());
    }
}
