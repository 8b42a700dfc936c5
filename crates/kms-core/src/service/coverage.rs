//! Every operation and request member of the model is either acted on by
//! the service or listed in docs/OPERATIONS.md: members the service does not act on under
//! "Members the service does not act on". A member counts as acted on when
//! the service file of its operation reads it (`.member`); nested request
//! structures (tags, grant constraints, ...) when any service file does.

use crate::model::Operation;

const GENERATED: &str = include_str!("../model/generated.rs");
const DOCS: &str = include_str!("../../../../docs/OPERATIONS.md");
const SERVICE: &[(&str, &str)] = &[
    ("aliases.rs", include_str!("aliases.rs")),
    ("asymmetric.rs", include_str!("asymmetric.rs")),
    ("authz.rs", include_str!("authz.rs")),
    ("crypto_ops.rs", include_str!("crypto_ops.rs")),
    ("grants.rs", include_str!("grants.rs")),
    ("import.rs", include_str!("import.rs")),
    ("jobs.rs", include_str!("jobs.rs")),
    ("keys.rs", include_str!("keys.rs")),
    ("mod.rs", include_str!("mod.rs")),
    ("policies.rs", include_str!("policies.rs")),
    ("regions.rs", include_str!("regions.rs")),
    ("replication.rs", include_str!("replication.rs")),
    ("rotation.rs", include_str!("rotation.rs")),
    ("tags.rs", include_str!("tags.rs")),
    ("custom_key_stores.rs", include_str!("custom_key_stores.rs")),
    ("xks.rs", include_str!("xks.rs")),
];

/// `(wire name, field)` of each member of the generated struct `name`.
fn members(name: &str) -> Vec<(String, String)> {
    let start = GENERATED.find(&format!("pub struct {name} {{")).unwrap_or_else(|| panic!("no struct {name}"));
    let body = &GENERATED[start..];
    let body = &body[..body.find("\n}").unwrap()];
    let mut out = vec![];
    let mut wire = None;
    for line in body.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#[serde(rename = \"") {
            wire = rest.split('"').next().map(str::to_string);
        } else if let Some(rest) = line.strip_prefix("pub ") {
            if let (Some(w), Some((field, _))) = (wire.take(), rest.split_once(':')) {
                out.push((w, field.to_string()));
            }
        }
    }
    out
}

fn snake(name: &str) -> String {
    let mut s = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(c.to_ascii_lowercase());
    }
    s
}

fn reads(text: &str, field: &str) -> bool {
    let pat = format!(".{field}");
    text.match_indices(&pat)
        .any(|(i, _)| !text[i + pat.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

fn documented(section: &str, item: &str) -> bool {
    let Some(start) = DOCS.find(&format!("## {section}")) else { return false };
    let rest = &DOCS[start + 3..];
    let text = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    text.contains(&format!("`{item}`"))
}

#[test]
fn every_operation_and_member_is_served_or_documented() {
    let mut missing = vec![];
    for op in Operation::ALL {
        let method = format!("pub async fn {}(", snake(op.name()));
        let (file, text) =
            SERVICE.iter().find(|(_, t)| t.contains(&method)).unwrap_or_else(|| panic!("no method for {}", op.name()));
        for (wire, field) in members(&format!("{}Request", op.name())) {
            // Checked for every operation by the wire layer (Validate::validate).
            if wire == "GrantTokens" {
                continue;
            }
            let item = format!("{}.{wire}", op.name());
            if !reads(text, &field) && !documented("Members the service does not act on", &item) {
                missing.push(format!("member {item} is not read by service/{file} nor documented"));
            }
        }
    }
    for shape in ["Tag", "GrantConstraints", "RecipientInfo"] {
        for (wire, field) in members(shape) {
            let item = format!("{shape}.{wire}");
            let read = SERVICE.iter().any(|(_, t)| reads(t, &field));
            if !read && !documented("Members the service does not act on", &item) {
                missing.push(format!("member {item} is not read by the service nor documented"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/OPERATIONS.md is missing:\n{}", missing.join("\n"));
}
