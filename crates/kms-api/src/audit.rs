//! Building the CloudTrail record of a call. Never includes plaintext, key
//! material, ciphertext blobs, signatures, grant tokens or secrets: members
//! that carry them are dropped from `requestParameters` and
//! `responseElements`.

use kms_core::identity::Credential;
use kms_core::service::Facts;
use serde_json::{json, Map, Value};

use crate::Operation;

use crate::error::AwsError;

/// Members never recorded, wherever they appear.
const SENSITIVE: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "CiphertextForRecipient",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
    "Message",
    "Signature",
    "Mac",
    "SharedSecret",
    "EncryptedKeyMaterial",
    "ImportToken",
    "GrantToken",
    "GrantTokens",
    "Recipient",
    "SecretAccessKey",
    "SessionToken",
];

/// Members whose children are user data (context keys), kept verbatim.
const VERBATIM: &[&str] = &["EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext"];

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// AWS member names in CloudTrail are lowerCamelCase; secrets are dropped.
fn scrub(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if SENSITIVE.contains(&k.as_str()) {
                    continue;
                }
                let v = if VERBATIM.contains(&k.as_str()) { v.clone() } else { scrub(v) };
                out.insert(lower_first(k), v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(scrub).collect()),
        other => other.clone(),
    }
}

/// Cryptographic operations (and GetPublicKey): CloudTrail records no response elements.
fn is_crypto(name: &str) -> bool {
    matches!(
        name,
        "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateDataKeyPair"
            | "GenerateDataKeyPairWithoutPlaintext"
            | "GenerateRandom"
            | "Sign"
            | "Verify"
            | "GenerateMac"
            | "VerifyMac"
            | "DeriveSharedSecret"
            | "GetPublicKey"
    )
}

fn is_read_only(name: &str) -> bool {
    is_crypto(name) || name.starts_with("Describe") || name.starts_with("List") || name.starts_with("Get")
}

/// The `eventSource` of an operation.
pub fn event_source(op: Option<Operation>) -> &'static str {
    match op {
        Some(op) if op.prefix() == "KmsAdmin" => "kms-admin",
        _ => "kms.amazonaws.com",
    }
}

/// Everything known about one call.
pub struct Call<'a> {
    pub request_id: &'a str,
    pub event_id: &'a str,
    pub time: String,
    pub region: &'a str,
    pub event_source: &'a str,
    pub event_name: String,
    pub cred: Option<&'a Credential>,
    /// The access key id named by an Authorization header that did not authenticate.
    pub claimed_access_key: Option<&'a str>,
    pub source_ip: Option<String>,
    pub user_agent: Option<&'a str>,
    /// The request members as JSON (`None`: none could be read).
    pub request: Option<Value>,
    /// The response members as JSON (success only).
    pub response: Option<Value>,
    pub error: Option<&'a AwsError>,
    pub facts: Facts,
}

fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

/// The CloudTrail record, serialized.
pub fn event(c: &Call<'_>) -> Vec<u8> {
    let name = c.event_name.clone();
    let identity = match c.cred {
        Some(cred) => json!({
            "type": "IAMUser",
            "principalId": cred.principal.user_id,
            "arn": cred.principal.arn,
            "accountId": cred.principal.account,
            "accessKeyId": cred.access_key_id,
            "userName": cred.principal.user_name,
        }),
        None => match c.claimed_access_key {
            Some(ak) => json!({ "type": "Unknown", "accessKeyId": ak }),
            None => json!({ "type": "Unknown" }),
        },
    };
    let request_parameters = match &c.request {
        Some(v @ Value::Object(m)) if !m.is_empty() => scrub(v),
        _ => Value::Null,
    };
    let response_elements = match c.response.clone() {
        Some(v @ Value::Object(_)) if !is_crypto(&name) => match scrub(&v) {
            Value::Object(m) if m.is_empty() => Value::Null,
            s => s,
        },
        _ => Value::Null,
    };
    let resources: Vec<Value> = c
        .facts
        .keys
        .iter()
        .map(|arn| json!({ "accountId": account_of(arn).unwrap_or(""), "type": "AWS::KMS::Key", "ARN": arn }))
        .collect();
    let recipient = c.facts.keys.first().and_then(|a| account_of(a)).or(c.cred.map(|cr| cr.principal.account.as_str()));
    let mut ev = Map::new();
    ev.insert("eventVersion".into(), "1.11".into());
    ev.insert("userIdentity".into(), identity);
    ev.insert("eventTime".into(), c.time.clone().into());
    ev.insert("eventSource".into(), c.event_source.into());
    ev.insert("eventName".into(), name.clone().into());
    ev.insert("awsRegion".into(), c.region.into());
    ev.insert("sourceIPAddress".into(), c.source_ip.clone().map(Value::from).unwrap_or(Value::Null));
    ev.insert("userAgent".into(), c.user_agent.map(Value::from).unwrap_or(Value::Null));
    if let Some(e) = c.error {
        ev.insert("errorCode".into(), e.type_name.into());
        if let Some(m) = &e.message {
            ev.insert("errorMessage".into(), m.clone().into());
        }
    }
    ev.insert("requestParameters".into(), request_parameters);
    ev.insert("responseElements".into(), response_elements);
    let mut additional = Map::new();
    if let Some(m) = &c.facts.key_material_id {
        additional.insert("keyMaterialId".into(), m.clone().into());
    }
    if let Some(d) = &c.facts.decision {
        // Beyond CloudTrail: which policy statement or grant decided.
        additional.insert("authorizationDecision".into(), d.clone().into());
    }
    if !additional.is_empty() {
        ev.insert("additionalEventData".into(), Value::Object(additional));
    }
    ev.insert("requestID".into(), c.request_id.into());
    ev.insert("eventID".into(), c.event_id.into());
    ev.insert("readOnly".into(), is_read_only(&name).into());
    if !resources.is_empty() {
        ev.insert("resources".into(), resources.into());
    }
    ev.insert("eventType".into(), "AwsApiCall".into());
    ev.insert("managementEvent".into(), true.into());
    if let Some(r) = recipient {
        ev.insert("recipientAccountId".into(), r.into());
    }
    ev.insert("eventCategory".into(), "Management".into());
    serde_json::to_vec(&Value::Object(ev)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_drops_secrets_and_keeps_context() {
        let v = json!({"KeyId": "k", "Plaintext": "c2VjcmV0", "EncryptionContext": {"Tenant": "A"},
                       "Tags": [{"TagKey": "a", "TagValue": "b"}], "GrantTokens": ["t"]});
        assert_eq!(
            scrub(&v),
            json!({"keyId": "k", "encryptionContext": {"Tenant": "A"}, "tags": [{"tagKey": "a", "tagValue": "b"}]})
        );
    }
}
