//! Storage backends for kms. The default is an embedded, transactional,
//! crash-safe [redb](https://docs.rs/redb) database in the data directory;
//! the other is PostgreSQL ([`PgStore`], `store = "postgres://..."`).
//! Every backend implements `kms_core::ports::Store` and must pass the same
//! conformance suite (`tests` below, run once per backend).

mod postgres;
mod redb_store;

pub use postgres::{PgConfig, PgStore, PG_SCHEMA_VERSION};
pub use redb_store::RedbStore;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;

/// The schema version this build writes. Opening a store with an older
/// version migrates it; a newer version is refused.
pub const SCHEMA_VERSION: u32 = 2;

#[cfg(test)]
mod conformance;
