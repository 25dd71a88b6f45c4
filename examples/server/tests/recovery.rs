//! `--db FILE`: a command that runs work first recovers what earlier commands left in the
//! file. An execution whose attune process was killed ends `abandoned` (without waiting for
//! its lease); `requested` work is run; work a live attune holds is left alone.

mod common;

use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_core::store::{ExecutionFilter, Page, Store};
use attune_store_sqlite::SqliteStore;
use common::{Reaper, Running, attune, read_pid, run, signal, sleeper};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// The executions stored in the SQLite file `db`, read directly.
fn stored(db: &Path) -> Vec<Execution> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(db).unwrap();
        store
            .list_executions(&ExecutionFilter::default(), &Page::first(1000))
            .await
            .unwrap()
    })
}

fn stored_one(db: &Path, action: &str) -> Execution {
    let mut found: Vec<Execution> = stored(db)
        .into_iter()
        .filter(|e| e.action == action)
        .collect();
    assert_eq!(found.len(), 1, "one execution of {action}: {found:?}");
    found.remove(0)
}

/// `attune --db db run` of a sleeping action, running (its action's pid known).
fn long_run(db: &Path, pid_file: &Path) -> (Running, u32) {
    let mut cmd = attune();
    cmd.arg("--db")
        .arg(db)
        .args(["run", "core.local", &sleeper(pid_file, ""), "timeout=1000"]);
    let run = Running::start(cmd, false);
    let pid = read_pid(pid_file);
    (run, pid)
}

fn noop_on(db: &Path) -> common::Ended {
    let mut cmd = attune();
    cmd.arg("--json")
        .arg("--db")
        .arg(db)
        .args(["run", "core.noop"]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    out
}

#[test]
fn the_execution_of_a_killed_attune_is_abandoned_by_the_next_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let (first, action) = long_run(&db, &dir.path().join("pid"));
    let _reaper = Reaper(action);
    first.kill();
    let before = stored_one(&db, "core.local");
    assert_eq!(before.status, ExecutionStatus::Running);
    assert!(
        before.lease_expires.is_some_and(|l| l > chrono::Utc::now()),
        "its lease is still live: recovery must not wait for it"
    );

    let doc = noop_on(&db).json();
    let ended = &doc["recovery"]["ended"];
    assert_eq!(ended.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(ended[0]["id"], json!(before.id));
    assert_eq!(ended[0]["status"], json!("abandoned"));
    assert!(
        ended[0]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("attune process {}", first_pid(&before))),
        "{doc}"
    );
    let after = stored_one(&db, "core.local");
    assert_eq!(after.status, ExecutionStatus::Abandoned);

    // Nothing is left for the command after.
    let doc = noop_on(&db).json();
    assert_eq!(doc["recovery"]["ended"], json!([]), "{doc}");
}

/// The pid in an execution's worker id (`attune-cli pid=N ...`).
fn first_pid(e: &Execution) -> String {
    let worker = e.worker.clone().unwrap_or_default();
    worker
        .split(' ')
        .find_map(|w| w.strip_prefix("pid="))
        .unwrap_or_else(|| panic!("no pid in worker id '{worker}'"))
        .to_string()
}

#[test]
fn requested_work_left_in_the_file_is_run_by_the_next_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    // What a command killed right after accepting work leaves: an execution `requested`.
    let left = Execution::new(
        "core.echo",
        "native",
        json!({"message": "left behind"}),
        chrono::Utc::now() - chrono::Duration::seconds(1),
    );
    let id: ExecutionId = left.id;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = SqliteStore::open(&db).unwrap();
            store.insert_execution(&left).await.unwrap();
        });

    let doc = noop_on(&db).json();
    let resumed = &doc["recovery"]["resumed"];
    assert_eq!(resumed.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(resumed[0]["id"], json!(id));
    assert_eq!(resumed[0]["status"], json!("succeeded"), "{doc}");
    let e = stored_one(&db, "core.echo");
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    assert_eq!(e.result, Some(json!({"stdout": "left behind"})));
}

#[test]
fn work_a_live_attune_holds_is_left_alone_and_its_signal_cancels_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let (first, action) = long_run(&db, &dir.path().join("pid"));
    let _reaper = Reaper(action);

    let doc = noop_on(&db).json();
    let held = &doc["recovery"]["held"];
    assert_eq!(held.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(held[0]["status"], json!("running"));
    assert!(
        held[0]["note"]
            .as_str()
            .unwrap()
            .contains("held by a running attune process"),
        "{doc}"
    );
    assert_eq!(doc["recovery"]["ended"], json!([]));
    assert_eq!(
        stored_one(&db, "core.local").status,
        ExecutionStatus::Running
    );

    // On a durable store too, the first signal cancels the running action.
    signal(first.pid(), "INT");
    let out = first.wait(Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(130), "stderr:\n{}", out.stderr);
    assert_eq!(
        stored_one(&db, "core.local").status,
        ExecutionStatus::Canceled
    );
}
