//! On-disk formats: log lines, digests, file names, and the signing key.

use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
};
use base64::Engine as _;

use serde::{Deserialize, Serialize};

/// The `prev` of the very first record.
pub const GENESIS: [u8; 32] = [0u8; 32];
pub const LOG_PREFIX: &str = "audit-";
pub const LOG_SUFFIX: &str = ".log";
pub const DIGEST_PREFIX: &str = "digest-";
pub const DIGEST_SUFFIX: &str = ".json";
pub const PUBLIC_KEY_FILE: &str = "public-key.pem";

const HEAD_PREV: &[u8] = b"{\"prev\":\"";
const HEAD_HASH: &[u8] = b"\",\"hash\":\"";
const HEAD_EVENT: &[u8] = b"\",\"event\":";
/// Bytes before the event in a line.
pub const LINE_HEAD: usize = 9 + 64 + 10 + 64 + 10;

pub fn log_name(n: u64) -> String {
    format!("{LOG_PREFIX}{n:08}{LOG_SUFFIX}")
}

pub fn digest_name(n: u64) -> String {
    format!("{DIGEST_PREFIX}{n:08}{DIGEST_SUFFIX}")
}

/// The sequence number in a log or digest file name.
pub fn file_number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
}

/// The chain hash of a record.
pub fn record_hash(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    // SHA-256 of `prev || event`, without copying the event.
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    h.update(prev);
    h.update(event);
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

/// Appends the 64 lowercase hex digits of `b`.
fn push_hex(out: &mut Vec<u8>, b: &[u8; 32]) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        out.push(H[usize::from(x >> 4)]);
        out.push(H[usize::from(x & 15)]);
    }
}

/// Append one line: `{"prev":"..","hash":"..","event":<event>}\n`.
pub fn write_line(out: &mut Vec<u8>, prev: &[u8; 32], hash: &[u8; 32], event: &[u8]) {
    out.extend_from_slice(HEAD_PREV);
    push_hex(out, prev);
    out.extend_from_slice(HEAD_HASH);
    push_hex(out, hash);
    out.extend_from_slice(HEAD_EVENT);
    out.extend_from_slice(event);
    out.extend_from_slice(b"}\n");
}

/// 64 lowercase hex digits, as [`write_line`] writes them: the one
/// spelling, so that a line that parses is byte for byte the line written.
fn unhex32(s: &[u8]) -> Option<[u8; 32]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(s[2 * i])? << 4 | digit(s[2 * i + 1])?;
    }
    Some(out)
}

/// A parsed line (without its newline).
pub struct Line<'a> {
    pub prev: [u8; 32],
    pub hash: [u8; 32],
    pub event: &'a [u8],
}

/// Parse a line written by [`write_line`]; `None` when it is not one.
pub fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    if line.len() < LINE_HEAD + 1 || !line.ends_with(b"}") {
        return None;
    }
    if &line[..9] != HEAD_PREV || &line[73..83] != HEAD_HASH || &line[147..157] != HEAD_EVENT {
        return None;
    }
    Some(Line { prev: unhex32(&line[9..73])?, hash: unhex32(&line[83..147])?, event: &line[LINE_HEAD..line.len() - 1] })
}

/// A digest: what a log file held when it was signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_version: u32,
    pub log_file: String,
    /// SHA-256 of the first `size` bytes of the log file.
    pub log_file_sha256: String,
    pub size: u64,
    pub records: u64,
    pub first_prev: String,
    pub last_hash: String,
    pub start_time: String,
    pub end_time: String,
    pub previous_digest_signature: String,
    /// Base64 ECDSA P-256 (ASN.1) signature over [`Digest::signed_bytes`].
    #[serde(default)]
    pub signature: String,
}

impl Digest {
    /// The bytes the signature covers: the digest without its signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut d = self.clone();
        d.signature = String::new();
        serde_json::to_vec(&d).unwrap_or_default()
    }

    pub fn verify_signature(&self, spki_der: &[u8]) -> bool {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(&self.signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki_der).verify(&self.signed_bytes(), &sig).is_ok()
    }
}

/// The service's audit signing key (ECDSA P-256).
pub struct SigningKey(EcdsaKeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A new key, as PKCS#8 (to be sealed by the caller before it is stored).
    pub fn generate_pkcs8() -> Result<Vec<u8>, String> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &aws_lc_rs::rand::SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| "cannot generate the audit signing key".to_string())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map(SigningKey)
            .map_err(|_| "the audit signing key is not a valid P-256 PKCS#8 key".to_string())
    }

    /// SubjectPublicKeyInfo DER of the public key.
    pub fn public_spki(&self) -> Result<Vec<u8>, String> {
        use aws_lc_rs::encoding::AsDer;
        self.0
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| "cannot encode the audit public key".to_string())
    }

    pub fn sign(&self, digest: &mut Digest) -> Result<(), String> {
        let sig = self
            .0
            .sign(&aws_lc_rs::rand::SystemRandom::new(), &digest.signed_bytes())
            .map_err(|_| "cannot sign the audit digest".to_string())?;
        digest.signature = base64::engine::general_purpose::STANDARD.encode(sig.as_ref());
        Ok(())
    }
}

/// PEM of a SubjectPublicKeyInfo.
pub fn spki_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// DER from a PEM public key.
pub fn pem_spki(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
}

pub use kms_core::time::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trip() {
        let prev = [1u8; 32];
        let ev = br#"{"eventName":"Encrypt"}"#;
        let h = record_hash(&prev, ev);
        let mut buf = vec![];
        write_line(&mut buf, &prev, &h, ev);
        let l = parse_line(&buf[..buf.len() - 1]).unwrap();
        assert_eq!(l.prev, prev);
        assert_eq!(l.hash, h);
        assert_eq!(l.event, ev);
    }

    /// Found by fuzzing (fuzz/seeds/audit_record/uppercase-hex): a hash
    /// spelled in uppercase hex was read as the same hash, so that a changed
    /// line still verified.
    /// Trails written before are read with the same hash: SHA-256 of the
    /// previous hash's 32 bytes followed by the event.
    #[test]
    fn record_hash_is_sha256_of_prev_and_event() {
        let prev = [7u8; 32];
        let ev = br#"{"eventName":"Encrypt"}"#;
        assert_eq!(record_hash(&prev, ev), kms_core::crypto::sha256(&[&prev[..], ev].concat()));
        let mut buf = vec![];
        write_line(&mut buf, &prev, &[0xab; 32], ev);
        let line = String::from_utf8(buf).unwrap();
        assert!(
            line.starts_with(&format!("{{\"prev\":\"{}\",\"hash\":\"{}\"", "07".repeat(32), "ab".repeat(32))),
            "{line}"
        );
    }

    #[test]
    fn only_lowercase_hex() {
        let prev = [0u8; 32];
        let ev = br#"{"eventName":"Encrypt"}"#;
        let mut buf = vec![];
        write_line(&mut buf, &prev, &record_hash(&prev, ev), ev);
        buf.pop();
        buf[45] = b'F';
        assert!(parse_line(&buf).is_none());
        buf[45] = b'f';
        assert_eq!(parse_line(&buf).map(|l| l.prev[18]), Some(0xf0));
    }

    #[test]
    fn digests_sign_and_verify() {
        let k = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let spki = k.public_spki().unwrap();
        let mut d = Digest {
            digest_version: 1,
            log_file: "audit-00000001.log".into(),
            log_file_sha256: "00".into(),
            size: 1,
            records: 1,
            first_prev: "00".into(),
            last_hash: "00".into(),
            start_time: rfc3339(0),
            end_time: rfc3339(1000),
            previous_digest_signature: String::new(),
            signature: String::new(),
        };
        k.sign(&mut d).unwrap();
        assert!(d.verify_signature(&spki));
        assert_eq!(pem_spki(&spki_pem(&spki)).unwrap(), spki);
        d.records = 2;
        assert!(!d.verify_signature(&spki));
        assert_eq!(rfc3339(1_795_459_255_661), "2026-11-23T18:40:55Z");
    }
}
