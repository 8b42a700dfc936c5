//! `kms serve`: wiring (store, root key, service, protocol), the listener
//! (HTTP or rustls), and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kms_api::{listen, Api, ExtraMetrics};
use kms_audit::{AuditLog, AuditStats};
use kms_core::crypto::{RootKey, SecretString};
use kms_core::ports::{Clock, Peer, Store};
use kms_core::service::{Regions, RegionsConfig, Served};
use kms_store::RedbStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, PeersConfig, Storage, MIN_PEER_SECRET_LEN, PEER_SECRET_ENV};

pub const DB_FILE: &str = "kms.redb";
pub const CREDENTIALS_FILE: &str = "credentials";
/// The well-known `--dev` credentials (as LocalStack and moto use).
pub const DEV_ACCESS_KEY: &str = "test";
pub const DEV_SECRET_KEY: &str = "test";

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub api: Arc<Api>,
    /// Where the audit log is written.
    pub audit_dir: PathBuf,
    /// The credentials file written by a first start, if this start wrote it.
    pub bootstrap_credentials: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stop accepting, let in-flight requests finish (up to 30 s), return.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Wait until the accept loop ends (after [`Server::trigger`]).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    pub fn trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// The peer secret: `KMS_PEER_SECRET`, or `peers.secret_file`.
fn load_peer_secret(p: &PeersConfig) -> Result<SecretString, String> {
    let text = match (std::env::var(PEER_SECRET_ENV), &p.secret_file) {
        (Ok(v), _) => v,
        (Err(_), Some(f)) => {
            std::fs::read_to_string(f).map_err(|e| format!("peers.secret_file {}: {e}", f.display()))?
        }
        (Err(_), None) => return Err(format!("[peers] needs a secret: peers.secret_file or {PEER_SECRET_ENV}")),
    };
    let secret = text.trim().to_string();
    if secret.len() < MIN_PEER_SECRET_LEN {
        return Err(format!("the peer secret must be at least {MIN_PEER_SECRET_LEN} characters"));
    }
    Ok(SecretString::new(secret))
}

/// One client per peer region.
fn peer_clients(
    p: &PeersConfig,
    secret: &SecretString,
) -> Result<std::collections::BTreeMap<String, Arc<dyn Peer>>, String> {
    let tls = p.ca_file.as_deref().map(|f| crate::client::tls_connector(f, "peers.ca_file")).transpose()?;
    Ok(p.endpoints
        .iter()
        .map(|(region, uri)| {
            let c = crate::peer::PeerClient::new(
                region,
                uri.clone(),
                SecretString::new(secret.expose().to_string()),
                tls.clone(),
                p.timeout,
            );
            (region.clone(), Arc::new(c) as Arc<dyn Peer>)
        })
        .collect())
}

fn credentials_file_text(profile: &str, ak: &kms_core::model::AccessKeyOutput) -> String {
    format!(
        "# kms bootstrap credentials for {}\n[{profile}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        ak.arn, ak.access_key_id, ak.secret_access_key
    )
}

/// The PostgreSQL store (`store = "postgres://..."`), and whether it is
/// new (no record yet, so a root key may be made for it).
async fn open_postgres(pg: &kms_store::PgConfig) -> Result<(Arc<dyn Store>, bool), String> {
    let store = kms_store::PgStore::connect(pg)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", pg.redacted()))?;
    let fresh = store.is_fresh().await.map_err(|e| format!("cannot read the database {}: {e}", pg.redacted()))?;
    tracing::info!(database = pg.redacted(), fresh, "store: PostgreSQL");
    Ok((Arc::new(store), fresh))
}

/// Open the store and the service, bootstrap identities, bind, and start
/// serving. Returns once the listener is bound.
pub async fn start(cfg: Config) -> Result<Server, String> {
    let (store, root, clock, data_dir): (Arc<dyn Store>, RootKey, Clock, Option<PathBuf>) = match &cfg.storage {
        Storage::DataDir(dir) => {
            create_private_dir(dir)?;
            let (store, root): (Arc<dyn Store>, RootKey) = match &cfg.store {
                Some(pg) => {
                    let (store, fresh) = open_postgres(pg).await?;
                    (store, crate::root::load(&cfg, dir, fresh).await?)
                }
                None => {
                    let db_path = dir.join(DB_FILE);
                    let fresh = !db_path.exists();
                    let root = crate::root::load(&cfg, dir, fresh).await?;
                    let store = tokio::task::spawn_blocking(move || RedbStore::open(&db_path))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| format!("cannot open the database: {e}"))?;
                    (Arc::new(store), root)
                }
            };
            (store, root, Clock::system(), Some(dir.clone()))
        }
        Storage::Ephemeral => {
            let root = RootKey::from_encoded(&RootKey::generate_encoded().map_err(|e| e.to_string())?)?;
            let store = RedbStore::in_memory().map_err(|e| e.to_string())?;
            (Arc::new(store), root, Clock::adjustable(), None)
        }
    };
    let peer_secret = cfg.peers.as_ref().map(load_peer_secret).transpose()?;
    let peers = match (&cfg.peers, &peer_secret) {
        (Some(p), Some(s)) => peer_clients(p, s)?,
        _ => Default::default(),
    };
    let hsm = (!cfg.hsm_clusters.is_empty())
        .then(|| Arc::new(kms_hsm::Pkcs11Clusters::new(cfg.hsm_clusters.clone())) as Arc<dyn kms_core::ports::Hsm>);
    let changes = store.changes();
    let xks = match &cfg.xks {
        Some(x) => Some(Arc::new(kms_xks::client::XksClient::with_client_cert(
            &x.ca_file,
            x.resolve.clone(),
            x.client_cert.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )?) as Arc<dyn kms_core::ports::XksProxy>),
        None => None,
    };
    let regions = Regions::open(
        store,
        root,
        Arc::new(clock),
        RegionsConfig {
            partition: cfg.partition.clone(),
            default_region: cfg.region.clone(),
            served: if cfg.dev { Served::Any } else { Served::List(cfg.regions.clone()) },
            deletion_guard_days: cfg.deletion_guard_days,
            peers,
            quotas: cfg.quotas.clone(),
            hsm,
            xks,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    if regions.home() != cfg.region {
        tracing::info!(
            home = regions.home(),
            "this data directory's original keys stay in the region it was created for"
        );
    }
    // Other servers on the same database: their changes drop what they
    // changed from this one's caches (until the server stops).
    let follow = regions.follow(changes);
    let kms = regions.get(&cfg.region).await.map_err(|e| e.to_string())?.ok_or("the default region is not served")?;
    let fixed = cfg.dev.then_some((DEV_ACCESS_KEY, DEV_SECRET_KEY));
    let admin = if cfg.dev { "test" } else { cfg.admin_user.as_str() };
    let created = kms.bootstrap(&cfg.default_account, admin, fixed).await.map_err(|e| e.to_string())?;
    let mut bootstrap_credentials = None;
    if let (Some(ak), Some(dir)) = (&created, &data_dir) {
        let path = dir.join(CREDENTIALS_FILE);
        let _ = std::fs::remove_file(&path);
        crate::root::write_private(&path, credentials_file_text("default", ak).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        bootstrap_credentials = Some(path);
    }
    // After the credentials file: a seed that is refused does not lose them.
    if let Some(path) = &cfg.seed_file {
        let file = crate::seed::SeedFile::load(path, &cfg.default_account)?;
        let done = regions.seed(&file.seed).await.map_err(|e| file.describe(&e))?;
        tracing::info!(seed = %path.display(), created = done.created, kept = done.kept, "seed applied");
    }
    let tls = match &cfg.tls {
        Some((c, k)) => {
            Some(listen::tls_acceptor(listen::Identity::from_pem_files(c, k, ("TLS certificate", "TLS key"))?, None)?)
        }
        None => None,
    };
    let audit_dir = match (&cfg.audit.dir, &data_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.join("audit"),
        (None, None) => {
            // `--dev`: an audit directory of this run only, removed at shutdown.
            let mut tag = [0u8; 8];
            kms_core::crypto::fill_random(&mut tag).map_err(|e| e.to_string())?;
            std::env::temp_dir().join(format!("kms-dev-audit-{}", kms_core::crypto::hex(&tag)))
        }
    };
    let signing_key = kms
        .service_secret("audit-signing-key", kms_audit::format::SigningKey::generate_pkcs8)
        .await
        .map_err(|e| e.to_string())?;
    let key = kms_audit::format::SigningKey::from_pkcs8(signing_key.expose())?;
    if cfg.dev {
        // What `kms admin reset` returns to: the seeded store, with its
        // service secrets.
        regions.checkpoint().await.map_err(|e| e.to_string())?;
    }
    let audit_cfg = kms_audit::AuditConfig {
        dir: audit_dir.clone(),
        max_file_bytes: cfg.audit.max_file_bytes,
        max_file_age: cfg.audit.max_file_age,
        digest_interval: cfg.audit.digest_interval,
        retention: cfg.audit.retention,
        commit_delay: cfg.audit.commit_delay,
    };
    let audit = Arc::new(
        tokio::task::spawn_blocking(move || AuditLog::open(audit_cfg, key)).await.map_err(|e| e.to_string())??,
    );
    if cfg.audit.fail_open {
        tracing::warn!("audit.fail_open is set: requests are answered even when their audit event cannot be written");
    }
    let mut api = Api::new(regions.clone(), cfg.max_body_bytes)
        .with_max_in_flight(cfg.max_in_flight)
        .with_tls(cfg.tls.is_some())
        .with_audit(audit.clone(), cfg.audit.fail_open)
        .with_metrics(Arc::new(ServiceMetrics { regions: regions.clone(), audit: audit.clone() }));
    if let Some(s) = peer_secret {
        api = api.with_peer_secret(s);
    }
    let api = Arc::new(api);
    let api_for_loop = api.clone();
    let console = cfg.console.enabled.then(|| {
        Arc::new(crate::console::Console::new(
            api.clone(),
            cfg.console.clone(),
            cfg.tls.is_some(),
            audit_dir.clone(),
            cfg.max_body_bytes,
        ))
    });
    let max_connections = max_connections(cfg.max_in_flight, cfg.max_connections);
    let ephemeral_audit = (cfg.audit.dir.is_none() && data_dir.is_none()).then(|| audit_dir.clone());
    let listener = TcpListener::bind(cfg.listen).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, rx) = watch::channel(false);
    let jobs = tokio::spawn(background_jobs(api.clone(), rx.clone()));
    if let Some(follow) = follow {
        let mut stop = rx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = follow => {}
                _ = stop.changed() => {}
            }
        });
    }
    let task = tokio::spawn(async move {
        accept_loop(listener, api_for_loop, console, tls, rx, max_connections).await;
        let _ = jobs.await;
        // Every request has finished: write the final digest and stop the writer.
        let _ = tokio::task::spawn_blocking(move || audit.close()).await;
        if let Some(dir) = ephemeral_audit {
            let _ = std::fs::remove_dir_all(dir);
        }
    });
    Ok(Server { addr, api, audit_dir, bootstrap_credentials, shutdown: tx, task })
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))
}

/// `/metrics` lines about the audit writer and the keys.
struct ServiceMetrics {
    regions: Arc<Regions>,
    audit: Arc<AuditLog>,
}

#[async_trait::async_trait]
impl ExtraMetrics for ServiceMetrics {
    async fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.audit.stats();
        let _ = writeln!(out, "# HELP kms_audit_records_total Audit events written.\n# TYPE kms_audit_records_total counter\nkms_audit_records_total {}", s.records.load(Relaxed));
        let _ = writeln!(out, "# HELP kms_audit_write_failures_total Audit batches that failed.\n# TYPE kms_audit_write_failures_total counter\nkms_audit_write_failures_total {}", s.failures.load(Relaxed));
        let batches = s.batches.load(Relaxed);
        let _ = writeln!(out, "# HELP kms_audit_fsync_seconds Write+fsync latency of an audit batch.\n# TYPE kms_audit_fsync_seconds histogram");
        let mut cum = 0;
        for (b, c) in AuditStats::FSYNC_BUCKETS_US.iter().zip(&s.fsync_buckets) {
            cum += c.load(Relaxed);
            let le = if *b == u64::MAX { "+Inf".to_string() } else { (*b as f64 / 1e6).to_string() };
            let _ = writeln!(out, "kms_audit_fsync_seconds_bucket{{le=\"{le}\"}} {cum}");
        }
        let _ = writeln!(
            out,
            "kms_audit_fsync_seconds_sum {}\nkms_audit_fsync_seconds_count {batches}",
            s.fsync_micros_total.load(Relaxed) as f64 / 1e6
        );
        let _ =
            writeln!(out, "# HELP kms_audit_batch_size Events per audit fsync.\n# TYPE kms_audit_batch_size histogram");
        let mut cum = 0;
        for (b, c) in AuditStats::BATCH_BUCKETS.iter().zip(&s.batch_buckets) {
            cum += c.load(Relaxed);
            let le = if *b == u64::MAX { "+Inf".to_string() } else { b.to_string() };
            let _ = writeln!(out, "kms_audit_batch_size_bucket{{le=\"{le}\"}} {cum}");
        }
        let _ =
            writeln!(out, "kms_audit_batch_size_sum {}\nkms_audit_batch_size_count {batches}", s.records.load(Relaxed));
        let _ = writeln!(out, "# HELP kms_keys Keys by region and state.\n# TYPE kms_keys gauge");
        for kms in self.regions.all() {
            if let Ok(counts) = kms.store().count_keys_by_state().await {
                let region = &kms.location().region;
                for (state, n) in counts {
                    let _ = writeln!(out, "kms_keys{{region=\"{region}\",state=\"{state}\"}} {n}");
                }
            }
        }
    }
}

/// How often the background job looks for keys with something due
/// (deletion, rotation, expiry); `RotateKeyOnDemand` wakes it at once.
const JOBS_INTERVAL: Duration = Duration::from_secs(1);
/// How often in-memory last-usage records are written to the store.
const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// The background job (kms-core's `jobs`) and the last-usage flush; the
/// flush runs once more at shutdown. The job's events go to the audit log.
async fn background_jobs(api: Arc<Api>, mut shutdown: watch::Receiver<bool>) {
    let kms = api.regions().clone();
    let mut jobs = tokio::time::interval(JOBS_INTERVAL);
    let mut flush = tokio::time::interval(USAGE_FLUSH_INTERVAL);
    loop {
        tokio::select! {
            _ = jobs.tick() => {}
            _ = kms.jobs_woken() => {}
            _ = flush.tick() => {
                if let Err(e) = kms.flush_usage().await {
                    tracing::error!(error = %e, "last-usage flush failed");
                }
                continue;
            }
            _ = shutdown.changed() => break,
        }
        if let Err(e) = kms.run_jobs().await {
            tracing::error!(error = %e, "background job failed");
        }
        api.record_job_events().await;
    }
    if let Err(e) = kms.flush_usage().await {
        tracing::error!(error = %e, "last-usage flush failed");
    }
}

/// Connections served at once per `max_in_flight` request.
const CONNECTIONS_PER_IN_FLIGHT: usize = 16;
/// File descriptors kept for the store, the audit trail's files and digests,
/// and the listener.
const RESERVED_FILES: u64 = 128;

/// The soft limit on open files (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// Connections served at once: 16 per request in flight, and never so
/// many that sockets take the file descriptors the audit trail needs to
/// create its files (without them every audited request fails).
/// `configured` (`max_connections`) replaces the 16 per request.
fn max_connections(max_in_flight: usize, configured: Option<usize>) -> usize {
    let by_load = configured.unwrap_or(max_in_flight.saturating_mul(CONNECTIONS_PER_IN_FLIGHT));
    let by_files = open_files_limit().map_or(usize::MAX, |n| n.saturating_sub(RESERVED_FILES) as usize);
    if by_files < by_load && configured.is_some() {
        tracing::warn!(
            max_connections = by_load,
            allowed = by_files,
            "max_connections is more than the open-files limit allows (raise `ulimit -n`)"
        );
    }
    by_load.min(by_files).max(1)
}

/// The API's listener: every request to the API, or to the console when it
/// is on and the path is its.
async fn accept_loop(
    listener: TcpListener,
    api: Arc<Api>,
    console: Option<Arc<crate::console::Console>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
    max_connections: usize,
) {
    let handler = move |req: hyper::Request<hyper::body::Incoming>, peer| {
        let (api, console) = (api.clone(), console.clone());
        async move {
            match &console {
                Some(c) if crate::console::Console::owns(req.uri().path()) => c.handle(req, Some(peer)).await,
                _ => api.handle(req, Some(peer)).await,
            }
        }
    };
    let listen = listen::Listen {
        tls,
        max_connections: Some(max_connections),
        check_client: None,
        drain: Duration::from_secs(30),
    };
    listen::serve(listener, listen, handler, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_bounded_by_load_and_files() {
        assert!(max_connections(1, None) <= CONNECTIONS_PER_IN_FLIGHT);
        assert!(max_connections(0, None) >= 1);
        assert!(max_connections(1, Some(3)) <= 3);
        if let Some(files) = open_files_limit() {
            assert!(max_connections(usize::MAX, None) as u64 <= files.saturating_sub(RESERVED_FILES).max(1));
        }
        #[cfg(target_os = "linux")]
        assert!(open_files_limit().is_some());
    }
}
