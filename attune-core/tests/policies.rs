//! Policies applied: concurrency with a FIFO queue or cancel, per attribute, rate limits,
//! changes applied to what waits, the queue kept across a restart, queue statistics.

use attune_core::model::*;
use attune_core::store::*;
use attune_core::{Engine, Error};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(20);

fn concurrency(name: &str, action: &str, limit: u32, overflow: ConcurrencyOverflow) -> Policy {
    Policy {
        policy_ref: format!("t.{name}"),
        action: action.into(),
        kind: PolicyKind::Concurrency {
            limit,
            overflow,
            attributes: vec![],
        },
        enabled: true,
    }
}

/// Records the order in which runs start and the most running at once (per `host` param).
#[derive(Default)]
struct Probe {
    order: Mutex<Vec<u64>>,
    now: Mutex<std::collections::HashMap<String, usize>>,
    most: Mutex<std::collections::HashMap<String, usize>>,
    total_now: AtomicUsize,
    total_most: AtomicUsize,
}

async fn probed(engine: &Engine, action: &str, probe: Arc<Probe>) {
    engine
        .register_fn(action, move |ctx| {
            let p = probe.clone();
            async move {
                let host = ctx
                    .param("host")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let n = ctx.param("n").and_then(Value::as_u64).unwrap_or(0);
                p.order.lock().unwrap().push(n);
                {
                    let mut now = p.now.lock().unwrap();
                    let c = now.entry(host.clone()).or_insert(0);
                    *c += 1;
                    let mut most = p.most.lock().unwrap();
                    let m = most.entry(host.clone()).or_insert(0);
                    *m = (*m).max(*c);
                }
                let t = p.total_now.fetch_add(1, Ordering::SeqCst) + 1;
                p.total_most.fetch_max(t, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                p.total_now.fetch_sub(1, Ordering::SeqCst);
                *p.now.lock().unwrap().get_mut(&host).unwrap() -= 1;
                Ok(json!(n))
            }
        })
        .await
        .unwrap();
}

// Concurrency 1 with `delay`: every execution runs, one at a time, in request order; those
// that waited went through `delayed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_runs_in_request_order() {
    let engine = Engine::builder().build().await.unwrap();
    let probe = Arc::new(Probe::default());
    probed(&engine, "t.work", probe.clone()).await;
    engine
        .register_policy(concurrency("one", "t.work", 1, ConcurrencyOverflow::Delay))
        .await
        .unwrap();
    let mut sub = engine.subscribe().await.unwrap();
    let mut ids = Vec::new();
    for n in 0..40u64 {
        ids.push(engine.execute("t.work", json!({ "n": n })).await.unwrap());
    }
    engine.settle(SAFETY).await.unwrap();
    for id in &ids {
        let e = engine.execution(*id).await.unwrap();
        assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    }
    assert_eq!(*probe.order.lock().unwrap(), (0..40).collect::<Vec<u64>>());
    assert_eq!(probe.total_most.load(Ordering::SeqCst), 1);
    let mut delayed = 0;
    while let Ok(Ok(Some(c))) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
        if c.status == ExecutionStatus::Delayed {
            delayed += 1;
        }
    }
    assert!(delayed > 0, "no execution waited");
    let stats = engine.queue_stats("t.work").await.unwrap();
    assert_eq!((stats.queued, stats.running, stats.limit), (0, 0, Some(1)));
    assert_eq!(stats.admitted, 40);
    assert_eq!(stats.delayed, delayed);
    assert_eq!(stats.canceled, 0);
}

// Concurrency 1 under concurrent requesters (8 tasks, 40 requests each): every execution
// runs once, one at a time, and in request order as callers can observe it — none starts
// after a request that was made only once its own `execute` had returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_request_order() {
    use std::time::Instant;
    let engine = Engine::builder().build().await.unwrap();
    let probe = Arc::new(Probe::default());
    probed(&engine, "t.work", probe.clone()).await;
    engine
        .register_policy(concurrency("one", "t.work", 1, ConcurrencyOverflow::Delay))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut made = Vec::new();
                for k in 0..40u64 {
                    let n = t * 1000 + k;
                    let at = Instant::now();
                    engine.execute("t.work", json!({ "n": n })).await.unwrap();
                    made.push((n, at, Instant::now()));
                }
                made
            })
        })
        .collect();
    let mut requests = std::collections::HashMap::new();
    for t in tasks {
        for (n, at, back) in t.await.unwrap() {
            requests.insert(n, (at, back));
        }
    }
    engine.settle(SAFETY).await.unwrap();
    let order = probe.order.lock().unwrap().clone();
    assert_eq!(order.len(), 320, "every execution ran once");
    assert_eq!(probe.total_most.load(Ordering::SeqCst), 1);
    let mut latest_made: Option<Instant> = None;
    for (k, n) in order.iter().enumerate() {
        let (made, returned) = requests[n];
        assert!(
            latest_made.is_none_or(|m| returned >= m),
            "run {k} (n={n}) started after a request made once its own had returned"
        );
        latest_made = Some(latest_made.map_or(made, |m| m.max(made)));
    }
    // Each requester's own requests (made one after the other) ran in its order.
    for t in 0..8u64 {
        let mine: Vec<u64> = order.iter().copied().filter(|n| n / 1000 == t).collect();
        assert!(mine.is_sorted(), "requester {t}: {mine:?}");
    }
}

// Per-attribute concurrency: at most one per host at a time, each host in its own order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_partition_the_limit() {
    let engine = Engine::builder().build().await.unwrap();
    let probe = Arc::new(Probe::default());
    probed(&engine, "t.per_host", probe.clone()).await;
    engine
        .register_policy(Policy {
            policy_ref: "t.host".into(),
            action: "t.per_host".into(),
            kind: PolicyKind::Concurrency {
                limit: 1,
                overflow: ConcurrencyOverflow::Delay,
                attributes: vec!["host".into()],
            },
            enabled: true,
        })
        .await
        .unwrap();
    for n in 0..30u64 {
        let host = ["a", "b", "c"][(n % 3) as usize];
        engine
            .execute("t.per_host", json!({ "n": n, "host": host }))
            .await
            .unwrap();
    }
    engine.settle(SAFETY).await.unwrap();
    let most = probe.most.lock().unwrap().clone();
    assert_eq!(most.len(), 3);
    assert!(most.values().all(|m| *m == 1), "{most:?}");
    let order = probe.order.lock().unwrap().clone();
    assert_eq!(order.len(), 30);
    for host in 0..3 {
        let of: Vec<u64> = order.iter().copied().filter(|n| n % 3 == host).collect();
        let mut sorted = of.clone();
        sorted.sort();
        assert_eq!(of, sorted, "host {host} out of order");
    }
}

/// An action that waits until told, counting its starts.
async fn gated_action(
    engine: &Engine,
    action: &str,
) -> (Arc<tokio::sync::Semaphore>, Arc<AtomicUsize>) {
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (o, s) = (open.clone(), started.clone());
    engine
        .register_fn(action, move |_ctx| {
            let (o, s) = (o.clone(), s.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                o.acquire().await.unwrap().forget();
                Ok(json!("done"))
            }
        })
        .await
        .unwrap();
    (open, started)
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let until = tokio::time::Instant::now() + SAFETY;
    while !f().await {
        assert!(tokio::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// `cancel`: beyond the limit an execution is canceled, naming the policy; once a slot
// frees, the next one runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_overflow_cancels_beyond_the_limit() {
    let engine = Engine::builder().build().await.unwrap();
    let (open, started) = gated_action(&engine, "t.slow").await;
    engine
        .register_policy(concurrency("cap", "t.slow", 1, ConcurrencyOverflow::Cancel))
        .await
        .unwrap();
    let first = engine.execute("t.slow", json!({})).await.unwrap();
    wait_for("first started", async || {
        started.load(Ordering::SeqCst) == 1
    })
    .await;
    let second = engine.execute("t.slow", json!({})).await.unwrap();
    let e = engine.wait_timeout(second, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Canceled);
    let msg = e.error.unwrap();
    assert!(msg.contains("policy 't.cap'"), "{msg}");
    open.add_permits(2);
    assert_eq!(
        engine.wait_timeout(first, SAFETY).await.unwrap().status,
        ExecutionStatus::Succeeded
    );
    let third = engine.run("t.slow", json!({})).await.unwrap();
    assert_eq!(third.status, ExecutionStatus::Succeeded);
    assert_eq!(engine.queue_stats("t.slow").await.unwrap().canceled, 1);
}

// A changed policy applies to what waits: raising the limit admits more at once, removing
// the policy admits the rest. Canceling a waiting execution takes it out of the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_applies_to_what_waits() {
    let engine = Engine::builder().build().await.unwrap();
    let (open, started) = gated_action(&engine, "t.held").await;
    engine
        .register_policy(concurrency("lim", "t.held", 1, ConcurrencyOverflow::Delay))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(engine.execute("t.held", json!({})).await.unwrap());
    }
    wait_for("one started, five waiting", async || {
        let s = engine.queue_stats("t.held").await.unwrap();
        started.load(Ordering::SeqCst) == 1 && s.queued == 5 && s.running == 1
    })
    .await;
    assert!(
        engine
            .queue_stats("t.held")
            .await
            .unwrap()
            .oldest_wait_secs
            .is_some()
    );
    assert_eq!(
        engine.execution(ids[1]).await.unwrap().status,
        ExecutionStatus::Delayed
    );
    // A waiting one is canceled: it leaves the queue.
    engine.cancel(ids[5]).await.unwrap();
    engine
        .register_policy(concurrency("lim", "t.held", 3, ConcurrencyOverflow::Delay))
        .await
        .unwrap();
    wait_for("three started", async || {
        started.load(Ordering::SeqCst) == 3
    })
    .await;
    let s = engine.queue_stats("t.held").await.unwrap();
    // Six asked, one canceled: three run, two wait.
    assert_eq!((s.running, s.queued, s.limit), (3, 2, Some(3)));
    // The counts since the start outlive the change: one admitted at once, five delayed,
    // then two more admitted.
    assert_eq!((s.admitted, s.delayed), (3, 5));
    assert!(engine.remove_policy("t.lim").await.unwrap());
    wait_for("all started", async || started.load(Ordering::SeqCst) == 5).await;
    open.add_permits(5);
    engine.settle(SAFETY).await.unwrap();
    let statuses: Vec<ExecutionStatus> = futures::future::join_all(
        ids.iter()
            .map(|id| async { engine.execution(*id).await.unwrap().status }),
    )
    .await;
    assert_eq!(
        statuses,
        [
            [ExecutionStatus::Succeeded; 5].as_slice(),
            &[ExecutionStatus::Canceled]
        ]
        .concat()
    );
}

// A rate limit: no window of its length holds more than `max` starts; all run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_spaces_the_starts() {
    let engine = Engine::builder().build().await.unwrap();
    engine
        .register_fn("t.tick", |_| async { Ok(json!(1)) })
        .await
        .unwrap();
    engine
        .register_policy(Policy {
            policy_ref: "t.rate".into(),
            action: "t.tick".into(),
            kind: PolicyKind::RateLimit {
                max: 2,
                window_secs: 0.2,
            },
            enabled: true,
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    // Two fill the window and end; the next four arrive while it is still full, with
    // nothing running whose end would admit them: the window's time does.
    for _ in 0..2 {
        ids.push(engine.execute("t.tick", json!({})).await.unwrap());
    }
    engine.settle(SAFETY).await.unwrap();
    for _ in 0..4 {
        ids.push(engine.execute("t.tick", json!({})).await.unwrap());
    }
    engine.settle(SAFETY).await.unwrap();
    let mut started = Vec::new();
    for id in ids {
        let e = engine.execution(id).await.unwrap();
        assert_eq!(e.status, ExecutionStatus::Succeeded);
        started.push(e.started.unwrap());
    }
    started.sort();
    for w in started.windows(3) {
        assert!(
            w[2] - w[0] >= chrono::Duration::milliseconds(200),
            "three starts within one window: {w:?}"
        );
    }
}

// The queue lives in the store: an engine started on it hands on what waited, in request
// order, under the stored policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_queue_and_its_order() {
    let store = Arc::new(MemoryStore::new());
    let now = chrono::Utc::now();
    store
        .put_definition(Definition::Action(Action::new("q.work", "native")))
        .await
        .unwrap();
    store
        .put_definition(Definition::Policy(concurrency(
            "one",
            "q.work",
            1,
            ConcurrencyOverflow::Delay,
        )))
        .await
        .unwrap();
    let mut waiting = Vec::new();
    for n in 0..10u64 {
        let mut e = Execution::new("q.work", "native", json!({ "n": n }), now);
        e.status = ExecutionStatus::Delayed;
        waiting.push(e);
    }
    // Stored in reverse: the queue's order is the request (id) order.
    for e in waiting.iter().rev() {
        store.insert_execution(e).await.unwrap();
    }
    let engine = Engine::builder().store(store).build().await.unwrap();
    let probe = Arc::new(Probe::default());
    probed(&engine, "q.work", probe.clone()).await;
    assert_eq!(engine.policies(Some("q.work")).len(), 1);
    assert!(engine.recover().await.unwrap() >= 10);
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(*probe.order.lock().unwrap(), (0..10).collect::<Vec<u64>>());
    assert_eq!(probe.total_most.load(Ordering::SeqCst), 1);
}

// Bad input: a policy on a missing action, a limit of 0, a rate window of 0.
#[tokio::test]
async fn bad_policies_are_refused() {
    let engine = Engine::builder().build().await.unwrap();
    engine
        .register_fn("t.ok", |_| async { Ok(json!(1)) })
        .await
        .unwrap();
    let err = engine
        .register_policy(concurrency("x", "t.missing", 1, ConcurrencyOverflow::Delay))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("action 't.missing' does not exist"),
        "{err}"
    );
    let err = engine
        .register_policy(concurrency("x", "t.ok", 0, ConcurrencyOverflow::Delay))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
    let err = engine
        .register_policy(Policy {
            policy_ref: "t.r".into(),
            action: "t.ok".into(),
            kind: PolicyKind::RateLimit {
                max: 1,
                window_secs: 0.0,
            },
            enabled: true,
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("positive number of seconds"),
        "{err}"
    );
    assert!(engine.policies(None).is_empty());
    // Nothing was stored either.
    assert!(
        engine
            .store()
            .list_definitions(DefinitionKind::Policy, None)
            .await
            .unwrap()
            .is_empty()
    );
}

// A disabled policy gates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_policy_gates_nothing() {
    let engine = Engine::builder().build().await.unwrap();
    let (open, started) = gated_action(&engine, "t.free").await;
    let mut p = concurrency("off", "t.free", 1, ConcurrencyOverflow::Cancel);
    p.enabled = false;
    engine.register_policy(p).await.unwrap();
    for _ in 0..3 {
        engine.execute("t.free", json!({})).await.unwrap();
    }
    wait_for("all three started", async || {
        started.load(Ordering::SeqCst) == 3
    })
    .await;
    open.add_permits(3);
    engine.settle(SAFETY).await.unwrap();
}
