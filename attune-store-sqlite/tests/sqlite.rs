//! What the conformance suite does not cover: the file itself (reopening, versions,
//! shrinking), group commit under concurrency, and readers beside the writer.

use attune_core::Error;
use attune_core::model::{
    Action, Definition, DefinitionKind, Enforcement, EnforcementStatus, Event, Execution,
    ExecutionStatus, Key, KeyScope, Pack, Rule,
};
use attune_core::store::{
    Claim, EnforcementFilter, EnforcementUpdate, EventFilter, ExecutionChange, ExecutionFilter,
    Page, PurgeRequest, Store,
};
use attune_store_sqlite::{SqliteStore, Synchronous};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whole milliseconds, like every timestamp the engine writes.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("attune.db")
}

async fn all_events(store: &dyn Store) -> Vec<Event> {
    store
        .list_events(&EventFilter::default(), &Page::first(1_000_000))
        .await
        .expect("list_events")
}

async fn all_executions(store: &dyn Store) -> Vec<Execution> {
    store
        .list_executions(&ExecutionFilter::default(), &Page::first(1_000_000))
        .await
        .expect("list_executions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_a_file_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let t = now();

    let store = SqliteStore::open(&path).expect("open");
    assert!(store.capabilities().durable, "a file store is durable");
    assert!(!store.capabilities().shared, "one process only");
    assert!(
        !store.capabilities().never_transient,
        "a busy database fails a call for a while: the engine keeps what it writes to try again"
    );
    assert_eq!(store.path(), path.as_path());
    let defs: Vec<Definition> = vec![
        Pack::new("demo").with_config(json!({"x": 1})).into(),
        Action::new("demo.act", "native").into(),
        Rule::new("demo.rule", "demo.trigger", "demo.act").into(),
    ];
    store
        .replace_pack("demo", defs.clone())
        .await
        .expect("replace_pack");
    let matched = Event::new("demo.trigger", json!({"n": 1, "f": 2.5}), t);
    let unmatched = Event::new("demo.trigger", json!({"n": 2}), t);
    store.insert_event(&matched).await.expect("insert_event");
    store.insert_event(&unmatched).await.expect("insert_event");
    let enf = Enforcement::new("demo.rule", matched.id, "demo.trigger", t);
    store
        .insert_enforcement(&enf)
        .await
        .expect("insert_enforcement");
    let mut x = Execution::new("demo.act", "native", json!({"p": "v"}), t);
    x.enforcement = Some(enf.id);
    x.event = Some(matched.id);
    x.rule = Some("demo.rule".into());
    store.insert_execution(&x).await.expect("insert_execution");
    let enf = store
        .update_enforcement(
            enf.id,
            EnforcementStatus::Created,
            EnforcementUpdate::processed(x.id, t),
        )
        .await
        .expect("update_enforcement");
    store
        .mark_events_matched(&[matched.id])
        .await
        .expect("mark_events_matched");
    store
        .transition_execution(
            x.id,
            ExecutionStatus::Requested,
            ExecutionChange::to(ExecutionStatus::Scheduled, t),
        )
        .await
        .expect("schedule");
    let claim = Claim {
        worker: "w1".into(),
        now: t,
        lease_until: t + TimeDelta::seconds(30),
    };
    let running = store
        .claim_execution(x.id, &claim)
        .await
        .expect("claim")
        .expect("claimable");
    let mut key = Key::new(KeyScope::Pack("demo".into()), "k", json!({"v": [1, 2]}), t);
    key.expires = Some(t + TimeDelta::hours(1));
    store.put_key(&key).await.expect("put_key");
    drop(store);

    let store = SqliteStore::open(&path).expect("reopen");
    for d in &defs {
        let got = store
            .get_definition(d.kind(), d.def_ref())
            .await
            .expect("get_definition");
        assert_eq!(
            got.as_ref(),
            Some(d),
            "definition {} after reopen",
            d.def_ref()
        );
    }
    assert_eq!(
        all_events(&store).await,
        vec![matched.clone(), unmatched.clone()]
    );
    let only_unmatched = EventFilter::new().unmatched_only();
    let left = store
        .list_events(&only_unmatched, &Page::first(10))
        .await
        .expect("list unmatched");
    assert_eq!(left, vec![unmatched], "matched markers survive a reopen");
    assert_eq!(
        store
            .get_enforcement(enf.id)
            .await
            .expect("get_enforcement"),
        enf
    );
    assert_eq!(
        store.get_execution(x.id).await.expect("get_execution"),
        running,
        "the claimed execution, lease and all"
    );
    assert_eq!(
        store.get_key(&key.scope, &key.name).await.expect("get_key"),
        Some(key)
    );
    // The reopened store goes on from where the first one stopped.
    let done = store
        .transition_execution(
            x.id,
            ExecutionStatus::Running,
            ExecutionChange::to(ExecutionStatus::Succeeded, t).result(json!({"ok": true})),
        )
        .await
        .expect("finish after reopen");
    assert_eq!(done.worker, None);
}

/// Sets `user_version` of a file with a plain SQLite connection.
fn set_user_version(path: &Path, v: u32) {
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.pragma_update(None, "user_version", v)
        .expect("set user_version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let store = SqliteStore::open(&path).expect("open");
    store
        .insert_event(&Event::new("demo.t", json!({}), now()))
        .await
        .expect("insert_event");
    drop(store);
    set_user_version(&path, 99);
    let before = std::fs::read(&path).expect("read the file");

    let err = SqliteStore::open(&path).expect_err("a newer file must be refused");
    assert!(
        matches!(err, Error::Unsupported(_)),
        "expected Unsupported, got {err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("database version 99 is newer than this attune-store-sqlite knows (4)"),
        "the message names both versions: {msg}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        std::fs::read(&path).expect("read the file"),
        before,
        "a refused file must not change"
    );

    // A newer file that is not in WAL mode is not switched to it either.
    let other = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).expect("open raw");
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 7;")
            .expect("create");
    }
    let before = std::fs::read(&other).expect("read");
    let err = SqliteStore::open(&other).expect_err("refused");
    assert!(err.to_string().contains("database version 7"), "{err}");
    assert_eq!(std::fs::read(&other).expect("read"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_is_migrated_in_wal_mode_with_incremental_vacuum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let store = SqliteStore::open(&path).expect("open");
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 4);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    let vacuum: i64 = conn
        .pragma_query_value(None, "auto_vacuum", |r| r.get(0))
        .expect("auto_vacuum");
    assert_eq!(vacuum, 2, "auto_vacuum = INCREMENTAL");
    drop(conn);
    drop(store);
    // Opening again runs no migration and keeps the version.
    SqliteStore::open(&path).expect("reopen");
}

/// A file of schema version 1 (bodies inside the execution rows) is migrated at open: its
/// rows read as they were, and change as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_is_migrated_and_its_executions_read_and_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let mut old = Execution::new("demo.act", "native", json!({"n": 1}), now());
    old.status = ExecutionStatus::Running;
    old.worker = Some("w1".into());
    old.started = Some(now());
    old.lease_expires = Some(now() + TimeDelta::seconds(30));
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .expect("schema 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute(
            "INSERT INTO executions (id, status, action_ref, attempt, worker, lease_expires, \
             created, body) VALUES (?1, 'running', 'demo.act', 1, 'w1', ?2, ?3, ?4)",
            rusqlite::params![
                old.id.0.into_bytes(),
                old.lease_expires.map(|t| t.timestamp_micros()),
                old.created.timestamp_micros(),
                serde_json::to_string(&old).expect("body"),
            ],
        )
        .expect("a version 1 row");
    }
    let store = SqliteStore::open(&path).expect("open migrates");
    let version: u32 = rusqlite::Connection::open(&path)
        .expect("open raw")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 4);
    assert_eq!(
        store.get_execution(old.id).await.expect("get"),
        old,
        "a version 1 row reads as written"
    );
    let change = ExecutionChange::to(ExecutionStatus::Succeeded, now()).result(json!({"ok": 1}));
    let done = store
        .transition_execution(old.id, ExecutionStatus::Running, change)
        .await
        .expect("transition");
    assert_eq!(done.result, Some(json!({"ok": 1})));
    assert_eq!(done.worker, None, "a terminal status clears the claim");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.get_execution(old.id).await.expect("get"),
        done,
        "the change is read back after reopening (from the state column)"
    );
    assert_eq!(all_executions(&store).await, vec![done]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_all_acknowledged_and_present_after_reopen() {
    const TASKS: usize = 32;
    const EACH: usize = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let store = Arc::new(
        SqliteStore::builder()
            .path(&path)
            .max_batch(64)
            .synchronous(Synchronous::Full)
            .build()
            .expect("open"),
    );
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let e = Event::new("load.t", json!({"task": task, "i": i}), now());
                store.insert_event(&e).await.expect("insert_event");
                let mut x = Execution::new("load.act", "native", json!({"i": i}), now());
                x.event = Some(e.id);
                store.insert_execution(&x).await.expect("insert_execution");
                ids.push((e.id, x.id));
            }
            ids
        }));
    }
    let mut acknowledged = Vec::new();
    for h in handles {
        acknowledged.extend(h.await.expect("task"));
    }
    drop(store);

    let store = SqliteStore::open(&path).expect("reopen");
    let mut events: Vec<_> = acknowledged.iter().map(|(e, _)| *e).collect();
    let mut xs: Vec<_> = acknowledged.iter().map(|(_, x)| *x).collect();
    events.sort();
    xs.sort();
    let stored: Vec<_> = all_events(&store).await.iter().map(|e| e.id).collect();
    assert_eq!(stored, events, "every acknowledged event is in the file");
    let stored: Vec<_> = all_executions(&store).await.iter().map(|x| x.id).collect();
    assert_eq!(stored, xs, "every acknowledged execution is in the file");
    assert_eq!(
        store
            .count_executions(&ExecutionFilter::default())
            .await
            .expect("count"),
        (TASKS * EACH) as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_change_does_not_fail_the_others_of_its_group() {
    const RACERS: usize = 16;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(db(&dir)).expect("open"));
    let t = now();
    let contested = Execution::new("race.act", "native", json!({}), t);
    store
        .insert_execution(&contested)
        .await
        .expect("insert_execution");
    // Racers try the same compare-and-set (one wins, the rest get Conflict), an illegal
    // transition, and an insert each, all at once: they share group commits.
    let mut handles = Vec::new();
    for i in 0..RACERS {
        let store = store.clone();
        let id = contested.id;
        handles.push(tokio::spawn(async move {
            let cas = store
                .transition_execution(
                    id,
                    ExecutionStatus::Requested,
                    ExecutionChange::to(ExecutionStatus::Scheduled, t),
                )
                .await;
            let illegal = store
                .transition_execution(
                    id,
                    ExecutionStatus::Requested,
                    ExecutionChange::to(ExecutionStatus::Succeeded, t),
                )
                .await;
            let e = Event::new("race.t", json!({"i": i}), t);
            store.insert_event(&e).await.expect("an unrelated insert");
            (cas.is_ok(), cas.err(), illegal.err(), e.id)
        }));
    }
    let mut winners = 0;
    let mut inserted = Vec::new();
    for h in handles {
        let (won, lost, illegal, event) = h.await.expect("task");
        if won {
            winners += 1;
        } else {
            assert!(
                matches!(lost, Some(Error::Conflict(_))),
                "a lost compare-and-set is Conflict: {lost:?}"
            );
        }
        assert!(
            matches!(
                illegal,
                Some(Error::IllegalTransition { .. } | Error::Conflict(_))
            ),
            "requested → succeeded is refused: {illegal:?}"
        );
        inserted.push(event);
    }
    assert_eq!(winners, 1, "exactly one compare-and-set wins");
    let got = store.get_execution(contested.id).await.expect("get");
    assert_eq!(got.status, ExecutionStatus::Scheduled);
    for id in inserted {
        store.get_event(id).await.expect("every insert committed");
    }
    // A duplicate in a batch of transitions fails alone.
    let a = Execution::new("race.act", "native", json!({}), t);
    let b = Execution::new("race.act", "native", json!({}), t);
    for x in [&a, &b] {
        store.insert_execution(x).await.expect("insert");
    }
    let results = store
        .transition_executions(vec![
            (
                a.id,
                ExecutionStatus::Requested,
                ExecutionChange::to(ExecutionStatus::Scheduled, t),
            ),
            (
                a.id,
                ExecutionStatus::Requested,
                ExecutionChange::to(ExecutionStatus::Scheduled, t),
            ),
            (
                b.id,
                ExecutionStatus::Requested,
                ExecutionChange::to(ExecutionStatus::Canceled, t),
            ),
        ])
        .await;
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Error::Conflict(_))));
    assert!(results[2].is_ok());
    assert_eq!(
        store.get_execution(b.id).await.expect("get").status,
        ExecutionStatus::Canceled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_do_not_block_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let store = Arc::new(
        SqliteStore::builder()
            .path(&path)
            .readers(2)
            .build()
            .expect("open"),
    );
    store
        .insert_event(&Event::new("read.t", json!({}), now()))
        .await
        .expect("insert_event");

    // A reader holding a snapshot open for the whole test (a long report, say).
    let reader = rusqlite::Connection::open(&path).expect("open raw");
    reader.execute_batch("BEGIN").expect("begin");
    let count = |c: &rusqlite::Connection| -> i64 {
        c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count")
    };
    assert_eq!(count(&reader), 1);

    // The store's own readers run concurrently with the writes.
    let reading = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            for _ in 0..200 {
                let seen = store
                    .list_events(&EventFilter::default(), &Page::first(10))
                    .await
                    .expect("list_events");
                assert!(!seen.is_empty());
                reads += 1;
            }
            reads
        })
    };
    for i in 0..500 {
        // Would fail with SQLITE_BUSY after the busy timeout if a reader blocked it.
        store
            .insert_event(&Event::new("read.t", json!({"i": i}), now()))
            .await
            .expect("a write while readers read");
    }
    assert_eq!(reading.await.expect("reader task"), 200);
    assert_eq!(
        count(&reader),
        1,
        "the open snapshot still sees the old state"
    );
    reader.execute_batch("COMMIT").expect("end the read");
    assert_eq!(count(&reader), 501);
    assert_eq!(all_events(store.as_ref()).await.len(), 501);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_gives_pages_back_and_the_file_shrinks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db(&dir);
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let t = now() - TimeDelta::days(1);
    let blob = "x".repeat(2000);
    for i in 0..3000 {
        let e = Event::new("big.t", json!({"i": i, "blob": blob}), t);
        store.insert_event(&e).await.expect("insert_event");
        let enf = Enforcement::new("big.rule", e.id, "big.t", t);
        store
            .insert_enforcement(&enf)
            .await
            .expect("insert_enforcement");
        let mut x = Execution::new("big.act", "native", json!({"blob": blob}), t);
        x.status = ExecutionStatus::Succeeded;
        x.enforcement = Some(enf.id);
        x.event = Some(e.id);
        store.insert_execution(&x).await.expect("insert_execution");
        store
            .update_enforcement(
                enf.id,
                EnforcementStatus::Created,
                EnforcementUpdate::processed(x.id, t),
            )
            .await
            .expect("update_enforcement");
    }
    drop(store);
    let full = std::fs::metadata(&path).expect("stat").len();

    let store = SqliteStore::open(&path).expect("reopen");
    let request = PurgeRequest {
        before: Some(now()),
        batch: 500,
        ..PurgeRequest::default()
    };
    let mut total = 0;
    for _ in 0..100 {
        let s = store.purge(&request).await.expect("purge");
        assert!(s.events <= 500 && s.enforcements <= 500 && s.executions <= 500);
        total += s.executions;
        if !s.more {
            break;
        }
    }
    assert_eq!(total, 3000, "every finished chain is purged");
    // Later purges (the engine calls it periodically) go on giving pages back.
    for _ in 0..30 {
        let s = store.purge(&request).await.expect("purge");
        assert_eq!((s.events, s.enforcements, s.executions), (0, 0, 0));
    }
    assert!(all_events(&store).await.is_empty());
    assert!(
        store
            .list_enforcements(&EnforcementFilter::default(), &Page::first(10))
            .await
            .expect("list_enforcements")
            .is_empty()
    );
    drop(store);
    let after = std::fs::metadata(&path).expect("stat").len();
    assert!(
        after < full / 2,
        "the file must shrink after a purge: {full} bytes before, {after} after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let invalid = |r: attune_core::Result<SqliteStore>, what: &str| match r {
        Err(Error::Invalid { message, .. }) => message,
        other => panic!("{what}: expected Invalid, got {other:?}"),
    };
    let m = invalid(SqliteStore::builder().build(), "no path");
    assert!(m.contains("path"), "{m}");
    let m = invalid(
        SqliteStore::builder().path(dir.path()).build(),
        "a directory",
    );
    assert!(m.contains("directory"), "{m}");
    let m = invalid(
        SqliteStore::builder().path(db(&dir)).readers(0).build(),
        "zero readers",
    );
    assert!(m.contains("readers"), "{m}");
    let m = invalid(
        SqliteStore::builder().path(db(&dir)).max_batch(0).build(),
        "zero max_batch",
    );
    assert!(m.contains("max_batch"), "{m}");
    assert!(!db(&dir).exists(), "rejected settings create no file");
    let err = SqliteStore::open(dir.path().join("missing/dir/attune.db")).expect_err("no dir");
    assert!(
        matches!(err, Error::Backend { .. }) && err.to_string().contains("missing/dir"),
        "an open failure names the file: {err}"
    );

    let store = SqliteStore::builder()
        .path(db(&dir))
        .synchronous(Synchronous::Off)
        .readers(1)
        .max_batch(1)
        .build()
        .expect("valid settings");
    let debug = format!("{store:?}");
    assert!(debug.contains("attune.db"), "Debug shows the path: {debug}");
    // max_batch(1): one change per commit still works, readers(1) serialises reads.
    let e = Event::new("s.t", json!({}), now());
    store.insert_event(&e).await.expect("insert");
    assert_eq!(store.get_event(e.id).await.expect("get"), e);
    let clone = store.clone();
    assert_eq!(clone.path(), store.path());
    let kinds = store
        .list_definitions(DefinitionKind::Action, None)
        .await
        .expect("list");
    assert!(kinds.is_empty());
}

/// Two stores on one file (two processes): a status one changed is seen by the other's
/// next compare-and-set, which must not overwrite it from a stale cached row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_by_another_store_on_the_file_is_never_overwritten() {
    use ExecutionStatus as S;
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let a = SqliteStore::open(&path).expect("open a");
    let b = SqliteStore::open(&path).expect("open b");
    let x = Execution::new("p.a", "noop", json!({}), now());
    a.insert_execution(&x).await.unwrap();
    // `a` writes it, so its writer holds the row in its cache.
    a.transition_execution(x.id, S::Requested, ExecutionChange::to(S::Scheduled, now()))
        .await
        .unwrap();
    b.transition_execution(x.id, S::Scheduled, ExecutionChange::to(S::Canceled, now()))
        .await
        .unwrap();
    let err = a
        .transition_execution(x.id, S::Scheduled, ExecutionChange::to(S::Canceled, now()))
        .await
        .expect_err("b's change must be seen");
    assert!(err.to_string().contains("is canceled"), "{err}");
    assert_eq!(a.get_execution(x.id).await.unwrap().status, S::Canceled);
    assert_eq!(b.get_execution(x.id).await.unwrap().status, S::Canceled);
}

/// One event with its enforcement and execution written through the batch calls, then the
/// execution run to its end (`succeeded`): every kind of memory the writer hands back.
async fn write_one_run(store: &SqliteStore, n: u32) -> Execution {
    let t = now();
    let event = Event::new("demo.trigger", json!({ "n": n }), t);
    let results = store.insert_events(std::slice::from_ref(&event)).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let mut enf = Enforcement::new("demo.rule", event.id, "demo.trigger", t);
    let mut x = Execution::new("demo.act", "native", json!({ "n": n }), t);
    x.enforcement = Some(enf.id);
    x.event = Some(event.id);
    x.rule = Some("demo.rule".into());
    EnforcementUpdate::processed(x.id, t).apply_to(&mut enf);
    let item = attune_core::store::Enforced {
        enforcement: enf,
        execution: Some(x.clone()),
    };
    let results = store.insert_enforcements(&[item]).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    for (from, to) in [
        (ExecutionStatus::Requested, ExecutionStatus::Scheduled),
        (ExecutionStatus::Scheduled, ExecutionStatus::Running),
        (ExecutionStatus::Running, ExecutionStatus::Succeeded),
    ] {
        store
            .transition_execution(x.id, from, ExecutionChange::to(to, now()))
            .await
            .expect("transition");
    }
    x
}

// The writer hands the memory it is done with to the runtime the store was built in (so
// that the threads that allocated it free it). A store built outside any runtime frees it
// itself; one that outlives the runtime it was built in, or whose runtime is alive but no
// longer driven, goes on all the same: nothing lost, no panic, every write there after a
// reopen.
#[test]
fn a_store_built_outside_a_runtime_or_outliving_its_own_keeps_every_write() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    };
    for (built_in_a_runtime, keep_it_idle) in [(true, false), (true, true), (false, false)] {
        let case = format!("built in a runtime: {built_in_a_runtime}, kept idle: {keep_it_idle}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = db(&dir);
        let first = if keep_it_idle {
            // Driven only while it builds the store.
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
        } else {
            runtime()
        };
        let store = if built_in_a_runtime {
            first.block_on(async { SqliteStore::open(&path) })
        } else {
            SqliteStore::open(&path)
        }
        .expect("open");
        let second = runtime();
        let mut written = Vec::new();
        if !keep_it_idle {
            written.push(first.block_on(write_one_run(&store, 1)).id);
            drop(first);
        } else {
            written.push(second.block_on(write_one_run(&store, 1)).id);
        }
        second.block_on(async {
            for n in 2..=12 {
                written.push(write_one_run(&store, n).await.id);
            }
        });
        drop(store);
        let reopened = SqliteStore::open(&path).expect("reopen");
        let stored = second.block_on(all_executions(&reopened));
        let mut ids: Vec<_> = stored.iter().map(|x| x.id).collect();
        ids.sort();
        written.sort();
        assert_eq!(ids, written, "{case}");
        assert!(
            stored
                .iter()
                .all(|x| x.status == ExecutionStatus::Succeeded && x.finished.is_some()),
            "{case}: {stored:?}"
        );
        assert_eq!(second.block_on(all_events(&reopened)).len(), 12, "{case}");
    }
}
