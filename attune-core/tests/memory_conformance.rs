//! The Store conformance suite (`attune_core::conformance`) run on [`MemoryStore`].

use attune_core::store::{MemoryStore, Store};
use std::sync::Arc;

/// A fresh, empty store for each check.
async fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

attune_core::store_conformance_tests!(memory_store);
