//! `host_emitters`: the pattern docs/sdk.md shows a host, measured beside the harness's own
//! ingestion path in the same process and minute.
//!
//! The harness's path (`pipeline_memory_native`) is one task awaiting `emit` in a loop, then
//! `settle`. A host rather has several tasks producing events at once: here [`TASKS`] tasks
//! each await `emit` for their share, the host joins them and then awaits `settle`; and the
//! same tasks handing over batches of [`BATCH`] with `emit_many`. Every run is the pipeline
//! workload (one rule, one criterion, one templated param, a native no-op) on a new memory
//! engine, and must end with every execution succeeded.

use attune_benches::pipeline_engine;
use attune_core::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Concurrent producer tasks of the host pattern.
pub(crate) const TASKS: u64 = 16;
/// Events per `emit_many` call in the batch form.
pub(crate) const BATCH: u64 = 64;

fn err(e: impl std::fmt::Display) -> attune_core::Error {
    attune_core::Error::Action(e.to_string())
}

/// How a run hands its events to the engine.
#[derive(Clone, Copy)]
enum Producers {
    /// One task awaiting `emit` in a loop (the harness's path, `emit_ticks`).
    One,
    /// [`TASKS`] tasks awaiting `emit`.
    Tasks,
    /// [`TASKS`] tasks awaiting `emit_many` of [`BATCH`].
    Batches,
}

/// Emits `n` matching events the way `how` says; seconds until all succeeded.
async fn run(n: u64, how: Producers) -> attune_core::Result<f64> {
    let engine = pipeline_engine(Engine::builder()).await?;
    let secs = match how {
        Producers::One => super::emit_ticks(&engine, n).await?,
        Producers::Tasks | Producers::Batches => {
            let start = Instant::now();
            let mut tasks: Vec<tokio::task::JoinHandle<attune_core::Result<()>>> =
                Vec::with_capacity(TASKS as usize);
            for t in 0..TASKS {
                let engine = engine.clone();
                // Task t emits events t, t + TASKS, t + 2·TASKS, … below n.
                let mine: Vec<u64> = (t..n).step_by(TASKS as usize).collect();
                tasks.push(tokio::spawn(async move {
                    if let Producers::Tasks = how {
                        for i in mine {
                            engine
                                .emit("bench.tick", json!({"kind": "tick", "n": i}))
                                .await?;
                        }
                        return Ok(());
                    }
                    for chunk in mine.chunks(BATCH as usize) {
                        let batch = chunk
                            .iter()
                            .map(|i| ("bench.tick", json!({"kind": "tick", "n": i})));
                        for r in engine.emit_many(batch).await {
                            r?;
                        }
                    }
                    Ok(())
                }));
            }
            for t in tasks {
                t.await.map_err(err)??;
            }
            engine.settle(Duration::from_secs(600)).await?;
            start.elapsed().as_secs_f64()
        }
    };
    super::all_succeeded(&engine, n).await?;
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(secs)
}

/// The three ways, alternated `rounds` times; the best of each. `ops_per_sec` is the host
/// pattern's (`emit` from [`TASKS`] tasks); `ratio_to_harness` divides it by the harness
/// path's; the `emit_many` form beside them.
pub(crate) async fn host_emitters(n: u64, rounds: u32) -> attune_core::Result<(f64, Value)> {
    let (mut one, mut tasks, mut batches) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..rounds {
        one = one.min(run(n, Producers::One).await?);
        tasks = tasks.min(run(n, Producers::Tasks).await?);
        batches = batches.min(run(n, Producers::Batches).await?);
    }
    let rate = |secs: f64| (n as f64 / secs).round();
    Ok((
        tasks,
        json!({
            "tasks": TASKS,
            "harness_ops_per_sec": rate(one),
            "emit_many_ops_per_sec": rate(batches),
            "emit_many_batch": BATCH,
            "ratio_to_harness": ((one / tasks) * 100.0).round() / 100.0,
            "emit_many_ratio_to_harness": ((one / batches) * 100.0).round() / 100.0,
            "rounds": rounds,
        }),
    ))
}
