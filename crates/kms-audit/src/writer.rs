//! The writer: one thread that owns the log files, batches events, fsyncs
//! once per batch (group commit) and then releases the waiting requests.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kms_core::crypto::{hex, sha256};
use kms_core::ports::{AuditSink, Clock};
use kms_core::{Error, Result};

use crate::format::{self, Digest, SigningKey, GENESIS};

/// Most events written in one batch.
const MAX_BATCH: usize = 4096;

/// A batch whose oldest event waited longer than this is logged (a warning
/// with where the time went): the evidence for latency stalls.
const SLOW_BATCH: Duration = Duration::from_millis(50);

/// Where a batch's time went.
#[derive(Debug, Default, Clone, Copy)]
struct BatchTimes {
    rotate: Duration,
    write: Duration,
    fsync: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One step of the group-commit wait ([`AuditConfig::commit_delay`]).
const COMMIT_STEP: Duration = Duration::from_micros(100);

/// How the audit log behaves.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub dir: PathBuf,
    /// Start a new file past this size.
    pub max_file_bytes: u64,
    /// Start a new file after this long.
    pub max_file_age: Duration,
    /// Sign a digest of the current file this often (when it changed).
    pub digest_interval: Duration,
    /// Delete log and digest files older than this (`None`: keep forever).
    pub retention: Option<Duration>,
    /// Group commit: when requests arrive concurrently, wait up to this long
    /// for more events before the write+fsync, as long as more keep coming
    /// (see `Writer::gather`). Zero: write whatever is queued at once.
    pub commit_delay: Duration,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AuditStats {
    pub records: AtomicU64,
    pub batches: AtomicU64,
    pub failures: AtomicU64,
    pub fsync_micros_total: AtomicU64,
    /// fsync latency histogram; bucket upper bounds in [`AuditStats::FSYNC_BUCKETS_US`].
    pub fsync_buckets: [AtomicU64; 12],
    /// Batch size histogram; upper bounds in [`AuditStats::BATCH_BUCKETS`].
    pub batch_buckets: [AtomicU64; 8],
}

impl AuditStats {
    /// Up to a second: a stalled write shows which way it went.
    pub const FSYNC_BUCKETS_US: [u64; 12] =
        [100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100_000, 250_000, u64::MAX];
    pub const BATCH_BUCKETS: [u64; 8] = [1, 2, 4, 8, 16, 64, 256, u64::MAX];

    fn observe(&self, n: usize, fsync_us: u64) {
        self.records.fetch_add(n as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros_total.fetch_add(fsync_us, Ordering::Relaxed);
        let fi = Self::FSYNC_BUCKETS_US.iter().position(|b| fsync_us <= *b).unwrap_or(Self::FSYNC_BUCKETS_US.len() - 1);
        self.fsync_buckets[fi].fetch_add(1, Ordering::Relaxed);
        let bi = Self::BATCH_BUCKETS.iter().position(|b| n as u64 <= *b).unwrap_or(7);
        self.batch_buckets[bi].fetch_add(1, Ordering::Relaxed);
    }
}

struct Job {
    event: Vec<u8>,
    /// When the request handed it over: how long the oldest event of a
    /// slow batch waited ([`SLOW_BATCH`]).
    queued: Instant,
    done: tokio::sync::oneshot::Sender<std::result::Result<(), String>>,
}

/// The audit log. Cheap to share; dropping the last handle stops the writer
/// after a final digest.
pub struct AuditLog {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<AuditStats>,
}

struct Writer {
    cfg: AuditConfig,
    key: SigningKey,
    /// The file being appended to (opened by `new_file`).
    file: Option<File>,
    file_no: u64,
    file_started: Instant,
    file_start_ms: i64,
    size: u64,
    records: u64,
    first_prev: [u8; 32],
    last: [u8; 32],
    /// Records of the current file covered by the newest digest.
    digested_records: u64,
    digest_no: u64,
    prev_signature: String,
    /// SHA-256 of the current file so far.
    file_hash: aws_lc_rs::digest::Context,
    /// The next log file, being created ahead of time.
    next: Option<Prepared>,
}

/// A log file created ahead of time, with its directory entry made durable,
/// on a thread of its own: starting a new file then costs the writer (and
/// the batch waiting on it) nothing. Measured before this: 2-4.5 ms of
/// `create` + directory fsync inside the batch that triggered the
/// rotation, on top of its digest. A prepared file that is never written
/// (a stop or a crash first) is empty and is removed at the next start.
struct Prepared {
    file_no: u64,
    file: std::thread::JoinHandle<std::result::Result<File, String>>,
}

/// Create log file `file_no` (it must not exist) and make its directory
/// entry durable.
fn create_log_file(dir: &Path, file_no: u64) -> std::result::Result<File, String> {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(dir.join(format::log_name(file_no)))
        .map_err(|e| io_err("cannot create a log file", e))?;
    sync_dir(dir);
    Ok(file)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn io_err(what: &str, e: impl std::fmt::Display) -> String {
    format!("audit log: {what}: {e}")
}

fn numbered(dir: &Path, prefix: &str, suffix: &str) -> std::result::Result<Vec<(u64, PathBuf)>, String> {
    let mut out = vec![];
    for e in fs::read_dir(dir).map_err(|e| io_err("cannot list the audit directory", e))? {
        let e = e.map_err(|e| io_err("cannot list the audit directory", e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(n) = format::file_number(&name, prefix, suffix) {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What a digest covers: a log file's first `size` bytes, `records` records
/// chained from `first_prev` to `last`.
#[derive(Clone, Copy)]
struct Covered {
    file_no: u64,
    records: u64,
    first_prev: [u8; 32],
    last: [u8; 32],
    size: u64,
}

/// What scanning a log file found.
struct Scan {
    /// Length of the valid prefix (a torn last line from a crash is not part of it).
    valid: u64,
    records: u64,
    first_prev: Option<[u8; 32]>,
    last: Option<[u8; 32]>,
}

/// Scan a log file: the chain state at its end.
fn scan(path: &Path) -> std::result::Result<Scan, String> {
    let f = File::open(path).map_err(|e| io_err("cannot open a log file", e))?;
    let mut r = BufReader::new(f);
    let (mut valid, mut records, mut first_prev, mut last) = (0u64, 0u64, None, None);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).map_err(|e| io_err("cannot read a log file", e))?;
        if n == 0 || !line.ends_with(b"\n") {
            break;
        }
        let Some(l) = format::parse_line(&line[..line.len() - 1]) else {
            break;
        };
        if last.is_some_and(|h| h != l.prev) || format::record_hash(&l.prev, l.event) != l.hash {
            break;
        }
        first_prev.get_or_insert(l.prev);
        last = Some(l.hash);
        records += 1;
        valid += n as u64;
    }
    Ok(Scan { valid, records, first_prev, last })
}

impl Writer {
    /// Recover the chain from the directory, close the previous file with a
    /// digest, and open a new file.
    fn open(cfg: AuditConfig, key: SigningKey) -> std::result::Result<Writer, String> {
        fs::create_dir_all(&cfg.dir).map_err(|e| io_err("cannot create the audit directory", e))?;
        let pem = format::spki_pem(&key.public_spki()?);
        fs::write(cfg.dir.join(format::PUBLIC_KEY_FILE), pem).map_err(|e| io_err("cannot write the public key", e))?;
        let mut logs = numbered(&cfg.dir, format::LOG_PREFIX, format::LOG_SUFFIX)?;
        // Files never written (prepared ahead of a stop or a crash, or
        // opened by a run that recorded nothing) hold no records and no
        // digest covers them: the chain continues from the last file with
        // records, and the next file takes the first free number.
        let mut removed = false;
        while let Some((_, path)) = logs.last() {
            if fs::metadata(path).map_err(|e| io_err("cannot stat a log file", e))?.len() > 0 {
                break;
            }
            fs::remove_file(path).map_err(|e| io_err("cannot remove an empty log file", e))?;
            logs.pop();
            removed = true;
        }
        if removed {
            sync_dir(&cfg.dir);
        }
        let digests = numbered(&cfg.dir, format::DIGEST_PREFIX, format::DIGEST_SUFFIX)?;
        let (digest_no, prev_signature, last_digest) = match digests.last() {
            Some((n, p)) => {
                let d: Digest = serde_json::from_slice(&fs::read(p).map_err(|e| io_err("cannot read a digest", e))?)
                    .map_err(|e| io_err("a digest is not valid JSON", e))?;
                (*n, d.signature.clone(), Some(d))
            }
            None => (0, String::new(), None),
        };
        let mut w_last = GENESIS;
        let mut file_no = 0;
        let mut pending_close = None;
        if let Some((n, path)) = logs.last() {
            let Scan { valid, records, first_prev, last } = scan(path)?;
            let len = fs::metadata(path).map_err(|e| io_err("cannot stat a log file", e))?.len();
            if valid < len {
                tracing::warn!(file = %path.display(), torn_bytes = len - valid, "audit log: dropping a torn last line (never acknowledged)");
                let f = OpenOptions::new().write(true).open(path).map_err(|e| io_err("cannot open a log file", e))?;
                f.set_len(valid).map_err(|e| io_err("cannot truncate a torn line", e))?;
                f.sync_all().map_err(|e| io_err("cannot sync", e))?;
            }
            file_no = *n;
            if let Some(h) = last {
                w_last = h;
            } else if let Some(p) = first_prev {
                w_last = p;
            }
            let covered =
                last_digest.as_ref().is_some_and(|d| d.log_file == format::log_name(*n) && d.records == records);
            if !covered && records > 0 {
                let first_prev = first_prev.unwrap_or(GENESIS);
                let last = last.unwrap_or(first_prev);
                pending_close = Some(Covered { file_no: *n, records, first_prev, last, size: valid });
            }
        }
        let mut w = Writer {
            file: None,
            cfg,
            key,
            file_no,
            file_started: Instant::now(),
            file_start_ms: Clock::real_now_ms(),
            size: 0,
            records: 0,
            first_prev: w_last,
            last: w_last,
            digested_records: 0,
            digest_no,
            prev_signature,
            file_hash: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            next: None,
        };
        if let Some(c) = pending_close {
            w.digest_closed_file(c)?;
        }
        w.new_file()?;
        Ok(w)
    }

    fn new_file(&mut self) -> std::result::Result<(), String> {
        self.file_no += 1;
        let file = match self.next.take() {
            Some(p) if p.file_no == self.file_no => match p.file.join() {
                Ok(Ok(f)) => Some(f),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "audit log: preparing the next file failed; creating it now");
                    None
                }
                Err(_) => None,
            },
            Some(p) => {
                let _ = p.file.join();
                None
            }
            None => None,
        };
        let file = match file {
            Some(f) => f,
            None => create_log_file(&self.cfg.dir, self.file_no)?,
        };
        self.file = Some(file);
        self.prepare_next();
        self.file_started = Instant::now();
        self.file_start_ms = Clock::real_now_ms();
        self.size = 0;
        self.records = 0;
        self.digested_records = 0;
        self.file_hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        self.first_prev = self.last;
        Ok(())
    }

    /// Start creating the file after the current one.
    fn prepare_next(&mut self) {
        let (dir, file_no) = (self.cfg.dir.clone(), self.file_no + 1);
        let spawned =
            std::thread::Builder::new().name("kms-audit-next".into()).spawn(move || create_log_file(&dir, file_no));
        // Without a thread, `new_file` creates the file itself.
        self.next = spawned.ok().map(|file| Prepared { file_no, file });
    }

    /// Remove the prepared next file (at a clean stop): it holds nothing.
    fn discard_next(&mut self) {
        if let Some(p) = self.next.take() {
            if let Ok(Ok(f)) = p.file.join() {
                drop(f);
                if fs::remove_file(self.cfg.dir.join(format::log_name(p.file_no))).is_ok() {
                    sync_dir(&self.cfg.dir);
                }
            }
        }
    }

    /// Sign a digest of `c.file_no`, whose first `c.size` bytes hash to
    /// `file_sha256`.
    fn write_digest(&mut self, c: Covered, file_sha256: &[u8]) -> std::result::Result<(), String> {
        let Covered { file_no, records, first_prev, last, size } = c;
        let now = Clock::real_now_ms();
        let mut d = Digest {
            digest_version: 1,
            log_file: format::log_name(file_no),
            log_file_sha256: hex(file_sha256),
            size,
            records,
            first_prev: hex(&first_prev),
            last_hash: hex(&last),
            start_time: format::rfc3339(if file_no == self.file_no { self.file_start_ms } else { now }),
            end_time: format::rfc3339(now),
            previous_digest_signature: self.prev_signature.clone(),
            signature: String::new(),
        };
        self.key.sign(&mut d)?;
        self.digest_no += 1;
        let path = self.cfg.dir.join(format::digest_name(self.digest_no));
        let bytes = serde_json::to_vec_pretty(&d).map_err(|e| io_err("cannot encode a digest", e))?;
        let mut out = File::create(&path).map_err(|e| io_err("cannot create a digest", e))?;
        out.write_all(&bytes).and_then(|_| out.sync_all()).map_err(|e| io_err("cannot write a digest", e))?;
        self.prev_signature = d.signature;
        Ok(())
    }

    /// Digest a file left without one (found at start-up): read and hash it.
    fn digest_closed_file(&mut self, c: Covered) -> std::result::Result<(), String> {
        let f = File::open(self.cfg.dir.join(format::log_name(c.file_no)))
            .map_err(|e| io_err("cannot reopen a log file", e))?;
        let mut buf = Vec::with_capacity(c.size as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(f, c.size), &mut buf)
            .map_err(|e| io_err("cannot read a log file", e))?;
        self.write_digest(c, &sha256(&buf))
    }

    /// Digest the current file from its running hash (no re-reading).
    fn digest_current(&mut self) -> std::result::Result<(), String> {
        if self.records > self.digested_records {
            let h = self.file_hash.clone().finish();
            let c = Covered {
                file_no: self.file_no,
                records: self.records,
                first_prev: self.first_prev,
                last: self.last,
                size: self.size,
            };
            self.write_digest(c, h.as_ref())?;
            self.digested_records = self.records;
        }
        Ok(())
    }

    fn maybe_rotate(&mut self) -> std::result::Result<(), String> {
        if self.records > 0
            && (self.size >= self.cfg.max_file_bytes || self.file_started.elapsed() >= self.cfg.max_file_age)
        {
            let started = Instant::now();
            self.digest_current()?;
            let digested = started.elapsed();
            self.new_file()?;
            let opened = started.elapsed();
            self.apply_retention();
            tracing::info!(
                file = %format::log_name(self.file_no),
                digest_ms = ms(digested),
                new_file_ms = ms(opened - digested),
                retention_ms = ms(started.elapsed() - opened),
                "audit log: next file"
            );
        }
        Ok(())
    }

    /// Delete closed log files older than the retention period, each with
    /// the digests that cover it (so that verification does not take the
    /// removal for tampering).
    fn apply_retention(&self) {
        let Some(keep) = self.cfg.retention else {
            return;
        };
        let Ok(logs) = numbered(&self.cfg.dir, format::LOG_PREFIX, format::LOG_SUFFIX) else {
            return;
        };
        let digests = numbered(&self.cfg.dir, format::DIGEST_PREFIX, format::DIGEST_SUFFIX).unwrap_or_default();
        for (n, p) in logs {
            let age = fs::metadata(&p).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if n >= self.file_no || age.is_none_or(|a| a <= keep) {
                continue;
            }
            let name = format::log_name(n);
            for (_, dp) in &digests {
                let covers = fs::read(dp)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Digest>(&b).ok())
                    .is_some_and(|d| d.log_file == name);
                if covers {
                    let _ = fs::remove_file(dp);
                }
            }
            let _ = fs::remove_file(&p);
        }
    }

    fn write_batch(&mut self, jobs: &[Job], times: &mut BatchTimes) -> std::result::Result<(), String> {
        let started = Instant::now();
        self.maybe_rotate()?;
        times.rotate = started.elapsed();
        let mut buf = Vec::with_capacity(jobs.iter().map(|j| j.event.len() + format::LINE_HEAD + 2).sum());
        let mut last = self.last;
        for j in jobs {
            let h = format::record_hash(&last, &j.event);
            format::write_line(&mut buf, &last, &h, &j.event);
            last = h;
        }
        let file = self.file.as_mut().ok_or_else(|| io_err("no open file", "writer not started"))?;
        let written = Instant::now();
        file.write_all(&buf).map_err(|e| io_err("write failed", e))?;
        times.write = written.elapsed();
        let synced = Instant::now();
        file.sync_data().map_err(|e| io_err("fsync failed", e))?;
        times.fsync = synced.elapsed();
        self.file_hash.update(&buf);
        self.last = last;
        self.size += buf.len() as u64;
        self.records += jobs.len() as u64;
        Ok(())
    }

    /// The next batch: `first` and whatever else is queued. When that is
    /// more than one event (other requests are in flight), wait in short
    /// steps, up to `commit_delay`, while each step brings more: one fsync
    /// then covers more events, which is where most of the writer's CPU goes.
    /// A lone client never waits, and the wait ends as soon as a step brings
    /// nothing (every client is already waiting for this batch).
    fn gather(&self, first: Job, rx: &mpsc::Receiver<Job>) -> Vec<Job> {
        let mut jobs = vec![first];
        let drain = |jobs: &mut Vec<Job>| {
            let before = jobs.len();
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            jobs.len() > before
        };
        drain(&mut jobs);
        let deadline = Instant::now() + self.cfg.commit_delay;
        if jobs.len() > 1 {
            while jobs.len() < MAX_BATCH {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep(COMMIT_STEP.min(deadline - now));
                if !drain(&mut jobs) {
                    break;
                }
            }
        }
        jobs
    }

    fn run(mut self, rx: mpsc::Receiver<Job>, stats: Arc<AuditStats>) {
        let mut last_digest = Instant::now();
        loop {
            let first = match rx.recv_timeout(self.cfg.digest_interval) {
                Ok(j) => Some(j),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if let Some(first) = first {
                let jobs = self.gather(first, &rx);
                let started = Instant::now();
                let mut times = BatchTimes::default();
                let result = self.write_batch(&jobs, &mut times);
                let us = started.elapsed().as_micros() as u64;
                let waited = jobs.iter().map(|j| j.queued).min().map(|q| q.elapsed()).unwrap_or_default();
                if waited > SLOW_BATCH {
                    tracing::warn!(
                        events = jobs.len(),
                        waited_ms = ms(waited),
                        gathered_ms = ms(waited.saturating_sub(started.elapsed())),
                        rotate_ms = ms(times.rotate),
                        write_ms = ms(times.write),
                        fsync_ms = ms(times.fsync),
                        "audit log: slow batch (its oldest event waited this long before its reply)"
                    );
                }
                match &result {
                    Ok(()) => stats.observe(jobs.len(), us),
                    Err(e) => {
                        stats.failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, events = jobs.len(), "audit log write failed");
                    }
                }
                for j in jobs {
                    let _ = j.done.send(result.clone());
                }
            }
            if last_digest.elapsed() >= self.cfg.digest_interval {
                if let Err(e) = self.digest_current() {
                    tracing::error!(error = %e, "audit digest failed");
                }
                last_digest = Instant::now();
            }
        }
        if let Err(e) = self.digest_current() {
            tracing::error!(error = %e, "final audit digest failed");
        }
        self.discard_next();
    }
}

impl AuditLog {
    /// Open the audit directory (recovering the chain) and start the writer.
    pub fn open(cfg: AuditConfig, key: SigningKey) -> std::result::Result<AuditLog, String> {
        let writer = Writer::open(cfg, key)?;
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(AuditStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("kms-audit".into())
            .spawn(move || writer.run(rx, s))
            .map_err(|e| io_err("cannot start the writer thread", e))?;
        Ok(AuditLog { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), stats })
    }

    pub fn stats(&self) -> &Arc<AuditStats> {
        &self.stats
    }

    /// Stop the writer after it wrote everything queued and a final digest.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl AuditSink for AuditLog {
    async fn record(&self, event: Vec<u8>) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        {
            let tx = self.tx.lock().map_err(|_| Error::internal("audit log lock poisoned"))?;
            let tx = tx.as_ref().ok_or_else(|| Error::internal("audit log is closed"))?;
            tx.send(Job { event, queued: Instant::now(), done })
                .map_err(|_| Error::internal("audit writer stopped"))?;
        }
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Internal(e)),
            Err(_) => Err(Error::internal("audit writer stopped")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, max_file_bytes: u64) -> AuditConfig {
        AuditConfig {
            dir: dir.to_path_buf(),
            max_file_bytes,
            max_file_age: Duration::from_secs(3600),
            digest_interval: Duration::from_secs(60),
            retention: None,
            commit_delay: Duration::from_micros(300),
        }
    }

    /// One server run: `events` events (concurrently, so batches form),
    /// then a clean close.
    fn run_once(dir: &Path, max_file_bytes: u64, events: usize, key: &[u8]) {
        let log = Arc::new(AuditLog::open(config(dir, max_file_bytes), SigningKey::from_pkcs8(key).unwrap()).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        // Ten at a time: batches of up to ten, so that small files rotate often.
        rt.block_on(async {
            for chunk in (0..events).collect::<Vec<_>>().chunks(10) {
                let tasks: Vec<_> = chunk
                    .iter()
                    .map(|&i| {
                        let log = log.clone();
                        tokio::spawn(async move {
                            let event =
                                format!("{{\"eventName\":\"Encrypt\",\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(200));
                            log.record(event.into_bytes()).await.unwrap();
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }
        });
        log.close();
    }

    fn logs(dir: &Path) -> Vec<(u64, PathBuf)> {
        numbered(dir, format::LOG_PREFIX, format::LOG_SUFFIX).unwrap()
    }

    #[test]
    fn events_verify_across_rotations_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate_pkcs8().unwrap();
        // About 330 bytes a line: a new file every dozen events.
        run_once(dir.path(), 4096, 300, &key);
        assert!(logs(dir.path()).len() > 10, "{:?}", logs(dir.path()));
        run_once(dir.path(), 4096, 50, &key);
        let report = crate::verify::verify_dir(dir.path(), None).unwrap();
        assert_eq!(report.records, 350);
        assert_eq!(crate::query::events(dir.path()).unwrap().len(), 350);
    }

    /// A run with no events leaves an empty last file; the next run's chain
    /// must still continue the one before it.
    #[test]
    fn restart_after_an_empty_file_keeps_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate_pkcs8().unwrap();
        run_once(dir.path(), 1 << 20, 3, &key);
        run_once(dir.path(), 1 << 20, 0, &key);
        run_once(dir.path(), 1 << 20, 0, &key);
        run_once(dir.path(), 1 << 20, 3, &key);
        let report = crate::verify::verify_dir(dir.path(), None).unwrap();
        assert_eq!(report.records, 6);
    }

    /// The next file is created ahead of time; a stop removes it, a crash
    /// leaves it empty and the next start removes it; either way the trail
    /// verifies and the numbers have no gap.
    #[test]
    fn the_prepared_next_file() {
        let dir = tempfile::tempdir().unwrap();
        let pkcs8 = SigningKey::generate_pkcs8().unwrap();
        let log = AuditLog::open(config(dir.path(), 1 << 20), SigningKey::from_pkcs8(&pkcs8).unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(log.record(b"{\"n\":1}".to_vec())).unwrap();
        // While it runs: the current file and the prepared one (empty);
        // the live directory verifies.
        let names: Vec<u64> = logs(dir.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [1, 2]);
        assert_eq!(fs::metadata(dir.path().join(format::log_name(2))).unwrap().len(), 0);
        assert_eq!(crate::verify::verify_dir(dir.path(), None).unwrap().records, 1);
        log.close();
        assert_eq!(logs(dir.path()).len(), 1, "a stop removes the prepared file");
        // A crash: an empty file left behind (as a prepared one would be).
        fs::write(dir.path().join(format::log_name(2)), b"").unwrap();
        run_once(dir.path(), 1 << 20, 2, &pkcs8);
        let names: Vec<u64> = logs(dir.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [1, 2]);
        assert_eq!(crate::verify::verify_dir(dir.path(), None).unwrap().records, 3);
    }

    #[test]
    fn fsync_histogram_has_a_bucket_for_every_value() {
        let s = AuditStats::default();
        for us in [50, 400, 30_000, 300_000, 5_000_000] {
            s.observe(1, us);
        }
        let counts: Vec<u64> = s.fsync_buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        assert_eq!(counts.iter().sum::<u64>(), 5);
        // 300 ms and 5 s: past the last bound.
        assert_eq!(*counts.last().unwrap(), 2);
        assert_eq!(counts[8], 1, "30 ms: the 50 ms bucket");
    }
}
