//! Reading events back: `kms audit query`.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::format;

/// A filter; every set field must match.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Inclusive bounds on `eventTime` (RFC 3339, compared as text, UTC).
    pub start: Option<String>,
    pub end: Option<String>,
    pub event_name: Option<String>,
    /// A key id or key ARN, matched against the event's resources.
    pub key: Option<String>,
    /// A principal ARN.
    pub principal: Option<String>,
    pub error_code: Option<String>,
    pub read_only: Option<bool>,
}

impl Filter {
    pub fn matches(&self, e: &Value) -> bool {
        let time = e["eventTime"].as_str().unwrap_or("");
        if self.start.as_deref().is_some_and(|s| time < s) || self.end.as_deref().is_some_and(|s| time > s) {
            return false;
        }
        if self.event_name.as_deref().is_some_and(|n| e["eventName"] != n) {
            return false;
        }
        if self.error_code.as_deref().is_some_and(|c| e["errorCode"] != c) {
            return false;
        }
        if self.read_only.is_some_and(|r| e["readOnly"] != r) {
            return false;
        }
        if self.principal.as_deref().is_some_and(|p| e["userIdentity"]["arn"] != p) {
            return false;
        }
        if let Some(k) = self.key.as_deref() {
            let hit = e["resources"].as_array().is_some_and(|rs| {
                rs.iter().any(|r| r["ARN"].as_str().is_some_and(|a| a == k || a.ends_with(&format!("/{k}"))))
            });
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Every event in the directory, oldest first.
pub fn events(dir: &Path) -> Result<Vec<Value>, String> {
    let mut logs = vec![];
    for e in fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
        let name = e.map_err(|e| e.to_string())?.file_name().to_string_lossy().to_string();
        if let Some(n) = format::file_number(&name, format::LOG_PREFIX, format::LOG_SUFFIX) {
            logs.push((n, name));
        }
    }
    logs.sort();
    let mut out = vec![];
    for (_, name) in logs {
        let data = fs::read(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
        out.extend(parse_events(&data));
    }
    Ok(out)
}

/// The events of one log file's content, oldest first; lines that are not
/// records, or whose event is not JSON (a torn last line), are skipped.
pub fn parse_events(data: &[u8]) -> impl Iterator<Item = Value> + '_ {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(format::parse_line)
        .filter_map(|l| serde_json::from_slice(l.event).ok())
}

/// The events of `dirs` (each node's own audit directory) that match
/// `filter`, merged by `eventTime` (to the second, as CloudTrail records
/// it: events of the same second keep the order of `dirs`, and each
/// directory its own order).
pub fn query(dirs: &[std::path::PathBuf], filter: &Filter) -> Result<Vec<Value>, String> {
    let mut out = vec![];
    for dir in dirs {
        out.extend(events(dir)?.into_iter().filter(|e| filter.matches(e)));
    }
    if dirs.len() > 1 {
        // Stable: a directory's order is kept among equal times.
        out.sort_by(|a, b| a["eventTime"].as_str().unwrap_or("").cmp(b["eventTime"].as_str().unwrap_or("")));
    }
    Ok(out)
}
