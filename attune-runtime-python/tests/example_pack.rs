//! The example pack examples/packs/pytools on the Python runtime: a run() function, a class
//! returning (ok, value) on a warm interpreter, and an action importing a package from the
//! pack's requirements.txt (its virtualenv built from the pack's own wheel, offline).

use attune_core::Engine;
use attune_core::model::ExecutionStatus;
use attune_runtime_python::{PythonConfig, PythonRuntime};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pytools_example_pack_runs() {
    let env = tempfile::tempdir().unwrap();
    let runtime = PythonRuntime::new(PythonConfig {
        env_dir: env.path().to_path_buf(),
        pip_args: vec!["--no-index".into()],
        ..PythonConfig::default()
    });
    let engine = Engine::builder()
        .runtime(Arc::new(runtime))
        .build()
        .await
        .unwrap();
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/packs/pytools");
    let summary = engine
        .load_pack(&pack)
        .await
        .expect("the example pack loads");
    assert_eq!(summary.actions, 3);
    let run = |action: &'static str, params: serde_json::Value| {
        let engine = engine.clone();
        async move {
            tokio::time::timeout(SAFETY, engine.run(action, params))
                .await
                .expect("finishes")
                .expect("runs")
        }
    };

    let x = run("pytools.greet", json!({"who": "ops"})).await;
    assert_eq!(
        x.status,
        ExecutionStatus::Succeeded,
        "{:?} {}",
        x.error,
        x.stderr
    );
    let r = x.result.unwrap();
    assert_eq!(r["result"]["greeting"], json!("hello, ops"));
    assert_eq!(r["result"]["execution"], json!(x.id.to_string()));
    assert!(x.stderr.contains("INFO greeting ops"), "{}", x.stderr);

    let x = run("pytools.check_quota", json!({"used": 40})).await;
    assert_eq!(
        x.status,
        ExecutionStatus::Succeeded,
        "{:?} {}",
        x.error,
        x.stderr
    );
    assert_eq!(x.result.unwrap()["result"]["ratio"], json!(0.4));
    let x = run("pytools.check_quota", json!({"used": 150})).await;
    assert_eq!(
        x.status,
        ExecutionStatus::Failed,
        "over quota: (False, value)"
    );

    let x = run("pytools.slug", json!({"text": "Disk full on DB-01!"})).await;
    assert_eq!(
        x.status,
        ExecutionStatus::Succeeded,
        "{:?} {}",
        x.error,
        x.stderr
    );
    assert_eq!(
        x.result.unwrap()["result"],
        json!({"slug": "disk-full-on-db-01", "textkit": "0.1"})
    );
}
