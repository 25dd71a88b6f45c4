//! `attune-bench <scenario|all>`: end-to-end benchmarks; one JSON object per line per
//! scenario: `{"scenario", "ops", "secs", "ops_per_sec", "p50_us", "p99_us", "peak_rss_mb", ...}`.
//!
//! `all` runs each scenario in its own child process so that peak RSS is per scenario.
//! `peers` compares Attune with apalis in one run (`scenarios/peers.rs`).

// In a folder of its own: a file directly in src/bin would be a binary.
#[path = "scenarios/chart.rs"]
mod chart;
#[path = "scenarios/events_in.rs"]
mod events_in;
#[path = "scenarios/host.rs"]
mod host;
#[path = "scenarios/peers.rs"]
mod peers;
#[path = "scenarios/postgres.rs"]
mod postgres;

use attune_benches::{many_rules_engine, match_payload, peak_rss_mb, pipeline_engine};
use attune_core::model::ExecutionStatus;
use attune_core::store::{EventFilter, ExecutionFilter, StoreExt};
use attune_core::{Engine, Retention};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SCENARIOS: &[&str] = &[
    "pipeline_memory_native",
    "pipeline_memory_latency",
    "host_emitters",
    "rule_match_10k_rules",
    "pipeline_memory_1m_retention",
    "shell_echo",
    "python_oneshot",
    "python_persistent",
    "python_persistent_st2",
    "pipeline_sqlite_native",
    "pipeline_sqlite_native_full",
    "pipeline_sqlite_native_backlog",
    "workflow_with_items",
    "workflow_chain_100",
    "conductor_with_items",
    "conductor_chain_100",
    "pack_load_3000",
    "fifo_concurrency_1",
    "fifo_concurrency_1_sqlite",
    "policy_overhead",
    "kv_render",
    "timers_10k",
    "sensor_ingest",
    "sensor_ingest_sqlite",
    "sensor_ingest_sqlite_runs",
    "pipeline_postgres_native",
    "execute_postgres_noop",
    "pipeline_postgres_latency",
    "pipeline_postgres_backlog",
];

/// The whole number of at least 1 at `args[at]`, `default` when absent; exits 2 naming
/// `what` when it is not one.
fn positive_arg(args: &[String], at: usize, default: u64, what: &str) -> u64 {
    match args.get(at).map(|s| s.parse::<u64>()) {
        None => default,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            eprintln!("{what}: a whole number of at least 1");
            std::process::exit(2);
        }
    }
}

/// Takes `--alloc LIST` out of `args`: the allocators to run each scenario on, one child
/// process each; `None` when absent (this process runs, on the allocator it has).
fn take_alloc_list(args: &mut Vec<String>) -> Option<Vec<&'static str>> {
    let at = args.iter().position(|a| a == "--alloc")?;
    let Some(list) = args.get(at + 1).cloned() else {
        eprintln!("--alloc: give a list, such as system,jemalloc,mimalloc (or all)");
        std::process::exit(2);
    };
    args.drain(at..at + 2);
    match attune_benches::alloc::parse_list(&list) {
        Ok(names) => Some(names),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

/// Runs this harness again with `args` on `allocator`; exits when the child failed.
fn run_child(args: &[String], allocator: &str) {
    let exe = std::env::current_exe().expect("own path");
    let status = std::process::Command::new(&exe)
        .args(args)
        .env(attune_benches::alloc::VAR, allocator)
        .status()
        .expect("child bench");
    if !status.success() {
        eprintln!("{} on {allocator} failed: {status}", args.join(" "));
        std::process::exit(1);
    }
}

fn main() {
    if let Err(e) = attune_benches::alloc::check() {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let allocators = take_alloc_list(&mut args);
    let Some(which) = args.first().cloned() else {
        eprintln!(
            "usage: attune-bench <{}|all> [ops] [processes (the *_postgres_* scenarios)] \
             [offered events/s (pipeline_postgres_latency; default 3500)] \
             [--alloc system,jemalloc,mimalloc|all]\n   or: attune-bench peers [--backlogs LIST] \
             [--sample N] [--budget SECS] [--peer-bin PATH] [--chart FILE.svg]",
            SCENARIOS.join("|")
        );
        std::process::exit(2);
    };
    if which == "peers" {
        peers::run(&args[1..]);
        return;
    }
    if which != "all"
        && let Some(allocators) = allocators
    {
        for a in allocators {
            run_child(&args, a);
        }
        return;
    }
    // The hidden line of `peers` takes arguments of its own.
    let peer_args = (which == peers::ONE).then(|| args[1..].to_vec());
    let ops: Option<u64> = args.get(1).and_then(|s| s.parse().ok());
    let (processes, rate) = match peer_args {
        Some(_) => (1, 1),
        None => (
            positive_arg(&args, 2, 1, "processes") as usize,
            positive_arg(&args, 3, 3_500, "offered events/s"),
        ),
    };
    if which == "all" {
        // Each scenario in a process of its own: peak RSS is per scenario.
        let allocators = allocators.unwrap_or_else(|| vec![attune_benches::alloc::name()]);
        for s in SCENARIOS {
            for a in &allocators {
                run_child(&[s.to_string()], a);
            }
        }
        return;
    }
    if which == "pipeline_sqlite_native_backlog" && ops.is_none() {
        // A line per backlog, each in a process of its own: the rate must stay flat.
        for backlog in BACKLOGS {
            run_child(
                &[which.clone(), backlog.to_string()],
                attune_benches::alloc::name(),
            );
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let which2 = which.clone();
    let worker_url = args.get(1).cloned();
    // The scenario runs as a task on the two workers, not on the main thread: a third busy
    // thread on a 2-core machine would measure context switches, not the engine.
    let line = rt.block_on(async move {
        let task = tokio::spawn(async move {
            match which2.as_str() {
                "pipeline_memory_native" => pipeline_throughput(ops.unwrap_or(300_000)).await,
                "pipeline_memory_latency" => pipeline_latency(ops.unwrap_or(30_000), 10_000).await,
                "host_emitters" => {
                    let n = ops.unwrap_or(200_000);
                    host::host_emitters(n, 3)
                        .await
                        .map(|(secs, extra)| report("host_emitters", n, secs, None, None, extra))
                }
                "rule_match_10k_rules" => rule_match(ops.unwrap_or(1_000_000)).await,
                "pipeline_memory_1m_retention" => retention(ops.unwrap_or(1_000_000)).await,
                "shell_echo" => shell_echo(ops.unwrap_or(4_000)).await,
                "python_oneshot" => python_oneshot(ops.unwrap_or(1_000)).await,
                "python_persistent" => {
                    python_persistent(ops.unwrap_or(20_000), "python_persistent", "bench.noop")
                        .await
                }
                "python_persistent_st2" => {
                    python_persistent(
                        ops.unwrap_or(20_000),
                        "python_persistent_st2",
                        "bench.st2noop",
                    )
                    .await
                }
                "pipeline_sqlite_native" => {
                    pipeline_sqlite(
                        ops.unwrap_or(200_000),
                        attune_store_sqlite::Synchronous::Normal,
                    )
                    .await
                }
                "pipeline_sqlite_native_full" => {
                    pipeline_sqlite(
                        ops.unwrap_or(100_000),
                        attune_store_sqlite::Synchronous::Full,
                    )
                    .await
                }
                "workflow_with_items" => workflow_with_items().await,
                "workflow_chain_100" => workflow_chain(ops.unwrap_or(20)).await,
                "conductor_with_items" => Ok(conductor_with_items()),
                "conductor_chain_100" => Ok(conductor_chain(ops.unwrap_or(1_000))),
                "pack_load_3000" => pack_load(ops.unwrap_or(3_000)).await,
                "fifo_concurrency_1" => fifo_concurrency(ops.unwrap_or(10_000), false).await,
                "fifo_concurrency_1_sqlite" => fifo_concurrency(ops.unwrap_or(10_000), true).await,
                "policy_overhead" => policy_overhead(ops.unwrap_or(200_000)).await,
                "kv_render" => kv_render(ops.unwrap_or(300_000)).await,
                "timers_10k" => events_in::timers_10k(ops.unwrap_or(10_000)).await,
                "sensor_ingest" => {
                    events_in::sensor_ingest(ops.unwrap_or(300_000), false, true).await
                }
                "sensor_ingest_sqlite" => {
                    events_in::sensor_ingest(ops.unwrap_or(200_000), true, false).await
                }
                "sensor_ingest_sqlite_runs" => {
                    events_in::sensor_ingest(ops.unwrap_or(200_000), true, true).await
                }
                "pipeline_postgres_native" => {
                    postgres::pipeline_postgres_native(ops.unwrap_or(50_000), processes).await
                }
                "execute_postgres_noop" => {
                    postgres::execute_postgres_noop(ops.unwrap_or(50_000), processes).await
                }
                "pipeline_postgres_latency" => {
                    postgres::pipeline_postgres_latency(ops.unwrap_or(20_000), rate, processes)
                        .await
                }
                "pipeline_postgres_backlog" => {
                    postgres::pipeline_postgres_backlog(ops.unwrap_or(100_000), processes).await
                }
                // A worker process of the scenarios above (not a scenario).
                postgres::WORKER => postgres::worker(worker_url).await,
                // One line of `peers` (not a scenario).
                peers::ONE => peers::one(&peer_args.unwrap_or_default()).await,
                "pipeline_sqlite_native_backlog" => {
                    pipeline_sqlite_backlog(ops.unwrap_or(100_000)).await
                }
                other => {
                    eprintln!(
                        "unknown scenario '{other}' (have: {})",
                        SCENARIOS.join(", ")
                    );
                    std::process::exit(2);
                }
            }
        });
        task.await
            .unwrap_or_else(|e| Err(attune_core::Error::Action(e.to_string())))
    });
    match line {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("{which}: {e}");
            std::process::exit(1);
        }
    }
}

fn report(
    scenario: &str,
    ops: u64,
    secs: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    extra: Value,
) -> Value {
    let mut v = json!({
        "scenario": scenario,
        "ops": ops,
        "secs": (secs * 1000.0).round() / 1000.0,
        "ops_per_sec": (ops as f64 / secs).round(),
        "p50_us": p50.map(|x| (x * 10.0).round() / 10.0),
        "p99_us": p99.map(|x| (x * 10.0).round() / 10.0),
        "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
        "allocator": attune_benches::alloc::name(),
    });
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    v
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied()
}

/// The backlogs `pipeline_sqlite_native_backlog` measures when given none.
const BACKLOGS: [u64; 3] = [1_000, 100_000, 1_000_000];

/// Concurrent producers in the durable (SQLite, PostgreSQL) scenarios.
const EMITTERS: u64 = 256;

/// Emits `n` ticks of the pipeline engine from [`EMITTERS`] concurrent producers, as a
/// server's webhook handlers or sensors do (each `emit` returns once its event is committed,
/// and concurrent emits share commits), and waits until all they caused ended; the seconds
/// that took.
async fn emit_concurrently(engine: &std::sync::Arc<Engine>, n: u64) -> attune_core::Result<f64> {
    let start = Instant::now();
    produce(engine, n, |engine, i| async move {
        engine
            .emit("bench.tick", json!({"kind": "tick", "n": i}))
            .await
            .map(|_| ())
    })
    .await?;
    engine.settle(Duration::from_secs(1200)).await?;
    Ok(start.elapsed().as_secs_f64())
}

/// The pipeline workload on a SQLite file (WAL, `sync`): events emitted by [`EMITTERS`]
/// concurrent producers as fast as the engine takes them. p50/p99: event created → execution finished, from the stored rows
/// (the transport's bounded queues cap how many wait). Also bytes on disk per execution
/// (database + WAL after the run, all records kept).
async fn pipeline_sqlite(
    n: u64,
    sync: attune_store_sqlite::Synchronous,
) -> attune_core::Result<Value> {
    let dir = tempfile::tempdir().map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let path = dir.path().join("bench.db");
    let store = attune_store_sqlite::SqliteStore::builder()
        .path(&path)
        .synchronous(sync)
        .build()?;
    let engine = pipeline_engine(Engine::builder().store(std::sync::Arc::new(store))).await?;
    let engine = std::sync::Arc::new(engine);
    let secs = emit_concurrently(&engine, n).await?;
    // When each event was created.
    let mut created = HashMap::with_capacity(n as usize);
    engine
        .store()
        .each_event(&EventFilter::default(), &mut |e| {
            created.insert(e.id, e.created);
        })
        .await?;
    let mut latencies = Vec::with_capacity(n as usize);
    let mut succeeded = 0u64;
    engine
        .store()
        .each_execution(&ExecutionFilter::default(), &mut |e| {
            if e.status == ExecutionStatus::Succeeded {
                succeeded += 1;
            }
            if let (Some(f), Some(c)) = (e.finished, e.event.and_then(|ev| created.get(&ev))) {
                latencies.push((f - *c).num_microseconds().unwrap_or(0) as f64);
            }
        })
        .await?;
    engine.shutdown(Duration::from_secs(10)).await;
    let bytes: u64 = ["bench.db", "bench.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    if succeeded != n {
        return Err(attune_core::Error::Action(format!(
            "{succeeded} of {n} executions succeeded"
        )));
    }
    latencies.sort_by(f64::total_cmp);
    let name = match sync {
        attune_store_sqlite::Synchronous::Full => "pipeline_sqlite_native_full",
        _ => "pipeline_sqlite_native",
    };
    Ok(report(
        name,
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "synchronous": format!("{sync:?}"),
            "latency": "event created → execution finished (events emitted as fast as accepted)",
            "emitters": EMITTERS,
            "bytes_on_disk": bytes,
            "bytes_per_execution": (bytes as f64 / n as f64).round(),
        }),
    ))
}

/// [`EMITTERS`] concurrent producers each calling `work(on, i)` for their share of `i` in
/// `0..n`; the first error, if any, once all ended.
async fn produce<C, F, Fut>(on: &C, n: u64, work: F) -> attune_core::Result<()>
where
    C: Clone + Send + 'static,
    F: Fn(C, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = attune_core::Result<()>> + Send,
{
    let producers: Vec<_> = (0..EMITTERS)
        .map(|p| {
            let (on, work) = (on.clone(), work.clone());
            tokio::spawn(async move {
                let mut i = p;
                while i < n {
                    work(on.clone(), i).await?;
                    i += EMITTERS;
                }
                Ok::<(), attune_core::Error>(())
            })
        })
        .collect();
    for p in producers {
        p.await
            .map_err(|e| attune_core::Error::Action(e.to_string()))??;
    }
    Ok(())
}

/// Stores `n` executions of the native `action` (params `{"n": i}`) as `requested`, as
/// `Engine::execute` writes them, from [`EMITTERS`] concurrent writers (a durable store
/// shares their commits); the seconds that took.
async fn store_requested(
    store: std::sync::Arc<dyn attune_core::store::Store>,
    action: &'static str,
    n: u64,
) -> attune_core::Result<f64> {
    let filled = Instant::now();
    produce(&store, n, move |store, i| async move {
        let x = attune_core::model::Execution::new(
            action,
            "native",
            json!({"n": i}),
            chrono::Utc::now(),
        );
        store.insert_execution(&x).await
    })
    .await?;
    Ok(filled.elapsed().as_secs_f64())
}

/// The backlog workload: `n` executions of the no-op action stored `requested`
/// before any worker starts, then an engine on the file resumes them; `ops_per_sec` is how
/// fast the backlog drains (from `recover` until every execution succeeded). Throughput must
/// not fall with the backlog.
async fn pipeline_sqlite_backlog(n: u64) -> attune_core::Result<Value> {
    let dir = tempfile::tempdir().map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let store = std::sync::Arc::new(
        attune_store_sqlite::SqliteStore::builder()
            .path(dir.path().join("backlog.db"))
            .synchronous(attune_store_sqlite::Synchronous::Normal)
            .build()?,
    );
    let fill_secs = store_requested(store.clone(), "bench.noop", n).await?;
    let engine = pipeline_engine(Engine::builder().store(store.clone())).await?;
    let start = Instant::now();
    engine.recover().await?;
    // Everything `recover` handed on, to the end (no polling: its period would be the
    // measure at small backlogs).
    engine.settle(Duration::from_secs(1200)).await?;
    let secs = start.elapsed().as_secs_f64();
    all_succeeded(&engine, n).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    Ok(report(
        "pipeline_sqlite_native_backlog",
        n,
        secs,
        None,
        None,
        json!({
            "synchronous": "Normal",
            "backlog": n,
            "fill_secs": (fill_secs * 1000.0).round() / 1000.0,
            "measured": "engine.recover() until settled (every stored execution succeeded)",
        }),
    ))
}

/// An engine (memory store) with the native no-op `bench.noop` and the workflows of the
/// workflow scenarios.
async fn workflow_engine() -> attune_core::Result<Engine> {
    use attune_core::workflow::{Task, Transition, Workflow, parse};
    let engine = pipeline_engine(Engine::builder()).await?;
    let items = "input: [xs]\ntasks:\n  t:\n    with:\n      items: '{{ ctx(\"xs\") }}'\n      concurrency: 100\n    action: bench.noop n={{ item() }}\n";
    engine
        .register_workflow(
            "bench.items",
            parse(items, "items.yaml").map_err(|e| attune_core::Error::Action(e.to_string()))?,
        )
        .await?;
    let mut chain = Workflow::new();
    for i in 0..100 {
        let mut t = Task::new(format!("t{i}")).action("bench.noop");
        if i < 99 {
            t = t.next(Transition::on_success().to(format!("t{}", i + 1)));
        }
        chain = chain.task(t);
    }
    engine.register_workflow("bench.chain", chain).await?;
    Ok(engine)
}

/// `workflow_with_items`: a workflow whose one task runs a native no-op over
/// 1,000 / 10,000 / 100,000 items with concurrency 100, through the whole engine (memory
/// store; every item an execution). A line per size with `us_per_item` and `peak_rss_mb`
/// (of the process so far), then a summary with `growth` = µs per item at 100k ÷ at 1k.
async fn workflow_with_items() -> attune_core::Result<Value> {
    let engine = workflow_engine().await?;
    let mut per_item = Vec::new();
    let mut rss = Vec::new();
    for n in [1_000u64, 10_000, 100_000] {
        let xs: Vec<u64> = (0..n).collect();
        let start = Instant::now();
        let x = engine.run("bench.items", json!({ "xs": xs })).await?;
        let secs = start.elapsed().as_secs_f64();
        if x.status != ExecutionStatus::Succeeded {
            return Err(attune_core::Error::Action(format!(
                "workflow ended {}: {:?}",
                x.status, x.error
            )));
        }
        let us = secs * 1e6 / n as f64;
        per_item.push(us);
        rss.push(peak_rss_mb());
        println!(
            "{}",
            report(
                &format!("workflow_with_items_{n}"),
                n,
                secs,
                None,
                None,
                json!({"us_per_item": (us * 1000.0).round() / 1000.0, "concurrency": 100,
                       "store": "memory", "retention": "forever (every item execution kept)"}),
            )
        );
    }
    Ok(json!({
        "scenario": "workflow_with_items",
        "growth": ((per_item[2] / per_item[0]) * 100.0).round() / 100.0,
        "us_per_item": per_item.iter().map(|u| (u * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        "peak_rss_mb": rss.iter().map(|r| (r * 10.0).round() / 10.0).collect::<Vec<_>>(),
        "allocator": attune_benches::alloc::name(),
    }))
}

/// `pack_load_3000`: reading, checking and installing one pack of 3,000 action files (the
/// size of the largest StackStorm-Exchange packs) into an engine with the Python runtime's
/// name registered; median of 5 loads (each replaces the previous version).
async fn pack_load(actions: u64) -> attune_core::Result<Value> {
    let dir = tempfile::tempdir().map_err(|e| attune_core::Error::Action(e.to_string()))?;
    attune_benches::write_large_pack(dir.path(), actions as usize)
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let engine = attune_core::Engine::builder()
        .runtime(std::sync::Arc::new(NamedNoop("python")))
        .build()
        .await?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        engine.load_pack(dir.path()).await?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(report(
        "pack_load_3000",
        actions,
        median,
        None,
        None,
        json!({"ms_per_load": (median * 1e4).round() / 10.0, "loads": times.len(),
               "rules": actions.div_ceil(100), "target_ms": 2000}),
    ))
}

/// A runtime that only has a name (pack loading checks runner names, nothing runs).
#[derive(Debug)]
struct NamedNoop(&'static str);

#[async_trait::async_trait]
impl attune_core::runtime::Runtime for NamedNoop {
    fn name(&self) -> &str {
        self.0
    }
    async fn run(
        &self,
        _req: attune_core::runtime::RunRequest,
    ) -> attune_core::Result<attune_core::runtime::RunOutput> {
        Ok(attune_core::runtime::RunOutput::success(Value::Null))
    }
}

/// `workflow_chain_100`: a 100-task sequential chain of native no-ops through the whole
/// engine (memory store), `runs` times one after the other; `us_per_task`.
async fn workflow_chain(runs: u64) -> attune_core::Result<Value> {
    let engine = workflow_engine().await?;
    let start = Instant::now();
    for _ in 0..runs {
        let x = engine.run("bench.chain", json!({})).await?;
        if x.status != ExecutionStatus::Succeeded {
            return Err(attune_core::Error::Action(format!(
                "workflow ended {}: {:?}",
                x.status, x.error
            )));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let tasks = runs * 100;
    Ok(report(
        "workflow_chain_100",
        tasks,
        secs,
        None,
        None,
        json!({"us_per_task": ((secs * 1e6 / tasks as f64) * 100.0).round() / 100.0, "runs": runs,
               "store": "memory", "measured": "each task an execution, one after the other"}),
    ))
}

/// The workflow conductor alone (no engine, no store, no action runs): a with-items task of
/// N items with concurrency 100, items completed as they start. One line per size, then a
/// summary with `growth` = µs per item at the largest size ÷ at the smallest. The engine
/// scenario `workflow_with_items` comes with the engine integration.
fn conductor_with_items() -> Value {
    use attune_core::workflow::{Conductor, Plan, RunStatus, parse};
    let text = "tasks:\n  t:\n    with:\n      items: '{{ ctx(\"xs\") }}'\n      concurrency: 100\n    action: bench.noop n={{ item() }}\n";
    let mut lines = Vec::new();
    let mut per_item = Vec::new();
    for n in [1_000u64, 10_000, 100_000] {
        let plan = Plan::new(parse(text, "bench.yaml").expect("workflow")).expect("plan");
        let mut input = serde_json::Map::new();
        input.insert("xs".into(), Value::from((0..n).collect::<Vec<u64>>()));
        let start = Instant::now();
        let mut c = Conductor::start(plan, input);
        let mut next = 0usize;
        let mut run = c.start_task("t", 0).expect("start");
        while c.status() == RunStatus::Running {
            for _ in 0..run.params.len() {
                c.finish_item("t", 0, next, RunStatus::Succeeded, Some(Value::Null))
                    .expect("item");
                next += 1;
            }
            if c.status() != RunStatus::Running {
                break;
            }
            run = c.start_task("t", 0).expect("more items");
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(next as u64, n, "every item ran");
        let us = secs * 1e6 / n as f64;
        per_item.push(us);
        lines.push(report(
            &format!("conductor_with_items_{n}"),
            n,
            secs,
            None,
            None,
            json!({"us_per_item": (us * 1000.0).round() / 1000.0, "concurrency": 100,
                   "measured": "conductor only: start items, finish items, render each item's params"}),
        ));
    }
    let growth = per_item[2] / per_item[0];
    for l in &lines {
        println!("{l}");
    }
    json!({"scenario": "conductor_with_items", "growth": (growth * 100.0).round() / 100.0,
           "us_per_item": per_item, "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0})
}

/// The workflow conductor alone: a 100-task sequential chain (each task publishes nothing,
/// transitions on `succeeded()`), `runs` times; `us_per_task`.
fn conductor_chain(runs: u64) -> Value {
    use attune_core::workflow::{Conductor, Plan, RunStatus, Task, Transition, Workflow};
    let mut wf = Workflow::new();
    for i in 0..100 {
        let mut t = Task::new(format!("t{i}")).action("bench.noop");
        if i < 99 {
            t = t.next(Transition::on_success().to(format!("t{}", i + 1)));
        }
        wf = wf.task(t);
    }
    let plan = Plan::new(wf).expect("plan");
    let start = Instant::now();
    for _ in 0..runs {
        let mut c = Conductor::start(plan.clone(), serde_json::Map::new());
        while let Some((task, route)) = c.next_tasks().into_iter().next() {
            c.start_task(&task, route).expect("start");
            c.finish_task(&task, route, RunStatus::Succeeded, None)
                .expect("finish");
        }
        assert_eq!(c.status(), RunStatus::Succeeded);
    }
    let secs = start.elapsed().as_secs_f64();
    let tasks = runs * 100;
    report(
        "conductor_chain_100",
        tasks,
        secs,
        None,
        None,
        json!({"us_per_task": ((secs * 1e6 / tasks as f64) * 1000.0).round() / 1000.0, "runs": runs,
               "measured": "conductor only: next_tasks, start, finish with one transition evaluated"}),
    )
}

/// Spawns `/bin/sh -c 'echo x'` from `threads` plain threads, `n` times in all, waiting for
/// each output: the raw rate the shell runtime is measured against.
fn raw_spawn_rate(n: u64, threads: u64) -> f64 {
    raw_start_rate("/bin/sh", &["-c", "echo x"], b"x\n", n, threads)
}

/// Starts of `program args` per second on `threads` threads (`n` in all), each checked to
/// print `expect`.
fn raw_start_rate(
    program: &str,
    args: &'static [&'static str],
    expect: &'static [u8],
    n: u64,
    threads: u64,
) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let program = program.to_string();
            std::thread::spawn(move || {
                for _ in 0..n / threads {
                    let out = std::process::Command::new(&program)
                        .args(args)
                        .output()
                        .expect("spawn");
                    assert_eq!(out.stdout, expect);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("spawner thread");
    }
    (n / threads * threads) as f64 / start.elapsed().as_secs_f64()
}

/// A pack `bench` with the Python action `bench.noop` (`run(n)` returning `{"n": n}`), in
/// a temporary directory.
fn python_bench_pack() -> attune_core::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir().map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let pack = dir.path().join("bench");
    std::fs::create_dir_all(pack.join("actions"))
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let files = [
        ("pack.yaml", "ref: bench\nversion: 0.1.0\n"),
        (
            "actions/noop.yaml",
            "name: noop\nrunner_type: python-script\nentry_point: noop.py\nparameters:\n  n:\n    type: integer\n",
        ),
        ("actions/noop.py", "def run(n):\n    return {'n': n}\n"),
        (
            "actions/st2noop.yaml",
            "name: st2noop\nrunner_type: python-script\nentry_point: st2noop.py\nparameters:\n  n:\n    type: integer\n",
        ),
        (
            "actions/st2noop.py",
            "from st2common.runners.base_action import Action\n\n\nclass Noop(Action):\n    def run(self, n):\n        return {'n': n}\n",
        ),
    ];
    for (f, text) in files {
        std::fs::write(pack.join(f), text)
            .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    }
    Ok((dir, pack))
}

/// `n` executions of the trivial Python action `action` (a `run` function, or a StackStorm
/// `Action` class) through the whole pipeline on warm interpreters (persistent mode, 4
/// slots: up to 4 workers), reported as `scenario`. p50/p99: created → finished (all
/// requested at once: queueing included).
async fn python_persistent(n: u64, scenario: &str, action: &str) -> attune_core::Result<Value> {
    use attune_runtime_python::{Mode, PythonConfig, PythonRuntime};
    let (dir, pack) = python_bench_pack()?;
    let runtime = std::sync::Arc::new(PythonRuntime::new(PythonConfig {
        slots: 4,
        mode: Mode::Persistent,
        recycle_after: 100_000,
        env_dir: dir.path().join("env"),
        ..PythonConfig::default()
    }));
    let engine = Engine::builder().runtime(runtime.clone()).build().await?;
    engine.load_pack(&pack).await?;
    // Warm up: the workers start, the action's code is compiled.
    for i in 0..8 {
        engine.execute(action, json!({"n": i})).await?;
    }
    engine.settle(Duration::from_secs(60)).await?;
    let warm = engine.store().count_executions(&Default::default()).await?;
    let start = Instant::now();
    for i in 0..n {
        engine.execute(action, json!({"n": i})).await?;
    }
    engine.settle(Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    let (latencies, runs, succeeded) = execution_latencies(&engine, |e| {
        e.result.as_ref().is_some_and(|r| r["result"]["n"].is_u64())
    })
    .await?;
    engine.shutdown(Duration::from_secs(5)).await;
    if succeeded != n + warm {
        return Err(attune_core::Error::Action(format!(
            "{succeeded} of {} Python executions succeeded",
            n + warm
        )));
    }
    Ok(report(
        scenario,
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "slots": 4,
            "workers_started": runtime.workers_started(),
            "latency": "created → finished, all requested at once (queueing included)",
            "run_p50_us": percentile(&runs, 0.5).map(|x| x.round()),
            "run_p99_us": percentile(&runs, 0.99).map(|x| x.round()),
        }),
    ))
}

/// `n` executions of a trivial Python action (`run()` returning a dict) through the whole
/// pipeline, one interpreter each, 4 slots; beside it, raw starts of the same interpreter
/// with the same flags (`-S -E -B -c pass`) on 4 threads, before and after (the mean
/// reported). p50/p99: created → finished (all requested at once: queueing included).
async fn python_oneshot(n: u64) -> attune_core::Result<Value> {
    use attune_runtime_python::{PythonConfig, PythonRuntime};
    let (dir, pack) = python_bench_pack()?;
    let runtime = PythonRuntime::new(PythonConfig {
        slots: 4,
        env_dir: dir.path().join("env"),
        ..PythonConfig::default()
    });
    let python = runtime.interpreter().await?.clone();
    let program = python.path.display().to_string();
    let raw = |program: String| {
        tokio::task::spawn_blocking(move || {
            raw_start_rate(
                &program,
                &["-S", "-E", "-B", "-c", "pass"],
                b"",
                n.min(1_000),
                4,
            )
        })
    };
    let raw_before = raw(program.clone())
        .await
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let engine = Engine::builder()
        .runtime(std::sync::Arc::new(runtime))
        .build()
        .await?;
    engine.load_pack(&pack).await?;
    let start = Instant::now();
    for i in 0..n {
        engine.execute("bench.noop", json!({"n": i})).await?;
    }
    engine.settle(Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    let (latencies, succeeded) = finished_latencies(&engine, |e| {
        e.result.as_ref().is_some_and(|r| r["result"]["n"].is_u64())
    })
    .await?;
    engine.shutdown(Duration::from_secs(5)).await;
    if succeeded != n {
        return Err(attune_core::Error::Action(format!(
            "{succeeded} of {n} Python executions succeeded"
        )));
    }
    let raw_after = raw(program.clone())
        .await
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let raw = (raw_before + raw_after) / 2.0;
    let ops_per_sec = n as f64 / secs;
    Ok(report(
        "python_oneshot",
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "slots": 4,
            "interpreter": program,
            "python": format!("{}.{}.{}", python.version.0, python.version.1, python.version.2),
            "raw_start_per_sec": raw.round(),
            "raw_start_before": raw_before.round(),
            "raw_start_after": raw_after.round(),
            "ratio_to_raw": (ops_per_sec / raw * 1000.0).round() / 1000.0,
        }),
    ))
}

/// The created → finished latencies (µs, sorted) of every execution, and how many
/// succeeded with a result `ok` accepts.
async fn finished_latencies(
    engine: &Engine,
    ok: impl Fn(&attune_core::model::Execution) -> bool + Sync,
) -> attune_core::Result<(Vec<f64>, u64)> {
    let (latencies, _, succeeded) = execution_latencies(engine, ok).await?;
    Ok((latencies, succeeded))
}

/// As [`finished_latencies`], with the started → finished latencies (µs, sorted) too.
async fn execution_latencies(
    engine: &Engine,
    ok: impl Fn(&attune_core::model::Execution) -> bool + Sync,
) -> attune_core::Result<(Vec<f64>, Vec<f64>, u64)> {
    let mut runs = Vec::new();
    let mut latencies = Vec::new();
    let mut succeeded = 0u64;
    engine
        .store()
        .each_execution(&ExecutionFilter::default(), &mut |e| {
            if e.status == ExecutionStatus::Succeeded && ok(e) {
                succeeded += 1;
            }
            if let Some(f) = e.finished {
                latencies.push((f - e.created).num_microseconds().unwrap_or(0) as f64);
                if let Some(s) = e.started {
                    runs.push((f - s).num_microseconds().unwrap_or(0) as f64);
                }
            }
        })
        .await?;
    latencies.sort_by(f64::total_cmp);
    runs.sort_by(f64::total_cmp);
    Ok((latencies, runs, succeeded))
}

/// `n` events, each running the shell action `echo x` through the whole pipeline with 4
/// shell slots; beside it, the raw spawn rate with 4 threads (measured before and after, the
/// mean reported). p50/p99: emit → finished of each execution (all are emitted at once, so
/// this is mostly queueing); run_p50/p99: started → finished.
async fn shell_echo(n: u64) -> attune_core::Result<Value> {
    let raw_before = tokio::task::spawn_blocking(move || raw_spawn_rate(n.min(2_000), 4))
        .await
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let shell = attune_runtime_shell::ShellRuntime::builder()
        .slots(4)
        .build()?;
    let engine = Engine::builder()
        .runtime(std::sync::Arc::new(shell))
        .build()
        .await?;
    engine
        .register_trigger_type(attune_core::model::TriggerType::new("bench.tick"))
        .await?;
    engine
        .register_action(
            attune_core::model::Action::new("bench.echo", "shell").param(
                "cmd",
                attune_core::params::ParamSpec::string().default("echo x"),
            ),
        )
        .await?;
    engine
        .register_rule(attune_core::model::Rule::new(
            "bench.on_tick",
            "bench.tick",
            "bench.echo",
        ))
        .await?;
    let start = Instant::now();
    for i in 0..n {
        engine.emit("bench.tick", json!({"n": i})).await?;
    }
    engine.settle(Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    let (latencies, runs, succeeded) = execution_latencies(&engine, |e| {
        e.result
            .as_ref()
            .is_some_and(|r| r["stdout"] == json!("x\n"))
    })
    .await?;
    engine.shutdown(Duration::from_secs(5)).await;
    if succeeded != n {
        return Err(attune_core::Error::Action(format!(
            "{succeeded} of {n} executions succeeded with stdout x"
        )));
    }
    let raw_after = tokio::task::spawn_blocking(move || raw_spawn_rate(n.min(2_000), 4))
        .await
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let raw = (raw_before + raw_after) / 2.0;
    let ops_per_sec = n as f64 / secs;
    Ok(report(
        "shell_echo",
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "slots": 4,
            "latency": "emit → finished, all events emitted at once (queueing included)",
            "run_p50_us": percentile(&runs, 0.5).map(|x| x.round()),
            "run_p99_us": percentile(&runs, 0.99).map(|x| x.round()),
            "raw_spawn_per_sec": raw.round(),
            "raw_spawn_before": raw_before.round(),
            "raw_spawn_after": raw_after.round(),
            "ratio_to_raw": (ops_per_sec / raw * 1000.0).round() / 1000.0,
        }),
    ))
}

/// A concurrency policy of `limit` on the bench's no-op action, delaying beyond it.
fn concurrency_policy(limit: u32) -> attune_core::model::Policy {
    attune_core::model::Policy {
        policy_ref: "bench.limit".into(),
        action: "bench.noop".into(),
        kind: attune_core::model::PolicyKind::Concurrency {
            limit,
            overflow: attune_core::model::ConcurrencyOverflow::Delay,
            attributes: vec![],
        },
        enabled: true,
    }
}

/// `n` executions of a no-op requested at once (by 16 concurrent requesters) against a
/// concurrency policy of 1: from the first request until the last finished. The runs'
/// order is checked to be the request order (the executions' ids, which are time-ordered).
async fn fifo_concurrency(n: u64, sqlite: bool) -> attune_core::Result<Value> {
    const REQUESTERS: u64 = 16;
    let dir = tempfile::tempdir().map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let mut builder = Engine::builder();
    if sqlite {
        builder = builder.store(std::sync::Arc::new(
            attune_store_sqlite::SqliteStore::builder()
                .path(dir.path().join("fifo.db"))
                .synchronous(attune_store_sqlite::Synchronous::Normal)
                .build()?,
        ));
    }
    let engine = builder.build().await?;
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(n as usize)));
    let o = order.clone();
    engine
        .register_fn("bench.noop", move |ctx| {
            o.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ctx.execution_id);
            async move { Ok(Value::Null) }
        })
        .await?;
    engine.register_policy(concurrency_policy(1)).await?;
    let start = Instant::now();
    let requesters: Vec<_> = (0..REQUESTERS)
        .map(|r| {
            let engine = engine.clone();
            tokio::spawn(async move {
                // Each request: its id, when it was made, when `execute` returned.
                let mut ids = Vec::new();
                let mut i = r;
                while i < n {
                    let made = Instant::now();
                    let id = engine.execute("bench.noop", json!({ "n": i })).await?;
                    ids.push((id, made, Instant::now()));
                    i += REQUESTERS;
                }
                Ok::<_, attune_core::Error>(ids)
            })
        })
        .collect();
    let mut requested = Vec::with_capacity(n as usize);
    for r in requesters {
        requested.extend(
            r.await
                .map_err(|e| attune_core::Error::Action(e.to_string()))??,
        );
    }
    let requested_secs = start.elapsed().as_secs_f64();
    engine.settle(Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    let stats = engine.queue_stats("bench.noop").await?;
    engine.shutdown(Duration::from_secs(5)).await;
    let ran = order.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let id_order = fifo_check(&requested, &ran)?;
    Ok(report(
        if sqlite {
            "fifo_concurrency_1_sqlite"
        } else {
            "fifo_concurrency_1"
        },
        n,
        secs,
        None,
        None,
        json!({
            "order": "checked: request order (a request that returned before another began ran first)",
            "id_order": id_order,
            "requesters": REQUESTERS,
            "requested_secs": (requested_secs * 1000.0).round() / 1000.0,
            "delayed": stats.delayed,
            "store": if sqlite { "sqlite (synchronous NORMAL)" } else { "memory" },
        }),
    ))
}

/// Checks the runs (`ran`, execution ids in the order they started) against the requests
/// (`(id, made, returned)`): every request ran once, and none ran after a request made only
/// once it had returned (request order, as concurrent callers can observe it). Returns
/// whether they also ran in id order (concurrent requests reach the queue in any order, so
/// the first of them to find the action idle may start ahead of one with a lower id).
fn fifo_check(
    requested: &[(attune_core::model::ExecutionId, Instant, Instant)],
    ran: &[attune_core::model::ExecutionId],
) -> attune_core::Result<bool> {
    let fail = |m: String| Err(attune_core::Error::Action(m));
    let by_id: std::collections::HashMap<_, _> =
        requested.iter().map(|(id, a, b)| (*id, (*a, *b))).collect();
    if ran.len() != requested.len() {
        return fail(format!(
            "{} runs of {} requests",
            ran.len(),
            requested.len()
        ));
    }
    // The latest time a request was made, among those that ran so far: a request that had
    // returned before it ran too late.
    let mut latest_made: Option<Instant> = None;
    for (k, id) in ran.iter().enumerate() {
        let Some((made, returned)) = by_id.get(id) else {
            return fail(format!("run {k} is of no request"));
        };
        if latest_made.is_some_and(|m| *returned < m) {
            return fail(format!(
                "run {k} ({id}) had returned before a request that ran earlier was made: \
                 not in request order"
            ));
        }
        latest_made = Some(latest_made.map_or(*made, |m| m.max(*made)));
    }
    let mut ids: Vec<_> = requested.iter().map(|(id, _, _)| *id).collect();
    ids.sort();
    Ok(ids == ran)
}

/// A rule whose param reads 3 keys of the key store (among 100 system keys), its params
/// rendered `n` times as the matching stage renders them (`Engine::test_rules`: the key
/// namespace read, the context built, the criteria checked, the params rendered).
async fn kv_render(n: u64) -> attune_core::Result<Value> {
    use attune_core::keystore::KeyOptions;
    use attune_core::model::{KeyScope, Rule, TriggerType};
    let engine = Engine::builder().build().await?;
    engine
        .register_trigger_type(TriggerType::new("bench.kv"))
        .await?;
    engine
        .register_fn("bench.noop", |_| async { Ok(Value::Null) })
        .await?;
    for i in 0..100 {
        engine
            .set_key(
                KeyScope::System,
                &format!("key{i}"),
                json!(format!("value {i}")),
                KeyOptions::default(),
            )
            .await?;
    }
    engine
        .register_rule(Rule::new("bench.kv_rule", "bench.kv", "bench.noop").param(
            "text",
            json!("{{ st2kv.system.key1 }}/{{ st2kv.system.key2 }}/{{ kv.system.key3 }}"),
        ))
        .await?;
    let payload = json!({});
    let start = Instant::now();
    for _ in 0..n {
        let t = engine.test_rules("bench.kv", &payload, None).await?;
        if t[0].params.as_ref().and_then(|p| p.as_ref().ok()).is_none() {
            return Err(attune_core::Error::Action(format!(
                "not rendered: {:?}",
                t[0]
            )));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let check = engine.test_rules("bench.kv", &payload, None).await?;
    let rendered = check[0].params.clone();
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(report(
        "kv_render",
        n,
        secs,
        None,
        None,
        json!({"keys_in_store": 100, "keys_read": 3, "rendered": format!("{rendered:?}")}),
    ))
}

/// `pipeline_memory_native` without and with a concurrency policy that never binds,
/// alternated three times each; the best of each and their ratio.
async fn policy_overhead(n: u64) -> attune_core::Result<Value> {
    let mut without = Vec::new();
    let mut with = Vec::new();
    for _ in 0..3 {
        without.push(pipeline_rate(n, None).await?);
        with.push(pipeline_rate(n, Some(u32::MAX)).await?);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (a, b) = (best(&without), best(&with));
    Ok(json!({
        "scenario": "policy_overhead",
        "ops": n,
        "without_per_sec": a.round(),
        "with_policy_per_sec": b.round(),
        "overhead_pct": ((a - b) / a * 1000.0).round() / 10.0,
        "runs": { "without": without, "with": with },
        "peak_rss_mb": peak_rss_mb(),
    }))
}

/// Events per second of the memory pipeline over `n` events, with a concurrency policy of
/// `limit` on its action when given.
async fn pipeline_rate(n: u64, limit: Option<u32>) -> attune_core::Result<f64> {
    let engine = pipeline_engine(Engine::builder()).await?;
    if let Some(l) = limit {
        engine.register_policy(concurrency_policy(l)).await?;
    }
    let secs = emit_ticks(&engine, n).await?;
    engine.shutdown(Duration::from_secs(5)).await;
    Ok((n as f64 / secs).round())
}

/// Emits `n` ticks of the pipeline engine as fast as it accepts them and waits until all
/// they caused ended; the seconds that took.
async fn emit_ticks(engine: &Engine, n: u64) -> attune_core::Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        engine
            .emit("bench.tick", json!({"kind": "tick", "n": i}))
            .await?;
    }
    engine.settle(Duration::from_secs(600)).await?;
    Ok(start.elapsed().as_secs_f64())
}

/// The number of succeeded executions, an error unless it is `n`.
async fn all_succeeded(engine: &Engine, n: u64) -> attune_core::Result<u64> {
    let succeeded = engine
        .store()
        .count_executions(
            &attune_core::store::ExecutionFilter::default()
                .with_status([ExecutionStatus::Succeeded]),
        )
        .await?;
    if succeeded != n {
        return Err(attune_core::Error::Action(format!(
            "{succeeded} of {n} executions succeeded"
        )));
    }
    Ok(succeeded)
}

/// Emits `n` matching events as fast as the engine accepts them; done when all executions
/// succeeded.
async fn pipeline_throughput(n: u64) -> attune_core::Result<Value> {
    let engine = pipeline_engine(Engine::builder()).await?;
    let secs = emit_ticks(&engine, n).await?;
    let succeeded = all_succeeded(&engine, n).await?;
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(report(
        "pipeline_memory_native",
        n,
        secs,
        None,
        None,
        json!({"succeeded": succeeded}),
    ))
}

/// Offers `rate` events/s for `n` events; reports emit → succeeded latency.
async fn pipeline_latency(n: u64, rate: u64) -> attune_core::Result<Value> {
    let engine = pipeline_engine(Engine::builder()).await?;
    let mut sub = engine.subscribe().await?;
    let t0 = Instant::now();
    let collector = tokio::spawn(async move {
        let mut done: HashMap<attune_core::model::ExecutionId, f64> =
            HashMap::with_capacity(n as usize);
        while (done.len() as u64) < n {
            match sub.next().await {
                Ok(Some(c)) if c.status == ExecutionStatus::Succeeded => {
                    done.insert(c.execution, t0.elapsed().as_secs_f64());
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        (done, sub.missed())
    });
    let mut emitted: Vec<(attune_core::model::EventId, f64)> = Vec::with_capacity(n as usize);
    let tick = Duration::from_millis(1);
    let per_tick = (rate / 1000).max(1);
    let mut next = tokio::time::Instant::now();
    let mut i = 0;
    while i < n {
        for _ in 0..per_tick.min(n - i) {
            let at = t0.elapsed().as_secs_f64();
            let id = engine
                .emit("bench.tick", json!({"kind": "tick", "n": i}))
                .await?;
            emitted.push((id, at));
            i += 1;
        }
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    engine.settle(Duration::from_secs(120)).await?;
    let secs = t0.elapsed().as_secs_f64();
    let (done, missed) = collector
        .await
        .map_err(|e| attune_core::Error::Action(e.to_string()))?;
    // Each event's execution (a trace per event would scan the memory store each time).
    let mut execution_of = HashMap::with_capacity(emitted.len());
    engine
        .store()
        .each_execution(&ExecutionFilter::default(), &mut |e| {
            if let Some(event) = e.event {
                execution_of.insert(event, e.id);
            }
        })
        .await?;
    let mut lat = Vec::with_capacity(emitted.len());
    for (event, at) in &emitted {
        if let Some(finished) = execution_of.get(event).and_then(|x| done.get(x)) {
            lat.push((finished - at) * 1e6);
        }
    }
    if std::env::var_os("ATTUNE_BENCH_DEBUG").is_some() {
        let mut slow: Vec<(f64, f64)> = emitted
            .iter()
            .zip(lat.iter())
            .map(|((_, at), l)| (*at, *l))
            .collect();
        slow.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (at, l) in slow.iter().take(12) {
            eprintln!("emitted at {at:.4}s: {l:.0} us");
        }
    }
    lat.sort_by(f64::total_cmp);
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(report(
        "pipeline_memory_latency",
        n,
        secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        json!({"offered_per_sec": rate, "measured": lat.len(), "missed_notifications": missed}),
    ))
}

/// Matches `n` events against an engine with `triggers` × 10 rules; returns the mean time per
/// event in µs and the sorted per-event latencies.
async fn match_events(
    engine: &Engine,
    triggers: usize,
    n: u64,
) -> attune_core::Result<(f64, Vec<f64>, usize)> {
    let payload = match_payload();
    let mut lat = Vec::with_capacity(n as usize);
    let mut matched = 0usize;
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let v = engine
            .dry_run(&format!("bench.t{}", i as usize % triggers), &payload)
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        matched += v.iter().filter(|r| r.matched).count();
    }
    let mean = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    lat.sort_by(f64::total_cmp);
    Ok((mean, lat, matched))
}

/// 10,000 rules over 1,000 triggers; matches events of one trigger (10 rules) repeatedly, and
/// the same with only those 10 rules loaded, to show the cost does not grow with rules on
/// other triggers.
async fn rule_match(n: u64) -> attune_core::Result<Value> {
    let small = many_rules_engine(1, 10).await?;
    let (base_mean, _, _) = match_events(&small, 1, n).await?;
    small.shutdown(Duration::from_secs(1)).await;
    let engine = many_rules_engine(1000, 10).await?;
    let (mean, lat, matched) = match_events(&engine, 1000, n).await?;
    let secs = mean * n as f64 / 1e6;
    Ok(report(
        "rule_match_10k_rules",
        n,
        secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        json!({
            "rules": engine.rule_count(),
            "rules_per_trigger": 10,
            "matched_per_event": matched as f64 / n as f64,
            "mean_us": (mean * 100.0).round() / 100.0,
            "mean_us_with_only_10_rules": (base_mean * 100.0).round() / 100.0,
        }),
    ))
}

/// `n` events through the pipeline with retention keeping the newest 100,000 executions.
async fn retention(n: u64) -> attune_core::Result<Value> {
    let engine = pipeline_engine(
        Engine::builder().retention(Retention::keep_last(
            std::env::var("KEEP")
                .ok()
                .and_then(|k| k.parse().ok())
                .unwrap_or(100_000),
        )),
    )
    .await?;
    let start = Instant::now();
    for i in 0..n {
        engine
            .emit("bench.tick", json!({"kind": "tick", "n": i}))
            .await?;
    }
    engine.settle(Duration::from_secs(900)).await?;
    let secs = start.elapsed().as_secs_f64();
    let kept = engine.store().count_executions(&Default::default()).await?;
    let (events, enforcements) = count_records(&engine).await?;
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(report(
        "pipeline_memory_1m_retention",
        n,
        secs,
        None,
        None,
        json!({"executions_kept": kept, "events_kept": events, "enforcements_kept": enforcements}),
    ))
}

/// Events and enforcements the store holds (paged scan).
async fn count_records(engine: &Engine) -> attune_core::Result<(u64, u64)> {
    use attune_core::store::{EnforcementFilter, EventFilter, Page};
    let store = engine.store();
    let (mut events, mut page) = (0u64, Page::first(10_000));
    loop {
        let batch = store.list_events(&EventFilter::default(), &page).await?;
        events += batch.len() as u64;
        match batch.last() {
            Some(last) if batch.len() == page.limit => page = Page::after(last.id, page.limit),
            _ => break,
        }
    }
    let (mut enfs, mut page) = (0u64, Page::first(10_000));
    loop {
        let batch = store
            .list_enforcements(&EnforcementFilter::default(), &page)
            .await?;
        enfs += batch.len() as u64;
        match batch.last() {
            Some(last) if batch.len() == page.limit => page = Page::after(last.id, page.limit),
            _ => break,
        }
    }
    Ok((events, enfs))
}

/// The allocator every scenario measures with: the system's unless `ATTUNE_BENCH_ALLOC`
/// (or `--alloc`) names jemalloc or mimalloc (`attune_benches::alloc`).
#[global_allocator]
static GLOBAL: attune_benches::alloc::Chosen = attune_benches::alloc::Chosen;
