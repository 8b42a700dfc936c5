//! Request metrics in Prometheus text format (`GET /metrics`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Operation;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

#[derive(Default)]
struct OpStats {
    ok: AtomicU64,
    client_error: AtomicU64,
    server_error: AtomicU64,
    sum_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// Per-operation counters and latency histograms. Index `Operation::COUNT` counts
/// calls that named no known operation.
pub struct Metrics {
    ops: Vec<OpStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { ops: (0..=Operation::COUNT).map(|_| OpStats::default()).collect() }
    }
}

impl Metrics {
    pub fn observe(&self, op: Option<Operation>, status: u16, elapsed_us: u64) {
        let i = op.map_or(Operation::COUNT, Operation::index);
        let s = &self.ops[i];
        match status {
            200..=299 => &s.ok,
            500..=599 => &s.server_error,
            _ => &s.client_error,
        }
        .fetch_add(1, Ordering::Relaxed);
        s.sum_us.fetch_add(elapsed_us, Ordering::Relaxed);
        let secs = elapsed_us as f64 / 1e6;
        if let Some(b) = BUCKETS.iter().position(|b| secs <= *b) {
            s.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Render the request metrics.
    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP kms_requests_total Requests by operation and outcome.\n# TYPE kms_requests_total counter\n",
        );
        let name = |i: usize| Operation::from_index(i).map(|o| o.name()).unwrap_or("Unknown");
        for (i, s) in self.ops.iter().enumerate() {
            for (outcome, c) in [("ok", &s.ok), ("client_error", &s.client_error), ("server_error", &s.server_error)] {
                let v = c.load(Ordering::Relaxed);
                if v > 0 {
                    let _ = writeln!(out, "kms_requests_total{{operation=\"{}\",outcome=\"{outcome}\"}} {v}", name(i));
                }
            }
        }
        out.push_str(
            "# HELP kms_request_duration_seconds Request latency.\n# TYPE kms_request_duration_seconds histogram\n",
        );
        for (i, s) in self.ops.iter().enumerate() {
            let total = s.ok.load(Ordering::Relaxed)
                + s.client_error.load(Ordering::Relaxed)
                + s.server_error.load(Ordering::Relaxed);
            if total == 0 {
                continue;
            }
            let mut cum = 0;
            for (b, c) in BUCKETS.iter().zip(&s.buckets) {
                cum += c.load(Ordering::Relaxed);
                let _ =
                    writeln!(out, "kms_request_duration_seconds_bucket{{operation=\"{}\",le=\"{b}\"}} {cum}", name(i));
            }
            let _ =
                writeln!(out, "kms_request_duration_seconds_bucket{{operation=\"{}\",le=\"+Inf\"}} {total}", name(i));
            let _ = writeln!(
                out,
                "kms_request_duration_seconds_sum{{operation=\"{}\"}} {}",
                name(i),
                s.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "kms_request_duration_seconds_count{{operation=\"{}\"}} {total}", name(i));
        }
    }
}
