//! The audit log reader (crates/kms-audit): the pure functions under
//! `kms audit verify` (`verify::check_chain`) and `kms audit query`
//! (`query::parse_events`), and the line parser they share.
//!
//! * Any file content: `check_chain` returns a record count or the first
//!   bad line, never panics; when it accepts, every non-empty line is a
//!   record and the count is theirs. `parse_events` never panics and yields
//!   at most one event per line. Every line that `parse_line` accepts
//!   prints back, with `write_line`, to exactly the same bytes (the format
//!   has one spelling, so a changed byte never goes unnoticed).
//! * The same content's lines taken as events and written as a log (with
//!   `write_line` and `record_hash`, as the writer does): `check_chain`
//!   accepts it with one record per line, and `parse_events` gives back
//!   each event that is JSON.
#![no_main]

use kms_audit::format::{parse_line, record_hash, write_line, GENESIS};
use kms_audit::query::parse_events;
use kms_audit::verify::check_chain;
use libfuzzer_sys::fuzz_target;

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b'\n').filter(|l| !l.is_empty())
}

fn as_read(data: &[u8]) {
    let n_lines = lines(data).count();
    for line in lines(data) {
        if let Some(l) = parse_line(line) {
            let mut again = vec![];
            write_line(&mut again, &l.prev, &l.hash, l.event);
            assert_eq!(&again[..again.len() - 1], line, "line round trip");
        }
    }
    let mut chain = None;
    if let Ok(n) = check_chain(data, &mut chain) {
        assert_eq!(n as usize, n_lines);
        assert!(lines(data).all(|l| parse_line(l).is_some()));
        assert_eq!(chain.is_some(), n > 0);
    }
    let mut chain = Some(GENESIS);
    let _ = check_chain(data, &mut chain);
    assert!(parse_events(data).count() <= n_lines);
}

fn as_written(data: &[u8]) {
    let mut log = vec![];
    let mut prev = GENESIS;
    let events: Vec<&[u8]> = lines(data).collect();
    for event in &events {
        let hash = record_hash(&prev, event);
        write_line(&mut log, &prev, &hash, event);
        prev = hash;
    }
    let mut chain = Some(GENESIS);
    assert_eq!(check_chain(&log, &mut chain), Ok(events.len() as u64));
    assert_eq!(chain, Some(prev));
    let json: Vec<serde_json::Value> = events.iter().filter_map(|e| serde_json::from_slice(e).ok()).collect();
    assert_eq!(parse_events(&log).collect::<Vec<_>>(), json);
}

fuzz_target!(|data: &[u8]| {
    as_read(data);
    as_written(data);
});
