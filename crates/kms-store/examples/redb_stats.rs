//! Where the bytes of an embedded store go: `cargo run --release -p
//! kms-store --example redb_stats -- <copy of kms.redb>` prints, per table,
//! the entries, the bytes of keys and values stored, redb's metadata and
//! fragmentation, and the pages; then the whole file's. Open a copy: the
//! server must not have the file open, and opening may repair it.

use redb::{Database, ReadableTableMetadata, TableHandle, TableStats, UntypedTableHandle};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: redb_stats <kms.redb>")?;
    let file_bytes = std::fs::metadata(&path)?.len();
    let db = Database::open(&path)?;
    println!(
        "{:<24} {:>9} {:>12} {:>10} {:>12} {:>12} {:>7} {:>7}",
        "table", "entries", "stored B", "B/entry", "metadata B", "fragment B", "leaves", "branch"
    );
    let rx = db.begin_read()?;
    let handles: Vec<UntypedTableHandle> = rx.list_tables()?.collect();
    let mut keys = 0;
    for handle in handles {
        let name = handle.name().to_string();
        let t = rx.open_untyped_table(handle)?;
        let n = t.len()?;
        if name == "keys" {
            keys = n;
        }
        let s: TableStats = t.stats()?;
        println!(
            "{:<24} {:>9} {:>12} {:>10.1} {:>12} {:>12} {:>7} {:>7}",
            name,
            n,
            s.stored_bytes(),
            s.stored_bytes() as f64 / n.max(1) as f64,
            s.metadata_bytes(),
            s.fragmented_bytes(),
            s.leaf_pages(),
            s.branch_pages()
        );
    }
    drop(rx);
    let tx = db.begin_write()?;
    let s = tx.stats()?;
    let page = s.page_size() as u64;
    println!(
        "database: file {file_bytes} B, allocated pages {} ({} B), leaf {} branch {}, stored {} B, metadata {} B, fragmented {} B, page {page} B",
        s.allocated_pages(),
        s.allocated_pages() * page,
        s.leaf_pages(),
        s.branch_pages(),
        s.stored_bytes(),
        s.metadata_bytes(),
        s.fragmented_bytes()
    );
    if keys > 0 {
        println!(
            "per key ({keys} keys): file {:.0} B, allocated {:.0} B, stored {:.0} B",
            file_bytes as f64 / keys as f64,
            (s.allocated_pages() * page) as f64 / keys as f64,
            s.stored_bytes() as f64 / keys as f64
        );
    }
    tx.abort()?;
    Ok(())
}
