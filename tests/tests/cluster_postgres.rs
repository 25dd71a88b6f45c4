//! A cluster on PostgreSQL in separate processes: one ingest process (no engine role: it
//! only emits) emits a burst of events while three worker processes (every role) share the
//! work; one worker is killed with SIGKILL in the middle of the burst. Checked: every
//! acknowledged event has one enforcement and one execution, every execution ended
//! (succeeded, or abandoned when the killed worker was running it), no action ran twice for
//! one event, and none ran in the ingest process.
//!
//! Then a workflow run whose process is killed with SIGKILL mid-run continues in another
//! process, from its journal, and succeeds.
//!
//! The processes are this test binary run again (`cluster_child_entry`), told their part by
//! environment variables. Skipped, saying why, when the test server cannot be reached and
//! `ATTUNE_REQUIRE_POSTGRES` is not `1`. No timing assertion: waits are bounded by a guard
//! against hangs only.

use attune_core::model::{EnforcementStatus, EventId, ExecutionStatus, Rule, TriggerType};
use attune_core::store::{EnforcementFilter, ExecutionFilter, Page, Store, StoreExt};
use attune_core::{Engine, Result};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgLeader, PgStore, PgTransport};
use attune_tests::{append_line, lines};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Events the ingest process emits.
const EVENTS: usize = 600;
/// The claim lease of the workers: a killed worker's runs end `abandoned` after it.
const LEASE: Duration = Duration::from_millis(1000);
/// A guard against hangs, not a speed requirement.
const GUARD: Duration = Duration::from_secs(120);

/// An engine of the cluster: on `db` (URL with `schema=`), recording each run of its action
/// in `dir/ran` as `<event> <engine>` (one line per run, written whole even if the process
/// dies).
async fn engine(db: &str, dir: &Path, name: &str) -> Result<Engine> {
    let store = PgStore::builder(db)
        .application_name(format!("attune-test {name}"))
        .open()
        .await?;
    let transport = PgTransport::builder(&store)
        .lease(Duration::from_secs(2))
        .open()
        .await?;
    let mut builder = Engine::builder();
    if name == "ingest" {
        builder = builder.roles([]);
    } else {
        let leader = PgLeader::campaign(&store, "singletons");
        builder = builder.singletons(leader.watch());
    }
    let engine = builder
        .store(Arc::new(store))
        .transport(Arc::new(transport))
        .worker_id(name)
        .lease(LEASE)
        .sweep_every(Duration::from_millis(500))
        .build()
        .await?;
    engine
        .register_trigger_type(TriggerType::new("cluster.tick"))
        .await?;
    let ran = dir.join("ran");
    let me = name.to_string();
    engine
        .register_fn("cluster.record", move |ctx| {
            let (ran, me) = (ran.clone(), me.clone());
            async move {
                let event = ctx.param("event").cloned().unwrap_or(Value::Null);
                append_line(
                    &ran,
                    &format!("{} {me}", event.as_str().unwrap_or_default()),
                )
                .map_err(|e| attune_core::Error::Action(format!("ran file: {e}")))?;
                // Runs are in flight when a worker is killed.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(json!({"recorded": event}))
            }
        })
        .await?;
    engine
        .register_rule(
            Rule::new("cluster.on_tick", "cluster.tick", "cluster.record")
                .param("event", json!("{{ event.id }}")),
        )
        .await?;
    let steps = dir.join("steps");
    let me = name.to_string();
    engine
        .register_fn("cluster.step", move |ctx| {
            let (steps, me) = (steps.clone(), me.clone());
            async move {
                let step = ctx
                    .param("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                append_line(&steps, &format!("{step} {me}"))
                    .map_err(|e| attune_core::Error::Action(format!("steps file: {e}")))?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(json!({"step": step}))
            }
        })
        .await?;
    engine
        .register_workflow(
            "cluster.flow",
            attune_core::workflow::parse(FLOW, "flow.yaml").expect("the workflow parses"),
        )
        .await?;
    Ok(engine)
}

/// Six steps one after the other; the output lists what each returned.
const FLOW: &str = r#"
tasks:
  s1: {action: cluster.step name=s1, next: [{do: s2}]}
  s2: {action: cluster.step name=s2, next: [{do: s3}]}
  s3: {action: cluster.step name=s3, next: [{do: s4}]}
  s4: {action: cluster.step name=s4, next: [{do: s5}]}
  s5: {action: cluster.step name=s5, next: [{do: s6}]}
  s6: {action: cluster.step name=s6}
output:
  - steps: '{{ [task("s1").result.step, task("s2").result.step, task("s3").result.step, task("s4").result.step, task("s5").result.step, task("s6").result.step] }}'
"#;

/// A child process: `ATTUNE_CLUSTER_DB` names the database, `ATTUNE_CLUSTER_DIR` the shared
/// directory, `ATTUNE_CLUSTER_PART` `ingest` or a worker's name. The ingest process emits
/// [`EVENTS`] events, appending each acknowledged id to `dir/acked`, then works like the
/// others; every part works until it is killed. A no-op in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_child_entry() {
    let (Ok(db), Ok(dir), Ok(part)) = (
        std::env::var("ATTUNE_CLUSTER_DB"),
        std::env::var("ATTUNE_CLUSTER_DIR"),
        std::env::var("ATTUNE_CLUSTER_PART"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let engine = engine(&db, &dir, &part).await.expect("child engine");
    append_line(&dir.join("ready"), &part).expect("ready file");
    if part == "ingest" {
        for i in 0..EVENTS {
            let id = engine
                .emit("cluster.tick", json!({"i": i}))
                .await
                .expect("emit");
            append_line(&dir.join("acked"), &id.to_string()).expect("ack file");
        }
    }
    std::future::pending::<()>().await;
}

/// Starts a child process playing `part`.
fn spawn(part: &str, db: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([
            "--exact",
            "cluster_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ATTUNE_CLUSTER_DB", db)
        .env("ATTUNE_CLUSTER_DIR", dir)
        .env("ATTUNE_CLUSTER_PART", part)
        .env("ATTUNE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start a child process")
}

/// Kills the children left when the test ends, however it ends.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `done` says so, failing with `what` after [`GUARD`].
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + GUARD;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_worker_mid_burst_loses_nothing_and_runs_nothing_twice() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let db = pg.schema_url();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Children(Vec::new());
    for w in ["w1", "w2", "w3"] {
        children.0.push(spawn(w, &db, dir.path()));
    }
    // Every engine matches against the definitions it read at its start and registered
    // itself: the burst begins once all have them.
    let ready_file = dir.path().join("ready");
    until("the workers are ready", || {
        let n = lines(&ready_file).len();
        async move { n >= 3 }
    })
    .await;
    children.0.push(spawn("ingest", &db, dir.path()));
    let acked_file = dir.path().join("acked");

    // Once it has taken part in the burst, the first worker is killed.
    let ran_file = dir.path().join("ran");
    until("the first worker ran 10 actions", || {
        let n = lines(&ran_file)
            .iter()
            .filter(|l| l.ends_with(" w1"))
            .count();
        async move { n >= 10 }
    })
    .await;
    let acked_at_kill = lines(&acked_file).len();
    children.0[0].kill().expect("SIGKILL w1");
    children.0[0].wait().expect("reap w1");
    until("every event acknowledged", || {
        let n = lines(&acked_file).len();
        async move { n >= EVENTS }
    })
    .await;

    // The survivors finish everything: the killed worker's runs end once its lease expired.
    let store: &PgStore = pg.store();
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let enforced = store
            .count_enforcements(&EnforcementFilter::new())
            .await
            .unwrap();
        let open = store
            .list_executions(
                &ExecutionFilter::new().with_status(
                    ExecutionStatus::ALL
                        .into_iter()
                        .filter(|s| !s.is_terminal()),
                ),
                &Page::first(20),
            )
            .await
            .unwrap();
        if enforced >= EVENTS as u64 && open.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let unmatched = store
                .count_events(&attune_core::store::EventFilter::new().unmatched_only())
                .await
                .unwrap();
            let queued = PgTransport::open(store)
                .await
                .unwrap()
                .depth()
                .await
                .unwrap();
            let open: Vec<String> = open
                .iter()
                .map(|x| {
                    format!(
                        "{} {:?} worker {:?} lease {:?}",
                        x.id, x.status, x.worker, x.lease_expires
                    )
                })
                .collect();
            panic!(
                "not every execution ended: {enforced} enforcements, {unmatched} events \
                 unmatched, queued {queued:?}, open executions: {open:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let acked = lines(&acked_file);
    assert_eq!(acked.len(), EVENTS);
    for id in &acked {
        let id = EventId(id.parse().expect("an event id"));
        store
            .get_event(id)
            .await
            .unwrap_or_else(|e| panic!("acknowledged event {id} lost: {e}"));
        let enfs = store
            .list_enforcements(&EnforcementFilter::new().event(id), &Page::first(10))
            .await
            .unwrap();
        assert_eq!(enfs.len(), 1, "event {id} has {} enforcements", enfs.len());
        assert_eq!(
            enfs[0].status,
            EnforcementStatus::Processed,
            "{:?}",
            enfs[0]
        );
    }
    let mut per_enforcement: HashMap<String, u32> = HashMap::new();
    let mut abandoned = 0;
    store
        .each_execution(&ExecutionFilter::default(), &mut |x| {
            assert!(
                matches!(
                    x.status,
                    ExecutionStatus::Succeeded | ExecutionStatus::Abandoned
                ),
                "execution {} ended {:?}: {:?}",
                x.id,
                x.status,
                x.error
            );
            if x.status == ExecutionStatus::Abandoned {
                abandoned += 1;
                assert_eq!(x.worker, None, "an ended execution holds no claim");
            }
            *per_enforcement
                .entry(format!("{:?}", x.enforcement))
                .or_default() += 1;
        })
        .await
        .unwrap();
    assert_eq!(
        per_enforcement.len(),
        EVENTS,
        "one execution per enforcement"
    );
    assert!(
        per_enforcement.values().all(|n| *n == 1),
        "an enforcement has several executions"
    );
    let mut runs: HashMap<String, u32> = HashMap::new();
    for l in lines(&ran_file) {
        let event = l.split(' ').next().unwrap_or_default().to_string();
        *runs.entry(event).or_default() += 1;
    }
    if let Some((event, n)) = runs.iter().find(|(_, n)| **n > 1) {
        panic!("the action ran {n} times for event {event}");
    }
    let in_ingest = lines(&ran_file)
        .into_iter()
        .filter(|l| l.ends_with(" ingest"))
        .count();
    assert_eq!(in_ingest, 0, "the ingest process has no work role");
    eprintln!(
        "cluster: {EVENTS} events ({acked_at_kill} acknowledged when w1 was killed), {} runs \
         recorded, {abandoned} abandoned with the killed worker",
        runs.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_whose_process_is_killed_continues_in_another() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let db = pg.schema_url();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Children(vec![spawn("w1", &db, dir.path())]);
    let ready_file = dir.path().join("ready");
    until("w1 is ready", || {
        let n = lines(&ready_file).len();
        async move { n >= 1 }
    })
    .await;
    // This process only starts the run (no engine role): w1 drives it and runs its steps.
    let front = engine(&db, dir.path(), "ingest")
        .await
        .expect("front engine");
    let id = front
        .execute("cluster.flow", json!({}))
        .await
        .expect("execute the workflow");
    let steps_file = dir.path().join("steps");
    until("w1 ran two steps", || {
        let n = lines(&steps_file).len();
        async move { n >= 2 }
    })
    .await;
    children.0[0].kill().expect("SIGKILL w1");
    children.0[0].wait().expect("reap w1");
    let ran_before = lines(&steps_file).len();
    children.0.push(spawn("w2", &db, dir.path()));

    let store: &PgStore = pg.store();
    let deadline = tokio::time::Instant::now() + GUARD;
    let x = loop {
        let x = store
            .get_execution(id)
            .await
            .expect("the workflow execution");
        if x.status.is_terminal() {
            break x;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the workflow never ended: {x:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:?}");
    assert_eq!(
        x.result.as_ref().map(|r| r["output"]["steps"].clone()),
        Some(json!(["s1", "s2", "s3", "s4", "s5", "s6"])),
        "{x:?}"
    );
    let ran = lines(&steps_file);
    let after: Vec<&String> = ran[ran_before..].iter().collect();
    assert!(
        !after.is_empty() && after.iter().all(|l| l.ends_with(" w2")),
        "every step after the kill ran in w2: {ran:?}"
    );
    for step in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        let n = ran
            .iter()
            .filter(|l| l.starts_with(&format!("{step} ")))
            .count();
        // Twice only for the step the kill cut (its execution abandoned, run again).
        assert!((1..=2).contains(&n), "step {step} ran {n} times: {ran:?}");
    }
    let twice = ["s1", "s2", "s3", "s4", "s5", "s6"]
        .iter()
        .filter(|s| {
            ran.iter()
                .filter(|l| l.starts_with(&format!("{s} ")))
                .count()
                == 2
        })
        .count();
    assert!(twice <= 1, "only the cut step runs twice: {ran:?}");
    front.shutdown(Duration::from_secs(5)).await;
}
