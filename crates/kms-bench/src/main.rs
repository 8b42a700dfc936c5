//! kms-bench: a closed-loop load generator and scale run for kms, usable
//! against any AWS KMS endpoint (moto_server for the side-by-side run).
//! `scripts/bench.sh` drives it; see docs/PERFORMANCE.md.

mod cli;
mod client;
mod crypto;
mod hist;
mod load;
mod ops;
mod overload;
mod procstat;
mod replay;
mod report;
mod scale;
mod wrk;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use cli::{Cli, Command, Common, CryptoArgs, LoadArgs, OverloadArgs, ScaleArgs, WrkArgs};
use client::{Conn, Target};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_load(cli.load),
        Some(Command::Load(args)) => run_load(args),
        Some(Command::Scale(args)) => run_scale(args),
        Some(Command::Overload(args)) => run_overload(args),
        Some(Command::CryptoBaseline(args)) => run_crypto(args),
        Some(Command::WrkScript(args)) => run_wrk_script(args),
        Some(Command::ListOps) => {
            list_ops();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list_ops() {
    for op in ops::OPS {
        let mark = if op.default { "*" } else { " " };
        println!("{mark} {}", op.name);
    }
}

fn threads(c: &Common) -> usize {
    c.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
}

fn runtime(c: &Common) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads(c))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn credentials(c: &Common) -> Result<(String, String), String> {
    if let (Some(ak), Some(sk)) = (&c.access_key, &c.secret_key) {
        return Ok((ak.clone(), sk.clone()));
    }
    if let Some(path) = &c.credentials_file {
        return client::read_credentials_file(path, &c.profile);
    }
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(ak), Some(sk)) => Ok((ak, sk)),
        _ => Err("no credentials: pass --access-key/--secret-key or --credentials-file, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into()),
    }
}

async fn target(c: &Common) -> Result<Arc<Target>, String> {
    let (ak, sk) = credentials(c)?;
    Target::new(&c.endpoint, &c.region, ak, sk, c.timeout).await
}

fn write_json(c: &Common, value: &serde_json::Value) -> Result<(), String> {
    write_json_to(c.json.as_deref(), value)
}

fn write_json_to(path: Option<&std::path::Path>, value: &serde_json::Value) -> Result<(), String> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The target, and each operation's request.
type Prepared = (Arc<Target>, Vec<(&'static str, client::Call)>);

/// The target, and the requests of operations `names` with their keys and
/// ciphertexts created: on a runtime of its own (the load threads run
/// their own runtimes).
fn setup(
    common: &Common,
    names: &[String],
    hsm: Option<(&str, &str)>,
    xks: Option<ops::XksBench>,
) -> Result<Prepared, String> {
    let specs = names
        .iter()
        .map(|n| ops::find(n).ok_or_else(|| format!("unknown operation '{n}'; known: {}", ops::all_names().join(", "))))
        .collect::<Result<Vec<_>, _>>()?;
    runtime(common)?.block_on(async {
        let target = target(common).await?;
        let mut setup = ops::Setup::new(Conn::new(target.clone()));
        if let Some((cluster, pin)) = hsm {
            setup.use_hsm(cluster, pin).await?;
        }
        if let Some(x) = xks {
            setup.use_xks(x).await?;
        }
        let mut calls = Vec::with_capacity(specs.len());
        for spec in &specs {
            let call = setup.prepare(spec).await.map_err(|e| format!("setup for {}: {e}", spec.name))?;
            calls.push((spec.name, call));
        }
        Ok::<_, String>((target, calls))
    })
}

fn run_load(args: LoadArgs) -> Result<(), String> {
    let names: Vec<String> = match args.ops.is_empty() {
        true => ops::default_names().iter().map(|s| s.to_string()).collect(),
        false => args.ops.clone(),
    };
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let hsm = args.hsm_cluster.as_deref().zip(args.hsm_pin.as_deref());
    let xks = args.xks_endpoint.clone().map(|endpoint| ops::XksBench {
        endpoint,
        path: args.xks_path.clone(),
        access_key: args.xks_access_key.clone().unwrap_or_default(),
        secret: args.xks_secret.clone().unwrap_or_default(),
        keys: args.xks_keys.clone(),
    });
    let (target, calls) = setup(&args.common, &names, hsm, xks)?;
    let params = load::LoadParams {
        connections: args.connections,
        threads: threads(&args.common),
        warmup: args.warmup,
        duration: args.duration,
        server_pid: args.common.server_pid,
        // As after any other error.
        throttle_pause: load::ERROR_PAUSE,
        replay: args.replay.then_some(args.replay_pool),
    };
    let mut results = Vec::with_capacity(calls.len());
    for (name, call) in calls {
        eprintln!(
            "{}: {name}: {} connections, {:.1} s warm-up + {:.1} s, {} run(s){}",
            args.common.label,
            args.connections,
            args.warmup.as_secs_f64(),
            args.duration.as_secs_f64(),
            args.repeat,
            if args.replay { ", replayed" } else { "" }
        );
        results.push(load::run_repeated(&target, name, &call, &params, args.repeat as usize)?);
    }
    let info = report::RunInfo {
        label: args.common.label.clone(),
        endpoint: args.common.endpoint.clone(),
        connections: args.connections,
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        client_threads: params.threads,
        generator: match args.replay {
            true => format!("replay (pool of {} per connection)", args.replay_pool),
            false => "signing".into(),
        },
    };
    print!("{}", report::table(&info, &results));
    write_json(&args.common, &report::json(&info, &results))
}

fn run_crypto(args: CryptoArgs) -> Result<(), String> {
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    eprintln!("crypto-baseline: {threads} thread(s), {:.1} s per algorithm", args.duration.as_secs_f64());
    let results = crypto::run(threads, args.duration)?;
    print!("{}", crypto::table(&results));
    write_json_to(args.json.as_deref(), &crypto::json(&results))
}

fn run_wrk_script(args: WrkArgs) -> Result<(), String> {
    let (target, calls) = setup(&args.common, std::slice::from_ref(&args.op), None, None)?;
    let (name, call) = calls.into_iter().next().ok_or("no operation")?;
    let text = wrk::script(&target, name, &call, client::now_epoch_secs())?;
    std::fs::write(&args.out, text).map_err(|e| format!("cannot write {}: {e}", args.out.display()))
}

fn run_scale(args: ScaleArgs) -> Result<(), String> {
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let rt = runtime(&args.common)?;
    rt.block_on(async {
        let target = target(&args.common).await?;
        let params = scale::ScaleParams {
            keys: args.keys,
            concurrency: args.concurrency,
            list_samples: args.list_samples,
            accounts: args.accounts,
            region: args.common.region.clone(),
            rotation_pass: args.rotation_pass,
            server_pid: args.common.server_pid,
        };
        let report = scale::run(&target, &args.common.label, &params).await?;
        print!("{}", report.text);
        write_json(&args.common, &report.json)
    })
}

fn run_overload(args: OverloadArgs) -> Result<(), String> {
    if args.baseline_connections == 0 || args.connections == Some(0) {
        return Err("--baseline-connections and --connections must be at least 1".into());
    }
    let (target, calls) = setup(&args.common, std::slice::from_ref(&args.op), None, None)?;
    let (name, call) = calls.into_iter().next().ok_or("no operation")?;
    let params = overload::OverloadParams {
        label: args.common.label.clone(),
        endpoint: args.common.endpoint.clone(),
        op: name,
        baseline_connections: args.baseline_connections,
        connections: args.connections.unwrap_or(10 * args.baseline_connections),
        duration: args.duration,
        baseline_duration: args.baseline_duration,
        warmup: args.warmup,
        throttle_pause: args.throttle_pause,
        sample_every: args.sample_every,
        threads: threads(&args.common),
        server_pid: args.common.server_pid,
        server_op: match call {
            client::Call::Kms { ref target, .. } => {
                target.to_str().ok().and_then(|t| t.rsplit('.').next()).map(String::from)
            }
            client::Call::Get(_) => None,
        },
    };
    let report = overload::run(&target, call, &params)?;
    print!("{}", report.text);
    write_json(&args.common, &report.json)
}
