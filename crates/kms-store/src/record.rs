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
//!
//! Records written before this form (the whole JSON, `key_id` first) read
//! as before: a record without `key_id` takes the table's key, one without
//! `policy` but with `policy_default` gets the default policy back.

use kms_core::error::Result;
use kms_core::types::KeyRecord;
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

/// The bytes the embedded store keeps for `key`.
pub(crate) fn encode_key(key: &KeyRecord) -> Result<Vec<u8>> {
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
