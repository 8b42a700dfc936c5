//! Request validation with AWS's message format:
//! `1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null`.
//!
//! The generated model (`model::generated`) calls the `at`-based methods
//! ([`Validator::need`], [`Validator::string`], ...) from each request
//! structure's [`Validate`] impl; `at` is the path of the enclosing
//! structure as AWS writes it (`""` at the top, `tags.1.member.` in a list,
//! `constraints.` in a nested structure), so a path string is built only
//! when a violation is reported.

use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::error::Error;

/// Collects constraint violations in member order, then reports them the way
/// AWS does.
#[derive(Default)]
pub struct Validator {
    errors: Vec<String>,
    /// An error of another kind, reported when the constraints all hold
    /// (e.g. a malformed grant token).
    deferred: Option<Error>,
}

/// A structure whose members the model constrains.
pub trait Validate {
    /// Check every member; `at` is the structure's own path prefix.
    fn validate_at(&self, v: &mut Validator, at: &str);

    /// The request's grant tokens, if it has the member.
    fn grant_tokens(&self) -> &[String] {
        &[]
    }

    /// Check the whole request: `ValidationException` with every violation,
    /// then `InvalidGrantTokenException` for a token that is not one of ours.
    fn validate(&self) -> Result<(), Error> {
        let mut v = Validator::default();
        self.validate_at(&mut v, "");
        if self.grant_tokens().iter().any(|t| !crate::grants::is_grant_token(t)) {
            v.defer(Error::InvalidGrantToken("Invalid grant token".into()));
        }
        v.finish()
    }
}

/// A model pattern: AWS's text (shown in messages) and the whole-string
/// regular expression that implements it, compiled on first use.
pub struct Pattern {
    pub aws: &'static str,
    pub regex: &'static str,
    compiled: OnceLock<Option<regex_lite::Regex>>,
}

impl Pattern {
    pub const fn new(aws: &'static str, regex: &'static str) -> Self {
        Pattern { aws, regex, compiled: OnceLock::new() }
    }

    /// Whether `s` matches. A pattern that does not compile matches nothing
    /// (a unit test compiles every pattern of the model).
    pub fn matches(&self, s: &str) -> bool {
        self.compiled.get_or_init(|| regex_lite::Regex::new(self.regex).ok()).as_ref().is_some_and(|r| r.is_match(s))
    }
}

/// One constraint of a scalar shape.
pub enum Check {
    /// String length in characters, blob length in bytes (inclusive bounds).
    Len(usize, usize),
    /// Integer value (inclusive bounds).
    Range(i64, i64),
    Pattern(&'static Pattern),
    Enum(&'static [&'static str]),
}

impl Check {
    /// The constraint text when `len` (or `value`) / `s` violates it.
    fn violated(&self, s: Option<&str>, len: usize, value: i64) -> Option<String> {
        match *self {
            Check::Len(min, _) if len < min => Some(format!("Member must have length greater than or equal to {min}")),
            Check::Len(_, max) if len > max => Some(format!("Member must have length less than or equal to {max}")),
            Check::Range(min, _) if value < min => {
                Some(format!("Member must have value greater than or equal to {min}"))
            }
            Check::Range(_, max) if value > max => Some(format!("Member must have value less than or equal to {max}")),
            Check::Pattern(p) if s.is_some_and(|s| !p.matches(s)) => {
                Some(format!("Member must satisfy regular expression pattern: {}", p.aws))
            }
            Check::Enum(all) if s.is_some_and(|s| !all.contains(&s)) => {
                Some(format!("Member must satisfy enum value set: [{}]", all.join(", ")))
            }
            _ => None,
        }
    }
}

/// The path of member `m` of a nested structure member at `at`: `at` + `m` + `.`.
pub fn child(at: &str, m: &str) -> String {
    format!("{at}{m}.")
}

/// The path prefix of item `i` (0-based) of list member `m`: `m.<i+1>.member.`.
pub fn list_item(at: &str, m: &str, i: usize) -> String {
    format!("{at}{m}.{}.member.", i + 1)
}

/// How a value is shown in a message.
enum Shown<'a> {
    Null,
    Value(&'a str),
    /// Sensitive members are never echoed.
    Hidden,
}

impl Validator {
    fn push(&mut self, at: &str, member: &str, shown: Shown<'_>, constraint: &str) {
        let mut e = String::with_capacity(96);
        let _ = match shown {
            Shown::Null => write!(e, "Value null"),
            Shown::Value(v) => write!(e, "Value '{v}'"),
            Shown::Hidden => write!(e, "Value"),
        };
        let _ = write!(e, " at '{at}{member}' failed to satisfy constraint: {constraint}");
        self.errors.push(e);
    }

    /// A required member: `Value null at ... Member must not be null`
    /// (`Value at ...` for a sensitive member).
    pub fn need(&mut self, at: &str, member: &str, present: bool, sensitive: bool) {
        if !present {
            self.push(at, member, if sensitive { Shown::Hidden } else { Shown::Null }, "Member must not be null");
        }
    }

    /// A string member's constraints, in the given order.
    pub fn string(&mut self, at: &str, member: &str, v: Option<&str>, checks: &[Check], sensitive: bool) {
        let Some(s) = v else { return };
        let len = s.chars().count();
        for c in checks {
            if let Some(msg) = c.violated(Some(s), len, 0) {
                self.push(at, member, if sensitive { Shown::Hidden } else { Shown::Value(s) }, &msg);
            }
        }
    }

    /// A blob member's length. AWS never shows a blob's value.
    pub fn blob(&mut self, at: &str, member: &str, len: Option<usize>, checks: &[Check]) {
        let Some(n) = len else { return };
        for c in checks {
            if let Some(msg) = c.violated(None, n, 0) {
                self.push(at, member, Shown::Hidden, &msg);
            }
        }
    }

    /// An integer member's range.
    pub fn number(&mut self, at: &str, member: &str, v: Option<i64>, checks: &[Check]) {
        let Some(n) = v else { return };
        for c in checks {
            if let Some(msg) = c.violated(None, 0, n) {
                self.push(at, member, Shown::Value(&n.to_string()), &msg);
            }
        }
    }

    /// A list member's size. AWS shows a list as `[a, b]`.
    pub fn list_size<T: std::fmt::Debug>(&mut self, at: &str, member: &str, v: Option<&[T]>, min: usize, max: usize) {
        let Some(l) = v else { return };
        let Some(msg) = Check::Len(min, max).violated(None, l.len(), 0) else { return };
        let shown = show_list(l);
        self.push(at, member, Shown::Value(&shown), &msg);
    }

    /// The members of a list of strings: when an item violates a
    /// constraint, one error for the whole list that names every constraint
    /// of the member shape (AWS's `Member must satisfy constraint: [...]`,
    /// lengths as maximum then minimum, then the pattern or enum).
    pub fn strings(&mut self, at: &str, member: &str, v: Option<&[String]>, checks: &[Check]) {
        let Some(l) = v else { return };
        let bad = l.iter().any(|s| {
            let len = s.chars().count();
            checks.iter().any(|c| c.violated(Some(s), len, 0).is_some())
        });
        if bad {
            let mut all = Vec::new();
            for c in checks {
                match *c {
                    Check::Len(min, max) => {
                        all.push(format!("Member must have length less than or equal to {max}"));
                        all.push(format!("Member must have length greater than or equal to {min}"));
                    }
                    Check::Range(min, max) => {
                        all.push(format!("Member must have value less than or equal to {max}"));
                        all.push(format!("Member must have value greater than or equal to {min}"));
                    }
                    Check::Pattern(p) => all.push(format!("Member must satisfy regular expression pattern: {}", p.aws)),
                    Check::Enum(e) => all.push(format!("Member must satisfy enum value set: [{}]", e.join(", "))),
                }
            }
            let shown = show_list(l);
            self.push(
                at,
                member,
                Shown::Value(&shown),
                &format!("Member must satisfy constraint: [{}]", all.join(", ")),
            );
        }
    }

    // ------------------------------------------------------------ the operator API's checks

    pub fn required<T>(&mut self, member: &str, v: &Option<T>) -> &mut Self {
        self.need("", member, v.is_some(), false);
        self
    }

    /// String length in characters, as AWS counts it.
    pub fn str_len(&mut self, member: &str, v: Option<&str>, min: usize, max: usize) -> &mut Self {
        self.string("", member, v, &[Check::Len(min, max)], false);
        self
    }

    pub fn range(&mut self, member: &str, v: Option<i64>, min: i64, max: i64) -> &mut Self {
        self.number("", member, v, &[Check::Range(min, max)]);
        self
    }

    pub fn one_of(&mut self, member: &str, v: Option<&str>, allowed: &'static [&'static str]) -> &mut Self {
        self.string("", member, v, &[Check::Enum(allowed)], false);
        self
    }

    /// A pattern check whose predicate is given in Rust; `pattern` is the
    /// regular expression AWS names in its message.
    pub fn pattern(&mut self, member: &str, v: Option<&str>, ok: impl Fn(&str) -> bool, pattern: &str) -> &mut Self {
        if let Some(s) = v {
            if !ok(s) {
                self.push(
                    "",
                    member,
                    Shown::Value(s),
                    &format!("Member must satisfy regular expression pattern: {pattern}"),
                );
            }
        }
        self
    }

    /// Report `e` unless a constraint violation is found.
    pub fn defer(&mut self, e: Error) -> &mut Self {
        self.deferred.get_or_insert(e);
        self
    }

    pub fn finish(&mut self) -> Result<(), Error> {
        match self.errors.len() {
            0 => self.deferred.take().map_or(Ok(()), Err),
            1 => Err(Error::Validation(format!("1 validation error detected: {}", self.errors[0]))),
            n => Err(Error::Validation(format!("{n} validation errors detected: {}", self.errors.join("; ")))),
        }
    }
}

/// A list as Java prints it: `[a, b]` (strings bare, structures by `Debug`).
fn show_list<T: std::fmt::Debug>(l: &[T]) -> String {
    let items: Vec<String> = l.iter().map(|x| format!("{x:?}").trim_matches('"').to_string()).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_message_format() {
        let none: Option<String> = None;
        let e = Validator::default().required("keyId", &none).finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        let mut v = Validator::default();
        v.blob("", "plaintext", Some(5000), &[Check::Len(1, 4096)]);
        v.number("", "limit", Some(0), &[Check::Range(1, 1000)]);
        assert_eq!(
            v.finish().unwrap_err().to_string(),
            "2 validation errors detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096; Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn nested_paths_and_list_members() {
        let mut v = Validator::default();
        v.string(&list_item("", "tags", 0), "tagKey", Some(""), &[Check::Len(1, 128)], false);
        v.strings("", "operations", Some(&["Encrypt".to_string(), "Foo".to_string()]), &[Check::Enum(&["Encrypt"])]);
        assert_eq!(
            v.finish().unwrap_err().to_string(),
            "2 validation errors detected: Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '[Encrypt, Foo]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [Encrypt]]"
        );
    }

    #[test]
    fn every_model_pattern_compiles() {
        for p in crate::model::PATTERNS {
            assert!(regex_lite::Regex::new(p.regex).is_ok(), "{}", p.aws);
        }
        assert!(crate::model::PATTERN_ALIAS_NAME.matches("alias/x-1"));
        assert!(!crate::model::PATTERN_ALIAS_NAME.matches("alias/x y"));
        assert!(!crate::model::PATTERN_ACCOUNT_ID.matches("1234567890123"));
    }
}
