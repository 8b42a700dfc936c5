//! The closed loop: N connections, each its own task sending the next
//! request as soon as the previous answer is read. Requests completing in
//! the measurement window (after the warm-up) count. The connections are
//! spread over T threads, each with its own single-threaded runtime, so a
//! connection's I/O, signing and bookkeeping never hop between threads.
//! With `replay`, each connection sends requests signed once before the
//! clock starts ([`crate::replay`]) instead of signing each one.
//!
//! Besides the histograms, every run keeps a per-second timeline (requests,
//! slowest, how many over 20 and 50 ms) and its slowest requests with the
//! time they were sent, to line stalls up with the server's events.

use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::client::{Call, Conn, Reply, Target};
use crate::hist::Histogram;
use crate::procstat::{self, CpuWindow};
use crate::replay::{Pool, RawConn};

pub struct LoadParams {
    pub connections: usize,
    /// Load-generator threads.
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub server_pid: Option<u32>,
    /// How long a connection waits, on average, after a `ThrottlingException`
    /// before its next request: a client's back-off, drawn uniformly from
    /// [0, 2 x this] (jittered, as the SDKs do, so that the connections
    /// refused together do not come back together). Zero: at once.
    pub throttle_pause: Duration,
    /// Replay: each connection's pool of requests signed ahead of time
    /// (its size), sent as raw bytes; `None`: sign every request with hyper's client.
    pub replay: Option<usize>,
}

/// One second of the measured window (by completion time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Second {
    pub requests: u64,
    pub max_ns: u64,
    pub over_20ms: u64,
    pub over_50ms: u64,
}

/// One of the slowest requests of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slow {
    pub latency_ns: u64,
    /// When it was sent, from the start of the measured window.
    pub sent_at: Duration,
}

/// Slow requests kept per connection and per run.
pub const SLOWEST: usize = 10;

/// Keep `s` among the `SLOWEST` slowest of `list` (slowest first).
fn keep_slowest(list: &mut Vec<Slow>, s: Slow) {
    if list.len() == SLOWEST && list.last().is_some_and(|l| l.latency_ns >= s.latency_ns) {
        return;
    }
    let at = list.partition_point(|l| l.latency_ns >= s.latency_ns);
    list.insert(at, s);
    list.truncate(SLOWEST);
}

fn merge_timeline(into: &mut Vec<Second>, from: &[Second]) {
    if into.len() < from.len() {
        into.resize(from.len(), Second::default());
    }
    for (a, b) in into.iter_mut().zip(from) {
        a.requests += b.requests;
        a.max_ns = a.max_ns.max(b.max_ns);
        a.over_20ms += b.over_20ms;
        a.over_50ms += b.over_50ms;
    }
}

/// What one operation's run measured.
pub struct OpResult {
    pub name: String,
    /// Successes (HTTP 200).
    pub requests: u64,
    /// `ThrottlingException` answers (quota or overload protection).
    pub throttled: u64,
    /// Every other failure: another error answer, a transport error, a timeout.
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Of the successes.
    pub latency: Histogram,
    /// Of the `ThrottlingException` answers.
    pub throttle_latency: Histogram,
    /// Connections opened again after the server closed one or a request
    /// failed (during the whole run, warm-up included).
    pub reopened: u64,
    pub cpu: CpuWindow,
    /// With `--repeat`: the req/s of every run, lowest first (this result
    /// is the median one).
    pub runs_rps: Vec<f64>,
    /// The measured window, second by second.
    pub timeline: Vec<Second>,
    /// The slowest successes, slowest first.
    pub slowest: Vec<Slow>,
    /// Wall-clock start of the measured window, milliseconds since the epoch.
    pub measure_start_unix_ms: f64,
    /// Replay pools signed again during the run (`--replay`).
    pub resigned: u64,
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
    throttled: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram,
    throttle_latency: Histogram,
    reopened: u64,
    timeline: Vec<Second>,
    slowest: Vec<Slow>,
    resigned: u64,
}

impl WorkerResult {
    fn success(&mut self, nanos: u64, sent_at: Duration, done_at: Duration) {
        self.ok += 1;
        self.latency.record(nanos);
        let i = done_at.as_secs() as usize;
        if self.timeline.len() <= i {
            self.timeline.resize(i + 1, Second::default());
        }
        let s = &mut self.timeline[i];
        s.requests += 1;
        s.max_ns = s.max_ns.max(nanos);
        s.over_20ms += u64::from(nanos > 20_000_000);
        s.over_50ms += u64::from(nanos > 50_000_000);
        keep_slowest(&mut self.slowest, Slow { latency_ns: nanos, sent_at });
    }
}

/// A connection and what it sends: a request signed at every send through
/// hyper's client, or pre-signed bytes over a raw connection.
enum Link {
    Signing(Conn, Arc<Call>),
    Replay(RawConn, Pool, Arc<Target>, Arc<Call>),
}

impl Link {
    async fn send(&mut self) -> Result<Reply, String> {
        match self {
            Link::Signing(conn, call) => conn.send(call).await,
            Link::Replay(conn, pool, target, call) => {
                let req = pool.next(target, call)?;
                conn.send(&req).await
            }
        }
    }

    fn opened(&self) -> u64 {
        match self {
            Link::Signing(c, _) => c.opened,
            Link::Replay(c, ..) => c.opened,
        }
    }

    fn resigned(&self) -> u64 {
        match self {
            Link::Signing(..) => 0,
            Link::Replay(_, pool, ..) => pool.resigned,
        }
    }
}

/// The pause after a failure other than throttling: do not spin on a dead endpoint.
pub const ERROR_PAUSE: Duration = Duration::from_millis(10);

enum Outcome {
    Ok,
    Throttled,
    Failed(String),
}

fn classify(outcome: Result<Reply, String>) -> Outcome {
    match outcome {
        Ok(reply) if reply.ok() => Outcome::Ok,
        Ok(reply) if reply.is_throttling() => Outcome::Throttled,
        Ok(reply) => Outcome::Failed(reply.describe()),
        Err(e) => Outcome::Failed(e),
    }
}

async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// xorshift64: jitter for the back-off, not cryptography.
struct Jitter(u64);

impl Jitter {
    fn new(seed: u64) -> Self {
        Jitter(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 2 x mean].
    fn around(&mut self, mean: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        mean.mul_f64(2.0 * (self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

async fn worker(
    mut conn: Link,
    measure_from: Instant,
    end: Instant,
    throttle_pause: Duration,
    seed: u64,
) -> WorkerResult {
    let mut r = WorkerResult::default();
    let mut jitter = Jitter::new(seed);
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let outcome = classify(conn.send().await);
        let done = Instant::now();
        let nanos = (done - sent).as_nanos() as u64;
        // Warm-up, or completed after the window closed: not counted.
        let counted = done >= measure_from && done < end;
        match outcome {
            Outcome::Ok => {
                if counted {
                    r.success(nanos, sent.saturating_duration_since(measure_from), done - measure_from);
                }
            }
            Outcome::Throttled => {
                if counted {
                    r.throttled += 1;
                    r.throttle_latency.record(nanos);
                }
                pause(jitter.around(throttle_pause)).await;
            }
            Outcome::Failed(e) => {
                if counted {
                    r.errors += 1;
                    if r.first_error.is_none() {
                        r.first_error = Some(e);
                    }
                }
                pause(ERROR_PAUSE).await;
            }
        }
    }
    // The first connection was opened before the clock started.
    r.reopened = conn.opened().saturating_sub(1);
    r.resigned = conn.resigned();
    r
}

/// One thread's connections: open them, wait for every thread, then run
/// them closed-loop until `end`. Always meets both barriers, so a failed
/// connect cannot hang the others.
fn thread_main(
    target: Arc<Target>,
    call: Arc<Call>,
    thread: u64,
    connections: usize,
    (throttle_pause, replay): (Duration, Option<usize>),
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
            for i in 0..connections {
                let link = match replay {
                    None => {
                        let mut c = Conn::new(target.clone());
                        c.connect().await?;
                        Link::Signing(c, call.clone())
                    }
                    Some(size) => {
                        let mut c = RawConn::new(&target);
                        c.connect().await?;
                        // Connections start at different places in their pools.
                        let pool = Pool::new(&target, &call, size, i * 7 + thread as usize)?;
                        Link::Replay(c, pool, target.clone(), call.clone())
                    }
                };
                conns.push(link);
            }
            Ok::<_, String>(conns)
        })
    });
    ready.wait();
    ready.wait();
    let (rt, conns) = (rt?, connected?);
    let (measure_from, end) = *clock.get().ok_or("the clock was not started")?;
    rt.block_on(async {
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let seed = (thread << 32) ^ i as u64;
                tokio::spawn(worker(c, measure_from, end, throttle_pause, seed))
            })
            .collect();
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
            let (pause, replay) = (p.throttle_pause, p.replay);
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || thread_main(target, call, t as u64, n, (pause, replay), ready, clock))
                .map_err(|e| format!("cannot start a load thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    // Every connection is open: start the clock.
    ready.wait();
    let start = Instant::now();
    let start_wall = SystemTime::now();
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
    let (mut latency, mut throttle_latency) = (Histogram::new(), Histogram::new());
    let (mut requests, mut throttled, mut errors, mut reopened, mut first_error) = (0, 0, 0, 0, None);
    let (mut timeline, mut slowest, mut resigned) = (Vec::new(), Vec::new(), 0);
    let mut failure = None;
    for h in handles {
        match h.join().map_err(|_| "a load thread panicked".to_string()).and_then(|r| r) {
            Ok(results) => {
                for r in results {
                    requests += r.ok;
                    throttled += r.throttled;
                    errors += r.errors;
                    reopened += r.reopened;
                    resigned += r.resigned;
                    merge_timeline(&mut timeline, &r.timeline);
                    for s in r.slowest {
                        keep_slowest(&mut slowest, s);
                    }
                    latency.merge(&r.latency);
                    throttle_latency.merge(&r.throttle_latency);
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
        throttled,
        errors,
        first_error,
        elapsed: p.duration,
        latency,
        throttle_latency,
        reopened,
        cpu,
        runs_rps: vec![],
        timeline,
        slowest,
        measure_start_unix_ms: (start_wall + p.warmup)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0),
        resigned,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_around_the_mean() {
        let mean = Duration::from_millis(100);
        let mut j = Jitter::new(7);
        let draws: Vec<Duration> = (0..10_000).map(|_| j.around(mean)).collect();
        assert!(draws.iter().all(|d| *d <= 2 * mean));
        let avg = draws.iter().sum::<Duration>() / draws.len() as u32;
        assert!(avg > Duration::from_millis(95) && avg < Duration::from_millis(105), "{avg:?}");
        assert!(draws.iter().any(|d| *d < Duration::from_millis(10)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(190)));
        assert_eq!(Jitter::new(1).around(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn timeline_and_slowest() {
        let mut r = WorkerResult::default();
        for i in 0..100u64 {
            let ms = if i == 42 { 300 } else { i % 30 };
            let at = Duration::from_millis(i * 25);
            r.success(ms * 1_000_000, at, at + Duration::from_millis(ms));
        }
        assert_eq!(r.timeline.len(), 3);
        assert_eq!(r.timeline.iter().map(|s| s.requests).sum::<u64>(), 100);
        assert_eq!(r.timeline[1].max_ns, 300_000_000);
        assert_eq!(r.timeline[1].over_50ms, 1);
        assert_eq!(r.slowest.len(), SLOWEST);
        assert_eq!(r.slowest[0], Slow { latency_ns: 300_000_000, sent_at: Duration::from_millis(1050) });
        assert!(r.slowest.windows(2).all(|w| w[0].latency_ns >= w[1].latency_ns));
        let mut all = vec![Second { requests: 1, ..Default::default() }];
        merge_timeline(&mut all, &r.timeline);
        assert_eq!((all.len(), all[0].requests), (3, r.timeline[0].requests + 1));
    }
}
