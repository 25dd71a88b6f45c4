//! Native sensors: run only while a rule uses their trigger types, their events reach the
//! rules, what they send that the engine refuses is counted and the sensor kept, a sensor
//! that keeps ending is restarted with backoff and then given up, and the triggers the
//! rules ask for reach the sensor.

use attune_core::Engine;
use attune_core::model::{Rule, Sensor, TriggerType};
use attune_core::sensor::{SensorEvent, SensorState, Supervision, TriggerInstance};
use attune_core::store::{EventFilter, ExecutionFilter, Page};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

async fn engine(supervision: Supervision) -> Engine {
    let e = Engine::builder()
        .sensor_supervision(supervision)
        .build()
        .await
        .unwrap();
    e.register_trigger_type(TriggerType::new("s.tick"))
        .await
        .unwrap();
    e.register_fn("s.act", |ctx| async move { Ok(Value::Object(ctx.params)) })
        .await
        .unwrap();
    e
}

fn rule(name: &str) -> Rule {
    Rule::new(format!("s.{name}"), "s.tick", "s.act").param("n", json!("{{ trigger.n }}"))
}

/// Polls `f` until it holds (paused or real time), at most `secs` of tokio time.
async fn until(secs: u64, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(tokio::time::Instant::now() < end, "not reached in {secs} s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn state(e: &Engine, r: &str) -> SensorState {
    e.sensors()
        .into_iter()
        .find(|s| s.sensor_ref == r)
        .unwrap()
        .state
}

#[tokio::test]
async fn a_sensor_runs_while_a_rule_uses_it_and_its_events_reach_the_rule() {
    let e = engine(Supervision::default()).await;
    let starts = Arc::new(AtomicUsize::new(0));
    let s2 = starts.clone();
    e.register_stream_sensor(
        Sensor::new("s.ticker", "native").trigger_types(["s.tick"]),
        move |_run| {
            s2.fetch_add(1, Ordering::SeqCst);
            // Three events, then it waits for ever (until stopped).
            futures::stream::iter(
                (1..=3).map(|n| {
                    SensorEvent::new("s.tick", json!({"n": n})).trace_tag(format!("tag-{n}"))
                }),
            )
            .chain(futures::stream::pending())
            .boxed()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 0, "no rule uses it yet");
    assert_eq!(state(&e, "s.ticker"), SensorState::Idle);
    assert!(!e.sensors()[0].used_by_rules);

    e.register_rule(rule("r")).await.unwrap();
    assert!(e.sensors()[0].used_by_rules);
    until(10, || e.sensors()[0].events == 3).await;
    e.settle(Duration::from_secs(10)).await.unwrap();
    assert_eq!(state(&e, "s.ticker"), SensorState::Running);
    let events = e
        .events(&EventFilter::new().trigger("s.tick"), Page::first(10))
        .await
        .unwrap();
    let mut tags: Vec<_> = events
        .iter()
        .filter_map(|ev| ev.trace_tag.clone())
        .collect();
    tags.sort();
    assert_eq!(tags, ["tag-1", "tag-2", "tag-3"]);
    assert!(
        events
            .iter()
            .all(|ev| ev.source.as_deref() == Some("sensor:s.ticker"))
    );
    let done = e
        .count_executions(&ExecutionFilter::new().rule("s.r"))
        .await
        .unwrap();
    assert_eq!(done, 3);

    // The last rule goes: the sensor stops.
    e.remove_rule("s.r").await.unwrap();
    until(10, || state(&e, "s.ticker") == SensorState::Idle).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    e.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn events_the_engine_refuses_are_counted_and_the_sensor_kept() {
    let e = engine(Supervision::default()).await;
    e.register_trigger_type(TriggerType::new("s.strict").payload_schema(json!({
        "type": "object", "required": ["id"]
    })))
    .await
    .unwrap();
    e.register_stream_sensor(
        Sensor::new("s.mixed", "native").trigger_types(["s.tick", "s.strict"]),
        |_run| {
            futures::stream::iter([
                SensorEvent::new("s.nope", json!({})),
                SensorEvent::new("s.strict", json!({"no_id": 1})),
                SensorEvent::new("s.tick", json!({"n": 1})),
            ])
            .chain(futures::stream::pending())
            .boxed()
        },
    )
    .await
    .unwrap();
    e.register_rule(rule("r")).await.unwrap();
    until(10, || e.sensors()[0].events == 1).await;
    let st = &e.sensors()[0];
    assert_eq!(st.rejected, 2);
    assert_eq!(st.state, SensorState::Running);
    assert_eq!(st.starts, 1);
    e.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_sensor_that_keeps_ending_is_restarted_with_backoff_then_given_up() {
    let e = engine(Supervision {
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(4),
        fast: Duration::from_secs(30),
        give_up_after: 4,
        grace: Duration::from_secs(1),
    })
    .await;
    let starts = Arc::new(AtomicUsize::new(0));
    let s2 = starts.clone();
    e.register_stream_sensor(
        Sensor::new("s.flaky", "native").trigger_types(["s.tick"]),
        move |_run| {
            s2.fetch_add(1, Ordering::SeqCst);
            futures::stream::empty().boxed()
        },
    )
    .await
    .unwrap();
    e.register_rule(rule("r")).await.unwrap();
    until(1, || starts.load(Ordering::SeqCst) == 1).await;
    // Backoffs of 1, 2 and 4 s: the second start comes after 1 s, not before.
    until(1, || {
        matches!(state(&e, "s.flaky"), SensorState::Backoff { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    until(60, || state(&e, "s.flaky") == SensorState::GaveUp).await;
    assert_eq!(starts.load(Ordering::SeqCst), 4);
    let st = &e.sensors()[0];
    assert_eq!(st.starts, 4);
    assert_eq!(st.last_end.as_deref(), Some("ended by itself"));
    // Given up: not started again, however long we wait...
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 4);
    // ...until the rules using it change.
    let mut r2 = rule("r2");
    r2.trigger_params = json!({"x": 1});
    e.register_rule(r2).await.unwrap();
    until(5, || starts.load(Ordering::SeqCst) == 5).await;
    e.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_sensor_sees_the_triggers_its_rules_ask_for() {
    let e = engine(Supervision::default()).await;
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Vec<TriggerInstance>>();
    e.register_stream_sensor(
        Sensor::new("s.watcher", "native").trigger_types(["s.tick"]),
        move |run| {
            // Sends the triggers it serves at start and at every change; emits nothing.
            let tx = tx.clone();
            futures::stream::unfold(run.triggers.clone(), move |mut triggers| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(triggers.borrow_and_update().to_vec());
                    if triggers.changed().await.is_err() {
                        futures::future::pending::<()>().await;
                    }
                    Some((None::<SensorEvent>, triggers))
                }
            })
            .filter_map(futures::future::ready)
            .boxed()
        },
    )
    .await
    .unwrap();
    let mut a = rule("a");
    a.trigger_params = json!({"url": "/a"});
    e.register_rule(a).await.unwrap();
    let first = seen.recv().await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].parameters, json!({"url": "/a"}));
    assert_eq!(first[0].to_json()["type"], "s.tick");
    assert_eq!(first[0].to_json()["pack"], "s");
    let mut b = rule("b");
    b.trigger_params = json!({"url": "/b"});
    e.register_rule(b).await.unwrap();
    let second = seen.recv().await.unwrap();
    let urls: Vec<_> = second.iter().map(|t| t.parameters["url"].clone()).collect();
    assert_eq!(urls, [json!("/a"), json!("/b")]);
    e.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn bad_sensor_definitions_are_refused_naming_what() {
    let e = engine(Supervision::default()).await;
    let err = e
        .register_sensor(Sensor::new("s.x", "native").trigger_types(["s.missing"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trigger type 's.missing' does not exist"),
        "{err}"
    );
    let err = e
        .register_sensor(Sensor::new("s.x", "native"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("emits no trigger type"), "{err}");
    let err = e
        .register_sensor(Sensor::new("s.x", "native").trigger_types(["s.tick"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no stream is registered"), "{err}");
    // A runner without a runtime registers and says so.
    e.register_sensor(Sensor::new("s.py", "python").trigger_types(["s.tick"]))
        .await
        .unwrap();
    e.register_rule(rule("r")).await.unwrap();
    until(5, || state(&e, "s.py") == SensorState::NoRuntime).await;
    e.shutdown(Duration::from_secs(5)).await;
}
