//! The closed loop: N connections, each its own task sending the next
//! request as soon as the previous answer is read. Requests completing in
//! the measurement window (after the warm-up) count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as TokioInstant;

use crate::client::{Call, Conn, Target};
use crate::hist::Histogram;
use crate::procstat::{self, CpuWindow};

pub struct LoadParams {
    pub connections: usize,
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

/// Run `call` closed-loop with `p.connections` connections.
pub async fn run(target: &Arc<Target>, name: &str, call: Call, p: &LoadParams) -> Result<OpResult, String> {
    // Open every connection before the clock starts.
    let mut conns = Vec::with_capacity(p.connections);
    for _ in 0..p.connections {
        let mut c = Conn::new(target.clone());
        c.connect().await?;
        conns.push(c);
    }
    let call = Arc::new(call);
    let start = Instant::now();
    let measure_from = start + p.warmup;
    let end = measure_from + p.duration;
    let server_pid = p.server_pid;
    let sampler = tokio::spawn(async move {
        let mut w = CpuWindow::default();
        tokio::time::sleep_until(TokioInstant::from_std(measure_from)).await;
        w.client_start = procstat::self_cpu_seconds();
        w.server_start = server_pid.and_then(procstat::cpu_seconds);
        tokio::time::sleep_until(TokioInstant::from_std(end)).await;
        w.client_end = procstat::self_cpu_seconds();
        w.server_end = server_pid.and_then(procstat::cpu_seconds);
        w
    });
    let tasks: Vec<_> = conns.into_iter().map(|c| tokio::spawn(worker(c, call.clone(), measure_from, end))).collect();
    let mut latency = Histogram::new();
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let r = t.await.map_err(|e| format!("worker failed: {e}"))?;
        requests += r.ok;
        errors += r.errors;
        latency.merge(&r.latency);
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    let cpu = sampler.await.map_err(|e| format!("CPU sampler failed: {e}"))?;
    Ok(OpResult { name: name.to_string(), requests, errors, first_error, elapsed: p.duration, latency, cpu })
}
