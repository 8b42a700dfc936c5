//! The command line: `kms serve` and the operator commands (`kms admin`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::client::{self, Client};
use crate::config::{Config, Overrides};

/// `kms --version`: the FIPS build says so.
const VERSION: &str = if kms_core::FIPS {
    concat!(env!("CARGO_PKG_VERSION"), " (FIPS: AWS-LC FIPS module)")
} else {
    env!("CARGO_PKG_VERSION")
};

#[derive(Parser, Debug)]
#[command(name = "kms", version = VERSION, about = "A self-hosted key management service that speaks the AWS KMS API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Operator commands against a running server.
    Admin(AdminArgs),
    /// The audit log, offline: verify, query, export.
    Audit(AuditArgs),
    /// The XKS proxy of external key stores (docs/XKS.md).
    #[command(subcommand)]
    XksProxy(crate::xks::XksCommand),
    /// Take a backup of a running server's whole store (docs/BACKUP.md).
    Backup {
        #[command(flatten)]
        conn: Connection,
        /// The backup file to write (mode 0600; not overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into an empty store, offline (docs/BACKUP.md): the
    /// data directory's embedded database, or the PostgreSQL database the
    /// configuration names. The root key the backup was made under must be
    /// there first: DATA_DIR/root.key (or its wrapped form with the
    /// configuration's [root_key]), root_key_file, or KMS_ROOT_KEY.
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        /// The configuration the server will run with (its store and root key settings).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Move every record between the embedded store and PostgreSQL,
    /// offline, with the servers stopped (docs/BACKUP.md). A configuration
    /// without `store` names DATA_DIR's embedded database.
    Migrate {
        #[arg(long)]
        data_dir: PathBuf,
        /// The configuration naming the store to read [default: DATA_DIR's embedded one].
        #[arg(long)]
        from_config: Option<PathBuf>,
        /// The configuration naming the empty store to write [default: DATA_DIR's embedded one].
        #[arg(long)]
        to_config: Option<PathBuf>,
    },
}

/// Where the operator commands send their calls.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Endpoint [default: AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, http://127.0.0.1:4599].
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Region to sign for [default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1].
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Profile in the shared credentials file.
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

impl Connection {
    fn client(&self) -> Result<Client, String> {
        let creds = client::resolve_credentials(self.profile.as_deref())?;
        let endpoint = client::resolve_endpoint(self.endpoint_url.as_deref());
        Client::new(&endpoint, &client::resolve_region(self.region.as_deref()), creds)
    }
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Args, Debug, Default, Clone)]
pub struct AuditFilterArgs {
    /// Audit directory; repeat it for several nodes' (merged by eventTime).
    #[arg(long = "dir", default_value = "./kms-data/audit")]
    pub dirs: Vec<PathBuf>,
    /// Earliest eventTime (RFC 3339 like 2026-11-23T00:00:00Z, or epoch seconds).
    #[arg(long)]
    pub start: Option<String>,
    /// Latest eventTime.
    #[arg(long)]
    pub end: Option<String>,
    #[arg(long)]
    pub event_name: Option<String>,
    /// Key id or key ARN.
    #[arg(long)]
    pub key: Option<String>,
    /// Principal ARN.
    #[arg(long)]
    pub principal: Option<String>,
    #[arg(long)]
    pub error_code: Option<String>,
    #[arg(long)]
    pub read_only: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain and the signed digests; name the first problem.
    Verify {
        /// Audit directory; repeat it for several nodes' (each its own chain).
        #[arg(long = "dir", default_value = "./kms-data/audit")]
        dirs: Vec<PathBuf>,
        /// An independently kept copy of the public key (PEM); with several
        /// directories, one per directory, in the same order.
        #[arg(long = "public-key")]
        public_keys: Vec<PathBuf>,
    },
    /// Print matching events as JSON lines.
    Query(AuditFilterArgs),
    /// Write matching events as CloudTrail log files (gzip) under --out.
    Export {
        #[command(flatten)]
        filter: AuditFilterArgs,
        #[arg(long)]
        out: PathBuf,
    },
}

fn time_arg(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|t| match t.parse::<i64>() {
        Ok(secs) => kms_core::time::rfc3339(secs * 1000),
        Err(_) => t.clone(),
    })
}

impl AuditFilterArgs {
    fn filter(&self) -> kms_audit::query::Filter {
        kms_audit::query::Filter {
            start: time_arg(&self.start),
            end: time_arg(&self.end),
            event_name: self.event_name.clone(),
            key: self.key.clone(),
            principal: self.principal.clone(),
            error_code: self.error_code.clone(),
            read_only: self.read_only,
        }
    }
}

fn audit(args: AuditArgs) -> Result<(), String> {
    match args.command {
        AuditCommand::Verify { dirs, public_keys } => {
            if !public_keys.is_empty() && public_keys.len() != dirs.len() {
                return Err(format!(
                    "{} --public-key for {} --dir: give one per directory",
                    public_keys.len(),
                    dirs.len()
                ));
            }
            let several = dirs.len() > 1;
            for (i, dir) in dirs.iter().enumerate() {
                let pem = match public_keys.get(i) {
                    Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
                    None => None,
                };
                let at = if several { format!("{}: ", dir.display()) } else { String::new() };
                let r = kms_audit::verify::verify_dir(dir, pem.as_deref())
                    .map_err(|e| format!("audit log verification FAILED: {at}{e}"))?;
                println!("audit log ok: {at}{} files, {} records, {} signed digests", r.files, r.records, r.digests);
            }
        }
        AuditCommand::Query(f) => {
            for e in kms_audit::query::query(&f.dirs, &f.filter())? {
                println!("{e}");
            }
        }
        AuditCommand::Export { filter, out } => {
            let files = kms_audit::export::export(&filter.dirs, &filter.filter(), &out)?;
            for f in files {
                println!("{}", f.display());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("8d"), Ok(8 * 86400));
        assert_eq!(super::parse_duration("90m"), Ok(5400));
        assert_eq!(super::parse_duration("30"), Ok(30));
        assert!(super::parse_duration("8w").is_err());
        assert!(super::parse_duration("0s").is_err());
    }
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML configuration file (see kms.example.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4599].
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory [default: ./kms-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Region of this service [default: us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Account created on first start [default: 111122223333].
    #[arg(long)]
    pub default_account: Option<String>,
    /// Root key file (base64 of 32 bytes).
    #[arg(long)]
    pub root_key_file: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Development mode: in-memory store, credentials test/test for account
    /// 000000000000, adjustable clock. Never for real keys.
    #[arg(long)]
    pub dev: bool,
    /// Seed file (TOML, docs/SEEDS.md): users, roles and keys created at
    /// start when they are not there yet.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Turn the web console at /console/ off (docs/CONSOLE.md).
    #[arg(long)]
    pub no_console: bool,
}

#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an IAM user with an access key; prints the credentials.
    CreateUser {
        #[arg(long)]
        name: String,
        /// Account of the user [default: the caller's].
        #[arg(long)]
        account: Option<String>,
        /// Allow the user to call the operator API.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    ListUsers {
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a user and its access keys.
    DeleteUser {
        #[arg(long)]
        name: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Create another access key for a user; prints the credentials.
    CreateAccessKey {
        #[arg(long)]
        user: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete an access key.
    DeleteAccessKey {
        #[arg(long)]
        access_key_id: String,
    },
    /// Attach (or replace) an inline identity policy to a user.
    PutUserPolicy {
        #[arg(long)]
        user: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        policy_name: String,
        /// The JSON document, or file://PATH.
        #[arg(long)]
        policy_document: String,
    },
    /// Print an inline identity policy of a user.
    GetUserPolicy {
        #[arg(long)]
        user: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        policy_name: String,
    },
    /// Remove an inline identity policy from a user.
    DeleteUserPolicy {
        #[arg(long)]
        user: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        policy_name: String,
    },
    /// List the inline identity policies of a user.
    ListUserPolicies {
        #[arg(long)]
        user: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Tag a user (aws:PrincipalTag/<key> in conditions).
    TagUser {
        #[arg(long)]
        user: String,
        #[arg(long)]
        account: Option<String>,
        /// KEY=VALUE, repeatable.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// Create an IAM role with a trust policy (who may assume it).
    CreateRole {
        #[arg(long)]
        name: String,
        #[arg(long)]
        account: Option<String>,
        /// The trust policy JSON, or file://PATH.
        #[arg(long)]
        assume_role_policy_document: String,
        /// Longest session, in seconds (3600-43200).
        #[arg(long)]
        max_session_duration: Option<i64>,
    },
    /// List roles.
    ListRoles {
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a role (its sessions end).
    DeleteRole {
        #[arg(long)]
        name: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Attach (or replace) an inline identity policy to a role.
    PutRolePolicy {
        #[arg(long)]
        role: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        policy_name: String,
        /// The JSON document, or file://PATH.
        #[arg(long)]
        policy_document: String,
    },
    /// Remove an inline identity policy from a role.
    DeleteRolePolicy {
        #[arg(long)]
        role: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        policy_name: String,
    },
    /// Would PRINCIPAL be allowed ACTION on KEY with this context? Prints the
    /// decision and the policy statement or grant that decides it.
    Simulate {
        /// A user, role or assumed-role ARN.
        #[arg(long)]
        principal: String,
        /// e.g. kms:Decrypt
        #[arg(long)]
        action: String,
        /// Key id, key ARN or alias (omit for actions on `*`).
        #[arg(long)]
        key: Option<String>,
        /// KEY=VALUE, repeatable.
        #[arg(long = "encryption-context", value_parser = parse_tag)]
        encryption_context: Vec<(String, String)>,
        /// Condition key KEY=VALUE (e.g. aws:SourceIp=10.0.0.1), repeatable.
        #[arg(long = "context", value_parser = parse_tag)]
        context: Vec<(String, String)>,
    },
    /// A key's last cryptographic use and who made it, and whether the
    /// deletion guard (deletion.refuse_if_used_within_days) keeps it.
    KeyUsage {
        /// Key id, key ARN or alias.
        key: String,
    },
    /// The service clock (only a server started with --dev lets it move).
    Clock {
        #[command(subcommand)]
        command: ClockCommand,
    },
    /// Inject faults into calls (`--dev` only; docs/FAULTS.md).
    Faults {
        #[command(subcommand)]
        command: FaultsCommand,
    },
    /// Return a `--dev` server to the state it started in (its seed), for
    /// test isolation (docs/SEEDS.md).
    Reset,
    /// Offline, with the server stopped: move a data directory's root key
    /// to the protection the configuration's [root_key.kms] or
    /// [root_key.pkcs11] names (or with --to-file, to DATA_DIR/root.key),
    /// without touching the records (docs/ROOT-KEY.md).
    RewrapRoot {
        #[arg(long)]
        data_dir: PathBuf,
        /// The configuration whose [root_key] wraps the root key from now on.
        #[arg(long, required_unless_present = "to_file")]
        config: Option<PathBuf>,
        /// Unwrap the current wrapped root key with this configuration's
        /// [root_key] [default: what the file records, with the AWS default
        /// credentials or the PIN in KMS_PKCS11_PIN].
        #[arg(long)]
        from_config: Option<PathBuf>,
        /// Move the root key into DATA_DIR/root.key (mode 0600) instead.
        #[arg(long, conflicts_with = "config")]
        to_file: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum FaultsCommand {
    /// Make calls fail with an AWS exception, or slow them down; prints the fault id.
    Set {
        /// The operation (e.g. Encrypt) [default: every operation].
        #[arg(long)]
        operation: Option<String>,
        /// Only calls whose KeyId is this (as the call gives it: id, ARN or alias).
        #[arg(long)]
        key: Option<String>,
        /// ThrottlingException, KMSInternalException, DependencyTimeoutException,
        /// KeyUnavailableException or KMSInvalidStateException.
        #[arg(long)]
        error: Option<String>,
        /// Share of matching calls hit, 0 to 1 [default: 1].
        #[arg(long)]
        rate: Option<f64>,
        /// Only the next N matching calls [default: until cleared].
        #[arg(long)]
        count: Option<u64>,
        /// Milliseconds added to each call hit.
        #[arg(long)]
        latency_ms: Option<u64>,
    },
    /// List the faults set, with their hits.
    List,
    /// Clear one fault, or every fault.
    Clear {
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClockCommand {
    /// Move the clock forward, e.g. `8d`, `36h`, `90m`, `30s`.
    Advance {
        #[arg(value_parser = parse_duration)]
        by: i64,
    },
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("'{s}' is not KEY=VALUE"))
}

/// A document given inline or as `file://PATH`.
fn document(arg: &str) -> Result<String, String> {
    match arg.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        None => Ok(arg.to_string()),
    }
}

/// Parse `<n>[s|m|h|d]` into seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = num.parse().map_err(|_| format!("'{s}' is not a duration like 8d, 36h, 90m or 30s"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("'{s}' is not a duration like 8d, 36h, 90m or 30s")),
    };
    n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(|| format!("'{s}' is out of range"))
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            region: self.region.clone(),
            default_account: self.default_account.clone(),
            root_key_file: self.root_key_file.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            dev: self.dev,
            seed_file: self.seed.clone(),
            no_console: self.no_console,
        }
    }
}

fn init_logging() {
    let level =
        std::env::var("KMS_LOG").ok().and_then(|l| l.parse::<tracing::Level>().ok()).unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_target(false).try_init();
}

const DEV_BANNER: &str = "\
################################################################################
#  kms is running in DEVELOPMENT mode (--dev)                                  #
#  * the store is in memory: every key is lost when the process stops          #
#  * credentials are the well-known test/test (account 000000000000)           #
#  * the service clock can be moved with `kms admin clock advance`             #
#  Never use --dev for real keys.                                              #
################################################################################";

async fn serve(args: ServeArgs) -> Result<(), String> {
    let cfg = Config::load(&args.overrides())?;
    if cfg.dev {
        eprintln!("{DEV_BANNER}");
    }
    let server = crate::server::start(cfg.clone()).await?;
    if let Some(p) = &server.bootstrap_credentials {
        eprintln!(
            "kms: first start: created account {} with user '{}'; its credentials are in {}\n     export AWS_SHARED_CREDENTIALS_FILE={}",
            cfg.default_account,
            cfg.admin_user,
            p.display(),
            p.display()
        );
    }
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    tracing::info!(endpoint = %format!("{scheme}://{}", server.addr), region = %cfg.region, "kms listening");
    let trigger = server.trigger();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = trigger.send(true);
    });
    server.wait().await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(unix)]
pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

#[cfg(not(unix))]
pub(crate) async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// The call an admin command makes: target and JSON body.
fn admin_call(cmd: &AdminCommand) -> Result<(&'static str, Value), String> {
    Ok(match cmd {
        AdminCommand::PutUserPolicy { user, account, policy_name, policy_document } => (
            "KmsAdmin.PutUserPolicy",
            json!({"UserName": user, "AccountId": account, "PolicyName": policy_name,
                   "PolicyDocument": document(policy_document)?}),
        ),
        AdminCommand::GetUserPolicy { user, account, policy_name } => {
            ("KmsAdmin.GetUserPolicy", json!({"UserName": user, "AccountId": account, "PolicyName": policy_name}))
        }
        AdminCommand::DeleteUserPolicy { user, account, policy_name } => {
            ("KmsAdmin.DeleteUserPolicy", json!({"UserName": user, "AccountId": account, "PolicyName": policy_name}))
        }
        AdminCommand::ListUserPolicies { user, account } => {
            ("KmsAdmin.ListUserPolicies", json!({"UserName": user, "AccountId": account}))
        }
        AdminCommand::TagUser { user, account, tags } => (
            "KmsAdmin.TagUser",
            json!({"UserName": user, "AccountId": account,
                   "Tags": tags.iter().map(|(k, v)| json!({"TagKey": k, "TagValue": v})).collect::<Vec<_>>()}),
        ),
        AdminCommand::CreateUser { name, account, admin } => {
            ("KmsAdmin.CreateUser", json!({"UserName": name, "AccountId": account, "Admin": admin}))
        }
        AdminCommand::ListUsers { account } => ("KmsAdmin.ListUsers", json!({"AccountId": account})),
        AdminCommand::DeleteUser { name, account } => {
            ("KmsAdmin.DeleteUser", json!({"UserName": name, "AccountId": account}))
        }
        AdminCommand::CreateAccessKey { user, account } => {
            ("KmsAdmin.CreateAccessKey", json!({"UserName": user, "AccountId": account}))
        }
        AdminCommand::DeleteAccessKey { access_key_id } => {
            ("KmsAdmin.DeleteAccessKey", json!({"AccessKeyId": access_key_id}))
        }
        AdminCommand::CreateRole { name, account, assume_role_policy_document, max_session_duration } => (
            "KmsAdmin.CreateRole",
            json!({"RoleName": name, "AccountId": account,
                   "AssumeRolePolicyDocument": document(assume_role_policy_document)?,
                   "MaxSessionDuration": max_session_duration}),
        ),
        AdminCommand::ListRoles { account } => ("KmsAdmin.ListRoles", json!({"AccountId": account})),
        AdminCommand::DeleteRole { name, account } => {
            ("KmsAdmin.DeleteRole", json!({"RoleName": name, "AccountId": account}))
        }
        AdminCommand::PutRolePolicy { role, account, policy_name, policy_document } => (
            "KmsAdmin.PutRolePolicy",
            json!({"RoleName": role, "AccountId": account, "PolicyName": policy_name,
                   "PolicyDocument": document(policy_document)?}),
        ),
        AdminCommand::DeleteRolePolicy { role, account, policy_name } => {
            ("KmsAdmin.DeleteRolePolicy", json!({"RoleName": role, "AccountId": account, "PolicyName": policy_name}))
        }
        AdminCommand::Simulate { principal, action, key, encryption_context, context } => {
            let mut ctx = serde_json::Map::new();
            for (k, v) in context {
                let slot = ctx.entry(k.clone()).or_insert_with(|| json!([]));
                if let Some(a) = slot.as_array_mut() {
                    a.push(json!(v));
                }
            }
            (
                "KmsAdmin.Simulate",
                json!({"PrincipalArn": principal, "Action": action, "KeyId": key,
                       "EncryptionContext": encryption_context.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                       "Context": ctx}),
            )
        }
        AdminCommand::KeyUsage { key } => ("KmsAdmin.GetKeyUsage", json!({"KeyId": key})),
        AdminCommand::Clock { command: ClockCommand::Advance { by } } => {
            ("KmsAdmin.AdvanceClock", json!({"Seconds": by}))
        }
        AdminCommand::Faults { command: FaultsCommand::Set { operation, key, error, rate, count, latency_ms } } => (
            "KmsAdmin.SetFault",
            json!({"Operation": operation, "KeyId": key, "Error": error, "Rate": rate, "Count": count,
                   "LatencyMs": latency_ms}),
        ),
        AdminCommand::Faults { command: FaultsCommand::List } => ("KmsAdmin.ListFaults", json!({})),
        AdminCommand::Faults { command: FaultsCommand::Clear { id } } => {
            ("KmsAdmin.ClearFaults", json!({"FaultId": id}))
        }
        AdminCommand::Reset => ("KmsAdmin.Reset", json!({})),
        AdminCommand::RewrapRoot { .. } => return Err("rewrap-root runs offline".into()),
    })
}

/// What a configuration file's `[root_key]` wraps the root key with, if anything.
fn wrapper_of(path: &std::path::Path) -> Result<Option<crate::root::Wrapper>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(crate::config::parse_file(&text)?.root_key.map(|r| r.validate()).transpose()?.flatten())
}

async fn admin(args: AdminArgs) -> Result<(), String> {
    if let AdminCommand::RewrapRoot { data_dir, config, from_config, to_file } = &args.command {
        let to = match (config, to_file) {
            (Some(c), false) => Some(
                wrapper_of(c)?.ok_or_else(|| format!("{} has no [root_key.kms] or [root_key.pkcs11]", c.display()))?,
            ),
            _ => None,
        };
        let from = from_config.as_deref().map(wrapper_of).transpose()?.flatten();
        let path = crate::root::rewrap(data_dir, from.as_ref(), to.as_ref()).await?;
        println!("the root key of {} is now in {}", data_dir.display(), path.display());
        return Ok(());
    }
    let c = args.conn.client()?;
    let (target, body) = admin_call(&args.command)?;
    let reply = c.call(target, &body).await?;
    if let Some((t, m)) = reply.error() {
        let op = target.split('.').nth(1).unwrap_or(target);
        return Err(format!("An error occurred ({t}) when calling the {op} operation: {m}"));
    }
    let v: Value = serde_json::from_slice(&reply.body).map_err(|e| e.to_string())?;
    if v.as_object().is_some_and(|m| m.is_empty()) {
        return Ok(());
    }
    println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
    Ok(())
}

/// Threads for blocking work.
const BLOCKING_THREADS: usize = 16;

/// Run the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    init_logging();
    // Blocking work (store transactions, key generation) on a bounded pool:
    // store writes run one at a time anyway, and every extra thread keeps
    // its own allocator heap (docs/PERFORMANCE.md, memory).
    let rt =
        match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(BLOCKING_THREADS).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("kms: cannot start the runtime: {e}");
                return 1;
            }
        };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(a) => serve(a).await,
            Command::Admin(a) => admin(a).await,
            Command::Audit(a) => audit(a),
            Command::XksProxy(c) => crate::xks::run(c).await,
            Command::Backup { conn, out } => crate::backup::backup(&conn.client()?, &out).await,
            Command::Restore { from, data_dir, config } => {
                crate::backup::restore(&from, &data_dir, config.as_deref()).await
            }
            Command::Migrate { data_dir, from_config, to_config } => {
                crate::backup::migrate(&data_dir, from_config.as_deref(), to_config.as_deref()).await
            }
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kms: {e}");
            1
        }
    }
}
