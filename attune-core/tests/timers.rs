//! Timers fire on the engine's clock: rules with the same timer share it, its events reach
//! only those rules, fires slept through come as one event with `missed`, a one-shot timer
//! fires once, and a removed rule's timer stops. Runs on paused tokio time.

use attune_core::Engine;
use attune_core::clock::TokioClock;
use attune_core::model::{Event, ExecutionStatus, Rule};
use attune_core::store::{EventFilter, ExecutionFilter, Page};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

async fn engine() -> Engine {
    let clock = TokioClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let e = Engine::builder()
        .clock(Arc::new(clock))
        .build()
        .await
        .unwrap();
    e.register_fn("t.tick", |ctx| async move { Ok(Value::Object(ctx.params)) })
        .await
        .unwrap();
    e
}

fn timer_rule(name: &str, trigger: &str, params: Value) -> Rule {
    let mut r = Rule::new(format!("t.{name}"), trigger, "t.tick")
        .param("who", json!(name))
        .param("at", json!("{{ trigger.executed_at }}"));
    r.trigger_params = params;
    r
}

/// Lets the engine's tasks see what changed (rules), moves paused time forward, and lets
/// the engine handle what that caused.
async fn advance(e: &Engine, secs: u64) {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(Duration::from_secs(secs)).await;
    // Tokio's timers round their deadline up to the next millisecond.
    tokio::time::sleep(Duration::from_millis(1)).await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    e.settle(Duration::from_secs(5)).await.unwrap();
}

async fn events(e: &Engine, trigger: &str) -> Vec<Event> {
    e.events(&EventFilter::new().trigger(trigger), Page::first(100))
        .await
        .unwrap()
}

async fn runs_of(e: &Engine, rule: &str) -> usize {
    e.count_executions(&ExecutionFilter::new().rule(rule))
        .await
        .unwrap() as usize
}

#[tokio::test(start_paused = true)]
async fn timers_fire_on_the_clock_shared_by_their_rules() {
    let e = engine().await;
    let every_10 = json!({"unit": "seconds", "delta": 10});
    e.register_rule(timer_rule("a", "core.st2.IntervalTimer", every_10.clone()))
        .await
        .unwrap();
    // The same parameters, written in another order: the same timer.
    e.register_rule(timer_rule(
        "b",
        "core.intervaltimer",
        json!({"delta": 10, "unit": "seconds"}),
    ))
    .await
    .unwrap();
    e.register_rule(timer_rule(
        "once",
        "core.st2.DateTimer",
        json!({"date": "2026-01-01T00:00:15Z"}),
    ))
    .await
    .unwrap();

    advance(&e, 10).await;
    let fired = events(&e, "core.intervaltimer").await;
    assert_eq!(fired.len(), 1, "one timer for both rules: {fired:#?}");
    let at = fired[0].payload["executed_at"].as_str().unwrap();
    assert!(
        at.starts_with("2026-01-01 00:00:10.00") && at.ends_with("+00:00"),
        "{at}"
    );
    assert_eq!(
        fired[0].payload["schedule"], every_10,
        "the timer's parameters"
    );
    assert_eq!(fired[0].source.as_deref(), Some("timer"));
    assert_eq!((runs_of(&e, "t.a").await, runs_of(&e, "t.b").await), (1, 1));
    assert_eq!(runs_of(&e, "t.once").await, 0);

    advance(&e, 10).await;
    assert_eq!(events(&e, "core.intervaltimer").await.len(), 2);
    assert_eq!(events(&e, "core.datetimetimer").await.len(), 1);
    assert_eq!(runs_of(&e, "t.once").await, 1, "the one-shot timer fired");
    let x = e
        .executions(&ExecutionFilter::new().rule("t.once"), Page::first(1))
        .await
        .unwrap();
    assert_eq!(x[0].status, ExecutionStatus::Succeeded);
    let at = x[0].result.as_ref().unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(at.starts_with("2026-01-01 00:00:20.00"), "{at}");

    // Slept through 30, 40, 50 and 60 (woken at 65): one event, saying so.
    advance(&e, 45).await;
    let fired = events(&e, "core.intervaltimer").await;
    assert_eq!(fired.len(), 3, "{fired:#?}");
    assert_eq!(fired[2].payload["missed"], json!(3));
    assert_eq!(
        runs_of(&e, "t.once").await,
        1,
        "a one-shot timer fires once"
    );

    // A removed rule's timer goes on for the rule that shares it; removing both stops it.
    e.remove_rule("t.a").await.unwrap();
    advance(&e, 5).await;
    assert_eq!(runs_of(&e, "t.b").await, 4);
    assert_eq!(runs_of(&e, "t.a").await, 3);
    e.remove_rule("t.b").await.unwrap();
    advance(&e, 60).await;
    assert_eq!(events(&e, "core.intervaltimer").await.len(), 4);
    e.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_timer_event_reaches_only_the_rules_of_its_timer() {
    let e = engine().await;
    e.register_rule(timer_rule(
        "fast",
        "core.intervaltimer",
        json!({"delta": 5}),
    ))
    .await
    .unwrap();
    e.register_rule(timer_rule(
        "slow",
        "core.intervaltimer",
        json!({"delta": 60}),
    ))
    .await
    .unwrap();
    e.register_rule(timer_rule(
        "cron",
        "core.st2.CronTimer",
        json!({"second": "*/20"}),
    ))
    .await
    .unwrap();
    for _ in 0..4 {
        advance(&e, 5).await;
    }
    assert_eq!(runs_of(&e, "t.fast").await, 4);
    assert_eq!(runs_of(&e, "t.slow").await, 0);
    assert_eq!(runs_of(&e, "t.cron").await, 1, "at 00:00:20");
    // An event emitted by hand has no timer parameters: every rule of the type matches.
    e.emit(
        "core.intervaltimer",
        json!({"executed_at": "x", "schedule": {}}),
    )
    .await
    .unwrap();
    e.settle(Duration::from_secs(5)).await.unwrap();
    assert_eq!(runs_of(&e, "t.slow").await, 1);
    e.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_rule_with_a_bad_timer_is_refused_naming_the_parameter() {
    let e = engine().await;
    for (trigger, params, want) in [
        (
            "core.intervaltimer",
            json!({"delta": 0}),
            "/delta: 0 is less than the minimum of 1",
        ),
        (
            "core.intervaltimer",
            json!({"unit": "hours"}),
            "parameter 'delta'",
        ),
        (
            "core.st2.CronTimer",
            json!({"expression": "nope"}),
            "parameter 'expression'",
        ),
        (
            "core.crontimer",
            json!({"timezone": "Nowhere", "hour": 1}),
            "parameter 'timezone'",
        ),
        ("core.datetimetimer", json!({}), "parameter 'date'"),
    ] {
        let err = e
            .register_rule(timer_rule("bad", trigger, params.clone()))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{trigger} {params}: {err}");
    }
    e.shutdown(Duration::from_secs(1)).await;
}
