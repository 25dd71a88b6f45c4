//! The Store conformance suite (`attune_core::conformance`) run on [`MemoryStore`].

use attune_core::store::{MemoryStore, Store};
use std::sync::Arc;

/// A fresh, empty store for each check.
async fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

attune_core::store_conformance_tests!(memory_store);

#[test]
fn the_memory_store_never_fails_for_a_transient_reason() {
    let c = MemoryStore::new().capabilities();
    assert!(!c.durable && !c.shared);
    assert!(
        c.never_transient,
        "in the process: no connection to lose, so the engine keeps no copy of what it writes"
    );
}
