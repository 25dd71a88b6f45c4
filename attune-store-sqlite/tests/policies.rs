//! Policies on a durable store: the queue of a concurrency policy and a retry's attempts
//! outlive the engine that made them.

use attune_core::Engine;
use attune_core::model::{ConcurrencyOverflow, ExecutionStatus, Policy, PolicyKind};
use attune_store_sqlite::SqliteStore;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(20);

fn one_at_a_time() -> Policy {
    Policy {
        policy_ref: "q.one".into(),
        action: "q.work".into(),
        kind: PolicyKind::Concurrency {
            limit: 1,
            overflow: ConcurrencyOverflow::Delay,
            attributes: vec![],
        },
        enabled: true,
    }
}

// An engine queues work behind a run that never ends and stops; the next engine on the
// same file runs the queue in request order, one at a time, under the stored policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attune.db");
    let mut ids = Vec::new();
    {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let engine = Engine::builder()
            .store(store)
            .cancel_grace(Duration::from_millis(100))
            .build()
            .await
            .unwrap();
        let started = Arc::new(tokio::sync::Notify::new());
        let s = started.clone();
        engine
            .register_fn("q.work", move |_| {
                let s = s.clone();
                async move {
                    s.notify_one();
                    std::future::pending::<()>().await;
                    Ok(json!(null))
                }
            })
            .await
            .unwrap();
        engine.register_policy(one_at_a_time()).await.unwrap();
        ids.push(engine.execute("q.work", json!({"n": 0})).await.unwrap());
        tokio::time::timeout(SAFETY, started.notified())
            .await
            .unwrap();
        for n in 1..8 {
            ids.push(engine.execute("q.work", json!({ "n": n })).await.unwrap());
        }
        let until = tokio::time::Instant::now() + SAFETY;
        while engine.queue_stats("q.work").await.unwrap().queued < 7 {
            assert!(tokio::time::Instant::now() < until, "never queued");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Stopping cancels the run that holds the slot; the queue stays in the file.
        engine.shutdown(Duration::from_millis(10)).await;
    }
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let engine = Engine::builder().store(store).build().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    engine
        .register_fn("q.work", move |ctx| {
            let o = o.clone();
            async move {
                o.lock().unwrap().push(ctx.param("n").cloned().unwrap());
                Ok(json!("done"))
            }
        })
        .await
        .unwrap();
    assert_eq!(engine.policies(Some("q.work")), vec![one_at_a_time()]);
    let stats = engine.queue_stats("q.work").await.unwrap();
    // The cancel freed the slot as the engine stopped: the next may have been scheduled
    // (it holds the slot now, and runs first).
    assert_eq!((stats.queued + stats.running, stats.limit), (7, Some(1)));
    engine.recover().await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        (1..8).map(|n| json!(n)).collect::<Vec<_>>()
    );
    assert_eq!(
        engine.execution(ids[0]).await.unwrap().status,
        ExecutionStatus::Canceled
    );
    for id in &ids[1..] {
        assert_eq!(
            engine.execution(*id).await.unwrap().status,
            ExecutionStatus::Succeeded
        );
    }
    engine.shutdown(SAFETY).await;
}

// A retry's link to its first attempt is stored and queried by the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_linked_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attune.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let engine = Engine::builder().store(store).build().await.unwrap();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    engine
        .register_fn::<serde_json::Value, _, _>("q.flaky", move |_| {
            let r = r.clone();
            async move {
                if r.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    Err(attune_core::Error::Action("first fails".into()))
                } else {
                    Ok(json!("ok"))
                }
            }
        })
        .await
        .unwrap();
    engine
        .register_policy(Policy {
            policy_ref: "q.retry".into(),
            action: "q.flaky".into(),
            kind: PolicyKind::Retry {
                on_timeout: false,
                on_abandoned: false,
                max_attempts: 3,
                delay_secs: 0.0,
                backoff: Default::default(),
                max_delay_secs: None,
            },
            enabled: true,
        })
        .await
        .unwrap();
    let first = engine.execute("q.flaky", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    engine.shutdown(SAFETY).await;
    drop(engine);
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let engine = Engine::builder().store(store).build().await.unwrap();
    let attempts = engine.attempts(first).await.unwrap();
    let shape: Vec<_> = attempts
        .iter()
        .map(|e| (e.attempt, e.status, e.retry_of))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, ExecutionStatus::Failed, None),
            (2, ExecutionStatus::Succeeded, Some(first)),
        ]
    );
    engine.shutdown(SAFETY).await;
}
