//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migration `n` brings the schema from version `n - 1` to `n`. They run at open, all
//! pending ones in one `BEGIN IMMEDIATE` transaction that also sets `user_version`, so a
//! crash mid-way leaves the file at its old version. A file whose version is newer than the
//! last migration here was written by a newer release: it is refused before anything is
//! written to it.

use crate::error::Res;
use attune_core::Error;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// The migrations, in order: entry `i` produces schema version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_execution_bodies.sql"),
    include_str!("../migrations/0003_workflow_journal.sql"),
    include_str!("../migrations/0004_execution_retries.sql"),
];

/// The schema version this crate writes.
pub(crate) const LATEST: u32 = MIGRATIONS.len() as u32;

/// The schema version of the open file (0 for a new, empty one).
pub(crate) fn version(conn: &Connection) -> Res<u32> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))?)
}

/// Refuses a file written by a newer release; reads only.
pub(crate) fn check_not_newer(conn: &Connection, path: &Path) -> Res<u32> {
    let v = version(conn)?;
    if v > LATEST {
        return Err(Error::Unsupported(format!(
            "database version {v} is newer than this attune-store-sqlite knows ({LATEST}): \
             '{}' was written by a newer release; open it with that release",
            path.display()
        ))
        .into());
    }
    Ok(v)
}

/// Applies every pending migration in one transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Res<()> {
    if check_not_newer(conn, path)? == LATEST {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated between the check and the lock.
    let current = check_not_newer(&tx, path)?;
    for sql in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", LATEST)?;
    tx.commit()?;
    Ok(())
}
