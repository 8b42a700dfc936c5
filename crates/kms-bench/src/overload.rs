//! The overload run: a baseline at the load the server is measured at,
//! then many times the connections (10x by default) for 30 s, then the
//! baseline load again. The closed loop of [`crate::load`] counts
//! successes, `ThrottlingException` answers (overload protection) and
//! every other failure apart; a sampler thread reads the server's resident
//! memory and open files (`/proc/<pid>`) and its `/metrics`
//! (`kms_in_flight`, `kms_overloaded_total`) throughout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Call, Conn, Target};
use crate::hist::{ms, Histogram};
use crate::load::{self, LoadParams, OpResult};
use crate::procstat;
use crate::report::align;

pub struct OverloadParams {
    pub label: String,
    pub endpoint: String,
    pub op: &'static str,
    pub baseline_connections: usize,
    pub connections: usize,
    pub duration: Duration,
    pub baseline_duration: Duration,
    pub warmup: Duration,
    pub throttle_pause: Duration,
    pub sample_every: Duration,
    pub threads: usize,
    pub server_pid: Option<u32>,
    /// The operation's name in the server's `/metrics` (`Encrypt`), to
    /// read the time the server itself spent on it.
    pub server_op: Option<String>,
}

/// One reading of the server.
#[derive(Debug, Clone, Default, PartialEq)]
struct Sample {
    /// Seconds since the phase started (its warm-up included).
    t: f64,
    rss_kb: Option<u64>,
    open_files: Option<usize>,
    /// `kms_in_flight`, less the `/metrics` request that read it.
    in_flight: Option<u64>,
    overloaded_total: Option<u64>,
    /// `kms_request_duration_seconds` `_sum` and `_count` of the operation:
    /// from the request's headers read to its response built, the time
    /// waiting for the audit trail's fsync included.
    op_seconds: Option<f64>,
    op_count: Option<u64>,
}

/// The value of a metric (`name` with its labels as the server writes
/// them) in a Prometheus text exposition.
fn metric<T: std::str::FromStr>(text: &str, name: &str) -> Option<T> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn metric_in<T: std::str::FromStr>(text: Option<&str>, name: Option<&str>) -> Option<T> {
    metric(text?, name?)
}

/// Reads the server every `every` on a thread of its own, until stopped;
/// the first reading is taken at once, the last one when stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start(target: Arc<Target>, p: &OverloadParams) -> Result<Sampler, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (pid, every) = (p.server_pid, p.sample_every);
        let op = p.server_op.clone();
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || sample_loop(target, pid, op.as_deref(), every, &flag))
            .map_err(|e| format!("cannot start the sampler: {e}"))?;
        Ok(Sampler { stop, thread })
    }

    fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_default()
    }
}

fn sample_loop(
    target: Arc<Target>,
    pid: Option<u32>,
    op: Option<&str>,
    every: Duration,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let op_metric = |suffix: &str| op.map(|op| format!("kms_request_duration_seconds_{suffix}{{operation=\"{op}\"}}"));
    let (op_sum, op_count) = (op_metric("sum"), op_metric("count"));
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return vec![];
    };
    rt.block_on(async {
        // `/metrics` is a GET: answered even when the server is full.
        let mut conn = Conn::new(target);
        let start = Instant::now();
        let mut out = Vec::new();
        loop {
            let last = stop.load(Ordering::Acquire);
            let metrics = match conn.send(&Call::Get("/metrics")).await {
                Ok(r) if r.ok() => Some(String::from_utf8_lossy(&r.body).into_owned()),
                _ => None,
            };
            let m = metrics.as_deref();
            out.push(Sample {
                t: start.elapsed().as_secs_f64(),
                rss_kb: pid.and_then(|p| procstat::status_kb(p, "VmRSS")),
                open_files: pid.and_then(procstat::open_files),
                in_flight: m.and_then(|m| metric::<u64>(m, "kms_in_flight")).map(|n| n.saturating_sub(1)),
                overloaded_total: m.and_then(|m| metric(m, "kms_overloaded_total")),
                op_seconds: metric_in(m, op_sum.as_deref()),
                op_count: metric_in(m, op_count.as_deref()),
            });
            if last {
                return out;
            }
            tokio::time::sleep(every).await;
        }
    })
}

struct Phase {
    name: &'static str,
    connections: usize,
    warmup: Duration,
    result: OpResult,
    samples: Vec<Sample>,
}

impl Phase {
    fn secs(&self) -> f64 {
        self.result.elapsed.as_secs_f64()
    }

    fn answers(&self) -> u64 {
        self.result.requests + self.result.throttled
    }

    fn per_sec(&self, n: u64) -> f64 {
        match self.secs() {
            s if s > 0.0 => n as f64 / s,
            _ => 0.0,
        }
    }

    fn max_rss_kb(&self) -> Option<u64> {
        self.samples.iter().filter_map(|s| s.rss_kb).max()
    }

    fn last_rss_kb(&self) -> Option<u64> {
        self.samples.iter().rev().find_map(|s| s.rss_kb)
    }

    fn max_open_files(&self) -> Option<usize> {
        self.samples.iter().filter_map(|s| s.open_files).max()
    }

    fn max_in_flight(&self) -> Option<u64> {
        self.samples.iter().filter_map(|s| s.in_flight).max()
    }

    /// Requests the server refused as overloaded during the phase.
    fn overloaded(&self) -> Option<u64> {
        let mut seen = self.samples.iter().filter_map(|s| s.overloaded_total);
        let first = seen.next()?;
        Some(seen.next_back().unwrap_or(first) - first)
    }

    /// The server's own mean time for the operation over the phase, ms.
    fn server_mean_ms(&self) -> Option<f64> {
        let mut seen = self.samples.iter().filter_map(|s| Some((s.op_seconds?, s.op_count?)));
        let (s0, n0) = seen.next()?;
        let (s1, n1) = seen.next_back()?;
        (n1 > n0).then(|| (s1 - s0) * 1e3 / (n1 - n0) as f64)
    }

    /// CPU microseconds per answer (success or throttled).
    fn cpu_us(&self, seconds: Option<f64>) -> Option<f64> {
        let answers = self.answers();
        (answers > 0).then_some(seconds? * 1e6 / answers as f64)
    }
}

fn run_phase(
    target: &Arc<Target>,
    call: &Call,
    p: &OverloadParams,
    name: &'static str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Phase, String> {
    eprintln!(
        "{}: overload: {name}: {} with {connections} connections, {:.1} s warm-up + {:.1} s",
        p.label,
        p.op,
        warmup.as_secs_f64(),
        duration.as_secs_f64()
    );
    let params = LoadParams {
        connections,
        threads: p.threads,
        warmup,
        duration,
        server_pid: p.server_pid,
        throttle_pause: p.throttle_pause,
        replay: None,
    };
    let sampler = Sampler::start(target.clone(), p)?;
    let result = load::run(target, p.op, call.clone(), &params);
    let samples = sampler.stop();
    Ok(Phase { name, connections, warmup, result: result?, samples })
}

pub struct OverloadReport {
    pub text: String,
    pub json: Value,
}

/// Baseline, overload, after: one after the other on the same target.
pub fn run(target: &Arc<Target>, call: Call, p: &OverloadParams) -> Result<OverloadReport, String> {
    let (base, many) = (p.baseline_connections, p.connections);
    let phases = [
        run_phase(target, &call, p, "baseline", base, p.warmup, p.baseline_duration)?,
        // From the first request on: the surge of connections is part of it.
        run_phase(target, &call, p, "overload", many, Duration::ZERO, p.duration)?,
        run_phase(target, &call, p, "after", base, p.warmup, p.baseline_duration)?,
    ];
    Ok(OverloadReport { text: text(p, &phases), json: to_json(p, &phases) })
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or_else(|| "-".into(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

fn p99(h: &Histogram) -> f64 {
    ms(h.quantile(0.99))
}

fn ratio(a: f64, b: f64) -> String {
    match b > 0.0 {
        true => format!("{:.2}", a / b),
        false => "-".into(),
    }
}

fn text(p: &OverloadParams, phases: &[Phase; 3]) -> String {
    let mut rows = vec![[
        "phase",
        "conns",
        "secs",
        "ok/s",
        "throttled/s",
        "errors",
        "ok p50 ms",
        "ok p99 ms",
        "ok max ms",
        "ok mean ms",
        "srv mean ms",
        "thr p99 ms",
        "srv CPU us/ans",
        "gen CPU us/ans",
        "RSS max MB",
        "files max",
        "in flight max",
        "refused",
        "reopened",
    ]
    .map(String::from)
    .to_vec()];
    for ph in phases {
        let (r, h) = (&ph.result, &ph.result.latency);
        rows.push(vec![
            ph.name.to_string(),
            ph.connections.to_string(),
            format!("{:.0}", ph.secs()),
            format!("{:.0}", ph.per_sec(r.requests)),
            format!("{:.0}", ph.per_sec(r.throttled)),
            r.errors.to_string(),
            format!("{:.3}", ms(h.quantile(0.50))),
            format!("{:.3}", p99(h)),
            format!("{:.3}", ms(h.max())),
            format!("{:.3}", h.mean() / 1e6),
            opt(ph.server_mean_ms().map(|v| format!("{v:.3}"))),
            match r.throttled {
                0 => "-".into(),
                _ => format!("{:.3}", p99(&r.throttle_latency)),
            },
            opt(ph.cpu_us(r.cpu.server_seconds()).map(|v| format!("{v:.1}"))),
            opt(ph.cpu_us(r.cpu.client_seconds()).map(|v| format!("{v:.1}"))),
            mb(ph.max_rss_kb()),
            opt(ph.max_open_files()),
            opt(ph.max_in_flight()),
            opt(ph.overloaded()),
            r.reopened.to_string(),
        ]);
    }
    let [base, over, after] = phases;
    let mut out = format!(
        "# {} overload: {} | {} | {} x {} connections | throttled connections resend after {} ms on average | load generator: {} threads\n",
        p.label,
        p.endpoint,
        p.op,
        ratio(p.connections as f64, p.baseline_connections as f64),
        p.baseline_connections,
        p.throttle_pause.as_millis(),
        p.threads,
    );
    out.push_str(&align(&rows));
    out.push_str(&format!(
        "p99 of the successes, over the baseline's: {} during the overload, {} after it\n",
        ratio(p99(&over.result.latency), p99(&base.result.latency)),
        ratio(p99(&after.result.latency), p99(&base.result.latency)),
    ));
    out.push_str(&format!(
        "throughput of the successes, over the baseline's: {} during the overload, {} after it\n",
        ratio(over.result.rps(), base.result.rps()),
        ratio(after.result.rps(), base.result.rps()),
    ));
    let errors: u64 = phases.iter().map(|ph| ph.result.errors).sum();
    out.push_str(&match errors {
        0 => "every request answered: yes (no error other than ThrottlingException)\n".to_string(),
        n => format!("every request answered: NO ({n} other errors)\n"),
    });
    if p.server_pid.is_some() {
        out.push_str(&format!(
            "server VmRSS: {} MB at the end of the baseline, {} MB at most during the overload, {} MB at the end of the run after it\n",
            mb(base.last_rss_kb()),
            mb(over.max_rss_kb()),
            mb(after.last_rss_kb()),
        ));
    }
    for ph in phases {
        if let Some(e) = &ph.result.first_error {
            out.push_str(&format!("first error ({}): {e}\n", ph.name));
        }
    }
    out
}

fn latency_json(h: &Histogram) -> Value {
    json!({
        "count": h.count(),
        "mean": h.mean() / 1e6,
        "p50": ms(h.quantile(0.50)),
        "p99": ms(h.quantile(0.99)),
        "p99_9": ms(h.quantile(0.999)),
        "max": ms(h.max()),
    })
}

fn to_json(p: &OverloadParams, phases: &[Phase; 3]) -> Value {
    let phases: Vec<Value> = phases
        .iter()
        .map(|ph| {
            let r = &ph.result;
            json!({
                "phase": ph.name,
                "connections": ph.connections,
                "warmup_s": ph.warmup.as_secs_f64(),
                "duration_s": ph.secs(),
                "ok": r.requests,
                "throttled": r.throttled,
                "errors": r.errors,
                "reopened": r.reopened,
                "first_error": r.first_error,
                "ok_rps": ph.per_sec(r.requests),
                "throttled_rps": ph.per_sec(r.throttled),
                "latency_ms": latency_json(&r.latency),
                "throttle_latency_ms": latency_json(&r.throttle_latency),
                "server_cpu_s": r.cpu.server_seconds(),
                "client_cpu_s": r.cpu.client_seconds(),
                "server_cpu_us_per_answer": ph.cpu_us(r.cpu.server_seconds()),
                "client_cpu_us_per_answer": ph.cpu_us(r.cpu.client_seconds()),
                "rss_kb_max": ph.max_rss_kb(),
                "rss_kb_last": ph.last_rss_kb(),
                "open_files_max": ph.max_open_files(),
                "in_flight_max": ph.max_in_flight(),
                "server_mean_ms": ph.server_mean_ms(),
                "overloaded": ph.overloaded(),
                "samples": ph.samples.iter().map(|s| json!({
                    "t": s.t,
                    "rss_kb": s.rss_kb,
                    "open_files": s.open_files,
                    "in_flight": s.in_flight,
                    "overloaded_total": s.overloaded_total,
                    "op_seconds": s.op_seconds,
                    "op_count": s.op_count,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "mode": "overload",
        "label": p.label,
        "endpoint": p.endpoint,
        "operation": p.op,
        "baseline_connections": p.baseline_connections,
        "connections": p.connections,
        "throttle_pause_s": p.throttle_pause.as_secs_f64(),
        "client_threads": p.threads,
        "phases": phases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metrics() {
        let text = "# HELP kms_in_flight Requests being handled.\n# TYPE kms_in_flight gauge\nkms_in_flight 7\n\
                    kms_in_flight_peak 9\nkms_overloaded_total 12345\nkms_requests_total{op=\"Encrypt\"} 3\n";
        assert_eq!(metric(text, "kms_in_flight"), Some(7));
        assert_eq!(metric(text, "kms_overloaded_total"), Some(12345u64));
        assert_eq!(metric::<u64>(text, "kms_requests_total"), None);
        assert_eq!(metric(text, "kms_requests_total{op=\"Encrypt\"}"), Some(3.0));
        assert_eq!(metric::<u64>(text, "kms_absent"), None);
    }

    #[test]
    fn phase_figures_from_samples() {
        let sample = |t, rss, refused| Sample {
            t,
            rss_kb: Some(rss),
            open_files: Some(10),
            in_flight: Some(3),
            overloaded_total: refused,
            op_seconds: Some(t),
            op_count: Some(1000 * t as u64),
        };
        let result = OpResult {
            name: "encrypt-32".into(),
            requests: 300,
            throttled: 100,
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(2),
            latency: Histogram::new(),
            throttle_latency: Histogram::new(),
            reopened: 0,
            cpu: procstat::CpuWindow { server_start: Some(1.0), server_end: Some(1.4), ..Default::default() },
            runs_rps: vec![],
            timeline: vec![],
            slowest: vec![],
            measure_start_unix_ms: 0.0,
            resigned: 0,
        };
        let ph = Phase {
            name: "overload",
            connections: 640,
            warmup: Duration::ZERO,
            result,
            samples: vec![sample(0.0, 2048, Some(5)), sample(1.0, 4096, None), sample(2.0, 3072, Some(105))],
        };
        assert_eq!(ph.max_rss_kb(), Some(4096));
        assert_eq!(ph.last_rss_kb(), Some(3072));
        assert_eq!(ph.overloaded(), Some(100));
        assert_eq!(ph.server_mean_ms(), Some(1.0));
        assert_eq!(ph.per_sec(ph.result.throttled), 50.0);
        let us = ph.cpu_us(ph.result.cpu.server_seconds()).unwrap();
        assert!((us - 1000.0).abs() < 1e-6, "{us}");
        assert_eq!(ph.cpu_us(ph.result.cpu.client_seconds()), None);
    }
}
