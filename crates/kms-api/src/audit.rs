//! Building the CloudTrail record of a call, written straight into bytes.
//! Never includes plaintext, key material, ciphertext blobs, signatures,
//! grant tokens or secrets: members that carry them are dropped from
//! `requestParameters` and `responseElements`, which are transcoded from the
//! request and response bodies in one pass (no intermediate `Value`).

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;

use kms_core::identity::Credential;
use kms_core::service::Facts;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::Operation;

use crate::error::AwsError;

/// Members never recorded, wherever they appear.
fn is_sensitive(name: &str) -> bool {
    matches!(
        name,
        "Plaintext"
            | "CiphertextBlob"
            | "CiphertextForRecipient"
            | "PrivateKeyPlaintext"
            | "PrivateKeyCiphertextBlob"
            | "Message"
            | "Signature"
            | "Mac"
            | "SharedSecret"
            | "SharedSecretCiphertextBlob"
            | "KeyStorePassword"
            | "XksProxyAuthenticationCredential"
            | "EncryptedKeyMaterial"
            | "ImportToken"
            | "GrantToken"
            | "GrantTokens"
            | "Recipient"
            | "SecretAccessKey"
            | "SessionToken"
    )
}

/// Members whose children are user data (context keys), kept verbatim.
fn is_verbatim(name: &str) -> bool {
    matches!(name, "EncryptionContext" | "SourceEncryptionContext" | "DestinationEncryptionContext")
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
            | "Encapsulate"
            | "Decapsulate"
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

/// A request or response body, as the audit record sees it.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    /// Raw JSON bytes (the JSON protocol), transcoded without being parsed into a `Value`.
    Json(&'a [u8]),
    /// Members already built (the query protocol).
    Value(&'a Value),
    /// Nothing to record.
    None,
}

/// Everything known about one call.
pub struct Call<'a> {
    pub request_id: &'a str,
    pub event_id: &'a str,
    /// RFC 3339, UTC.
    pub time: &'a str,
    pub region: &'a str,
    pub event_source: &'a str,
    pub event_name: &'a str,
    pub cred: Option<&'a Credential>,
    /// The access key id named by an Authorization header that did not authenticate.
    pub claimed_access_key: Option<&'a str>,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// The call came from a web console session (CloudTrail's
    /// `sessionCredentialFromConsole`).
    pub console: bool,
    /// The request members.
    pub request: Body<'a>,
    /// The response members (success only; never read for cryptographic operations).
    pub response: Body<'a>,
    pub error: Option<&'a AwsError>,
    pub facts: Facts,
}

fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any of the 8 bytes of `w` is one JSON escapes: a control
/// character (below 0x20), `"` or `\`. (Each test is exact for "some
/// byte": `x - 0x01.. & !x & 0x80..` is non-zero iff some byte of `x` is
/// zero, and with `0x20..` iff some byte is below 0x20.)
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    (below(w, 0x20) | below(w ^ (ONES * 0x22), 1) | below(w ^ (ONES * 0x5c), 1)) != 0
}

/// Appends the JSON escaping of `s` (without quotes), as serde_json escapes it.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut hex = *b"\\u0000";
    while i < bytes.len() {
        // Most text needs no escaping: skip it eight bytes at a time.
        if let Some(w) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
            if !word_needs_escape(w) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                hex[4] = HEX[usize::from(b >> 4)];
                hex[5] = HEX[usize::from(b & 0xf)];
                &hex
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a JSON string.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// Appends a member name, its first character lowercased unless `verbatim`
/// (AWS member names in CloudTrail are lowerCamelCase), and the colon.
fn write_key(out: &mut Vec<u8>, key: &str, verbatim: bool) {
    out.push(b'"');
    let mut chars = key.chars();
    match chars.next() {
        Some(f) if !verbatim => {
            let mut b = [0u8; 4];
            for l in f.to_lowercase() {
                escape_into(out, l.encode_utf8(&mut b));
            }
            escape_into(out, chars.as_str());
        }
        _ => escape_into(out, key),
    }
    out.extend_from_slice(b"\":");
}

/// A member name, borrowed from the input when it needs no unescaping.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// How many members an object had, and how many were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Members {
    seen: usize,
    kept: usize,
}

/// Writes the members of an object: secrets dropped and names lowerCamelCased,
/// unless `verbatim` (user data, copied as is).
fn write_map<'de, A: MapAccess<'de>>(out: &mut Vec<u8>, mut map: A, verbatim: bool) -> Result<Members, A::Error> {
    out.push(b'{');
    let mut n = Members { seen: 0, kept: 0 };
    while let Some(key) = map.next_key_seed(Key)? {
        n.seen += 1;
        if !verbatim && is_sensitive(&key) {
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        if n.kept > 0 {
            out.push(b',');
        }
        write_key(out, &key, verbatim);
        let verbatim = verbatim || is_verbatim(&key);
        map.next_value_seed(Scrub { out: &mut *out, verbatim, comma: false })?;
        n.kept += 1;
    }
    out.push(b'}');
    Ok(n)
}

/// Any JSON value, written scrubbed into `out` (preceded by a comma if `comma`).
struct Scrub<'b> {
    out: &'b mut Vec<u8>,
    verbatim: bool,
    comma: bool,
}

impl<'de> DeserializeSeed<'de> for Scrub<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.comma {
            self.out.push(b',');
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scrub<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        serde_json::to_writer(self.out, &v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        serde_json::to_writer(self.out, &v).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        serde_json::to_writer(self.out, &v).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write_str(self.out, v);
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut comma = false;
        while seq.next_element_seed(Scrub { out: &mut *self.out, verbatim: self.verbatim, comma })?.is_some() {
            comma = true;
        }
        self.out.push(b']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        write_map(self.out, map, self.verbatim).map(|_| ())
    }
}

/// A top-level object, written scrubbed; anything else is an error.
struct Object<'b> {
    out: &'b mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Object<'_> {
    type Value = Members;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Members, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_> {
    type Value = Members;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Members, A::Error> {
        write_map(self.out, map, false)
    }
}

/// Transcodes `body` into `out` if it is a JSON object. On failure `out` may
/// hold a partial object: the caller truncates it.
fn transcode(out: &mut Vec<u8>, body: Body<'_>) -> Option<Members> {
    match body {
        Body::Json(bytes) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let n = Object { out }.deserialize(&mut de).ok()?;
            de.end().ok()?;
            Some(n)
        }
        Body::Value(v) => Object { out }.deserialize(v).ok(),
        Body::None => None,
    }
}

/// Writes `body` scrubbed, or `null` if it is not an object or `keep` refuses it.
fn write_body(out: &mut Vec<u8>, body: Body<'_>, keep: impl FnOnce(Members) -> bool) {
    let start = out.len();
    match transcode(out, body) {
        Some(n) if keep(n) => {}
        _ => {
            out.truncate(start);
            out.extend_from_slice(b"null");
        }
    }
}

/// A JSON object being written: members are separated as they are added.
struct Obj<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Obj<'b> {
    fn open(out: &'b mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Starts a member; `name` needs no escaping.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, name: &str, v: &str) {
        write_str(self.key(name), v);
    }

    fn opt_str(&mut self, name: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(name, v),
            None => self.raw(name, b"null"),
        }
    }

    fn raw(&mut self, name: &str, v: &[u8]) {
        self.key(name).extend_from_slice(v);
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// The CloudTrail record, serialized.
pub fn event(c: &Call<'_>) -> Vec<u8> {
    let name = c.event_name;
    // A cryptographic call's record is about 1,100 bytes: one allocation.
    let mut buf = Vec::with_capacity(1536);
    let mut ev = Obj::open(&mut buf);
    ev.str("eventVersion", "1.11");
    {
        let mut id = Obj::open(ev.key("userIdentity"));
        match c.cred {
            Some(cred) => {
                id.str("type", "IAMUser");
                id.str("principalId", &cred.principal.user_id);
                id.str("arn", &cred.principal.arn);
                id.str("accountId", &cred.principal.account);
                id.str("accessKeyId", &cred.access_key_id);
                id.str("userName", &cred.principal.user_name);
            }
            None => {
                id.str("type", "Unknown");
                if let Some(ak) = c.claimed_access_key {
                    id.str("accessKeyId", ak);
                }
            }
        }
        id.close();
    }
    ev.str("eventTime", c.time);
    ev.str("eventSource", c.event_source);
    ev.str("eventName", name);
    ev.str("awsRegion", c.region);
    match c.source_ip {
        // An address's text needs no escaping.
        Some(ip) => {
            let out = ev.key("sourceIPAddress");
            out.push(b'"');
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{ip}");
            out.push(b'"');
        }
        None => ev.raw("sourceIPAddress", b"null"),
    }
    ev.opt_str("userAgent", c.user_agent);
    if c.console {
        ev.str("sessionCredentialFromConsole", "true");
    }
    if let Some(e) = c.error {
        ev.str("errorCode", e.type_name);
        if let Some(m) = &e.message {
            ev.str("errorMessage", m);
        }
    }
    // Null for an empty object; an object whose members are all secrets shows as `{}`.
    write_body(ev.key("requestParameters"), c.request, |n| n.seen > 0);
    let response = if c.error.is_none() && !is_crypto(name) { c.response } else { Body::None };
    write_body(ev.key("responseElements"), response, |n| n.kept > 0);
    if c.facts.key_material_id.is_some() || c.facts.decision.is_some() || c.facts.injected_fault.is_some() {
        let mut add = Obj::open(ev.key("additionalEventData"));
        if let Some(m) = &c.facts.key_material_id {
            add.str("keyMaterialId", m);
        }
        if let Some(d) = &c.facts.decision {
            // Beyond CloudTrail: which policy statement or grant decided.
            add.str("authorizationDecision", d);
        }
        if let Some(f) = &c.facts.injected_fault {
            // Beyond CloudTrail: the call was hit by an injected fault (`--dev`).
            add.str("injectedFault", f);
        }
        add.close();
    }
    ev.str("requestID", c.request_id);
    ev.str("eventID", c.event_id);
    ev.raw("readOnly", if is_read_only(name) { b"true" } else { b"false" });
    if !c.facts.keys.is_empty() {
        let out = ev.key("resources");
        out.push(b'[');
        for (i, arn) in c.facts.keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut r = Obj::open(&mut *out);
            r.str("accountId", account_of(arn).unwrap_or(""));
            r.str("type", "AWS::KMS::Key");
            r.str("ARN", arn);
            r.close();
        }
        out.push(b']');
    }
    ev.str("eventType", "AwsApiCall");
    ev.raw("managementEvent", b"true");
    let recipient = c.facts.keys.first().and_then(|a| account_of(a)).or(c.cred.map(|cr| cr.principal.account.as_str()));
    if let Some(r) = recipient {
        ev.str("recipientAccountId", r);
    }
    ev.str("eventCategory", "Management");
    ev.close();
    buf
}

/// The CloudTrail record of something the service did on its own (AWS's
/// `AwsServiceEvent`s: `RotateKey`, `DeleteExpiredKeyMaterial`, `DeleteKey`),
/// in the shape of AWS's examples: `invokedBy`, `sourceIPAddress` and
/// `userAgent` "AWS Internal", no request or response members, the
/// details in `serviceEventDetails`.
pub fn service_event(e: &kms_core::service::JobEvent, event_id: &str, time: &str, region: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(768);
    let mut ev = Obj::open(&mut buf);
    ev.str("eventVersion", "1.11");
    {
        let mut id = Obj::open(ev.key("userIdentity"));
        id.str("accountId", &e.account);
        id.str("invokedBy", "AWS Internal");
        id.close();
    }
    ev.str("eventTime", time);
    ev.str("eventSource", "kms.amazonaws.com");
    ev.str("eventName", e.event_name);
    ev.str("awsRegion", region);
    ev.str("sourceIPAddress", "AWS Internal");
    ev.str("userAgent", "AWS Internal");
    ev.raw("requestParameters", b"null");
    ev.raw("responseElements", b"null");
    ev.str("eventID", event_id);
    ev.raw("readOnly", b"false");
    {
        let out = ev.key("resources");
        out.push(b'[');
        let mut r = Obj::open(&mut *out);
        r.str("accountId", &e.account);
        r.str("type", "AWS::KMS::Key");
        r.str("ARN", &e.key_arn);
        r.close();
        out.push(b']');
    }
    ev.str("eventType", "AwsServiceEvent");
    ev.raw("managementEvent", b"true");
    ev.str("recipientAccountId", &e.account);
    {
        let mut d = Obj::open(ev.key("serviceEventDetails"));
        let key_id = e.key_arn.rsplit('/').next().unwrap_or_default();
        if let Some(t) = e.rotation_type {
            d.str("rotationType", t);
            d.str("keyOrigin", e.key_origin);
            if let Some(p) = &e.previous_key_material_id {
                d.str("previousKeyMaterialId", p);
            }
            if let Some(m) = &e.key_material_id {
                d.str("currentKeyMaterialId", m);
            }
        } else if let Some(m) = &e.key_material_id {
            d.str("keyMaterialId", m);
        }
        d.str("keyId", key_id);
        d.close();
    }
    ev.str("eventCategory", "Management");
    ev.close();
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_the_model_marks_sensitive_is_dropped() {
        for m in kms_core::model::SENSITIVE_MEMBERS {
            // The XKS proxy credential's members go with their parent.
            let nested = matches!(*m, "AccessKeyId" | "RawSecretAccessKey");
            // GetParametersForImport's wrapping public key reuses the
            // sensitive PlaintextType; it is a public key, not a secret.
            let public = *m == "PublicKey";
            assert!(is_sensitive(m) || public || (nested && is_sensitive("XksProxyAuthenticationCredential")), "{m}");
        }
    }
    use serde_json::json;

    /// The scrubbed transcoding of `body` as `requestParameters` shows it.
    fn scrubbed(body: Body<'_>) -> Value {
        let mut out = Vec::new();
        write_body(&mut out, body, |n| n.seen > 0);
        serde_json::from_slice(&out).unwrap()
    }

    fn call<'a>(name: &'a str, request: &'a [u8], response: Body<'a>) -> Call<'a> {
        Call {
            request_id: "req-1",
            event_id: "ev-1",
            time: "2026-01-02T03:04:05Z",
            region: "eu-west-1",
            event_source: "kms.amazonaws.com",
            event_name: name,
            cred: None,
            claimed_access_key: Some("AKIAEXAMPLE"),
            source_ip: Some(IpAddr::from([127, 0, 0, 1])),
            user_agent: Some("aws-cli/2"),
            console: false,
            request: Body::Json(request),
            response,
            error: None,
            facts: Facts {
                keys: vec!["arn:aws:kms:eu-west-1:111122223333:key/k1".into()],
                key_material_id: Some("m1".into()),
                ..Default::default()
            },
        }
    }

    fn parsed(c: &Call<'_>) -> Value {
        serde_json::from_slice(&event(c)).unwrap()
    }

    #[test]
    fn scrub_drops_secrets_and_keeps_context() {
        let v = json!({"KeyId": "k", "Plaintext": "c2VjcmV0", "EncryptionContext": {"Tenant": "A"},
                       "Tags": [{"TagKey": "a", "TagValue": "b"}], "GrantTokens": ["t"]});
        let want =
            json!({"keyId": "k", "encryptionContext": {"Tenant": "A"}, "tags": [{"tagKey": "a", "tagValue": "b"}]});
        let bytes = serde_json::to_vec(&v).unwrap();
        assert_eq!(scrubbed(Body::Json(&bytes)), want);
        // Members already built go through the same transcoder.
        assert_eq!(scrubbed(Body::Value(&v)), want);
    }

    #[test]
    fn encrypt_event() {
        let req = br#"{"KeyId": "alias/app", "Plaintext": "c2VjcmV0",
            "EncryptionContext": {"Plaintext": "user data", "Tenant": "A"}, "GrantTokens": ["t"]}"#;
        let resp = br#"{"CiphertextBlob": "AAAA", "KeyId": "arn:k1", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}"#;
        let c = call("Encrypt", req, Body::Json(resp));
        let bytes = event(&c);
        let ev: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(ev["eventVersion"], "1.11");
        assert_eq!(ev["eventName"], "Encrypt");
        assert_eq!(ev["eventTime"], "2026-01-02T03:04:05Z");
        assert_eq!(ev["eventSource"], "kms.amazonaws.com");
        assert_eq!(ev["awsRegion"], "eu-west-1");
        assert_eq!(ev["sourceIPAddress"], "127.0.0.1");
        assert_eq!(ev["userAgent"], "aws-cli/2");
        assert_eq!(ev["userIdentity"], json!({"type": "Unknown", "accessKeyId": "AKIAEXAMPLE"}));
        assert_eq!(
            ev["requestParameters"],
            json!({"keyId": "alias/app", "encryptionContext": {"Plaintext": "user data", "Tenant": "A"}})
        );
        assert_eq!(ev["responseElements"], Value::Null);
        assert_eq!(ev["additionalEventData"], json!({"keyMaterialId": "m1"}));
        assert_eq!(ev["requestID"], "req-1");
        assert_eq!(ev["eventID"], "ev-1");
        assert_eq!(ev["readOnly"], true);
        assert_eq!(
            ev["resources"],
            json!([{"accountId": "111122223333", "type": "AWS::KMS::Key",
                    "ARN": "arn:aws:kms:eu-west-1:111122223333:key/k1"}])
        );
        assert_eq!(ev["eventType"], "AwsApiCall");
        assert_eq!(ev["managementEvent"], true);
        assert_eq!(ev["recipientAccountId"], "111122223333");
        assert_eq!(ev["eventCategory"], "Management");
        assert!(ev.get("errorCode").is_none() && ev.get("errorMessage").is_none());
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("plaintext") && !text.contains("c2VjcmV0") && !text.contains("AAAA"), "{text}");
        assert!(!text.contains("grantTokens"), "{text}");
    }

    #[test]
    fn optional_members() {
        let mut c = call("Decrypt", b"{}", Body::None);
        c.facts = Facts::default();
        c.claimed_access_key = None;
        c.source_ip = None;
        c.user_agent = None;
        let err = AwsError {
            status: http::StatusCode::BAD_REQUEST,
            type_name: "InvalidCiphertextException",
            message: Some("bad \"blob\"".into()),
        };
        c.error = Some(&err);
        let ev = parsed(&c);
        assert_eq!(ev["userIdentity"], json!({"type": "Unknown"}));
        assert_eq!(ev["sourceIPAddress"], Value::Null);
        assert_eq!(ev["userAgent"], Value::Null);
        assert_eq!(ev["errorCode"], "InvalidCiphertextException");
        assert_eq!(ev["errorMessage"], "bad \"blob\"");
        let mut keys: Vec<&str> = ev.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = [
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "errorCode",
            "errorMessage",
            "requestParameters",
            "responseElements",
            "requestID",
            "eventID",
            "readOnly",
            "eventType",
            "managementEvent",
            "eventCategory",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
    }

    #[test]
    fn nested_members_are_lower_camel_cased() {
        let req =
            br#"{"Description": "d", "Tags": [{"TagKey": "Team", "TagValue": "Blue"}, {"TagKey": "x", "TagValue": ""}],
            "Policy": {"Nested": [[{"DeepKey": 1}], []], "Empty": {}}, "GrantTokens": []}"#;
        assert_eq!(
            scrubbed(Body::Json(req)),
            json!({"description": "d", "tags": [{"tagKey": "Team", "tagValue": "Blue"}, {"tagKey": "x", "tagValue": ""}],
                   "policy": {"nested": [[{"deepKey": 1}], []], "empty": {}}})
        );
        // Non-ASCII first letters lowercase too; context keys stay verbatim at any depth.
        let req = r#"{"Ärger": 1, "SourceEncryptionContext": {"A": {"B": "c"}}, "X": {"DestinationEncryptionContext": {"K": "v"}}}"#;
        assert_eq!(
            scrubbed(Body::Json(req.as_bytes())),
            json!({"ärger": 1, "sourceEncryptionContext": {"A": {"B": "c"}}, "x": {"destinationEncryptionContext": {"K": "v"}}})
        );
    }

    #[test]
    fn escaping_matches_serde_json_at_every_position() {
        let specials =
            ["\"", "\\", "\n", "\r", "\t", "\u{1}", "\u{8}", "\u{c}", "\u{1f}", "\u{7f}", "é", "🎉", " ", "a"];
        for len in 0..20 {
            for pos in 0..len {
                for sp in specials {
                    let s: String = (0..len).map(|i| if i == pos { sp.to_string() } else { "x".into() }).collect();
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn strings_needing_escapes_round_trip() {
        let s = "q\"uote b\\ack\nnew\ttab\r\u{1}\u{8}\u{c}\u{1f} é 中 🎉 \u{7f}";
        let v = json!({"Description": s, "EncryptionContext": {s: s}, s: [s]});
        let bytes = serde_json::to_vec(&v).unwrap();
        let mut want = json!({"description": s, "encryptionContext": {s: s}});
        want[s] = json!([s]);
        assert_eq!(scrubbed(Body::Json(&bytes)), want);
        // Escaped member names are recognised after unescaping.
        assert_eq!(scrubbed(Body::Json(br#"{"Pl\u0061intext": "x", "K\u0065yId": "k"}"#)), json!({"keyId": "k"}));
        let mut c = call("Encrypt", &bytes, Body::None);
        c.user_agent = Some(s);
        assert_eq!(parsed(&c)["userAgent"], s);
        let mut out = Vec::new();
        write_str(&mut out, "\"\\\n\u{1}é");
        assert_eq!(out, br#""\"\\\n\u0001"#.iter().chain("é\"".as_bytes()).copied().collect::<Vec<u8>>());
    }

    #[test]
    fn unreadable_or_empty_requests_are_null() {
        for req in [
            &b"{\"KeyId\": \"k\""[..],
            b"{\"KeyId\": }",
            b"not json",
            b"",
            b"{} x",
            b"[1]",
            b"\"s\"",
            b"null",
            b"{}",
            b" { } ",
        ] {
            let ev = parsed(&call("CreateKey", req, Body::None));
            assert_eq!(ev["requestParameters"], Value::Null, "{}", String::from_utf8_lossy(req));
        }
        // Invalid midway: what was written is taken back.
        let ev = parsed(&call("CreateKey", br#"{"Description": "d", "Tags": [{"TagKey": 1,]}"#, Body::None));
        assert_eq!(ev["requestParameters"], Value::Null);
        // A request whose members are all secrets still shows it had some.
        let ev = parsed(&call("CreateKey", br#"{"GrantTokens": ["t"]}"#, Body::None));
        assert_eq!(ev["requestParameters"], json!({}));
        assert_eq!(scrubbed(Body::None), Value::Null);
        assert_eq!(scrubbed(Body::Value(&json!([1]))), Value::Null);
    }

    #[test]
    fn non_crypto_response_is_scrubbed() {
        let resp = br#"{"KeyMetadata": {"KeyId": "k1", "Arn": "arn:k1", "Enabled": true, "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "DeletionDate": null}, "Plaintext": "x"}"#;
        let ev = parsed(&call("CreateKey", br#"{"Description": "d"}"#, Body::Json(resp)));
        assert_eq!(ev["readOnly"], false);
        assert_eq!(
            ev["responseElements"],
            json!({"keyMetadata": {"keyId": "k1", "arn": "arn:k1", "enabled": true,
                   "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "deletionDate": null}})
        );
        // Empty after scrubbing, not an object, unreadable, or a failed call: null.
        for resp in [&br#"{"Plaintext": "x"}"#[..], b"{}", b"[]", b"{", b""] {
            assert_eq!(parsed(&call("CreateKey", b"{}", Body::Json(resp)))["responseElements"], Value::Null);
        }
        let err = AwsError { status: http::StatusCode::BAD_REQUEST, type_name: "ValidationException", message: None };
        let mut c = call("CreateKey", b"{}", Body::Json(resp));
        c.error = Some(&err);
        let ev = parsed(&c);
        assert_eq!(ev["responseElements"], Value::Null);
        assert!(ev.get("errorMessage").is_none());
        // Members already built (STS).
        let v = json!({"credentials": {"accessKeyId": "ASIA", "expiration": "t"}, "SessionToken": "s"});
        let mut c = call("AssumeRole", b"{}", Body::Value(&v));
        c.request = Body::Value(&v);
        let ev = parsed(&c);
        assert_eq!(ev["responseElements"], json!({"credentials": {"accessKeyId": "ASIA", "expiration": "t"}}));
        assert_eq!(ev["requestParameters"], ev["responseElements"]);
    }

    #[test]
    fn numbers_survive() {
        let req = br#"{"NumberOfBytes": 32, "Neg": -7, "Big": 18446744073709551615, "F": 1.5, "E": 2.5e-8, "Z": 0, "Huge": 1e300,
            "L": [0, -0.25, 3]}"#;
        let got = scrubbed(Body::Json(req));
        assert_eq!(got, serde_json::from_slice::<Value>(req).map(|v| lower_keys(&v)).unwrap());
        assert_eq!(got["numberOfBytes"], 32);
        assert_eq!(got["neg"], -7);
        assert_eq!(got["big"], u64::MAX);
        assert_eq!(got["f"], 1.5);
        assert_eq!(got["e"], 2.5e-8);
        assert_eq!(got["huge"], 1e300);
        assert_eq!(got["l"], json!([0, -0.25, 3]));
    }

    fn lower_keys(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let c = |k: &String| {
                    let mut s = k.clone();
                    s[..1].make_ascii_lowercase();
                    s
                };
                Value::Object(m.iter().map(|(k, v)| (c(k), lower_keys(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(lower_keys).collect()),
            o => o.clone(),
        }
    }
}
