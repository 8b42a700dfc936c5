//! Request validation with AWS's message format:
//! `1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null`.

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

/// How a value is shown in a message.
enum Shown<'a> {
    Null,
    Value(&'a str),
    /// Sensitive members are never echoed.
    Hidden,
    /// Non-sensitive blobs, which AWS shows as its Java buffer.
    Blob(usize),
}

impl Validator {
    fn push(&mut self, member: &str, shown: Shown<'_>, constraint: &str) {
        let value = match shown {
            Shown::Null => "Value null".to_string(),
            Shown::Value(v) => format!("Value '{v}'"),
            Shown::Hidden => "Value".to_string(),
            Shown::Blob(n) => format!("Value 'java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]'"),
        };
        self.errors.push(format!("{value} at '{member}' failed to satisfy constraint: {constraint}"));
    }

    pub fn required<T>(&mut self, member: &str, v: &Option<T>) -> &mut Self {
        if v.is_none() {
            self.push(member, Shown::Null, "Member must not be null");
        }
        self
    }

    /// String length in characters, as AWS counts it.
    pub fn str_len(&mut self, member: &str, v: Option<&str>, min: usize, max: usize) -> &mut Self {
        if let Some(s) = v {
            let n = s.chars().count();
            if n < min {
                self.push(member, Shown::Value(s), &format!("Member must have length greater than or equal to {min}"));
            } else if n > max {
                self.push(member, Shown::Value(s), &format!("Member must have length less than or equal to {max}"));
            }
        }
        self
    }

    pub fn blob_len(&mut self, member: &str, v: Option<usize>, min: usize, max: usize, sensitive: bool) -> &mut Self {
        if let Some(n) = v {
            let shown = if sensitive { Shown::Hidden } else { Shown::Blob(n) };
            if n < min {
                self.push(member, shown, &format!("Member must have length greater than or equal to {min}"));
            } else if n > max {
                self.push(member, shown, &format!("Member must have length less than or equal to {max}"));
            }
        }
        self
    }

    pub fn range(&mut self, member: &str, v: Option<i64>, min: i64, max: i64) -> &mut Self {
        if let Some(n) = v {
            let s = n.to_string();
            if n < min {
                self.push(member, Shown::Value(&s), &format!("Member must have value greater than or equal to {min}"));
            } else if n > max {
                self.push(member, Shown::Value(&s), &format!("Member must have value less than or equal to {max}"));
            }
        }
        self
    }

    pub fn one_of(&mut self, member: &str, v: Option<&str>, allowed: &[&str]) -> &mut Self {
        if let Some(s) = v {
            if !allowed.contains(&s) {
                self.push(
                    member,
                    Shown::Value(s),
                    &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
                );
            }
        }
        self
    }

    /// A pattern check whose predicate is given in Rust; `pattern` is the
    /// regular expression AWS names in its message.
    pub fn pattern(&mut self, member: &str, v: Option<&str>, ok: impl Fn(&str) -> bool, pattern: &str) -> &mut Self {
        if let Some(s) = v {
            if !ok(s) {
                self.push(
                    member,
                    Shown::Value(s),
                    &format!("Member must satisfy regular expression pattern: {pattern}"),
                );
            }
        }
        self
    }

    pub fn list_len<T>(&mut self, member: &str, v: Option<&[T]>, min: usize, max: usize) -> &mut Self {
        if let Some(l) = v {
            let shown = format!("[{}]", l.len());
            if l.len() < min {
                self.push(
                    member,
                    Shown::Value(&shown),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if l.len() > max {
                self.push(
                    member,
                    Shown::Value(&shown),
                    &format!("Member must have length less than or equal to {max}"),
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
        let e = Validator::default()
            .blob_len("plaintext", Some(5000), 1, 4096, true)
            .range("limit", Some(0), 1, 1000)
            .finish()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 validation errors detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096; Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
    }
}
