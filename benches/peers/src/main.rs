//! `apalis-peer <memory|sqlite> <backlog> <sample> <budget_secs>`: the job-queue half of
//! `attune-bench peers`, on apalis 1.0.
//!
//! Puts `backlog` no-op jobs in the queue (MemoryStorage, or apalis-sqlite on a WAL file in a
//! temporary directory, with its own defaults), then starts one worker (apalis's defaults)
//! and measures how long it takes to finish `min(backlog, sample)` of them, or how many it
//! finished in `budget_secs`, whichever comes first. Prints one JSON line with the same keys
//! as the harness's own lines: `{"scenario", "system", "storage", "workload", "backlog",
//! "ops", "secs", "ops_per_sec", "fill_secs", "peak_rss_mb", ...}`.
//!
//! The job is `async fn(n: u64) -> u64`: what Attune's `bench.noop` does with its parameter.

use apalis::prelude::*;
use apalis_sqlite::SqliteStorage;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How many jobs ended, and a signal when `target` of them have.
struct Progress {
    done: AtomicU64,
    target: u64,
    reached: Notify,
}

/// The no-op job: counts itself and returns its argument.
async fn noop(n: u64, progress: Data<Arc<Progress>>) -> Result<u64, BoxDynError> {
    if progress.done.fetch_add(1, Ordering::Relaxed) + 1 == progress.target {
        progress.reached.notify_one();
    }
    Ok(n)
}

/// Peak resident set size of this process in MiB (VmHWM), 0 when unknown. (A copy of
/// `attune_benches::peak_rss_mb`: this workspace cannot depend on the harness, whose SQLite
/// store links another libsqlite3-sys than apalis-sqlite.)
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A worker's stop signal: fires when `progress.target` jobs ended or `budget` passed
/// (counted from `start`), and leaves in `out` the jobs ended and the seconds then.
async fn stop_signal(
    progress: Arc<Progress>,
    budget: Duration,
    start: Instant,
    out: Arc<Mutex<Option<(u64, f64)>>>,
) -> Result<(), std::io::Error> {
    tokio::select! {
        _ = progress.reached.notified() => {}
        _ = tokio::time::sleep(budget) => {}
    }
    let reading = (
        progress.done.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
    );
    *out.lock().expect("reading") = Some(reading);
    Ok(())
}

/// The reading [`stop_signal`] left.
fn reading(out: &Mutex<Option<(u64, f64)>>) -> Result<(u64, f64), BoxDynError> {
    out.lock()
        .expect("reading")
        .ok_or_else(|| "the worker stopped before its signal fired".into())
}

fn usage() -> ! {
    eprintln!("usage: apalis-peer <memory|sqlite> <backlog> <sample> <budget_secs>");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 {
        match args.get(i).map(|s| s.parse::<u64>()) {
            Some(Ok(n)) if n >= 1 => n,
            _ => usage(),
        }
    };
    let storage = match args.first().map(String::as_str) {
        Some(s @ ("memory" | "sqlite")) => s.to_string(),
        _ => usage(),
    };
    let (backlog, sample, budget) = (number(1), number(2), number(3));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let line = rt.block_on(async move {
        tokio::spawn(run(storage, backlog, sample, Duration::from_secs(budget)))
            .await
            .expect("peer task")
    });
    match line {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("apalis-peer: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(
    storage: String,
    backlog: u64,
    sample: u64,
    budget: Duration,
) -> Result<serde_json::Value, BoxDynError> {
    let progress = Arc::new(Progress {
        done: AtomicU64::new(0),
        target: backlog.min(sample),
        reached: Notify::new(),
    });
    let dir = tempfile::tempdir()?;
    let filled = Instant::now();
    // The same steps on either backend (their types differ, hence a macro): fill the queue,
    // then run one worker until the signal.
    macro_rules! fill_then_drain {
        ($queue:expr) => {{
            let mut queue = $queue;
            queue.push_bulk((0..backlog).collect()).await?;
            let fill_secs = filled.elapsed().as_secs_f64();
            let worker = WorkerBuilder::new("peer")
                .backend(queue)
                .data(progress.clone())
                .build(noop);
            let out = Arc::default();
            let signal = stop_signal(progress.clone(), budget, Instant::now(), Arc::clone(&out));
            worker.run_until(signal).await?;
            let (done, secs) = reading(&out)?;
            (done, secs, fill_secs)
        }};
    }
    let (done, secs, fill_secs) = if storage == "memory" {
        fill_then_drain!(MemoryStorage::<u64>::new())
    } else {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("peer.db").display());
        let pool = apalis_sqlite::SqlitePool::connect(&url).await?;
        SqliteStorage::setup(&pool).await?;
        fill_then_drain!(SqliteStorage::<u64>::new(&pool))
    };
    Ok(json!({
        "scenario": "peers",
        "system": "apalis",
        "version": "1.0",
        "storage": storage,
        "backend": if storage == "memory" { "MemoryStorage" } else { "SqliteStorage (apalis-sqlite, WAL file, its defaults)" },
        "workload": "job_queue",
        "backlog": backlog,
        "ops": done,
        "secs": (secs * 1000.0).round() / 1000.0,
        "ops_per_sec": (done as f64 / secs).round(),
        "fill_secs": (fill_secs * 1000.0).round() / 1000.0,
        "measured": "worker start until min(backlog, sample) jobs ended, or the budget",
        "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
        "allocator": "system",
    }))
}
