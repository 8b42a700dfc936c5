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

/// Why one log file's content fails [`check_chain`]; lines count from 1,
/// empty lines not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// The content does not end with a newline.
    Unterminated,
    /// This line is not a record as `format::write_line` writes them.
    NotARecord(usize),
    /// This record's `prev` is not the hash of the record before it.
    Break(usize),
    /// This record's `hash` is not `sha256(prev || event)`.
    HashMismatch(usize),
}

/// Check the hash chain of one log file's content, continuing `chain` (the
/// hash of the last record before it, `None` for the first file) and
/// leaving it at this file's last record. Returns the number of records.
/// Pure: [`verify_dir`] reads the files and adds the cross-file checks.
pub fn check_chain(data: &[u8], chain: &mut Option<[u8; 32]>) -> Result<u64, ChainError> {
    if !data.is_empty() && !data.ends_with(b"\n") {
        return Err(ChainError::Unterminated);
    }
    let mut records = 0u64;
    for (i, line) in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let ln = i + 1;
        let l = format::parse_line(line).ok_or(ChainError::NotARecord(ln))?;
        if chain.is_some_and(|c| c != l.prev) {
            return Err(ChainError::Break(ln));
        }
        if format::record_hash(&l.prev, l.event) != l.hash {
            return Err(ChainError::HashMismatch(ln));
        }
        *chain = Some(l.hash);
        records += 1;
    }
    Ok(records)
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
        records += match check_chain(&data, &mut chain) {
            Ok(n) => n,
            Err(ChainError::Unterminated) => {
                return Err(format!("{name}: ends in the middle of a record (file truncated or appended to)"))
            }
            Err(ChainError::NotARecord(ln)) => return Err(format!("{name} line {ln}: not an audit record (modified)")),
            Err(ChainError::Break(ln)) => {
                if ln == 1 && i > 0 {
                    // The break is at a file boundary: the previous file may have lost its end.
                    let prev = &logs[i - 1].1;
                    let len = fs::metadata(dir.join(prev)).map(|m| m.len()).unwrap_or(0);
                    if let Some((dname, _)) = parsed.iter().find(|(_, d)| &d.log_file == prev && d.size > len) {
                        return Err(format!("{prev}: shorter than {dname} records (file truncated)"));
                    }
                }
                return Err(format!(
                    "{name} line {ln}: does not follow the previous record (a record was deleted, inserted or reordered)"
                ));
            }
            Err(ChainError::HashMismatch(ln)) => {
                return Err(format!("{name} line {ln}: hash mismatch (record modified)"))
            }
        };
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
    // Every closed file must be covered by a digest up to its end: every
    // file before the last one with records (the one being written; after
    // it at most the empty file the writer prepared ahead).
    let size = |name: &str| fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
    let current = logs.iter().rposition(|(_, name)| size(name) > 0).unwrap_or(0);
    for (n, name) in logs.iter().take(current) {
        let len = size(name);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn log(events: &[&[u8]]) -> (Vec<u8>, [u8; 32]) {
        let (mut out, mut prev) = (vec![], format::GENESIS);
        for e in events {
            let h = format::record_hash(&prev, e);
            format::write_line(&mut out, &prev, &h, e);
            prev = h;
        }
        (out, prev)
    }

    #[test]
    fn check_chain_names_the_first_bad_line() {
        let (data, last) = log(&[b"{\"a\":1}", b"{\"a\":2}", b"{\"a\":3}"]);
        let mut chain = None;
        assert_eq!(check_chain(&data, &mut chain), Ok(3));
        assert_eq!(chain, Some(last));
        // The next file continues the chain; one that does not breaks at line 1.
        assert_eq!(check_chain(&data, &mut chain), Err(ChainError::Break(1)));
        assert_eq!(check_chain(b"", &mut None), Ok(0));

        let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let join = |ls: &[&[u8]]| ls.iter().flat_map(|l| [*l, b"\n"].concat()).collect::<Vec<u8>>();
        assert_eq!(check_chain(&join(&[lines[0], lines[2]]), &mut None), Err(ChainError::Break(2)));
        assert_eq!(check_chain(&data[..data.len() - 1], &mut None), Err(ChainError::Unterminated));
        let edited = String::from_utf8(data.clone()).unwrap().replacen("\"a\":2", "\"a\":9", 1);
        assert_eq!(check_chain(edited.as_bytes(), &mut None), Err(ChainError::HashMismatch(2)));
        assert_eq!(check_chain(&join(&[lines[0], b"{}"]), &mut None), Err(ChainError::NotARecord(2)));
    }
}
