//! Workflow runs across engines on one SQLite file: an engine whose process is gone (its
//! tokio runtime dropped mid-run, like a crash) leaves a paused run that the next engine
//! takes over still paused and finishes once resumed; a run that failed under one engine
//! is re-run by the next from its journal.

use attune_core::model::{ExecutionId, ExecutionStatus};
use attune_core::store::{ExecutionFilter, Page};
use attune_core::workflow::parse;
use attune_core::{Engine, Result};
use attune_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const LEASE: Duration = Duration::from_millis(300);
const SAFETY: Duration = Duration::from_secs(30);

const FLOW: &str = r#"
input: [xs]
tasks:
  each:
    with:
      items: x in {{ ctx('xs') }}
      concurrency: 2
    action: rs.work n={{ item('x') }}
    next:
      - publish:
          - total: '{{ result() | sum }}'
        do: last
  last:
    action: rs.maybe_fail
output:
  - total: '{{ ctx("total") }}'
"#;

/// An engine on `db`: `rs.work` counts its runs in `runs` and returns its `n` after a few
/// ms; `rs.maybe_fail` fails while `broken` is set.
async fn engine(db: &Path, runs: Arc<AtomicUsize>, broken: Arc<AtomicBool>) -> Result<Engine> {
    let e = Engine::builder()
        .store(Arc::new(SqliteStore::open(db)?))
        .lease(LEASE)
        .sweep_every(Duration::from_millis(100))
        .build()
        .await?;
    e.register_fn("rs.work", move |ctx| {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(ctx.param("n").cloned().unwrap_or(Value::Null))
        }
    })
    .await?;
    e.register_fn("rs.maybe_fail", move |_ctx| {
        let broken = broken.clone();
        async move {
            if broken.load(Ordering::SeqCst) {
                Err(attune_core::Error::Action("broken".into()))
            } else {
                Ok(json!("done"))
            }
        }
    })
    .await?;
    e.register_workflow("rs.flow", parse(FLOW, "flow.yaml").expect("parses"))
        .await?;
    e.recover().await?;
    Ok(e)
}

async fn until_status(e: &Engine, id: ExecutionId, want: ExecutionStatus) {
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let x = e.store().get_execution(id).await.unwrap();
        if x.status == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "execution never became {want} (is {})",
            x.status
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn task_runs(e: &Engine, id: ExecutionId) -> usize {
    let filter = ExecutionFilter::new().parent(id);
    e.store()
        .list_executions(&filter, &Page::first(10_000))
        .await
        .unwrap()
        .len()
}

#[test]
fn a_paused_run_survives_its_engine_and_finishes_when_resumed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let runs = Arc::new(AtomicUsize::new(0));
    let xs: Vec<u64> = (1..=40).collect();

    // Engine A: start the run, pause it, wait until paused; then its process "dies".
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (id, ran_before, first_engine) = first.block_on(async {
        let e = engine(&db, runs.clone(), Arc::default()).await.unwrap();
        let id = e.execute("rs.flow", json!({ "xs": xs })).await.unwrap();
        while runs.load(Ordering::SeqCst) < 6 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        e.pause(id).await.unwrap();
        until_status(&e, id, ExecutionStatus::Paused).await;
        let n = task_runs(&e, id).await;
        assert!(n < 40, "paused before the end ({n} items ran)");
        (id, n, e)
    });
    // Every task of engine A dropped mid-run, then its handle where nothing can run any more:
    // no shutdown, nothing recorded, as when its process dies.
    drop(first);
    drop(first_engine);

    // Engine B: takes the run over once A's lease expired; it stays paused.
    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let e = engine(&db, runs.clone(), Arc::default()).await.unwrap();
        tokio::time::sleep(LEASE * 3).await;
        let x = e.store().get_execution(id).await.unwrap();
        assert_eq!(
            x.status,
            ExecutionStatus::Paused,
            "still paused after the restart"
        );
        assert!(x.attempt > 1, "taken over by the new engine");
        assert_eq!(
            task_runs(&e, id).await,
            ran_before,
            "nothing started while paused"
        );

        e.resume(id).await.unwrap();
        let x = tokio::time::timeout(SAFETY, e.wait(id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
        let total: u64 = (1..=40).sum();
        assert_eq!(x.result.unwrap()["output"]["total"], json!(total));
        assert_eq!(
            task_runs(&e, id).await,
            41,
            "each item once, and the last task: nothing ran twice"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            40,
            "each item's action ran once"
        );
        e.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn a_run_that_failed_under_one_engine_is_rerun_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let runs = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicBool::new(true));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let failed = rt.block_on(async {
        let e = engine(&db, runs.clone(), broken.clone()).await.unwrap();
        let x = e.run("rs.flow", json!({"xs": [1, 2, 3]})).await.unwrap();
        assert_eq!(x.status, ExecutionStatus::Failed);
        e.shutdown(Duration::from_secs(5)).await;
        x.id
    });
    broken.store(false, Ordering::SeqCst);
    rt.block_on(async {
        let e = engine(&db, runs.clone(), broken.clone()).await.unwrap();
        let again = e.rerun(failed, &["last"]).await.unwrap();
        let x = tokio::time::timeout(SAFETY, e.wait(again))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
        assert_eq!(
            x.result.unwrap()["output"]["total"],
            json!(6),
            "what the first engine's run published"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "the items did not run again"
        );
        assert_eq!(
            task_runs(&e, again).await,
            1,
            "only `last` ran in the re-run"
        );
        e.shutdown(Duration::from_secs(5)).await;
    });
}
