//! The closed loop: N connections, each its own task sending the next
//! request as soon as the previous answer is read. Requests completing in
//! the measurement window (after the warm-up) count. The connections are
//! spread over T threads, each with its own single-threaded runtime, so a
//! connection's I/O, signing and bookkeeping never hop between threads.

use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use crate::client::{Call, Conn, Target};
use crate::hist::Histogram;
use crate::procstat::{self, CpuWindow};

pub struct LoadParams {
    pub connections: usize,
    /// Load-generator threads.
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub server_pid: Option<u32>,
}

/// What one operation's run measured.
pub struct OpResult {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latency: Histogram,
    pub cpu: CpuWindow,
    /// With `--repeat`: the req/s of every run, lowest first (this result
    /// is the median one).
    pub runs_rps: Vec<f64>,
}

impl OpResult {
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs == 0.0 {
            return 0.0;
        }
        self.requests as f64 / secs
    }
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram,
}

async fn worker(mut conn: Conn, call: Arc<Call>, measure_from: Instant, end: Instant) -> WorkerResult {
    let mut r = WorkerResult::default();
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let outcome = conn.send(&call).await;
        let done = Instant::now();
        if done < measure_from || done >= end {
            // Warm-up, or completed after the window closed.
            if outcome.is_err() {
                // Do not spin on a dead endpoint.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            continue;
        }
        let error = match outcome {
            Ok(reply) if reply.ok() => None,
            Ok(reply) => Some(reply.describe()),
            Err(e) => Some(e),
        };
        match error {
            None => {
                r.ok += 1;
                r.latency.record((done - sent).as_nanos() as u64);
            }
            Some(e) => {
                r.errors += 1;
                if r.first_error.is_none() {
                    r.first_error = Some(e);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    r
}

/// One thread's connections: open them, wait for every thread, then run
/// them closed-loop until `end`. Always meets both barriers, so a failed
/// connect cannot hang the others.
fn thread_main(
    target: Arc<Target>,
    call: Arc<Call>,
    connections: usize,
    ready: Arc<Barrier>,
    clock: Arc<OnceLock<(Instant, Instant)>>,
) -> Result<Vec<WorkerResult>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"));
    let connected = rt.as_ref().map_err(Clone::clone).and_then(|rt| {
        rt.block_on(async {
            let mut conns = Vec::with_capacity(connections);
            for _ in 0..connections {
                let mut c = Conn::new(target.clone());
                c.connect().await?;
                conns.push(c);
            }
            Ok::<_, String>(conns)
        })
    });
    ready.wait();
    ready.wait();
    let (rt, conns) = (rt?, connected?);
    let (measure_from, end) = *clock.get().ok_or("the clock was not started")?;
    rt.block_on(async {
        let tasks: Vec<_> =
            conns.into_iter().map(|c| tokio::spawn(worker(c, call.clone(), measure_from, end))).collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.map_err(|e| format!("worker failed: {e}"))?);
        }
        Ok(out)
    })
}

/// Run `call` closed-loop with `p.connections` connections on `p.threads`
/// threads. Blocks the calling thread.
pub fn run(target: &Arc<Target>, name: &str, call: Call, p: &LoadParams) -> Result<OpResult, String> {
    let call = Arc::new(call);
    let threads = p.threads.clamp(1, p.connections.max(1));
    let ready = Arc::new(Barrier::new(threads + 1));
    let clock = Arc::new(OnceLock::new());
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            // Connections t, t + threads, ...: as even as it gets.
            let n = p.connections / threads + usize::from(t < p.connections % threads);
            let (target, call, ready, clock) = (target.clone(), call.clone(), ready.clone(), clock.clone());
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || thread_main(target, call, n, ready, clock))
                .map_err(|e| format!("cannot start a load thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    // Every connection is open: start the clock.
    ready.wait();
    let start = Instant::now();
    let measure_from = start + p.warmup;
    let end = measure_from + p.duration;
    let _ = clock.set((measure_from, end));
    ready.wait();
    let mut cpu = CpuWindow::default();
    std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
    cpu.client_start = procstat::self_cpu_seconds();
    cpu.server_start = p.server_pid.and_then(procstat::cpu_seconds);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    cpu.client_end = procstat::self_cpu_seconds();
    cpu.server_end = p.server_pid.and_then(procstat::cpu_seconds);
    let mut latency = Histogram::new();
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    let mut failure = None;
    for h in handles {
        match h.join().map_err(|_| "a load thread panicked".to_string()).and_then(|r| r) {
            Ok(results) => {
                for r in results {
                    requests += r.ok;
                    errors += r.errors;
                    latency.merge(&r.latency);
                    if first_error.is_none() {
                        first_error = r.first_error;
                    }
                }
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(OpResult {
        name: name.to_string(),
        requests,
        errors,
        first_error,
        elapsed: p.duration,
        latency,
        cpu,
        runs_rps: vec![],
    })
}

/// [`run`] `repeat` times; the run with the median req/s, with every run's.
pub fn run_repeated(
    target: &Arc<Target>,
    name: &str,
    call: &Call,
    p: &LoadParams,
    repeat: usize,
) -> Result<OpResult, String> {
    let mut runs = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        runs.push(run(target, name, call.clone(), p)?);
    }
    runs.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    let all: Vec<f64> = runs.iter().map(OpResult::rps).collect();
    let mut median = runs.swap_remove(runs.len() / 2);
    median.runs_rps = all;
    Ok(median)
}
