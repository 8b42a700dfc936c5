//! The embedded store on redb. Records are JSON; every method is one redb
//! transaction, committed durably before it returns.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use kms_core::error::{Error, Result};
use kms_core::ports::Store;
use kms_core::types::{
    AccessKeyRecord, AliasRecord, GrantRecord, KeyRecord, KeyState, LastUsage, RoleRecord, Snapshot, SpaceSnapshot,
    UserRecord,
};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use serde::{de::DeserializeOwned, Serialize};

use crate::record::{decode_key, encode_key};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Schema 1's queue, of keys pending deletion only (migrated into `jobs`).
const DELETIONS_V1: TableDefinition<(i64, &str), ()> = TableDefinition::new("deletions");
/// (account, user name) -> UserRecord
const USERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("users");
/// (account, role name) -> RoleRecord
const ROLES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("roles");
/// access key id -> AccessKeyRecord
const ACCESS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_keys");

/// A table of JSON records keyed by (account, name).
type PairTable<'a> = TableDefinition<'a, (&'static str, &'static str), &'static [u8]>;

/// The tables of one key space (a region): keys, their grants and aliases,
/// and the background job's queue. The store's original key space has the
/// plain names (`keys`, ...); another one `keys@<name>`, ... Metadata and
/// identities (users, roles, access keys) are shared by every key space.
struct Space {
    /// key id -> KeyRecord
    keys: String,
    /// (account, key id) -> ()  (ListKeys order and pagination)
    account_keys: String,
    /// (time ms, key id) -> ()  (the background job's queue: a key is here
    /// at `KeyRecord::next_job_ms`)
    jobs: String,
    /// (key id, grant id) -> GrantRecord
    grants: String,
    /// (account, alias name) -> AliasRecord
    aliases: String,
    /// key state -> number of keys in it (none: no row), changed in the
    /// transaction of every write of `keys` (`/metrics`'s `kms_keys`)
    states: String,
}

impl Space {
    fn new(name: &str) -> Self {
        let t = |base: &str| if name.is_empty() { base.to_string() } else { format!("{base}@{name}") };
        Space {
            keys: t("keys"),
            account_keys: t("account_keys"),
            jobs: t("jobs"),
            grants: t("grants"),
            aliases: t("aliases"),
            states: t("key_states"),
        }
    }
    fn keys(&self) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(&self.keys)
    }
    fn account_keys(&self) -> TableDefinition<'_, (&'static str, &'static str), ()> {
        TableDefinition::new(&self.account_keys)
    }
    fn jobs(&self) -> TableDefinition<'_, (i64, &'static str), ()> {
        TableDefinition::new(&self.jobs)
    }
    fn grants(&self) -> PairTable<'_> {
        TableDefinition::new(&self.grants)
    }
    fn aliases(&self) -> PairTable<'_> {
        TableDefinition::new(&self.aliases)
    }
    fn states(&self) -> TableDefinition<'_, &'static str, u64> {
        TableDefinition::new(&self.states)
    }
    /// Count every key of the space again (a store of schema 2 or older).
    fn recount(&self, tx: &redb::WriteTransaction) -> Result<()> {
        let keys = tx.open_table(self.keys()).map_err(db_err)?;
        let states = keys
            .iter()
            .map_err(db_err)?
            .map(|item| {
                let (id, v) = item.map_err(db_err)?;
                Ok(decode_key(id.value(), v.value())?.state)
            })
            .collect::<Result<Vec<_>>>()?;
        self.set_counts(tx, states)
    }
    /// The counts of a space whose keys are in these states (the table is
    /// empty before).
    fn set_counts(&self, tx: &redb::WriteTransaction, states: impl IntoIterator<Item = KeyState>) -> Result<()> {
        let mut counts = std::collections::BTreeMap::<&'static str, u64>::new();
        for s in states {
            *counts.entry(s.as_str()).or_default() += 1;
        }
        let mut t = tx.open_table(self.states()).map_err(db_err)?;
        for (state, n) in counts {
            t.insert(state, n).map_err(db_err)?;
        }
        Ok(())
    }
    /// Create the tables if they do not exist yet (a read of a missing
    /// table is an error in redb).
    fn create(&self, tx: &redb::WriteTransaction) -> Result<()> {
        tx.open_table(self.keys()).map_err(db_err)?;
        tx.open_table(self.account_keys()).map_err(db_err)?;
        tx.open_table(self.jobs()).map_err(db_err)?;
        tx.open_table(self.grants()).map_err(db_err)?;
        tx.open_table(self.aliases()).map_err(db_err)?;
        tx.open_table(self.states()).map_err(db_err)?;
        Ok(())
    }
}

/// Changes to the counts by state (`Space::states`), gathered over a
/// transaction's key writes and applied once before it commits: a batch of
/// new keys changes one row, not one per key.
#[derive(Default)]
struct StateChanges(std::collections::HashMap<String, std::collections::BTreeMap<&'static str, i64>>);

impl StateChanges {
    /// One key of `space` moves from state `from` to `to` (`None`: the key
    /// is new, or gone).
    fn moved(&mut self, space: &Space, from: Option<KeyState>, to: Option<KeyState>) {
        if from == to {
            return;
        }
        let m = match self.0.get_mut(&space.states) {
            Some(m) => m,
            None => self.0.entry(space.states.clone()).or_default(),
        };
        if let Some(s) = from {
            *m.entry(s.as_str()).or_default() -= 1;
        }
        if let Some(s) = to {
            *m.entry(s.as_str()).or_default() += 1;
        }
    }

    fn apply(self, tx: &redb::WriteTransaction) -> Result<()> {
        for (table, changes) in self.0 {
            let mut t = tx.open_table(TableDefinition::<&str, u64>::new(&table)).map_err(db_err)?;
            for (state, change) in changes.into_iter().filter(|c| c.1 != 0) {
                let n = t.get(state).map_err(db_err)?.map_or(0, |v| v.value() as i64) + change;
                if n > 0 {
                    t.insert(state, n as u64).map_err(db_err)?;
                } else {
                    t.remove(state).map_err(db_err)?;
                }
            }
        }
        Ok(())
    }
}

const SCHEMA_KEY: &str = "schema-version";

pub(crate) fn db_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("store: {e}"))
}

/// The names of the key spaces among these tables ("" the original one).
fn space_names(tables: impl Iterator<Item = impl TableHandle>) -> Vec<String> {
    tables
        .filter_map(|t| match t.name() {
            "keys" => Some(String::new()),
            n => n.strip_prefix("keys@").map(str::to_string),
        })
        .collect()
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(db_err)
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(db_err)
}

/// The embedded store. Cheap to clone.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    space: Arc<Space>,
    /// The checkpoint ([`Store::checkpoint`]): a redb savepoint, shared by
    /// every key space's view.
    checkpoint: Arc<std::sync::Mutex<Option<redb::Savepoint>>>,
    /// The group commit of key writes, shared by every key space's view.
    commits: Arc<GroupCommit>,
}

/// A write of a group commit: applied in the batch's transaction. `Err`:
/// the transaction failed (it is aborted, and every write of the batch
/// fails with it); `Ok(Err)`: this write is refused (`StaleRecord`, ...),
/// decided before it changed anything, and the others go on.
type GroupWrite = Box<dyn FnOnce(&redb::WriteTransaction, &mut StateChanges) -> Result<Result<()>> + Send>;

struct GroupJob {
    write: GroupWrite,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

/// Most writes in one transaction.
const MAX_GROUP: usize = 1024;

/// Group commit (as the audit writer's): one thread takes the writes
/// queued meanwhile, applies them in order in one write transaction and
/// commits it once (one fsync), then answers each caller. While one commit
/// is being made, the next batch gathers, so concurrent CreateKeys share
/// fsyncs and nobody waits on purpose. Writes of one batch apply in the
/// order they came, each seeing the ones before (revisions stay exact).
struct GroupCommit {
    tx: std::sync::Mutex<Option<std::sync::mpsc::Sender<GroupJob>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommit {
    fn start(db: Arc<Database>) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<GroupJob>();
        let thread = std::thread::Builder::new()
            .name("kms-store-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    Self::commit(&db, batch);
                }
            })
            .map_err(db_err)?;
        Ok(GroupCommit { tx: std::sync::Mutex::new(Some(tx)), thread: std::sync::Mutex::new(Some(thread)) })
    }

    fn commit(db: &Database, batch: Vec<GroupJob>) {
        let fail = |batch: Vec<tokio::sync::oneshot::Sender<Result<()>>>, e: &Error| {
            for done in batch {
                let _ = done.send(Err(Error::Internal(e.to_string())));
            }
        };
        let tx = match db.begin_write().map_err(db_err) {
            Ok(tx) => tx,
            Err(e) => return fail(batch.into_iter().map(|j| j.done).collect(), &e),
        };
        let mut answers = Vec::with_capacity(batch.len());
        let mut states = StateChanges::default();
        let mut jobs = batch.into_iter();
        for job in jobs.by_ref() {
            match (job.write)(&tx, &mut states) {
                Ok(answer) => answers.push((job.done, answer)),
                Err(e) => {
                    // Nothing of the batch is kept.
                    let _ = tx.abort();
                    let mut all: Vec<_> = answers.into_iter().map(|(d, _)| d).collect();
                    all.push(job.done);
                    all.extend(jobs.map(|j| j.done));
                    return fail(all, &e);
                }
            }
        }
        match states.apply(&tx).and_then(|()| tx.commit().map_err(db_err)) {
            Ok(()) => {
                for (done, answer) in answers {
                    let _ = done.send(answer);
                }
            }
            Err(e) => fail(answers.into_iter().map(|(d, _)| d).collect(), &e),
        }
    }

    /// Apply `write` in the next group's transaction; `Ok` once that
    /// transaction is durably committed.
    async fn write(&self, write: GroupWrite) -> Result<()> {
        let (done, answer) = tokio::sync::oneshot::channel();
        {
            let tx = self.tx.lock().map_err(db_err)?;
            let tx = tx.as_ref().ok_or_else(|| db_err("the store is closed"))?;
            tx.send(GroupJob { write, done }).map_err(|_| db_err("the store's commit thread stopped"))?;
        }
        answer.await.map_err(|_| db_err("the store's commit thread stopped"))?
    }
}

impl Drop for GroupCommit {
    /// Stop the thread and wait for it, so that the database is closed
    /// (and can be opened again) when the last handle is gone.
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl RedbStore {
    /// Open (or create) the database file at `path` and migrate it.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::builder().set_cache_size(64 * 1024 * 1024).create(path).map_err(db_err)?;
        Self::init(db)
    }

    /// A store that lives in memory only (`kms serve --dev`).
    pub fn in_memory() -> Result<Self> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(db_err)?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self> {
        let tx = db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let version = match meta.get(SCHEMA_KEY).map_err(db_err)? {
                Some(v) => {
                    let b: [u8; 4] = v.value().try_into().map_err(|_| db_err("bad schema version"))?;
                    Some(u32::from_be_bytes(b))
                }
                None => None,
            };
            match version {
                Some(v) if v > crate::SCHEMA_VERSION => {
                    return Err(Error::Internal(format!(
                        "the data directory has schema version {v}, newer than this build's {}; refusing to open it",
                        crate::SCHEMA_VERSION
                    )))
                }
                _ => {}
            }
            // Migrations, one step at a time (a new store has nothing to migrate).
            let from = version.unwrap_or(crate::SCHEMA_VERSION);
            if from < 2 {
                // Schema 1 queued keys pending deletion only: queue every
                // key at its next job (rotation, expiry, deletion).
                tx.delete_table(DELETIONS_V1).map_err(db_err)?;
                let space = Space::new("");
                let keys = tx.open_table(space.keys()).map_err(db_err)?;
                let mut jobs = tx.open_table(space.jobs()).map_err(db_err)?;
                for item in keys.iter().map_err(db_err)? {
                    let (id, v) = item.map_err(db_err)?;
                    if let Some(due) = decode_key(id.value(), v.value())?.next_job_ms() {
                        jobs.insert((due, id.value()), ()).map_err(db_err)?;
                    }
                }
            }
            if from < 3 {
                // Schema 2 counted keys by state at every `/metrics` scrape.
                for name in space_names(tx.list_tables().map_err(db_err)?) {
                    Space::new(&name).recount(&tx)?;
                }
            }
            meta.insert(SCHEMA_KEY, &crate::SCHEMA_VERSION.to_be_bytes()[..]).map_err(db_err)?;
            Space::new("").create(&tx)?;
            tx.open_table(USERS).map_err(db_err)?;
            tx.open_table(ACCESS_KEYS).map_err(db_err)?;
            tx.open_table(ROLES).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        let db = Arc::new(db);
        let commits = Arc::new(GroupCommit::start(db.clone())?);
        Ok(RedbStore { db, space: Arc::new(Space::new("")), checkpoint: Default::default(), commits })
    }

    /// A JSON record in a table keyed by (account, name).
    async fn pair_get<T: DeserializeOwned + Send + 'static>(&self, table: Pair, a: &str, b: &str) -> Result<Option<T>> {
        let (a, b) = (a.to_string(), b.to_string());
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(table.def(sp)).map_err(db_err)?;
            t.get((a.as_str(), b.as_str())).map_err(db_err)?.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn pair_put<T: Serialize>(&self, table: Pair, a: &str, b: &str, value: &T) -> Result<()> {
        let (a, b, bytes) = (a.to_string(), b.to_string(), encode(value)?);
        self.run(move |db, sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(table.def(sp))
                .map_err(db_err)?
                .insert((a.as_str(), b.as_str()), bytes.as_slice())
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn pair_delete(&self, table: Pair, a: &str, b: &str) -> Result<()> {
        let (a, b) = (a.to_string(), b.to_string());
        self.run(move |db, sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(table.def(sp)).map_err(db_err)?.remove((a.as_str(), b.as_str())).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    /// Every record of the table, or those whose first key part is `a`.
    async fn pair_list<T: DeserializeOwned + Send + 'static>(&self, table: Pair, a: Option<&str>) -> Result<Vec<T>> {
        let a = a.map(str::to_string);
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(table.def(sp)).map_err(db_err)?;
            let mut out = vec![];
            for item in t.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                if a.as_deref().is_none_or(|a| a == k.value().0) {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Run blocking database work off the async runtime.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, &Space) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (db, space) = (self.db.clone(), self.space.clone());
        tokio::task::spawn_blocking(move || f(&db, &space)).await.map_err(db_err)?
    }
}

/// A table of JSON records keyed by (account, name): shared, or of the key space.
#[derive(Clone, Copy)]
enum Pair {
    Users,
    Roles,
    Aliases,
}

impl Pair {
    fn def(self, space: &Space) -> PairTable<'_> {
        match self {
            Pair::Users => USERS,
            Pair::Roles => ROLES,
            Pair::Aliases => space.aliases(),
        }
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn key_space(&self, name: &str) -> Result<Arc<dyn Store>> {
        let space = Space::new(name);
        let db = self.db.clone();
        let space = tokio::task::spawn_blocking(move || {
            let tx = db.begin_write().map_err(db_err)?;
            space.create(&tx)?;
            tx.commit().map_err(db_err)?;
            Ok::<_, Error>(space)
        })
        .await
        .map_err(db_err)??;
        Ok(Arc::new(RedbStore {
            db: self.db.clone(),
            space: Arc::new(space),
            checkpoint: self.checkpoint.clone(),
            commits: self.commits.clone(),
        }))
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_string();
        self.run(move |db, _sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(META).map_err(db_err)?;
            Ok(t.get(name.as_str()).map_err(db_err)?.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn put_meta(&self, name: &str, value: &[u8]) -> Result<()> {
        let (name, value) = (name.to_string(), value.to_vec());
        self.run(move |db, _sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(META).map_err(db_err)?.insert(name.as_str(), value.as_slice()).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn delete_meta(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.run(move |db, _sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(META).map_err(db_err)?.remove(name.as_str()).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let prefix = prefix.to_string();
        self.run(move |db, _sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(META).map_err(db_err)?;
            let mut out = Vec::new();
            for entry in t.range(prefix.as_str()..).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                if !k.value().starts_with(prefix.as_str()) {
                    break;
                }
                out.push((k.value().to_string(), v.value().to_vec()));
            }
            Ok(out)
        })
        .await
    }

    async fn get_key(&self, key_id: &str) -> Result<Option<KeyRecord>> {
        let key_id = key_id.to_string();
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.keys()).map_err(db_err)?;
            t.get(key_id.as_str()).map_err(db_err)?.map(|v| decode_key(&key_id, v.value())).transpose()
        })
        .await
    }

    async fn put_key(&self, key: &KeyRecord) -> Result<()> {
        // Encoded here, on the caller's thread: the commit thread, which
        // every key write goes through one at a time, only checks and
        // inserts (docs/PERFORMANCE.md, "Scale: 1,000,000 keys").
        let (key, space, encoded) = (key.clone(), self.space.clone(), encode_key(key)?);
        self.commits
            .write(Box::new(move |tx, states| {
                let mut key = key;
                let id = key.key_id.clone();
                let mut keys = tx.open_table(space.keys()).map_err(db_err)?;
                // Refusals first, before this write changes anything: the
                // other writes of the batch go on without it.
                let old = match keys.get(id.as_str()).map_err(db_err)?.map(|v| decode_key(&id, v.value())) {
                    Some(Ok(old)) => Some(old),
                    Some(Err(e)) => return Ok(Err(e)),
                    None => None,
                };
                let encoded = match crate::check_revision(old.as_ref(), &mut key) {
                    Ok(false) => encoded,
                    // The stored record's later last use, kept.
                    Ok(true) => encode_key(&key)?,
                    Err(e) => return Ok(Err(e)),
                };
                keys.insert(id.as_str(), encoded.as_slice()).map_err(db_err)?;
                states.moved(&space, old.as_ref().map(|o| o.state), Some(key.state));
                let mut jobs = tx.open_table(space.jobs()).map_err(db_err)?;
                if let Some(old_due) = old.as_ref().and_then(KeyRecord::next_job_ms) {
                    jobs.remove((old_due, id.as_str())).map_err(db_err)?;
                }
                if let Some(due) = key.next_job_ms() {
                    jobs.insert((due, id.as_str()), ()).map_err(db_err)?;
                }
                if old.is_none() {
                    tx.open_table(space.account_keys())
                        .map_err(db_err)?
                        .insert((key.account.as_str(), id.as_str()), ())
                        .map_err(db_err)?;
                }
                Ok(Ok(()))
            }))
            .await
    }

    async fn merge_usage(&self, key_id: &str, usage: &LastUsage) -> Result<()> {
        let (id, usage) = (key_id.to_string(), usage.clone());
        self.run(move |db, sp| {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut keys = tx.open_table(sp.keys()).map_err(db_err)?;
                let rec = keys.get(id.as_str()).map_err(db_err)?.map(|v| decode_key(&id, v.value())).transpose()?;
                let Some(mut rec) = rec else { return Ok(()) };
                if !rec.note_usage(usage) {
                    return Ok(());
                }
                keys.insert(id.as_str(), encode_key(&rec)?.as_slice()).map_err(db_err)?;
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn delete_key(&self, key_id: &str) -> Result<()> {
        let id = key_id.to_string();
        self.run(move |db, sp| {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut keys = tx.open_table(sp.keys()).map_err(db_err)?;
                let old = keys.remove(id.as_str()).map_err(db_err)?.map(|v| decode_key(&id, v.value()));
                if let Some(old) = old.transpose()? {
                    let mut states = StateChanges::default();
                    states.moved(sp, Some(old.state), None);
                    states.apply(&tx)?;
                    tx.open_table(sp.account_keys())
                        .map_err(db_err)?
                        .remove((old.account.as_str(), id.as_str()))
                        .map_err(db_err)?;
                    if let Some(due) = old.next_job_ms() {
                        tx.open_table(sp.jobs()).map_err(db_err)?.remove((due, id.as_str())).map_err(db_err)?;
                    }
                    let mut aliases = tx.open_table(sp.aliases()).map_err(db_err)?;
                    let mut doomed = vec![];
                    for item in aliases.range((old.account.as_str(), "")..).map_err(db_err)? {
                        let (k, v) = item.map_err(db_err)?;
                        if k.value().0 != old.account {
                            break;
                        }
                        if decode::<AliasRecord>(v.value())?.target_key_id == id {
                            doomed.push(k.value().1.to_string());
                        }
                    }
                    for name in doomed {
                        aliases.remove((old.account.as_str(), name.as_str())).map_err(db_err)?;
                    }
                    let mut grants = tx.open_table(sp.grants()).map_err(db_err)?;
                    let ids: Vec<String> = grants
                        .range((id.as_str(), "")..)
                        .map_err(db_err)?
                        .map(|item| item.map(|(k, _)| (k.value().0.to_string(), k.value().1.to_string())))
                        .take_while(|r| r.as_ref().map(|(kid, _)| *kid == id).unwrap_or(true))
                        .map(|r| r.map(|(_, gid)| gid).map_err(db_err))
                        .collect::<Result<_>>()?;
                    for gid in ids {
                        grants.remove((id.as_str(), gid.as_str())).map_err(db_err)?;
                    }
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn count_keys_by_state(&self) -> Result<Vec<(KeyState, u64)>> {
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.states()).map_err(db_err)?;
            let mut counts = vec![];
            for item in t.iter().map_err(db_err)? {
                let (state, n) = item.map_err(db_err)?;
                let state = KeyState::parse(state.value())
                    .ok_or_else(|| db_err(format!("unknown key state {:?} in the counts", state.value())))?;
                counts.push((state, n.value()));
            }
            Ok(counts)
        })
        .await
    }

    async fn keys_due(&self, now_ms: i64, limit: usize) -> Result<Vec<String>> {
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.jobs()).map_err(db_err)?;
            let mut out = vec![];
            for item in t.range(..=(now_ms, "\u{10ffff}")).map_err(db_err)?.take(limit) {
                let (k, _) = item.map_err(db_err)?;
                out.push(k.value().1.to_string());
            }
            Ok(out)
        })
        .await
    }

    async fn put_grant(&self, grant: &GrantRecord) -> Result<()> {
        let bytes = encode(grant)?;
        let (kid, gid) = (grant.key_id.clone(), grant.grant_id.clone());
        self.run(move |db, sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(sp.grants())
                .map_err(db_err)?
                .insert((kid.as_str(), gid.as_str()), bytes.as_slice())
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<()> {
        let (kid, gid) = (key_id.to_string(), grant_id.to_string());
        self.run(move |db, sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(sp.grants()).map_err(db_err)?.remove((kid.as_str(), gid.as_str())).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_grants(&self, key_id: &str) -> Result<Vec<GrantRecord>> {
        let kid = key_id.to_string();
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.grants()).map_err(db_err)?;
            let mut out = vec![];
            for item in t.range((kid.as_str(), "")..).map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                if k.value().0 != kid {
                    break;
                }
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn find_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        let gid = grant_id.to_string();
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.grants()).map_err(db_err)?;
            for item in t.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                if k.value().1 == gid {
                    return decode(v.value()).map(Some);
                }
            }
            Ok(None)
        })
        .await
    }

    async fn list_retirable_grants(&self, principal: &str) -> Result<Vec<GrantRecord>> {
        let principal = principal.to_string();
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.grants()).map_err(db_err)?;
            let mut out = vec![];
            for item in t.iter().map_err(db_err)? {
                let (_, v) = item.map_err(db_err)?;
                let g: GrantRecord = decode(v.value())?;
                if g.retiring_principal.as_deref() == Some(principal.as_str()) {
                    out.push(g);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_alias(&self, alias: &AliasRecord) -> Result<()> {
        self.pair_put(Pair::Aliases, &alias.account, &alias.name, alias).await
    }

    async fn delete_alias(&self, account: &str, name: &str) -> Result<()> {
        self.pair_delete(Pair::Aliases, account, name).await
    }

    async fn list_aliases(&self) -> Result<Vec<AliasRecord>> {
        self.pair_list(Pair::Aliases, None).await
    }

    async fn list_key_ids(&self, account: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let account = account.to_string();
        let after = after.map(str::to_string);
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.account_keys()).map_err(db_err)?;
            let start = after.as_deref().unwrap_or("");
            let mut out = Vec::with_capacity(limit.min(1024));
            for item in t.range((account.as_str(), start)..).map_err(db_err)? {
                let (k, _) = item.map_err(db_err)?;
                let (acct, id) = k.value();
                if acct != account {
                    break;
                }
                if after.as_deref() == Some(id) {
                    continue;
                }
                out.push(id.to_string());
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn count_keys(&self, account: &str) -> Result<u64> {
        let account = account.to_string();
        self.run(move |db, sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(sp.account_keys()).map_err(db_err)?;
            let mut n = 0;
            for item in t.range((account.as_str(), "")..).map_err(db_err)? {
                if item.map_err(db_err)?.0.value().0 != account {
                    break;
                }
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    async fn get_user(&self, account: &str, name: &str) -> Result<Option<UserRecord>> {
        self.pair_get(Pair::Users, account, name).await
    }

    async fn put_user(&self, user: &UserRecord) -> Result<()> {
        self.pair_put(Pair::Users, &user.account, &user.name, user).await
    }

    async fn delete_user(&self, account: &str, name: &str) -> Result<()> {
        let (account, name) = (account.to_string(), name.to_string());
        self.run(move |db, _sp| {
            let tx = db.begin_write().map_err(db_err)?;
            {
                tx.open_table(USERS).map_err(db_err)?.remove((account.as_str(), name.as_str())).map_err(db_err)?;
                let mut aks = tx.open_table(ACCESS_KEYS).map_err(db_err)?;
                let mut doomed = vec![];
                for item in aks.iter().map_err(db_err)? {
                    let (k, v) = item.map_err(db_err)?;
                    let rec: AccessKeyRecord = decode(v.value())?;
                    if rec.account == account && rec.user_name == name {
                        doomed.push(k.value().to_string());
                    }
                }
                for id in doomed {
                    aks.remove(id.as_str()).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_users(&self, account: Option<&str>) -> Result<Vec<UserRecord>> {
        self.pair_list(Pair::Users, account).await
    }

    async fn get_role(&self, account: &str, name: &str) -> Result<Option<RoleRecord>> {
        self.pair_get(Pair::Roles, account, name).await
    }

    async fn put_role(&self, role: &RoleRecord) -> Result<()> {
        self.pair_put(Pair::Roles, &role.account, &role.name, role).await
    }

    async fn delete_role(&self, account: &str, name: &str) -> Result<()> {
        self.pair_delete(Pair::Roles, account, name).await
    }

    async fn list_roles(&self, account: Option<&str>) -> Result<Vec<RoleRecord>> {
        self.pair_list(Pair::Roles, account).await
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        let bytes = encode(key)?;
        let id = key.access_key_id.clone();
        self.run(move |db, _sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(ACCESS_KEYS).map_err(db_err)?.insert(id.as_str(), bytes.as_slice()).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<()> {
        let id = access_key_id.to_string();
        self.run(move |db, _sp| {
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(ACCESS_KEYS).map_err(db_err)?.remove(id.as_str()).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        self.run(move |db, _sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let t = tx.open_table(ACCESS_KEYS).map_err(db_err)?;
            let mut out = vec![];
            for item in t.iter().map_err(db_err)? {
                let (_, v) = item.map_err(db_err)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn checkpoint(&self) -> Result<()> {
        let slot = self.checkpoint.clone();
        self.run(move |db, _sp| {
            let mut slot = slot.lock().map_err(db_err)?;
            // The old savepoint first: redb keeps what any savepoint needs.
            *slot = None;
            let tx = db.begin_write().map_err(db_err)?;
            let savepoint = tx.ephemeral_savepoint().map_err(db_err)?;
            tx.abort().map_err(db_err)?;
            *slot = Some(savepoint);
            Ok(())
        })
        .await
    }

    async fn rollback(&self) -> Result<()> {
        let slot = self.checkpoint.clone();
        self.run(move |db, _sp| {
            let slot = slot.lock().map_err(db_err)?;
            let savepoint = slot.as_ref().ok_or_else(|| db_err("no checkpoint to roll back to"))?;
            let mut tx = db.begin_write().map_err(db_err)?;
            tx.restore_savepoint(savepoint).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn drop_checkpoint(&self) -> Result<()> {
        self.checkpoint.lock().map_err(db_err)?.take();
        Ok(())
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        self.run(move |db, _sp| {
            let tx = db.begin_read().map_err(db_err)?;
            let mut s = Snapshot::default();
            for item in tx.open_table(META).map_err(db_err)?.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                if k.value() != SCHEMA_KEY {
                    s.meta.push((k.value().to_string(), v.value().to_vec()));
                }
            }
            let names = space_names(tx.list_tables().map_err(db_err)?);
            fn values<K: redb::Key + 'static, T: DeserializeOwned>(
                tx: &redb::ReadTransaction,
                def: TableDefinition<'_, K, &'static [u8]>,
            ) -> Result<Vec<T>> {
                let t = tx.open_table(def).map_err(db_err)?;
                let mut out = vec![];
                for item in t.iter().map_err(db_err)? {
                    out.push(decode(item.map_err(db_err)?.1.value())?);
                }
                Ok(out)
            }
            for name in names {
                let sp = Space::new(&name);
                let mut keys = vec![];
                for item in tx.open_table(sp.keys()).map_err(db_err)?.iter().map_err(db_err)? {
                    let (k, v) = item.map_err(db_err)?;
                    keys.push(decode_key(k.value(), v.value())?);
                }
                s.spaces.push(SpaceSnapshot {
                    keys,
                    grants: values(&tx, sp.grants())?,
                    aliases: values(&tx, sp.aliases())?,
                    name,
                });
            }
            s.users = values(&tx, USERS)?;
            s.roles = values(&tx, ROLES)?;
            s.access_keys = values(&tx, ACCESS_KEYS)?;
            Ok(s)
        })
        .await
    }

    async fn restore(&self, snapshot: &Snapshot) -> Result<()> {
        // One write transaction: encode first, off the async runtime.
        let meta = snapshot.meta.clone();
        let mut spaces = vec![];
        for sp in &snapshot.spaces {
            let keys: Vec<_> = sp
                .keys
                .iter()
                .map(|k| Ok((k.key_id.clone(), k.account.clone(), k.next_job_ms(), k.state, encode_key(k)?)))
                .collect::<Result<_>>()?;
            let grants: Vec<_> = sp
                .grants
                .iter()
                .map(|g| Ok((g.key_id.clone(), g.grant_id.clone(), encode(g)?)))
                .collect::<Result<_>>()?;
            let aliases: Vec<_> = sp
                .aliases
                .iter()
                .map(|a| Ok((a.account.clone(), a.name.clone(), encode(a)?)))
                .collect::<Result<_>>()?;
            spaces.push((sp.name.clone(), keys, grants, aliases));
        }
        let users: Vec<_> = snapshot
            .users
            .iter()
            .map(|u| Ok((u.account.clone(), u.name.clone(), encode(u)?)))
            .collect::<Result<_>>()?;
        let roles: Vec<_> = snapshot
            .roles
            .iter()
            .map(|r| Ok((r.account.clone(), r.name.clone(), encode(r)?)))
            .collect::<Result<_>>()?;
        let access_keys: Vec<_> =
            snapshot.access_keys.iter().map(|a| Ok((a.access_key_id.clone(), encode(a)?))).collect::<Result<_>>()?;
        self.run(move |db, _sp| {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let in_use = |n: u64| n > 0;
                let home = Space::new("");
                if in_use(tx.open_table(home.keys()).map_err(db_err)?.len().map_err(db_err)?)
                    || in_use(tx.open_table(USERS).map_err(db_err)?.len().map_err(db_err)?)
                    || in_use(tx.open_table(ACCESS_KEYS).map_err(db_err)?.len().map_err(db_err)?)
                {
                    return Err(Error::Internal("the store is not empty; a restore needs an empty one".into()));
                }
                let mut m = tx.open_table(META).map_err(db_err)?;
                for (k, v) in &meta {
                    if k != SCHEMA_KEY {
                        m.insert(k.as_str(), v.as_slice()).map_err(db_err)?;
                    }
                }
                for (name, keys, grants, aliases) in &spaces {
                    let sp = Space::new(name);
                    sp.create(&tx)?;
                    let mut kt = tx.open_table(sp.keys()).map_err(db_err)?;
                    let mut at = tx.open_table(sp.account_keys()).map_err(db_err)?;
                    let mut jt = tx.open_table(sp.jobs()).map_err(db_err)?;
                    sp.set_counts(&tx, keys.iter().map(|k| k.3))?;
                    for (id, account, due, _, bytes) in keys {
                        kt.insert(id.as_str(), bytes.as_slice()).map_err(db_err)?;
                        at.insert((account.as_str(), id.as_str()), ()).map_err(db_err)?;
                        if let Some(due) = due {
                            jt.insert((*due, id.as_str()), ()).map_err(db_err)?;
                        }
                    }
                    let mut gt = tx.open_table(sp.grants()).map_err(db_err)?;
                    for (kid, gid, bytes) in grants {
                        gt.insert((kid.as_str(), gid.as_str()), bytes.as_slice()).map_err(db_err)?;
                    }
                    let mut lt = tx.open_table(sp.aliases()).map_err(db_err)?;
                    for (account, name, bytes) in aliases {
                        lt.insert((account.as_str(), name.as_str()), bytes.as_slice()).map_err(db_err)?;
                    }
                }
                let mut ut = tx.open_table(USERS).map_err(db_err)?;
                for (a, n, bytes) in &users {
                    ut.insert((a.as_str(), n.as_str()), bytes.as_slice()).map_err(db_err)?;
                }
                let mut rt = tx.open_table(ROLES).map_err(db_err)?;
                for (a, n, bytes) in &roles {
                    rt.insert((a.as_str(), n.as_str()), bytes.as_slice()).map_err(db_err)?;
                }
                let mut kt = tx.open_table(ACCESS_KEYS).map_err(db_err)?;
                for (id, bytes) in &access_keys {
                    kt.insert(id.as_str(), bytes.as_slice()).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_core::types::KeyState;

    /// A key record exactly as main's store wrote it (before the compact
    /// form of `record.rs`): the whole JSON, key id and default policy in it.
    const OLD_RECORD: &str = r#"{"key_id":"f711087d-0ca2-4e78-8e7f-db320270dada","account":"111122223333","created_ms":1796286485673,"description":"kms-bench scale","key_usage":"ENCRYPT_DECRYPT","key_spec":"SYMMETRIC_DEFAULT","origin":"AWS_KMS","state":"Enabled","deletion_ms":null,"pending_window_days":null,"policy":"{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}","tags":[],"multi_region":false,"materials":[{"id":"605941f4d9d61ff9e9d0940b138ed01e8d910cfde954c553e80be78fa3f5982e","sealed":"AW+yxNVsTni6e04X41X7GxXtLKffjBKl9QM4gyVVU6CqzAMkU+J9NlgPVlCU53zHf9f+fhnh9+dEud0iIg==","created_ms":1796286485673}],"last_usage":null,"revision":1}"#;
    const OLD_ID: &str = "f711087d-0ca2-4e78-8e7f-db320270dada";

    fn key(id: &str, policy: String) -> KeyRecord {
        KeyRecord { description: "d".into(), policy, ..crate::conformance::key(id, "111122223333") }
    }

    fn raw(path: &Path, id: &str) -> Vec<u8> {
        let db = Database::open(path).unwrap();
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(Space::new("").keys()).unwrap();
        let v = t.get(id).unwrap().unwrap().value().to_vec();
        v
    }

    /// A data directory written before the compact key records and the
    /// counts by state (schema 2) opens, its keys are counted, in every key
    /// space, and they read, list, snapshot and change as before.
    #[tokio::test]
    async fn reads_records_of_the_older_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.redb");
        drop(RedbStore::open(&path).unwrap());
        {
            let db = Database::open(&path).unwrap();
            let tx = db.begin_write().unwrap();
            for sp in [Space::new(""), Space::new("eu-west-1")] {
                sp.create(&tx).unwrap();
                tx.open_table(sp.keys()).unwrap().insert(OLD_ID, OLD_RECORD.as_bytes()).unwrap();
                tx.open_table(sp.account_keys()).unwrap().insert(("111122223333", OLD_ID), ()).unwrap();
                assert!(tx.delete_table(sp.states()).unwrap());
            }
            tx.open_table(META).unwrap().insert(SCHEMA_KEY, &2u32.to_be_bytes()[..]).unwrap();
            tx.commit().unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        let west = s.key_space("eu-west-1").await.unwrap();
        assert_eq!(west.count_keys_by_state().await.unwrap(), [(KeyState::Enabled, 1)]);
        drop(west);
        let want: KeyRecord = serde_json::from_str(OLD_RECORD).unwrap();
        let got = s.get_key(OLD_ID).await.unwrap().unwrap();
        assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&want).unwrap());
        assert_eq!(got.policy, kms_policy::default_key_policy("aws", "111122223333"));
        assert_eq!(s.list_key_ids("111122223333", None, 10).await.unwrap(), [OLD_ID]);
        assert_eq!(s.count_keys("111122223333").await.unwrap(), 1);
        assert_eq!(s.count_keys_by_state().await.unwrap(), [(KeyState::Enabled, 1)]);
        let snap = s.snapshot().await.unwrap();
        assert_eq!(serde_json::to_string(&snap.spaces[0].keys[0]).unwrap(), serde_json::to_string(&want).unwrap());
        // A write over it: the next revision, now in the compact form.
        let mut next = got.clone();
        next.description = "changed".into();
        next.revision = 2;
        s.put_key(&next).await.unwrap();
        let stale = s.put_key(&next).await.unwrap_err();
        assert!(matches!(stale, Error::StaleRecord(_)), "{stale:?}");
        drop(s);
        let stored = raw(&path, OLD_ID);
        assert!(stored.len() < OLD_RECORD.len() - 300, "{}", String::from_utf8_lossy(&stored));
        let s = RedbStore::open(&path).unwrap();
        let again = s.get_key(OLD_ID).await.unwrap().unwrap();
        assert_eq!(again.description, "changed");
        assert_eq!(again.policy, want.policy);
        assert_eq!(again.revision, 2);
    }

    /// The default key policy is kept as a marker and comes back byte for
    /// byte; any other policy (even one a byte away) is kept as written.
    #[tokio::test]
    async fn default_policy_as_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.redb");
        let s = RedbStore::open(&path).unwrap();
        let default = kms_policy::default_key_policy("aws-cn", "111122223333");
        let near = default.replace("\"Resource\" : \"*\"", "\"Resource\":\"*\"");
        s.put_key(&key("d", default.clone())).await.unwrap();
        s.put_key(&key("n", near.clone())).await.unwrap();
        drop(s);
        let d = raw(&path, "d");
        assert!(!String::from_utf8_lossy(&d).contains("Statement"), "{}", String::from_utf8_lossy(&d));
        assert!(String::from_utf8_lossy(&raw(&path, "n")).contains("Statement"));
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.get_key("d").await.unwrap().unwrap().policy, default);
        assert_eq!(s.get_key("n").await.unwrap().unwrap().policy, near);
        assert_eq!(s.get_key("d").await.unwrap().unwrap().key_id, "d");
    }

    /// Concurrent writes share commits: every one answered is durable, and
    /// of two writes over the same revision exactly one wins.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn group_commit_keeps_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.redb");
        let s = RedbStore::open(&path).unwrap();
        let mut tasks = vec![];
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let k = key(&format!("k{i:03}"), "{}".into());
                s.put_key(&k).await.unwrap();
                // Two writers of revision 2 at once: one is stale.
                let (mut a, mut b) = (k.clone(), k);
                a.revision = 2;
                a.description = "a".into();
                b.revision = 2;
                b.description = "b".into();
                b.state = KeyState::Disabled;
                let (ra, rb) = tokio::join!(s.put_key(&a), s.put_key(&b));
                assert!(ra.is_ok() != rb.is_ok(), "{ra:?} {rb:?}");
                let lost = if ra.is_ok() { rb } else { ra };
                assert!(matches!(lost, Err(Error::StaleRecord(_))));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        drop(s);
        let s = RedbStore::open(&path).unwrap();
        let ids = s.list_key_ids("111122223333", None, 1000).await.unwrap();
        assert_eq!(ids.len(), 200);
        let mut disabled = 0;
        for id in ids {
            let k = s.get_key(&id).await.unwrap().unwrap();
            assert_eq!(k.revision, 2);
            disabled += u64::from(k.state == KeyState::Disabled);
        }
        // Counted once each, in the state that won; the refused writes not at all.
        let mut want = vec![(KeyState::Disabled, disabled), (KeyState::Enabled, 200 - disabled)];
        want.retain(|w| w.1 > 0);
        assert_eq!(s.count_keys_by_state().await.unwrap(), want);
    }
}
