//! Python actions in an embedded engine: the example pack `examples/packs/pytools` — a
//! `run()` function whose log lines are streamed, a StackStorm-style class returning
//! `(ok, value)` on a warm interpreter (persistent mode), and an action importing a package
//! from the pack's `requirements.txt` (its virtualenv is built at the first execution, from
//! the pack's own wheel: no network).
//!
//! Run it with `cargo run -p attune-example-python` (needs python3 >= 3.8 with venv).

use attune_core::{Engine, Result};
use attune_runtime_python::{PythonConfig, PythonRuntime};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<()> {
    let python = PythonRuntime::new(PythonConfig {
        env_dir: std::env::temp_dir().join("attune-example-python"),
        ..PythonConfig::default()
    });
    let engine = Engine::builder().runtime(Arc::new(python)).build().await?;
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs/pytools");
    let summary = engine.load_pack(&pack).await?;
    println!("loaded pack {} ({} actions)", summary.pack, summary.actions);

    let mut logs = engine.subscribe_logs();
    let e = engine.run("pytools.greet", json!({"who": "ada"})).await?;
    println!(
        "pytools.greet: {:?} {}",
        e.status,
        e.result.unwrap_or_default()["result"]
    );
    while let Ok(line) = logs.try_recv() {
        println!("  log ({:?}): {}", line.stream, line.line);
    }

    for used in [40, 150] {
        let e = engine
            .run("pytools.check_quota", json!({"used": used, "quota": 100}))
            .await?;
        println!(
            "pytools.check_quota used={used}: {:?} {} {}",
            e.status,
            e.result.unwrap_or_default()["result"],
            e.error.unwrap_or_default()
        );
    }

    println!("pytools.slug: building the pack's virtualenv on first use ...");
    let e = engine
        .run("pytools.slug", json!({"text": "Disk full on DB-01!"}))
        .await?;
    println!(
        "pytools.slug: {:?} {} {}",
        e.status,
        e.result.unwrap_or_default()["result"],
        e.error.unwrap_or_default()
    );
    engine.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
