//! Workers on a shared store: each engine records what it runs (roles, runtimes, slots) with
//! its heartbeat, every engine lists them all, and an engine that stops is forgotten.
//! Skipped, saying why, when the server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is
//! not `1`.

use attune_core::model::Worker;
use attune_core::store::Store;
use attune_core::{Engine, Result, Role};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgStore, PgTransport};
use std::sync::Arc;
use std::time::Duration;

async fn engine(store: &PgStore, id: &str, roles: &[Role], slots: usize) -> Result<Engine> {
    Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(PgTransport::open(store).await?))
        .roles(roles.iter().copied())
        .worker_id(id)
        .worker_slots(slots)
        .build()
        .await
}

/// The workers `engine` lists, once `n` are there (their first heartbeats are recorded as
/// their engines start).
async fn workers(engine: &Engine, n: usize) -> Vec<Worker> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ws = engine.workers().await.expect("workers");
        if ws.len() == n {
            return ws;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} workers: {ws:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_announce_what_they_run_and_go_when_they_stop() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let w = engine(pg.store(), "w-1", &[Role::Work], 7)
        .await
        .expect("worker");
    let m = engine(&pg.peer().await, "m-1", &[Role::Match, Role::Schedule], 3)
        .await
        .expect("front");
    let listed = workers(&w, 2).await;
    assert_eq!(
        listed.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        vec!["m-1", "w-1"],
        "by id"
    );
    let (front, worker) = (&listed[0], &listed[1]);
    assert_eq!(worker.roles, vec!["work"]);
    assert_eq!(worker.slots, 7);
    assert!(
        worker.runtimes.contains(&"native".to_string()),
        "{worker:?}"
    );
    assert_eq!(front.roles, vec!["match", "schedule"]);
    assert!(worker.heartbeat >= worker.started);
    assert!(m.shutdown(Duration::from_secs(5)).await);
    let left = workers(&w, 1).await;
    assert_eq!(left[0].id, "w-1", "the stopped engine is forgotten");
    assert!(w.shutdown(Duration::from_secs(5)).await);
    assert_eq!(
        pg.store().list_workers().await.expect("list"),
        vec![],
        "none left"
    );
}
