//! The symmetric ciphertext blob format (see docs/CIPHERTEXT.md) and the
//! canonical encoding of an encryption context as AAD.
//!
//! ```text
//! offset  size  field
//! 0       1     format version (1)
//! 1       1     key id kind: 0 = UUID key id, 1 = multi-Region (mrk-) key id
//! 2       16    key id (the UUID's 16 bytes, or the 16 bytes the mrk- hex encodes)
//! 18      32    key material id (KeyMaterialId, shown as 64 hex digits)
//! 50      12    AES-GCM nonce
//! 62      n     AES-256-GCM ciphertext of the plaintext
//! 62+n    16    AES-GCM tag
//! AAD = bytes 0..50 || canonical(encryption context)
//! ```

use std::collections::BTreeMap;

use crate::crypto::{hex, AesKey};
use crate::error::{Error, Result};

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 50;
pub const OVERHEAD: usize = HEADER_LEN + 12 + 16;

/// An encryption context, ordered by key so that its encoding does not
/// depend on the order the client sent it in.
pub type EncryptionContext = BTreeMap<String, String>;

/// Canonical, unambiguous encoding of an encryption context: the number of
/// pairs, then each key and value length-prefixed, sorted by key bytes.
pub fn encode_context(ctx: &EncryptionContext, out: &mut Vec<u8>) {
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    for (k, v) in ctx {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

/// The parsed, still encrypted, header of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key_id: String,
    pub material_id: [u8; 32],
}

impl Header {
    pub fn material_id_hex(&self) -> String {
        hex(&self.material_id)
    }
}

fn encode_key_id(key_id: &str, out: &mut Vec<u8>) -> Result<()> {
    let bad = || Error::internal("key id cannot be encoded in a ciphertext");
    // A key id is 32 hex digits, with dashes (UUIDs) or after `mrk-`.
    let (kind, digits, dashes) = match key_id.strip_prefix("mrk-") {
        Some(h) => (1u8, h, false),
        None => (0u8, key_id, true),
    };
    let mut id = [0u8; 16];
    let mut n = 0;
    for b in digits.bytes() {
        if dashes && b == b'-' {
            continue;
        }
        let v = char::from(b).to_digit(16).ok_or_else(bad)? as u8;
        let slot = id.get_mut(n / 2).ok_or_else(bad)?;
        *slot |= if n % 2 == 0 { v << 4 } else { v };
        n += 1;
    }
    if n != 32 {
        return Err(bad());
    }
    out.push(kind);
    out.extend_from_slice(&id);
    Ok(())
}

fn decode_key_id(kind: u8, b: &[u8]) -> Option<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    match kind {
        0 => {}
        1 => s.push_str("mrk-"),
        _ => return None,
    }
    for (i, byte) in b.iter().enumerate() {
        if kind == 0 && matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Some(s)
}

/// Append the [`HEADER_LEN`] header bytes of a version-1 blob: the inverse
/// of [`parse_header`]. On error `out` may hold part of a header.
pub fn encode_header(key_id: &str, material_id: &[u8; 32], out: &mut Vec<u8>) -> Result<()> {
    out.push(VERSION);
    encode_key_id(key_id, out)?;
    out.extend_from_slice(material_id);
    Ok(())
}

/// Start a version-1 blob of `len` plaintext bytes: its header, and the
/// AAD the AES-GCM that follows it binds (the nonce, then ciphertext and
/// tag, are appended by the cipher: here, or in an HSM).
pub fn begin(key_id: &str, material_id: &[u8; 32], ctx: &EncryptionContext, len: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut blob = Vec::with_capacity(OVERHEAD + len);
    encode_header(key_id, material_id, &mut blob)?;
    let mut aad = Vec::with_capacity(HEADER_LEN + 64);
    aad.extend_from_slice(&blob);
    encode_context(ctx, &mut aad);
    Ok((blob, aad))
}

/// Encrypt `plaintext` into a version-1 blob.
pub fn seal(
    key: &AesKey,
    key_id: &str,
    material_id: &[u8; 32],
    ctx: &EncryptionContext,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (mut blob, aad) = begin(key_id, material_id, ctx, plaintext.len())?;
    key.seal_into(&aad, plaintext, &mut blob)?;
    Ok(blob)
}

/// The AAD of a blob and what follows its header (nonce, ciphertext, tag).
pub fn parts<'a>(blob: &'a [u8], ctx: &EncryptionContext) -> Result<(Vec<u8>, &'a [u8])> {
    if blob.len() < OVERHEAD {
        return Err(Error::InvalidCiphertext);
    }
    let mut aad = Vec::with_capacity(HEADER_LEN + 64);
    aad.extend_from_slice(&blob[..HEADER_LEN]);
    encode_context(ctx, &mut aad);
    Ok((aad, &blob[HEADER_LEN..]))
}

/// The nonce of what follows a blob's header, and the ciphertext with its tag.
pub fn split_nonce(sealed: &[u8]) -> (&[u8], &[u8]) {
    sealed.split_at(NONCE_LEN.min(sealed.len()))
}

/// The AES-GCM nonce length of the format.
pub const NONCE_LEN: usize = 12;

/// Read the header of a blob. Anything that is not a well-formed version-1
/// blob is `InvalidCiphertextException`.
pub fn parse_header(blob: &[u8]) -> Result<Header> {
    if blob.len() < OVERHEAD || blob[0] != VERSION {
        return Err(Error::InvalidCiphertext);
    }
    let key_id = decode_key_id(blob[1], &blob[2..18]).ok_or(Error::InvalidCiphertext)?;
    let mut material_id = [0u8; 32];
    material_id.copy_from_slice(&blob[18..50]);
    Ok(Header { key_id, material_id })
}

/// Decrypt a blob whose header was parsed with [`parse_header`].
pub fn open(key: &AesKey, blob: &[u8], ctx: &EncryptionContext) -> Result<crate::crypto::SecretBytes> {
    let (aad, sealed) = parts(blob, ctx)?;
    key.open(&aad, sealed).ok_or(Error::InvalidCiphertext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyMaterial;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn context_encoding_is_order_independent_and_unambiguous() {
        let mut a = vec![];
        let mut b = vec![];
        encode_context(&ctx(&[("a", "1"), ("b", "2")]), &mut a);
        encode_context(&ctx(&[("b", "2"), ("a", "1")]), &mut b);
        assert_eq!(a, b);
        let mut c = vec![];
        let mut d = vec![];
        encode_context(&ctx(&[("ab", "c")]), &mut c);
        encode_context(&ctx(&[("a", "bc")]), &mut d);
        assert_ne!(c, d);
    }

    #[test]
    fn round_trip_and_tamper() {
        let m = KeyMaterial::generate().unwrap();
        let k = m.aes().unwrap();
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let mid = [7u8; 32];
        let c = ctx(&[("purpose", "test")]);
        let blob = seal(&k, id, &mid, &c, b"hello").unwrap();
        let h = parse_header(&blob).unwrap();
        assert_eq!(h.key_id, id);
        assert_eq!(h.material_id, mid);
        assert_eq!(open(&k, &blob, &c).unwrap().expose(), b"hello");
        assert!(open(&k, &blob, &ctx(&[])).is_err());
        let mut bad = blob.clone();
        bad[20] ^= 1;
        assert!(open(&k, &bad, &c).is_err());
        let mrk = "mrk-1234abcd12ab34cd56ef1234567890ab";
        let blob = seal(&k, mrk, &mid, &c, b"x").unwrap();
        assert_eq!(parse_header(&blob).unwrap().key_id, mrk);
    }

    /// Found by fuzzing (fuzz/seeds/ciphertext/key-id-not-hex): a key id of
    /// the right length with a multi-byte character panicked, and one with a
    /// sign was encoded as another key id.
    #[test]
    fn key_ids_that_are_not_hex_are_refused() {
        let mut out = vec![];
        assert!(encode_header(&format!("a\u{3fd}{}", "a".repeat(29)), &[0; 32], &mut out).is_err());
        assert!(encode_header(&format!("mrk-{}\u{3fd}a", "a".repeat(29)), &[0; 32], &mut out).is_err());
        assert!(encode_header("+234abcd-12ab-34cd-56ef-1234567890ab", &[0; 32], &mut out).is_err());
        out.clear();
        encode_header("1234abcd-12ab-34cd-56ef-1234567890ab", &[0; 32], &mut out).unwrap();
        assert_eq!(out.len(), HEADER_LEN);
        for wrong in [
            "",
            "mrk-",
            "1234abcd-12ab-34cd-56ef-1234567890a",
            "1234abcd-12ab-34cd-56ef-1234567890abc",
            "mrk-1234abcd-12ab34cd56ef1234567890ab",
        ] {
            assert!(encode_header(wrong, &[0; 32], &mut vec![]).is_err(), "{wrong}");
        }
        // Upper-case digits are read, and come back as AWS spells key ids.
        out.clear();
        encode_header("ABCDEF01-2345-6789-abcd-ef0123456789", &[0; 32], &mut out).unwrap();
        assert_eq!(
            &out[1..18],
            &[0, 0xab, 0xcd, 0xef, 1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 1, 0x23, 0x45, 0x67, 0x89]
        );
        assert_eq!(decode_key_id(0, &out[2..18]).unwrap(), "abcdef01-2345-6789-abcd-ef0123456789");
        assert_eq!(decode_key_id(1, &out[2..18]).unwrap(), "mrk-abcdef0123456789abcdef0123456789");
        assert_eq!(decode_key_id(2, &out[2..18]), None);
    }
}
