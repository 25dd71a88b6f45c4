//! `mem-probe [n]`: live heap bytes and allocation calls per processed event (event +
//! enforcement + execution kept in the memory store), measured with a counting allocator
//! over the system's; the allocation calls also per stage, each stage the difference
//! between runs that stop earlier (a trigger no rule listens to; a rule whose criterion
//! refuses; the whole pipeline). A tool for tuning; `attune-bench` reports the speed and RSS
//! figures. `mem-probe [n] store`: live bytes of each kind of row in a bare memory store.
//! `mem-probe [n] ran`: the whole pipeline alone, once (what to run under a heap profiler:
//! its totals are then those of `n` events).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live bytes and allocation calls since `from` (a `(live, allocs)` reading).
fn since(from: (isize, isize)) -> (isize, isize) {
    (
        LIVE.load(Ordering::Relaxed) - from.0,
        ALLOCS.load(Ordering::Relaxed) - from.1,
    )
}

/// `count` per event, to a hundredth.
fn per_event(count: isize, n: u64) -> f64 {
    round(count as f64 / n as f64)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn reading() -> (isize, isize) {
    (LIVE.load(Ordering::Relaxed), ALLOCS.load(Ordering::Relaxed))
}

/// What a run of the probe drives through the engine.
#[derive(Clone, Copy, PartialEq)]
enum Upto {
    /// Events of a trigger no rule listens to: checked, stored, found unmatched.
    Stored,
    /// Events a rule's criterion refuses: matched against it, no enforcement.
    Refused,
    /// The whole pipeline: enforcement, execution, run, result.
    Ran,
}

/// Emits `n` events up to `upto` on a new memory engine (the pipeline workload); live bytes
/// and allocation calls per event (to a hundredth), the payloads' own included.
async fn probe(n: u64, upto: Upto) -> (isize, f64) {
    let engine = attune_benches::pipeline_engine(attune_core::Engine::builder())
        .await
        .expect("engine");
    if upto == Upto::Stored {
        engine
            .register_trigger_type(attune_core::model::TriggerType::new("bench.idle"))
            .await
            .expect("trigger type");
    }
    engine.settle(Duration::from_secs(5)).await.expect("settle");
    let (trigger, kind) = match upto {
        Upto::Stored => ("bench.idle", "tick"),
        Upto::Refused => ("bench.tick", "tock"),
        Upto::Ran => ("bench.tick", "tick"),
    };
    let from = reading();
    for i in 0..n {
        engine
            .emit(trigger, serde_json::json!({"kind": kind, "n": i}))
            .await
            .expect("emit");
    }
    engine
        .settle(Duration::from_secs(120))
        .await
        .expect("settle");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (live, allocs) = since(from);
    engine.shutdown(Duration::from_secs(5)).await;
    (live / n as isize, per_event(allocs, n))
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match std::env::args().nth(2).as_deref() {
            Some("store") => return store_rows(n).await,
            Some("ran") => {
                // The whole pipeline only (one run, for a heap profiler's totals).
                let ran = probe(n, Upto::Ran).await;
                return println!(
                    "{}",
                    serde_json::json!({"events": n, "allocations_per_event": ran.1})
                );
            }
            Some(other) => {
                eprintln!("mem-probe: unknown mode '{other}' (have: store, ran)");
                std::process::exit(2);
            }
            None => {}
        }
        // The host's own share: building the payload it hands to `emit`.
        let from = reading();
        let payloads: Vec<_> = (0..n)
            .map(|i| serde_json::json!({"kind": "tick", "n": i}))
            .collect();
        let payload = per_event(since(from).1, n);
        drop(payloads);
        let stored = probe(n, Upto::Stored).await;
        let refused = probe(n, Upto::Refused).await;
        let ran = probe(n, Upto::Ran).await;
        println!(
            "{}",
            serde_json::json!({
                "events": n,
                "live_bytes_per_event": ran.0,
                "allocations_per_event": ran.1,
                "allocations_per_stage": {
                    "payload (the host's json!)": payload,
                    "emit: checked, stored, found unmatched": round(stored.1 - payload),
                    "match: a rule's criterion evaluated": round(refused.1 - stored.1),
                    "enforce, execute, run, record the result": round(ran.1 - refused.1),
                },
            })
        );
    });
}

/// Live bytes of each kind of row, inserted directly into a MemoryStore.
async fn store_rows(n: u64) {
    use attune_core::model::*;
    use attune_core::store::{MemoryStore, Store};
    use serde_json::json;
    let store = MemoryStore::new();
    let now = chrono::Utc::now();
    let mut last = LIVE.load(Ordering::Relaxed);
    let mut report = |what: &str| {
        let cur = LIVE.load(Ordering::Relaxed);
        println!("{what}: {} bytes/row", (cur - last) / n as isize);
        last = cur;
    };
    let mut evs = Vec::new();
    for i in 0..n {
        let e = Event::new("bench.tick", json!({"kind": "tick", "n": i}), now);
        store.insert_event(&e).await.expect("event");
        evs.push(e.id);
    }
    report("event");
    let mut enfs = Vec::new();
    for ev in &evs {
        let e = Enforcement::new("bench.on_tick", *ev, "bench.tick", now);
        store.insert_enforcement(&e).await.expect("enf");
        enfs.push(e.id);
    }
    report("enforcement");
    for (i, enf) in enfs.iter().enumerate() {
        let mut x = Execution::new("bench.noop", "native", json!({"n": i}), now);
        x.enforcement = Some(*enf);
        x.rule = Some("bench.on_tick".into());
        x.result = Some(json!(i));
        store.insert_execution(&x).await.expect("exec");
    }
    report("execution");
    println!(
        "sizes: value={} event={} enf={} exec={}",
        std::mem::size_of::<serde_json::Value>(),
        std::mem::size_of::<Event>(),
        std::mem::size_of::<Enforcement>(),
        std::mem::size_of::<Execution>()
    );
}
