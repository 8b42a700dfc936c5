//! Principals and their credentials.

use std::sync::Arc;

use kms_policy::{Policy, PolicyKind};

use crate::crypto::{fill_random, SecretString};
use crate::error::Result;
use crate::types::UserRecord;

/// The identity policy an admin user has implicitly (like AWS's
/// AdministratorAccess managed policy).
pub const ADMINISTRATOR_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AdministratorAccess","Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// Who is calling, as established by authentication, with what the
/// authorization engine needs: the principal for policy matching, tags and
/// the parsed identity policies (labelled for the decision trace).
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: String,
    /// The IAM user name (users) or role session name (assumed roles).
    pub user_name: String,
    /// `AIDA...` for users, `AROA...:<session>` for assumed-role sessions.
    pub user_id: String,
    pub arn: String,
    /// May call the operator API.
    pub admin: bool,
    pub policy_principal: kms_policy::Principal,
    pub tags: Vec<(String, String)>,
    pub policies: Vec<(String, Arc<Policy>)>,
}

/// Parse stored identity policies; one that no longer parses is skipped
/// (it allows nothing) and logged.
pub fn parse_identity_policies(
    owner: &str,
    docs: impl IntoIterator<Item = (String, String)>,
    admin: bool,
) -> Vec<(String, Arc<Policy>)> {
    let mut out = vec![];
    if admin {
        if let Ok(p) = Policy::parse(ADMINISTRATOR_ACCESS, PolicyKind::Identity) {
            out.push(("AdministratorAccess".to_string(), Arc::new(p)));
        }
    }
    for (name, doc) in docs {
        match Policy::parse(&doc, PolicyKind::Identity) {
            Ok(p) => out.push((format!("{owner}/{name}"), Arc::new(p))),
            Err(e) => {
                tracing::warn!(policy = %name, owner = %owner, error = %e, "stored identity policy no longer parses; ignored")
            }
        }
    }
    out
}

impl Principal {
    /// A caller that is not an AWS identity (a replication peer): no
    /// account, no policies, named `name`.
    pub fn internal(name: &str) -> Self {
        Principal {
            account: String::new(),
            user_name: name.to_string(),
            user_id: String::new(),
            arn: name.to_string(),
            admin: false,
            policy_principal: kms_policy::Principal::service(name),
            tags: vec![],
            policies: vec![],
        }
    }

    pub fn from_user(u: &UserRecord, partition: &str) -> Self {
        let arn = u.arn(partition);
        Principal {
            account: u.account.clone(),
            user_name: u.name.clone(),
            user_id: u.user_id.clone(),
            policy_principal: kms_policy::Principal {
                arn: arn.clone(),
                account: u.account.clone(),
                kind: kms_policy::PrincipalKind::User,
                role_arn: None,
            },
            policies: parse_identity_policies(
                &format!("user policy {}", u.name),
                u.policies.iter().map(|(k, v)| (k.clone(), v.clone())),
                u.admin,
            ),
            tags: u.tags.clone(),
            arn,
            admin: u.admin,
        }
    }

    pub fn is_user(&self) -> bool {
        self.policy_principal.kind == kms_policy::PrincipalKind::User
    }
}

/// A usable credential: the secret (decrypted, held only in memory) and the
/// principal it authenticates.
#[derive(Debug)]
pub struct Credential {
    pub access_key_id: String,
    pub secret: SecretString,
    pub principal: Arc<Principal>,
}

/// Resolves the access key id and session token of a signed request to a
/// credential: `UnrecognizedClient` for an unknown key or a wrong token,
/// `ExpiredToken` for a session past its expiry.
pub trait CredentialResolver: Send + Sync {
    fn resolve(&self, access_key_id: &str, session_token: Option<&str>) -> Result<Arc<Credential>>;
}

impl Principal {
    /// The principal of an assumed-role session.
    pub fn from_role_session(r: &crate::types::RoleRecord, session: &str, partition: &str) -> Self {
        let role_arn = r.arn(partition);
        let arn = format!("arn:{partition}:sts::{}:assumed-role/{}/{session}", r.account, r.name);
        Principal {
            account: r.account.clone(),
            user_name: session.to_string(),
            user_id: format!("{}:{session}", r.role_id),
            policy_principal: kms_policy::Principal {
                arn: arn.clone(),
                account: r.account.clone(),
                kind: kms_policy::PrincipalKind::AssumedRole,
                role_arn: Some(role_arn),
            },
            policies: parse_identity_policies(
                &format!("role policy {}", r.name),
                r.policies.iter().map(|(k, v)| (k.clone(), v.clone())),
                false,
            ),
            tags: r.tags.clone(),
            arn,
            admin: false,
        }
    }
}

/// `ASIA` followed by 16 base32 characters: a temporary access key id.
pub fn new_session_access_key_id() -> Result<String> {
    random_chars("ASIA", 16, BASE32)
}

/// `AROA` followed by 17 base32 characters: a role's unique id.
pub fn new_role_id() -> Result<String> {
    random_chars("AROA", 17, BASE32)
}

/// A session token (opaque, 172 base64 characters).
pub fn new_session_token() -> Result<SecretString> {
    Ok(SecretString::new(random_chars("FwoGZXIvYXdzE", 160, B64)?))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_chars(prefix: &str, n: usize, alphabet: &[u8]) -> Result<String> {
    let mut raw = vec![0u8; n];
    fill_random(&mut raw)?;
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    // Both alphabets have a power-of-two size, so the modulo is unbiased.
    s.extend(raw.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char));
    Ok(s)
}

/// `AKIA` followed by 16 base32 characters, as AWS formats access key ids.
pub fn new_access_key_id() -> Result<String> {
    random_chars("AKIA", 16, BASE32)
}

/// A 40-character secret access key.
pub fn new_secret_access_key() -> Result<SecretString> {
    Ok(SecretString::new(random_chars("", 40, B64)?))
}

/// `AIDA` followed by 17 base32 characters: an IAM user's unique id.
pub fn new_user_id() -> Result<String> {
    random_chars("AIDA", 17, BASE32)
}

/// IAM's user-name rule: 1 to 64 of `[\w+=,.@-]`.
pub fn is_user_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let ak = new_access_key_id().unwrap();
        assert_eq!(ak.len(), 20);
        assert!(ak.starts_with("AKIA"));
        assert_eq!(new_secret_access_key().unwrap().expose().len(), 40);
        assert!(is_user_name("alice.b@x"));
        assert!(!is_user_name("no spaces"));
        assert!(!is_user_name(""));
    }
}
