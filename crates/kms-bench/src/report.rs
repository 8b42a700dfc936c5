//! The load run's report: an aligned table for people, JSON for scripts.

use serde_json::{json, Value};

use crate::hist::ms;
use crate::load::OpResult;

/// Run-wide facts printed above the table and stored in the JSON.
pub struct RunInfo {
    pub label: String,
    pub endpoint: String,
    pub connections: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub client_threads: usize,
    /// How requests are made: "signing" (each one signed when sent) or replay.
    pub generator: String,
}

/// `HH:MM:SS.mmm` UTC of a time in milliseconds since the epoch.
fn utc(unix_ms: f64) -> String {
    let ms = unix_ms.max(0.0) as u64;
    let (s, milli) = (ms / 1000, ms % 1000);
    let day = s % 86_400;
    format!("{:02}:{:02}:{:02}.{milli:03}", day / 3600, day / 60 % 60, day % 60)
}

/// Below this, a run's slowest requests are not listed in the table.
const SLOW_LISTED_MS: f64 = 20.0;

fn per_request_us(cpu_s: Option<f64>, requests: u64) -> Option<f64> {
    let cpu = cpu_s?;
    (requests > 0).then(|| cpu * 1e6 / requests as f64)
}

fn ceiling_rps(results: &[OpResult]) -> Option<f64> {
    results.iter().find(|r| r.name == "health").map(|r| r.rps())
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".into(),
    }
}

pub fn table(info: &RunInfo, results: &[OpResult]) -> String {
    let ceiling = ceiling_rps(results);
    let mut rows = vec![vec![
        "operation".to_string(),
        "req/s".into(),
        "% ceiling".into(),
        "p50 ms".into(),
        "p99 ms".into(),
        "p99.9 ms".into(),
        "max ms".into(),
        "errors".into(),
        "srv CPU us/req".into(),
        "gen CPU us/req".into(),
    ]];
    for r in results {
        let h = &r.latency;
        let pct = ceiling.filter(|c| *c > 0.0).map(|c| 100.0 * r.rps() / c);
        rows.push(vec![
            r.name.clone(),
            format!("{:.0}", r.rps()),
            opt(pct, 0),
            format!("{:.3}", ms(h.quantile(0.50))),
            format!("{:.3}", ms(h.quantile(0.99))),
            format!("{:.3}", ms(h.quantile(0.999))),
            format!("{:.3}", ms(h.max())),
            // A throttled request is an error here: the load run expects none.
            (r.errors + r.throttled).to_string(),
            opt(per_request_us(r.cpu.server_seconds(), r.requests), 1),
            opt(per_request_us(r.cpu.client_seconds(), r.requests), 1),
        ]);
    }
    let mut out = format!(
        "# {}: {} | {} connections | {} s after {} s warm-up | load generator: {} threads, {}\n",
        info.label,
        info.endpoint,
        info.connections,
        info.duration_s,
        info.warmup_s,
        info.client_threads,
        info.generator
    );
    out.push_str(&align(&rows));
    for r in results.iter().filter(|r| r.runs_rps.len() > 1) {
        let runs: Vec<String> = r.runs_rps.iter().map(|v| format!("{v:.0}")).collect();
        out.push_str(&format!("{}: median of {} runs (req/s: {})\n", r.name, runs.len(), runs.join(", ")));
    }
    for r in results.iter().filter(|r| ms(r.latency.max()) > SLOW_LISTED_MS) {
        let slow: Vec<String> = r
            .slowest
            .iter()
            .take(5)
            .map(|s| {
                let at = s.sent_at.as_secs_f64();
                format!(
                    "{:.1} ms sent at +{at:.3} s ({} UTC)",
                    ms(s.latency_ns),
                    utc(r.measure_start_unix_ms + at * 1e3)
                )
            })
            .collect();
        let seconds: Vec<String> =
            r.timeline.iter().enumerate().filter(|(_, s)| s.over_20ms > 0).map(|(i, _)| i.to_string()).collect();
        out.push_str(&format!(
            "{}: slowest: {}; seconds with requests over 20 ms: {}\n",
            r.name,
            slow.join(", "),
            if seconds.is_empty() { "none".to_string() } else { seconds.join(" ") }
        ));
    }
    for r in results {
        if let Some(e) = &r.first_error {
            out.push_str(&format!("first error ({}): {e}\n", r.name));
        }
    }
    out
}

/// Left-align the first column, right-align the rest.
pub fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, w))| match i {
                0 => format!("{s:<w$}"),
                _ => format!("{s:>w$}"),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn json(info: &RunInfo, results: &[OpResult]) -> Value {
    let ceiling = ceiling_rps(results);
    let ops: Vec<Value> = results
        .iter()
        .map(|r| {
            let h = &r.latency;
            json!({
                "operation": r.name,
                "requests": r.requests,
                "rps": r.rps(),
                "percent_of_ceiling": ceiling.filter(|c| *c > 0.0).map(|c| 100.0 * r.rps() / c),
                "latency_ms": {
                    "mean": h.mean() / 1e6,
                    "p50": ms(h.quantile(0.50)),
                    "p99": ms(h.quantile(0.99)),
                    "p99_9": ms(h.quantile(0.999)),
                    "max": ms(h.max()),
                },
                "errors": r.errors + r.throttled,
                "throttled": r.throttled,
                "first_error": r.first_error,
                "server_cpu_s": r.cpu.server_seconds(),
                "client_cpu_s": r.cpu.client_seconds(),
                "server_cpu_us_per_request": per_request_us(r.cpu.server_seconds(), r.requests),
                "client_cpu_us_per_request": per_request_us(r.cpu.client_seconds(), r.requests),
                "runs_rps": r.runs_rps,
                "measure_start_unix_ms": r.measure_start_unix_ms,
                "replay_resigned": r.resigned,
                // Seconds of the measured window by completion time.
                "timeline": r.timeline.iter().enumerate().map(|(i, s)| json!({
                    "second": i,
                    "requests": s.requests,
                    "max_ms": ms(s.max_ns),
                    "over_20ms": s.over_20ms,
                    "over_50ms": s.over_50ms,
                })).collect::<Vec<_>>(),
                "slowest": r.slowest.iter().map(|s| json!({
                    "latency_ms": ms(s.latency_ns),
                    "sent_at_s": s.sent_at.as_secs_f64(),
                    "sent_unix_ms": r.measure_start_unix_ms + s.sent_at.as_secs_f64() * 1e3,
                    "sent_utc": utc(r.measure_start_unix_ms + s.sent_at.as_secs_f64() * 1e3),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "mode": "load",
        "label": info.label,
        "endpoint": info.endpoint,
        "connections": info.connections,
        "warmup_s": info.warmup_s,
        "duration_s": info.duration_s,
        "client_threads": info.client_threads,
        "generator": info.generator,
        "results": ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_columns() {
        let rows = vec![vec!["op".to_string(), "req/s".to_string()], vec!["encrypt-32".to_string(), "12".to_string()]];
        let t = align(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "op          req/s");
        assert_eq!(lines[1], "encrypt-32     12");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(1_700_000_000_123.0), "22:13:20.123");
        assert_eq!(utc(0.0), "00:00:00.000");
    }
}
