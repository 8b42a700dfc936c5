//! The request bodies of the four operations, read from JSON with the
//! spec's validation, and their responses. Members the spec does not name
//! are ignored (Appendix B: KMS may add `requestMetadata` fields); a
//! `kmsOperation` is never refused for its value. Messages name members,
//! never echo values (plaintext and ciphertext are secrets or bulky).

use base64::Engine as _;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{Result, XksError};

/// The most plaintext (and ciphertext) this proxy encrypts or decrypts:
/// the spec's minimum, 4300 bytes. More: `UnsupportedOperationException`.
pub const MAX_PLAINTEXT: usize = 4300;
/// The most additional authenticated data: the spec's minimum, 8192 bytes.
pub const MAX_AAD: usize = 8192;
/// `ciphertextMetadata`: at most 20 bytes.
pub const MAX_CIPHERTEXT_METADATA: usize = 20;
/// ARNs: the spec asks for up to 2048 characters.
pub const MAX_ARN: usize = 2048;
/// External key ids: 1 to 128 of `[A-Za-z0-9._-]`.
pub const MAX_KEY_ID: usize = 128;

/// The four operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetKeyMetadata,
    Encrypt,
    Decrypt,
    GetHealthStatus,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::GetKeyMetadata => "GetKeyMetadata",
            Operation::Encrypt => "Encrypt",
            Operation::Decrypt => "Decrypt",
            Operation::GetHealthStatus => "GetHealthStatus",
        }
    }
}

/// Whether `id` is a valid external key id.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `requestMetadata`, as sent (every member kept for the audit trail).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMetadata {
    pub aws_principal_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    pub kms_operation: Option<String>,
    pub kms_request_id: Option<String>,
    pub kms_via_service: Option<String>,
    pub aws_source_vpc: Option<String>,
    pub aws_source_vpce: Option<String>,
}

impl RequestMetadata {
    /// The members as JSON, for the audit trail (absent ones left out).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("awsPrincipalArn", &self.aws_principal_arn),
            ("kmsKeyArn", &self.kms_key_arn),
            ("kmsOperation", &self.kms_operation),
            ("kmsRequestId", &self.kms_request_id),
            ("kmsViaService", &self.kms_via_service),
            ("awsSourceVpc", &self.aws_source_vpc),
            ("awsSourceVpce", &self.aws_source_vpce),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.clone()));
            }
        }
        Value::Object(m)
    }
}

/// A parsed request body.
#[derive(Debug)]
pub enum Request {
    GetKeyMetadata { metadata: RequestMetadata },
    Encrypt(EncryptRequest),
    Decrypt(DecryptRequest),
    GetHealthStatus { metadata: RequestMetadata },
}

impl Request {
    pub fn metadata(&self) -> &RequestMetadata {
        match self {
            Request::GetKeyMetadata { metadata } | Request::GetHealthStatus { metadata } => metadata,
            Request::Encrypt(r) => &r.metadata,
            Request::Decrypt(r) => &r.metadata,
        }
    }
}

pub struct EncryptRequest {
    pub metadata: RequestMetadata,
    pub plaintext: Zeroizing<Vec<u8>>,
    pub aad: Option<Vec<u8>>,
    /// `ciphertextDataIntegrityValueAlgorithm: SHA_256` was asked for.
    pub cdiv: bool,
}

impl std::fmt::Debug for EncryptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptRequest")
            .field("metadata", &self.metadata)
            .field("plaintext", &"<redacted>")
            .field("aad_len", &self.aad.as_ref().map(Vec::len))
            .field("cdiv", &self.cdiv)
            .finish()
    }
}

#[derive(Debug)]
pub struct DecryptRequest {
    pub metadata: RequestMetadata,
    pub ciphertext: Vec<u8>,
    pub ciphertext_metadata: Option<Vec<u8>>,
    pub aad: Option<Vec<u8>>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
}

fn validation(m: impl Into<String>) -> XksError {
    XksError::Validation(m.into())
}

/// A string member; `Err` when present with another type.
fn string<'a>(obj: &'a Map<String, Value>, name: &str, path: &str) -> Result<Option<&'a str>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(validation(format!("{path}{name} must be a string"))),
    }
}

fn required<'a>(obj: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a str> {
    string(obj, name, path)?.ok_or_else(|| validation(format!("{path}{name} is required")))
}

/// A base64 member decoded (standard alphabet with padding, RFC 4648 §4).
fn base64(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>> {
    string(obj, name, "")?
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| validation(format!("{name} is not valid Base64")))
        })
        .transpose()
}

fn metadata(body: &Map<String, Value>, op: Operation) -> Result<RequestMetadata> {
    let Some(v) = body.get("requestMetadata") else {
        return Err(validation("requestMetadata is required"));
    };
    let Value::Object(m) = v else {
        return Err(validation("requestMetadata must be an object"));
    };
    const P: &str = "requestMetadata.";
    let md = RequestMetadata {
        aws_principal_arn: string(m, "awsPrincipalArn", P)?.map(str::to_string),
        kms_key_arn: string(m, "kmsKeyArn", P)?.map(str::to_string),
        kms_operation: string(m, "kmsOperation", P)?.map(str::to_string),
        kms_request_id: string(m, "kmsRequestId", P)?.map(str::to_string),
        kms_via_service: string(m, "kmsViaService", P)?.map(str::to_string),
        aws_source_vpc: string(m, "awsSourceVpc", P)?.map(str::to_string),
        aws_source_vpce: string(m, "awsSourceVpce", P)?.map(str::to_string),
    };
    let needed: &[&str] = match op {
        Operation::GetKeyMetadata => &["awsPrincipalArn", "kmsOperation", "kmsRequestId"],
        Operation::Encrypt | Operation::Decrypt => &["awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"],
        Operation::GetHealthStatus => &["kmsOperation", "kmsRequestId"],
    };
    for n in needed.iter().copied() {
        required(m, n, P)?;
    }
    for (n, v) in [("awsPrincipalArn", &md.aws_principal_arn), ("kmsKeyArn", &md.kms_key_arn)] {
        if v.as_ref().is_some_and(|s| s.len() > MAX_ARN) {
            return Err(validation(format!("{P}{n} must be at most {MAX_ARN} characters")));
        }
    }
    Ok(md)
}

fn algorithm(body: &Map<String, Value>) -> Result<()> {
    match required(body, "encryptionAlgorithm", "")? {
        "AES_GCM" => Ok(()),
        _ => Err(validation("encryptionAlgorithm must be AES_GCM")),
    }
}

fn aad(body: &Map<String, Value>) -> Result<Option<Vec<u8>>> {
    let aad = base64(body, "additionalAuthenticatedData")?;
    if aad.as_ref().is_some_and(|a| a.len() > MAX_AAD) {
        return Err(XksError::UnsupportedOperation(format!(
            "additionalAuthenticatedData longer than {MAX_AAD} bytes is not supported"
        )));
    }
    Ok(aad)
}

/// Parse and validate the body of `op`.
///
/// GetHealthStatus is lenient: the spec lists no ValidationException for
/// it, so a body without `requestMetadata` is answered all the same.
pub fn parse(op: Operation, body: &[u8]) -> Result<Request> {
    let value: std::result::Result<Value, _> = serde_json::from_slice(body);
    if op == Operation::GetHealthStatus {
        let metadata = match value {
            Ok(Value::Object(m)) => metadata(&m, op).unwrap_or_default(),
            _ => RequestMetadata::default(),
        };
        return Ok(Request::GetHealthStatus { metadata });
    }
    let body = match value {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(validation("the request body must be a JSON object")),
        Err(_) => return Err(validation("the request body is not valid JSON")),
    };
    let metadata = metadata(&body, op)?;
    match op {
        Operation::GetKeyMetadata => Ok(Request::GetKeyMetadata { metadata }),
        Operation::Encrypt => {
            let plaintext =
                Zeroizing::new(base64(&body, "plaintext")?.ok_or_else(|| validation("plaintext is required"))?);
            algorithm(&body)?;
            let aad = aad(&body)?;
            let cdiv = match string(&body, "ciphertextDataIntegrityValueAlgorithm", "")? {
                None => false,
                Some("SHA_256") => true,
                Some(_) => return Err(validation("ciphertextDataIntegrityValueAlgorithm must be SHA_256")),
            };
            if plaintext.len() > MAX_PLAINTEXT {
                return Err(XksError::UnsupportedOperation(format!(
                    "plaintext longer than {MAX_PLAINTEXT} bytes is not supported"
                )));
            }
            Ok(Request::Encrypt(EncryptRequest { metadata, plaintext, aad, cdiv }))
        }
        Operation::Decrypt => {
            let ciphertext = base64(&body, "ciphertext")?.ok_or_else(|| validation("ciphertext is required"))?;
            algorithm(&body)?;
            let aad = aad(&body)?;
            let ciphertext_metadata = base64(&body, "ciphertextMetadata")?;
            let iv =
                base64(&body, "initializationVector")?.ok_or_else(|| validation("initializationVector is required"))?;
            let tag = base64(&body, "authenticationTag")?.ok_or_else(|| validation("authenticationTag is required"))?;
            if ciphertext_metadata.as_ref().is_some_and(|m| m.len() > MAX_CIPHERTEXT_METADATA) {
                return Err(validation(format!("ciphertextMetadata must be at most {MAX_CIPHERTEXT_METADATA} bytes")));
            }
            if iv.len() != 12 && iv.len() != 16 {
                return Err(validation("initializationVector must be 12 or 16 bytes"));
            }
            if tag.len() != 16 {
                return Err(validation("authenticationTag must be 16 bytes"));
            }
            if ciphertext.len() > MAX_PLAINTEXT {
                return Err(XksError::UnsupportedOperation(format!(
                    "ciphertext longer than {MAX_PLAINTEXT} bytes is not supported"
                )));
            }
            Ok(Request::Decrypt(DecryptRequest { metadata, ciphertext, ciphertext_metadata, aad, iv, tag }))
        }
        Operation::GetHealthStatus => Ok(Request::GetHealthStatus { metadata }),
    }
}

/// The AAD given to AES-GCM (spec, Encrypt, `ciphertextMetadata`): the
/// 2-byte big-endian length of the AAD, the AAD, the 1-byte length of the
/// ciphertext metadata, the metadata.
pub fn gcm_aad(aad: Option<&[u8]>, ciphertext_metadata: Option<&[u8]>) -> Vec<u8> {
    let (a, m) = (aad.unwrap_or_default(), ciphertext_metadata.unwrap_or_default());
    let mut out = Vec::with_capacity(3 + a.len() + m.len());
    out.extend_from_slice(&(a.len() as u16).to_be_bytes());
    out.extend_from_slice(a);
    out.push(m.len() as u8);
    out.extend_from_slice(m);
    out
}

/// The ciphertext data integrity value (spec, Appendix C): SHA-256 over
/// AAD || ciphertextMetadata || IV || ciphertext || tag, no lengths.
pub fn cdiv(
    aad: Option<&[u8]>,
    ciphertext_metadata: Option<&[u8]>,
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [aad.unwrap_or_default(), ciphertext_metadata.unwrap_or_default(), iv, ciphertext, tag] {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// The worked example of the spec's Appendix C.
    #[test]
    fn cdiv_of_the_spec_example() {
        let v = cdiv(
            Some(&d("cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n")),
            Some(&d("a2V5X3ZlcnNpb249MQ==")),
            &d("HMrlRw85cAJUd5Ax"),
            &d("ghxkK1txeDNn3q8Y"),
            &d("vBxN2ncH1oEkR8WVXpmyYQ=="),
        );
        assert_eq!(b64(&v), "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=");
    }

    #[test]
    fn aad_binds_both_lengths() {
        assert_eq!(gcm_aad(None, None), vec![0, 0, 0]);
        assert_eq!(gcm_aad(Some(b"ab"), Some(b"c")), vec![0, 2, b'a', b'b', 1, b'c']);
        assert_ne!(gcm_aad(None, Some(b"x")), gcm_aad(Some(b"x"), None));
    }

    #[test]
    fn the_spec_examples_parse() {
        let enc = br#"{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice","kmsKeyArn":"arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab","kmsOperation":"Encrypt","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae","kmsViaService":"ebs"},"additionalAuthenticatedData":"cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n","plaintext":"SGVsbG8gV29ybGQh","encryptionAlgorithm":"AES_GCM","ciphertextDataIntegrityValueAlgorithm":"SHA_256"}"#;
        let Request::Encrypt(r) = parse(Operation::Encrypt, enc).unwrap() else { panic!() };
        assert_eq!(&r.plaintext[..], b"Hello World!");
        assert!(r.cdiv);
        assert!(!format!("{r:?}").contains("Hello"));
        let md = br#"{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice","kmsOperation":"CreateKey","kmsRequestId":"4112f4d6"}}"#;
        assert!(parse(Operation::GetKeyMetadata, md).is_ok());
        assert!(
            matches!(parse(Operation::Encrypt, md), Err(XksError::Validation(m)) if m == "requestMetadata.kmsKeyArn is required")
        );
    }

    #[test]
    fn bad_bodies() {
        let cases: [(&[u8], &str); 4] = [
            (b"not json", "ValidationException"),
            (br#"{"requestMetadata":{"awsPrincipalArn":"a","kmsKeyArn":"k","kmsOperation":"Encrypt","kmsRequestId":"r"},"plaintext":"@@","encryptionAlgorithm":"AES_GCM"}"#, "ValidationException"),
            (br#"{"requestMetadata":{"awsPrincipalArn":"a","kmsKeyArn":"k","kmsOperation":"Encrypt","kmsRequestId":"r"},"plaintext":"AA==","encryptionAlgorithm":"RSA"}"#, "ValidationException"),
            (br#"{"requestMetadata":{"awsPrincipalArn":1,"kmsKeyArn":"k","kmsOperation":"Encrypt","kmsRequestId":"r"},"plaintext":"AA==","encryptionAlgorithm":"AES_GCM"}"#, "ValidationException"),
        ];
        for (body, name) in cases {
            assert_eq!(parse(Operation::Encrypt, body).unwrap_err().name_and_status().0, name);
        }
        let big = format!(
            r#"{{"requestMetadata":{{"awsPrincipalArn":"a","kmsKeyArn":"k","kmsOperation":"Encrypt","kmsRequestId":"r"}},"plaintext":"{}","encryptionAlgorithm":"AES_GCM"}}"#,
            b64(&[0u8; MAX_PLAINTEXT + 1])
        );
        assert_eq!(
            parse(Operation::Encrypt, big.as_bytes()).unwrap_err().name_and_status(),
            ("UnsupportedOperationException", 501)
        );
        assert!(parse(Operation::GetHealthStatus, b"junk").is_ok());
    }

    #[test]
    fn key_ids() {
        assert!(valid_key_id("a-b_c.D9"));
        assert!(!valid_key_id(""));
        assert!(!valid_key_id("a/b"));
        assert!(!valid_key_id(&"a".repeat(129)));
    }
}
