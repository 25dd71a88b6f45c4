//! Controlling workflow runs in the engine: pause during with-items then resume, cancel of a
//! nested workflow (canceling until its tasks ended), pause cascading to a nested workflow,
//! re-run of a failed run from its failed task, the errors of each on bad input, and a run
//! paused as a round was journaled, taken over by another engine, creating nothing until
//! resumed.

mod common;
use attune_core::model::{ExecutionId, ExecutionStatus};
use attune_core::store::{JournalEntry, MemoryStore, Store};
use attune_core::workflow::parse;
use attune_core::{Engine, EngineBuilder, Error};
use common::hooked_store::HookedStore;
use common::{children, wait_until};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

const SAFETY: Duration = Duration::from_secs(20);

/// An engine with `wf.gate` (waits for a permit of `gate`, then returns its `n`; counts its
/// runs in `runs`), `wf.echo`, and `wf.flaky` (fails while `broken` is set).
async fn engine(gate: Arc<Semaphore>, runs: Arc<AtomicUsize>, broken: Arc<AtomicBool>) -> Engine {
    engine_with(Engine::builder(), gate, runs, broken).await
}

/// [`engine`] built from `builder`.
async fn engine_with(
    builder: EngineBuilder,
    gate: Arc<Semaphore>,
    runs: Arc<AtomicUsize>,
    broken: Arc<AtomicBool>,
) -> Engine {
    let e = builder.build().await.unwrap();
    e.register_fn("wf.gate", move |ctx| {
        let (gate, runs) = (gate.clone(), runs.clone());
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::select! {
                p = gate.acquire() => p.expect("gate open").forget(),
                () = ctx.cancel.cancelled() => {}
            }
            Ok(ctx.param("n").cloned().unwrap_or(Value::Null))
        }
    })
    .await
    .unwrap();
    e.register_fn("wf.echo", |ctx| async move {
        Ok(ctx.param("message").cloned().unwrap_or(Value::Null))
    })
    .await
    .unwrap();
    e.register_fn("wf.flaky", move |ctx| {
        let broken = broken.clone();
        async move {
            if broken.load(Ordering::SeqCst) {
                return Err(attune_core::Error::Action("broken".into()));
            }
            Ok(ctx.param("message").cloned().unwrap_or(Value::Null))
        }
    })
    .await
    .unwrap();
    e
}

/// Polls until `n` task executions of `parent` are running.
async fn running_children(e: &Engine, parent: ExecutionId, n: usize) {
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let k = children(e, parent)
            .await
            .into_iter()
            .filter(|k| k.status == ExecutionStatus::Running)
            .count();
        if k >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} tasks never ran ({k} did)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const ITEMS: &str = r#"
input: [xs]
tasks:
  each:
    with:
      items: x in {{ ctx('xs') }}
      concurrency: 2
    action: wf.gate n={{ item('x') }}
output:
  - got: '{{ task("each").result.items | map(attribute="result") | list }}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_during_with_items_holds_the_next_items_until_resumed() {
    let gate = Arc::new(Semaphore::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let e = engine(gate.clone(), runs.clone(), Arc::default()).await;
    e.register_workflow("wf.items", parse(ITEMS, "items.yaml").unwrap())
        .await
        .unwrap();
    let xs: Vec<u32> = (0..8).collect();
    let id = e.execute("wf.items", json!({ "xs": xs })).await.unwrap();
    running_children(&e, id, 2).await;

    let paused = e.pause(id).await.unwrap();
    assert_eq!(
        paused.status,
        ExecutionStatus::Pausing,
        "pausing while its items run"
    );
    // The two running items finish; their ends are applied, and nothing new starts.
    gate.add_permits(2);
    wait_until(&e, id, "paused", |x| x.status == ExecutionStatus::Paused).await;
    let kids = children(&e, id).await;
    assert_eq!(kids.len(), 2, "no item started while paused");
    assert!(kids.iter().all(|k| k.status == ExecutionStatus::Succeeded));
    assert_eq!(
        e.pause(id).await.unwrap().status,
        ExecutionStatus::Paused,
        "pausing a paused run leaves it paused"
    );

    gate.add_permits(100);
    let resumed = e.resume(id).await.unwrap();
    assert_eq!(resumed.status, ExecutionStatus::Running);
    let x = tokio::time::timeout(SAFETY, e.wait(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["output"]["got"],
        json!(xs),
        "every item, in order"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 8, "each item ran once");
    assert_eq!(children(&e, id).await.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_a_nested_workflow_cancels_its_tasks_and_the_parent_sees_it() {
    let gate = Arc::new(Semaphore::new(0));
    let e = engine(gate, Arc::default(), Arc::default()).await;
    let inner = "tasks:\n  hold:\n    action: wf.gate n=1\n";
    e.register_workflow("wf.inner", parse(inner, "inner.yaml").unwrap())
        .await
        .unwrap();
    let outer = "tasks:\n  call:\n    action: wf.inner\n    next:\n      - when: '{{ failed() }}'\n        do: noted\n  noted:\n    action: wf.echo message=noted\n";
    e.register_workflow("wf.outer", parse(outer, "outer.yaml").unwrap())
        .await
        .unwrap();
    let id = e.execute("wf.outer", json!({})).await.unwrap();
    running_children(&e, id, 1).await;
    let nested = children(&e, id).await[0].id;
    running_children(&e, nested, 1).await;
    let task = children(&e, nested).await[0].id;

    let canceling = e.cancel(nested).await.unwrap();
    assert_eq!(canceling.status, ExecutionStatus::Canceling);
    let n = tokio::time::timeout(SAFETY, e.wait(nested))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.status, ExecutionStatus::Canceled);
    let t = e.store().get_execution(task).await.unwrap();
    assert_eq!(
        t.status,
        ExecutionStatus::Canceled,
        "the nested workflow's task was canceled, and ended before it"
    );
    assert!(t.finished <= n.finished);
    // A canceled task is not a failure: it cancels the outer run too, and the outer
    // workflow's `failed()` transition does not fire.
    let outer = tokio::time::timeout(SAFETY, e.wait(id))
        .await
        .unwrap()
        .unwrap();
    let kids = children(&e, id).await;
    assert_eq!(kids.len(), 1, "noted did not run: {kids:?}");
    assert_eq!(outer.status, ExecutionStatus::Canceled, "{:?}", outer.error);
    assert!(
        outer
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("'call' was canceled"),
        "{:?}",
        outer.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_cascades_to_a_nested_workflow_and_resume_too() {
    let gate = Arc::new(Semaphore::new(0));
    let e = engine(gate.clone(), Arc::default(), Arc::default()).await;
    let inner = "tasks:\n  one:\n    action: wf.gate n=1\n    next:\n      - do: two\n  two:\n    action: wf.gate n=2\n";
    e.register_workflow("wf.inner", parse(inner, "inner.yaml").unwrap())
        .await
        .unwrap();
    e.register_workflow(
        "wf.outer",
        parse("tasks:\n  call:\n    action: wf.inner\n", "outer.yaml").unwrap(),
    )
    .await
    .unwrap();
    let id = e.execute("wf.outer", json!({})).await.unwrap();
    running_children(&e, id, 1).await;
    let nested = children(&e, id).await[0].id;
    running_children(&e, nested, 1).await;

    e.pause(id).await.unwrap();
    wait_until(&e, nested, "the nested workflow pausing", |x| {
        matches!(x.status, ExecutionStatus::Pausing | ExecutionStatus::Paused)
    })
    .await;
    gate.add_permits(1); // `one` ends; `two` must not start
    wait_until(&e, nested, "the nested workflow paused", |x| {
        x.status == ExecutionStatus::Paused
    })
    .await;
    wait_until(&e, id, "the outer workflow stays pausing", |x| {
        x.status == ExecutionStatus::Pausing
    })
    .await;
    assert_eq!(children(&e, nested).await.len(), 1, "two did not start");

    gate.add_permits(1);
    e.resume(id).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.wait(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(children(&e, nested).await.len(), 2);
}

const FLAKY: &str = r#"
tasks:
  first:
    action: wf.gate n=1
    next:
      - publish: got={{ result() }}
        do: second
  second:
    action: wf.flaky message="second saw {{ ctx('got') }}"
    next:
      - publish: said={{ result() }}
output:
  - said: '{{ ctx("said") }}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_continues_a_failed_run_from_its_failed_task_keeping_what_was_published() {
    let gate = Arc::new(Semaphore::new(100));
    let runs = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicBool::new(true));
    let e = engine(gate, runs.clone(), broken.clone()).await;
    e.register_workflow("wf.flaky_flow", parse(FLAKY, "flaky.yaml").unwrap())
        .await
        .unwrap();
    let failed = e.run("wf.flaky_flow", json!({})).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    broken.store(false, Ordering::SeqCst);
    let again = e.rerun(failed.id, &[]).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.wait(again))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["output"]["said"],
        json!("second saw 1"),
        "the re-run kept what `first` published"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "`first` did not run again");
    let kids = children(&e, again).await;
    assert_eq!(kids.len(), 1, "only `second` ran in the re-run");
    assert_eq!(kids[0].task.as_ref().unwrap().name, "second");

    // The same, naming the task.
    broken.store(true, Ordering::SeqCst);
    let failed = e.run("wf.flaky_flow", json!({})).await.unwrap();
    broken.store(false, Ordering::SeqCst);
    let again = e.rerun(failed.id, &["second"]).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.wait(again))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pause_resume_and_rerun_requests_are_refused_with_the_reason() {
    let e = engine(
        Arc::new(Semaphore::new(100)),
        Arc::default(),
        Arc::default(),
    )
    .await;
    e.register_workflow("wf.flaky_flow", parse(FLAKY, "flaky.yaml").unwrap())
        .await
        .unwrap();
    let ok = e.run("wf.flaky_flow", json!({})).await.unwrap();
    assert_eq!(ok.status, ExecutionStatus::Succeeded);
    let plain = e.run("wf.echo", json!({"message": "hi"})).await.unwrap();

    let err = e.pause(plain.id).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("not a workflow"), "{err}");
    let err = e.pause(ok.id).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(err.to_string().contains("succeeded"), "{err}");
    let err = e.resume(ok.id).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    let err = e.rerun(ok.id, &[]).await.unwrap_err();
    assert!(err.to_string().contains("only a failed workflow"), "{err}");
    let err = e.rerun(plain.id, &[]).await.unwrap_err();
    assert!(err.to_string().contains("not a workflow"), "{err}");
    let err = e.pause(ExecutionId::new()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    let failed = e.run("wf.flaky_flow", json!({})).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Succeeded);
    // A task the workflow does not have.
    let broken = Arc::new(AtomicBool::new(true));
    let e2 = engine(Arc::new(Semaphore::new(100)), Arc::default(), broken).await;
    e2.register_workflow("wf.flaky_flow", parse(FLAKY, "flaky.yaml").unwrap())
        .await
        .unwrap();
    let failed = e2.run("wf.flaky_flow", json!({})).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let err = e2.rerun(failed.id, &["nope"]).await.unwrap_err();
    assert!(err.to_string().contains("has no task 'nope'"), "{err}");
    // A task that did not fail: the re-run execution fails, naming it.
    let again = e2.rerun(failed.id, &["first"]).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e2.wait(again))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert!(
        x.error.as_deref().unwrap_or_default().contains("first"),
        "{:?}",
        x.error
    );
}

/// Waits until the journal of run `id` holds an entry of `kind`.
async fn until_journaled(store: &dyn Store, id: ExecutionId, kind_wanted: &str) {
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let journal = store.read_journal(id).await.unwrap();
        if journal.iter().any(|e| kind(e) == kind_wanted) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never journaled '{kind_wanted}'"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts `wf.items` over `xs` on `a`, has `b` (another engine on `store`) pause it once its
/// first two items run, lets those two finish, and waits until `a`'s run is paused.
async fn paused_by_the_other_engine(
    a: &Engine,
    b: &Engine,
    store: &dyn Store,
    gate: &Semaphore,
    xs: &[u32],
) -> ExecutionId {
    let id = a.execute("wf.items", json!({ "xs": xs })).await.unwrap();
    running_children(a, id, 2).await;
    assert_eq!(b.pause(id).await.unwrap().status, ExecutionStatus::Pausing);
    // `a` takes the pause (journals it) at its next lease renewal.
    until_journaled(store, id, "pause").await;
    gate.add_permits(2);
    wait_until(a, id, "paused", |x| x.status == ExecutionStatus::Paused).await;
    assert_eq!(
        children(a, id).await.len(),
        2,
        "no item started while paused"
    );
    id
}

// Two engines on one store, as two hosts: a pause, a resume and a cancel recorded by the
// engine that does not drive the run reach the one that does (it re-reads the status of its
// runs at each lease renewal). The run holds while paused, then finishes with every item
// once; a run canceled while paused ends canceled and is never resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_recorded_by_another_engine_reach_the_run() {
    let store = Arc::new(MemoryStore::new());
    let gate = Arc::new(Semaphore::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let host = || {
        Engine::builder()
            .store(store.clone())
            .lease(Duration::from_millis(300))
    };
    let a = engine_with(host(), gate.clone(), runs.clone(), Arc::default()).await;
    let b = engine_with(host(), gate.clone(), runs.clone(), Arc::default()).await;
    for e in [&a, &b] {
        e.register_workflow("wf.items", parse(ITEMS, "items.yaml").unwrap())
            .await
            .unwrap();
    }
    let xs: Vec<u32> = (0..6).collect();

    let id = paused_by_the_other_engine(&a, &b, store.as_ref(), &gate, &xs).await;
    gate.add_permits(4);
    assert_eq!(b.resume(id).await.unwrap().status, ExecutionStatus::Running);
    let x = tokio::time::timeout(SAFETY, a.wait(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(x.result.unwrap()["output"]["got"], json!(xs));
    assert_eq!(runs.load(Ordering::SeqCst), 6, "each item ran once");
    assert_eq!(x.attempt, 1, "driven by the same engine throughout");

    let id = paused_by_the_other_engine(&a, &b, store.as_ref(), &gate, &xs).await;
    assert_eq!(
        b.cancel(id).await.unwrap().status,
        ExecutionStatus::Canceling
    );
    let x = tokio::time::timeout(SAFETY, a.wait(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Canceled, "{:?}", x.error);
    assert_eq!(
        children(&a, id).await.len(),
        2,
        "nothing started after the pause"
    );
    let journal = store.read_journal(id).await.unwrap();
    assert!(
        journal.iter().all(|e| kind(e) != "resume"),
        "a run being canceled is not resumed"
    );
}

const SEQUENTIAL: &str = r#"
input: [xs]
tasks:
  each:
    with:
      items: x in {{ ctx('xs') }}
      concurrency: 1
    action: wf.echo message={{ item('x') }}
output:
  - got: '{{ task("each").result.items | map(attribute="result") | list }}'
"#;

/// The `kind` of a journal entry's step.
fn kind(entry: &JournalEntry) -> String {
    let step: Value = serde_json::from_str(&entry.step).unwrap();
    step["kind"].as_str().unwrap_or_default().to_string()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An engine on `store` with `wf.echo` and the sequential with-items workflow.
async fn engine_on(store: Arc<HookedStore>, runs: Arc<AtomicUsize>) -> Engine {
    let e = Engine::builder()
        .store(store)
        .lease(Duration::from_millis(300))
        .sweep_every(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    e.register_fn("wf.echo", move |ctx| {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(ctx.param("message").cloned().unwrap_or(Value::Null))
        }
    })
    .await
    .unwrap();
    e.register_workflow("wf.seq", parse(SEQUENTIAL, "seq.yaml").unwrap())
        .await
        .unwrap();
    e.recover().await.unwrap();
    e
}

// A pause that lands while a round is being journaled: the round made the next item ready,
// and the run paused before creating it. The engine that takes the run over (the first one
// gone) replays that round, and must keep the item for the resume instead of creating it
// while the run is paused.
#[test]
fn a_run_taken_over_paused_creates_nothing_until_resumed() {
    let store = Arc::new(HookedStore::new());
    let runs = Arc::new(AtomicUsize::new(0));

    let first = runtime();
    let (id, first_engine) = first.block_on(async {
        let e = engine_on(store.clone(), runs.clone()).await;
        let mut journal = store.report_journal();
        let id = e.execute("wf.seq", json!({"xs": [1, 2, 3]})).await.unwrap();
        let round = journal.recv().await.unwrap();
        assert_eq!(
            kind(&round.entries[0]),
            "ended",
            "the first round: item 0 ended"
        );
        // The pause arrives while that round's entry is being written.
        e.pause(id).await.unwrap();
        round.done.send(()).unwrap();
        tokio::spawn(async move {
            while let Some(call) = journal.recv().await {
                let _ = call.done.send(());
            }
        });
        wait_until(&e, id, "paused", |x| x.status == ExecutionStatus::Paused).await;
        assert_eq!(children(&e, id).await.len(), 1, "only item 0 was created");
        (id, e)
    });
    // The first engine's process "dies": its tasks go with its runtime, then its handle is
    // dropped where nothing can run any more (no shutdown, nothing recorded, as in a crash).
    drop(first);
    drop(first_engine);

    let second = runtime();
    second.block_on(async {
        let mut journal = store.report_journal();
        let e = engine_on(store.clone(), runs.clone()).await;
        wait_until(&e, id, "taken over", |x| x.attempt > 1).await;
        e.resume(id).await.unwrap();
        // At the moment the resume is journaled, nothing was created while paused.
        let mut before_resume = Vec::new();
        loop {
            let call = tokio::time::timeout(SAFETY, journal.recv())
                .await
                .expect("the resume is journaled")
                .unwrap();
            let k = kind(&call.entries[0]);
            if k == "resume" {
                assert_eq!(
                    children(&e, id).await.len(),
                    1,
                    "nothing created while paused (journaled before the resume: {before_resume:?})"
                );
                call.done.send(()).unwrap();
                break;
            }
            before_resume.push(k);
            call.done.send(()).unwrap();
        }
        // Unhooked: appends still queued return (their answer is dropped with the receiver).
        *store.journal.lock().unwrap() = None;
        drop(journal);
        let x = tokio::time::timeout(SAFETY, e.wait(id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
        assert_eq!(x.result.unwrap()["output"]["got"], json!([1, 2, 3]));
        assert_eq!(children(&e, id).await.len(), 3);
        assert_eq!(runs.load(Ordering::SeqCst), 3, "each item ran once");
        e.shutdown(Duration::from_secs(5)).await;
    });
}
