//! Storage backends for kms. The default is an embedded, transactional,
//! crash-safe [redb](https://docs.rs/redb) database in the data directory;
//! the other is PostgreSQL ([`PgStore`], `store = "postgres://..."`).
//! Every backend implements `kms_core::ports::Store` and must pass the same
//! conformance suite (`tests` below, run once per backend).

mod postgres;
mod record;
mod redb_store;

pub use postgres::{PgConfig, PgStore, PG_SCHEMA_VERSION};
pub use redb_store::RedbStore;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;

/// The schema version this build writes. Opening a store with an older
/// version migrates it; a newer version is refused.
pub const SCHEMA_VERSION: u32 = 3;

#[cfg(test)]
mod conformance;

use kms_core::error::{Error, Result};
use kms_core::types::KeyRecord;

/// `Store::put_key`'s compare, for a backend that reads the stored record
/// in the write's transaction: `new` replaces `old` only if it was made
/// from it (revision + 1; a new key is revision 1), keeping the stored last
/// usage when that is the later. `true`: `new` took the stored last usage.
fn check_revision(old: Option<&KeyRecord>, new: &mut KeyRecord) -> Result<bool> {
    if new.revision != old.map_or(0, |o| o.revision) + 1 {
        return Err(Error::StaleRecord(format!(
            "The key {} was changed by another request meanwhile. Retry the request.",
            new.key_id
        )));
    }
    Ok(old.and_then(|o| o.last_usage.clone()).is_some_and(|u| new.note_usage(u)))
}
