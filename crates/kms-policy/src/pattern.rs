//! IAM wildcard patterns: `*` matches any run of characters (including
//! none), `?` exactly one character. Literal `*` and `?` (from the `${*}`
//! and `${?}` escapes, or from substituted variables) are kept apart from
//! wildcards, so one matcher serves Action, Resource, `String*` and `Arn*`.

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`
    Any,
    /// `?`
    One,
}

/// A resolved pattern, ready to match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<Tok>);

impl Pattern {
    /// `s` with `*` and `?` as wildcards.
    pub(crate) fn wildcard(s: &str) -> Self {
        let mut p = Pattern::default();
        p.push_wildcard(s);
        p
    }

    /// Append `s`, reading `*` and `?` as wildcards.
    pub(crate) fn push_wildcard(&mut self, s: &str) {
        self.0.extend(s.chars().map(|c| match c {
            '*' => Tok::Any,
            '?' => Tok::One,
            c => Tok::Lit(c),
        }));
    }

    /// Append `s` literally.
    pub(crate) fn push_literal(&mut self, s: &str) {
        self.0.extend(s.chars().map(Tok::Lit));
    }

    /// Does the pattern match all of `value`?
    pub(crate) fn matches(&self, value: &str, case_insensitive: bool) -> bool {
        let v: Vec<char> = value.chars().collect();
        match_toks(&self.0, &v, case_insensitive)
    }

    /// `ArnLike` matching: pattern and value are split into the six
    /// colon-separated ARN parts and each part is matched on its own, so a
    /// wildcard never spans a part boundary (except within the last part,
    /// the resource, which may itself contain colons). Case-sensitive.
    pub(crate) fn matches_arn(&self, value: &str) -> bool {
        let v: Vec<char> = value.chars().collect();
        let pat_parts = split6(&self.0, |t| *t == Tok::Lit(':'));
        let val_parts = split6(&v, |c| *c == ':');
        match (pat_parts, val_parts) {
            (Some(p), Some(v)) => p.iter().zip(v.iter()).all(|(p, v)| match_toks(p, v, false)),
            _ => false,
        }
    }
}

/// IAM wildcard matching: `*` matches any run of characters, `?` any one
/// character. `case_insensitive` for action names.
pub fn wildcard_match(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    Pattern::wildcard(pattern).matches(value, case_insensitive)
}

/// Split `s` at the first five separators into exactly six parts.
fn split6<T>(s: &[T], is_sep: impl Fn(&T) -> bool) -> Option<[&[T]; 6]> {
    let mut parts: [&[T]; 6] = [&[]; 6];
    let mut rest = s;
    for part in parts.iter_mut().take(5) {
        let i = rest.iter().position(&is_sep)?;
        *part = &rest[..i];
        rest = &rest[i + 1..];
    }
    parts[5] = rest;
    Some(parts)
}

fn same_char(a: char, b: char, case_insensitive: bool) -> bool {
    a == b || (case_insensitive && a.to_lowercase().eq(b.to_lowercase()))
}

/// Greedy matching with backtracking to the last `*`: O(len(p) * len(v)).
fn match_toks(p: &[Tok], v: &[char], ci: bool) -> bool {
    let (mut pi, mut vi) = (0usize, 0usize);
    // Position of the last `*` seen, and the value position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some(Tok::One) => {
                pi += 1;
                vi += 1;
            }
            Some(Tok::Lit(c)) if same_char(*c, v[vi], ci) => {
                pi += 1;
                vi += 1;
            }
            Some(Tok::Any) => {
                star = Some((pi, vi));
                pi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    star = Some((sp, sv + 1));
                    pi = sp + 1;
                    vi = sv + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("kms:*", "kms:Decrypt", true));
        assert!(wildcard_match("KMS:De*t", "kms:Decrypt", true));
        assert!(!wildcard_match("KMS:De*t", "kms:Decrypt", false));
        assert!(wildcard_match("kms:?ncrypt", "kms:Encrypt", true));
        assert!(!wildcard_match("kms:Encrypt", "kms:Decrypt", true));
        assert!(wildcard_match("*", "", false));
        assert!(!wildcard_match("?", "", false));
        assert!(!wildcard_match("a*b", "acbd", false));
        assert!(wildcard_match("a*b*c", "aXbYbZc", false));
        assert!(wildcard_match("**a", "a", false));
        assert!(wildcard_match("é?", "Éx", true));
    }

    #[test]
    fn literal_wildcard_characters() {
        let mut p = Pattern::wildcard("a");
        p.push_literal("*");
        assert!(p.matches("a*", false));
        assert!(!p.matches("ab", false));
    }

    #[test]
    fn arn_components() {
        let p = Pattern::wildcard("arn:aws:cloudtrail:*:111122223333:trail/*");
        assert!(p.matches_arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/t1"));
        assert!(!p.matches_arn("arn:aws:cloudtrail:us-east-1:444455556666:trail/t1"));
        // `*` in the region part cannot swallow the account part.
        let p = Pattern::wildcard("arn:aws:iam::*:role/x");
        assert!(p.matches_arn("arn:aws:iam::111122223333:role/x"));
        assert!(!p.matches_arn("arn:aws:iam:us-east-1:111122223333:role/x"));
        // The resource part keeps its colons.
        let p = Pattern::wildcard("arn:aws:logs:*:*:log-group:*");
        assert!(p.matches_arn("arn:aws:logs:eu-west-1:111122223333:log-group:g:*"));
        // Neither side has six parts.
        assert!(!Pattern::wildcard("*").matches_arn("arn:aws:iam::1:root"));
        assert!(!Pattern::wildcard("arn:*:*:*:*:*").matches_arn("not-an-arn"));
    }
}
