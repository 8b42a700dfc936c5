//! Command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "kms-bench",
    about = "Closed-loop load generator for kms (or any AWS KMS endpoint, e.g. moto_server).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Closed-loop load per operation (the default).
    Load(LoadArgs),
    /// Create many keys, then measure ListKeys across the key space.
    Scale(ScaleArgs),
    /// A baseline, then 10x the connections for 30 s, then a normal run:
    /// successes, ThrottlingException and other errors counted apart, the
    /// server's memory and open files sampled (docs/PERFORMANCE.md, "Overload").
    Overload(OverloadArgs),
    /// List the known operations (* = in the default set).
    ListOps,
    /// The raw signing rate of aws-lc-rs outside the server: RSA-2048
    /// PKCS#1 v1.5 SHA-256 and ECDSA P-256 SHA-256 over a 32-byte message
    /// (what sign-rsa2048 and sign-p256 ask the server for), one thread per
    /// CPU (docs/PERFORMANCE.md, "Signing against raw aws-lc-rs").
    CryptoBaseline(CryptoArgs),
    /// Set up an operation (its key, its ciphertext) and write a wrk Lua
    /// script with its request signed once, now: valid for SigV4's 15
    /// minutes (docs/PERFORMANCE.md, "Replay and wrk").
    WrkScript(WrkArgs),
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Endpoint URL (http only).
    #[arg(long, default_value = "http://127.0.0.1:4599")]
    pub endpoint: String,
    /// Region to sign for.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Access key id (else --credentials-file, else AWS_ACCESS_KEY_ID).
    #[arg(long, requires = "secret_key")]
    pub access_key: Option<String>,
    /// Secret access key (else AWS_SECRET_ACCESS_KEY).
    #[arg(long, requires = "access_key")]
    pub secret_key: Option<String>,
    /// AWS shared-credentials file (INI), e.g. DATA_DIR/credentials.
    #[arg(long, conflicts_with = "access_key")]
    pub credentials_file: Option<PathBuf>,
    /// Profile in --credentials-file.
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Name of this run in the report (e.g. kms, moto).
    #[arg(long, default_value = "kms")]
    pub label: String,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Load-generator worker threads [default: number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value = "30", value_parser = seconds)]
    pub timeout: Duration,
    /// The server's process id, to report its CPU time per request (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent keep-alive connections (one task each).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured seconds per operation.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub duration: Duration,
    /// Unmeasured seconds before each operation's measurement.
    #[arg(long, default_value = "2", value_parser = seconds)]
    pub warmup: Duration,
    /// Comma-separated operations [default: every default operation; see list-ops].
    #[arg(long, value_delimiter = ',')]
    pub ops: Vec<String>,
    /// Run each operation this many times (one after the other) and report
    /// the run with the median req/s; every run's req/s is listed too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
    pub repeat: u32,
    /// Replay: each connection signs a pool of requests once, before the
    /// clock starts, and sends them as raw HTTP/1.1 bytes (signed again
    /// every 5 minutes): the load generator's cost per request almost
    /// removed. The server verifies every signature as usual.
    #[arg(long)]
    pub replay: bool,
    /// Requests in each connection's replay pool, signed one second apart
    /// (at most 300).
    #[arg(long, default_value_t = crate::replay::DEFAULT_POOL, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=300))]
    pub replay_pool: usize,
    /// Make the symmetric keys in an HSM key store: a custom key store on
    /// this configured cluster (`[[hsm_clusters]]`), created and connected
    /// in setup (docs/HSM.md).
    #[arg(long, requires = "hsm_pin")]
    pub hsm_cluster: Option<String>,
    /// The cluster token's user PIN (the store's KeyStorePassword).
    #[arg(long, requires = "hsm_cluster")]
    pub hsm_pin: Option<String>,
    /// Make the symmetric keys in an external key store (docs/XKS.md) on
    /// the XKS proxy at this XksProxyUriEndpoint (`https://<host>`),
    /// created and connected in setup, over the external keys of --xks-keys.
    #[arg(long, requires_all = ["xks_keys", "xks_access_key", "xks_secret"], conflicts_with = "hsm_cluster")]
    pub xks_endpoint: Option<String>,
    /// The store's XksProxyUriPath.
    #[arg(long, default_value = "/kms/xks/v1")]
    pub xks_path: String,
    /// The proxy's SigV4 credential.
    #[arg(long, requires = "xks_endpoint")]
    pub xks_access_key: Option<String>,
    #[arg(long, requires = "xks_endpoint")]
    pub xks_secret: Option<String>,
    /// Two external key ids at the proxy: the symmetric key's and the
    /// ReEncrypt destination key's.
    #[arg(long, value_delimiter = ',', requires = "xks_endpoint")]
    pub xks_keys: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Keys to create.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Concurrent CreateKey connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// ListKeys calls measured at each position (start, middle, end).
    #[arg(long, default_value_t = 200)]
    pub list_samples: usize,
    /// Spread the keys over N accounts: before creating keys, the
    /// benchmark's identity (an admin) creates a user `kms-bench-scale` in
    /// each of the accounts 200000000001, 200000000002, ... (operator API:
    /// `KmsAdmin.CreateUser`, then `KmsAdmin.PutUserPolicy` allowing
    /// `kms:*`), and key i is created as the user of account i mod N
    /// (every account gets its share). ListKeys is then measured in the last account. 0: every key
    /// in the benchmark identity's own account.
    #[arg(long, default_value_t = 0)]
    pub accounts: usize,
    /// Also enable rotation (90 days) on every key, then move the clock 91
    /// days (`KmsAdmin.AdvanceClock`: a `--dev` server) so that the
    /// background job rotates them all, measuring Encrypt meanwhile. Give a
    /// `--timeout` long enough for the whole pass.
    #[arg(long)]
    pub rotation_pass: bool,
}

#[derive(Args, Debug, Clone)]
pub struct OverloadArgs {
    #[command(flatten)]
    pub common: Common,
    /// The operation (see list-ops).
    #[arg(long, default_value = "encrypt-32")]
    pub op: String,
    /// Connections of the baseline and of the run after the overload: the
    /// load the server is measured at (the load run's default, which
    /// already keeps both cores busy).
    #[arg(long, default_value_t = 64)]
    pub baseline_connections: usize,
    /// Connections of the overload run [default: 10x --baseline-connections].
    #[arg(long)]
    pub connections: Option<usize>,
    /// Seconds of the overload run, measured from its first request (no warm-up).
    #[arg(long, default_value = "30", value_parser = seconds)]
    pub duration: Duration,
    /// Measured seconds of the baseline and of the run after the overload.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub baseline_duration: Duration,
    /// Unmeasured seconds before the baseline and before the run after.
    #[arg(long, default_value = "2", value_parser = seconds)]
    pub warmup: Duration,
    /// Mean seconds a connection waits after a ThrottlingException before
    /// its next request, drawn from [0, 2 x this] (an SDK backs off with
    /// jitter, more than this; 0: at once, the hardest load).
    #[arg(long, default_value = "0.1", value_parser = seconds)]
    pub throttle_pause: Duration,
    /// Seconds between samples of the server's memory, open files and /metrics.
    #[arg(long, default_value = "0.25", value_parser = seconds)]
    pub sample_every: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct CryptoArgs {
    /// Measured seconds per algorithm.
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub duration: Duration,
    /// Signing threads [default: number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct WrkArgs {
    #[command(flatten)]
    pub common: Common,
    /// The operation (see list-ops).
    #[arg(long)]
    pub op: String,
    /// Where to write the script.
    #[arg(long)]
    pub out: PathBuf,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|e| format!("'{s}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_subcommands() {
        let cli = Cli::try_parse_from(["kms-bench"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.load.connections, 64);
        assert_eq!(cli.load.duration, Duration::from_secs(10));
        let cli = Cli::try_parse_from(["kms-bench", "--ops", "encrypt-32,health", "--duration", "0.5"]).unwrap();
        assert_eq!(cli.load.ops, ["encrypt-32", "health"]);
        assert_eq!(cli.load.duration, Duration::from_millis(500));
        assert_eq!(cli.load.repeat, 1);
        assert!(Cli::try_parse_from(["kms-bench", "--repeat", "0"]).is_err());
        let cli = Cli::try_parse_from(["kms-bench", "scale", "--keys", "10"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Scale(ScaleArgs { keys: 10, .. }))));
        assert!(Cli::try_parse_from(["kms-bench", "--access-key", "a"]).is_err());
        let cli = Cli::try_parse_from(["kms-bench", "overload"]).unwrap();
        let Some(Command::Overload(o)) = cli.command else { panic!("not the overload run") };
        assert_eq!((o.op.as_str(), o.baseline_connections, o.connections), ("encrypt-32", 64, None));
        assert_eq!((o.duration, o.throttle_pause), (Duration::from_secs(30), Duration::from_millis(100)));
        let cli = Cli::try_parse_from(["kms-bench", "overload", "--throttle-pause", "0"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Overload(OverloadArgs { throttle_pause: Duration::ZERO, .. }))));
        assert!(!Cli::try_parse_from(["kms-bench"]).unwrap().load.replay);
        let cli = Cli::try_parse_from(["kms-bench", "--replay", "--replay-pool", "10"]).unwrap();
        assert!(cli.load.replay && cli.load.replay_pool == 10);
        assert!(Cli::try_parse_from(["kms-bench", "--replay", "--replay-pool", "301"]).is_err());
        let cli = Cli::try_parse_from(["kms-bench", "crypto-baseline", "--duration", "1"]).unwrap();
        assert!(matches!(cli.command, Some(Command::CryptoBaseline(CryptoArgs { threads: None, .. }))));
        assert!(Cli::try_parse_from(["kms-bench", "wrk-script", "--op", "encrypt-32"]).is_err());
    }
}
