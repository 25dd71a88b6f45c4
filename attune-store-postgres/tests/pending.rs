//! An engine that only emits, beside one that does the rest (as two processes on one
//! schema): the events it emitted and another engine matched stop counting as its work in
//! flight without it waiting for them — it asks the store — so what it holds stays bounded
//! under a sustained load. Skipped, saying why, when the server cannot be reached and
//! `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::model::{ExecutionStatus, Rule, TriggerType};
use attune_core::store::{ExecutionFilter, Store};
use attune_core::{Engine, Result};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgStore, PgTransport};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// More events than the periodic recovery sweep looks at in one go (256), so that only
/// the reconciling of every pending event forgets them all.
const EVENTS: u64 = 1000;

async fn engine(store: &PgStore, worker: &str, emit_only: bool) -> Result<Engine> {
    let mut builder = Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(PgTransport::open(store).await?))
        .worker_id(worker);
    if emit_only {
        builder = builder.roles([]);
    }
    let engine = builder.build().await?;
    engine
        .register_trigger_type(TriggerType::new("pend.tick"))
        .await?;
    Ok(engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_matched_elsewhere_stop_counting_here() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let ingest = engine(pg.store(), "ingest", true).await.expect("ingest");
    let worker = engine(&pg.peer().await, "worker", false)
        .await
        .expect("worker");
    worker
        .register_fn("pend.noop", |_ctx| async { Ok(json!({})) })
        .await
        .expect("action");
    worker
        .register_rule(Rule::new("pend.on_tick", "pend.tick", "pend.noop"))
        .await
        .expect("rule");
    for i in 0..EVENTS {
        ingest
            .emit("pend.tick", json!({ "i": i }))
            .await
            .expect("emit");
    }
    assert!(ingest.in_flight() > 0, "emitted events count until matched");
    // The worker runs everything; the ingest engine is not asked to settle.
    worker
        .settle(Duration::from_secs(120))
        .await
        .expect("worker settles");
    let store = pg.store();
    let mut succeeded = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while succeeded < EVENTS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{succeeded} of {EVENTS} executions succeeded after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        succeeded = store
            .count_executions(&ExecutionFilter::new().status(ExecutionStatus::Succeeded))
            .await
            .expect("count");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ingest.in_flight() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} events matched elsewhere still counted in flight by the emitting engine",
            ingest.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store
            .count_executions(&ExecutionFilter::new())
            .await
            .expect("count"),
        EVENTS,
        "one execution per event"
    );
    for e in [ingest, worker] {
        assert!(e.shutdown(Duration::from_secs(10)).await, "clean shutdown");
    }
}
