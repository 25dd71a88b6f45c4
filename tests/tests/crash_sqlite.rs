//! SIGKILL at a random moment, restart on the same SQLite file, and check: every event
//! whose `emit` returned Ok is there, with exactly one enforcement for the rule, every
//! execution ends, and no action ran twice for one (rule, event).
//!
//! The test binary runs itself as the child (`crash_child_entry` with `ATTUNE_CRASH_DB`
//! set). The seed is printed; `ATTUNE_CRASH_SEED=<n>` replays a run.

use attune_core::model::{EnforcementStatus, EventId, ExecutionStatus, Rule, TriggerType};
use attune_core::store::{EnforcementFilter, ExecutionFilter, Page, StoreExt};
use attune_core::{Engine, Result};
use attune_store_sqlite::SqliteStore;
use attune_tests::{Rng, append_line, lines, seed, spawn_child};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ROUNDS: u32 = 20;
const LEASE: Duration = Duration::from_millis(800);

/// An engine on `db` with the test's trigger, action and rule; the action appends the event
/// it ran for to `ran` (O_APPEND: one line per run, whole even if the process dies).
async fn engine(db: &Path, ran: PathBuf) -> Result<Engine> {
    let store = SqliteStore::open(db)?;
    let engine = Engine::builder()
        .store(Arc::new(store))
        .lease(LEASE)
        .build()
        .await?;
    engine
        .register_trigger_type(TriggerType::new("crash.tick"))
        .await?;
    engine
        .register_fn("crash.record", move |ctx| {
            let ran = ran.clone();
            async move {
                let event = ctx.param("event").cloned().unwrap_or(Value::Null);
                append_line(&ran, event.as_str().unwrap_or_default())
                    .map_err(|e| attune_core::Error::Action(format!("ran file: {e}")))?;
                Ok(json!({"recorded": event}))
            }
        })
        .await?;
    engine
        .register_rule(
            Rule::new("crash.on_tick", "crash.tick", "crash.record")
                .param("event", json!("{{ event.id }}")),
        )
        .await?;
    Ok(engine)
}

/// The child: emits events as fast as it can, appending each acknowledged id to the ack
/// file, until it is killed. A no-op in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_entry() {
    let Ok(db) = std::env::var("ATTUNE_CRASH_DB") else {
        return;
    };
    let dir = Path::new(&db).parent().unwrap().to_path_buf();
    let engine = engine(Path::new(&db), dir.join("ran"))
        .await
        .expect("child engine");
    engine.recover().await.expect("recover");
    let mut acks = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("acked"))
        .unwrap();
    let mut i: u64 = 0;
    loop {
        let id = engine
            .emit("crash.tick", json!({"i": i}))
            .await
            .expect("emit");
        acks.write_all(format!("{id}\n").as_bytes()).unwrap();
        i += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event_and_runs_nothing_twice() {
    let seed = seed("ATTUNE_CRASH_SEED");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let mut checked = 0;
    for round in 0..ROUNDS {
        let started = std::time::Instant::now();
        let mut child = spawn_child("crash_child_entry", "ATTUNE_CRASH_DB", &db);
        let wait_ms = 80 + rng.next_u64() % 600;
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Restart on the same file and let everything finish (leases of runs the kill cut
        // must expire first: they end `abandoned`).
        let ran = dir.path().join("ran");
        let engine = engine(&db, ran.clone())
            .await
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: reopening failed: {e}"));
        engine.recover().await.unwrap();
        engine.settle(Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
        engine.recover().await.unwrap();
        engine.settle(Duration::from_secs(60)).await.unwrap();

        let acked = lines(&dir.path().join("acked"));
        let ctx = format!(
            "seed {seed} round {round} (killed after {wait_ms} ms, {} acked)",
            acked.len()
        );
        // Events of earlier rounds were checked then (and nothing deletes them).
        for id in &acked[checked..] {
            let id: EventId = EventId(
                id.parse()
                    .unwrap_or_else(|e| panic!("{ctx}: bad ack line {id}: {e}")),
            );
            engine
                .store()
                .get_event(id)
                .await
                .unwrap_or_else(|e| panic!("{ctx}: acknowledged event {id} lost: {e}"));
            let enfs = engine
                .store()
                .list_enforcements(&EnforcementFilter::new().event(id), &Page::first(10))
                .await
                .unwrap();
            assert_eq!(
                enfs.len(),
                1,
                "{ctx}: event {id} has {} enforcements",
                enfs.len()
            );
            assert_eq!(
                enfs[0].status,
                EnforcementStatus::Processed,
                "{ctx}: {:?}",
                enfs[0]
            );
        }
        // Every execution ended; one per enforcement.
        let mut per_enforcement: HashMap<String, u32> = HashMap::new();
        engine
            .store()
            .each_execution(&ExecutionFilter::default(), &mut |e| {
                assert!(
                    e.status.is_terminal(),
                    "{ctx}: execution {} is {:?}",
                    e.id,
                    e.status
                );
                assert!(
                    matches!(
                        e.status,
                        ExecutionStatus::Succeeded | ExecutionStatus::Abandoned
                    ),
                    "{ctx}: execution {} ended {:?}: {:?}",
                    e.id,
                    e.status,
                    e.error
                );
                *per_enforcement
                    .entry(format!("{:?}", e.enforcement))
                    .or_default() += 1;
            })
            .await
            .unwrap();
        assert!(
            per_enforcement.values().all(|n| *n == 1),
            "{ctx}: an enforcement has several executions"
        );
        // No action ran twice for one event.
        let mut runs: HashMap<String, u32> = HashMap::new();
        for l in lines(&ran) {
            *runs.entry(l).or_default() += 1;
        }
        if let Some((event, n)) = runs.iter().find(|(_, n)| **n > 1) {
            panic!("{ctx}: the action ran {n} times for event {event}");
        }
        eprintln!("{ctx}: ok ({:?})", started.elapsed());
        checked = acked.len();
        engine.shutdown(Duration::from_secs(10)).await;
        drop(engine);
    }
}
