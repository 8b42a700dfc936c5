//! Configuration: one TOML file (unknown keys rejected), overridden by
//! command-line flags, validated into [`Config`] before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "./kms-data";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT: &str = "111122223333";
pub const DEV_ACCOUNT: &str = "000000000000";
/// Environment variable holding the root key (base64 of 32 bytes).
pub const ROOT_KEY_ENV: &str = "KMS_ROOT_KEY";

/// The file format. Every field is optional; see `kms.example.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Where the records are: unset, the embedded database in the data
    /// directory; `postgres://...`, PostgreSQL (docs/STORAGE.md).
    pub store: Option<String>,
    pub region: Option<String>,
    /// Every region served (the default: `region` only).
    pub regions: Option<Vec<String>>,
    pub partition: Option<String>,
    pub default_account: Option<String>,
    pub admin_user: Option<String>,
    pub root_key_file: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub tls: Option<TlsFileConfig>,
    pub audit: Option<AuditFileConfig>,
    pub deletion: Option<DeletionFileConfig>,
    pub peers: Option<PeersFileConfig>,
    pub quotas: Option<QuotasFileConfig>,
    /// Requests handled at once; more are answered `ThrottlingException` at once.
    pub max_in_flight: Option<usize>,
    /// Connections open at once; more are closed at once.
    pub max_connections: Option<usize>,
    /// Seed file (docs/SEEDS.md).
    pub seed: Option<PathBuf>,
    /// How the root key is protected (docs/ROOT-KEY.md).
    pub root_key: Option<RootKeyFileConfig>,
    /// The HSM clusters custom key stores may use (docs/HSM.md).
    pub hsm_clusters: Option<Vec<HsmClusterFileConfig>>,
    /// The web console (docs/CONSOLE.md).
    pub console: Option<ConsoleFileConfig>,
    /// The client of XKS proxies, for external key stores (docs/XKS.md).
    pub xks: Option<XksFileConfig>,
}

/// `[xks]`: how the server reaches the XKS proxies of external key stores.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XksFileConfig {
    /// The CA certificates (PEM) the proxies' certificates must chain to.
    pub ca_file: PathBuf,
    /// Host names of XksProxyUriEndpoint reached at another address than
    /// `<host>:443`, e.g. `{ "xks.example.com" = "127.0.0.1:8443" }`.
    #[serde(default)]
    pub resolve: std::collections::BTreeMap<String, String>,
    /// A client certificate and key (PEM) for proxies that require mTLS.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// `[xks]`, validated.
#[derive(Debug, Clone)]
pub struct XksConfig {
    pub ca_file: PathBuf,
    pub resolve: std::collections::HashMap<String, std::net::SocketAddr>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// `[[hsm_clusters]]`: a PKCS#11 token that `AWS_CLOUDHSM` custom key
/// stores name by `CloudHsmClusterId`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmClusterFileConfig {
    /// The `CloudHsmClusterId`: `cluster-` and 11 to 16 of [2-7a-zA-Z].
    pub id: String,
    /// The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: PathBuf,
    pub token_label: String,
    /// The PEM certificate `TrustAnchorCertificate` must be [default: any].
    pub trust_anchor_file: Option<PathBuf>,
}

impl HsmClusterFileConfig {
    fn validate(self) -> Result<kms_hsm::ClusterConfig, String> {
        let rest = self.id.strip_prefix("cluster-").unwrap_or("");
        if !(11..=16).contains(&rest.len())
            || !rest.bytes().all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
        {
            return Err(format!("hsm_clusters.id '{}': must be cluster- and 11 to 16 of [2-7a-zA-Z]", self.id));
        }
        if self.token_label.is_empty() || self.token_label.len() > 32 {
            return Err(format!("hsm_clusters '{}': token_label must be 1 to 32 characters", self.id));
        }
        let trust_anchor = self
            .trust_anchor_file
            .map(|f| {
                std::fs::read_to_string(&f).map_err(|e| format!("hsm_clusters.trust_anchor_file {}: {e}", f.display()))
            })
            .transpose()?;
        Ok(kms_hsm::ClusterConfig { id: self.id, module: self.module, token_label: self.token_label, trust_anchor })
    }
}

/// `[console]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleFileConfig {
    /// Unset: on when the listener is on loopback, off otherwise.
    pub enabled: Option<bool>,
    pub idle_timeout_secs: Option<u64>,
    pub absolute_timeout_secs: Option<u64>,
}

/// The validated console settings.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute_timeout: Duration,
}

impl ConsoleFileConfig {
    fn validate(self, listen: &SocketAddr) -> Result<ConsoleSettings, String> {
        let idle = self.idle_timeout_secs.unwrap_or(15 * 60);
        if !(60..=24 * 3600).contains(&idle) {
            return Err("console.idle_timeout_secs: must be between 60 and 86400".into());
        }
        let absolute = self.absolute_timeout_secs.unwrap_or(8 * 3600);
        if !(idle..=7 * 24 * 3600).contains(&absolute) {
            return Err("console.absolute_timeout_secs: must be at least idle_timeout_secs and at most 604800".into());
        }
        Ok(ConsoleSettings {
            enabled: self.enabled.unwrap_or(listen.ip().is_loopback()),
            idle_timeout: Duration::from_secs(idle),
            absolute_timeout: Duration::from_secs(absolute),
        })
    }
}

/// `[root_key]`: at most one of its tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKeyFileConfig {
    /// The root key wrapped by a key of another AWS-KMS-compatible service.
    pub kms: Option<RootKmsFileConfig>,
    /// The root key wrapped by a key in a PKCS#11 token.
    pub pkcs11: Option<RootPkcs11FileConfig>,
}

/// Environment variable holding the PKCS#11 token's user PIN.
pub const PKCS11_PIN_ENV: &str = "KMS_PKCS11_PIN";

/// `[root_key.pkcs11]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootPkcs11FileConfig {
    /// The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: PathBuf,
    pub token_label: String,
    /// The AES key in the token [default: kms-root-key; made on first start].
    pub key_label: Option<String>,
    /// A file holding the user PIN [default: the KMS_PKCS11_PIN variable].
    pub pin_file: Option<PathBuf>,
}

impl RootKeyFileConfig {
    pub fn validate(self) -> Result<Option<crate::root::Wrapper>, String> {
        match (self.kms, self.pkcs11) {
            (Some(_), Some(_)) => Err("root_key: set [root_key.kms] or [root_key.pkcs11], not both".into()),
            (Some(k), None) => k.validate().map(|k| Some(crate::root::Wrapper::Kms(k))),
            (None, Some(t)) => t.validate().map(|t| Some(crate::root::Wrapper::Pkcs11(t))),
            (None, None) => Ok(None),
        }
    }
}

impl RootPkcs11FileConfig {
    pub fn validate(self) -> Result<kms_hsm::TokenConfig, String> {
        if self.token_label.is_empty() || self.token_label.len() > 32 {
            return Err("root_key.pkcs11.token_label: must be 1 to 32 characters".into());
        }
        let pin = match (&self.pin_file, std::env::var(PKCS11_PIN_ENV)) {
            (_, Ok(pin)) => pin,
            (Some(f), Err(_)) => std::fs::read_to_string(f)
                .map_err(|e| format!("root_key.pkcs11.pin_file {}: {e}", f.display()))?
                .trim()
                .to_string(),
            (None, Err(_)) => {
                return Err(format!("[root_key.pkcs11] needs the token's PIN: pin_file or {PKCS11_PIN_ENV}"))
            }
        };
        Ok(kms_hsm::TokenConfig {
            module: self.module,
            token_label: self.token_label,
            key_label: self.key_label.unwrap_or_else(|| "kms-root-key".into()),
            pin: std::sync::Arc::new(kms_core::crypto::SecretString::new(pin)),
        })
    }
}

/// `[root_key.kms]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKmsFileConfig {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// A symmetric encryption key of that service (id, ARN or alias).
    pub key_id: String,
    /// The region to sign for [default: the key ARN's, else us-east-1].
    pub region: Option<String>,
    /// PEM CA certificates for an `https://` endpoint.
    pub ca_file: Option<PathBuf>,
    /// An AWS shared-credentials file [default: the AWS environment
    /// variables, then ~/.aws/credentials].
    pub credentials_file: Option<PathBuf>,
    pub profile: Option<String>,
}

/// `[root_key.kms]`, validated.
#[derive(Debug, Clone)]
pub struct RootKms {
    pub endpoint: String,
    pub region: String,
    pub key_id: String,
    pub ca_file: Option<PathBuf>,
    pub credentials_file: Option<PathBuf>,
    pub profile: Option<String>,
}

impl RootKmsFileConfig {
    pub fn validate(self) -> Result<RootKms, String> {
        let uri: http::Uri =
            self.endpoint.parse().map_err(|_| format!("root_key.kms.endpoint: '{}' is not a URL", self.endpoint))?;
        match (uri.scheme_str(), uri.authority(), &self.ca_file) {
            (Some("http"), Some(_), _) | (Some("https"), Some(_), Some(_)) => {}
            (Some("https"), Some(_), None) => return Err("root_key.kms: an https endpoint needs ca_file".into()),
            _ => {
                return Err(format!(
                    "root_key.kms.endpoint: '{}' must be http://host:port or https://host:port",
                    self.endpoint
                ))
            }
        }
        if self.key_id.is_empty() {
            return Err("root_key.kms.key_id: must not be empty".into());
        }
        let from_arn = self.key_id.strip_prefix("arn:").and_then(|a| a.split(':').nth(2)).map(str::to_string);
        let region = self.region.or(from_arn).unwrap_or_else(|| DEFAULT_REGION.into());
        if !is_region(&region) {
            return Err(format!("root_key.kms.region: '{region}' is not a region name"));
        }
        Ok(RootKms {
            endpoint: self.endpoint,
            region,
            key_id: self.key_id,
            ca_file: self.ca_file,
            credentials_file: self.credentials_file,
            profile: self.profile,
        })
    }
}

/// `[quotas]`: request quotas (docs/QUOTAS.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasFileConfig {
    /// `"aws"`: AWS's default request quotas; `"none"` (the default): only
    /// the rates set below.
    pub preset: Option<String>,
    /// Quota name -> requests per second, for every account.
    #[serde(default)]
    pub rates: std::collections::BTreeMap<String, f64>,
    /// Account id -> quota name -> requests per second.
    #[serde(default)]
    pub accounts: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
    /// Most KMS keys per account and region (the AWS preset: 100000).
    pub keys_per_account: Option<u64>,
    /// Most aliases per key (AWS: 50).
    pub aliases_per_key: Option<usize>,
    /// Most grants per key (AWS: 50000).
    pub grants_per_key: Option<usize>,
    /// Largest key policy in bytes (AWS: 32768; at most the model's 131072).
    pub key_policy_bytes: Option<usize>,
}

fn quotas(file: QuotasFileConfig) -> Result<kms_core::quota::QuotaConfig, String> {
    use kms_core::quota::{QuotaClass, QuotaConfig};
    let aws_preset = match file.preset.as_deref().unwrap_or("none") {
        "aws" => true,
        "none" => false,
        other => return Err(format!("quotas.preset: '{other}' is not \"aws\" or \"none\"")),
    };
    let table = |at: &str, m: std::collections::BTreeMap<String, f64>| {
        m.into_iter()
            .map(|(name, rate)| {
                let class = QuotaClass::parse(&name).ok_or_else(|| {
                    format!("{at}: '{name}' is not a quota (cryptographic-symmetric, cryptographic-rsa, cryptographic-ecc, cryptographic-ml-dsa, cryptographic-ml-kem, GenerateDataKeyPair-<spec>, or a control-plane operation such as CreateKey)")
                })?;
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(format!("{at}.{name}: must be a number of requests per second above 0"));
                }
                Ok((class, rate))
            })
            .collect::<Result<std::collections::HashMap<_, _>, String>>()
    };
    if file.keys_per_account == Some(0) {
        return Err("quotas.keys_per_account: must be at least 1".into());
    }
    for (name, v, max) in [
        ("aliases_per_key", file.aliases_per_key, 1_000_000),
        ("grants_per_key", file.grants_per_key, 1_000_000),
        ("key_policy_bytes", file.key_policy_bytes, 131_072),
    ] {
        if v.is_some_and(|n| !(1..=max).contains(&n)) {
            return Err(format!("quotas.{name}: must be between 1 and {max}"));
        }
    }
    let mut cfg = QuotaConfig {
        aws_preset,
        rates: table("quotas.rates", file.rates)?,
        keys_per_account: file.keys_per_account,
        aliases_per_key: file.aliases_per_key,
        grants_per_key: file.grants_per_key,
        key_policy_bytes: file.key_policy_bytes,
        ..Default::default()
    };
    for (account, m) in file.accounts {
        if !kms_core::ids::is_account_id(&account) {
            return Err(format!("quotas.accounts: '{account}' is not a 12-digit account id"));
        }
        let rates = table(&format!("quotas.accounts.{account}"), m)?;
        cfg.accounts.insert(account, rates);
    }
    Ok(cfg)
}

/// Requests in flight per core by default (`max_in_flight`).
pub const IN_FLIGHT_PER_CORE: usize = 64;

/// `[peers]`: other servers, each serving other regions, that multi-Region
/// keys replicate to (docs/REGIONS.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersFileConfig {
    /// The deployment's shared peer secret (at least 32 characters; the
    /// `KMS_PEER_SECRET` environment variable takes precedence).
    pub secret_file: Option<PathBuf>,
    /// PEM CA certificates that `https://` peers' certificates chain to.
    pub ca_file: Option<PathBuf>,
    /// Seconds a call to a peer may take.
    pub timeout_secs: Option<u64>,
    /// Region -> endpoint (`http://host:port` or `https://host:port`).
    #[serde(default)]
    pub regions: std::collections::BTreeMap<String, String>,
}

/// Environment variable holding the peer secret.
pub const PEER_SECRET_ENV: &str = "KMS_PEER_SECRET";
/// The shortest peer secret accepted.
pub const MIN_PEER_SECRET_LEN: usize = 32;

/// The validated `[peers]` table.
#[derive(Debug, Clone)]
pub struct PeersConfig {
    pub secret_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    /// Region -> endpoint URI.
    pub endpoints: std::collections::BTreeMap<String, http::Uri>,
}

/// `[deletion]`: safe deletion, beyond AWS (docs/OPERATIONS.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionFileConfig {
    /// ScheduleKeyDeletion refuses a key used within this many days unless
    /// it is tagged `kms-allow-deletion-in-use=true`; 0 (the default) is
    /// AWS's behaviour.
    pub refuse_if_used_within_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFileConfig {
    pub dir: Option<PathBuf>,
    pub fail_open: Option<bool>,
    pub max_file_mb: Option<u64>,
    pub max_file_age_secs: Option<u64>,
    pub digest_interval_secs: Option<u64>,
    pub retention_days: Option<u64>,
    pub commit_delay_us: Option<u64>,
}

/// How long the audit writer may wait for more concurrent events before a
/// write+fsync (group commit).
pub const DEFAULT_COMMIT_DELAY_US: u64 = 300;

/// The validated audit settings.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `None`: `<data_dir>/audit` (or a temporary directory with `--dev`).
    pub dir: Option<PathBuf>,
    pub fail_open: bool,
    pub max_file_bytes: u64,
    pub max_file_age: Duration,
    pub digest_interval: Duration,
    pub retention: Option<Duration>,
    pub commit_delay: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Where the storage lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// The embedded database under a data directory.
    DataDir(PathBuf),
    /// `--dev`: in memory, gone when the process ends.
    Ephemeral,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub storage: Storage,
    /// `Some`: the records are in PostgreSQL; the data directory still
    /// holds the root key, the bootstrap credentials and the audit trail.
    pub store: Option<kms_store::PgConfig>,
    /// The default region: the first served, and the one a data directory
    /// made before regions existed holds its keys in.
    pub region: String,
    /// Every region served (`region` first); with `dev`, any well-formed
    /// region is served besides.
    pub regions: Vec<String>,
    pub peers: Option<PeersConfig>,
    pub quotas: kms_core::quota::QuotaConfig,
    pub max_in_flight: usize,
    /// `None`: 16 per `max_in_flight`, within the open-files limit.
    pub max_connections: Option<usize>,
    pub partition: String,
    pub default_account: String,
    pub admin_user: String,
    pub root_key_file: Option<PathBuf>,
    /// What wraps the root key (`[root_key.kms]` or `[root_key.pkcs11]`).
    pub root_wrapper: Option<crate::root::Wrapper>,
    pub max_body_bytes: usize,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub audit: AuditSettings,
    /// Safe deletion: 0 is off.
    pub deletion_guard_days: u32,
    pub dev: bool,
    /// Users, roles and keys created at start (docs/SEEDS.md).
    pub seed_file: Option<PathBuf>,
    /// The HSM clusters of custom key stores.
    pub hsm_clusters: Vec<kms_hsm::ClusterConfig>,
    pub console: ConsoleSettings,
    /// `[xks]`: the CA file and the addresses of proxy hosts.
    pub xks: Option<XksConfig>,
}

/// Command-line overrides of `kms serve`.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub default_account: Option<String>,
    pub root_key_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub dev: bool,
    pub seed_file: Option<PathBuf>,
    /// `--no-console`: the console is off whatever the file says.
    pub no_console: bool,
}

pub fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| format!("invalid configuration: {e}"))
}

fn is_region(s: &str) -> bool {
    s.len() <= 32 && kms_core::service::regions::is_region_name(s)
}

fn is_partition(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn peers(file: PeersFileConfig, served: &[String]) -> Result<PeersConfig, String> {
    let mut endpoints = std::collections::BTreeMap::new();
    for (region, url) in file.regions {
        if !is_region(&region) {
            return Err(format!("peers.regions: '{region}' is not a region name"));
        }
        if served.contains(&region) {
            return Err(format!("peers.regions: {region} is served by this server itself"));
        }
        let uri: http::Uri = url.parse().map_err(|_| format!("peers.regions.{region}: '{url}' is not a URL"))?;
        match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(_)) => {}
            (Some("https"), Some(_)) if file.ca_file.is_some() => {}
            (Some("https"), Some(_)) => return Err(format!("peers.regions.{region}: https peers need peers.ca_file")),
            _ => return Err(format!("peers.regions.{region}: '{url}' must be http://host:port or https://host:port")),
        }
        endpoints.insert(region, uri);
    }
    let timeout = match file.timeout_secs.unwrap_or(5) {
        n @ 1..=60 => Duration::from_secs(n),
        _ => return Err("peers.timeout_secs: must be between 1 and 60".into()),
    };
    Ok(PeersConfig { secret_file: file.secret_file, ca_file: file.ca_file, timeout, endpoints })
}

impl Config {
    /// Build and validate the configuration from an optional file and flags.
    pub fn load(o: &Overrides) -> Result<Config, String> {
        let file = match &o.config_file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                parse_file(&text)?
            }
            None => FileConfig::default(),
        };
        Self::build(file, o)
    }

    pub fn build(file: FileConfig, o: &Overrides) -> Result<Config, String> {
        let listen_s = o.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr =
            listen_s.parse().map_err(|_| format!("listen: '{listen_s}' is not an address:port"))?;
        let listed = file.regions.unwrap_or_default();
        let region = o
            .region
            .clone()
            .or(file.region)
            .or_else(|| listed.first().cloned())
            .unwrap_or_else(|| DEFAULT_REGION.into());
        let mut regions = vec![region.clone()];
        for r in listed {
            if !regions.contains(&r) {
                regions.push(r);
            }
        }
        if let Some(bad) = regions.iter().find(|r| !is_region(r)) {
            return Err(format!("region: '{bad}' is not a region name (like us-east-1)"));
        }
        let peers = file.peers.map(|p| peers(p, &regions)).transpose()?;
        let quotas = quotas(file.quotas.unwrap_or_default())?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let max_in_flight = file.max_in_flight.unwrap_or(IN_FLIGHT_PER_CORE * cores);
        if !(1..=1_000_000).contains(&max_in_flight) {
            return Err("max_in_flight: must be between 1 and 1000000".into());
        }
        if file.max_connections.is_some_and(|n| !(1..=10_000_000).contains(&n)) {
            return Err("max_connections: must be between 1 and 10000000".into());
        }
        let partition = file.partition.unwrap_or_else(|| "aws".into());
        if !is_partition(&partition) {
            return Err(format!("partition: '{partition}' is not a partition name"));
        }
        let default_account = if o.dev {
            DEV_ACCOUNT.to_string()
        } else {
            o.default_account.clone().or(file.default_account).unwrap_or_else(|| DEFAULT_ACCOUNT.into())
        };
        if !kms_core::ids::is_account_id(&default_account) {
            return Err(format!("default_account: '{default_account}' is not a 12-digit account id"));
        }
        let admin_user = file.admin_user.unwrap_or_else(|| "admin".into());
        if !kms_core::identity::is_user_name(&admin_user) {
            return Err(format!("admin_user: '{admin_user}' is not a valid user name"));
        }
        let max_body_bytes = file.max_body_bytes.unwrap_or(kms_api::DEFAULT_MAX_BODY);
        if !(64 * 1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err("max_body_bytes: must be between 65536 and 67108864".into());
        }
        let tls = match (o.tls_cert.clone(), o.tls_key.clone(), file.tls) {
            (Some(c), Some(k), _) => Some((c, k)),
            (None, None, Some(t)) => Some((t.cert_file, t.key_file)),
            (None, None, None) => None,
            _ => return Err("TLS needs both a certificate and a key".into()),
        };
        let a = file.audit.unwrap_or_default();
        let secs = |v: Option<u64>, default: u64, name: &str| -> Result<Duration, String> {
            match v.unwrap_or(default) {
                0 => Err(format!("audit.{name}: must be greater than 0")),
                n => Ok(Duration::from_secs(n)),
            }
        };
        let audit = AuditSettings {
            dir: a.dir,
            fail_open: a.fail_open.unwrap_or(false),
            max_file_bytes: a.max_file_mb.unwrap_or(64).max(1) * 1024 * 1024,
            max_file_age: secs(a.max_file_age_secs, 3600, "max_file_age_secs")?,
            digest_interval: secs(a.digest_interval_secs, 60, "digest_interval_secs")?,
            retention: a.retention_days.filter(|d| *d > 0).map(|d| Duration::from_secs(d * 86400)),
            commit_delay: match a.commit_delay_us.unwrap_or(DEFAULT_COMMIT_DELAY_US) {
                n if n > 100_000 => return Err("audit.commit_delay_us: must be at most 100000 (100 ms)".into()),
                n => Duration::from_micros(n),
            },
        };
        let deletion_guard_days = file.deletion.and_then(|d| d.refuse_if_used_within_days).unwrap_or(0);
        if deletion_guard_days > 3650 {
            return Err("deletion.refuse_if_used_within_days: must be at most 3650".into());
        }
        let mut console = file.console.unwrap_or_default().validate(&listen)?;
        if o.no_console {
            console.enabled = false;
        }
        let root_wrapper = file.root_key.map(RootKeyFileConfig::validate).transpose()?.flatten();
        let hsm_clusters: Vec<kms_hsm::ClusterConfig> = file
            .hsm_clusters
            .unwrap_or_default()
            .into_iter()
            .map(HsmClusterFileConfig::validate)
            .collect::<Result<_, _>>()?;
        for (i, c) in hsm_clusters.iter().enumerate() {
            if hsm_clusters[..i].iter().any(|d| d.id == c.id) {
                return Err(format!("hsm_clusters: cluster {} is listed twice", c.id));
            }
        }
        let xks = match file.xks {
            None => None,
            Some(x) => {
                let mut resolve = std::collections::HashMap::new();
                for (host, addr) in x.resolve {
                    let a = addr.parse().map_err(|_| format!("xks.resolve.{host}: '{addr}' is not an address:port"))?;
                    resolve.insert(host, a);
                }
                let client_cert = match (x.client_cert_file, x.client_key_file) {
                    (Some(c), Some(k)) => Some((c, k)),
                    (None, None) => None,
                    _ => return Err("xks: client_cert_file and client_key_file go together".into()),
                };
                Some(XksConfig { ca_file: x.ca_file, resolve, client_cert })
            }
        };
        let store = match file.store {
            None => None,
            Some(_) if o.dev => return Err("store: --dev keeps every record in memory; leave store unset".into()),
            Some(url) => Some(kms_store::PgConfig::parse(&url).map_err(|e| format!("store: {e}"))?),
        };
        let storage = if o.dev {
            Storage::Ephemeral
        } else {
            Storage::DataDir(o.data_dir.clone().or(file.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.into()))
        };
        Ok(Config {
            listen,
            storage,
            store,
            region,
            regions,
            peers,
            quotas,
            max_in_flight,
            max_connections: file.max_connections,
            partition,
            default_account,
            admin_user,
            root_key_file: o.root_key_file.clone().or(file.root_key_file),
            root_wrapper,
            max_body_bytes,
            tls,
            audit,
            deletion_guard_days,
            dev: o.dev,
            seed_file: o.seed_file.clone().or(file.seed),
            hsm_clusters,
            console,
            xks,
        })
    }

    pub fn data_dir(&self) -> Option<&Path> {
        match &self.storage {
            Storage::DataDir(p) => Some(p),
            Storage::Ephemeral => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../kms.example.toml");
        let file = parse_file(text).unwrap();
        let c = Config::build(file, &Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.audit.commit_delay, Duration::from_micros(DEFAULT_COMMIT_DELAY_US));
    }

    #[test]
    fn unknown_keys_rejected() {
        assert!(parse_file("lisen = \"x\"").unwrap_err().contains("unknown field"));
    }

    #[test]
    fn invalid_values_rejected() {
        let bad = |t: &str| Config::build(parse_file(t).unwrap(), &Overrides::default()).unwrap_err();
        assert!(bad("default_account = \"12\"").contains("12-digit"));
        assert!(bad("listen = \"nowhere\"").contains("listen"));
        assert!(bad("[audit]\ncommit_delay_us = 100001").contains("commit_delay_us"));
        assert!(bad("region = \"us-east\"").contains("region"));
        assert!(bad("regions = [\"us-east-1\", \"x\"]").contains("'x'"));
        assert!(bad("[peers.regions]\nus-east-1 = \"http://h:1\"").contains("served by this server"));
        assert!(bad("[peers.regions]\nus-west-2 = \"https://h:1\"").contains("ca_file"));
        assert!(bad("[peers.regions]\nus-west-2 = \"ftp://h:1\"").contains("must be http"));
        let c = Config::build(
            parse_file(
                "regions = [\"eu-west-1\", \"us-west-2\"]\n[peers.regions]\nap-south-1 = \"http://10.0.0.2:4599\"",
            )
            .unwrap(),
            &Overrides::default(),
        )
        .unwrap();
        assert!(bad("[quotas]\npreset = \"azure\"").contains("preset"));
        assert!(bad("[quotas.rates]\nEncrypt = 5").contains("'Encrypt' is not a quota"));
        assert!(bad("[quotas.rates]\nCreateKey = 0").contains("above 0"));
        assert!(bad("[quotas.accounts.12]\nCreateKey = 1").contains("12-digit"));
        let q = Config::build(
            parse_file("[quotas]\npreset = \"aws\"\n[quotas.accounts.111122223333]\ncryptographic-symmetric = 50")
                .unwrap(),
            &Overrides::default(),
        )
        .unwrap()
        .quotas;
        assert!(q.aws_preset && q.accounts["111122223333"].len() == 1);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.regions, ["eu-west-1", "us-west-2"]);
        assert_eq!(c.peers.unwrap().endpoints.len(), 1);
        let dev = Config::build(FileConfig::default(), &Overrides { dev: true, ..Default::default() }).unwrap();
        assert_eq!(dev.storage, Storage::Ephemeral);
        assert_eq!(dev.default_account, DEV_ACCOUNT);
    }

    #[test]
    fn console_setting() {
        let build = |t: &str| Config::build(parse_file(t).unwrap(), &Overrides::default());
        let c = build("").unwrap().console;
        assert!(c.enabled, "on by default on loopback");
        assert_eq!(c.idle_timeout, Duration::from_secs(900));
        assert_eq!(c.absolute_timeout, Duration::from_secs(8 * 3600));
        assert!(!build("listen = \"0.0.0.0:4599\"").unwrap().console.enabled);
        assert!(build("listen = \"0.0.0.0:4599\"\n[console]\nenabled = true").unwrap().console.enabled);
        assert!(!build("[console]\nenabled = false").unwrap().console.enabled);
        assert!(build("[console]\nidle_timeout_secs = 5").unwrap_err().contains("idle_timeout_secs"));
        assert!(build("[console]\nidle_timeout_secs = 600\nabsolute_timeout_secs = 300")
            .unwrap_err()
            .contains("absolute_timeout_secs"));
        assert!(parse_file("[console]\nenable = true").unwrap_err().contains("unknown field"));
        let off = Overrides { no_console: true, ..Default::default() };
        assert!(!Config::build(parse_file("[console]\nenabled = true").unwrap(), &off).unwrap().console.enabled);
    }

    #[test]
    fn store_setting() {
        let build =
            |text: &str, dev: bool| Config::build(parse_file(text).unwrap(), &Overrides { dev, ..Default::default() });
        assert!(build("", false).unwrap().store.is_none());
        let c = build("store = \"postgres://kms:pw@db1,db2/kms?target_session_attrs=read-write\"", false).unwrap();
        let pg = c.store.unwrap();
        assert_eq!(pg.redacted(), "postgres://kms@db1:5432,db2:5432/kms");
        assert!(!format!("{pg:?}").contains("pw"));
        assert!(build("store = \"mysql://db\"", false).unwrap_err().contains("postgres://"));
        assert!(build("store = \"postgres://db/kms?sslmode=require\"", false).unwrap_err().contains("sslrootcert"));
        assert!(build("store = \"postgres://db/kms\"", true).unwrap_err().contains("--dev"));
    }
}
