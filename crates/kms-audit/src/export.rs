//! `kms audit export`: CloudTrail log files (`{"Records": [...]}`, gzip) in
//! CloudTrail's directory layout, so that existing CloudTrail tools read them:
//! `AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<n>.json.gz`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::query::{query, Filter};

/// Write the events of `dirs` (merged by time) that match `filter` under
/// `out`, one file per (account, region, hour). Returns the files written.
pub fn export(dirs: &[PathBuf], filter: &Filter, out: &Path) -> Result<Vec<PathBuf>, String> {
    let mut groups: BTreeMap<(String, String, String), Vec<Value>> = BTreeMap::new();
    for e in query(dirs, filter)? {
        let account = e["recipientAccountId"].as_str().unwrap_or("000000000000").to_string();
        let region = e["awsRegion"].as_str().unwrap_or("us-east-1").to_string();
        let hour =
            e["eventTime"].as_str().unwrap_or("1970-01-01T00:00:00Z").get(..13).unwrap_or("1970-01-01T00").to_string();
        groups.entry((account, region, hour)).or_default().push(e);
    }
    let mut written = vec![];
    for (i, ((account, region, hour), records)) in groups.into_iter().enumerate() {
        let (date, hh) = hour.split_at(10);
        let parts: Vec<&str> = date.split('-').collect();
        if parts.len() != 3 {
            continue;
        }
        let folder = out
            .join("AWSLogs")
            .join(&account)
            .join("CloudTrail")
            .join(&region)
            .join(parts[0])
            .join(parts[1])
            .join(parts[2]);
        fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        let stamp = format!("{}{}{}T{}00Z", parts[0], parts[1], parts[2], hh.trim_start_matches('T'));
        let path = folder.join(format!("{account}_CloudTrail_{region}_{stamp}_{i:08}.json.gz"));
        let body = serde_json::to_vec(&json!({ "Records": records })).map_err(|e| e.to_string())?;
        let f = fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        gz.write_all(&body).and_then(|_| gz.finish().map(|_| ())).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
