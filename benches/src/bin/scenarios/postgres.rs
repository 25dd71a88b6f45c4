//! Scenarios on PostgreSQL (`attune-store-postgres`): the store and the transport in a fresh
//! schema of the server named by `ATTUNE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards. With `processes` = N,
//! the measuring process (producers, and every stage) is joined by N - 1 worker processes
//! (this binary run again as `attune-bench pg-worker URL`, every stage too), which compete
//! for the work through the database; they exit when the measuring process closes their
//! stdin, or dies.

use super::{EMITTERS, percentile, produce, report};
use attune_benches::pipeline_engine;
use attune_core::model::ExecutionStatus;
use attune_core::store::{EventFilter, ExecutionFilter, StoreExt};
use attune_core::{Engine, Error, Result};
use attune_store_postgres::PgTransport;
use attune_store_postgres::testing::TestSchema;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hidden scenario name of a worker process.
pub(crate) const WORKER: &str = "pg-worker";

/// A fresh schema on the test server; an error when it cannot be reached.
async fn fresh_schema() -> Result<TestSchema> {
    TestSchema::create().await.ok_or_else(|| {
        Error::Unsupported(format!(
            "PostgreSQL at {} cannot be reached",
            attune_store_postgres::testing::url()
        ))
    })
}

/// A fresh schema and an engine on it (store and transport) with the pipeline workload,
/// joined by `processes - 1` worker processes (stopped when the [`Workers`] is dropped).
async fn engine(processes: usize) -> Result<(TestSchema, Arc<Engine>, Workers)> {
    let schema = fresh_schema().await?;
    let transport = PgTransport::open(schema.store()).await?;
    let engine = pipeline_engine(
        Engine::builder()
            .store(Arc::new(schema.store().clone()))
            .transport(Arc::new(transport)),
    )
    .await?;
    let url = schema.schema_url();
    let workers = Workers::start(&url, processes.saturating_sub(1))?;
    Ok((schema, Arc::new(engine), workers))
}

/// The worker processes: killed and reaped when dropped.
struct Workers(Vec<Child>);

impl Workers {
    /// Starts `n` workers on `url` and waits until each says it is ready.
    fn start(url: &str, n: usize) -> Result<Workers> {
        let exe = std::env::current_exe().map_err(|e| Error::Action(e.to_string()))?;
        let mut workers = Workers(Vec::new());
        for _ in 0..n {
            let child = Command::new(&exe)
                .args([WORKER, url])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| Error::Action(format!("worker process: {e}")))?;
            workers.0.push(child);
        }
        for w in &mut workers.0 {
            let mut line = String::new();
            let out = w.stdout.take().expect("piped");
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| Error::Action(format!("worker process: {e}")))?;
            if line.trim() != "ready" {
                return Err(Error::Action(format!(
                    "a worker process did not start: {line:?}"
                )));
            }
        }
        Ok(workers)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// A worker process: an engine with the pipeline workload on the schema of `url`, every
/// stage, until its stdin closes. Says `ready` on stdout once built.
pub(crate) async fn worker(url: Option<String>) -> Result<Value> {
    let url = url.ok_or_else(|| Error::invalid("pg-worker", "give the database URL"))?;
    // Smaller pools than the measuring process's: PostgreSQL's 100 connections are shared.
    let store = attune_store_postgres::PgStore::builder(&url)
        .max_connections(8)
        .open()
        .await?;
    let transport = PgTransport::builder(&store)
        .max_connections(4)
        .open()
        .await?;
    let engine = pipeline_engine(
        Engine::builder()
            .store(Arc::new(store))
            .transport(Arc::new(transport)),
    )
    .await?;
    println!("ready");
    // Until the measuring process closes stdin (or dies).
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    })
    .await
    .map_err(|e| Error::Action(e.to_string()))?;
    engine.shutdown(Duration::from_secs(5)).await;
    std::process::exit(0);
}

/// Latencies (µs) from `start(execution)` to its end, and the count that succeeded.
async fn outcomes(
    engine: &Engine,
    start: &HashMap<uuid::Uuid, chrono::DateTime<chrono::Utc>>,
    by_event: bool,
) -> Result<(Vec<f64>, u64)> {
    let mut latencies = Vec::new();
    let mut succeeded = 0;
    engine
        .store()
        .each_execution(&ExecutionFilter::default(), &mut |x| {
            if x.status == ExecutionStatus::Succeeded {
                succeeded += 1;
            }
            let from = if by_event {
                x.event.and_then(|e| start.get(&e.0)).copied()
            } else {
                Some(x.created)
            };
            if let (Some(f), Some(c)) = (x.finished, from) {
                latencies.push((f - c).num_microseconds().unwrap_or(0) as f64);
            }
        })
        .await?;
    latencies.sort_by(f64::total_cmp);
    Ok((latencies, succeeded))
}

/// Latencies (µs) from each event's creation to its execution's end; an error unless all
/// `n` executions succeeded.
async fn event_latencies(engine: &Engine, n: u64) -> Result<Vec<f64>> {
    let mut created = HashMap::with_capacity(n as usize);
    engine
        .store()
        .each_event(&EventFilter::default(), &mut |e| {
            created.insert(e.id.0, e.created);
        })
        .await?;
    let (latencies, succeeded) = outcomes(engine, &created, true).await?;
    if succeeded != n {
        return Err(Error::Action(format!(
            "{succeeded} of {n} executions succeeded"
        )));
    }
    Ok(latencies)
}

/// Event → rule → enforcement → execution → no-op, all durable on PostgreSQL, with
/// `EMITTERS` concurrent producers. p50/p99: event created → execution finished.
pub(crate) async fn pipeline_postgres_native(n: u64, processes: usize) -> Result<Value> {
    let (_schema, engine, workers) = engine(processes).await?;
    let secs = super::emit_concurrently(&engine, n).await?;
    let latencies = event_latencies(&engine, n).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    drop(workers);
    Ok(report(
        "pipeline_postgres_native",
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "processes": processes,
            "emitters": EMITTERS,
            "latency": "event created → execution finished (events emitted as fast as accepted)",
        }),
    ))
}

/// Direct `execute` of the no-op action (no event, no rule), durable on PostgreSQL: the
/// like-for-like with a job queue. p50/p99: execution created → finished.
pub(crate) async fn execute_postgres_noop(n: u64, processes: usize) -> Result<Value> {
    let (_schema, engine, workers) = engine(processes).await?;
    let start = Instant::now();
    produce(&engine, n, |engine, i| async move {
        engine
            .execute("bench.noop", json!({"n": i}))
            .await
            .map(|_| ())
    })
    .await?;
    engine.settle(Duration::from_secs(1200)).await?;
    let secs = start.elapsed().as_secs_f64();
    let (latencies, succeeded) = outcomes(&engine, &HashMap::new(), false).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    drop(workers);
    if succeeded != n {
        return Err(Error::Action(format!(
            "{succeeded} of {n} executions succeeded"
        )));
    }
    Ok(report(
        "execute_postgres_noop",
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "processes": processes,
            "producers": EMITTERS,
            "latency": "execution created → finished",
        }),
    ))
}

/// Executions queued before any engine runs (`n` inserted in `requested`, their messages
/// written by the store's outbox), then one engine (and `processes - 1` workers) drains
/// them. Measured: from the engine built until every one succeeded. Compare the rate at
/// 1,000 and at 100,000 queued.
pub(crate) async fn pipeline_postgres_backlog(n: u64, processes: usize) -> Result<Value> {
    use attune_core::model::Execution;
    use attune_core::store::Store;
    let schema = fresh_schema().await?;
    let transport = PgTransport::open(schema.store()).await?;
    let filled = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<Execution> = (i..(i + 1000).min(n))
            .map(|k| Execution::new("bench.noop", "native", json!({"n": k}), chrono::Utc::now()))
            .collect();
        for r in schema.store().insert_executions(&batch).await {
            r?;
        }
        i += 1000;
    }
    let fill_secs = filled.elapsed().as_secs_f64();
    let url = schema.schema_url();
    let start = Instant::now();
    let workers = Workers::start(&url, processes.saturating_sub(1))?;
    let engine = pipeline_engine(
        Engine::builder()
            .store(Arc::new(schema.store().clone()))
            .transport(Arc::new(transport)),
    )
    .await?;
    let done = ExecutionFilter::default().with_status([ExecutionStatus::Succeeded]);
    loop {
        if schema.store().count_executions(&done).await? >= n {
            break;
        }
        if start.elapsed() > Duration::from_secs(1200) {
            return Err(Error::Timeout("the backlog did not drain".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    engine.shutdown(Duration::from_secs(10)).await;
    drop(workers);
    Ok(report(
        "pipeline_postgres_backlog",
        n,
        secs,
        None,
        None,
        json!({
            "processes": processes,
            "backlog": n,
            "fill_secs": (fill_secs * 1000.0).round() / 1000.0,
            "measured": "engine built until every queued execution succeeded",
        }),
    ))
}

/// Events emitted at `rate` per second (each emit its own task, as independent clients),
/// through the whole durable pipeline: p50/p99 from event created to execution finished,
/// the dispatch latency under a load the engine keeps up with.
pub(crate) async fn pipeline_postgres_latency(
    n: u64,
    rate: u64,
    processes: usize,
) -> Result<Value> {
    let (_schema, engine, workers) = engine(processes).await?;
    let tick = Duration::from_millis(1);
    let mut next = tokio::time::Instant::now();
    let start = Instant::now();
    let mut emits = Vec::with_capacity(n as usize);
    let (mut i, mut ticks) = (0, 0u64);
    while i < n {
        // Due by the end of this tick: `rate` per second, fractions carried over.
        ticks += 1;
        let due = (ticks * rate / 1000).min(n);
        for k in i..due {
            let engine = engine.clone();
            emits.push(tokio::spawn(async move {
                engine
                    .emit("bench.tick", json!({"kind": "tick", "n": k}))
                    .await
                    .map(|_| ())
            }));
        }
        i = i.max(due);
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    for e in emits {
        e.await.map_err(|e| Error::Action(e.to_string()))??;
    }
    engine.settle(Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    let latencies = event_latencies(&engine, n).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    drop(workers);
    Ok(report(
        "pipeline_postgres_latency",
        n,
        secs,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        json!({
            "processes": processes,
            "offered_per_sec": rate,
            "latency": "event created → execution finished (events offered at a fixed rate)",
        }),
    ))
}
