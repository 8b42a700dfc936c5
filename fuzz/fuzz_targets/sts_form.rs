//! The STS query-protocol form parser (crates/kms-api/src/sts.rs).
//!
//! Any body: `parse_form` returns the parameters, never panics; `action` is
//! the value of the first `Action` parameter; and the parameters, encoded
//! again as a form (every byte but the unreserved ones percent-encoded),
//! parse back to exactly the same list.
#![no_main]

use kms_api::sts::{action, is_query, parse_form};
use libfuzzer_sys::fuzz_target;

fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let form = parse_form(data);
    let first_action = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str());
    assert_eq!(action(&form), first_action);

    let mut body = String::new();
    for (i, (k, v)) in form.iter().enumerate() {
        if i > 0 {
            body.push('&');
        }
        encode(k, &mut body);
        body.push('=');
        encode(v, &mut body);
    }
    assert_eq!(parse_form(body.as_bytes()), form, "re-encoded as {body:?}");

    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data.get(..64).unwrap_or(data)) {
        h.insert(http::header::CONTENT_TYPE, v);
        let _ = is_query(&h);
    }
});
