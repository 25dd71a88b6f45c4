//! Recovery and robustness: panics, transient store errors, stored work at start, lost
//! workers, extreme settings, retention under a stopped clock, shutdown past its deadline.

mod common;
use attune_core::clock::ManualClock;
use attune_core::model::*;
use attune_core::store::*;
use attune_core::{Engine, Error, Retention};
use common::hooked_store::HookedStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(10);

// A panicking action fails its execution (with the panic message) instead of leaving it
// running, and the engine keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_action_fails_its_execution() {
    let engine = Engine::builder().build().await.unwrap();
    engine
        .register_fn("p.boom", |ctx| async move {
            if ctx.param("boom") == Some(&json!(true)) {
                panic!("kaboom");
            }
            Ok(json!("fine"))
        })
        .await
        .unwrap();
    let id = engine
        .execute("p.boom", json!({"boom": true}))
        .await
        .unwrap();
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert!(
        e.error.as_deref().unwrap().contains("panicked: kaboom"),
        "{e:?}"
    );
    engine.settle(SAFETY).await.unwrap();
    let ok = engine.run("p.boom", json!({})).await.unwrap();
    assert_eq!(ok.result, Some(json!("fine")));
}

/// Registers the action `<pack>.other` and a concurrency policy on it: from then on every
/// new execution goes through the scheduling stage's gate.
async fn gate_another_action(engine: &Engine, pack: &str) {
    let other = format!("{pack}.other");
    engine
        .register_fn(&other, |_c| async move { Ok(Value::Null) })
        .await
        .unwrap();
    engine
        .register_policy(Policy {
            policy_ref: format!("{pack}.gate"),
            action: other,
            kind: PolicyKind::Concurrency {
                limit: 1,
                overflow: ConcurrencyOverflow::Delay,
                attributes: vec![],
            },
            enabled: true,
        })
        .await
        .unwrap();
}

// A transient store error in a stage strands nothing: the recovery sweep hands the
// execution on again and it runs. A policy (on another action) makes new executions go
// through the scheduling stage, whose store call fails once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_store_error_is_recovered_by_the_sweep() {
    let store = Arc::new(HookedStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        .sweep_every(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    engine
        .register_fn("f.noop", |_c| async move { Ok(Value::Null) })
        .await
        .unwrap();
    gate_another_action(&engine, "f").await;
    store.fail_transitions.store(1, Ordering::SeqCst);
    let id = engine.execute("f.noop", json!({})).await.unwrap();
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    assert_eq!(
        store.fail_transitions.load(Ordering::SeqCst),
        0,
        "it failed once"
    );
}

// While no action has a concurrency or rate policy, a new execution is stored `scheduled`
// at once (the scheduling stage would only have moved it there); once one has, it is
// stored `requested`, for the stage to gate. Either way it is announced `requested`,
// `scheduled`, `running`, `succeeded`, in that order, and it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_skip_requested_only_while_no_policy_gates() {
    let store = Arc::new(HookedStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        .build()
        .await
        .unwrap();
    engine
        .register_fn("d.noop", |_c| async move { Ok(Value::Null) })
        .await
        .unwrap();
    let mut statuses = engine.subscribe().await.unwrap();
    let direct = engine.execute("d.noop", json!({})).await.unwrap();
    assert_eq!(
        engine.wait_timeout(direct, SAFETY).await.unwrap().status,
        ExecutionStatus::Succeeded
    );
    gate_another_action(&engine, "d").await;
    let gated = engine.execute("d.noop", json!({})).await.unwrap();
    assert_eq!(
        engine.wait_timeout(gated, SAFETY).await.unwrap().status,
        ExecutionStatus::Succeeded
    );
    assert_eq!(
        *store.inserted.lock().unwrap(),
        vec![
            (direct, ExecutionStatus::Scheduled),
            (gated, ExecutionStatus::Requested)
        ]
    );
    announced_in_order(&mut statuses, Default::default(), [direct, gated]).await;
}

// On a durable store no other process shares, an execution a rule makes while no policy
// gates and a worker slot is free is stored `running` under this engine's claim and
// started by the matching stage itself (no `scheduled` row to claim); with no free slot it
// is stored `scheduled` and waits for one. Either way it is announced `requested`,
// `scheduled`, `running`, `succeeded`, in order. (On an in-memory store it is stored
// `scheduled`: see `executions_skip_requested_only_while_no_policy_gates`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_execution_is_stored_claimed_while_a_slot_is_free() {
    let store = Arc::new(HookedStore::new());
    store.durable.store(true, Ordering::SeqCst);
    let engine = Engine::builder()
        .store(store.clone())
        .worker_slots(1)
        .build()
        .await
        .unwrap();
    let (release, released) = tokio::sync::watch::channel(false);
    engine
        .register_fn("c.wait", move |_c| {
            let mut released = released.clone();
            async move {
                let _ = released.wait_for(|r| *r).await;
                Ok(Value::Null)
            }
        })
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("c.go"))
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("c.on_go", "c.go", "c.wait"))
        .await
        .unwrap();
    let mut statuses = engine.subscribe().await.unwrap();
    let mut seen: Seen = Default::default();
    engine.emit("c.go", json!({})).await.unwrap();
    // The first takes the only slot.
    while next_status(&mut statuses, &mut seen).await != ExecutionStatus::Running {}
    engine.emit("c.go", json!({})).await.unwrap();
    while store.inserted.lock().unwrap().len() < 2 {
        next_status(&mut statuses, &mut seen).await;
    }
    let inserted = store.inserted.lock().unwrap().clone();
    let (first, second) = (inserted[0].0, inserted[1].0);
    assert_eq!(
        inserted,
        vec![
            (first, ExecutionStatus::Running),
            (second, ExecutionStatus::Scheduled)
        ]
    );
    let running = store.get_execution(first).await.unwrap();
    assert_eq!(running.status, ExecutionStatus::Running);
    assert!(running.worker.is_some() && running.lease_expires.is_some());
    assert!(running.started.is_some());
    release.send(true).unwrap();
    for id in [first, second] {
        assert_eq!(
            engine.wait_timeout(id, SAFETY).await.unwrap().status,
            ExecutionStatus::Succeeded
        );
    }
    announced_in_order(&mut statuses, seen, [first, second]).await;
}

// On a durable store, with one worker slot and work queues of two, a burst of events drains:
// some executions stored claimed by the matching stage, the others handed on `scheduled`.
// (The matching stage starts what it claimed before it hands the others on, so that a
// hand-off waiting for room never waits on a slot it holds itself; that interleaving is
// rare, and this test does not force it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_drains_with_one_slot_and_short_queues_on_a_durable_store() {
    let store = Arc::new(HookedStore::new());
    store.durable.store(true, Ordering::SeqCst);
    let engine = Engine::builder()
        .store(store.clone())
        .transport(Arc::new(
            attune_core::transport::LocalTransport::with_capacity(2),
        ))
        .worker_slots(1)
        .build()
        .await
        .unwrap();
    engine
        .register_fn("q.noop", |_c| async move { Ok(Value::Null) })
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("q.go"))
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("q.on_go", "q.go", "q.noop"))
        .await
        .unwrap();
    let ids = engine
        .emit_many((0..200).map(|n| ("q.go", json!({ "n": n }))))
        .await;
    assert!(ids.iter().all(Result::is_ok));
    engine.settle(SAFETY).await.unwrap();
    let inserted = store.inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 200);
    for (id, _) in &inserted {
        assert_eq!(
            store.get_execution(*id).await.unwrap().status,
            ExecutionStatus::Succeeded
        );
    }
}

/// The statuses announced, per execution.
type Seen = std::collections::HashMap<ExecutionId, Vec<ExecutionStatus>>;

/// Waits until `ids` were each announced four times (`seen` holds what was announced
/// already), and checks each went `requested`, `scheduled`, `running`, `succeeded`.
async fn announced_in_order(
    statuses: &mut attune_core::StatusSubscription,
    mut seen: Seen,
    ids: [ExecutionId; 2],
) {
    while ids
        .iter()
        .map(|id| seen.get(id).map_or(0, Vec::len))
        .sum::<usize>()
        < 8
    {
        next_status(statuses, &mut seen).await;
    }
    use ExecutionStatus::*;
    for id in ids {
        assert_eq!(
            seen[&id],
            [Requested, Scheduled, Running, Succeeded],
            "{id}"
        );
    }
}

/// The next status announced (kept in `seen`).
async fn next_status(
    statuses: &mut attune_core::StatusSubscription,
    seen: &mut Seen,
) -> ExecutionStatus {
    let c = tokio::time::timeout(SAFETY, statuses.next())
        .await
        .expect("statuses within the guard")
        .unwrap()
        .expect("open");
    seen.entry(c.execution).or_default().push(c.status);
    c.status
}

// A run whose outcome could not be recorded for a transient reason has it recorded again
// (not left running until its lease expires). Without a policy the execution is created
// `scheduled`, so the first store transition is the outcome's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_not_recorded_for_a_transient_error_is_recorded_again() {
    let store = Arc::new(HookedStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        // Far beyond the test's guard: the lease must not be what ends it.
        .lease(Duration::from_secs(600))
        .build()
        .await
        .unwrap();
    engine
        .register_fn("f.noop", |_c| async move { Ok(json!("done")) })
        .await
        .unwrap();
    store.fail_transitions.store(2, Ordering::SeqCst);
    let id = engine.execute("f.noop", json!({})).await.unwrap();
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    assert_eq!(e.result, Some(json!("done")));
    assert_eq!(e.attempt, 1, "recorded, not run again");
    assert_eq!(
        store.fail_transitions.load(Ordering::SeqCst),
        0,
        "it failed twice"
    );
}

// Work a previous run left in the store is resumed once the host registered its actions: a
// `requested` execution runs, and a `running` one whose worker's lease expired ends
// `abandoned`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_work_is_resumed_at_start() {
    let store = Arc::new(MemoryStore::new());
    let now = chrono::Utc::now();
    store
        .put_definition(Definition::Action(Action::new("r.noop", "native")))
        .await
        .unwrap();
    let waiting = Execution::new("r.noop", "native", json!({}), now);
    store.insert_execution(&waiting).await.unwrap();
    let mut lost = Execution::new("r.noop", "native", json!({}), now);
    lost.status = ExecutionStatus::Running;
    lost.worker = Some("dead-worker".into());
    lost.lease_expires = Some(now - chrono::TimeDelta::seconds(5));
    store.insert_execution(&lost).await.unwrap();

    let engine = Engine::builder().store(store).build().await.unwrap();
    engine
        .register_fn("r.noop", |_c| async move { Ok(json!("ran")) })
        .await
        .unwrap();
    assert_eq!(engine.recover().await.unwrap(), 2);
    let e = engine.wait_timeout(waiting.id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    let e = engine.wait_timeout(lost.id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Abandoned);
    assert!(e.error.unwrap().contains("lease expired"));
}

// Extreme durations are clamped, not a panic in a stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_lease_and_age_do_not_panic() {
    let engine = Engine::builder()
        .lease(Duration::MAX)
        .retention(Retention::max_age(Duration::MAX))
        .build()
        .await
        .unwrap();
    engine
        .register_fn("h.noop", |_c| async move { Ok(Value::Null) })
        .await
        .unwrap();
    let e = engine.run("h.noop", json!({})).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Succeeded);
}

// Retention by count works when every row has the same timestamp (a stopped clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_count_under_a_stopped_clock() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let engine = Engine::builder()
        .clock(clock)
        .retention(Retention::keep_last(10))
        .build()
        .await
        .unwrap();
    engine
        .register_fn("k.noop", |_c| async move { Ok(Value::Null) })
        .await
        .unwrap();
    for _ in 0..3000 {
        engine.execute("k.noop", json!({})).await.unwrap();
    }
    engine.settle(SAFETY).await.unwrap();
    let kept = engine
        .store()
        .count_executions(&Default::default())
        .await
        .unwrap();
    // Purges run every 1,024 finished executions: at most that many pile up between two.
    assert!(kept <= 10 + 1024, "kept {kept}");
}

// Shutdown past its deadline leaves no execution non-terminal (memory store), and waiting
// on one afterwards returns instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_past_the_deadline_leaves_nothing_non_terminal() {
    let engine = Engine::builder().worker_slots(2).build().await.unwrap();
    engine
        .register_trigger_type(TriggerType::new("s.t"))
        .await
        .unwrap();
    engine
        .register_fn("s.slow", |_c| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(Value::Null)
        })
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("s.r", "s.t", "s.slow"))
        .await
        .unwrap();
    for i in 0..3000 {
        engine.emit("s.t", json!({ "i": i })).await.unwrap();
    }
    engine.shutdown(Duration::ZERO).await;
    let all = engine
        .store()
        .list_executions(&ExecutionFilter::default(), &Page::first(10_000))
        .await
        .unwrap();
    let stuck: Vec<_> = all.iter().filter(|e| !e.status.is_terminal()).collect();
    assert!(
        stuck.is_empty(),
        "{} of {} not terminal",
        stuck.len(),
        all.len()
    );
    if let Some(e) = all.first() {
        let waited = tokio::time::timeout(SAFETY, engine.wait(e.id)).await;
        assert!(
            matches!(waited, Ok(Ok(_)) | Ok(Err(Error::ShutDown))),
            "{waited:?}"
        );
    }
    assert!(matches!(
        engine.emit("s.t", json!({})).await,
        Err(Error::ShutDown)
    ));
}

/// An event stored but never matched (its process died after `emit` returned), and an
/// enforcement whose execution was never created: a restart matches the first and completes
/// the second, each exactly once.
#[tokio::test]
async fn resume_matches_stored_events_and_completes_enforcements_exactly_once() {
    resume_case(false).await;
}

/// The same on a store that says it is durable: the matching stage then stores what it can
/// run at once already claimed — but not the execution of an enforcement an earlier attempt
/// left half-done, which is created as usual.
#[tokio::test]
async fn resume_on_a_durable_store_completes_a_half_done_enforcement_unclaimed() {
    resume_case(true).await;
}

async fn resume_case(durable: bool) {
    let store = Arc::new(HookedStore::new());
    store.durable.store(durable, Ordering::SeqCst);
    let engine = Engine::builder()
        .store(store.clone())
        .build()
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("rs.t"))
        .await
        .unwrap();
    engine
        .register_fn(
            "rs.echo",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("rs.r", "rs.t", "rs.echo").param("n", json!("{{ trigger.n }}")))
        .await
        .unwrap();
    // A matched event: marked, never matched again.
    let done = engine.emit("rs.t", json!({"n": 0})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    engine.shutdown(SAFETY).await;

    // What a crash leaves: an event nobody matched, and one with a bare enforcement.
    let lost = Event::new("rs.t", json!({"n": 1}), chrono::Utc::now());
    store.insert_event(&lost).await.unwrap();
    let half = Event::new("rs.t", json!({"n": 2}), chrono::Utc::now());
    store.insert_event(&half).await.unwrap();
    let enf = Enforcement::new("rs.r", half.id, "rs.t", chrono::Utc::now());
    store.insert_enforcement(&enf).await.unwrap();

    let engine = Engine::builder()
        .store(store.clone())
        .build()
        .await
        .unwrap();
    engine
        .register_fn(
            "rs.echo",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    let n = engine.recover().await.unwrap();
    assert_eq!(n, 2, "two events to match again");
    engine.settle(SAFETY).await.unwrap();
    // Twice more: nothing is created again.
    engine.recover().await.unwrap();
    engine.settle(SAFETY).await.unwrap();
    for (event, want) in [(done, 0), (lost.id, 1), (half.id, 2)] {
        let trace = engine.trace_event(event).await.unwrap();
        assert_eq!(trace.enforcements.len(), 1, "{trace:#?}");
        assert_eq!(trace.executions.len(), 1, "{trace:#?}");
        assert_eq!(trace.executions[0].status, ExecutionStatus::Succeeded);
        assert_eq!(trace.executions[0].result, Some(json!({"n": want})));
    }
    assert_eq!(
        trace_enforcement_id(&engine, half.id).await,
        enf.id,
        "the stored enforcement was completed"
    );
    let inserted = store.inserted.lock().unwrap().clone();
    let completed = engine.trace_event(half.id).await.unwrap().executions[0].id;
    // Its last insert is the one that stored it (the enforcement's insert found the
    // enforcement there and stored nothing).
    let stored = inserted
        .iter()
        .rev()
        .find(|(id, _)| *id == completed)
        .unwrap();
    assert_eq!(stored.1, ExecutionStatus::Scheduled, "{inserted:?}");
    if durable {
        // The others were stored claimed, the half-done one not.
        assert!(
            inserted
                .iter()
                .any(|(id, s)| *id != completed && *s == ExecutionStatus::Running),
            "{inserted:?}"
        );
    }
    let unmatched = store
        .list_events(&EventFilter::new().unmatched_only(), &Page::first(10))
        .await
        .unwrap();
    assert!(unmatched.is_empty(), "{unmatched:?}");
}

async fn trace_enforcement_id(engine: &Engine, event: EventId) -> EnforcementId {
    engine.trace_event(event).await.unwrap().enforcements[0].id
}

/// `recover` hands on all stored work, not one sweep's worth: a backlog larger than the
/// periodic sweep's limit (10,000 rows per kind) is resumed whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_hands_on_a_backlog_larger_than_one_sweep() {
    const N: usize = 12_000;
    let store = Arc::new(MemoryStore::new());
    for i in 0..N {
        let x = Execution::new("bl.noop", "native", json!({"i": i}), chrono::Utc::now());
        store.insert_execution(&x).await.unwrap();
    }
    let engine = Engine::builder()
        .store(store.clone())
        .build()
        .await
        .unwrap();
    engine
        .register_fn("bl.noop", |_ctx| async move { Ok(Value::Null) })
        .await
        .unwrap();
    assert_eq!(engine.recover().await.unwrap(), N);
    let done = ExecutionFilter::default().with_status([ExecutionStatus::Succeeded]);
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let n = store.count_executions(&done).await.unwrap();
        if n == N as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} of {N} resumed executions succeeded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `settle` after `recover` waits for the recovered work too: stored `requested` and
/// `scheduled` executions and unmatched events are this engine's pending work once it
/// handed them on, so a host waits for them the way it waits for its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_after_recover_waits_for_the_recovered_work() {
    let store = Arc::new(MemoryStore::new());
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for (i, status) in [ExecutionStatus::Requested, ExecutionStatus::Scheduled]
        .into_iter()
        .cycle()
        .take(200)
        .enumerate()
    {
        let mut x = Execution::new("rs.slow", "native", json!({"i": i}), now);
        x.status = status;
        store.insert_execution(&x).await.unwrap();
        ids.push(x.id);
    }
    let engine = Engine::builder()
        .store(store.clone())
        .worker_slots(4)
        .build()
        .await
        .unwrap();
    engine
        .register_fn("rs.slow", |_ctx| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(Value::Null)
        })
        .await
        .unwrap();
    assert_eq!(engine.recover().await.unwrap(), ids.len());
    engine.settle(SAFETY).await.unwrap();
    for id in ids {
        let e = store.get_execution(id).await.unwrap();
        assert_eq!(e.status, ExecutionStatus::Succeeded, "after settle: {e:#?}");
    }
    engine.shutdown(SAFETY).await;
}
