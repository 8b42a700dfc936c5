//! The PostgreSQL store (`store = "postgres://..."`, docs/STORAGE.md).
//!
//! Records are the same JSON bytes the embedded store keeps, in `BYTEA`
//! columns: the database sees key material and secret access keys only as
//! the service sealed them under the root key. What the store queries by
//! (account, state, the background job's due time, a grant's retiring
//! principal, an alias's target) is kept in plain columns of the record's
//! row, written by the same statement as the record, so an index can never
//! disagree with its record (the embedded store keeps separate index tables
//! for that; here the account index and the job queue are the indexes
//! `kms_keys_account` and `kms_keys_due`). Every text column is `COLLATE
//! "C"`: byte order, the order the embedded store lists in.
//!
//! Every method is one transaction: almost all are a single statement
//! (deleting a key with its aliases and grants is one statement of
//! data-modifying CTEs); checkpoints, snapshots, restores and migrations
//! run an explicit transaction. Commits are durable as the server is
//! configured (`synchronous_commit`, on by default).
//!
//! Crate choice: `tokio-postgres` without its optional type support, and a
//! pool of our own (a semaphore and a list of idle connections, each with
//! its prepared statements) rather than deadpool-postgres: the store needs
//! little of a pool (a bound, reuse, dropping broken connections, a
//! per-connection statement cache), and a pool of ours keeps the failure
//! behaviour in one place: every call is bounded by a timeout, and a
//! connection whose call was cut short is never reused. TLS goes through
//! the workspace's rustls (a `tokio_postgres::tls` connector of ours, below)
//! rather than tokio-postgres-rustls, which would bring a second copy of
//! certificate parsing for channel binding.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use kms_core::error::{Error, Result};
use kms_core::ports::{Change, Store};
use kms_core::types::{
    AccessKeyRecord, AliasRecord, GrantRecord, KeyRecord, KeyState, LastUsage, RoleRecord, Snapshot, SpaceSnapshot,
    UserRecord,
};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, IsolationLevel, NoTls, Row, Socket, Statement};

/// The schema version this build writes in the `kms_schema` table (the
/// PostgreSQL store's own numbering, independent of the embedded store's).
pub const PG_SCHEMA_VERSION: i32 = 2;

/// Connections open at most, unless the URL says `pool_size=N`.
const DEFAULT_POOL_SIZE: usize = 8;
/// How long a connection attempt may take, unless the URL says
/// `connect_timeout=SECONDS`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one store call may take (waiting for a connection included):
/// with the database unreachable, calls fail after this at worst, and at
/// once when the connection is refused.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The same for calls that copy the whole store (checkpoint, rollback,
/// snapshot, restore).
const BULK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Serializes migrations, checkpoints and rollbacks between servers sharing
/// the database (`pg_advisory_xact_lock`; "kms" in ASCII).
const LOCK_ID: i64 = 0x6b6d73;

/// The tables, in the order a checkpoint copies them.
const TABLES: [&str; 8] =
    ["kms_meta", "kms_spaces", "kms_keys", "kms_grants", "kms_aliases", "kms_users", "kms_roles", "kms_access_keys"];

const SCHEMA_V1: &str = r#"
CREATE TABLE kms_meta (name TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE kms_spaces (space TEXT COLLATE "C" PRIMARY KEY);
CREATE TABLE kms_keys (
    space TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    due_ms BIGINT,
    record BYTEA NOT NULL,
    PRIMARY KEY (space, key_id)
);
CREATE INDEX kms_keys_account ON kms_keys (space, account, key_id);
CREATE INDEX kms_keys_due ON kms_keys (space, due_ms, key_id) WHERE due_ms IS NOT NULL;
CREATE TABLE kms_grants (
    space TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    grant_id TEXT COLLATE "C" NOT NULL,
    retiring_principal TEXT COLLATE "C",
    record BYTEA NOT NULL,
    PRIMARY KEY (space, key_id, grant_id)
);
CREATE INDEX kms_grants_id ON kms_grants (space, grant_id);
CREATE INDEX kms_grants_retiring ON kms_grants (space, retiring_principal) WHERE retiring_principal IS NOT NULL;
CREATE TABLE kms_aliases (
    space TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    target_key_id TEXT COLLATE "C" NOT NULL,
    record BYTEA NOT NULL,
    PRIMARY KEY (space, account, name)
);
CREATE TABLE kms_users (
    account TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    record BYTEA NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE kms_roles (
    account TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    record BYTEA NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE kms_access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    record BYTEA NOT NULL
);
CREATE INDEX kms_access_keys_user ON kms_access_keys (account, user_name);
INSERT INTO kms_spaces (space) VALUES ('');
"#;

/// Version 2: several servers on one database. A key row carries its
/// record's revision (`Store::put_key` writes over the revision it read)
/// and the last usage apart from the record (`Store::merge_usage` writes
/// only it, and no other server is told). Every change of a record a server
/// caches is announced on the channel `kms_changes` at commit (`LISTEN` /
/// `NOTIFY`): `key <space> <id>` (a key or its grants), `alias <space>`,
/// `identity`, `resync` (a rollback: everything).
const SCHEMA_V2: &str = r#"
ALTER TABLE kms_keys ADD COLUMN revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN usage BYTEA, ADD COLUMN usage_ms BIGINT;
ALTER TABLE IF EXISTS kms_checkpoint_keys ADD COLUMN revision BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN usage BYTEA, ADD COLUMN usage_ms BIGINT;
CREATE FUNCTION kms_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_TABLE_NAME IN ('kms_keys', 'kms_grants') THEN
        PERFORM pg_notify('kms_changes', 'key ' || r.space || ' ' || r.key_id);
    ELSIF TG_TABLE_NAME = 'kms_aliases' THEN
        PERFORM pg_notify('kms_changes', 'alias ' || r.space);
    ELSE
        PERFORM pg_notify('kms_changes', 'identity');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER kms_keys_written AFTER INSERT OR DELETE ON kms_keys
    FOR EACH ROW EXECUTE FUNCTION kms_notify();
CREATE TRIGGER kms_keys_changed AFTER UPDATE ON kms_keys
    FOR EACH ROW WHEN (OLD.revision IS DISTINCT FROM NEW.revision) EXECUTE FUNCTION kms_notify();
CREATE TRIGGER kms_grants_changed AFTER INSERT OR UPDATE OR DELETE ON kms_grants
    FOR EACH ROW EXECUTE FUNCTION kms_notify();
CREATE TRIGGER kms_aliases_changed AFTER INSERT OR UPDATE OR DELETE ON kms_aliases
    FOR EACH ROW EXECUTE FUNCTION kms_notify();
CREATE TRIGGER kms_users_changed AFTER INSERT OR UPDATE OR DELETE ON kms_users
    FOR EACH ROW EXECUTE FUNCTION kms_notify();
CREATE TRIGGER kms_roles_changed AFTER INSERT OR UPDATE OR DELETE ON kms_roles
    FOR EACH ROW EXECUTE FUNCTION kms_notify();
CREATE TRIGGER kms_access_keys_changed AFTER INSERT OR UPDATE OR DELETE ON kms_access_keys
    FOR EACH ROW EXECUTE FUNCTION kms_notify();
"#;

/// The channel of [`SCHEMA_V2`]'s announcements.
const CHANNEL: &str = "kms_changes";
/// The advisory lock the server running the background job holds ("kmsj").
const JOBS_LOCK_ID: i64 = 0x6b6d736a;

const PUT_META: &str =
    "INSERT INTO kms_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value";
const PUT_SPACE: &str = "INSERT INTO kms_spaces (space) VALUES ($1) ON CONFLICT DO NOTHING";
/// A key record over the revision it was made from (`$7 - 1`; none for a
/// new key, revision 1): no row when the stored one is another. The later
/// last usage stays.
const PUT_KEY: &str = "INSERT INTO kms_keys AS k (space, key_id, account, state, due_ms, record, revision, usage, usage_ms) \
     SELECT $1, $2, $3, $4, $5, $6, $7::bigint, $8::bytea, $9::bigint WHERE $7::bigint = 1 OR EXISTS \
       (SELECT 1 FROM kms_keys WHERE space = $1 AND key_id = $2 AND revision = $7::bigint - 1) \
     ON CONFLICT (space, key_id) DO UPDATE SET account = EXCLUDED.account, state = EXCLUDED.state, \
     due_ms = EXCLUDED.due_ms, record = EXCLUDED.record, revision = EXCLUDED.revision, \
     usage = CASE WHEN k.usage_ms > EXCLUDED.usage_ms OR EXCLUDED.usage_ms IS NULL THEN k.usage ELSE EXCLUDED.usage END, \
     usage_ms = GREATEST(k.usage_ms, EXCLUDED.usage_ms) \
     WHERE k.revision = EXCLUDED.revision - 1 RETURNING 1";
/// A key record as it is (a restore into an empty store).
const RESTORE_KEY: &str =
    "INSERT INTO kms_keys (space, key_id, account, state, due_ms, record, revision, usage, usage_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const PUT_GRANT: &str = "INSERT INTO kms_grants (space, key_id, grant_id, retiring_principal, record) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (space, key_id, grant_id) DO UPDATE SET \
     retiring_principal = EXCLUDED.retiring_principal, record = EXCLUDED.record";
const PUT_ALIAS: &str =
    "INSERT INTO kms_aliases (space, account, name, target_key_id, record) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (space, account, name) DO UPDATE SET target_key_id = EXCLUDED.target_key_id, record = EXCLUDED.record";
const PUT_USER: &str = "INSERT INTO kms_users (account, name, record) VALUES ($1, $2, $3) \
     ON CONFLICT (account, name) DO UPDATE SET record = EXCLUDED.record";
const PUT_ROLE: &str = "INSERT INTO kms_roles (account, name, record) VALUES ($1, $2, $3) \
     ON CONFLICT (account, name) DO UPDATE SET record = EXCLUDED.record";
const PUT_ACCESS_KEY: &str = "INSERT INTO kms_access_keys (access_key_id, account, user_name, record) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (access_key_id) DO UPDATE SET account = EXCLUDED.account, \
     user_name = EXCLUDED.user_name, record = EXCLUDED.record";

fn pg_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("store (PostgreSQL): {e}"))
}

/// tokio-postgres's errors print their kind only; the server's message
/// (and the I/O error) is in the source.
fn pg_error(e: tokio_postgres::Error) -> Error {
    match std::error::Error::source(&e) {
        Some(cause) => pg_err(format!("{e}: {cause}")),
        None => pg_err(e),
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(pg_err)
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(pg_err)
}

fn records<T: DeserializeOwned>(rows: &[Row]) -> Result<Vec<T>> {
    rows.iter().map(|r| decode(r.try_get::<_, &[u8]>(0).map_err(pg_error)?)).collect()
}

/// Key records from rows of `record, usage`: the last usage kept beside
/// the record replaces the record's own when it is the later.
fn key_records(rows: &[Row]) -> Result<Vec<KeyRecord>> {
    rows.iter()
        .map(|r| {
            let mut rec: KeyRecord = decode(r.try_get::<_, &[u8]>(0).map_err(pg_error)?)?;
            if let Some(u) = r.try_get::<_, Option<&[u8]>>(1).map_err(pg_error)? {
                rec.note_usage(decode::<LastUsage>(u)?);
            }
            Ok(rec)
        })
        .collect()
}

/// The columns [`PUT_KEY`] and [`RESTORE_KEY`] write besides the record:
/// revision, usage, usage time.
fn key_extras(key: &KeyRecord) -> Result<(i64, Option<Vec<u8>>, Option<i64>)> {
    let usage = key.last_usage.as_ref().map(encode).transpose()?;
    Ok((key.revision as i64, usage, key.last_usage.as_ref().map(|u| u.at_ms)))
}

/// A validated `store = "postgres://..."` setting. Besides tokio-postgres's
/// parameters (several hosts, `target_session_attrs=read-write`,
/// `sslmode`, `connect_timeout`, `options`, ...), the URL may carry
/// `sslrootcert=FILE` (the CA certificates, PEM, `sslmode=require` needs
/// it) and `pool_size=N`. With no password in the URL, `PGPASSWORD` is used.
/// `Debug` and [`PgConfig::redacted`] never show the password.
#[derive(Clone)]
pub struct PgConfig {
    pg: tokio_postgres::Config,
    ca_file: Option<PathBuf>,
    pool_size: usize,
    redacted: String,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("bad percent-encoding in '{s}'"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad percent-encoding in '{s}'"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}' is not UTF-8"))
}

impl PgConfig {
    /// Parse and check a `postgres://` (or `postgresql://`) URL; no I/O.
    pub fn parse(url: &str) -> std::result::Result<PgConfig, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("must be a postgres:// URL".into());
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = vec![];
        let (mut ca_file, mut pool_size) = (None, DEFAULT_POOL_SIZE);
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k {
                "sslrootcert" => ca_file = Some(PathBuf::from(percent_decode(v)?)),
                "pool_size" => {
                    pool_size = match v.parse() {
                        Ok(n @ 1..=256) => n,
                        _ => return Err(format!("pool_size: '{v}' is not a number between 1 and 256")),
                    }
                }
                _ => kept.push(param),
            }
        }
        let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        // tokio-postgres's message names the parameter, never its value.
        let mut pg = tokio_postgres::Config::from_str(&rest).map_err(|e| match std::error::Error::source(&e) {
            Some(c) => format!("{e}: {c}"),
            None => e.to_string(),
        })?;
        if pg.get_hosts().is_empty() {
            return Err("the URL names no host".into());
        }
        match pg.get_ssl_mode() {
            SslMode::Require if ca_file.is_none() => {
                return Err(
                    "sslmode=require needs sslrootcert=FILE (the CA certificates the server's is checked against)"
                        .into(),
                )
            }
            SslMode::Require | SslMode::Disable => {}
            // `prefer` (tokio-postgres's default) would be TLS without a
            // verified server: say `require` or `disable`.
            _ => {
                if url.contains("sslmode=") {
                    return Err("sslmode: only 'require' (with sslrootcert) or 'disable' are supported".into());
                }
                pg.ssl_mode(SslMode::Disable);
            }
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("kms");
        }
        if pg.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                pg.password(p);
            }
        }
        let hosts: Vec<String> = pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = pg.get_ports().get(i).or(pg.get_ports().first()).copied().unwrap_or(5432);
                match h {
                    tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                    tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
                }
            })
            .collect();
        let redacted =
            format!("postgres://{}@{}/{}", pg.get_user().unwrap_or(""), hosts.join(","), pg.get_dbname().unwrap_or(""));
        Ok(PgConfig { pg, ca_file, pool_size, redacted })
    }

    /// The URL without password or parameters, for logs and messages.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// At most `pool_size` connections, reused while they work.
struct Pool {
    cfg: PgConfig,
    tls: Option<RustlsConnect>,
    idle: std::sync::Mutex<Vec<Conn>>,
    permits: tokio::sync::Semaphore,
    /// The connection that holds, or tries for, the background job's lock
    /// ([`Store::lead_jobs`]), and whether it holds it.
    leader: tokio::sync::Mutex<Option<(Conn, bool)>>,
}

/// A connection taken from the pool; back to it when dropped, unless it
/// broke or its call was cut short (`clean` unset).
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    clean: bool,
    /// From the idle list (and so perhaps closed by the server since).
    reused: bool,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take().filter(|c| self.clean && !c.client.is_closed()) {
            if let Ok(mut idle) = self.pool.idle.lock() {
                idle.push(conn);
            }
        }
    }
}

impl Lease<'_> {
    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn.as_mut().ok_or_else(|| pg_err("no connection"))
    }
}

impl Pool {
    /// A new connection. tokio-postgres bounds the TCP connect by
    /// `connect_timeout`; the whole handshake (TLS, authentication, the
    /// read-write check) is bounded here by the same, once per host.
    async fn connect(&self) -> Result<Conn> {
        let per_host = self.cfg.pg.get_connect_timeout().copied().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let limit = per_host * self.cfg.pg.get_hosts().len().max(1) as u32;
        self.timed(limit, self.connect_now()).await
    }

    async fn connect_now(&self) -> Result<Conn> {
        let client = match &self.tls {
            None => {
                let (client, connection) = self.cfg.pg.connect(NoTls).await.map_err(pg_error)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "PostgreSQL connection closed");
                    }
                });
                client
            }
            Some(tls) => {
                let (client, connection) = self.cfg.pg.connect(tls.clone()).await.map_err(pg_error)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "PostgreSQL connection closed");
                    }
                });
                client
            }
        };
        Ok(Conn { client, statements: HashMap::new() })
    }

    /// An idle connection that is still open, or a new one.
    async fn get(&self, fresh: bool) -> Result<Lease<'_>> {
        let permit = self.permits.acquire().await.map_err(pg_err)?;
        let idle = if fresh {
            None
        } else {
            let mut idle = self.idle.lock().map_err(pg_err)?;
            idle.retain(|c| !c.client.is_closed());
            idle.pop()
        };
        let reused = idle.is_some();
        let conn = match idle {
            Some(c) => c,
            None => self.connect().await?,
        };
        Ok(Lease { pool: self, conn: Some(conn), clean: false, reused, _permit: permit })
    }

    /// `f` within `limit`, or an error saying the database did not answer.
    async fn timed<T>(&self, limit: Duration, f: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(limit, f)
            .await
            .map_err(|_| pg_err(format!("{} did not answer within {} ms", self.cfg.redacted, limit.as_millis())))?
    }

    /// One statement (one transaction), prepared once per connection. A
    /// statement that failed because a reused connection had been closed
    /// meanwhile (the server restarted) runs again on a new one: every
    /// statement of the store can be repeated safely (upserts, deletes,
    /// reads).
    async fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.timed(CALL_TIMEOUT, async {
            let mut fresh = false;
            loop {
                let mut lease = self.get(fresh).await?;
                let conn = lease.conn()?;
                let result = match conn.statements.get(sql) {
                    Some(st) => conn.client.query(st, params).await,
                    None => match conn.client.prepare(sql).await {
                        Ok(st) => {
                            conn.statements.insert(sql, st.clone());
                            conn.client.query(&st, params).await
                        }
                        Err(e) => Err(e),
                    },
                };
                let closed = conn.client.is_closed();
                lease.clean = true;
                match result {
                    Err(_) if closed && lease.reused && !fresh => fresh = true,
                    r => return r.map_err(pg_error),
                }
            }
        })
        .await
    }

    async fn execute(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<()> {
        self.query(sql, params).await.map(drop)
    }
}

/// The PostgreSQL store: a view of one key space over a shared pool. Cheap
/// to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Arc<Pool>,
    space: Arc<str>,
}

impl PgStore {
    /// Connect, then create or migrate the schema (one transaction, under
    /// an advisory lock so that servers starting together migrate once).
    pub async fn connect(cfg: &PgConfig) -> Result<PgStore> {
        let tls = match (cfg.pg.get_ssl_mode(), &cfg.ca_file) {
            (SslMode::Require, Some(ca)) => Some(RustlsConnect::new(ca)?),
            _ => None,
        };
        let pool = Arc::new(Pool {
            cfg: cfg.clone(),
            tls,
            idle: Default::default(),
            permits: tokio::sync::Semaphore::new(cfg.pool_size),
            leader: Default::default(),
        });
        let store = PgStore { pool, space: "".into() };
        store.pool.timed(CALL_TIMEOUT, store.migrate()).await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut lease = self.pool.get(false).await?;
        let conn = lease.conn()?;
        let tx = conn.client.transaction().await.map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_ID]).await.map_err(pg_error)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS kms_schema (version INTEGER NOT NULL)").await.map_err(pg_error)?;
        let version: Option<i32> = tx
            .query_one("SELECT max(version) FROM kms_schema", &[])
            .await
            .map_err(pg_error)?
            .try_get(0)
            .map_err(pg_error)?;
        match version {
            Some(v) if v > PG_SCHEMA_VERSION => {
                return Err(Error::Internal(format!(
                "the database has schema version {v}, newer than this build's {PG_SCHEMA_VERSION}; refusing to open it"
            )))
            }
            Some(v) if v == PG_SCHEMA_VERSION => {}
            // Migrations from older versions, one step at a time.
            Some(1) => {
                tx.batch_execute(SCHEMA_V2).await.map_err(pg_error)?;
                tx.execute("UPDATE kms_schema SET version = $1", &[&PG_SCHEMA_VERSION]).await.map_err(pg_error)?;
                tracing::info!(database = %self.pool.cfg.redacted, "migrated the kms schema to version 2");
            }
            Some(v) => return Err(Error::Internal(format!("the database has an unknown schema version {v}"))),
            None => {
                tx.batch_execute(SCHEMA_V1).await.map_err(pg_error)?;
                tx.batch_execute(SCHEMA_V2).await.map_err(pg_error)?;
                tx.execute("INSERT INTO kms_schema (version) VALUES ($1)", &[&PG_SCHEMA_VERSION])
                    .await
                    .map_err(pg_error)?;
                tracing::info!(database = %self.pool.cfg.redacted, "created the kms schema");
            }
        }
        tx.commit().await.map_err(pg_error)?;
        lease.clean = true;
        Ok(())
    }

    /// True while the database holds no metadata: a store no server has
    /// opened yet (the service writes its root-key check value first).
    pub async fn is_fresh(&self) -> Result<bool> {
        let rows = self.pool.query("SELECT NOT EXISTS (SELECT 1 FROM kms_meta)", &[]).await?;
        rows.first().ok_or_else(|| pg_err("no row"))?.try_get(0).map_err(pg_error)
    }

    async fn one_record<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<T>> {
        Ok(records(&self.pool.query(sql, params).await?)?.into_iter().next())
    }

    fn space(&self) -> &str {
        &self.space
    }
}

/// The checkpoint's copy of `table`.
fn shadow(table: &str) -> String {
    format!("kms_checkpoint_{}", table.trim_start_matches("kms_"))
}

#[async_trait]
impl Store for PgStore {
    async fn key_space(&self, name: &str) -> Result<Arc<dyn Store>> {
        self.pool.execute(PUT_SPACE, &[&name]).await?;
        Ok(Arc::new(PgStore { pool: self.pool.clone(), space: name.into() }))
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let rows = self.pool.query("SELECT value FROM kms_meta WHERE name = $1", &[&name]).await?;
        rows.first().map(|r| r.try_get::<_, Vec<u8>>(0).map_err(pg_error)).transpose()
    }

    async fn put_meta(&self, name: &str, value: &[u8]) -> Result<()> {
        self.pool.execute(PUT_META, &[&name, &value]).await
    }

    async fn delete_meta(&self, name: &str) -> Result<()> {
        self.pool.execute("DELETE FROM kms_meta WHERE name = $1", &[&name]).await
    }

    async fn list_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        // A range on the "C"-collated key, so that the prefix has no
        // wildcard characters to escape.
        let end = format!("{prefix}\u{10ffff}");
        let rows = self
            .pool
            .query("SELECT name, value FROM kms_meta WHERE name >= $1 AND name < $2 ORDER BY name", &[&prefix, &end])
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<_, String>(0).map_err(pg_error)?, r.try_get::<_, Vec<u8>>(1).map_err(pg_error)?)))
            .collect()
    }

    async fn get_key(&self, key_id: &str) -> Result<Option<KeyRecord>> {
        const SQL: &str = "SELECT record, usage FROM kms_keys WHERE space = $1 AND key_id = $2";
        Ok(key_records(&self.pool.query(SQL, &[&self.space(), &key_id]).await?)?.pop())
    }

    async fn put_key(&self, key: &KeyRecord) -> Result<()> {
        let record = encode(key)?;
        let (state, due) = (key.state.as_str(), key.next_job_ms());
        let (revision, usage, usage_ms) = key_extras(key)?;
        let params: [&(dyn ToSql + Sync); 9] =
            [&self.space(), &key.key_id, &key.account, &state, &due, &record, &revision, &usage, &usage_ms];
        if self.pool.query(PUT_KEY, &params).await?.is_empty() {
            return Err(Error::StaleRecord(format!(
                "The key {} was changed by another request meanwhile. Retry the request.",
                key.key_id
            )));
        }
        Ok(())
    }

    async fn merge_usage(&self, key_id: &str, usage: &LastUsage) -> Result<()> {
        const SQL: &str = "UPDATE kms_keys SET usage = $3, usage_ms = $4 \
             WHERE space = $1 AND key_id = $2 AND (usage_ms IS NULL OR usage_ms < $4)";
        self.pool.execute(SQL, &[&self.space(), &key_id, &encode(usage)?, &usage.at_ms]).await
    }

    async fn delete_key(&self, key_id: &str) -> Result<()> {
        const SQL: &str = "WITH k AS (DELETE FROM kms_keys WHERE space = $1 AND key_id = $2 RETURNING account), \
             a AS (DELETE FROM kms_aliases WHERE space = $1 AND target_key_id = $2 \
                   AND account IN (SELECT account FROM k)), \
             g AS (DELETE FROM kms_grants WHERE space = $1 AND key_id = $2 AND EXISTS (SELECT 1 FROM k)) \
             SELECT count(*) FROM k";
        self.pool.execute(SQL, &[&self.space(), &key_id]).await
    }

    async fn count_keys_by_state(&self) -> Result<Vec<(KeyState, u64)>> {
        let rows = self
            .pool
            .query(
                "SELECT state, count(*) FROM kms_keys WHERE space = $1 GROUP BY state ORDER BY state",
                &[&self.space()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let (state, n): (&str, i64) = (r.try_get(0).map_err(pg_error)?, r.try_get(1).map_err(pg_error)?);
                let state = KeyState::parse(state).ok_or_else(|| pg_err(format!("unknown key state '{state}'")))?;
                Ok((state, n as u64))
            })
            .collect()
    }

    async fn keys_due(&self, now_ms: i64, limit: usize) -> Result<Vec<String>> {
        let rows = self
            .pool
            .query(
                "SELECT key_id FROM kms_keys WHERE space = $1 AND due_ms <= $2 ORDER BY due_ms, key_id LIMIT $3",
                &[&self.space(), &now_ms, &(limit as i64)],
            )
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(pg_error)).collect()
    }

    async fn put_grant(&self, grant: &GrantRecord) -> Result<()> {
        let record = encode(grant)?;
        self.pool
            .execute(PUT_GRANT, &[&self.space(), &grant.key_id, &grant.grant_id, &grant.retiring_principal, &record])
            .await
    }

    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<()> {
        self.pool
            .execute(
                "DELETE FROM kms_grants WHERE space = $1 AND key_id = $2 AND grant_id = $3",
                &[&self.space(), &key_id, &grant_id],
            )
            .await
    }

    async fn list_grants(&self, key_id: &str) -> Result<Vec<GrantRecord>> {
        records(
            &self
                .pool
                .query(
                    "SELECT record FROM kms_grants WHERE space = $1 AND key_id = $2 ORDER BY grant_id",
                    &[&self.space(), &key_id],
                )
                .await?,
        )
    }

    async fn find_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        self.one_record(
            "SELECT record FROM kms_grants WHERE space = $1 AND grant_id = $2 ORDER BY key_id LIMIT 1",
            &[&self.space(), &grant_id],
        )
        .await
    }

    async fn list_retirable_grants(&self, principal: &str) -> Result<Vec<GrantRecord>> {
        records(
            &self
                .pool
                .query(
                    "SELECT record FROM kms_grants WHERE space = $1 AND retiring_principal = $2 \
                     ORDER BY key_id, grant_id",
                    &[&self.space(), &principal],
                )
                .await?,
        )
    }

    async fn put_alias(&self, alias: &AliasRecord) -> Result<()> {
        let record = encode(alias)?;
        self.pool.execute(PUT_ALIAS, &[&self.space(), &alias.account, &alias.name, &alias.target_key_id, &record]).await
    }

    async fn delete_alias(&self, account: &str, name: &str) -> Result<()> {
        self.pool
            .execute(
                "DELETE FROM kms_aliases WHERE space = $1 AND account = $2 AND name = $3",
                &[&self.space(), &account, &name],
            )
            .await
    }

    async fn list_aliases(&self) -> Result<Vec<AliasRecord>> {
        records(
            &self
                .pool
                .query("SELECT record FROM kms_aliases WHERE space = $1 ORDER BY account, name", &[&self.space()])
                .await?,
        )
    }

    async fn list_key_ids(&self, account: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let rows = self
            .pool
            .query(
                "SELECT key_id FROM kms_keys WHERE space = $1 AND account = $2 AND key_id > $3 \
                 ORDER BY key_id LIMIT $4",
                &[&self.space(), &account, &after.unwrap_or(""), &(limit as i64)],
            )
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(pg_error)).collect()
    }

    async fn count_keys(&self, account: &str) -> Result<u64> {
        let rows = self
            .pool
            .query("SELECT count(*) FROM kms_keys WHERE space = $1 AND account = $2", &[&self.space(), &account])
            .await?;
        let n: i64 = rows.first().ok_or_else(|| pg_err("count returned no row"))?.try_get(0).map_err(pg_error)?;
        Ok(n as u64)
    }

    async fn get_user(&self, account: &str, name: &str) -> Result<Option<UserRecord>> {
        self.one_record("SELECT record FROM kms_users WHERE account = $1 AND name = $2", &[&account, &name]).await
    }

    async fn put_user(&self, user: &UserRecord) -> Result<()> {
        let record = encode(user)?;
        self.pool.execute(PUT_USER, &[&user.account, &user.name, &record]).await
    }

    async fn delete_user(&self, account: &str, name: &str) -> Result<()> {
        const SQL: &str = "WITH u AS (DELETE FROM kms_users WHERE account = $1 AND name = $2) \
             DELETE FROM kms_access_keys WHERE account = $1 AND user_name = $2";
        self.pool.execute(SQL, &[&account, &name]).await
    }

    async fn list_users(&self, account: Option<&str>) -> Result<Vec<UserRecord>> {
        records(
            &self
                .pool
                .query(
                    "SELECT record FROM kms_users WHERE $1::text IS NULL OR account = $1 ORDER BY account, name",
                    &[&account],
                )
                .await?,
        )
    }

    async fn get_role(&self, account: &str, name: &str) -> Result<Option<RoleRecord>> {
        self.one_record("SELECT record FROM kms_roles WHERE account = $1 AND name = $2", &[&account, &name]).await
    }

    async fn put_role(&self, role: &RoleRecord) -> Result<()> {
        let record = encode(role)?;
        self.pool.execute(PUT_ROLE, &[&role.account, &role.name, &record]).await
    }

    async fn delete_role(&self, account: &str, name: &str) -> Result<()> {
        self.pool.execute("DELETE FROM kms_roles WHERE account = $1 AND name = $2", &[&account, &name]).await
    }

    async fn list_roles(&self, account: Option<&str>) -> Result<Vec<RoleRecord>> {
        records(
            &self
                .pool
                .query(
                    "SELECT record FROM kms_roles WHERE $1::text IS NULL OR account = $1 ORDER BY account, name",
                    &[&account],
                )
                .await?,
        )
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        let record = encode(key)?;
        self.pool.execute(PUT_ACCESS_KEY, &[&key.access_key_id, &key.account, &key.user_name, &record]).await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<()> {
        self.pool.execute("DELETE FROM kms_access_keys WHERE access_key_id = $1", &[&access_key_id]).await
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        records(&self.pool.query("SELECT record FROM kms_access_keys ORDER BY access_key_id", &[]).await?)
    }

    /// A copy of every table into `kms_checkpoint_*` tables, in one
    /// repeatable-read transaction (so one consistent state). It costs a
    /// full copy of the store, in time and space, and lives in the
    /// database: it outlives the process, until `drop_checkpoint` or the
    /// next checkpoint replaces it.
    async fn checkpoint(&self) -> Result<()> {
        let mut sql = String::new();
        for t in TABLES {
            let s = shadow(t);
            sql.push_str(&format!("DROP TABLE IF EXISTS {s}; CREATE TABLE {s} AS TABLE {t};\n"));
        }
        self.pool
            .timed(BULK_TIMEOUT, async {
                let mut lease = self.pool.get(false).await?;
                let conn = lease.conn()?;
                let tx = conn
                    .client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .start()
                    .await
                    .map_err(pg_error)?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_ID]).await.map_err(pg_error)?;
                tx.batch_execute(&sql).await.map_err(pg_error)?;
                tx.commit().await.map_err(pg_error)?;
                lease.clean = true;
                Ok(())
            })
            .await
    }

    /// Every table emptied and refilled from its checkpoint copy, in one
    /// transaction (the copies are kept).
    async fn rollback(&self) -> Result<()> {
        let mut sql = format!("TRUNCATE {};\n", TABLES.join(", "));
        for t in TABLES {
            sql.push_str(&format!("INSERT INTO {t} SELECT * FROM {};\n", shadow(t)));
        }
        sql.push_str(&format!("SELECT pg_notify('{CHANNEL}', 'resync');\n"));
        self.pool
            .timed(BULK_TIMEOUT, async {
                let mut lease = self.pool.get(false).await?;
                let conn = lease.conn()?;
                let tx = conn.client.transaction().await.map_err(pg_error)?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_ID]).await.map_err(pg_error)?;
                let kept = tx
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&shadow(TABLES[TABLES.len() - 1])])
                    .await
                    .map_err(pg_error)?
                    .try_get::<_, bool>(0)
                    .map_err(pg_error)?;
                if !kept {
                    drop(tx);
                    lease.clean = true;
                    return Err(pg_err("no checkpoint to roll back to"));
                }
                tx.batch_execute(&sql).await.map_err(pg_error)?;
                tx.commit().await.map_err(pg_error)?;
                lease.clean = true;
                Ok(())
            })
            .await
    }

    async fn drop_checkpoint(&self) -> Result<()> {
        let sql = format!("DROP TABLE IF EXISTS {}", TABLES.map(shadow).join(", "));
        self.pool
            .timed(CALL_TIMEOUT, async {
                let mut lease = self.pool.get(false).await?;
                let conn = lease.conn()?;
                let result = conn.client.batch_execute(&sql).await.map_err(pg_error);
                lease.clean = true;
                result
            })
            .await
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        self.pool
            .timed(BULK_TIMEOUT, async {
                let mut lease = self.pool.get(false).await?;
                let conn = lease.conn()?;
                let tx = conn
                    .client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await
                    .map_err(pg_error)?;
                let mut s = Snapshot::default();
                for r in tx.query("SELECT name, value FROM kms_meta ORDER BY name", &[]).await.map_err(pg_error)? {
                    s.meta.push((r.try_get(0).map_err(pg_error)?, r.try_get(1).map_err(pg_error)?));
                }
                let spaces = tx.query("SELECT space FROM kms_spaces ORDER BY space", &[]).await.map_err(pg_error)?;
                let keys = tx
                    .prepare("SELECT record, usage FROM kms_keys WHERE space = $1 ORDER BY key_id")
                    .await
                    .map_err(pg_error)?;
                let grants = tx
                    .prepare("SELECT record FROM kms_grants WHERE space = $1 ORDER BY key_id, grant_id")
                    .await
                    .map_err(pg_error)?;
                let aliases = tx
                    .prepare("SELECT record FROM kms_aliases WHERE space = $1 ORDER BY account, name")
                    .await
                    .map_err(pg_error)?;
                for r in spaces {
                    let name: String = r.try_get(0).map_err(pg_error)?;
                    s.spaces.push(SpaceSnapshot {
                        keys: key_records(&tx.query(&keys, &[&name]).await.map_err(pg_error)?)?,
                        grants: records(&tx.query(&grants, &[&name]).await.map_err(pg_error)?)?,
                        aliases: records(&tx.query(&aliases, &[&name]).await.map_err(pg_error)?)?,
                        name,
                    });
                }
                let all = |sql: &'static str| {
                    let tx = &tx;
                    async move { tx.query(sql, &[]).await.map_err(pg_error) }
                };
                s.users = records(&all("SELECT record FROM kms_users ORDER BY account, name").await?)?;
                s.roles = records(&all("SELECT record FROM kms_roles ORDER BY account, name").await?)?;
                s.access_keys = records(&all("SELECT record FROM kms_access_keys ORDER BY access_key_id").await?)?;
                tx.commit().await.map_err(pg_error)?;
                lease.clean = true;
                Ok(s)
            })
            .await
    }

    fn changes(&self) -> Option<tokio::sync::mpsc::Receiver<Change>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(listen(self.pool.clone(), tx));
        Some(rx)
    }

    async fn lead_jobs(&self) -> Result<bool> {
        let mut leader = self.pool.leader.lock().await;
        let result = self
            .pool
            .timed(PING_TIMEOUT, async {
                let (conn, held) = match leader.as_mut() {
                    Some(l) if !l.0.client.is_closed() => l,
                    _ => leader.insert((self.pool.connect().await?, false)),
                };
                if *held {
                    conn.client.simple_query("SELECT 1").await.map_err(pg_error)?;
                } else {
                    let row = conn
                        .client
                        .query_one("SELECT pg_try_advisory_lock($1)", &[&JOBS_LOCK_ID])
                        .await
                        .map_err(pg_error)?;
                    *held = row.try_get(0).map_err(pg_error)?;
                    if *held {
                        tracing::info!("this server runs the background job now");
                    }
                }
                Ok(*held)
            })
            .await;
        if result.is_err() {
            // Closed: the lock, if held, goes with the connection.
            *leader = None;
        }
        result
    }

    async fn restore(&self, snapshot: &Snapshot) -> Result<()> {
        // Encoded first; then one transaction, its inserts pipelined.
        let mut keys = vec![];
        let mut grants = vec![];
        let mut aliases = vec![];
        for sp in &snapshot.spaces {
            for k in &sp.keys {
                keys.push((sp.name.as_str(), k, k.state.as_str(), k.next_job_ms(), encode(k)?, key_extras(k)?));
            }
            for g in &sp.grants {
                grants.push((sp.name.as_str(), g, encode(g)?));
            }
            for a in &sp.aliases {
                aliases.push((sp.name.as_str(), a, encode(a)?));
            }
        }
        let users: Vec<_> = snapshot.users.iter().map(|u| Ok((u, encode(u)?))).collect::<Result<_>>()?;
        let roles: Vec<_> = snapshot.roles.iter().map(|r| Ok((r, encode(r)?))).collect::<Result<_>>()?;
        let access_keys: Vec<_> = snapshot.access_keys.iter().map(|a| Ok((a, encode(a)?))).collect::<Result<_>>()?;
        self.pool
            .timed(BULK_TIMEOUT, async {
                let mut lease = self.pool.get(false).await?;
                let conn = lease.conn()?;
                let tx = conn.client.transaction().await.map_err(pg_error)?;
                tx.batch_execute("LOCK TABLE kms_keys, kms_users, kms_access_keys IN EXCLUSIVE MODE")
                    .await
                    .map_err(pg_error)?;
                let used: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM kms_keys WHERE space = '') \
                         OR EXISTS (SELECT 1 FROM kms_users) OR EXISTS (SELECT 1 FROM kms_access_keys)",
                        &[],
                    )
                    .await
                    .map_err(pg_error)?
                    .try_get(0)
                    .map_err(pg_error)?;
                if used {
                    drop(tx);
                    lease.clean = true;
                    return Err(Error::Internal("the store is not empty; a restore needs an empty one".into()));
                }
                let t = &tx;
                let st = |sql: &'static str| async move { t.prepare(sql).await.map_err(pg_error) };
                let (meta_st, space_st, key_st, grant_st, alias_st, user_st, role_st, ak_st) = (
                    st(PUT_META).await?,
                    st(PUT_SPACE).await?,
                    st(RESTORE_KEY).await?,
                    st(PUT_GRANT).await?,
                    st(PUT_ALIAS).await?,
                    st(PUT_USER).await?,
                    st(PUT_ROLE).await?,
                    st(PUT_ACCESS_KEY).await?,
                );
                type Params<'p> = Vec<&'p (dyn ToSql + Sync)>;
                let mut rows: Vec<(&Statement, Params<'_>)> = vec![];
                for (k, v) in &snapshot.meta {
                    rows.push((&meta_st, vec![k, v]));
                }
                for sp in &snapshot.spaces {
                    rows.push((&space_st, vec![&sp.name]));
                }
                for (space, k, state, due, rec, (revision, usage, usage_ms)) in &keys {
                    rows.push((
                        &key_st,
                        vec![space, &k.key_id, &k.account, state, due, rec, revision, usage, usage_ms],
                    ));
                }
                for (space, g, rec) in &grants {
                    rows.push((&grant_st, vec![space, &g.key_id, &g.grant_id, &g.retiring_principal, rec]));
                }
                for (space, a, rec) in &aliases {
                    rows.push((&alias_st, vec![space, &a.account, &a.name, &a.target_key_id, rec]));
                }
                for (u, rec) in &users {
                    rows.push((&user_st, vec![&u.account, &u.name, rec]));
                }
                for (r, rec) in &roles {
                    rows.push((&role_st, vec![&r.account, &r.name, rec]));
                }
                for (a, rec) in &access_keys {
                    rows.push((&ak_st, vec![&a.access_key_id, &a.account, &a.user_name, rec]));
                }
                // tokio-postgres pipelines the requests polled together on
                // one connection: a bounded number at a time.
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let batch: Vec<_> = rows.by_ref().take(256).map(|(st, p)| t.execute_raw(st, p)).collect();
                    for r in futures_util::future::join_all(batch).await {
                        r.map_err(pg_error)?;
                    }
                }
                tx.commit().await.map_err(pg_error)?;
                lease.clean = true;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// How often the change feed's connection is checked, and how long the
/// check (and the job lock's) may take: a connection that stopped
/// answering is found within about a second and a half.
const PING_EVERY: Duration = Duration::from_millis(500);
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// The wait between attempts to open the change feed again.
const LISTEN_RETRY: Duration = Duration::from_millis(250);

/// The change feed ([`Store::changes`]): a connection of its own that
/// `LISTEN`s on [`CHANNEL`], reopened whenever it breaks or stops answering
/// (`Lost` then, `Resumed` once it listens again), until the receiver is
/// dropped.
async fn listen(pool: Arc<Pool>, tx: tokio::sync::mpsc::Sender<Change>) {
    let mut listening = false;
    while !tx.is_closed() {
        match listen_once(&pool, &tx, &mut listening).await {
            Ok(()) => tracing::warn!("the PostgreSQL change feed stopped; caches are off until it is back"),
            Err(e) if listening => {
                tracing::warn!(error = %e, "the PostgreSQL change feed broke; caches are off until it is back")
            }
            Err(e) => tracing::debug!(error = %e, "the PostgreSQL change feed did not open"),
        }
        if std::mem::take(&mut listening) && tx.send(Change::Lost).await.is_err() {
            return;
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

async fn listen_once(pool: &Pool, tx: &tokio::sync::mpsc::Sender<Change>, listening: &mut bool) -> Result<()> {
    let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
    let per_host = pool.cfg.pg.get_connect_timeout().copied().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let limit = per_host * pool.cfg.pg.get_hosts().len().max(1) as u32;
    let (client, driver) = pool
        .timed(limit, async {
            Ok(match &pool.tls {
                None => {
                    let (client, connection) = pool.cfg.pg.connect(NoTls).await.map_err(pg_error)?;
                    (client, tokio::spawn(notifications(connection, ntx)))
                }
                Some(tls) => {
                    let (client, connection) = pool.cfg.pg.connect(tls.clone()).await.map_err(pg_error)?;
                    (client, tokio::spawn(notifications(connection, ntx)))
                }
            })
        })
        .await?;
    let _abort = AbortOnDrop(driver);
    pool.timed(PING_TIMEOUT, async { client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(pg_error) })
        .await?;
    *listening = true;
    if tx.send(Change::Resumed).await.is_err() {
        return Ok(());
    }
    tracing::info!("following the PostgreSQL change feed");
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            n = nrx.recv() => match n {
                Some(payload) => match parse_change(&payload) {
                    Some(c) => if tx.send(c).await.is_err() { return Ok(()) },
                    None => tracing::warn!(payload, "an unknown change announcement"),
                },
                None => return Err(pg_err("the connection closed")),
            },
            _ = ping.tick() => {
                pool.timed(PING_TIMEOUT, async { client.simple_query("SELECT 1").await.map_err(pg_error) }).await?;
            }
        }
    }
}

/// Drive a connection, passing its notifications' payloads on.
async fn notifications<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    out: tokio::sync::mpsc::UnboundedSender<String>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::StreamExt as _;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(m) = messages.next().await {
        match m {
            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                if out.send(n.payload().to_string()).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "the change feed's connection ended");
                return;
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An announcement of [`SCHEMA_V2`]'s `kms_notify`.
fn parse_change(payload: &str) -> Option<Change> {
    let mut parts = payload.splitn(3, ' ');
    match (parts.next()?, parts.next(), parts.next()) {
        ("key", Some(space), Some(key_id)) => Some(Change::Key { space: space.into(), key_id: key_id.into() }),
        ("alias", Some(space), None) => Some(Change::Alias { space: space.into() }),
        ("identity", None, None) => Some(Change::Identity),
        ("resync", None, None) => Some(Change::Resumed),
        _ => None,
    }
}

/// `sslmode=require`: TLS through rustls, the server's certificate checked
/// against `sslrootcert` and the host name (as libpq's `verify-full`). No
/// channel binding (SCRAM without `-PLUS`).
#[derive(Clone)]
struct RustlsConnect(tokio_rustls::TlsConnector);

impl RustlsConnect {
    fn new(ca_file: &std::path::Path) -> Result<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let bad = |e: &dyn std::fmt::Display| pg_err(format!("sslrootcert {}: {e}", ca_file.display()));
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(&e))? {
            roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        }
        if roots.is_empty() {
            return Err(bad(&"no certificate found"));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(pg_err)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(RustlsConnect(tokio_rustls::TlsConnector::from(Arc::new(cfg))))
    }
}

impl tokio_postgres::tls::MakeTlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnectHost;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> std::result::Result<RustlsConnectHost, Self::Error> {
        let name = rustls::pki_types::ServerName::try_from(domain.to_string())?;
        Ok(RustlsConnectHost { connector: self.0.clone(), name })
    }
}

struct RustlsConnectHost {
    connector: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

impl tokio_postgres::tls::TlsConnect<Socket> for RustlsConnectHost {
    type Stream = RustlsStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move { Ok(RustlsStream(self.connector.connect(self.name, stream).await?)) })
    }
}

struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_redacts() {
        let c = PgConfig::parse(
            "postgres://kms:secret@db1:5432,db2:5433/kms?target_session_attrs=read-write&pool_size=3&sslmode=require&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(c.redacted(), "postgres://kms@db1:5432,db2:5433/kms");
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.pool_size, 3);
        assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("/tmp/ca.pem")));
        assert_eq!(c.pg.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        assert!(PgConfig::parse("mysql://x").is_err());
        assert!(PgConfig::parse("postgres://h/db?sslmode=require").unwrap_err().contains("sslrootcert"));
        assert!(PgConfig::parse("postgres://h/db?sslmode=prefer").is_err());
        assert!(PgConfig::parse("postgres://h/db?pool_size=0").is_err());
        assert!(PgConfig::parse("postgres://h/db?bogus=1").unwrap_err().contains("bogus"));
    }
}

/// PostgreSQL's own behaviours, against servers started for the test.
#[cfg(test)]
mod server_tests {
    use super::*;
    use crate::testing::TestPostgres;
    use std::time::Instant;

    async fn open(url: &str) -> Result<PgStore> {
        PgStore::connect(&PgConfig::parse(url).map_err(pg_err)?).await
    }

    /// With the database down a call fails at once (no hang), and the store
    /// works again when the database is back, with no restart of ours.
    #[tokio::test]
    async fn database_down_fails_fast_then_recovers() {
        let mut pg = TestPostgres::start();
        let s = open(&pg.url()).await.unwrap();
        s.put_meta("m", b"1").await.unwrap();
        pg.stop();
        let t = Instant::now();
        let e = s.get_meta("m").await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
        assert!(e.to_string().contains("PostgreSQL"), "{e}");
        pg.start_again();
        assert_eq!(s.get_meta("m").await.unwrap().as_deref(), Some(&b"1"[..]));
        s.put_meta("m", b"2").await.unwrap();
    }

    /// Two stores on one database: what one writes is announced to the
    /// other (not a usage-only write), the feed comes back after the
    /// database restarts (Lost, then Resumed), and one store at a time
    /// runs the background job, the other once the first one's connection
    /// is gone.
    async fn next(feed: &mut tokio::sync::mpsc::Receiver<kms_core::ports::Change>) -> kms_core::ports::Change {
        tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.expect("a change within 5 s").unwrap()
    }

    #[tokio::test]
    async fn changes_are_announced_and_jobs_run_on_one_store() {
        use kms_core::ports::Change;
        let mut pg = TestPostgres::start();
        let (a, b) = (open(&pg.url()).await.unwrap(), open(&pg.url()).await.unwrap());
        let mut feed = a.changes().unwrap();
        assert_eq!(next(&mut feed).await, Change::Resumed);
        let west = b.key_space("us-west-2").await.unwrap();
        let mut k: KeyRecord = serde_json::from_value(serde_json::json!({
            "key_id": "k1", "account": "111122223333", "created_ms": 1, "description": "",
            "key_usage": "ENCRYPT_DECRYPT", "key_spec": "SYMMETRIC_DEFAULT", "origin": "AWS_KMS",
            "state": "Enabled", "policy": "{}", "materials": [], "revision": 1
        }))
        .unwrap();
        west.put_key(&k).await.unwrap();
        assert_eq!(next(&mut feed).await, Change::Key { space: "us-west-2".into(), key_id: "k1".into() });
        let usage = LastUsage { operation: "Encrypt".into(), at_ms: 5, request_id: "r".into(), principal: None };
        west.merge_usage("k1", &usage).await.unwrap();
        k.revision = 2;
        west.put_key(&k).await.unwrap();
        // The usage-only write said nothing: the next announcement is the put.
        assert_eq!(next(&mut feed).await, Change::Key { space: "us-west-2".into(), key_id: "k1".into() });
        b.put_alias(&AliasRecord {
            account: "111122223333".into(),
            name: "alias/a".into(),
            target_key_id: "k1".into(),
            created_ms: 1,
            updated_ms: 1,
        })
        .await
        .unwrap();
        assert_eq!(next(&mut feed).await, Change::Alias { space: "".into() });
        let user: UserRecord = serde_json::from_value(serde_json::json!({
            "account": "111122223333", "name": "u", "user_id": "AIDAEXAMPLE", "created_ms": 1, "admin": false
        }))
        .unwrap();
        b.put_user(&user).await.unwrap();
        assert_eq!(next(&mut feed).await, Change::Identity);

        assert!(a.lead_jobs().await.unwrap());
        assert!(!b.lead_jobs().await.unwrap());
        assert!(a.lead_jobs().await.unwrap(), "the lock stays with its holder");
        pg.stop();
        assert_eq!(next(&mut feed).await, Change::Lost);
        assert!(a.lead_jobs().await.is_err());
        pg.start_again();
        assert_eq!(next(&mut feed).await, Change::Resumed);
        // Whoever asks first after the restart leads.
        assert!(b.lead_jobs().await.unwrap());
        assert!(!a.lead_jobs().await.unwrap());
        drop((b, west));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !a.lead_jobs().await.unwrap() {
            assert!(Instant::now() < deadline, "the lock did not move");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A server that accepts the connection but never answers: the
    /// connection attempt gives up after `connect_timeout`.
    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = vec![];
            while let Ok((sock, _)) = listener.accept().await {
                open.push(sock);
            }
        });
        let t = Instant::now();
        let e = open(&format!("postgres://kms@127.0.0.1:{port}/postgres?connect_timeout=1")).await.err().unwrap();
        assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
        assert!(e.to_string().contains("did not answer"), "{e}");
        held.abort();
    }

    /// Several hosts with `target_session_attrs=read-write`: a host that is
    /// down and one that is read-only are passed over for the writable one.
    #[tokio::test]
    async fn several_hosts_read_write() {
        let read_only = TestPostgres::start_with(&["default_transaction_read_only = on"]);
        let writable = TestPostgres::start();
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!(
            "postgres://kms@127.0.0.1:{dead},127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
            read_only.port(),
            writable.port()
        );
        let s = open(&url).await.unwrap();
        s.put_meta("where", b"writable").await.unwrap();
        let direct = open(&writable.url()).await.unwrap();
        assert_eq!(direct.get_meta("where").await.unwrap().as_deref(), Some(&b"writable"[..]));
        // Without the attribute the read-only server is taken, and refuses.
        let any = format!("postgres://kms@127.0.0.1:{}/postgres", read_only.port());
        assert!(open(&any).await.is_err(), "the schema cannot be created on a read-only server");
    }

    /// `sslmode=require`: TLS with the server's certificate checked against
    /// `sslrootcert`; a server that takes TLS connections only.
    #[tokio::test]
    async fn tls_required_and_verified() {
        let mut pg = TestPostgres::start();
        let dir = pg.dir().to_path_buf();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).current_dir(&dir).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        for ca in ["ca", "other-ca"] {
            let (key, crt, subj) = (format!("{ca}.key"), format!("{ca}.crt"), format!("/CN={ca}"));
            let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj, "-keyout", &key, "-out", &crt];
            args.extend(ec);
            openssl(&args);
        }
        let mut args = vec!["req", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"];
        args.extend(ec);
        openssl(&args);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        pg.give(&dir.join("server.key"));
        pg.give(&dir.join("server.crt"));
        pg.stop();
        let conf = pg.dir().join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "ssl = on\nssl_cert_file = '{0}/server.crt'\nssl_key_file = '{0}/server.key'\n",
            dir.display()
        ));
        std::fs::write(&conf, text).unwrap();
        pg.hba_first("hostnossl all all 127.0.0.1/32 reject\nhostssl all all 127.0.0.1/32 trust");
        pg.start_again();

        let ca = dir.join("ca.crt");
        let url = format!("{}?sslmode=require&sslrootcert={}", pg.url(), ca.display());
        let s = open(&url).await.unwrap();
        s.put_meta("tls", b"1").await.unwrap();
        assert_eq!(s.get_meta("tls").await.unwrap().as_deref(), Some(&b"1"[..]));
        // Plaintext is refused by the server; another CA by us.
        assert!(open(&pg.url()).await.is_err());
        let other = format!("{}?sslmode=require&sslrootcert={}", pg.url(), dir.join("other-ca.crt").display());
        let e = open(&other).await.err().unwrap();
        assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
        // The certificate names 127.0.0.1 and localhost, not another name.
        let wrong =
            format!("postgres://kms@127.0.0.2:{}/postgres?sslmode=require&sslrootcert={}", pg.port(), ca.display());
        assert!(open(&wrong).await.is_err());
    }

    /// A database written by a newer build is refused.
    #[tokio::test]
    async fn newer_schema_refused() {
        let pg = TestPostgres::start();
        let s = open(&pg.url()).await.unwrap();
        s.pool.execute("UPDATE kms_schema SET version = 99", &[]).await.unwrap();
        let e = open(&pg.url()).await.err().unwrap();
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
