//! An action that ignores its cancellation: its execution still ends `timeout` or `canceled`
//! in the store at its deadline (or at the cancel), once its runtime had one second to stop
//! it; only its worker slot waits for the rest of the cancel grace period. Time is tokio's paused clock, so the grace of a minute passes at once and
//! "when" is read from that clock, never from the wall.

use attune_core::Engine;
use attune_core::model::{Action, ExecutionStatus};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

const GRACE: Duration = Duration::from_secs(60);

/// An engine with one worker slot and a minute of cancel grace, with `t.stubborn` (sleeps a
/// day, never looks at its cancel token; timeout 1 s) and `t.quick` (returns at once).
async fn engine() -> Engine {
    let engine = Engine::builder()
        .worker_slots(1)
        .cancel_grace(GRACE)
        .build()
        .await
        .unwrap();
    engine
        .register_native(
            Action::new("t.stubborn", "native").timeout_secs(1.0),
            |_ctx| async move {
                tokio::time::sleep(Duration::from_secs(86_400)).await;
                Ok(Value::Null)
            },
        )
        .await
        .unwrap();
    engine
        .register_fn("t.quick", |_ctx| async move { Ok(json!("done")) })
        .await
        .unwrap();
    engine
}

/// Waits until execution `id` runs.
async fn until_running(engine: &Engine, id: attune_core::model::ExecutionId) {
    let mut sub = engine.subscribe().await.unwrap();
    while engine.execution(id).await.unwrap().status != ExecutionStatus::Running {
        sub.next().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_recorded_at_the_deadline_and_the_slot_waits_for_the_grace() {
    let engine = engine().await;
    let start = Instant::now();
    let stubborn = engine.execute("t.stubborn", json!({})).await.unwrap();
    let quick = engine.execute("t.quick", json!({})).await.unwrap();

    let ended = engine.wait(stubborn).await.unwrap();
    assert_eq!(ended.status, ExecutionStatus::Timeout, "{ended:#?}");
    assert!(
        start.elapsed() <= Duration::from_secs(2),
        "the timeout was recorded after {:?}, not within a second of the 1 s deadline",
        start.elapsed()
    );
    // The only slot is still held by the run that ignores its cancel.
    let waiting = engine.execution(quick).await.unwrap();
    assert_eq!(waiting.status, ExecutionStatus::Scheduled, "{waiting:#?}");

    let done = engine.wait(quick).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert!(
        start.elapsed() >= GRACE,
        "the slot was freed after {:?}, before the grace period",
        start.elapsed()
    );
    engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_cancel_is_recorded_at_once_and_the_slot_waits_for_the_grace() {
    let engine = engine().await;
    let start = Instant::now();
    let stubborn = engine.execute("t.stubborn", json!({})).await.unwrap();
    // Running (it holds the slot) before it is canceled.
    until_running(&engine, stubborn).await;
    let quick = engine.execute("t.quick", json!({})).await.unwrap();
    engine.cancel(stubborn).await.unwrap();

    let ended = engine.wait(stubborn).await.unwrap();
    assert_eq!(ended.status, ExecutionStatus::Canceled, "{ended:#?}");
    assert!(
        start.elapsed() <= Duration::from_secs(1),
        "the cancel was recorded after {:?}, not within a second",
        start.elapsed()
    );
    let waiting = engine.execution(quick).await.unwrap();
    assert_eq!(waiting.status, ExecutionStatus::Scheduled, "{waiting:#?}");
    let done = engine.wait(quick).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert!(
        start.elapsed() >= GRACE,
        "freed after {:?}",
        start.elapsed()
    );
    engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_the_grace_for_a_run_that_ignores_its_cancel() {
    let engine = engine().await;
    let stubborn = engine.execute("t.stubborn", json!({})).await.unwrap();
    until_running(&engine, stubborn).await;
    let start = Instant::now();
    engine.shutdown(Duration::ZERO).await;
    let ended = engine.execution(stubborn).await.unwrap();
    assert_eq!(ended.status, ExecutionStatus::Canceled, "{ended:#?}");
    // Its runtime was given the whole grace period to stop before shutdown returned.
    assert!(
        start.elapsed() >= GRACE,
        "returned after {:?}",
        start.elapsed()
    );
}
