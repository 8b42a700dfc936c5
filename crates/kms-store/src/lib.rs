//! Storage backends for kms. The default is an embedded, transactional,
//! crash-safe [redb](https://docs.rs/redb) database in the data directory.
//! Every backend implements `kms_core::ports::Store` and must pass the same
//! conformance suite (`tests` below, run once per backend).

mod redb_store;

pub use redb_store::RedbStore;

/// The schema version this build writes. Opening a store with an older
/// version migrates it; a newer version is refused.
pub const SCHEMA_VERSION: u32 = 2;

#[cfg(test)]
mod conformance;
