//! Identifiers: account ids, key ids, ARNs and the four ways a request can
//! name a key (key id, key ARN, alias name, alias ARN).

use crate::error::{Error, Result};

/// Where this service lives: the partition and region that ARNs carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub partition: String,
    pub region: String,
}

impl Location {
    pub fn key_arn(&self, account: &str, key_id: &str) -> String {
        format!("arn:{}:kms:{}:{}:key/{}", self.partition, self.region, account, key_id)
    }
    pub fn alias_arn(&self, account: &str, alias_name: &str) -> String {
        format!("arn:{}:kms:{}:{}:{}", self.partition, self.region, account, alias_name)
    }
    /// The same partition, another region.
    pub fn in_region(&self, region: &str) -> Location {
        Location { partition: self.partition.clone(), region: region.to_string() }
    }
}

/// `true` for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `true` for a key id as AWS formats them: a lowercase UUID, or `mrk-`
/// followed by 32 lowercase hex digits for multi-Region keys.
pub fn is_key_id(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    }
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// A new random single-Region key id (a v4 UUID, lowercase).
pub fn new_key_id() -> Result<String> {
    let mut b = [0u8; 16];
    crate::crypto::fill_random(&mut b)?;
    Ok(uuid::Builder::from_random_bytes(b).into_uuid().hyphenated().to_string())
}

/// A new random multi-Region key id: `mrk-` and 32 lowercase hex digits.
pub fn new_multi_region_key_id() -> Result<String> {
    let mut b = [0u8; 16];
    crate::crypto::fill_random(&mut b)?;
    Ok(format!("mrk-{}", crate::crypto::hex(&b)))
}

/// How a request named a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A bare key id, resolved in the caller's account.
    KeyId(String),
    /// A key ARN: account and key id.
    KeyArn { account: String, key_id: String },
    /// `alias/name`, resolved in the caller's account.
    AliasName(String),
    /// An alias ARN: account and `alias/name`.
    AliasArn { account: String, alias_name: String },
}

impl KeyRef {
    /// Parse a `KeyId` member. ARNs must name this service's partition and region.
    pub fn parse(s: &str, loc: &Location) -> Result<KeyRef> {
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            if parts.len() != 5 || parts[1] != "kms" || !is_account_id(parts[3]) {
                return Err(Error::NotFound(format!("Invalid arn {s}")));
            }
            if parts[0] != loc.partition || parts[2] != loc.region {
                return Err(Error::NotFound(format!("Invalid arn {}", parts[2])));
            }
            let account = parts[3].to_string();
            let resource = parts[4];
            if let Some(key_id) = resource.strip_prefix("key/") {
                if !is_key_id(key_id) {
                    return Err(Error::NotFound(format!("Invalid keyId '{s}'")));
                }
                return Ok(KeyRef::KeyArn { account, key_id: key_id.to_string() });
            }
            if resource.starts_with("alias/") {
                return Ok(KeyRef::AliasArn { account, alias_name: resource.to_string() });
            }
            return Err(Error::NotFound(format!("Invalid arn {s}")));
        }
        if s.starts_with("alias/") {
            return Ok(KeyRef::AliasName(s.to_string()));
        }
        if is_key_id(s) {
            return Ok(KeyRef::KeyId(s.to_string()));
        }
        Err(Error::NotFound(format!("Invalid keyId '{s}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Location {
        Location { partition: "aws".into(), region: "us-east-1".into() }
    }

    #[test]
    fn key_ids() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("1234ABCD-12ab-34cd-56ef-1234567890ab"));
        assert!(!is_key_id("1234abcd-12ab-34cd-56ef-1234567890a"));
        assert!(!is_key_id("mrk-1234"));
        let id = new_key_id().unwrap();
        assert!(is_key_id(&id), "{id}");
    }

    #[test]
    fn key_refs() {
        let l = loc();
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(KeyRef::parse(id, &l).unwrap(), KeyRef::KeyId(id.into()));
        assert_eq!(
            KeyRef::parse(&format!("arn:aws:kms:us-east-1:111122223333:key/{id}"), &l).unwrap(),
            KeyRef::KeyArn { account: "111122223333".into(), key_id: id.into() }
        );
        assert_eq!(KeyRef::parse("alias/x", &l).unwrap(), KeyRef::AliasName("alias/x".into()));
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-east-1:111122223333:alias/x", &l).unwrap(),
            KeyRef::AliasArn { account: "111122223333".into(), alias_name: "alias/x".into() }
        );
        let e = KeyRef::parse("nope", &l).unwrap_err();
        assert_eq!(e.to_string(), "Invalid keyId 'nope'");
        let e = KeyRef::parse(&format!("arn:aws:kms:eu-west-1:111122223333:key/{id}"), &l).unwrap_err();
        assert_eq!(e.to_string(), "Invalid arn eu-west-1");
    }
}
