//! The ciphertext blob format (crates/kms-core/src/ciphertext.rs).
//!
//! * Any bytes: `parse_header` returns a header or `InvalidCiphertext`,
//!   never panics; a parsed header re-encodes to the blob's first
//!   `HEADER_LEN` bytes (the rest is nonce, ciphertext and tag, opaque), and
//!   `open` under a key that never sealed it fails.
//! * The same bytes read as a key id, a key material id, an encryption
//!   context and a plaintext: `seal` either refuses the key id or gives a
//!   blob whose header parses back to the same key id (for an arbitrary
//!   string: one that spells the same hex digits) and material id, and that
//!   opens to the same plaintext (and not under another context).
//! * The bytes as a key id: `encode_header` refuses it or encodes a header
//!   that parses back to a key id that spells the same hex digits.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use kms_core::ciphertext::{encode_header, open, parse_header, seal, EncryptionContext, HEADER_LEN, OVERHEAD};
use kms_core::crypto::{AesKey, KeyMaterial};
use kms_core::Error;
use libfuzzer_sys::fuzz_target;

fn key() -> &'static AesKey {
    static KEY: OnceLock<AesKey> = OnceLock::new();
    KEY.get_or_init(|| KeyMaterial::from_bytes(&[0x42; 32]).and_then(|m| m.aes()).expect("AES key"))
}

/// A key id to seal under: either a well-formed one built from 16 bytes, or
/// any string at all.
#[derive(Arbitrary, Debug)]
enum KeyId {
    Uuid([u8; 16]),
    Mrk([u8; 16]),
    Any(String),
}

impl KeyId {
    fn text(&self) -> String {
        let hex = |b: &[u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            KeyId::Uuid(b) => {
                let h = hex(b);
                format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
            }
            KeyId::Mrk(b) => format!("mrk-{}", hex(b)),
            KeyId::Any(s) => s.clone(),
        }
    }
}

/// What a key id spells: its kind and its hex digits, lowercased.
fn spelled(key_id: &str) -> (bool, String) {
    match key_id.strip_prefix("mrk-") {
        Some(h) => (true, h.to_ascii_lowercase()),
        None => (false, key_id.replace('-', "").to_ascii_lowercase()),
    }
}

fn parse_any(data: &[u8]) {
    match parse_header(data) {
        Ok(h) => {
            assert!(data.len() >= OVERHEAD);
            let mut again = Vec::new();
            encode_header(&h.key_id, &h.material_id, &mut again).expect("a parsed header encodes");
            assert_eq!(again, data[..HEADER_LEN], "header round trip");
            assert!(open(key(), data, &EncryptionContext::new()).is_err(), "forged blob opened");
        }
        Err(e) => assert!(matches!(e, Error::InvalidCiphertext), "{e:?}"),
    }
}

fn seal_round_trip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(id), Ok(material_id), Ok(ctx), Ok(plaintext)) = (
        KeyId::arbitrary(&mut u),
        <[u8; 32]>::arbitrary(&mut u),
        EncryptionContext::arbitrary(&mut u),
        Vec::<u8>::arbitrary(&mut u),
    ) else {
        return;
    };
    let key_id = id.text();
    let blob = match seal(key(), &key_id, &material_id, &ctx, &plaintext) {
        Ok(b) => b,
        Err(e) => {
            assert!(matches!(id, KeyId::Any(_)), "a well-formed key id was refused: {key_id:?}: {e:?}");
            return;
        }
    };
    assert_eq!(blob.len(), OVERHEAD + plaintext.len());
    let h = parse_header(&blob).expect("a sealed blob parses");
    if let KeyId::Any(_) = id {
        // Any accepted spelling names the same 16 bytes as the canonical one.
        assert_eq!(spelled(&h.key_id), spelled(&key_id), "{key_id:?} read back as {:?}", h.key_id);
    } else {
        assert_eq!(h.key_id, key_id, "key id round trip");
    }
    assert_eq!(h.material_id, material_id);
    let opened = open(key(), &blob, &ctx).expect("a sealed blob opens");
    assert_eq!(opened.expose(), &plaintext[..]);
    let mut other = ctx.clone();
    other.insert("fuzz".into(), format!("{}", ctx.len()));
    if other != ctx {
        assert!(open(key(), &blob, &other).is_err(), "opened under another context");
    }
}

/// The bytes themselves as a key id (the structured one above rarely has
/// the exact length that reaches the hex decoding).
fn key_id_as_is(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    for key_id in [s.to_string(), format!("mrk-{s}")] {
        let mut header = Vec::new();
        if encode_header(&key_id, &[0; 32], &mut header).is_ok() {
            header.extend(std::iter::repeat_n(0, OVERHEAD - HEADER_LEN));
            let h = parse_header(&header).expect("an encoded header parses");
            assert_eq!(spelled(&h.key_id), spelled(&key_id), "{key_id:?} read back as {:?}", h.key_id);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    parse_any(data);
    seal_round_trip(data);
    key_id_as_is(data);
});
