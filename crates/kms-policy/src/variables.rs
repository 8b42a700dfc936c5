//! Policy variables (`${aws:username}`) in Resource and in string and ARN
//! condition values.
//!
//! A variable takes the value of the condition key it names when that key
//! has exactly one value (multi-valued keys cannot be variables). It may
//! carry a default, `${aws:PrincipalTag/team, 'none'}` (`''` is a quote),
//! used when the key is absent. `${*}`, `${?}` and `${$}` stand for the
//! literal characters. A variable that cannot be resolved (absent key and
//! no default, or malformed) makes the value it is part of match nothing.
//!
//! As in IAM, variables exist only in policies of `Version` `2012-10-17`;
//! in older or version-less policies `${...}` is plain text.

use crate::context::Env;
use crate::pattern::Pattern;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text; its `*` and `?` are wildcards where the operator has them.
    Text(String),
    /// An escaped `*`, `?` or `$`.
    Literal(char),
    /// `${key}` or `${key, 'default'}`; the key in lower case.
    Var { key: String, default: Option<String> },
    /// A `${...}` that is not a valid variable.
    Invalid,
}

/// A policy string that may contain variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Part>);

impl Template {
    /// Read `s`, recognising variables only if `variables` (the policy's
    /// version supports them).
    pub(crate) fn parse(s: &str, variables: bool) -> Template {
        if !variables {
            return Template(vec![Part::Text(s.to_string())]);
        }
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            parts.push(Part::variable(&rest[start + 2..start + 2 + len]));
            rest = &rest[start + 3 + len..];
        }
        if !rest.is_empty() || parts.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Template(parts)
    }

    /// Substitute the variables; `wildcards` reads `*` and `?` in the
    /// policy text as wildcards. `None` if a variable cannot be resolved.
    pub(crate) fn resolve(&self, env: &Env, wildcards: bool) -> Option<Pattern> {
        let mut p = Pattern::default();
        for part in &self.0 {
            match part {
                Part::Text(t) if wildcards => p.push_wildcard(t),
                Part::Text(t) => p.push_literal(t),
                Part::Literal(c) => p.push_literal(c.encode_utf8(&mut [0; 4])),
                Part::Var { key, default } => match (env.get(key), default) {
                    (Some([value]), _) => p.push_literal(value),
                    (None, Some(default)) => p.push_literal(default),
                    _ => return None,
                },
                Part::Invalid => return None,
            }
        }
        Some(p)
    }
}

impl Part {
    /// The part for the text between `${` and `}`.
    fn variable(inner: &str) -> Part {
        let inner = inner.trim();
        if let [c @ ('*' | '?' | '$')] = inner.chars().collect::<Vec<_>>()[..] {
            return Part::Literal(c);
        }
        let (key, default) = match inner.split_once(',') {
            Some((key, default)) => match quoted(default.trim()) {
                Some(d) => (key.trim(), Some(d)),
                None => return Part::Invalid,
            },
            None => (inner, None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) || key.contains('\'') {
            return Part::Invalid;
        }
        Part::Var { key: key.to_lowercase(), default }
    }
}

/// The text of a single-quoted default value, `''` standing for `'`.
fn quoted(s: &str) -> Option<String> {
    let body = s.strip_prefix('\'')?.strip_suffix('\'')?;
    if body.replace("''", "").contains('\'') {
        return None;
    }
    Some(body.replace("''", "'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConditionContext, Principal, RequestContext};

    fn resolve(template: &str, wildcards: bool, ctx: &ConditionContext) -> Option<Pattern> {
        let p = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let req = RequestContext {
            principal: &p,
            action: "kms:Decrypt",
            resource: "arn:aws:kms:us-east-1:111122223333:key/k",
            conditions: ctx,
        };
        let env = Env::new(&req);
        Template::parse(template, true).resolve(&env, wildcards)
    }

    fn literal(s: &str) -> Option<Pattern> {
        let mut p = Pattern::default();
        p.push_literal(s);
        Some(p)
    }

    #[test]
    fn substitution() {
        let mut c = ConditionContext::new();
        c.set("aws:userid", "AIDA1").set_many("aws:TagKeys", ["a", "b"]);
        assert_eq!(resolve("home/${aws:username}/x", false, &c), literal("home/alice/x"));
        assert_eq!(resolve("${AWS:UserId}", false, &c), literal("AIDA1"));
        assert_eq!(resolve("${aws:PrincipalAccount}", false, &c), literal("111122223333"));
        // Absent, multi-valued, malformed: unresolved.
        assert_eq!(resolve("${aws:SourceVpc}", false, &c), None);
        assert_eq!(resolve("${aws:TagKeys}", false, &c), None);
        assert_eq!(resolve("${}", false, &c), None);
        assert_eq!(resolve("${a b}", false, &c), None);
        // Defaults.
        assert_eq!(resolve("${aws:SourceVpc, 'none'}", false, &c), literal("none"));
        assert_eq!(resolve("${aws:SourceVpc,'it''s'}", false, &c), literal("it's"));
        assert_eq!(resolve("${aws:username, 'x'}", false, &c), literal("alice"));
        assert_eq!(resolve("${aws:SourceVpc, 'a'b'}", false, &c), None);
        assert_eq!(resolve("${aws:SourceVpc, none}", false, &c), None);
        // Unterminated: plain text.
        assert_eq!(resolve("a${b", false, &c), literal("a${b"));
        assert_eq!(resolve("", false, &c), literal(""));
    }

    #[test]
    fn escapes_stay_literal_under_wildcards() {
        let c = ConditionContext::new();
        let p = resolve("a*${*}${?}${$}", true, &c).unwrap();
        assert!(p.matches("aXYZ*?$", false));
        assert!(!p.matches("aXYZ*x$", false));
        let mut c = ConditionContext::new();
        c.set("k:v", "*");
        // A substituted value is literal too.
        let p = resolve("${k:v}", true, &c).unwrap();
        assert!(p.matches("*", false));
        assert!(!p.matches("x", false));
    }

    #[test]
    fn old_versions_have_no_variables() {
        let t = Template::parse("${aws:username}", false);
        assert_eq!(t, Template(vec![Part::Text("${aws:username}".into())]));
    }
}
