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
    /// The proxy's keys, in the sealed key store of its data directory
    /// (`--data-dir`, or the `data_dir` of `--config`). A running proxy
    /// sees a change on its next call.
    Keys {
        #[arg(long, required_unless_present = "config")]
        data_dir: Option<PathBuf>,
        /// The proxy's configuration: its data directory and `[pkcs11]` token.
        #[arg(long)]
        config: Option<PathBuf>,
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
        /// In the configuration's `[pkcs11]` token rather than sealed here.
        #[arg(long)]
        pkcs11: bool,
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
        XksCommand::Keys { data_dir, config, command } => {
            let cfg = config.as_deref().map(ProxyConfig::load).transpose()?;
            let data_dir = match (data_dir, &cfg) {
                (Some(d), _) => d,
                (None, Some(c)) => c.data_dir.clone(),
                (None, None) => return Err("give --data-dir or --config".into()),
            };
            let root_file = cfg.as_ref().and_then(|c| c.root_key_file.clone());
            let store = KeyStore::open(&data_dir, root(&data_dir, root_file.as_deref()).await?)?;
            let now = kms_core::ports::Clock::real_now_ms() / 1000;
            let info = match command {
                KeysCommand::Create { id, pkcs11: false } => store.create(&id, now, None)?,
                KeysCommand::Create { id, pkcs11: true } => {
                    let p =
                        cfg.as_ref().and_then(|c| c.pkcs11.as_ref()).ok_or("--pkcs11 needs --config with [pkcs11]")?;
                    let token = kms_xks::keys::open_token(p)?;
                    let info = store.create(&id, now, Some(token.as_ref()));
                    token.close();
                    info?
                }
                KeysCommand::Enable { id } => store.set_status(&id, KeyStatus::Enabled)?,
                KeysCommand::Disable { id } => store.set_status(&id, KeyStatus::Disabled)?,
                KeysCommand::List => {
                    for k in store.list()? {
                        let place = if k.in_token { "pkcs11" } else { "sealed" };
                        println!("{}\t{}\t{place}\t{}", k.id, k.status.as_str(), k.created);
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
