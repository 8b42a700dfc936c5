//! `kms backup` (through a running server's operator API), `kms restore`
//! (offline, into an empty store of either backend) and `kms migrate`
//! (offline, between backends): docs/BACKUP.md. The
//! file format and its checks are kms-core's (`kms_core::backup`).

use std::path::Path;

use kms_core::backup::BackupFile;
use kms_core::ports::Store;

use crate::client::Client;
use crate::config::{Config, FileConfig, Overrides};

/// Ask the server for a backup and write it to `out` (never over a file).
pub async fn backup(c: &Client, out: &Path) -> Result<(), String> {
    if out.exists() {
        return Err(format!("{} exists; refusing to overwrite it", out.display()));
    }
    eprintln!("kms: taking a backup of {} ...", c.endpoint);
    let now = kms_core::ports::Clock::real_now_ms() / 1000;
    let req = c.signed_request("KmsAdmin.Backup", b"{}", now)?;
    let mut bar = Progress::new();
    let reply = c.send_with_progress(req, |got, total| bar.show(got, total)).await?;
    bar.done();
    if let Some((t, m)) = reply.error() {
        return Err(format!("An error occurred ({t}) when calling the Backup operation: {m}"));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Head {
        records: usize,
        created: String,
    }
    let head: Head = serde_json::from_slice(&reply.body).map_err(|e| format!("not a backup: {e}"))?;
    crate::root::write_private(out, &reply.body).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "backup of {} records taken at {} written to {} ({} bytes)",
        head.records,
        head.created,
        out.display(),
        reply.body.len()
    );
    Ok(())
}

/// A progress bar on standard error, while it is a terminal (redrawn at
/// most every 100 ms).
struct Progress {
    tty: bool,
    last: Option<std::time::Instant>,
    drawn: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal as _;
        Progress { tty: std::io::stderr().is_terminal(), last: None, drawn: false }
    }

    fn show(&mut self, got: usize, total: Option<usize>) {
        let due = self.last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(100));
        if !self.tty || !(due || Some(got) == total) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        self.drawn = true;
        eprint!("\r{}", Self::line(got, total));
    }

    /// `[#####.....]  50%  1.0 of 2.0 MB`, or the bytes alone.
    fn line(got: usize, total: Option<usize>) -> String {
        let mb = |n: usize| n as f64 / 1_000_000.0;
        match total.filter(|t| *t > 0) {
            Some(t) => {
                let done = (got.min(t) * 30) / t;
                format!(
                    "[{}{}] {:3}%  {:.1} of {:.1} MB",
                    "#".repeat(done),
                    ".".repeat(30 - done),
                    got.min(t) * 100 / t,
                    mb(got),
                    mb(t)
                )
            }
            None => format!("{:.1} MB", mb(got)),
        }
    }

    fn done(&self) {
        if self.drawn {
            eprintln!();
        }
    }
}

/// The configuration the server runs with on `data_dir` (`config`'s file).
fn config_of(data_dir: &Path, config: Option<&Path>) -> Result<Config, String> {
    let file = match config {
        Some(p) => crate::config::parse_file(
            &std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        )?,
        None => FileConfig::default(),
    };
    Config::build(file, &Overrides { data_dir: Some(data_dir.to_path_buf()), ..Default::default() })
}

/// A store a command writes into: the embedded database of `data_dir`
/// (which must not exist yet) or the configured PostgreSQL database (whose
/// emptiness `Store::restore` checks). The cleanup undoes a new embedded
/// database when the write fails.
struct Target {
    store: Box<dyn Store>,
    name: String,
    new_file: Option<std::path::PathBuf>,
}

impl Target {
    async fn open(cfg: &Config, data_dir: &Path) -> Result<Target, String> {
        match &cfg.store {
            Some(pg) => {
                let store = kms_store::PgStore::connect(pg)
                    .await
                    .map_err(|e| format!("cannot open the database {}: {e}", pg.redacted()))?;
                Ok(Target { store: Box::new(store), name: pg.redacted().to_string(), new_file: None })
            }
            None => {
                let db = data_dir.join(crate::server::DB_FILE);
                if db.exists() {
                    return Err(format!("{} exists: the target must be an empty store", db.display()));
                }
                crate::server::create_private_dir(data_dir)?;
                let store = kms_store::RedbStore::open(&db).map_err(|e| format!("cannot create the database: {e}"))?;
                Ok(Target { store: Box::new(store), name: db.display().to_string(), new_file: Some(db) })
            }
        }
    }

    /// Write every record of `snapshot` (refused unless the store is empty).
    async fn fill(self, snapshot: &kms_core::types::Snapshot) -> Result<String, String> {
        let result = self.store.restore(snapshot).await;
        drop(self.store);
        match result {
            Ok(()) => Ok(self.name),
            Err(e) => {
                if let Some(f) = &self.new_file {
                    let _ = std::fs::remove_file(f);
                }
                Err(format!("writing into {} failed: {e}", self.name))
            }
        }
    }
}

/// Restore the backup `from` into an empty store: the embedded database of
/// `data_dir`, or the PostgreSQL database `config` names, with the root key
/// the server would find in `data_dir` (`config`'s settings).
pub async fn restore(from: &Path, data_dir: &Path, config: Option<&Path>) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let cfg = config_of(data_dir, config)?;
    let root = crate::root::load(&cfg, data_dir, false)
        .await
        .map_err(|e| format!("a restore needs the root key the backup was made under: {e}"))?;
    let snapshot = BackupFile::open(&bytes, &root)?;
    let target = Target::open(&cfg, data_dir).await?;
    let name = target.fill(&snapshot).await.map_err(|e| format!("restore failed: {e}"))?;
    println!("restored {} records from {} into {name}", snapshot.records(), from.display());
    Ok(())
}

/// Move every record from the store `from` names to the empty store `to`
/// names (the embedded database of `data_dir` when a configuration names
/// no `store`), offline: stop the servers first. The records stay sealed;
/// the data directory's root key serves both.
pub async fn migrate(data_dir: &Path, from: Option<&Path>, to: Option<&Path>) -> Result<(), String> {
    let (src_cfg, dst_cfg) = (config_of(data_dir, from)?, config_of(data_dir, to)?);
    let src_name = match &src_cfg.store {
        Some(pg) => pg.redacted().to_string(),
        None => data_dir.join(crate::server::DB_FILE).display().to_string(),
    };
    let dst_name = match &dst_cfg.store {
        Some(pg) => pg.redacted().to_string(),
        None => data_dir.join(crate::server::DB_FILE).display().to_string(),
    };
    if src_name == dst_name {
        return Err(format!("--from-config and --to-config name the same store ({src_name})"));
    }
    let snapshot = match &src_cfg.store {
        Some(pg) => {
            kms_store::PgStore::connect(pg)
                .await
                .map_err(|e| format!("cannot open the database {src_name}: {e}"))?
                .snapshot()
                .await
        }
        None => {
            let db = data_dir.join(crate::server::DB_FILE);
            if !db.exists() {
                return Err(format!("{} does not exist: nothing to migrate", db.display()));
            }
            kms_store::RedbStore::open(&db)
                .map_err(|e| format!("cannot open {src_name} (is a server running on it?): {e}"))?
                .snapshot()
                .await
        }
    }
    .map_err(|e| format!("cannot read {src_name}: {e}"))?;
    eprintln!("kms: read {} records from {src_name}", snapshot.records());
    let target = Target::open(&dst_cfg, data_dir).await?;
    let name = target.fill(&snapshot).await?;
    println!("migrated {} records from {src_name} to {name}", snapshot.records());
    Ok(())
}
