//! Control of running work: timeouts, cancel, worker slots, shutdown and retention.

mod common;

use attune_core::model::{Action, ExecutionStatus, Rule, TriggerType};
use attune_core::{Engine, Error, Retention};
use common::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Registers `ctl.hold`: reports its start on `started`, then waits until canceled (setting
/// `saw_cancel`) or until `release` is notified.
/// Registers `ctl.count`, which counts its runs in the returned counter.
async fn register_count(engine: &Engine) -> Arc<AtomicUsize> {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    engine
        .register_fn("ctl.count", move |_ctx| {
            let r = r.clone();
            async move { Ok(r.fetch_add(1, Ordering::SeqCst)) }
        })
        .await
        .unwrap();
    ran
}

async fn register_hold(
    engine: &Engine,
    started: mpsc::UnboundedSender<()>,
    release: Arc<Notify>,
    saw_cancel: Arc<AtomicBool>,
) {
    engine
        .register_fn("ctl.hold", move |ctx| {
            let started = started.clone();
            let release = release.clone();
            let saw_cancel = saw_cancel.clone();
            async move {
                let _ = started.send(());
                tokio::select! {
                    _ = ctx.cancel.cancelled() => saw_cancel.store(true, Ordering::SeqCst),
                    _ = release.notified() => {}
                }
                Ok(json!("released"))
            }
        })
        .await
        .unwrap();
}

async fn started(rx: &mut mpsc::UnboundedReceiver<()>) {
    tokio::time::timeout(SAFETY, rx.recv())
        .await
        .expect("the action starts")
        .expect("sender alive");
}

// An action running past its own timeout ends `timeout` and its cancel signal fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_action_timeout() {
    let engine = Engine::builder()
        .cancel_grace(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let flag = saw_cancel.clone();
    engine
        .register_native(
            Action::new("ctl.slow", "native").timeout_secs(0.2),
            move |ctx| {
                let flag = flag.clone();
                async move {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                        _ = ctx.cancel.cancelled() => flag.store(true, Ordering::SeqCst),
                    }
                    Ok(json!("too late"))
                }
            },
        )
        .await
        .unwrap();
    let id = engine.execute("ctl.slow", json!({})).await.unwrap();
    let done = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Timeout, "{done:#?}");
    assert!(
        done.error.as_deref().unwrap_or("").contains("timed out"),
        "{done:#?}"
    );
    assert!(done.result.is_none(), "{done:#?}");
    assert!(
        saw_cancel.load(Ordering::SeqCst),
        "the handler is told to stop"
    );
    engine.settle(SAFETY).await.unwrap();
}

// Canceling a running execution fires the handler's cancel signal and ends it `canceled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_running_execution() {
    let engine = engine().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    register_hold(&engine, tx, Arc::new(Notify::new()), saw_cancel.clone()).await;
    let id = engine.execute("ctl.hold", json!({})).await.unwrap();
    started(&mut rx).await;
    let after = engine.cancel(id).await.unwrap();
    assert!(
        matches!(
            after.status,
            ExecutionStatus::Canceling | ExecutionStatus::Canceled
        ),
        "{after:#?}"
    );
    let done = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Canceled, "{done:#?}");
    assert!(saw_cancel.load(Ordering::SeqCst));
    engine.settle(SAFETY).await.unwrap();
}

// Canceling an execution still waiting for a worker slot cancels it at once; it never runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_it_runs() {
    let engine = Engine::builder().worker_slots(1).build().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    register_hold(
        &engine,
        tx,
        release.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    let ran = register_count(&engine).await;
    let blocker = engine.execute("ctl.hold", json!({})).await.unwrap();
    started(&mut rx).await;
    let waiting = engine.execute("ctl.count", json!({})).await.unwrap();
    wait_for_status(&engine, waiting, ExecutionStatus::Scheduled).await;
    let canceled = engine.cancel(waiting).await.unwrap();
    assert_eq!(canceled.status, ExecutionStatus::Canceled);
    release.notify_one();
    assert_eq!(
        engine.wait_timeout(blocker, SAFETY).await.unwrap().status,
        ExecutionStatus::Succeeded
    );
    engine.settle(SAFETY).await.unwrap();
    let after = engine.execution(waiting).await.unwrap();
    assert_eq!(after.status, ExecutionStatus::Canceled, "{after:#?}");
    assert!(after.started.is_none(), "{after:#?}");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a canceled execution must not run"
    );
    // The slot is free again: new work still runs.
    let run = engine.run("ctl.count", json!({})).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
}

// Canceling a finished execution is a Conflict naming its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_finished_execution_is_a_conflict() {
    let engine = engine().await;
    engine
        .register_fn("ctl.quick", |_ctx| async { Ok(1) })
        .await
        .unwrap();
    let done = engine.run("ctl.quick", json!({})).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    match engine.cancel(done.id).await {
        Err(Error::Conflict(msg)) => assert!(msg.contains("succeeded"), "{msg}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        engine.execution(done.id).await.unwrap().status,
        ExecutionStatus::Succeeded
    );
    assert!(matches!(
        engine.cancel(attune_core::model::ExecutionId::new()).await,
        Err(Error::NotFound { .. })
    ));
}

// worker_slots(2) never runs more than two handlers at once; waiting work starts in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_slots_bound_concurrency() {
    let engine = Engine::builder().worker_slots(2).build().await.unwrap();
    let current = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    // Closed until the test has seen the limit reached; then every handler passes.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (c, m, g) = (current.clone(), max.clone(), gate.clone());
    engine
        .register_fn("ctl.busy", move |_ctx| {
            let (c, m, g) = (c.clone(), m.clone(), g.clone());
            async move {
                let now = c.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                drop(g.acquire().await);
                tokio::time::sleep(Duration::from_millis(5)).await;
                c.fetch_sub(1, Ordering::SeqCst);
                Ok(now)
            }
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(engine.execute("ctl.busy", json!({"i": i})).await.unwrap());
    }
    // The first two run; the other eight wait in `scheduled`.
    wait_for_status(&engine, ids[0], ExecutionStatus::Running).await;
    wait_for_status(&engine, ids[1], ExecutionStatus::Running).await;
    for id in &ids[2..] {
        wait_for_status(&engine, *id, ExecutionStatus::Scheduled).await;
    }
    // `running` is recorded at the claim, a moment before the handler starts: wait for both
    // handlers to be inside.
    tokio::time::timeout(SAFETY, async {
        while current.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("two handlers running");
    assert_eq!(max.load(Ordering::SeqCst), 2);
    gate.add_permits(1);
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(max.load(Ordering::SeqCst), 2, "more than two ran at once");
    let mut starts = Vec::new();
    for id in &ids {
        let e = engine.execution(*id).await.unwrap();
        assert_eq!(e.status, ExecutionStatus::Succeeded);
        starts.push(e.started.expect("started"));
    }
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "started out of order: {starts:?}"
    );
}

// shutdown lets quick in-flight work finish, then refuses new events and executions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_quick_work_then_refuses_more() {
    let engine = engine().await;
    engine
        .register_trigger_type(TriggerType::new("ctl.tick"))
        .await
        .unwrap();
    engine
        .register_fn("ctl.nap", |_ctx| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok("rested")
        })
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("ctl.on_tick", "ctl.tick", "ctl.nap"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(engine.execute("ctl.nap", json!({})).await.unwrap());
    }
    let event = engine.emit("ctl.tick", json!({})).await.unwrap();
    engine.shutdown(SAFETY).await;
    for id in ids {
        assert_eq!(
            engine.execution(id).await.unwrap().status,
            ExecutionStatus::Succeeded
        );
    }
    let trace = engine.trace_event(event).await.unwrap();
    assert_eq!(only_execution(&trace).status, ExecutionStatus::Succeeded);
    assert!(matches!(
        engine.emit("ctl.tick", json!({})).await,
        Err(Error::ShutDown)
    ));
    assert!(matches!(
        engine.execute("ctl.nap", json!({})).await,
        Err(Error::ShutDown)
    ));
    engine.shutdown(SAFETY).await; // idempotent
}

// shutdown cancels work still running at the deadline; the handler sees its cancel signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_work_past_the_deadline() {
    let engine = Engine::builder()
        .cancel_grace(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    register_hold(&engine, tx, Arc::new(Notify::new()), saw_cancel.clone()).await;
    let id = engine.execute("ctl.hold", json!({})).await.unwrap();
    started(&mut rx).await;
    engine.shutdown(Duration::from_millis(100)).await;
    let after = engine.execution(id).await.unwrap();
    assert_eq!(after.status, ExecutionStatus::Canceled, "{after:#?}");
    assert!(saw_cancel.load(Ordering::SeqCst));
    assert!(matches!(
        engine.execute("ctl.hold", json!({})).await,
        Err(Error::ShutDown)
    ));
}

// shutdown marks work that never started `canceled`; it does not run after the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_work_that_never_started() {
    let engine = Engine::builder()
        .worker_slots(1)
        .cancel_grace(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    register_hold(
        &engine,
        tx,
        Arc::new(Notify::new()),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    let ran = register_count(&engine).await;
    let blocker = engine.execute("ctl.hold", json!({})).await.unwrap();
    started(&mut rx).await;
    let waiting = engine.execute("ctl.count", json!({})).await.unwrap();
    wait_for_status(&engine, waiting, ExecutionStatus::Scheduled).await;
    engine.shutdown(Duration::from_millis(100)).await;
    assert_eq!(
        engine.execution(blocker).await.unwrap().status,
        ExecutionStatus::Canceled
    );
    let after = engine.execution(waiting).await.unwrap();
    assert_eq!(after.status, ExecutionStatus::Canceled, "{after:#?}");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "work that never started must not run"
    );
}

// Retention keep_last(N) bounds the stored executions (and purges old events) under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_execution_count_bounded() {
    // Purges run in the completion stage once every PURGE_EVERY (4096) finished executions and
    // delete every terminal execution older than the newest KEEP. Anything that survives the
    // last purge is either among the newest KEEP or finished after it, and fewer than 4096
    // finished after it; so after settling, KEEP <= count < KEEP + 4096.
    const KEEP: u64 = 1000;
    const PURGE_EVERY: u64 = 4096;
    const EVENTS: u64 = 10_000;
    let engine = Engine::builder()
        .retention(Retention::keep_last(KEEP))
        .build()
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("ctl.flood"))
        .await
        .unwrap();
    engine
        .register_fn("ctl.noop", |_ctx| async { Ok(()) })
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ctl.on_flood", "ctl.flood", "ctl.noop").param("n", json!("{{ trigger.n }}")),
        )
        .await
        .unwrap();
    let first = engine.emit("ctl.flood", json!({"n": 0})).await.unwrap();
    for n in 1..EVENTS {
        engine.emit("ctl.flood", json!({"n": n})).await.unwrap();
    }
    engine.settle(Duration::from_secs(120)).await.unwrap();
    let count = execution_count(&engine).await;
    assert!(
        (KEEP..KEEP + PURGE_EVERY).contains(&count),
        "{count} executions kept with keep_last({KEEP})"
    );
    assert!(
        matches!(engine.trace_event(first).await, Err(Error::NotFound { .. })),
        "the oldest event should be purged with its execution"
    );
    // That events still waiting for the matching stage survive a purge is tested
    // deterministically in engine_redelivery.rs (retention_never_purges_an_unmatched_event).
}

// Dropping the last handle without shutdown stops the engine, as dropping a tokio handle that
// owns tasks does: the running action is told to stop, its end is recorded, and every task
// of the engine ends (nothing holds its store any more).
#[tokio::test]
async fn dropping_the_last_handle_stops_the_engine() {
    let store = Arc::new(attune_core::store::MemoryStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        .build()
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Arc::new(Notify::new());
    let (tx_started, started_here) = (tx.clone(), started.clone());
    engine
        .register_fn("t.wait", move |ctx| {
            let (tx, started) = (tx_started.clone(), started_here.clone());
            async move {
                started.notify_one();
                ctx.cancel.cancelled().await;
                let _ = tx.send("canceled");
                Ok(json!({}))
            }
        })
        .await
        .unwrap();
    drop(tx);
    let id = engine.execute("t.wait", json!({})).await.unwrap();
    tokio::time::timeout(SAFETY, started.notified())
        .await
        .expect("the action started");
    engine
        .register_fn("t.ok", |_ctx| async move { Ok(json!({"ok": true})) })
        .await
        .unwrap();
    let copy = engine.clone();
    drop(engine);
    // A copy of the handle keeps the engine running.
    let ok = copy.run("t.ok", json!({})).await.unwrap();
    assert_eq!(ok.status, ExecutionStatus::Succeeded);
    assert_eq!(
        copy.execution(id).await.unwrap().status,
        ExecutionStatus::Running
    );
    drop(copy);
    let seen = tokio::time::timeout(SAFETY, rx.recv())
        .await
        .expect("the action is told to stop when the last handle is dropped");
    assert_eq!(seen, Some("canceled"));
    // Every task of the engine ends, and with them every reference to its store.
    let released = tokio::time::timeout(SAFETY, async {
        while Arc::strong_count(&store) > 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(released.is_ok(), "the engine's tasks ended");
    let e = attune_core::store::Store::get_execution(&*store, id)
        .await
        .unwrap();
    assert_eq!(e.status, ExecutionStatus::Canceled, "{e:#?}");
}
