//! `attune-bench peers`: the same no-op workload on apalis (MemoryStorage, apalis-sqlite) and
//! on Attune (memory, SQLite), in one run, at several backlogs; one JSON line each, and an
//! SVG chart of throughput against backlog.
//!
//! Two workloads, like with like:
//! - `job_queue`: `backlog` no-op jobs queued before any worker starts, then the time until
//!   `min(backlog, sample)` of them ended (or how many ended within the budget). On apalis,
//!   jobs pushed with `push_bulk`, one worker with its defaults; on Attune, executions of a
//!   native no-op action stored `requested` (what `Engine::execute` writes) before the engine
//!   runs, then `Engine::recover` hands them to its workers.
//! - `pipeline` (Attune only; apalis has no rules): `backlog` events emitted as fast as the
//!   engine takes them, each matched by one rule whose action is the no-op; the time until
//!   every execution ended.
//!
//! Each line runs in a process of its own: apalis in `apalis-peer` (its own workspace under
//! `benches/peers/`, since apalis-sqlite needs sqlx's `sqlite` feature), Attune in this
//! harness started again with the hidden scenario [`ONE`].

use attune_core::Engine;
use attune_core::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The hidden scenario that measures one Attune line: `peers-one <workload> <storage>
/// <backlog> <sample> <budget_secs>`.
pub(crate) const ONE: &str = "peers-one";

/// The backlogs measured unless `--backlogs` says otherwise.
const BACKLOGS: &[u64] = &[1_000, 20_000, 100_000];

/// The settings of one `peers` run.
struct Settings {
    backlogs: Vec<u64>,
    sample: u64,
    budget_secs: u64,
    peer_bin: std::path::PathBuf,
    chart: Option<std::path::PathBuf>,
}

/// Where `cargo build --release --manifest-path benches/peers/Cargo.toml` puts the peer.
fn default_peer_bin() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/target/release/apalis-peer")
}

fn usage() -> ! {
    eprintln!(
        "usage: attune-bench peers [--backlogs 1000,20000,100000] [--sample N (default 100000)] \
         [--budget SECS (default 20)] [--peer-bin PATH] [--chart FILE.svg]"
    );
    std::process::exit(2);
}

/// Reads the options after `peers`; exits 2 naming a bad one.
fn settings(args: &[String]) -> Settings {
    let mut s = Settings {
        backlogs: BACKLOGS.to_vec(),
        sample: 100_000,
        budget_secs: 20,
        peer_bin: default_peer_bin(),
        chart: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            eprintln!("{flag}: needs a value");
            usage();
        };
        let number = |v: &str| match v.parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                eprintln!("{flag}: '{v}' is not a whole number of at least 1");
                usage();
            }
        };
        match flag.as_str() {
            "--backlogs" => s.backlogs = value.split(',').map(number).collect(),
            "--sample" => s.sample = number(value),
            "--budget" => s.budget_secs = number(value),
            "--peer-bin" => s.peer_bin = value.into(),
            "--chart" => s.chart = Some(value.into()),
            other => {
                eprintln!("unknown option '{other}'");
                usage();
            }
        }
    }
    s
}

/// Runs `program args`, which prints one JSON line; that line.
fn one_line(program: &std::path::Path, args: &[String]) -> Result<Value, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| {
        format!(
            "{} {}: not a JSON line ({e}): {line}",
            program.display(),
            args.join(" ")
        )
    })
}

/// `attune-bench peers ...`: every line, printed as it comes; the chart at the end.
pub(crate) fn run(args: &[String]) {
    let s = settings(args);
    if !s.peer_bin.is_file() {
        eprintln!(
            "the apalis peer is not built at {}; build it with\n  \
             cargo build --release --manifest-path benches/peers/Cargo.toml\n\
             or name it with --peer-bin",
            s.peer_bin.display()
        );
        std::process::exit(2);
    }
    let me = std::env::current_exe().expect("own path");
    let (sample, budget) = (s.sample.to_string(), s.budget_secs.to_string());
    let mut lines = Vec::new();
    for &backlog in &s.backlogs {
        let b = backlog.to_string();
        let runs: [(&std::path::Path, Vec<String>); 6] = [
            (
                &s.peer_bin,
                vec!["memory".into(), b.clone(), sample.clone(), budget.clone()],
            ),
            (
                &s.peer_bin,
                vec!["sqlite".into(), b.clone(), sample.clone(), budget.clone()],
            ),
            (&me, one_args("job_queue", "memory", &b, &sample, &budget)),
            (&me, one_args("job_queue", "sqlite", &b, &sample, &budget)),
            (&me, one_args("pipeline", "memory", &b, &sample, &budget)),
            (&me, one_args("pipeline", "sqlite", &b, &sample, &budget)),
        ];
        for (program, args) in runs {
            match one_line(program, &args) {
                Ok(line) => {
                    println!("{line}");
                    lines.push(line);
                }
                Err(e) => {
                    eprintln!("peers: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    if let Some(path) = s.chart {
        let svg = super::chart::throughput_svg(&lines);
        if let Err(e) = std::fs::write(&path, svg) {
            eprintln!("peers: writing {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("chart written to {}", path.display());
    }
}

fn one_args(
    workload: &str,
    storage: &str,
    backlog: &str,
    sample: &str,
    budget: &str,
) -> Vec<String> {
    [ONE, workload, storage, backlog, sample, budget]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// How many no-op executions ended, and a signal when `target` of them have.
struct Progress {
    done: AtomicU64,
    target: u64,
    reached: tokio::sync::Notify,
}

/// One Attune line (the hidden scenario [`ONE`]): `args` are what follows its name.
pub(crate) async fn one(args: &[String]) -> attune_core::Result<Value> {
    let bad = || attune_core::Error::invalid(ONE, format!("bad arguments {args:?}"));
    let [workload, storage, backlog, sample, budget] = args else {
        return Err(bad());
    };
    let backlog: u64 = backlog.parse().map_err(|_| bad())?;
    let sample: u64 = sample.parse().map_err(|_| bad())?;
    let budget = Duration::from_secs(budget.parse().map_err(|_| bad())?);
    let dir = tempfile::tempdir().map_err(|e| attune_core::Error::Action(e.to_string()))?;
    let store: Arc<dyn Store> = match storage.as_str() {
        "memory" => Arc::new(attune_core::store::MemoryStore::new()),
        "sqlite" => Arc::new(
            attune_store_sqlite::SqliteStore::builder()
                .path(dir.path().join("peers.db"))
                .synchronous(attune_store_sqlite::Synchronous::Normal)
                .build()?,
        ),
        _ => return Err(bad()),
    };
    let (done, secs, fill_secs) = match workload.as_str() {
        "job_queue" => job_queue(store, backlog, backlog.min(sample), budget).await?,
        "pipeline" => pipeline(store, backlog, storage == "sqlite").await?,
        _ => return Err(bad()),
    };
    Ok(json!({
        "scenario": "peers",
        "system": "attune",
        "storage": storage,
        "backend": if storage == "memory" { "MemoryStore" } else { "SqliteStore (WAL file, synchronous NORMAL)" },
        "workload": workload,
        "backlog": backlog,
        "ops": done,
        "secs": (secs * 1000.0).round() / 1000.0,
        "ops_per_sec": (done as f64 / secs).round(),
        "fill_secs": fill_secs.map(|f| (f * 1000.0).round() / 1000.0),
        "measured": if workload == "pipeline" {
            "first emit until every execution ended"
        } else {
            "recover() until min(backlog, sample) executions ended, or the budget"
        },
        "peak_rss_mb": (attune_benches::peak_rss_mb() * 10.0).round() / 10.0,
        "allocator": attune_benches::alloc::name(),
    }))
}

/// `backlog` requested executions of `peer.noop` in `store`, then an engine drains them;
/// (ended, seconds, fill seconds).
async fn job_queue(
    store: Arc<dyn Store>,
    backlog: u64,
    target: u64,
    budget: Duration,
) -> attune_core::Result<(u64, f64, Option<f64>)> {
    let fill_secs = super::store_requested(store.clone(), "peer.noop", backlog).await?;
    let progress = Arc::new(Progress {
        done: AtomicU64::new(0),
        target,
        reached: tokio::sync::Notify::new(),
    });
    let engine = Engine::builder().store(store).build().await?;
    let p = progress.clone();
    engine
        .register_fn("peer.noop", move |ctx| {
            let p = p.clone();
            async move {
                if p.done.fetch_add(1, Ordering::Relaxed) + 1 == p.target {
                    p.reached.notify_one();
                }
                Ok(ctx.param("n").cloned().unwrap_or(Value::Null))
            }
        })
        .await?;
    let start = Instant::now();
    engine.recover().await?;
    tokio::select! {
        _ = progress.reached.notified() => {}
        _ = tokio::time::sleep(budget) => {}
    }
    let reading = (
        progress.done.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
    );
    engine.shutdown(Duration::from_secs(10)).await;
    Ok((reading.0, reading.1, Some(fill_secs)))
}

/// `backlog` events through the bench rule on `store`, as fast as the engine takes them;
/// (ended, seconds, no fill).
/// On the memory store one producer emits, as `pipeline_memory_native` does; on SQLite many
/// at once, as `pipeline_sqlite_native` does (one awaiting each commit would measure fsyncs).
async fn pipeline(
    store: Arc<dyn Store>,
    backlog: u64,
    concurrent: bool,
) -> attune_core::Result<(u64, f64, Option<f64>)> {
    let engine = attune_benches::pipeline_engine(Engine::builder().store(store)).await?;
    let engine = Arc::new(engine);
    let secs = if concurrent {
        super::emit_concurrently(&engine, backlog).await?
    } else {
        super::emit_ticks(&engine, backlog).await?
    };
    let done = super::all_succeeded(&engine, backlog).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    Ok((done, secs, None))
}
