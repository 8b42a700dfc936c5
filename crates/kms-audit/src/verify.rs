//! Offline verification of an audit directory: `kms audit verify`.
//!
//! Checks, in order: every digest's signature and its link to the previous
//! digest; every log file's hash chain (and the link between files); and
//! that each digest still matches the file it covers (hash, size, records).
//! The first problem found is reported with the file and line.

use std::fs;
use std::path::Path;

use kms_core::crypto::{hex, sha256};

use crate::format::{self, Digest};

/// What verification found.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub files: usize,
    pub records: u64,
    pub digests: usize,
}

fn list(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<(u64, String)>, String> {
    let mut out = vec![];
    for e in fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
        let name = e.map_err(|e| e.to_string())?.file_name().to_string_lossy().to_string();
        if let Some(n) = format::file_number(&name, prefix, suffix) {
            out.push((n, name));
        }
    }
    out.sort();
    Ok(out)
}

/// Verify `dir`. `public_key_pem`: an independently kept copy of the public
/// key; without it the directory's own `public-key.pem` is used.
pub fn verify_dir(dir: &Path, public_key_pem: Option<&str>) -> Result<Report, String> {
    let pem = match public_key_pem {
        Some(p) => p.to_string(),
        None => fs::read_to_string(dir.join(format::PUBLIC_KEY_FILE))
            .map_err(|e| format!("{}: cannot read: {e}", format::PUBLIC_KEY_FILE))?,
    };
    let spki = format::pem_spki(&pem).ok_or("the public key is not PEM")?;

    // 1. Digests: signatures and their chain.
    let digests = list(dir, format::DIGEST_PREFIX, format::DIGEST_SUFFIX)?;
    let mut parsed: Vec<(String, Digest)> = vec![];
    let mut prev_sig: Option<String> = None;
    let mut prev_no: Option<u64> = None;
    for (n, name) in &digests {
        if let Some(p) = prev_no {
            if *n != p + 1 {
                return Err(format!("{}: missing (the digest before {name} was deleted)", format::digest_name(p + 1)));
            }
        }
        let d: Digest = serde_json::from_slice(&fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?)
            .map_err(|e| format!("{name}: not a digest: {e}"))?;
        if !d.verify_signature(&spki) {
            return Err(format!("{name}: signature does not verify (digest modified or replaced)"));
        }
        if let Some(ps) = &prev_sig {
            if &d.previous_digest_signature != ps {
                return Err(format!("{name}: does not follow the previous digest (digest chain broken)"));
            }
        }
        prev_sig = Some(d.signature.clone());
        prev_no = Some(*n);
        parsed.push((name.clone(), d));
    }

    // 2. Log files: the hash chain, line by line and across files.
    let logs = list(dir, format::LOG_PREFIX, format::LOG_SUFFIX)?;
    let mut records = 0u64;
    let mut chain: Option<[u8; 32]> = None;
    for (i, (n, name)) in logs.iter().enumerate() {
        if i > 0 && *n != logs[i - 1].0 + 1 {
            return Err(format!("{}: missing (log file deleted)", format::log_name(logs[i - 1].0 + 1)));
        }
        let data = fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        if !data.is_empty() && !data.ends_with(b"\n") {
            return Err(format!("{name}: ends in the middle of a record (file truncated or appended to)"));
        }
        for (ln, line) in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let at = format!("{name} line {}", ln + 1);
            let l = format::parse_line(line).ok_or_else(|| format!("{at}: not an audit record (modified)"))?;
            if chain.is_some_and(|c| c != l.prev) {
                if ln == 0 && i > 0 {
                    // The break is at a file boundary: the previous file may have lost its end.
                    let prev = &logs[i - 1].1;
                    let len = fs::metadata(dir.join(prev)).map(|m| m.len()).unwrap_or(0);
                    if let Some((dname, _)) = parsed.iter().find(|(_, d)| &d.log_file == prev && d.size > len) {
                        return Err(format!("{prev}: shorter than {dname} records (file truncated)"));
                    }
                }
                return Err(format!(
                    "{at}: does not follow the previous record (a record was deleted, inserted or reordered)"
                ));
            }
            if format::record_hash(&l.prev, l.event) != l.hash {
                return Err(format!("{at}: hash mismatch (record modified)"));
            }
            chain = Some(l.hash);
            records += 1;
        }
    }

    // 3. Each digest against the file it covers.
    for (dname, d) in &parsed {
        let path = dir.join(&d.log_file);
        // Retention removes a log file together with the digests that cover it.
        let Ok(data) = fs::read(&path) else {
            return Err(format!("{}: missing, but {dname} covers it (log file deleted)", d.log_file));
        };
        if (data.len() as u64) < d.size {
            return Err(format!("{}: shorter than {dname} records (file truncated)", d.log_file));
        }
        if hex(&sha256(&data[..d.size as usize])) != d.log_file_sha256 {
            return Err(format!("{}: content differs from {dname} (file modified)", d.log_file));
        }
        let count = data[..d.size as usize].split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
        if count != d.records {
            return Err(format!("{}: {count} records where {dname} signed {}", d.log_file, d.records));
        }
    }
    // Every closed file must be covered by a digest up to its end.
    for (n, name) in logs.iter().take(logs.len().saturating_sub(1)) {
        let len = fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
        let covered = parsed.iter().any(|(_, d)| &d.log_file == name && d.size == len);
        if !covered && len > 0 {
            return Err(format!(
                "{}: no digest covers its end (records appended or digest deleted)",
                format::log_name(*n)
            ));
        }
    }
    Ok(Report { files: logs.len(), records, digests: parsed.len() })
}
