//! AWS Signature Version 4: canonicalisation as pure functions, the server's
//! verifier (with a cache of derived signing keys) and the signer the
//! operator CLI and the benchmark use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use aws_lc_rs::hmac;
use http::{HeaderMap, HeaderValue};
use kms_core::crypto::{ct_eq, hmac_sha256, sha256, SecretString};
use kms_core::identity::{Credential, CredentialResolver};
use kms_core::Error;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Allowed clock skew either way, in seconds.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

// ------------------------------------------------------------------ time

pub use kms_core::time::amz_date;
use kms_core::time::days_from_civil;

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // ASCII only, so that the slices below fall on character boundaries.
    if b.len() != 16 || !s.is_ascii() || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[4..6])?, num(&s[6..8])?);
    let (h, mi, se) = (num(&s[9..11])?, num(&s[11..13])?, num(&s[13..15])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

/// Parse an RFC 7231 `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mo = MONTHS.iter().position(|m| *m == parts[2])? as i64 + 1;
    let (d, y) = (num(parts[1])?, num(parts[3])?);
    let t: Vec<&str> = parts[4].split(':').collect();
    if t.len() != 3 {
        return None;
    }
    let (h, mi, se) = (num(t[0])?, num(t[1])?, num(t[2])?);
    // A four-digit year and fields in range (as `parse_amz_date` has), so
    // that the arithmetic below cannot overflow.
    if parts[3].len() != 4 || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

// ------------------------------------------------------------------ canonical request

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 percent-encoding of everything but unreserved characters (and
/// `/` when `keep_slash`).
pub fn uri_encode(s: &[u8], keep_slash: bool, out: &mut String) {
    for &b in s {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX_UPPER[(b >> 4) as usize] as char);
            out.push(HEX_UPPER[(b & 15) as usize] as char);
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|v| v as u8)
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Append lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(H[(b >> 4) as usize] as char);
        out.push(H[(b & 15) as usize] as char);
    }
}

/// The canonical URI of a non-S3 service: the path as sent, encoded once
/// more (so `%` becomes `%25`), `/` kept.
pub fn canonical_uri(raw_path: &str) -> String {
    let mut out = String::with_capacity(raw_path.len().max(1));
    write_canonical_uri(raw_path, &mut out);
    out
}

fn write_canonical_uri(raw_path: &str, out: &mut String) {
    if raw_path.is_empty() {
        out.push('/');
    } else {
        uri_encode(raw_path.as_bytes(), true, out);
    }
}

/// The canonical query string: every parameter decoded, re-encoded, sorted.
pub fn canonical_query(raw_query: &str) -> String {
    let mut out = String::new();
    write_canonical_query(raw_query, &mut out);
    out
}

fn write_canonical_query(raw_query: &str, out: &mut String) {
    if raw_query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&percent_decode(k), false, &mut ek);
            uri_encode(&percent_decode(v), false, &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// Append a header value with its whitespace runs collapsed to one space
/// and trimmed.
fn push_collapsed(out: &mut String, value: &[u8]) {
    let value = String::from_utf8_lossy(value);
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The canonical request; `signed_headers` lowercase, in the order signed.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed_headers: &[&str],
    payload_hash: &str,
) -> String {
    let mut s = String::with_capacity(512);
    s.push_str(method);
    s.push('\n');
    write_canonical_uri(raw_path, &mut s);
    s.push('\n');
    write_canonical_query(raw_query, &mut s);
    s.push('\n');
    for name in signed_headers {
        s.push_str(name);
        s.push(':');
        for (i, v) in headers.get_all(*name).iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            push_collapsed(&mut s, v.as_bytes());
        }
        s.push('\n');
    }
    s.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            s.push(';');
        }
        s.push_str(name);
    }
    s.push('\n');
    s.push_str(payload_hash);
    s
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    s.push_str(ALGORITHM);
    s.push('\n');
    s.push_str(amz_date);
    s.push('\n');
    s.push_str(scope);
    s.push('\n');
    push_hex(&mut s, &sha256(canonical_request.as_bytes()));
    s
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// A derived signing key ready for HMAC, for one date (`YYYYMMDD`) and region.
struct DatedKey {
    date: String,
    region: String,
    key: hmac::Key,
}

impl DatedKey {
    fn derive(secret: &str, date: &str, region: &str, service: &str) -> Self {
        DatedKey {
            date: date.into(),
            region: region.into(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &signing_key(secret, date, region, service)),
        }
    }

    /// The hex signature of `string_to_sign`.
    fn signature(&self, string_to_sign: &str) -> String {
        let mut out = String::with_capacity(64);
        push_hex(&mut out, hmac::sign(&self.key, string_to_sign.as_bytes()).as_ref());
        out
    }
}

/// The hex SHA-256 of a payload.
fn payload_hash(body: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, &sha256(body));
    out
}

// ------------------------------------------------------------------ verifier

/// The parts of an `Authorization` header (public for the fuzz targets).
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

#[doc(hidden)]
pub fn parse_authorization(value: &str) -> Result<Authorization<'_>, Error> {
    let rest = match value.strip_prefix(ALGORITHM) {
        Some(r) if r.starts_with(' ') => r,
        _ => {
            let alg = value.split_whitespace().next().unwrap_or("");
            return Err(Error::IncompleteSignature(format!("Unsupported AWS 'algorithm': '{alg}'")));
        }
    };
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, v) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed)] {
        if v.is_none_or(str::is_empty) {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    if !missing.is_empty() {
        return Err(Error::IncompleteSignature(missing.trim_end().to_string()));
    }
    let (credential, signed, signature) = (credential.unwrap_or(""), signed.unwrap_or(""), signature.unwrap_or(""));
    let mut parts = credential.split('/');
    let scope: [&str; 5] = std::array::from_fn(|_| parts.next().unwrap_or(""));
    if parts.next().is_some() || scope.iter().any(|p| p.is_empty()) {
        return Err(Error::IncompleteSignature(format!(
            "Credential should be of the form <access key>/<date>/<region>/<service>/aws4_request, not '{}'.",
            credential.split_once('/').map_or("", |(_, rest)| rest)
        )));
    }
    Ok(Authorization {
        access_key_id: scope[0],
        date: scope[1],
        region: scope[2],
        service: scope[3],
        terminator: scope[4],
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

/// The region a request's credential scope names, if its `Authorization`
/// header has one (not verified: [`Verifier::verify`] does that).
pub fn scope_region(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let cred = v.split("Credential=").nth(1)?;
    let region = cred.split('/').nth(2)?;
    Some(region).filter(|r| !r.is_empty() && r.len() <= 64 && !r.contains(','))
}

/// The parts of an HTTP request that SigV4 covers.
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl<'a> RequestParts<'a> {
    /// A received request's parts, with its body as read.
    pub fn of(parts: &'a http::request::Parts, body: &'a [u8]) -> Self {
        RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body,
        }
    }
}

/// Verifies SigV4 signatures for one service, caching the derived signing
/// key of each access key id (for its latest date and region). Which
/// regions are valid is the caller's to say ([`Verifier::verify`]).
pub struct Verifier {
    service: String,
    max_skew_secs: i64,
    keys: RwLock<HashMap<String, DatedKey>>,
}

const KEY_CACHE_MAX: usize = 10_000;

impl Verifier {
    pub fn new(service: &str) -> Self {
        Self::with_max_skew(service, MAX_SKEW_SECS)
    }

    /// A verifier that allows `max_skew_secs` of clock skew either way
    /// (the XKS proxy: 5 minutes, as its spec says).
    pub fn with_max_skew(service: &str, max_skew_secs: i64) -> Self {
        Verifier { service: service.into(), max_skew_secs, keys: RwLock::new(HashMap::new()) }
    }

    /// The signature of `string_to_sign` with `cred`'s signing key for `date` and `region`.
    fn signature(&self, cred: &Credential, date: &str, region: &str, string_to_sign: &str) -> String {
        if let Ok(m) = self.keys.read() {
            if let Some(k) = m.get(cred.access_key_id.as_str()).filter(|k| k.date == date && k.region == region) {
                return k.signature(string_to_sign);
            }
        }
        let k = DatedKey::derive(cred.secret.expose(), date, region, &self.service);
        let sig = k.signature(string_to_sign);
        if let Ok(mut m) = self.keys.write() {
            if m.len() >= KEY_CACHE_MAX {
                m.clear();
            }
            m.insert(cred.access_key_id.clone(), k);
        }
        sig
    }

    /// Authenticate a request. `now` is the real time in epoch seconds;
    /// `served` says whether the region of the credential scope is one
    /// this server serves ([`scope_region`] tells which it names).
    pub fn verify(
        &self,
        req: &RequestParts<'_>,
        creds: &dyn CredentialResolver,
        now: i64,
        served: bool,
    ) -> Result<Arc<Credential>, Error> {
        let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let Some(auth_value) = header("authorization") else {
            return Err(Error::MissingAuthenticationToken);
        };
        let auth = parse_authorization(auth_value)?;
        let (request_time, amz_date_str) = match header("x-amz-date") {
            Some(d) => (parse_amz_date(d), d.to_string()),
            None => match header("date") {
                Some(d) => {
                    let t = parse_http_date(d);
                    (t, t.map(amz_date).unwrap_or_default())
                }
                None => {
                    return Err(Error::IncompleteSignature(
                        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into(),
                    ))
                }
            },
        };
        let Some(request_time) = request_time else {
            return Err(Error::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
                header("x-amz-date").or(header("date")).unwrap_or("")
            )));
        };
        if auth.date != &amz_date_str[..8.min(amz_date_str.len())] {
            return Err(Error::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                auth.date,
                &amz_date_str[..8.min(amz_date_str.len())],
                amz_date_str
            )));
        }
        if !served {
            return Err(Error::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region
            )));
        }
        if auth.service != self.service {
            return Err(Error::InvalidSignature(format!(
                "Credential should be scoped to correct service: '{}'. ",
                self.service
            )));
        }
        if auth.terminator != "aws4_request" {
            return Err(Error::InvalidSignature(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
                auth.terminator
            )));
        }
        let cred = creds.resolve(auth.access_key_id, header("x-amz-security-token"))?;
        let skew = self.max_skew_secs;
        let minutes = skew / 60;
        if request_time < now - skew {
            return Err(Error::InvalidSignature(format!(
                "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
                amz_date_str,
                amz_date(now - skew),
                amz_date(now)
            )));
        }
        if request_time > now + skew {
            return Err(Error::InvalidSignature(format!(
                "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
                amz_date_str,
                amz_date(now + skew),
                amz_date(now)
            )));
        }
        let creq = canonical_request(
            req.method,
            req.raw_path,
            req.raw_query,
            req.headers,
            &auth.signed_headers,
            &payload_hash(req.body),
        );
        let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
        let expected = self.signature(&cred, auth.date, auth.region, &string_to_sign(&amz_date_str, &scope, &creq));
        if !ct_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Err(Error::InvalidSignature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            ));
        }
        Ok(cred)
    }
}

// ------------------------------------------------------------------ signer

/// Signs requests as one identity for one region and service, deriving the
/// signing key once per date (as the AWS SDKs that cache it do); every
/// request still gets its own signature.
pub struct Signer {
    access_key_id: String,
    secret: SecretString,
    session_token: Option<HeaderValue>,
    region: String,
    service: String,
    key: Mutex<Option<Arc<DatedKey>>>,
}

impl Signer {
    pub fn new(
        access_key_id: &str,
        secret: &str,
        session_token: Option<&str>,
        region: &str,
        service: &str,
    ) -> Result<Self, Error> {
        let session_token = session_token
            .map(HeaderValue::from_str)
            .transpose()
            .map_err(|_| Error::internal("the session token is not a valid header value"))?;
        Ok(Signer {
            access_key_id: access_key_id.into(),
            secret: SecretString::new(secret.into()),
            session_token,
            region: region.into(),
            service: service.into(),
            key: Mutex::new(None),
        })
    }

    fn key(&self, date: &str) -> Arc<DatedKey> {
        let mut slot = self.key.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            Some(k) if k.date == date => k.clone(),
            _ => {
                let k = Arc::new(DatedKey::derive(self.secret.expose(), date, &self.region, &self.service));
                *slot = Some(k.clone());
                k
            }
        }
    }

    /// Sign a request at `now` (epoch seconds): adds `x-amz-date` (and
    /// `x-amz-security-token`) to `headers` and returns the `Authorization`
    /// value. Signs every header present (which must include `host`).
    pub fn sign(
        &self,
        method: &str,
        raw_path: &str,
        headers: &mut HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<String, Error> {
        let date_time = amz_date(now);
        headers.insert("x-amz-date", HeaderValue::from_str(&date_time).map_err(|_| Error::internal("invalid date"))?);
        if let Some(t) = &self.session_token {
            headers.insert("x-amz-security-token", t.clone());
        }
        // Header names are lowercase in `HeaderMap`, and each appears once.
        let mut signed: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        signed.sort_unstable();
        let creq = canonical_request(method, raw_path, "", headers, &signed, &payload_hash(body));
        let date = &date_time[..8];
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let sig = self.key(date).signature(&string_to_sign(&date_time, &scope, &creq));
        Ok(format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            self.access_key_id,
            signed.join(";")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_core::crypto::hex;

    #[test]
    fn dates() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1440938160));
        assert_eq!(amz_date(1440938160), "20150830T123600Z");
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(1440938160));
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        // Found by fuzzing (fuzz/seeds/sigv4/amz-date-not-ascii): sixteen
        // bytes, but a multi-byte character across a field boundary.
        assert_eq!(parse_amz_date("99\u{FFFD}231T235959Z"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 24:36:00 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 15 12:36:00 GMT"), None);
    }

    /// Found by fuzzing (fuzz/seeds/sigv4/http-date-overflow): a `Date`
    /// header with a huge year overflowed the epoch arithmetic (a panic
    /// with overflow checks, a wrapped time without).
    #[test]
    fn http_date_with_a_huge_year() {
        let date = "Sun, 30 Aug 20100000000000005 12:36:00 GMT";
        assert_eq!(parse_http_date(date), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 99999999999999999:36:00 GMT"), None);

        struct NoKeys;
        impl CredentialResolver for NoKeys {
            fn resolve(&self, _: &str, _: Option<&str>) -> Result<Arc<Credential>, Error> {
                Err(Error::UnrecognizedClient)
            }
        }
        let mut h = HeaderMap::new();
        h.insert("host", "h".parse().unwrap());
        h.insert("date", date.parse().unwrap());
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=date;host, Signature=ab"
                .parse()
                .unwrap(),
        );
        let req = RequestParts { method: "POST", raw_path: "/", raw_query: "", headers: &h, body: b"" };
        let e = Verifier::new("kms").verify(&req, &NoKeys, 1440938160, true).err().unwrap();
        assert!(matches!(e, Error::IncompleteSignature(_)), "{e:?}");
    }

    /// The `get-vanilla` case of AWS's SigV4 test suite.
    #[test]
    fn aws_vector_get_vanilla() {
        let mut h = HeaderMap::new();
        h.insert("host", "example.amazonaws.com".parse().unwrap());
        h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let creq = canonical_request("GET", "/", "", &h, &["host", "x-amz-date"], &hex(&sha256(b"")));
        let sts = string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", &creq);
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service");
        assert_eq!(
            hex(&hmac_sha256(&key, sts.as_bytes())),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The signer (cached key included) reproduces `get-vanilla` exactly.
    #[test]
    fn signer_matches_the_aws_vector() {
        let signer =
            Signer::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, "us-east-1", "service")
                .unwrap();
        for _ in 0..2 {
            let mut h = HeaderMap::new();
            h.insert("host", "example.amazonaws.com".parse().unwrap());
            assert_eq!(
                signer.sign("GET", "/", &mut h, b"", 1440938160).unwrap(),
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            );
            assert_eq!(h["x-amz-date"], "20150830T123600Z");
        }
    }

    #[test]
    fn collapsed_header_values() {
        let mut h = HeaderMap::new();
        h.append("x-a", "  a   b  c ".parse().unwrap());
        h.append("x-a", "d".parse().unwrap());
        let creq = canonical_request("POST", "", "", &h, &["x-a"], "00");
        assert_eq!(creq, "POST\n/\n\nx-a:a b c,d\n\nx-a\n00");
    }

    #[test]
    fn query_and_uri() {
        assert_eq!(canonical_query("b=2&a=1&c=x%20y"), "a=1&b=2&c=x%20y");
        assert_eq!(canonical_uri("/a b"), "/a%20b");
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
    }

    #[test]
    fn authorization_parsing() {
        let e =
            parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request").err().unwrap();
        assert!(e.to_string().contains("'Signature'"));
        assert!(e.to_string().contains("'SignedHeaders'"));
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab",
        )
        .ok()
        .unwrap();
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(
            (a.access_key_id, a.date, a.region, a.service, a.terminator),
            ("AKID", "20150830", "us-east-1", "kms", "aws4_request")
        );
        // A scope of other than five non-empty parts: what follows the access key, quoted.
        for (credential, quoted) in [
            ("AKID/20150830/us-east-1/kms", "20150830/us-east-1/kms"),
            ("AKID/20150830/us-east-1/kms/aws4_request/x", "20150830/us-east-1/kms/aws4_request/x"),
            ("AKID/20150830//kms/aws4_request", "20150830//kms/aws4_request"),
            ("AKID", ""),
        ] {
            let e = parse_authorization(&format!(
                "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=ab"
            ))
            .err()
            .unwrap();
            assert!(matches!(&e, Error::IncompleteSignature(m) if m.ends_with(&format!(", not '{quoted}'."))), "{e}");
        }
    }
}
