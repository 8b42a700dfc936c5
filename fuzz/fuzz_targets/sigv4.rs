//! SigV4 (crates/kms-api/src/sigv4.rs).
//!
//! The input is a request in a plain text form, so that seeds are readable:
//!
//! ```text
//! [!]METHOD PATH[?QUERY]\n
//! name:value\n        (any number of header lines, until an empty line)
//! \n
//! BODY
//! ```
//!
//! * The `Authorization` parser, on every header value (and the raw bytes):
//!   an error or the parts, never a panic; parts that parse print back to a
//!   header that parses to the same parts. The date parsers never panic.
//! * The canonical request builder and the verifier over the request as
//!   given (headers, path, query and body arbitrary; the clock set to the
//!   request's own date so that the skew check passes; every access key id
//!   resolves): never a panic, always an error (the fuzzer cannot forge an
//!   HMAC).
//! * With a leading `!`, the request is signed by `Signer` (every header
//!   given, minus `authorization`) and then verified: the verifier must
//!   accept what the signer signed, and refuse it once the body changes.
#![no_main]

use std::sync::{Arc, OnceLock};

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use kms_api::sigv4::{
    canonical_query, canonical_request, canonical_uri, parse_amz_date, parse_authorization, parse_http_date,
    RequestParts, Signer, Verifier, ALGORITHM,
};
use kms_core::crypto::SecretString;
use kms_core::identity::{Credential, CredentialResolver, Principal};
use libfuzzer_sys::fuzz_target;

const REGION: &str = "us-east-1";

/// Whether the request's scope names the one region served.
fn served(parts: &RequestParts<'_>) -> bool {
    kms_api::sigv4::scope_region(parts.headers) == Some(REGION)
}
const SERVICE: &str = "kms";
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
const NOW: i64 = 1_440_938_160;
/// 9999-12-31T23:59:59Z: `x-amz-date` has four year digits.
const LAST_AMZ_DATE: i64 = 253_402_300_799;

/// Resolves every access key id to the same secret.
struct AnyKey;

impl CredentialResolver for AnyKey {
    fn resolve(&self, access_key_id: &str, _token: Option<&str>) -> kms_core::Result<Arc<Credential>> {
        let arn = format!("arn:aws:iam::111122223333:user/{access_key_id}");
        Ok(Arc::new(Credential {
            access_key_id: access_key_id.to_string(),
            secret: SecretString::new(SECRET.to_string()),
            principal: Arc::new(Principal {
                account: "111122223333".into(),
                user_name: "alice".into(),
                user_id: "AIDAEXAMPLE".into(),
                arn: arn.clone(),
                admin: false,
                policy_principal: kms_policy::Principal {
                    arn,
                    account: "111122223333".into(),
                    kind: kms_policy::PrincipalKind::User,
                    role_arn: None,
                },
                tags: vec![],
                policies: vec![],
            }),
        }))
    }
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::new(SERVICE))
}

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| Signer::new(ACCESS_KEY_ID, SECRET, None, REGION, SERVICE).expect("signer"))
}

struct Request<'a> {
    sign: bool,
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    /// Every header line's value as given, valid header value or not.
    raw_values: Vec<&'a [u8]>,
    body: &'a [u8],
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn parse_request(data: &[u8]) -> Request<'_> {
    let (first, mut rest) = split_line(data);
    let (sign, first) = match first.strip_prefix(b"!") {
        Some(f) => (true, f),
        None => (false, first),
    };
    let first = String::from_utf8_lossy(first);
    let (method, target) = first.split_once(' ').unwrap_or((&first, ""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::new();
    let mut raw_values = vec![];
    loop {
        let (line, next) = split_line(rest);
        rest = next;
        if line.is_empty() {
            break;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        raw_values.push(value);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    Request {
        sign,
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        raw_values,
        body: rest,
    }
}

/// The `Authorization` parser: never a panic, and a round trip for what
/// parses.
fn authorization(value: &str) {
    let _ = parse_amz_date(value);
    let _ = parse_http_date(value);
    let Ok(a) = parse_authorization(value) else { return };
    let again = format!(
        "{ALGORITHM} Credential={}/{}/{}/{}/{}, SignedHeaders={}, Signature={}",
        a.access_key_id,
        a.date,
        a.region,
        a.service,
        a.terminator,
        a.signed_headers.join(";"),
        a.signature
    );
    let b = parse_authorization(&again).unwrap_or_else(|e| panic!("{again:?} does not parse: {e:?}"));
    assert_eq!(a, b, "{value:?} printed as {again:?}");
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn as_given(r: &Request) {
    // The clock at the request's own time, so that the skew check passes.
    let now = header_str(&r.headers, "x-amz-date")
        .and_then(parse_amz_date)
        .or_else(|| header_str(&r.headers, "date").and_then(parse_http_date))
        .unwrap_or(NOW);
    let parts =
        RequestParts { method: &r.method, raw_path: &r.path, raw_query: &r.query, headers: &r.headers, body: r.body };
    let signed: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
    let _ = canonical_request(&r.method, &r.path, &r.query, &r.headers, &signed, "00");
    let _ = canonical_uri(&r.path);
    let _ = canonical_query(&r.query);
    assert!(verifier().verify(&parts, &AnyKey, now, served(&parts)).is_err(), "an unsigned request verified");
}

fn signed(mut r: Request) {
    r.headers.remove("authorization");
    let now = header_str(&r.headers, "x-amz-date").and_then(parse_amz_date).map_or(NOW, |t| t.clamp(0, LAST_AMZ_DATE));
    let auth = signer().sign(&r.method, &r.path, &mut r.headers, r.body, now).expect("sign");
    r.headers.insert("authorization", HeaderValue::from_str(&auth).expect("Authorization is a header value"));
    let mut parts =
        RequestParts { method: &r.method, raw_path: &r.path, raw_query: "", headers: &r.headers, body: r.body };
    if let Err(e) = verifier().verify(&parts, &AnyKey, now, served(&parts)) {
        panic!("the verifier refuses what the signer signed: {e:?}\n{auth}");
    }
    let mut body = r.body.to_vec();
    body.push(b'x');
    parts.body = &body;
    assert!(verifier().verify(&parts, &AnyKey, now, served(&parts)).is_err(), "a changed body verified");
}

fuzz_target!(|data: &[u8]| {
    let r = parse_request(data);
    for v in &r.raw_values {
        authorization(&String::from_utf8_lossy(v));
    }
    if r.sign {
        signed(r);
    } else {
        as_given(&r);
    }
});
