//! The example pack examples/packs/pytools on the Python runtime: a run() function, a class
//! returning (ok, value) on a warm interpreter, and an action importing a package from the
//! pack's requirements.txt (its virtualenv built from the pack's own wheel, offline).

mod common;

use attune_core::Engine;
use attune_core::model::ExecutionStatus;
use attune_runtime_python::{PythonConfig, PythonRuntime};
use common::{SAFETY_WITH_PIP, assert_succeeded, run_within};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

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
    let run = |action, params| run_within(SAFETY_WITH_PIP, &engine, action, params);

    let x = run("pytools.greet", json!({"who": "ops"})).await;
    assert_succeeded(&x, "");
    let r = x.result.unwrap();
    assert_eq!(r["result"]["greeting"], json!("hello, ops"));
    assert_eq!(r["result"]["execution"], json!(x.id.to_string()));
    assert!(x.stderr.contains("INFO greeting ops"), "{}", x.stderr);

    let x = run("pytools.check_quota", json!({"used": 40})).await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.unwrap()["result"]["ratio"], json!(0.4));
    let x = run("pytools.check_quota", json!({"used": 150})).await;
    assert_eq!(
        x.status,
        ExecutionStatus::Failed,
        "over quota: (False, value)"
    );

    let x = run("pytools.slug", json!({"text": "Disk full on DB-01!"})).await;
    assert_succeeded(&x, "");
    assert_eq!(
        x.result.unwrap()["result"],
        json!({"slug": "disk-full-on-db-01", "textkit": "0.1"})
    );
}
