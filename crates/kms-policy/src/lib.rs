//! The IAM-style policy language of key policies and identity policies:
//! parse and validate documents, evaluate them against a request, and
//! combine them the way AWS KMS does. Pure: no I/O, no clock (the current
//! time reaches conditions only as `aws:CurrentTime` / `aws:EpochTime` in
//! the request's [`ConditionContext`]), no global state.
//!
//! ```
//! use kms_policy::*;
//!
//! let key_policy = Policy::parse(&default_key_policy("aws", "111122223333"), PolicyKind::Resource)?;
//! let user_policy = Policy::parse(
//!     r#"{"Version": "2012-10-17", "Statement": {"Sid": "UseKeys", "Effect": "Allow",
//!         "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:111122223333:key/*"}}"#,
//!     PolicyKind::Identity,
//! )?;
//! let alice = Principal::from_arn("arn:aws:iam::111122223333:user/alice").ok_or(PolicyError("arn".into()))?;
//! let mut conditions = ConditionContext::new();
//! conditions.set("kms:ViaService", "ec2.us-east-1.amazonaws.com");
//! let req = RequestContext {
//!     principal: &alice,
//!     action: "kms:Decrypt",
//!     resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
//!     conditions: &conditions,
//! };
//! let decision = authorize(&key_policy, &[("user policy alice/UseKeys".into(), &user_policy)], &req);
//! assert!(matches!(&decision, Decision::Allow(s) if s.sid.as_deref() == Some("UseKeys")));
//! # Ok::<(), PolicyError>(())
//! ```

#![warn(missing_docs)]

mod arn;
mod condition;
mod context;
mod eval;
mod parse;
mod pattern;
mod principal;
mod values;
mod variables;

pub use context::{ConditionContext, RequestContext};
pub use eval::{authorize, Decision, PolicyResult, StatementRef, KEY_POLICY_LABEL};
pub use parse::{Effect, Policy, PolicyKind, Statement};
pub use pattern::wildcard_match;
pub use principal::{Principal, PrincipalKind};

/// Why a document was refused; the text is the message of AWS's
/// `MalformedPolicyDocumentException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// A [`PolicyError`] with the given message.
pub(crate) fn malformed(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

/// Validate a key policy document (a [`PolicyKind::Resource`] policy).
pub fn validate(doc: &str) -> Result<(), PolicyError> {
    Policy::parse(doc, PolicyKind::Resource).map(|_| ())
}

/// The key-policy lockout safety check: does some `Allow` statement name one
/// of `principals` (ARNs or account ids) for `action`? Resources and
/// conditions are assumed satisfiable, as AWS's check does not evaluate them
/// either. A document that does not parse allows nothing.
pub fn allows_principal_action(doc: &str, principals: &[&str], action: &str) -> bool {
    Policy::parse(doc, PolicyKind::Resource).is_ok_and(|p| p.names_for_action(principals, action))
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
        validate(&default_key_policy("aws-cn", "000000000000")).unwrap();
    }

    #[test]
    fn lockout_check() {
        let p = default_key_policy("aws", "111122223333");
        assert!(allows_principal_action(&p, &["arn:aws:iam::111122223333:root"], "kms:PutKeyPolicy"));
        // An account id names the same principal as its root ARN.
        assert!(allows_principal_action(&p, &["111122223333"], "kms:PutKeyPolicy"));
        assert!(!allows_principal_action(&p, &["arn:aws:iam::444455556666:root"], "kms:PutKeyPolicy"));
        let only_decrypt = r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}}"#;
        assert!(!allows_principal_action(only_decrypt, &["x"], "kms:PutKeyPolicy"));
        assert!(allows_principal_action(only_decrypt, &["x"], "kms:Decrypt"));
        let user = r#"{"Statement": [
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "NotAction": "kms:Decrypt", "Resource": "*",
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}"#;
        let caller = ["arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:root", "111122223333"];
        assert!(allows_principal_action(user, &caller, "kms:PutKeyPolicy"));
        assert!(!allows_principal_action(user, &caller, "kms:Decrypt"));
        assert!(!allows_principal_action("not json", &caller, "kms:PutKeyPolicy"));
    }

    #[test]
    fn refuses_malformed() {
        assert!(validate("not json").is_err());
        assert!(validate("[]").is_err());
        assert!(validate(r#"{"Statement": []}"#).is_err());
        assert!(validate(
            r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#
        )
        .is_err());
        assert!(validate(
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#
        )
        .is_ok());
        assert!(validate(r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*"}}"#).is_err());
        // Key policies need a principal.
        assert!(validate(r#"{"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#).is_err());
    }
}
