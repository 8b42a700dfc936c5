//! The wire model. [`generated`] (from the botocore model, by
//! tools/codegen) has every AWS KMS operation, enum and structure; this
//! module adds the serde helpers it uses and the operator API's
//! (`KmsAdmin.*`) structures, which are ours.

use serde::{Deserialize, Serialize};

use crate::ciphertext::EncryptionContext;

/// An AWS enum: variants with AWS's strings, `ALL` in the model's order,
/// `as_str`, `parse`, and serde as the string.
macro_rules! aws_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $s)] $variant),+
        }
        impl $name {
            /// Every value, in the botocore model's order.
            pub const ALL: &'static [&'static str] = &[$($s),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod generated;
pub use generated::*;

/// Base64 for `Vec<u8>` members (AWS JSON blobs).
pub mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|_| serde::de::Error::custom("Base64 encoded value expected"))
    }
}

/// Base64 for optional blob members.
pub mod opt_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::b64::serialize(v, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::b64")] Vec<u8>);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// Base64 for sensitive blob members (plaintexts).
pub mod opt_secret_b64 {
    use crate::crypto::SecretBytes;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<SecretBytes>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::b64::serialize(v.expose(), s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        Ok(super::opt_b64::deserialize(d)?.map(SecretBytes::new))
    }
}

/// Sensitive string members (custom key store passwords, XKS credentials).
pub mod opt_secret_str {
    use crate::crypto::SecretString;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v.expose()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::new))
    }
}
/// Epoch milliseconds as AWS's epoch-seconds JSON number.
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

// ---------------------------------------------------------------- operator API (KmsAdmin.*)

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateUserRequest {
    pub user_name: Option<String>,
    pub account_id: Option<String>,
    pub admin: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserRef {
    pub user_name: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListUsersRequest {
    pub account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteAccessKeyRequest {
    pub access_key_id: Option<String>,
}

/// Credentials as `create-user` and `create-access-key` print them. The
/// secret is shown once, here; `Debug` redacts it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyOutput {
    pub user_name: String,
    pub account_id: String,
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AccessKeyOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyOutput")
            .field("arn", &self.arn)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserOutput {
    pub user_name: String,
    pub account_id: String,
    pub user_id: String,
    pub arn: String,
    pub create_date: f64,
    pub admin: bool,
    pub access_key_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersResponse {
    pub users: Vec<UserOutput>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

// ---------------------------------------------------------------- operator: identity policies and tags

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserPolicyRequest {
    pub user_name: Option<String>,
    pub account_id: Option<String>,
    pub policy_name: Option<String>,
    pub policy_document: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPolicyResponse {
    pub user_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUserPoliciesResponse {
    pub policy_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagUserRequest {
    pub user_name: Option<String>,
    pub account_id: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

// ---------------------------------------------------------------- operator: roles

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleRequest {
    pub role_name: Option<String>,
    pub account_id: Option<String>,
    pub assume_role_policy_document: Option<String>,
    pub max_session_duration: Option<i64>,
    pub policy_name: Option<String>,
    pub policy_document: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleOutput {
    pub role_name: String,
    pub account_id: String,
    pub role_id: String,
    pub arn: String,
    pub create_date: f64,
    pub assume_role_policy_document: String,
    pub max_session_duration: i64,
    pub policy_names: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRolesResponse {
    pub roles: Vec<RoleOutput>,
}

// ---------------------------------------------------------------- operator: policy simulator

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SimulateRequest {
    /// A user, role or assumed-role ARN.
    pub principal_arn: Option<String>,
    /// `kms:Decrypt`, ...
    pub action: Option<String>,
    /// The key (id, ARN, alias); absent for actions on `*` (ListKeys, CreateKey).
    pub key_id: Option<String>,
    pub encryption_context: Option<EncryptionContext>,
    /// Further condition keys: key -> values (`aws:SourceIp`, ...).
    pub context: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimulateResponse {
    pub allowed: bool,
    /// Which policy statement or grant decided, or why nothing allowed.
    pub decided_by: Option<String>,
    /// The AccessDeniedException message the call would get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

// ---------------------------------------------------------------- operator: clock

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AdvanceClockRequest {
    pub seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvanceClockResponse {
    pub now: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetKeyUsageRequest {
    pub key_id: Option<String>,
}

/// `kms admin key-usage`: the last cryptographic use of a key and who made
/// it, and whether the deletion guard would keep it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyUsageResponse {
    pub key_id: String,
    pub key_state: String,
    pub last_usage: Option<KeyUsageRecord>,
    pub tracking_start_date: f64,
    /// 0: the guard is off.
    pub deletion_guard_days: u32,
    /// Whether ScheduleKeyDeletion would accept the key now.
    pub deletion_allowed: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyUsageRecord {
    pub operation: String,
    pub timestamp: f64,
    pub kms_request_id: String,
    pub principal: Option<String>,
}

// ---------------------------------------------------------------- operator: backup

/// `kms backup`: no members.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupRequest {}

// ---------------------------------------------------------------- operator: reset

/// `kms admin reset` (`--dev`): no members.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResetRequest {}

// ---------------------------------------------------------------- operator: faults

/// `kms admin faults set`: make calls fail or slow down (`--dev` only).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SetFaultRequest {
    /// The operation (`Encrypt`, ...); every operation when absent.
    pub operation: Option<String>,
    /// Only calls whose `KeyId` member is this (key id, key ARN, alias name or alias ARN, as the call gives it).
    pub key_id: Option<String>,
    /// The AWS exception to answer: `ThrottlingException`,
    /// `KMSInternalException`, `DependencyTimeoutException`,
    /// `KeyUnavailableException` or `KMSInvalidStateException`.
    pub error: Option<String>,
    /// The share of matching calls it hits, 0 to 1 (default 1).
    pub rate: Option<f64>,
    /// Only the next this many matching calls (default: until cleared).
    pub count: Option<u64>,
    /// Milliseconds added before the call is answered (or fails).
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetFaultResponse {
    pub fault_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListFaultsRequest {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFaultsResponse {
    pub faults: Vec<FaultEntry>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaultEntry {
    pub fault_id: String,
    pub operation: Option<String>,
    pub key_id: Option<String>,
    pub error: Option<String>,
    pub rate: f64,
    /// Calls it still hits (`None`: until cleared).
    pub remaining: Option<u64>,
    pub latency_ms: u64,
    /// Calls it has hit.
    pub hits: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClearFaultsRequest {
    /// One fault; every fault when absent.
    pub fault_id: Option<String>,
}
