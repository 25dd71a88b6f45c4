//! The Store conformance suite (`attune_core::conformance`) run on [`SqliteStore`], each
//! check on a fresh file in its own temporary directory.

use attune_store_sqlite::SqliteStore;
use std::ops::Deref;

/// A store and the temporary directory of its file, removed after the store is closed
/// (fields drop in order).
struct TempStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Deref for TempStore {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

/// A fresh, empty store in a new temporary directory.
async fn sqlite_store() -> TempStore {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("attune.db")).expect("open a fresh store");
    TempStore { store, _dir: dir }
}

attune_core::store_conformance_tests!(sqlite_store);
