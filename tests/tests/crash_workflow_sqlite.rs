//! SIGKILL in the middle of a workflow (a step, then a with-items over many items, then a
//! step), restart on the same SQLite file, kill again, …, then let it finish, and check: the
//! workflow succeeded with the right output; every task and item completed exactly once; an
//! action ran more than once only for a task execution the kill cut (`abandoned`: it never
//! completed, so the workflow ran it again).
//!
//! The test binary runs itself as the child (`workflow_child_entry` with
//! `ATTUNE_WF_CRASH_DB` set). The seed is printed; `ATTUNE_WF_CRASH_SEED=<n>` replays a run.

use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_core::store::{ExecutionFilter, StoreExt};
use attune_core::{Engine, Result};
use attune_store_sqlite::SqliteStore;
use attune_tests::{Rng, append_line, lines, seed, spawn_child};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ROUNDS: u32 = 6;
const ITEMS: u64 = 600;
const LEASE: Duration = Duration::from_millis(600);

const FLOW: &str = r#"
input: [xs]
tasks:
  prepare:
    action: crash.step name=prepare
    next:
      - publish:
          - base: '{{ result() }}'
        do: each
  each:
    with:
      items: x in {{ ctx('xs') }}
      concurrency: 4
    action: crash.item n={{ item('x') }}
    next:
      - publish:
          - total: '{{ result() | sum }}'
        do: finish
  finish:
    action: crash.step name=finish
output:
  - total: '{{ ctx("total") }}'
  - base: '{{ ctx("base") }}'
"#;

/// Appends `line` to `file` (see [`append_line`]), as an action's error.
fn record(file: &Path, line: &str) -> Result<()> {
    append_line(file, line).map_err(|e| attune_core::Error::Action(format!("ran file: {e}")))
}

/// An engine on `db` with the workflow and its actions; each action run appends a line to
/// `ran` before it works.
async fn engine(db: &Path, ran: PathBuf) -> Result<Engine> {
    let engine = Engine::builder()
        .store(Arc::new(SqliteStore::open(db)?))
        .lease(LEASE)
        .sweep_every(Duration::from_millis(150))
        .build()
        .await?;
    let r = ran.clone();
    engine
        .register_fn("crash.step", move |ctx| {
            let ran = r.clone();
            async move {
                let name = ctx.param("name").cloned().unwrap_or(Value::Null);
                record(&ran, &format!("step {}", name.as_str().unwrap_or_default()))?;
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(json!(1000))
            }
        })
        .await?;
    engine
        .register_fn("crash.item", move |ctx| {
            let ran = ran.clone();
            async move {
                let n = ctx.param("n").and_then(Value::as_u64).unwrap_or(0);
                record(&ran, &format!("item {n}"))?;
                tokio::time::sleep(Duration::from_millis(8)).await;
                Ok(json!(n))
            }
        })
        .await?;
    let wf = attune_core::workflow::parse(FLOW, "flow.yaml").expect("the test workflow parses");
    engine.register_workflow("crash.flow", wf).await?;
    Ok(engine)
}

/// The child: continues what the file holds; starts the workflow once (recording its id);
/// then waits to be killed. A no-op in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_child_entry() {
    let Ok(db) = std::env::var("ATTUNE_WF_CRASH_DB") else {
        return;
    };
    let dir = Path::new(&db).parent().unwrap().to_path_buf();
    let engine = engine(Path::new(&db), dir.join("ran"))
        .await
        .expect("child engine");
    engine.recover().await.expect("recover");
    let id_file = dir.join("workflow");
    if !id_file.exists() {
        let xs: Vec<u64> = (0..ITEMS).collect();
        let id = engine
            .execute("crash.flow", json!({ "xs": xs }))
            .await
            .expect("execute");
        std::fs::write(&id_file, id.to_string()).unwrap();
    }
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

async fn all_executions(engine: &Engine) -> Vec<Execution> {
    let mut out = Vec::new();
    engine
        .store()
        .each_execution(&ExecutionFilter::default(), &mut |e| out.push(e.clone()))
        .await
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_workflow_continues_it_and_runs_no_completed_task_twice() {
    let seed = seed("ATTUNE_WF_CRASH_SEED");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let mut kills = Vec::new();
    for round in 0..ROUNDS {
        let mut child = spawn_child("workflow_child_entry", "ATTUNE_WF_CRASH_DB", &db);
        // After the first round, the run is taken over once the lease of the killed
        // process expired: wait that long, then some.
        let base = if round == 0 {
            0
        } else {
            LEASE.as_millis() as u64 + 150
        };
        let wait_ms = base + 60 + rng.next_u64() % 400;
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let items = lines(&dir.path().join("ran"))
            .iter()
            .filter(|l| l.starts_with("item"))
            .count();
        kills.push(format!(
            "round {round}: killed after {wait_ms} ms, {items} item runs so far"
        ));
    }
    let ctx = format!("seed {seed}: {kills:?}");
    let id: ExecutionId = std::fs::read_to_string(dir.path().join("workflow"))
        .unwrap_or_else(|e| panic!("{ctx}: the workflow was never started: {e}"))
        .trim()
        .parse()
        .unwrap();

    // Restart on the file and let the run finish here.
    let ran = dir.path().join("ran");
    let engine = engine(&db, ran.clone()).await.unwrap();
    engine.recover().await.unwrap();
    let x = tokio::time::timeout(Duration::from_secs(120), engine.wait(id))
        .await
        .unwrap_or_else(|_| panic!("{ctx}: the workflow never finished"))
        .unwrap();
    assert_eq!(
        x.status,
        ExecutionStatus::Succeeded,
        "{ctx}: the workflow ended {:?}: {:?}",
        x.status,
        x.error
    );
    let total: u64 = (0..ITEMS).sum();
    let output = &x.result.as_ref().unwrap()["output"];
    assert_eq!(output["total"], json!(total), "{ctx}: {output}");
    assert_eq!(output["base"], json!(1000), "{ctx}: {output}");
    assert!(
        x.attempt > 1 || kills.is_empty(),
        "{ctx}: the run was taken over"
    );

    // Every task and item completed exactly once; the others were cut by a kill.
    let mut succeeded: HashMap<String, u32> = HashMap::new();
    let mut abandoned: HashMap<String, u32> = HashMap::new();
    for e in all_executions(&engine).await {
        assert!(e.status.is_terminal(), "{ctx}: {} is {}", e.id, e.status);
        let Some(t) = &e.task else { continue };
        let key = match t.item {
            Some(i) => format!("item {i}"),
            None => format!("step {}", t.name),
        };
        match e.status {
            ExecutionStatus::Succeeded => *succeeded.entry(key).or_default() += 1,
            ExecutionStatus::Abandoned => *abandoned.entry(key).or_default() += 1,
            other => panic!("{ctx}: task execution {key} ended {other}: {:?}", e.error),
        }
    }
    assert_eq!(succeeded.len() as u64, ITEMS + 2, "{ctx}: completed tasks");
    if let Some((k, n)) = succeeded.iter().find(|(_, n)| **n != 1) {
        panic!("{ctx}: {k} completed {n} times");
    }
    let mut runs: HashMap<String, u32> = HashMap::new();
    for l in lines(&ran) {
        *runs.entry(l).or_default() += 1;
    }
    for (key, n) in &runs {
        let cut = abandoned.get(key).copied().unwrap_or(0);
        assert!(
            *n <= 1 + cut,
            "{ctx}: {key} ran {n} times, but only {cut} of its runs were cut by a kill"
        );
    }
    eprintln!(
        "{ctx}: ok; {} task runs cut by kills and run again",
        abandoned.values().sum::<u32>()
    );
    engine.shutdown(Duration::from_secs(10)).await;
}
