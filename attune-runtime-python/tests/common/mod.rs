//! What the Python runtime's tests share: a pack of actions in a temporary directory and an
//! engine with the runtime.
#![allow(dead_code)]

use attune_core::Engine;
use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_runtime_python::{PythonConfig, PythonRuntime};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The safety net of every wait (never a timing assertion).
pub(crate) const SAFETY: Duration = Duration::from_secs(30);
/// The safety net of a wait that may build a virtualenv (pip).
pub(crate) const SAFETY_WITH_PIP: Duration = Duration::from_secs(300);

/// A pack `py` in a temporary directory with one action per `(name, parameters YAML,
/// source)`; the engine has the Python runtime with `config` (its `env_dir` in the pack's
/// temporary directory).
pub(crate) async fn pack_engine(
    actions: &[(&str, &str, &str)],
    config: Option<PythonConfig>,
) -> (Engine, tempfile::TempDir) {
    let (engine, _rt, dir) = pack_engine_rt(actions, config).await;
    (engine, dir)
}

/// As [`pack_engine`], also returning the runtime (to read its counters).
pub(crate) async fn pack_engine_rt(
    actions: &[(&str, &str, &str)],
    config: Option<PythonConfig>,
) -> (Engine, Arc<PythonRuntime>, tempfile::TempDir) {
    packs_engine_rt(&[("py", actions)], config).await
}

/// An action of a test pack: `(name, parameters YAML, source)`.
pub(crate) type TestAction<'a> = (&'a str, &'a str, &'a str);

/// As [`pack_engine_rt`] with several packs, each `(name, actions)`.
pub(crate) async fn packs_engine_rt(
    packs: &[(&str, &[TestAction<'_>])],
    config: Option<PythonConfig>,
) -> (Engine, Arc<PythonRuntime>, tempfile::TempDir) {
    packs_engine_grace(packs, config, None).await
}

/// As [`packs_engine_rt`], the engine giving a stopped run `cancel_grace` (when set) to end
/// before it drops it.
pub(crate) async fn packs_engine_grace(
    packs: &[(&str, &[TestAction<'_>])],
    config: Option<PythonConfig>,
    cancel_grace: Option<Duration>,
) -> (Engine, Arc<PythonRuntime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config.unwrap_or_default();
    config.env_dir = dir.path().join("env");
    config.grace = Duration::from_millis(500);
    let runtime = Arc::new(PythonRuntime::new(config));
    let mut builder = Engine::builder().runtime(runtime.clone());
    if let Some(g) = cancel_grace {
        builder = builder.cancel_grace(g);
    }
    let engine = builder.build().await.expect("engine builds");
    for (pack, actions) in packs {
        let root = write_pack(dir.path(), pack, actions);
        engine.load_pack(&root).await.expect("the test pack loads");
    }
    (engine, runtime, dir)
}

/// Writes pack `pack` with `actions` (as [`pack_engine`]'s) under `dir`; its root.
fn write_pack(dir: &Path, pack: &str, actions: &[TestAction<'_>]) -> std::path::PathBuf {
    let root = dir.join(pack);
    std::fs::create_dir_all(root.join("actions")).unwrap();
    std::fs::write(
        root.join("pack.yaml"),
        format!("ref: {pack}\ndescription: python test actions\nversion: 0.1.0\n"),
    )
    .unwrap();
    for (name, params, source) in actions {
        std::fs::write(root.join("actions").join(format!("{name}.py")), source).unwrap();
        std::fs::write(
            root.join("actions").join(format!("{name}.yaml")),
            format!(
                "name: {name}\nrunner_type: python-script\nentry_point: {name}.py\nparameters:\n{params}\n"
            ),
        )
        .unwrap();
    }
    root
}

/// Runs `action` to its end (within [`SAFETY`]).
pub(crate) async fn run(engine: &Engine, action: &str, params: Value) -> Execution {
    run_within(SAFETY, engine, action, params).await
}

/// Runs `action` to its end within `safety`.
pub(crate) async fn run_within(
    safety: Duration,
    engine: &Engine,
    action: &str,
    params: Value,
) -> Execution {
    tokio::time::timeout(safety, engine.run(action, params))
        .await
        .expect("finishes")
        .expect("runs")
}

/// Waits for execution `id` to end (within [`SAFETY`]).
pub(crate) async fn wait(engine: &Engine, id: ExecutionId) -> Execution {
    tokio::time::timeout(SAFETY, engine.wait(id))
        .await
        .expect("finishes")
        .expect("waits")
}

/// Waits until `path` exists (an action's sign that it started).
pub(crate) async fn until_exists(path: &Path) {
    tokio::time::timeout(SAFETY, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the action started");
}

/// Asserts that `x` succeeded, showing its error and stderr (after `context`) when not.
#[track_caller]
pub(crate) fn assert_succeeded(x: &Execution, context: &str) {
    assert_eq!(
        x.status,
        ExecutionStatus::Succeeded,
        "{context}{:?} {}",
        x.error,
        x.stderr
    );
}

/// An action without params.
pub(crate) const NO_PARAMS: &str = "  {}";
