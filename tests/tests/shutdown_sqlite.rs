//! A host's `shutdown` on a durable store returns once what runs has ended: it does not wait
//! the cancel grace for work the store keeps for the next start (which will not run here).

use attune_core::Engine;
use attune_core::model::ExecutionStatus;
use attune_core::store::{ExecutionFilter, Page, Store};
use attune_store_sqlite::SqliteStore;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A safety net far below the cancel grace, never a timing assertion: a shutdown that waited
/// the grace would never return within it.
const SAFETY: Duration = Duration::from_secs(60);
/// The cancel grace: an hour, so that waiting it is unmistakable.
const GRACE: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_at_once_on_sqlite_returns_without_waiting_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("a.db")).unwrap());
    let engine = Engine::builder()
        .store(store.clone())
        .worker_slots(4)
        .cancel_grace(GRACE)
        .build()
        .await
        .unwrap();
    engine
        .register_fn("t.quick", |_ctx| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(json!({"ok": true}))
        })
        .await
        .unwrap();
    for _ in 0..200 {
        engine.execute("t.quick", json!({})).await.unwrap();
    }
    tokio::time::timeout(SAFETY, engine.shutdown(Duration::ZERO))
        .await
        .expect("shutdown returns once the runs ended, not after the cancel grace");

    // Nothing is left running; what never started is kept for the next start.
    let all = store
        .list_executions(&ExecutionFilter::default(), &Page::first(1000))
        .await
        .unwrap();
    assert_eq!(all.len(), 200);
    for e in &all {
        assert!(
            matches!(
                e.status,
                ExecutionStatus::Succeeded
                    | ExecutionStatus::Canceled
                    | ExecutionStatus::Requested
                    | ExecutionStatus::Scheduled
            ),
            "{:?} after shutdown: {e:#?}",
            e.status
        );
    }
    let kept = all.iter().filter(|e| !e.status.is_terminal()).count();
    eprintln!("kept for the next start: {kept} of 200");
}
