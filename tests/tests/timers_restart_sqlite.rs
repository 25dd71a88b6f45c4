//! Timers across a restart on SQLite: the fires missed while no engine ran come as one
//! event with `missed: N` (or one each with `catch_up: true`), intervals keep their phase,
//! and a one-shot timer that fired does not fire again. On paused tokio time; the second
//! engine's clock starts 65 s after the first stopped.

use attune_core::Engine;
use attune_core::clock::{Clock, TokioClock};
use attune_core::model::{Event, Rule};
use attune_core::store::{EventFilter, Page, Store};
use attune_store_sqlite::SqliteStore;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

async fn engine(db: &Path, clock: Arc<TokioClock>) -> Engine {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).unwrap());
    Engine::builder()
        .store(store)
        .clock(clock)
        .build()
        .await
        .unwrap()
}

fn timer_rule(name: &str, trigger: &str, params: Value) -> Rule {
    let mut r = Rule::new(format!("t.{name}"), trigger, "core.noop");
    r.trigger_params = params;
    r
}

async fn events(e: &Engine, params: &Value) -> Vec<Event> {
    let mut out = e
        .events(&EventFilter::new(), Page::first(1000))
        .await
        .unwrap();
    out.retain(|ev| ev.trigger_params.as_ref() == Some(params));
    out
}

/// Moves paused time on in small steps until `f` holds (at most `secs` of it).
async fn until(secs: u64, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..secs * 10 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not reached in {secs} s of paused time");
}

fn executed_at(ev: &Event) -> DateTime<Utc> {
    let text = ev.payload["executed_at"].as_str().unwrap();
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z")
        .unwrap()
        .with_timezone(&Utc)
}

// Paused time moves on by itself while the engine waits for SQLite's thread, so the
// expectations are taken from what the first engine stored, not from fixed times.
#[tokio::test(start_paused = true)]
async fn missed_fires_come_as_one_event_or_caught_up_and_intervals_keep_their_phase() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let every = json!({"unit": "seconds", "delta": 10});
    let catch_up = json!({"unit": "seconds", "delta": 10, "catch_up": true});

    let clock = Arc::new(TokioClock::new(t0));
    let e = engine(&db, clock.clone()).await;
    e.register_rule(timer_rule("every", "core.intervaltimer", every.clone()))
        .await
        .unwrap();
    e.register_rule(timer_rule("caught", "core.intervaltimer", catch_up.clone()))
        .await
        .unwrap();
    // Generous budgets: under load, paused time jumps ahead while the engine waits for
    // SQLite's threads, and the timers' leadership may have to be taken again.
    until(120, async || events(&e, &every).await.len() >= 2).await;
    until(120, async || events(&e, &catch_up).await.len() >= 2).await;
    let stopped = clock.now();
    e.shutdown(Duration::from_secs(10)).await;
    drop(e);
    let last = |evs: &[Event]| evs.iter().map(executed_at).max().unwrap();

    // 65 s later: six fires or more were due while no engine ran.
    let clock = Arc::new(TokioClock::new(stopped + chrono::Duration::seconds(65)));
    let e = engine(&db, clock.clone()).await;
    let before = events(&e, &every).await;
    let before_caught = events(&e, &catch_up).await;
    let (l, l_caught) = (last(&before), last(&before_caught));
    until(10, async || {
        events(&e, &every).await.len() == before.len() + 1
    })
    .await;
    let missed = events(&e, &every).await.pop().unwrap();
    let n = missed.payload["missed"].as_u64().expect("a missed count");
    assert!(n >= 5, "{}", missed.payload);
    // Caught up: one event per fire due, at the time it was due, in order.
    until(10, async || {
        events(&e, &catch_up).await.len() == before_caught.len() + n as usize + 1
    })
    .await;
    let caught: Vec<DateTime<Utc>> = events(&e, &catch_up).await[before_caught.len()..]
        .iter()
        .map(executed_at)
        .collect();
    let due: Vec<DateTime<Utc>> = (1..=n as i64 + 1)
        .map(|k| l_caught + chrono::Duration::seconds(10 * k))
        .collect();
    assert_eq!(caught, due);
    // The missed event stands for the last fire due (its trace tag), on the phase.
    let tag = missed.trace_tag.clone().unwrap();
    let due = l + chrono::Duration::seconds(10 * n as i64 + 10);
    assert_eq!(
        tag,
        format!(
            "timer:{}",
            due.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )
    );
    // The phase is kept: the next fire is a multiple of 10 s after the last one stored.
    let count = events(&e, &every).await.len();
    until(30, async || events(&e, &every).await.len() == count + 1).await;
    let next = executed_at(&events(&e, &every).await.pop().unwrap());
    let since = (next - l).num_milliseconds();
    // (Tokio's timers round a deadline up to the next millisecond.)
    assert!(since % 10_000 <= 2, "{since} ms after the last fire");
    e.shutdown(Duration::from_secs(10)).await;

    // A second restart continues from the stored due times, not from when events were
    // emitted.
    let stopped = clock.now();
    let clock = Arc::new(TokioClock::new(stopped + chrono::Duration::seconds(35)));
    let e = engine(&db, clock.clone()).await;
    let before = events(&e, &every).await.len();
    until(10, async || events(&e, &every).await.len() == before + 1).await;
    let again = events(&e, &every).await.pop().unwrap();
    let tag = again.trace_tag.unwrap();
    let due = DateTime::parse_from_rfc3339(tag.strip_prefix("timer:").unwrap()).unwrap();
    assert_eq!(
        (due.with_timezone(&Utc) - l).num_milliseconds() % 10_000,
        0,
        "{tag}"
    );
    e.shutdown(Duration::from_secs(10)).await;
}
