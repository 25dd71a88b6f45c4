//! Definitions changed by one engine are followed by another on the same schema, as by
//! another process: a rule and an action registered, changed and removed elsewhere apply to
//! the events this engine matches and the executions it runs. Skipped, saying why, when the
//! server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::model::{ExecutionStatus, Rule, TriggerType};
use attune_core::store::{EnforcementFilter, EventFilter, ExecutionFilter, Store, StoreExt};
use attune_core::{Engine, Result};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgStore, PgTransport};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

async fn engine(store: &PgStore, worker: &str) -> Result<Engine> {
    Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(PgTransport::open(store).await?))
        .worker_id(worker)
        .build()
        .await
}

/// The rule `pg.on_tick` rendering `v` as `<word> <i>`.
fn rule(word: &str) -> Rule {
    Rule::new("pg.on_tick", "pg.tick", "pg.echo")
        .param("v", json!(format!("{word} {{{{ trigger.i }}}}")))
}

/// Emits `n` events from `engine`, waits for them, and returns the results of the
/// executions they caused, by event.
async fn emit_and_settle(engine: &Engine, n: u64) -> Vec<attune_core::model::EventId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(engine.emit("pg.tick", json!({"i": i})).await.expect("emit"));
    }
    engine
        .settle(Duration::from_secs(60))
        .await
        .expect("settle");
    ids
}

async fn results_by_event(store: &dyn Store) -> HashMap<attune_core::model::EventId, Value> {
    let mut out = HashMap::new();
    store
        .each_execution(&ExecutionFilter::new(), &mut |x| {
            assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:?}");
            out.insert(
                x.event.expect("an execution of a rule names its event"),
                x.result.clone().unwrap_or_default(),
            );
        })
        .await
        .expect("list executions");
    out
}

/// Engine `b` is built before anything but the trigger type exists and never registers the
/// rule or the action (it has the action's handler only, as a process of the same program
/// would). Other engines register, change and remove them, and stop; `b`, alone, follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_registered_elsewhere_are_followed() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let b = engine(&pg.peer().await, "b").await.expect("engine b");
    b.register_trigger_type(TriggerType::new("pg.tick"))
        .await
        .expect("trigger type");
    b.register_handler("pg.echo", |ctx| async move {
        Ok(json!({"v": ctx.param("v").cloned()}))
    });

    // Another process registers the action and the rule, then goes away.
    let a = engine(pg.store(), "a").await.expect("engine a");
    a.register_fn("pg.echo", |ctx| async move {
        Ok(json!({"v": ctx.param("v").cloned()}))
    })
    .await
    .expect("action");
    a.register_rule(rule("one")).await.expect("rule");
    assert!(a.shutdown(Duration::from_secs(5)).await);

    let first = emit_and_settle(&b, 20).await;
    let results = results_by_event(pg.store()).await;
    for (i, id) in first.iter().enumerate() {
        assert_eq!(
            results.get(id),
            Some(&json!({"v": format!("one {i}")})),
            "event {i} was matched with the rule registered elsewhere"
        );
    }

    // Changed elsewhere: the new params apply.
    let c = engine(&pg.peer().await, "c").await.expect("engine c");
    c.register_rule(rule("two")).await.expect("changed rule");
    assert!(c.shutdown(Duration::from_secs(5)).await);
    let second = emit_and_settle(&b, 10).await;
    let results = results_by_event(pg.store()).await;
    for (i, id) in second.iter().enumerate() {
        assert_eq!(
            results.get(id),
            Some(&json!({"v": format!("two {i}")})),
            "event {i} was matched with the rule as changed elsewhere"
        );
    }

    // Removed elsewhere: new events are matched to nothing.
    let d = engine(&pg.peer().await, "d").await.expect("engine d");
    assert!(d.remove_rule("pg.on_tick").await.expect("remove"));
    assert!(d.shutdown(Duration::from_secs(5)).await);
    let third = emit_and_settle(&b, 5).await;
    let enforcements = pg
        .count_enforcements(&EnforcementFilter::new())
        .await
        .expect("count");
    assert_eq!(
        enforcements, 30,
        "no enforcement after the rule was removed"
    );
    assert_eq!(third.len(), 5);
    let unmatched = pg
        .count_events(&EventFilter::new().unmatched_only())
        .await
        .expect("count");
    assert_eq!(
        unmatched, 0,
        "every event was matched (the last ones to no rule)"
    );
    assert!(b.shutdown(Duration::from_secs(5)).await);
}
