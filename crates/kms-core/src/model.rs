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
    pub customer_master_key_spec: String,
    pub key_spec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
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
            .one_of(
                "customerMasterKeySpec",
                self.customer_master_key_spec.as_deref(),
                CustomerMasterKeySpec::ALL,
            )
            .one_of("keySpec", self.key_spec.as_deref(), KeySpec::ALL)
            .one_of("origin", self.origin.as_deref(), Origin::ALL)
            .str_len(
                "customKeyStoreId",
                self.custom_key_store_id.as_deref(),
                1,
                64,
            )
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
        v.range("limit", self.limit, 1, 1000)
            .str_len("marker", self.marker.as_deref(), 1, 1024);
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
        v.one_of(
            "encryptionAlgorithm",
            self.encryption_algorithm.as_deref(),
            EncryptionAlgorithm::ALL,
        );
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
    pub dry_run: Option<bool>,
}

impl DecryptRequest {
    pub fn validate(&self) -> crate::Result<()> {
        let mut v = Validator::default();
        v.required("ciphertextBlob", &self.ciphertext_blob)
            .blob_len(
                "ciphertextBlob",
                self.ciphertext_blob.as_ref().map(|c| c.len()),
                1,
                6144,
                false,
            );
        grant_tokens(&mut v, &self.grant_tokens);
        key_id_member(&mut v, "keyId", &self.key_id, false);
        v.one_of(
            "encryptionAlgorithm",
            self.encryption_algorithm.as_deref(),
            EncryptionAlgorithm::ALL,
        );
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
