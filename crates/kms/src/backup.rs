//! `kms backup` (through a running server's operator API) and `kms
//! restore` (offline, into an empty data directory): docs/BACKUP.md. The
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
    let reply = c.call("KmsAdmin.Backup", &serde_json::json!({})).await?;
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

/// Restore the backup `from` into the empty data directory `data_dir`,
/// with the root key the server would find there (`config`'s settings).
pub async fn restore(from: &Path, data_dir: &Path, config: Option<&Path>) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let db = data_dir.join(crate::server::DB_FILE);
    if db.exists() {
        return Err(format!("{} exists: a restore needs an empty data directory", db.display()));
    }
    let file = match config {
        Some(p) => crate::config::parse_file(
            &std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        )?,
        None => FileConfig::default(),
    };
    let cfg = Config::build(file, &Overrides { data_dir: Some(data_dir.to_path_buf()), ..Default::default() })?;
    if let Some(pg) = &cfg.store {
        return Err(format!(
            "kms restore writes the embedded store of a data directory; the configuration names {}",
            pg.redacted()
        ));
    }
    crate::server::create_private_dir(data_dir)?;
    let root = crate::root::load(&cfg, data_dir, false)
        .await
        .map_err(|e| format!("a restore needs the root key the backup was made under: {e}"))?;
    let snapshot = BackupFile::open(&bytes, &root)?;
    let store = kms_store::RedbStore::open(&db).map_err(|e| format!("cannot create the database: {e}"))?;
    if let Err(e) = store.restore(&snapshot).await {
        drop(store);
        let _ = std::fs::remove_file(&db);
        return Err(format!("restore failed: {e}"));
    }
    println!("restored {} records from {} into {}", snapshot.records(), from.display(), data_dir.display());
    Ok(())
}
