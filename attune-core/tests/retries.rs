//! Retry policies: each attempt its own execution linked to the first; failure, timeout,
//! abandoned work (opt in); delays; secrets kept for the next attempt; tasks of a workflow
//! left to the workflow.

use attune_core::model::*;
use attune_core::params::ParamSpec;
use attune_core::store::*;
use attune_core::{Engine, Error};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(20);

fn retry(action: &str, max_attempts: u32, on_timeout: bool, delay_secs: f64) -> Policy {
    Policy {
        policy_ref: format!("{}_retry", action),
        action: action.into(),
        kind: PolicyKind::Retry {
            on_timeout,
            on_abandoned: false,
            max_attempts,
            delay_secs,
            backoff: Backoff::Constant,
            max_delay_secs: None,
        },
        enabled: true,
    }
}

/// An action that fails its first `fails` runs, then succeeds.
async fn flaky(engine: &Engine, action: &str, fails: usize) -> Arc<AtomicUsize> {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    engine
        .register_fn::<Value, _, _>(action, move |_| {
            let r = r.clone();
            async move {
                let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                if n <= fails {
                    Err(Error::Action(format!("run {n} failed")))
                } else {
                    Ok(json!({ "run": n }))
                }
            }
        })
        .await
        .unwrap();
    runs
}

// A failed execution is retried until it succeeds, within max_attempts; each attempt is its
// own execution (attempt 1, 2, 3; retry_of the first), and the trace shows them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_execution_is_retried_as_new_executions() {
    let engine = Engine::builder().build().await.unwrap();
    let runs = flaky(&engine, "r.flaky", 2).await;
    engine
        .register_policy(retry("r.flaky", 3, false, 0.0))
        .await
        .unwrap();
    let first = engine.execute("r.flaky", json!({"x": 1})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let attempts = engine.attempts(first).await.unwrap();
    let shape: Vec<(u32, ExecutionStatus, Option<ExecutionId>)> = attempts
        .iter()
        .map(|e| (e.attempt, e.status, e.retry_of))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, ExecutionStatus::Failed, None),
            (2, ExecutionStatus::Failed, Some(first)),
            (3, ExecutionStatus::Succeeded, Some(first)),
        ]
    );
    assert!(attempts.iter().all(|e| e.params == json!({"x": 1})));
    assert_eq!(attempts[2].result, Some(json!({"run": 3})));
    let trace = engine.trace_execution(attempts[1].id).await.unwrap();
    assert_eq!(trace.attempts.len(), 3);
    assert_eq!(trace.attempts[0].id, first);
}

// max_attempts bounds the retries: the last attempt's failure stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_max_attempts() {
    let engine = Engine::builder().build().await.unwrap();
    let runs = flaky(&engine, "r.broken", 100).await;
    engine
        .register_policy(retry("r.broken", 2, false, 0.0))
        .await
        .unwrap();
    let first = engine.execute("r.broken", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let attempts = engine.attempts(first).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|e| e.status == ExecutionStatus::Failed));
}

// A timeout is retried only when the policy says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_retried_only_when_asked() {
    let engine = Engine::builder().build().await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let mut action = Action::new("r.slow", "native");
    action.timeout_secs = Some(0.05);
    engine
        .register_native(action, move |_| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Value::Null)
            }
        })
        .await
        .unwrap();
    engine
        .register_policy(retry("r.slow", 3, false, 0.0))
        .await
        .unwrap();
    let id = engine.execute("r.slow", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(engine.attempts(id).await.unwrap().len(), 1);
    engine
        .register_policy(retry("r.slow", 3, true, 0.0))
        .await
        .unwrap();
    let id = engine.execute("r.slow", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    let attempts = engine.attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|e| e.status == ExecutionStatus::Timeout)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 4);
}

// A delay holds the next attempt `delayed` until its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_holds_the_next_attempt() {
    let engine = Engine::builder().build().await.unwrap();
    flaky(&engine, "r.later", 1).await;
    engine
        .register_policy(retry("r.later", 2, false, 0.3))
        .await
        .unwrap();
    let mut sub = engine.subscribe().await.unwrap();
    let first = engine.execute("r.later", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    let attempts = engine.attempts(first).await.unwrap();
    assert_eq!(attempts.len(), 2);
    let second = &attempts[1];
    assert_eq!(second.status, ExecutionStatus::Succeeded);
    let after = second.run_after.expect("the retry waits for a time");
    assert!(second.started.unwrap() >= after);
    assert!(after - attempts[0].finished.unwrap() >= chrono::Duration::milliseconds(300));
    let mut seen = Vec::new();
    while let Ok(Ok(Some(c))) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
        if c.execution == second.id {
            seen.push(c.status);
        }
    }
    assert_eq!(seen.first(), Some(&ExecutionStatus::Delayed), "{seen:?}");
}

// Backoff: constant, linear, exponential, capped.
#[test]
fn backoff_grows_as_stated() {
    assert_eq!(Backoff::Constant.delay_secs(2.0, 3, None), 2.0);
    assert_eq!(Backoff::Linear.delay_secs(2.0, 3, None), 6.0);
    assert_eq!(Backoff::Exponential.delay_secs(2.0, 1, None), 2.0);
    assert_eq!(Backoff::Exponential.delay_secs(2.0, 4, None), 16.0);
    assert_eq!(Backoff::Exponential.delay_secs(2.0, 4, Some(10.0)), 10.0);
    assert_eq!(
        Backoff::Exponential.delay_secs(1.0, u32::MAX, Some(5.0)),
        5.0
    );
}

// The secret params of a run stay in the process for its retry (they are never stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gets_the_secret_params() {
    let engine = Engine::builder().build().await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let action = Action::new("r.secretive", "native")
        .param("token", ParamSpec::string().required().secret());
    engine
        .register_native::<Value, _, _>(action, move |ctx| {
            let s = s.clone();
            async move {
                let token = ctx.param("token").cloned().unwrap_or(Value::Null);
                let mut v = s.lock().unwrap();
                v.push(token);
                if v.len() == 1 {
                    Err(Error::Action("first run fails".into()))
                } else {
                    Ok(json!("ok"))
                }
            }
        })
        .await
        .unwrap();
    engine
        .register_policy(retry("r.secretive", 2, false, 0.0))
        .await
        .unwrap();
    let first = engine
        .execute("r.secretive", json!({"token": "s3cr3t"}))
        .await
        .unwrap();
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![json!("s3cr3t"), json!("s3cr3t")]
    );
    let attempts = engine.attempts(first).await.unwrap();
    assert_eq!(attempts[1].status, ExecutionStatus::Succeeded);
    assert_ne!(attempts[1].params["token"], json!("s3cr3t"));
}

/// A store holding a `running` execution of `action` whose worker was lost.
async fn lost_work(action: &str) -> (Arc<MemoryStore>, ExecutionId) {
    let store = Arc::new(MemoryStore::new());
    let now = chrono::Utc::now();
    store
        .put_definition(Definition::Action(Action::new(action, "native")))
        .await
        .unwrap();
    let e = Execution::new(action, "native", json!({"n": 1}), now);
    store.insert_execution(&e).await.unwrap();
    store
        .transition_execution(
            e.id,
            ExecutionStatus::Requested,
            ExecutionChange::to(ExecutionStatus::Scheduled, now),
        )
        .await
        .unwrap();
    let claim = Claim {
        worker: "lost".into(),
        now,
        lease_until: now - chrono::Duration::seconds(1),
    };
    store.claim_execution(e.id, &claim).await.unwrap().unwrap();
    (store, e.id)
}

// Abandoned work is retried only when asked (engine-wide here), as a new attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_work_is_retried_when_asked() {
    for retried in [false, true] {
        let (store, id) = lost_work("r.idempotent").await;
        let mut b = Engine::builder().store(store);
        if retried {
            b = b.retry_abandoned(2);
        }
        let engine = b.build().await.unwrap();
        flaky(&engine, "r.idempotent", 0).await;
        engine.recover().await.unwrap();
        engine.settle(SAFETY).await.unwrap();
        let attempts = engine.attempts(id).await.unwrap();
        assert_eq!(attempts[0].status, ExecutionStatus::Abandoned);
        if retried {
            assert_eq!(attempts.len(), 2);
            assert_eq!(attempts[1].status, ExecutionStatus::Succeeded);
            assert_eq!(attempts[1].params, json!({"n": 1}));
        } else {
            assert_eq!(attempts.len(), 1);
        }
    }
}

// The same, per action: a retry policy with on_abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_retries_abandoned_work_when_it_says_so() {
    let (store, id) = lost_work("r.again").await;
    let engine = Engine::builder().store(store).build().await.unwrap();
    flaky(&engine, "r.again", 0).await;
    let mut p = retry("r.again", 2, false, 0.0);
    if let PolicyKind::Retry { on_abandoned, .. } = &mut p.kind {
        *on_abandoned = true;
    }
    engine.register_policy(p).await.unwrap();
    engine.recover().await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    let attempts = engine.attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].status, ExecutionStatus::Succeeded);
}

// A workflow's task is not retried by the task action's policy: the workflow decides
// (its task fails, the workflow fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_task_is_left_to_its_workflow() {
    let engine = Engine::builder().build().await.unwrap();
    let runs = flaky(&engine, "r.step", 1).await;
    engine
        .register_policy(retry("r.step", 3, false, 0.0))
        .await
        .unwrap();
    let wf = attune_core::workflow::parse(
        "version: 1.0\ntasks:\n  one:\n    action: r.step\n",
        "r.wf.yaml",
    )
    .unwrap();
    engine.register_workflow("r.wf", wf).await.unwrap();
    let x = engine.run("r.wf", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

// A retry policy on a workflow action runs the whole workflow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_retried_by_policy_runs_again_from_the_start() {
    let engine = Engine::builder().build().await.unwrap();
    let runs = flaky(&engine, "r.part", 1).await;
    let wf = attune_core::workflow::parse(
        "version: 1.0\ntasks:\n  one:\n    action: r.part\n",
        "r.whole.yaml",
    )
    .unwrap();
    engine.register_workflow("r.whole", wf).await.unwrap();
    engine
        .register_policy(retry("r.whole", 2, false, 0.0))
        .await
        .unwrap();
    let first = engine.execute("r.whole", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    let attempts = engine.attempts(first).await.unwrap();
    let statuses: Vec<ExecutionStatus> = attempts.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [ExecutionStatus::Failed, ExecutionStatus::Succeeded]
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

// Bad retry settings are refused.
#[tokio::test]
async fn bad_retry_settings_are_refused() {
    let engine = Engine::builder().build().await.unwrap();
    flaky(&engine, "r.x", 0).await;
    let err = engine
        .register_policy(retry("r.x", 0, false, 0.0))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("max_attempts must be at least 1"),
        "{err}"
    );
    let err = engine
        .register_policy(retry("r.x", 2, false, -1.0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("delay_secs"), "{err}");
}
