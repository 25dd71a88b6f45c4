//! Retention soak: an engine on a SQLite file with `Retention::keep_last(KEEP)` takes a
//! stream of events many times `KEEP`. The purges run while events flow (in bounded
//! batches, between the other changes), freed pages are reused or given back (incremental
//! vacuum), and the file levels off instead of growing with the history.

use attune_core::model::{Rule, TriggerType};
use attune_core::store::{EventFilter, ExecutionFilter, Page};
use attune_core::{Engine, Retention};
use attune_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const KEEP: u64 = 2_000;
const ROUNDS: usize = 10;
const PER_ROUND: u64 = 2_000;
/// Concurrent producers.
const EMITTERS: u64 = 32;

/// `(page_count, freelist_count)` of the file as a new reader sees it (WAL included).
fn pages(path: &Path) -> (i64, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open a reader");
    let get = |p: &str| {
        conn.pragma_query_value(None, p, |r| r.get::<_, i64>(0))
            .expect(p)
    };
    (get("page_count"), get("freelist_count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_levels_off_while_events_keep_flowing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soak.db");
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let engine = Arc::new(
        Engine::builder()
            .store(store.clone())
            .retention(Retention::keep_last(KEEP))
            .build()
            .await
            .expect("engine"),
    );
    engine
        .register_trigger_type(TriggerType::new("soak.tick"))
        .await
        .expect("trigger type");
    engine
        .register_fn(
            "soak.echo",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .expect("action");
    engine
        .register_rule(
            Rule::new("soak.on_tick", "soak.tick", "soak.echo")
                .param("n", json!("{{ trigger.n }}"))
                .param(
                    "note",
                    json!("a payload of a realistic size, some text to store"),
                ),
        )
        .await
        .expect("rule");

    let mut sizes = Vec::new();
    for round in 0..ROUNDS as u64 {
        let producers: Vec<_> = (0..EMITTERS)
            .map(|p| {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let mut i = p;
                    while i < PER_ROUND {
                        let n = round * PER_ROUND + i;
                        engine
                            .emit("soak.tick", json!({"n": n, "host": "db-01"}))
                            .await
                            .expect("emit");
                        i += EMITTERS;
                    }
                })
            })
            .collect();
        for p in producers {
            p.await.expect("producer");
        }
        engine
            .settle(Duration::from_secs(120))
            .await
            .expect("settle");
        sizes.push(pages(&path));
    }
    let emitted = ROUNDS as u64 * PER_ROUND;
    let kept = engine
        .store()
        .count_executions(&ExecutionFilter::default())
        .await
        .expect("count");
    // Purges run every 1,024 finished executions: between two, up to that many more wait;
    // and an execution still under way at the last purge is kept even when older than its
    // cutoff (one stage batch of them, 512 by default).
    assert!(
        (KEEP..=KEEP + 1_024 + 512).contains(&kept),
        "{kept} executions kept of {emitted}, with keep_last({KEEP})"
    );
    let events = engine
        .store()
        .list_events(&EventFilter::default(), &Page::first(1_000_000))
        .await
        .expect("events")
        .len() as u64;
    // An event goes with the last of its executions (here one each): every kept execution
    // keeps its event, and the events of purged executions went with them, so the events
    // kept are bounded as the executions are (an execution under way at the last purge
    // keeps its event as well).
    assert!(
        events >= kept,
        "{events} events kept for {kept} executions: a kept execution lost its event"
    );
    assert!(
        events <= KEEP + 1_024 + 512,
        "{events} events kept of {emitted} ({kept} executions): events of purged executions \
         must go too"
    );
    // The history grew tenfold; the file did not. Used pages (what the kept rows take)
    // stay near their size once the kept window filled up and was purged (round 2): the
    // window swings by up to one purge interval. The file is those plus the free pages
    // retention keeps for reuse (up to 1,024; beyond, it gives them back). Without
    // retention, each round adds ~440 pages for good.
    let used = |(pages, free): (i64, i64)| pages - free;
    let plateau = used(sizes[2]).max(used(sizes[1]));
    for (round, size) in sizes.iter().enumerate().skip(3) {
        assert!(
            used(*size) <= plateau + plateau / 2,
            "round {round}: {} used pages, more than 150 % of the {plateau} of rounds 1-2; \
             all rounds (pages, free): {sizes:?}",
            used(*size)
        );
        assert!(
            size.0 <= plateau + plateau / 2 + 1024,
            "round {round}: the file has {} pages; all rounds (pages, free): {sizes:?}",
            size.0
        );
    }
    // What is kept is the newest: old executions went first.
    let kept_rows = engine
        .store()
        .list_executions(&ExecutionFilter::default(), &Page::first(1_000_000))
        .await
        .expect("list");
    let n_of = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let oldest_n = kept_rows
        .iter()
        .filter_map(|x| x.params.get("n").and_then(n_of))
        .min()
        .expect("kept executions carry n");
    assert!(
        oldest_n >= emitted - 2 * (KEEP + 1_024),
        "an execution of event {oldest_n} of {emitted} is still kept"
    );
    engine.shutdown(Duration::from_secs(10)).await;
}
