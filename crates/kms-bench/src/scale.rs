//! The scale run: create many keys, then measure ListKeys pages at the
//! start and near the end of the key space. Resident memory and start-up
//! time are measured by `scripts/bench.sh`, which owns the server process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Conn, Target};
use crate::hist::{ms, Histogram};
use crate::procstat;
use crate::report::align;

pub struct ScaleParams {
    pub keys: u64,
    pub concurrency: usize,
    /// ListKeys calls measured at each position.
    pub list_samples: usize,
    /// Enable rotation on every key and measure the background job's pass.
    pub rotation_pass: bool,
    /// Accounts to spread the keys over (0: the caller's own).
    pub accounts: usize,
    /// The region requests are signed for (the accounts' users sign too).
    pub region: String,
    /// The server's process: its CPU per CreateKey, and its store commit
    /// thread's (the one serial step of a key write, docs/STORAGE.md).
    pub server_pid: Option<u32>,
}

/// The embedded store's commit thread, as `/proc` names it (15 bytes).
const COMMIT_THREAD: &str = "kms-store-commi";

/// The first account `--accounts` makes; the others follow it.
const FIRST_ACCOUNT: u64 = 200_000_000_001;
const SCALE_USER: &str = "kms-bench-scale";

/// One user per account, allowed every KMS action by an identity policy,
/// made through the operator API by `target`'s identity (an admin); their
/// targets, in account order.
async fn make_accounts(target: &Arc<Target>, p: &ScaleParams) -> Result<Vec<Arc<Target>>, String> {
    let mut admin = Conn::new(target.clone());
    let policy =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]});
    let mut targets = Vec::with_capacity(p.accounts);
    for i in 0..p.accounts as u64 {
        let account = (FIRST_ACCOUNT + i).to_string();
        let out = admin
            .call("KmsAdmin.CreateUser", &json!({"UserName": SCALE_USER, "AccountId": account}))
            .await
            .map_err(|e| format!("KmsAdmin.CreateUser in account {account} (the identity must be an admin): {e}"))?;
        admin
            .call(
                "KmsAdmin.PutUserPolicy",
                &json!({"UserName": SCALE_USER, "AccountId": account, "PolicyName": "kms-all",
                        "PolicyDocument": policy.to_string()}),
            )
            .await?;
        let (Some(ak), Some(sk)) = (out["AccessKeyId"].as_str(), out["SecretAccessKey"].as_str()) else {
            return Err(format!("KmsAdmin.CreateUser in account {account}: no access key in the answer"));
        };
        let signer = kms_api::sigv4::Signer::new(ak, sk, None, &p.region, "kms")
            .map_err(|e| format!("cannot sign as {ak}: {e}"))?;
        targets.push(Arc::new(Target {
            host: target.host.clone(),
            addr: target.addr,
            signer,
            timeout: target.timeout,
        }));
    }
    Ok(targets)
}

const PAGE: u64 = 100;
/// The rotation period of `--rotation-pass` keys; the pass moves the clock a day more.
const ROTATION_DAYS: i64 = 90;
/// Encrypt connections during the rotation pass, and the unmeasured and
/// baseline seconds before it.
const PASS_CONNECTIONS: usize = 8;
const PASS_BASELINE: Duration = Duration::from_secs(3);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct CreateResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram,
}

async fn creator(
    mut conn: Conn,
    targets: Vec<Arc<Target>>,
    next: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    total: u64,
    rotation: bool,
) -> CreateResult {
    let mut r = CreateResult::default();
    let body = json!({"Description": "kms-bench scale"});
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= total {
            break;
        }
        // Key n goes to account n mod N: every account gets its share.
        conn.sign_as(&targets[(n % targets.len() as u64) as usize]);
        let sent = Instant::now();
        let mut created = conn.call("TrentService.CreateKey", &body).await;
        if let (true, Ok(out)) = (rotation, &created) {
            let id = out["KeyMetadata"]["KeyId"].clone();
            let enable = json!({"KeyId": id, "RotationPeriodInDays": ROTATION_DAYS});
            created = conn.call("TrentService.EnableKeyRotation", &enable).await;
        }
        match created {
            Ok(_) => {
                r.ok += 1;
                r.latency.record(sent.elapsed().as_nanos() as u64);
                done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
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

struct CreatePhase {
    seconds: f64,
    /// Server CPU seconds over the phase: the process's and its commit
    /// thread's (`None` without `--server-pid`).
    server_cpu: Option<f64>,
    commit_cpu: Option<f64>,
    result: CreateResult,
    /// (seconds since start, keys created so far)
    progress: Vec<(f64, u64)>,
}

async fn create_keys(targets: &[Arc<Target>], p: &ScaleParams) -> Result<CreatePhase, String> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(p.concurrency);
    for _ in 0..p.concurrency {
        let mut c = Conn::new(targets[0].clone());
        c.connect().await?;
        tasks.push(tokio::spawn(creator(c, targets.to_vec(), next.clone(), done.clone(), p.keys, p.rotation_pass)));
    }
    let cpu = |pid| (procstat::cpu_seconds(pid), procstat::thread_cpu_seconds(pid, COMMIT_THREAD));
    let cpu_start = p.server_pid.map(cpu);
    let start = Instant::now();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = {
        let done = done.clone();
        let total = p.keys;
        tokio::spawn(async move {
            let mut progress = vec![(0.0, 0)];
            let mut last = 0;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(PROGRESS_EVERY) => {}
                    _ = &mut stopped => break,
                }
                let n = done.load(Ordering::Relaxed);
                let t = start.elapsed().as_secs_f64();
                progress.push((t, n));
                eprintln!(
                    "scale: {n}/{total} keys after {t:.0} s ({:.0} keys/s in the last {} s)",
                    (n - last) as f64 / PROGRESS_EVERY.as_secs_f64(),
                    PROGRESS_EVERY.as_secs()
                );
                last = n;
            }
            progress
        })
    };
    let mut result = CreateResult::default();
    for t in tasks {
        let r = t.await.map_err(|e| format!("creator failed: {e}"))?;
        result.ok += r.ok;
        result.errors += r.errors;
        result.latency.merge(&r.latency);
        if result.first_error.is_none() {
            result.first_error = r.first_error;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_end = p.server_pid.map(cpu);
    let (start_cpu, end_cpu) = (cpu_start.unwrap_or_default(), cpu_end.unwrap_or_default());
    let diff = |end: Option<f64>, start: Option<f64>| Some(end? - start?);
    let (server_cpu, commit_cpu) = (diff(end_cpu.0, start_cpu.0), diff(end_cpu.1, start_cpu.1));
    let _ = stop.send(());
    let mut progress = watcher.await.unwrap_or_default();
    progress.push((seconds, done.load(Ordering::Relaxed)));
    Ok(CreatePhase { seconds, server_cpu, commit_cpu, result, progress })
}

fn list_body(marker: Option<&str>) -> Value {
    match marker {
        Some(m) => json!({"Limit": PAGE, "Marker": m}),
        None => json!({"Limit": PAGE}),
    }
}

struct Walk {
    pages: usize,
    keys: u64,
    seconds: f64,
    /// Latency of each page, in order.
    page_ns: Vec<u64>,
    /// The marker that leads to page i+1.
    markers: Vec<String>,
}

/// Page through every key once.
async fn walk(conn: &mut Conn) -> Result<Walk, String> {
    let start = Instant::now();
    let mut w = Walk { pages: 0, keys: 0, seconds: 0.0, page_ns: vec![], markers: vec![] };
    let mut marker: Option<String> = None;
    loop {
        let sent = Instant::now();
        let out = conn.call("TrentService.ListKeys", &list_body(marker.as_deref())).await?;
        w.page_ns.push(sent.elapsed().as_nanos() as u64);
        w.pages += 1;
        w.keys += out["Keys"].as_array().map_or(0, |k| k.len() as u64);
        match out["NextMarker"].as_str() {
            Some(m) if out["Truncated"].as_bool() == Some(true) => {
                w.markers.push(m.to_string());
                marker = Some(m.to_string());
            }
            _ => break,
        }
    }
    w.seconds = start.elapsed().as_secs_f64();
    Ok(w)
}

fn mean_ms(ns: &[u64]) -> f64 {
    if ns.is_empty() {
        return 0.0;
    }
    ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1e6
}

struct Position {
    name: &'static str,
    /// Index of the page this marker starts (0 = first page).
    page: usize,
    marker: Option<String>,
    latency: Histogram,
}

/// Measure the same pages repeatedly, interleaved so drift hits all alike.
async fn sample(conn: &mut Conn, walk: &Walk, samples: usize) -> Result<Vec<Position>, String> {
    let mut positions = vec![Position { name: "start", page: 0, marker: None, latency: Histogram::new() }];
    let n = walk.markers.len();
    if n >= 2 {
        positions.push(Position {
            name: "middle",
            page: n / 2 + 1,
            marker: walk.markers.get(n / 2).cloned(),
            latency: Histogram::new(),
        });
    }
    if n >= 1 {
        // The last full page: the marker before the final page's marker.
        let i = n.saturating_sub(2);
        positions.push(Position {
            name: "end",
            page: i + 1,
            marker: walk.markers.get(i).cloned(),
            latency: Histogram::new(),
        });
    }
    for _ in 0..samples {
        for p in positions.iter_mut() {
            let sent = Instant::now();
            conn.call("TrentService.ListKeys", &list_body(p.marker.as_deref())).await?;
            p.latency.record(sent.elapsed().as_nanos() as u64);
        }
    }
    Ok(positions)
}

/// Encrypt latency before and during the background job's pass.
struct PassResult {
    seconds: f64,
    before: Histogram,
    during: Histogram,
    errors: u64,
}

/// Encrypt in a loop on `key`, recording into `before` or `during` by `phase`
/// (0 before, 1 during, 2 stop).
async fn encrypt_loop(mut conn: Conn, key: String, phase: Arc<AtomicU64>) -> (Histogram, Histogram, u64) {
    let (mut before, mut during, mut errors) = (Histogram::new(), Histogram::new(), 0);
    let body = json!({"KeyId": key, "Plaintext": crate::ops::plaintext(32)});
    loop {
        let p = phase.load(Ordering::Relaxed);
        if p >= 2 {
            return (before, during, errors);
        }
        let sent = Instant::now();
        match conn.call("TrentService.Encrypt", &body).await {
            Ok(_) if p == 0 => before.record(sent.elapsed().as_nanos() as u64),
            Ok(_) => during.record(sent.elapsed().as_nanos() as u64),
            Err(_) => errors += 1,
        }
    }
}

/// Move the clock past every key's rotation date while Encrypt runs on a
/// key of its own: the pass rotates every key, one write each.
async fn rotation_pass(target: &Arc<Target>) -> Result<PassResult, String> {
    let mut admin = Conn::new(target.clone());
    let out = admin.call("TrentService.CreateKey", &json!({"Description": "kms-bench pass load"})).await?;
    let key = out["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey: no KeyId")?.to_string();
    let phase = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..PASS_CONNECTIONS {
        let mut c = Conn::new(target.clone());
        c.connect().await?;
        tasks.push(tokio::spawn(encrypt_loop(c, key.clone(), phase.clone())));
    }
    tokio::time::sleep(PASS_BASELINE).await;
    phase.store(1, Ordering::Relaxed);
    let start = Instant::now();
    let advanced = admin.call("KmsAdmin.AdvanceClock", &json!({"Seconds": (ROTATION_DAYS + 1) * 86400})).await;
    let seconds = start.elapsed().as_secs_f64();
    phase.store(2, Ordering::Relaxed);
    let mut r = PassResult { seconds, before: Histogram::new(), during: Histogram::new(), errors: 0 };
    for t in tasks {
        let (b, d, e) = t.await.map_err(|e| format!("encrypt loop failed: {e}"))?;
        r.before.merge(&b);
        r.during.merge(&d);
        r.errors += e;
    }
    advanced.map_err(|e| format!("AdvanceClock (the server must run with --dev): {e}"))?;
    Ok(r)
}

fn latency_json(h: &Histogram) -> Value {
    json!({
        "requests": h.count(),
        "p50_ms": ms(h.quantile(0.5)),
        "p99_ms": ms(h.quantile(0.99)),
        "p99_9_ms": ms(h.quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

pub struct ScaleReport {
    pub json: Value,
    pub text: String,
}

pub async fn run(target: &Arc<Target>, label: &str, p: &ScaleParams) -> Result<ScaleReport, String> {
    let targets = match p.accounts {
        0 => vec![target.clone()],
        n => {
            eprintln!("scale: making {n} accounts, a user in each");
            make_accounts(target, p).await?
        }
    };
    eprintln!("scale: creating {} keys with {} connections in {} account(s)", p.keys, p.concurrency, targets.len());
    let created = create_keys(&targets, p).await?;
    let c = &created.result;
    // The last account's keys (all of them with one account).
    let listed = targets.last().unwrap_or(target);
    let mut conn = Conn::new(listed.clone());
    eprintln!("scale: listing every key (ListKeys, Limit {PAGE})");
    let walk = walk(&mut conn).await?;
    eprintln!("scale: measuring ListKeys at start, middle and end ({} calls each)", p.list_samples);
    let positions = sample(&mut conn, &walk, p.list_samples).await?;
    let pass = match p.rotation_pass {
        true => {
            eprintln!("scale: moving the clock {} days: the background job rotates every key", ROTATION_DAYS + 1);
            Some(rotation_pass(target).await?)
        }
        false => None,
    };

    let edge = walk.page_ns.len().min(10);
    let first_pages = mean_ms(&walk.page_ns[..edge]);
    let last_pages = mean_ms(&walk.page_ns[walk.page_ns.len() - edge..]);
    let start_p50 = positions.first().map_or(0.0, |p| ms(p.latency.quantile(0.5)));
    let end_p50 = positions.last().map_or(0.0, |p| ms(p.latency.quantile(0.5)));
    let flatness = if start_p50 > 0.0 { end_p50 / start_p50 } else { 0.0 };

    let mut text = format!(
        "# {label}: scale: {} keys requested, {} created, {} errors, {:.1} s{}\n",
        p.keys,
        c.ok,
        c.errors,
        created.seconds,
        match p.accounts {
            0 => String::new(),
            n => format!(", over {n} accounts (ListKeys in the last one)"),
        }
    );
    text.push_str(&format!(
        "CreateKey: {:.0} keys/s | latency p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms ({} connections)\n",
        c.ok as f64 / created.seconds.max(1e-9),
        ms(c.latency.quantile(0.5)),
        ms(c.latency.quantile(0.99)),
        ms(c.latency.quantile(0.999)),
        ms(c.latency.max()),
        p.concurrency
    ));
    let per_key = |cpu: Option<f64>| cpu.filter(|_| c.ok > 0).map(|s| s * 1e6 / c.ok as f64);
    let (server_us, commit_us) = (per_key(created.server_cpu), per_key(created.commit_cpu));
    if let Some(server_us) = server_us {
        text.push_str(&format!("CreateKey server CPU: {server_us:.1} us/key"));
        match commit_us.filter(|us| *us > 0.0) {
            Some(us) => text.push_str(&format!(", of which the store's commit thread {us:.1} us/key\n")),
            None => text.push('\n'),
        }
    }
    if let Some(e) = &c.first_error {
        text.push_str(&format!("first CreateKey error: {e}\n"));
    }
    text.push_str(&format!(
        "ListKeys walk: {} pages, {} keys in {:.1} s; mean page latency first {edge} pages {:.3} ms, last {edge} pages {:.3} ms\n",
        walk.pages, walk.keys, walk.seconds, first_pages, last_pages
    ));
    let mut rows =
        vec![vec!["ListKeys page".to_string(), "page #".into(), "p50 ms".into(), "p99 ms".into(), "max ms".into()]];
    for pos in &positions {
        rows.push(vec![
            pos.name.to_string(),
            pos.page.to_string(),
            format!("{:.3}", ms(pos.latency.quantile(0.5))),
            format!("{:.3}", ms(pos.latency.quantile(0.99))),
            format!("{:.3}", ms(pos.latency.max())),
        ]);
    }
    text.push_str(&align(&rows));
    text.push_str(&format!("end/start p50 ratio: {flatness:.2}\n"));
    if let Some(r) = &pass {
        text.push_str(&format!(
            "rotation pass: {} keys rotated in {:.1} s ({:.0} keys/s); Encrypt on another key ({PASS_CONNECTIONS} connections), {} errors:\n",
            c.ok,
            r.seconds,
            c.ok as f64 / r.seconds.max(1e-9),
            r.errors
        ));
        let mut rows = vec![vec![
            "Encrypt".to_string(),
            "requests".into(),
            "p50 ms".into(),
            "p99 ms".into(),
            "p99.9 ms".into(),
            "max ms".into(),
        ]];
        for (name, h) in [("before the pass", &r.before), ("during the pass", &r.during)] {
            rows.push(vec![
                name.to_string(),
                h.count().to_string(),
                format!("{:.3}", ms(h.quantile(0.5))),
                format!("{:.3}", ms(h.quantile(0.99))),
                format!("{:.3}", ms(h.quantile(0.999))),
                format!("{:.3}", ms(h.max())),
            ]);
        }
        text.push_str(&align(&rows));
    }

    let pass_json = pass.as_ref().map(|r| {
        json!({
            "keys": c.ok,
            "seconds": r.seconds,
            "encrypt_errors": r.errors,
            "encrypt_before": latency_json(&r.before),
            "encrypt_during": latency_json(&r.during),
        })
    });
    let json = json!({
        "mode": "scale",
        "rotation_pass": pass_json,
        "label": label,
        "endpoint": format!("http://{}", target.host.to_str().unwrap_or("")),
        "keys_requested": p.keys,
        "accounts": p.accounts,
        "concurrency": p.concurrency,
        "create": {
            "created": c.ok,
            "errors": c.errors,
            "first_error": c.first_error,
            "seconds": created.seconds,
            "keys_per_second": c.ok as f64 / created.seconds.max(1e-9),
            "server_cpu_us_per_key": server_us,
            "commit_thread_cpu_us_per_key": commit_us,
            "latency_ms": {
                "p50": ms(c.latency.quantile(0.5)),
                "p99": ms(c.latency.quantile(0.99)),
                "p99_9": ms(c.latency.quantile(0.999)),
                "max": ms(c.latency.max()),
            },
            "progress": created.progress,
        },
        "list": {
            "page_size": PAGE,
            "pages": walk.pages,
            "keys_listed": walk.keys,
            "walk_seconds": walk.seconds,
            "first_pages_mean_ms": first_pages,
            "last_pages_mean_ms": last_pages,
            "end_to_start_p50_ratio": flatness,
            "positions": positions.iter().map(|pos| json!({
                "position": pos.name,
                "page": pos.page,
                "samples": pos.latency.count(),
                "p50_ms": ms(pos.latency.quantile(0.5)),
                "p99_ms": ms(pos.latency.quantile(0.99)),
                "max_ms": ms(pos.latency.max()),
            })).collect::<Vec<_>>(),
        },
    });
    Ok(ScaleReport { json, text })
}
