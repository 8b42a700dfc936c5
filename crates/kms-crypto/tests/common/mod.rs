//! Helpers shared by the test suites: hex, and the `tests/data` vector files
//! (blank-line separated records of `name = hex-or-text` lines, `#` comments).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// Decodes lowercase or uppercase hex; panics on bad input (test data).
pub fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    s.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// Encodes lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One record of a vector file.
pub struct Record(HashMap<String, String>);

impl Record {
    /// The raw text of a field.
    pub fn text(&self, name: &str) -> &str {
        self.0.get(name).unwrap_or_else(|| panic!("field {name} missing"))
    }
    /// A hex field, decoded.
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        hex(self.text(name))
    }
}

/// Path of a file under `tests/data`.
pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name)
}

/// The records of a vector file under `tests/data`.
pub fn records(name: &str) -> Vec<Record> {
    let text = std::fs::read_to_string(data_path(name)).unwrap();
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut map = HashMap::new();
        for line in block.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').unwrap();
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        if !map.is_empty() {
            out.push(Record(map));
        }
    }
    out
}
