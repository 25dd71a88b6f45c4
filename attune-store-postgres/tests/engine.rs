//! The whole pipeline (event → rule → enforcement → execution → native action) on
//! PostgreSQL: one engine on a `PgStore` with a `PgTransport`, then two engines sharing one
//! schema as two processes would, competing for the work. Skipped, saying why, when the
//! server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::model::{ExecutionStatus, Rule, TriggerType};
use attune_core::store::{EnforcementFilter, ExecutionFilter, Page, Store, StoreExt};
use attune_core::{Engine, Result};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgStore, PgTransport};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An engine on `store` (with a transport of its own on it) that runs `pg.count` for each
/// `pg.tick` event, counting its runs in `runs`.
async fn engine(store: &PgStore, worker: &str, runs: Arc<AtomicU64>) -> Result<Engine> {
    let transport = PgTransport::open(store).await?;
    let engine = Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(transport))
        .worker_id(worker)
        .build()
        .await?;
    engine
        .register_trigger_type(TriggerType::new("pg.tick"))
        .await?;
    engine
        .register_fn("pg.count", move |ctx| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(json!({"i": ctx.param("i").cloned()}))
            }
        })
        .await?;
    engine
        .register_rule(
            Rule::new("pg.on_tick", "pg.tick", "pg.count").param("i", json!("{{ trigger.i }}")),
        )
        .await?;
    Ok(engine)
}

/// Every event has one enforcement and one execution, succeeded, with its `i`.
async fn check_all_done(store: &dyn Store, events: &HashMap<attune_core::model::EventId, u64>) {
    let mut xs = Vec::new();
    store
        .each_execution(&ExecutionFilter::new(), &mut |x| xs.push(x.clone()))
        .await
        .expect("list executions");
    assert_eq!(xs.len(), events.len(), "one execution per event");
    for x in &xs {
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:?}");
        let event = x.event.expect("an execution of a rule names its event");
        let i = events[&event];
        assert_eq!(
            x.result,
            Some(json!({"i": i})),
            "execution {} of event {event}",
            x.id
        );
    }
    let enforcements = store
        .count_enforcements(&EnforcementFilter::new())
        .await
        .expect("count enforcements");
    assert_eq!(
        enforcements,
        events.len() as u64,
        "one enforcement per event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_runs_the_pipeline_on_postgres() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let runs = Arc::new(AtomicU64::new(0));
    let engine = engine(pg.store(), "solo", runs.clone())
        .await
        .expect("engine");
    let mut events = HashMap::new();
    for i in 0..300u64 {
        let id = engine.emit("pg.tick", json!({"i": i})).await.expect("emit");
        events.insert(id, i);
    }
    engine
        .settle(Duration::from_secs(60))
        .await
        .expect("settle");
    check_all_done(pg.store(), &events).await;
    assert_eq!(runs.load(Ordering::SeqCst), 300, "each action ran once");
    assert!(engine.shutdown(Duration::from_secs(5)).await, "drained");
}

/// Two engines on one schema, each with its own connections, as two processes would have.
struct Pair {
    a: Engine,
    b: Engine,
    runs_a: Arc<AtomicU64>,
    runs_b: Arc<AtomicU64>,
}

async fn pair(pg: &TestSchema) -> Pair {
    let peer = pg.peer().await;
    let (runs_a, runs_b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let a = engine(pg.store(), "a", runs_a.clone())
        .await
        .expect("engine a");
    let b = engine(&peer, "b", runs_b.clone()).await.expect("engine b");
    Pair {
        a,
        b,
        runs_a,
        runs_b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_the_work_once_each() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let Pair {
        a,
        b,
        runs_a,
        runs_b,
    } = pair(&pg).await;
    let mut events = HashMap::new();
    for i in 0..400u64 {
        let from = if i % 2 == 0 { &a } else { &b };
        let id = from.emit("pg.tick", json!({"i": i})).await.expect("emit");
        events.insert(id, i);
    }
    // Each engine waits for what it accepted, whichever engine took it.
    a.settle(Duration::from_secs(60)).await.expect("settle a");
    b.settle(Duration::from_secs(60)).await.expect("settle b");
    check_all_done(pg.store(), &events).await;
    let (ran_a, ran_b) = (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst));
    assert_eq!(
        ran_a + ran_b,
        400,
        "each action ran once ({ran_a} in a, {ran_b} in b)"
    );
    let page = pg
        .list_executions(
            &ExecutionFilter::new().status(ExecutionStatus::Running),
            &Page::first(10),
        )
        .await
        .expect("list");
    assert!(page.is_empty(), "nothing left running: {page:?}");
    assert!(a.shutdown(Duration::from_secs(5)).await, "a drained");
    assert!(b.shutdown(Duration::from_secs(5)).await, "b drained");
}

/// A workflow of 12 items, three at a time, run through one engine while another shares
/// the work: tasks run and end in either engine, and the run (driven by the engine that
/// runs the workflow) learns of every end and succeeds with every item's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_learns_of_tasks_ended_in_another_engine() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let Pair {
        a,
        b,
        runs_a,
        runs_b,
    } = pair(&pg).await;
    let wf = attune_core::workflow::parse(
        r#"
input: [xs]
tasks:
  each:
    with:
      items: x in {{ ctx('xs') }}
      concurrency: 3
    action: pg.count i={{ item('x') }}
output:
  - got: '{{ task("each").result.items | map(attribute="result") | list }}'
"#,
        "items.yaml",
    )
    .expect("parse");
    a.register_workflow("pg.items", wf.clone())
        .await
        .expect("register in a");
    b.register_workflow("pg.items", wf)
        .await
        .expect("register in b");
    let xs: Vec<u64> = (0..12).collect();
    let id = a
        .execute("pg.items", json!({ "xs": xs }))
        .await
        .expect("execute");
    a.settle(Duration::from_secs(60))
        .await
        .expect("the workflow ends");
    let x = pg.get_execution(id).await.expect("get");
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:?}");
    let got: Vec<u64> = (0..12).collect();
    let want: Vec<serde_json::Value> = got.iter().map(|i| json!({"i": i})).collect();
    assert_eq!(
        x.result.as_ref().map(|r| r["output"]["got"].clone()),
        Some(json!(want)),
        "{x:?}"
    );
    let (ran_a, ran_b) = (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst));
    assert_eq!(
        ran_a + ran_b,
        12,
        "each item ran once ({ran_a} in a, {ran_b} in b)"
    );
    assert!(a.shutdown(Duration::from_secs(5)).await);
    assert!(b.shutdown(Duration::from_secs(5)).await);
}
