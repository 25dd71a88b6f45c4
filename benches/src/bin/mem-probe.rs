//! `mem-probe [n]`: live heap bytes per processed event (event + enforcement + execution kept
//! in the memory store), measured with a counting allocator. A tool for tuning the memory
//! layout; `attune-bench` reports the RSS figures.

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
        if std::env::args().nth(2).as_deref() == Some("store") {
            store_rows(n).await;
            return;
        }
        let engine = attune_benches::pipeline_engine(attune_core::Engine::builder())
            .await
            .expect("engine");
        engine.settle(Duration::from_secs(5)).await.expect("settle");
        let before = LIVE.load(Ordering::Relaxed);
        let allocs_before = ALLOCS.load(Ordering::Relaxed);
        for i in 0..n {
            engine
                .emit("bench.tick", serde_json::json!({"kind": "tick", "n": i}))
                .await
                .expect("emit");
        }
        engine
            .settle(Duration::from_secs(120))
            .await
            .expect("settle");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = LIVE.load(Ordering::Relaxed);
        let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
        println!(
            "{{\"events\": {n}, \"live_bytes_per_event\": {}, \"allocations_per_event\": {}}}",
            (after - before) / n as isize,
            allocs / n as isize
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
