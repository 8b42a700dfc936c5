//! `kms xks-proxy`: the XKS proxy (crate kms-xks, docs/XKS.md) and its
//! offline key commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use kms_xks::config::ProxyConfig;
use kms_xks::keys::{KeyStatus, KeyStore};

#[derive(Subcommand, Debug)]
pub enum XksCommand {
    /// Run the proxy (its own listener, TLS certificate and credentials).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// The proxy's keys, in DATA_DIR's sealed key store. A running proxy
    /// sees a change on its next call.
    Keys {
        #[arg(long)]
        data_dir: PathBuf,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the chain of an audit file.
    VerifyAudit { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new AES-256 key (enabled).
    Create {
        id: String,
    },
    List,
    Enable {
        id: String,
    },
    /// Disable a key: every KMS key over it stops working (the kill switch).
    Disable {
        id: String,
    },
}

async fn root(data_dir: &Path, root_key_file: Option<&Path>) -> Result<Arc<kms_core::crypto::RootKey>, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let fresh = !KeyStore::exists(data_dir);
    Ok(Arc::new(crate::root::load_from(root_key_file, None, data_dir, fresh).await?))
}

pub async fn run(cmd: XksCommand) -> Result<(), String> {
    match cmd {
        XksCommand::Serve { config } => {
            let cfg = ProxyConfig::load(&config)?;
            let root = root(&cfg.data_dir, cfg.root_key_file.as_deref()).await?;
            let running = kms_xks::proxy::start(cfg, root).await?;
            tracing::info!(addr = %running.addr, "kms xks-proxy listening");
            let trigger = running.trigger();
            tokio::spawn(async move {
                crate::cli::wait_for_signal().await;
                let _ = trigger.send(true);
            });
            running.wait().await;
            Ok(())
        }
        XksCommand::Keys { data_dir, command } => {
            let store = KeyStore::open(&data_dir, root(&data_dir, None).await?)?;
            let now = kms_core::ports::Clock::real_now_ms() / 1000;
            let info = match command {
                KeysCommand::Create { id } => store.create(&id, now)?,
                KeysCommand::Enable { id } => store.set_status(&id, KeyStatus::Enabled)?,
                KeysCommand::Disable { id } => store.set_status(&id, KeyStatus::Disabled)?,
                KeysCommand::List => {
                    for k in store.list()? {
                        println!("{}\t{}\t{}", k.id, k.status.as_str(), k.created);
                    }
                    return Ok(());
                }
            };
            println!("{}\t{}", info.id, info.status.as_str());
            Ok(())
        }
        XksCommand::VerifyAudit { file } => {
            let n = kms_xks::proxy::verify_audit(&file)?;
            println!("{n} lines, chain intact");
            Ok(())
        }
    }
}
