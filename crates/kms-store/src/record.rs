//! The embedded store's form of a key record: the record's JSON without
//! what can be rebuilt exactly, since a million keys make every byte of a
//! record a megabyte of the data directory (docs/PERFORMANCE.md, "Scale:
//! 1,000,000 keys").
//!
//! - `key_id` is left out: it is the `keys` table's key.
//! - The default key policy (`kms_policy::default_key_policy`, 330 bytes
//!   of JSON text) is stored as `"policy_default": "<partition>"` and
//!   rebuilt on read, byte for byte (it is written only when the rebuilt
//!   text is identical to the record's).
//! - Members at their serde default (`null`, `[]`, `false`) are left out.
//! - A plain key (the default policy, one material made with the key, no
//!   tags, rotation, deletion, last usage, multi-Region set, custom key
//!   store or public key: what CreateKey makes by default) is kept in a
//!   binary form instead: a tag byte 0x01 (JSON starts with `{`), then its
//!   account, creation time, description, usage, spec, origin and state
//!   (as their AWS names), partition, material id (32 bytes), sealed
//!   material and revision. A record takes this form only when decoding
//!   it gives back exactly the same record (compared as JSON), so a member
//!   added to `KeyRecord` later can never be lost: such a record is JSON.
//!
//! Records written before this form (the whole JSON, `key_id` first) read
//! as before: a record without `key_id` takes the table's key, one without
//! `policy` but with `policy_default` gets the default policy back.

use kms_core::error::Result;
use kms_core::types::{KeyRecord, KeySpec, KeyState, KeyUsage, MaterialRecord, Origin};
use serde_json::{Map, Value};

use crate::redb_store::db_err;

const POLICY_DEFAULT: &str = "policy_default";

/// Members that deserialize to their default when absent, and the default.
fn is_default(name: &str, v: &Value) -> bool {
    match name {
        "deletion_ms" | "pending_window_days" | "last_usage" => v.is_null(),
        "tags" => v.as_array().is_some_and(Vec::is_empty),
        "multi_region" => v == &Value::Bool(false),
        _ => false,
    }
}

/// The partition of `policy` if it is exactly the default key policy of
/// `account` in that partition.
fn default_partition<'a>(policy: &'a str, account: &str) -> Option<&'a str> {
    const MARK: &str = "\u{1}";
    let template = kms_policy::default_key_policy(MARK, account);
    let (head, tail) = template.split_once(MARK)?;
    let partition = policy.strip_prefix(head)?.strip_suffix(tail)?;
    let plain = !partition.is_empty() && partition.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (plain && kms_policy::default_key_policy(partition, account) == policy).then_some(partition)
}

/// The first byte of the binary form of a plain key.
const PLAIN: u8 = 0x01;

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

fn hex_to_32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// The binary form of `key`, if it is a plain key (before the check that
/// it decodes to the same record).
fn encode_plain(key: &KeyRecord) -> Option<Vec<u8>> {
    let partition = default_partition(&key.policy, &key.account)?;
    let [m] = key.materials.as_slice() else { return None };
    let id = hex_to_32(&m.id)?;
    let mut out = Vec::with_capacity(96 + key.description.len() + m.sealed.len());
    out.push(PLAIN);
    put_bytes(&mut out, key.account.as_bytes());
    out.extend_from_slice(&key.created_ms.to_le_bytes());
    put_bytes(&mut out, key.description.as_bytes());
    for name in [key.key_usage.as_str(), key.key_spec.as_str(), key.origin.as_str(), key.state.as_str(), partition] {
        put_bytes(&mut out, name.as_bytes());
    }
    out.extend_from_slice(&id);
    put_bytes(&mut out, &m.sealed);
    out.extend_from_slice(&key.revision.to_le_bytes());
    Some(out)
}

/// Reads the binary form.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(db_err("a key record is cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn len(&mut self) -> Result<usize> {
        let mut n = 0usize;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(db_err("a key record has a bad length"))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(db_err)
    }
    fn eight(&mut self) -> Result<[u8; 8]> {
        self.take(8)?.try_into().map_err(db_err)
    }
}

fn decode_plain(key_id: &str, bytes: &[u8]) -> Result<KeyRecord> {
    let mut r = Reader(bytes);
    if r.take(1)? != [PLAIN] {
        return Err(db_err("not a plain key record"));
    }
    let account = r.str()?.to_string();
    let created_ms = i64::from_le_bytes(r.eight()?);
    let description = r.str()?.to_string();
    let bad = |what: &str, v: &str| db_err(format!("a key record has an unknown {what} {v:?}"));
    let usage = r.str()?;
    let key_usage = KeyUsage::parse(usage).ok_or_else(|| bad("key usage", usage))?;
    let spec = r.str()?;
    let key_spec = KeySpec::parse(spec).ok_or_else(|| bad("key spec", spec))?;
    let origin = r.str()?;
    let origin = Origin::parse(origin).ok_or_else(|| bad("origin", origin))?;
    let state = r.str()?;
    let state = KeyState::parse(state).ok_or_else(|| bad("key state", state))?;
    let partition = r.str()?;
    let policy = kms_policy::default_key_policy(partition, &account);
    let id = kms_core::crypto::hex(r.take(32)?);
    let sealed = r.bytes()?.to_vec();
    let revision = u64::from_le_bytes(r.eight()?);
    if !r.0.is_empty() {
        return Err(db_err("a key record has bytes after its end"));
    }
    Ok(KeyRecord {
        key_id: key_id.to_string(),
        account,
        created_ms,
        description,
        key_usage,
        key_spec,
        origin,
        state,
        deletion_ms: None,
        pending_window_days: None,
        policy,
        tags: vec![],
        multi_region: false,
        multi_region_set: None,
        materials: vec![MaterialRecord {
            id,
            sealed,
            created_ms,
            rotation: None,
            pending_rotation: false,
            import: None,
            in_hsm: false,
        }],
        auto_rotation: None,
        on_demand_rotation_ms: None,
        last_usage: None,
        public_key: None,
        custom_key_store: None,
        revision,
    })
}

/// The bytes the embedded store keeps for `key`.
pub(crate) fn encode_key(key: &KeyRecord) -> Result<Vec<u8>> {
    if let Some(plain) = encode_plain(key) {
        // Only if nothing is lost: the same record, member for member.
        let same = decode_plain(&key.key_id, &plain).ok().map(|r| serde_json::to_vec(&r).ok())
            == Some(Some(serde_json::to_vec(key).map_err(db_err)?));
        if same {
            return Ok(plain);
        }
    }
    encode_json(key)
}

fn encode_json(key: &KeyRecord) -> Result<Vec<u8>> {
    let Value::Object(full) = serde_json::to_value(key).map_err(db_err)? else {
        return Err(db_err("a key record is not a JSON object"));
    };
    let mut out = Map::new();
    for (name, v) in full {
        match name.as_str() {
            "key_id" => {}
            "policy" => match default_partition(&key.policy, &key.account) {
                Some(p) => {
                    out.insert(POLICY_DEFAULT.into(), Value::String(p.into()));
                }
                None => {
                    out.insert(name, v);
                }
            },
            _ if is_default(&name, &v) => {}
            _ => {
                out.insert(name, v);
            }
        }
    }
    serde_json::to_vec(&Value::Object(out)).map_err(db_err)
}

/// A key record from the bytes kept under `key_id` (this form or the older
/// whole JSON).
pub(crate) fn decode_key(key_id: &str, bytes: &[u8]) -> Result<KeyRecord> {
    if bytes.first() == Some(&PLAIN) {
        return decode_plain(key_id, bytes);
    }
    let Value::Object(mut m) = serde_json::from_slice(bytes).map_err(db_err)? else {
        return Err(db_err("a key record is not a JSON object"));
    };
    if !m.contains_key("key_id") {
        m.insert("key_id".into(), Value::String(key_id.into()));
    }
    if let Some(p) = m.remove(POLICY_DEFAULT) {
        let partition = p.as_str().ok_or_else(|| db_err("policy_default is not a string"))?;
        let account = m.get("account").and_then(Value::as_str).ok_or_else(|| db_err("a key record without account"))?;
        let policy = kms_policy::default_key_policy(partition, account);
        m.insert("policy".into(), Value::String(policy));
    }
    serde_json::from_value(Value::Object(m)).map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> KeyRecord {
        let json = r#"{"key_id":"f711087d-0ca2-4e78-8e7f-db320270dada","account":"111122223333","created_ms":1796286485673,"description":"kms-bench scale","key_usage":"ENCRYPT_DECRYPT","key_spec":"SYMMETRIC_DEFAULT","origin":"AWS_KMS","state":"Enabled","policy":"","materials":[{"id":"605941f4d9d61ff9e9d0940b138ed01e8d910cfde954c553e80be78fa3f5982e","sealed":"AW+yxNVsTni6e04X41X7GxXtLKffjBKl9QM4gyVVU6CqzAMkU+J9NlgPVlCU53zHf9f+fhnh9+dEud0iIg==","created_ms":1796286485673}],"revision":1}"#;
        let mut k: KeyRecord = serde_json::from_str(json).unwrap();
        k.policy = kms_policy::default_key_policy("aws", &k.account);
        k
    }

    fn same(a: &KeyRecord, b: &KeyRecord) -> bool {
        serde_json::to_string(a).unwrap() == serde_json::to_string(b).unwrap()
    }

    /// A plain key takes the binary form and comes back the same; any
    /// difference from plain falls back to JSON, which comes back the same.
    #[test]
    fn plain_keys_are_binary_others_json() {
        let k = plain();
        let b = encode_key(&k).unwrap();
        assert_eq!(b[0], PLAIN);
        assert!(b.len() < 200, "{}", b.len());
        assert!(same(&decode_key(&k.key_id, &b).unwrap(), &k));
        let changes: Vec<fn(&mut KeyRecord)> = vec![
            (|k: &mut KeyRecord| k.policy.push(' ')),
            (|k: &mut KeyRecord| k.tags.push(("a".into(), "b".into()))),
            (|k: &mut KeyRecord| k.materials[0].created_ms += 1),
            (|k: &mut KeyRecord| k.materials[0].id = k.materials[0].id.to_uppercase()),
            (|k: &mut KeyRecord| k.materials.push(k.materials[0].clone())),
            (|k: &mut KeyRecord| k.deletion_ms = Some(5)),
            (|k: &mut KeyRecord| k.multi_region = true),
            (|k: &mut KeyRecord| k.public_key = Some(vec![1])),
            (|k: &mut KeyRecord| {
                k.last_usage = Some(kms_core::types::LastUsage {
                    operation: "Encrypt".into(),
                    at_ms: 1,
                    request_id: "r".into(),
                    principal: None,
                })
            }),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut k = plain();
            change(&mut k);
            let b = encode_key(&k).unwrap();
            assert_eq!(b[0], b'{', "change {i}");
            assert!(same(&decode_key(&k.key_id, &b).unwrap(), &k), "change {i}");
        }
        // Other values of the members the binary form keeps stay binary.
        let mut k = plain();
        k.description = "é".repeat(200);
        k.state = KeyState::Disabled;
        k.revision = 7;
        k.policy = kms_policy::default_key_policy("aws-us-gov", &k.account);
        let b = encode_key(&k).unwrap();
        assert_eq!(b[0], PLAIN);
        assert!(same(&decode_key(&k.key_id, &b).unwrap(), &k));
        // Damage is an error, not a wrong record.
        assert!(decode_key(&k.key_id, &b[..b.len() - 1]).is_err());
        assert!(decode_key(&k.key_id, &[b.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn default_partition_only_for_the_exact_text() {
        let a = "111122223333";
        for p in ["aws", "aws-cn", "aws-us-gov"] {
            assert_eq!(default_partition(&kms_policy::default_key_policy(p, a), a), Some(p));
        }
        let d = kms_policy::default_key_policy("aws", a);
        assert_eq!(default_partition(&d, "444455556666"), None);
        assert_eq!(default_partition(&format!("{d} "), a), None);
        assert_eq!(default_partition(&d.replace("kms:*", "kms:Encrypt"), a), None);
        assert_eq!(default_partition(&d.replace("arn:aws:", "arn:a\":"), a), None);
        assert_eq!(default_partition("{}", a), None);
    }
}
