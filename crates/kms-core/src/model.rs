//! Wire DTOs, written from the botocore model (`kms/2014-11-01`). Member
//! names are AWS's. Every request member is optional here so that a missing
//! required member is reported as AWS's `ValidationException`, not as a
//! deserialization failure; each request's `validate` checks the model's
//! constraints.

use serde::{Deserialize, Serialize};

use crate::ciphertext::EncryptionContext;
use crate::crypto::SecretBytes;
use crate::types::*;
use crate::validate::Validator;

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

/// Epoch milliseconds as AWS's epoch-seconds JSON number.
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn key_id_member(v: &mut Validator, name: &str, key_id: &Option<String>, required: bool) {
    if required {
        v.required(name, key_id);
    }
    v.str_len(name, key_id.as_deref(), 1, 2048);
}

fn grant_tokens(v: &mut Validator, g: &Option<Vec<String>>) {
    v.list_len("grantTokens", g.as_deref(), 0, 10);
    if g.as_deref().unwrap_or_default().iter().any(|t| !crate::grants::is_grant_token(t)) {
        v.defer(crate::Error::InvalidGrantToken("Invalid grant token".into()));
    }
}

// ---------------------------------------------------------------- shared shapes

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: f64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: String,
    pub key_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    pub origin: String,
    pub key_manager: String,
    /// Empty (and left out) for key specs the legacy enum lacks (ML-DSA, Ed25519).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub customer_master_key_spec: String,
    pub key_spec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<String>>,
    pub multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
}

// ---------------------------------------------------------------- CreateKey

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateKeyRequest {
    pub policy: Option<String>,
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub key_spec: Option<String>,
    pub origin: Option<String>,
    pub custom_key_store_id: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
    pub tags: Option<Vec<Tag>>,
    pub multi_region: Option<bool>,
    pub xks_key_id: Option<String>,
}

impl CreateKeyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        v.str_len("policy", self.policy.as_deref(), 1, 131072)
            .str_len("description", self.description.as_deref(), 0, 8192)
            .one_of("keyUsage", self.key_usage.as_deref(), KeyUsage::ALL)
            .one_of("customerMasterKeySpec", self.customer_master_key_spec.as_deref(), CustomerMasterKeySpec::ALL)
            .one_of("keySpec", self.key_spec.as_deref(), KeySpec::ALL)
            .one_of("origin", self.origin.as_deref(), Origin::ALL)
            .str_len("customKeyStoreId", self.custom_key_store_id.as_deref(), 1, 64)
            .str_len("xksKeyId", self.xks_key_id.as_deref(), 1, 128);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyResponse {
    pub key_metadata: KeyMetadata,
}

// ---------------------------------------------------------------- DescribeKey

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeKeyRequest {
    pub key_id: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
}

impl DescribeKeyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeKeyResponse {
    pub key_metadata: KeyMetadata,
}

// ---------------------------------------------------------------- ListKeys

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListKeysRequest {
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

impl ListKeysRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        v.range("limit", self.limit, 1, 1000).str_len("marker", self.marker.as_deref(), 1, 1024);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    pub keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

// ---------------------------------------------------------------- Encrypt

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptRequest {
    pub key_id: Option<String>,
    #[serde(with = "opt_secret_b64")]
    pub plaintext: Option<SecretBytes>,
    pub encryption_context: Option<EncryptionContext>,
    pub grant_tokens: Option<Vec<String>>,
    pub encryption_algorithm: Option<String>,
    pub dry_run: Option<bool>,
}

impl EncryptRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("plaintext", &self.plaintext).blob_len(
            "plaintext",
            self.plaintext.as_ref().map(|p| p.len()),
            1,
            4096,
            true,
        );
        grant_tokens(&mut v, &self.grant_tokens);
        v.one_of("encryptionAlgorithm", self.encryption_algorithm.as_deref(), EncryptionAlgorithm::ALL);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    pub key_id: String,
    pub encryption_algorithm: String,
}

// ---------------------------------------------------------------- Decrypt

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DecryptRequest {
    #[serde(with = "opt_b64")]
    pub ciphertext_blob: Option<Vec<u8>>,
    pub encryption_context: Option<EncryptionContext>,
    pub grant_tokens: Option<Vec<String>>,
    pub key_id: Option<String>,
    pub encryption_algorithm: Option<String>,
    pub recipient: Option<serde_json::Value>,
    pub dry_run: Option<bool>,
    pub dry_run_modifiers: Option<Vec<String>>,
}

impl DecryptRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        v.required("ciphertextBlob", &self.ciphertext_blob).blob_len(
            "ciphertextBlob",
            self.ciphertext_blob.as_ref().map(|c| c.len()),
            1,
            6144,
            false,
        );
        grant_tokens(&mut v, &self.grant_tokens);
        key_id_member(&mut v, "keyId", &self.key_id, false);
        v.one_of("encryptionAlgorithm", self.encryption_algorithm.as_deref(), EncryptionAlgorithm::ALL);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub key_id: String,
    #[serde(with = "opt_secret_b64")]
    pub plaintext: Option<SecretBytes>,
    pub encryption_algorithm: String,
    /// Empty (and left out) for asymmetric keys.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_material_id: String,
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

// ---------------------------------------------------------------- key lifecycle

/// Requests that carry only a `KeyId` (EnableKey, DisableKey, CancelKeyDeletion, GetKeyLastUsage).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyIdRequest {
    pub key_id: Option<String>,
}

impl KeyIdRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateKeyDescriptionRequest {
    pub key_id: Option<String>,
    pub description: Option<String>,
}

impl UpdateKeyDescriptionRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("description", &self.description).str_len("description", self.description.as_deref(), 0, 8192);
        v.finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScheduleKeyDeletionRequest {
    pub key_id: Option<String>,
    pub pending_window_in_days: Option<i64>,
}

impl ScheduleKeyDeletionRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.range("pendingWindowInDays", self.pending_window_in_days, 7, 30);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    pub key_id: String,
    pub deletion_date: f64,
    pub key_state: String,
    pub pending_window_in_days: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    pub key_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyLastUsageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_request_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyLastUsageResponse {
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_last_usage: Option<KeyLastUsageData>,
    pub tracking_start_date: f64,
    pub key_creation_date: f64,
}

// ---------------------------------------------------------------- data keys, re-encryption, random

pub const DATA_KEY_SPECS: &[&str] = &["AES_256", "AES_128"];
pub const DRY_RUN_MODIFIERS: &[&str] = &["IGNORE_CIPHERTEXT"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GenerateDataKeyRequest {
    pub key_id: Option<String>,
    pub encryption_context: Option<EncryptionContext>,
    pub number_of_bytes: Option<i64>,
    pub key_spec: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub recipient: Option<serde_json::Value>,
    pub dry_run: Option<bool>,
}

impl GenerateDataKeyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.range("numberOfBytes", self.number_of_bytes, 1, 1024).one_of(
            "keySpec",
            self.key_spec.as_deref(),
            DATA_KEY_SPECS,
        );
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    #[serde(with = "opt_secret_b64", skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<SecretBytes>,
    pub key_id: String,
    pub key_material_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReEncryptRequest {
    #[serde(with = "opt_b64")]
    pub ciphertext_blob: Option<Vec<u8>>,
    pub source_encryption_context: Option<EncryptionContext>,
    pub source_key_id: Option<String>,
    pub destination_key_id: Option<String>,
    pub destination_encryption_context: Option<EncryptionContext>,
    pub source_encryption_algorithm: Option<String>,
    pub destination_encryption_algorithm: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    pub dry_run_modifiers: Option<Vec<String>>,
}

impl ReEncryptRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        v.required("ciphertextBlob", &self.ciphertext_blob).blob_len(
            "ciphertextBlob",
            self.ciphertext_blob.as_ref().map(|c| c.len()),
            1,
            6144,
            false,
        );
        key_id_member(&mut v, "sourceKeyId", &self.source_key_id, false);
        key_id_member(&mut v, "destinationKeyId", &self.destination_key_id, true);
        v.one_of("sourceEncryptionAlgorithm", self.source_encryption_algorithm.as_deref(), EncryptionAlgorithm::ALL)
            .one_of(
                "destinationEncryptionAlgorithm",
                self.destination_encryption_algorithm.as_deref(),
                EncryptionAlgorithm::ALL,
            );
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    pub source_key_id: String,
    pub key_id: String,
    pub source_encryption_algorithm: String,
    pub destination_encryption_algorithm: String,
    /// Empty (and left out) for asymmetric keys.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_key_material_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination_key_material_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GenerateRandomRequest {
    pub number_of_bytes: Option<i64>,
    pub custom_key_store_id: Option<String>,
    pub recipient: Option<serde_json::Value>,
}

impl GenerateRandomRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        v.range("numberOfBytes", self.number_of_bytes, 1, 1024).str_len(
            "customKeyStoreId",
            self.custom_key_store_id.as_deref(),
            1,
            64,
        );
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    #[serde(with = "opt_secret_b64")]
    pub plaintext: Option<SecretBytes>,
}

// ---------------------------------------------------------------- aliases

pub fn is_alias_chars(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
}
pub const ALIAS_PATTERN: &str = "^[a-zA-Z0-9:/_-]+$";

fn alias_name_member(v: &mut Validator, name: &Option<String>) {
    v.required("aliasName", name).str_len("aliasName", name.as_deref(), 1, 256).pattern(
        "aliasName",
        name.as_deref(),
        is_alias_chars,
        ALIAS_PATTERN,
    );
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AliasRequest {
    pub alias_name: Option<String>,
    pub target_key_id: Option<String>,
}

impl AliasRequest {
    /// CreateAlias and UpdateAlias: both members required.
    pub fn validate_with_target(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        alias_name_member(&mut v, &self.alias_name);
        key_id_member(&mut v, "targetKeyId", &self.target_key_id, true);
        v.finish()
    }
    /// DeleteAlias: only the name.
    pub fn validate_name(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        alias_name_member(&mut v, &self.alias_name);
        v.finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListRequest {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

impl ListRequest {
    pub fn validate(&self, key_id_required: bool) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, key_id_required);
        v.range("limit", self.limit, 1, 1000).str_len("marker", self.marker.as_deref(), 1, 1024);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

// ---------------------------------------------------------------- tags

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResourceRequest {
    pub key_id: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

impl TagResourceRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("tags", &self.tags);
        tag_list(&mut v, "tags", self.tags.as_deref());
        v.finish()
    }
}

/// Each tag's members, named as AWS names list members (`tags.1.member.tagKey`).
pub fn tag_list(v: &mut Validator, member: &str, tags: Option<&[Tag]>) {
    for (i, t) in tags.unwrap_or_default().iter().enumerate() {
        let key = format!("{member}.{}.member.tagKey", i + 1);
        let value = format!("{member}.{}.member.tagValue", i + 1);
        v.required(&key, &t.tag_key)
            .str_len(&key, t.tag_key.as_deref(), 1, 128)
            .required(&value, &t.tag_value)
            .str_len(&value, t.tag_value.as_deref(), 0, 256);
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UntagResourceRequest {
    pub key_id: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

impl UntagResourceRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("tagKeys", &self.tag_keys);
        for (i, k) in self.tag_keys.as_deref().unwrap_or_default().iter().enumerate() {
            v.str_len(&format!("tagKeys.{}.member", i + 1), Some(k), 1, 128);
        }
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

// ---------------------------------------------------------------- key policies

pub fn is_policy_name(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub fn is_policy_chars(s: &str) -> bool {
    s.chars().all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
}
pub const POLICY_PATTERN: &str = "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PutKeyPolicyRequest {
    pub key_id: Option<String>,
    pub policy_name: Option<String>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

impl PutKeyPolicyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.str_len("policyName", self.policy_name.as_deref(), 1, 128)
            .pattern("policyName", self.policy_name.as_deref(), is_policy_name, "[\\w]+")
            .required("policy", &self.policy)
            .str_len("policy", self.policy.as_deref(), 1, 131072)
            .pattern("policy", self.policy.as_deref(), is_policy_chars, POLICY_PATTERN);
        v.finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetKeyPolicyRequest {
    pub key_id: Option<String>,
    pub policy_name: Option<String>,
}

impl GetKeyPolicyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.str_len("policyName", self.policy_name.as_deref(), 1, 128).pattern(
            "policyName",
            self.policy_name.as_deref(),
            is_policy_name,
            "[\\w]+",
        );
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    pub policy: String,
    pub policy_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    pub policy_names: Vec<String>,
    pub truncated: bool,
}

// ---------------------------------------------------------------- grants

pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
];

fn is_principal_id(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
}
const PRINCIPAL_PATTERN: &str = "^[\\w+=,.@:/-]+$";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct GrantConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateGrantRequest {
    pub key_id: Option<String>,
    pub grantee_principal: Option<String>,
    pub retiring_principal: Option<String>,
    pub operations: Option<Vec<String>>,
    pub constraints: Option<GrantConstraints>,
    pub grant_tokens: Option<Vec<String>>,
    pub name: Option<String>,
    pub dry_run: Option<bool>,
    pub grantee_service_principal: Option<String>,
    pub retiring_service_principal: Option<String>,
}

impl CreateGrantRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        for (m, val) in [("granteePrincipal", &self.grantee_principal), ("retiringPrincipal", &self.retiring_principal)]
        {
            v.str_len(m, val.as_deref(), 1, 256).pattern(m, val.as_deref(), is_principal_id, PRINCIPAL_PATTERN);
        }
        v.required("operations", &self.operations);
        for op in self.operations.as_deref().unwrap_or_default() {
            v.one_of("operations", Some(op), GRANT_OPERATIONS);
        }
        grant_tokens(&mut v, &self.grant_tokens);
        v.str_len("name", self.name.as_deref(), 1, 256).pattern(
            "name",
            self.name.as_deref(),
            is_alias_chars,
            ALIAS_PATTERN,
        );
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    pub grant_token: String,
    pub grant_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListGrantsRequest {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub grantee_principal: Option<String>,
    pub grantee_service_principal: Option<String>,
    pub retiring_principal: Option<String>,
    pub retiring_service_principal: Option<String>,
}

impl ListGrantsRequest {
    pub fn validate(&self, key_required: bool) -> crate::Result<()> {
        let mut v = Validator::default();
        v.range("limit", self.limit, 1, 1000).str_len("marker", self.marker.as_deref(), 1, 1024);
        key_id_member(&mut v, "keyId", &self.key_id, key_required);
        v.str_len("grantId", self.grant_id.as_deref(), 1, 128);
        for (m, val) in [("granteePrincipal", &self.grantee_principal), ("retiringPrincipal", &self.retiring_principal)]
        {
            v.str_len(m, val.as_deref(), 1, 256).pattern(m, val.as_deref(), is_principal_id, PRINCIPAL_PATTERN);
        }
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub creation_date: f64,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    pub grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RetireGrantRequest {
    pub grant_token: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub dry_run: Option<bool>,
}

impl RetireGrantRequest {
    pub fn validate(&self, key_and_id_required: bool) -> crate::Result<()> {
        let mut v = Validator::default();
        v.str_len("grantToken", self.grant_token.as_deref(), 1, 8192);
        key_id_member(&mut v, "keyId", &self.key_id, key_and_id_required);
        if key_and_id_required {
            v.required("grantId", &self.grant_id);
        }
        v.str_len("grantId", self.grant_id.as_deref(), 1, 128);
        v.finish()
    }
}

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

// ---------------------------------------------------------------- asymmetric and HMAC keys

/// `SigningAlgorithmSpec`, in the botocore model's order.
pub const SIGNING_ALGORITHMS: &[&str] = &[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA",
    "ML_DSA_SHAKE_256",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
];
/// `MessageType`.
pub const MESSAGE_TYPES: &[&str] = &["RAW", "DIGEST", "EXTERNAL_MU"];
/// `MacAlgorithmSpec`, in the order AWS's validation message lists it.
pub const MAC_ALGORITHMS: &[&str] = &["HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"];
/// `KeyAgreementAlgorithmSpec`.
pub const KEY_AGREEMENT_ALGORITHMS: &[&str] = &["ECDH"];
/// `DataKeyPairSpec`, in the botocore model's order.
pub const DATA_KEY_PAIR_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SM2",
    "ECC_NIST_EDWARDS25519",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
];

/// `Message` of Sign, Verify, GenerateMac and VerifyMac: 1 to 4096 bytes, never echoed.
fn message_member(v: &mut Validator, message: &Option<SecretBytes>) {
    v.required("message", message).blob_len("message", message.as_ref().map(|m| m.len()), 1, 4096, true);
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SignRequest {
    pub key_id: Option<String>,
    #[serde(with = "opt_secret_b64")]
    pub message: Option<SecretBytes>,
    pub message_type: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub signing_algorithm: Option<String>,
    pub dry_run: Option<bool>,
}

impl SignRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        message_member(&mut v, &self.message);
        v.one_of("messageType", self.message_type.as_deref(), MESSAGE_TYPES);
        grant_tokens(&mut v, &self.grant_tokens);
        v.required("signingAlgorithm", &self.signing_algorithm).one_of(
            "signingAlgorithm",
            self.signing_algorithm.as_deref(),
            SIGNING_ALGORITHMS,
        );
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    pub key_id: String,
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    pub signing_algorithm: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VerifyRequest {
    pub key_id: Option<String>,
    #[serde(with = "opt_secret_b64")]
    pub message: Option<SecretBytes>,
    pub message_type: Option<String>,
    #[serde(with = "opt_b64")]
    pub signature: Option<Vec<u8>>,
    pub signing_algorithm: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

impl VerifyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        message_member(&mut v, &self.message);
        v.one_of("messageType", self.message_type.as_deref(), MESSAGE_TYPES)
            .required("signature", &self.signature)
            .blob_len("signature", self.signature.as_ref().map(|s| s.len()), 1, 6144, false)
            .required("signingAlgorithm", &self.signing_algorithm)
            .one_of("signingAlgorithm", self.signing_algorithm.as_deref(), SIGNING_ALGORITHMS);
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    pub key_id: String,
    pub signature_valid: bool,
    pub signing_algorithm: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetPublicKeyRequest {
    pub key_id: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
}

impl GetPublicKeyRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    pub key_id: String,
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// Empty (and left out) for key specs the legacy enum lacks.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub customer_master_key_spec: String,
    pub key_spec: String,
    pub key_usage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GenerateMacRequest {
    #[serde(with = "opt_secret_b64")]
    pub message: Option<SecretBytes>,
    pub key_id: Option<String>,
    pub mac_algorithm: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

impl GenerateMacRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        message_member(&mut v, &self.message);
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("macAlgorithm", &self.mac_algorithm).one_of(
            "macAlgorithm",
            self.mac_algorithm.as_deref(),
            MAC_ALGORITHMS,
        );
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse {
    #[serde(with = "b64")]
    pub mac: Vec<u8>,
    pub mac_algorithm: String,
    pub key_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VerifyMacRequest {
    #[serde(with = "opt_secret_b64")]
    pub message: Option<SecretBytes>,
    pub key_id: Option<String>,
    pub mac_algorithm: Option<String>,
    #[serde(with = "opt_b64")]
    pub mac: Option<Vec<u8>>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

impl VerifyMacRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        message_member(&mut v, &self.message);
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("macAlgorithm", &self.mac_algorithm)
            .one_of("macAlgorithm", self.mac_algorithm.as_deref(), MAC_ALGORITHMS)
            .required("mac", &self.mac)
            .blob_len("mac", self.mac.as_ref().map(|m| m.len()), 1, 6144, false);
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    pub key_id: String,
    pub mac_valid: bool,
    pub mac_algorithm: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeriveSharedSecretRequest {
    pub key_id: Option<String>,
    pub key_agreement_algorithm: Option<String>,
    #[serde(with = "opt_b64")]
    pub public_key: Option<Vec<u8>>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    pub recipient: Option<serde_json::Value>,
}

impl DeriveSharedSecretRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("keyAgreementAlgorithm", &self.key_agreement_algorithm)
            .one_of("keyAgreementAlgorithm", self.key_agreement_algorithm.as_deref(), KEY_AGREEMENT_ALGORITHMS)
            .required("publicKey", &self.public_key)
            .blob_len("publicKey", self.public_key.as_ref().map(|k| k.len()), 1, 8192, false);
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse {
    pub key_id: String,
    #[serde(with = "opt_secret_b64", skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<SecretBytes>,
    pub key_agreement_algorithm: String,
    pub key_origin: String,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GenerateDataKeyPairRequest {
    pub encryption_context: Option<EncryptionContext>,
    pub key_id: Option<String>,
    pub key_pair_spec: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub recipient: Option<serde_json::Value>,
    pub dry_run: Option<bool>,
}

impl GenerateDataKeyPairRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        key_id_member(&mut v, "keyId", &self.key_id, true);
        v.required("keyPairSpec", &self.key_pair_spec).one_of(
            "keyPairSpec",
            self.key_pair_spec.as_deref(),
            DATA_KEY_PAIR_SPECS,
        );
        grant_tokens(&mut v, &self.grant_tokens);
        v.finish()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    #[serde(with = "b64")]
    pub private_key_ciphertext_blob: Vec<u8>,
    #[serde(with = "opt_secret_b64", skip_serializing_if = "Option::is_none")]
    pub private_key_plaintext: Option<SecretBytes>,
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    pub key_id: String,
    pub key_pair_spec: String,
    pub key_material_id: String,
}
