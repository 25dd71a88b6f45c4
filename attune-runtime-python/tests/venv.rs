//! Per-pack virtualenvs: built from requirements.txt (a tiny local wheel from the test
//! fixtures, `--no-index`: never the network), once for executions that arrive together,
//! reused, rebuilt when the requirements change; a failed install is reported with pip's
//! error and tried again by the next execution.

mod common;

use attune_core::Engine;
use attune_core::model::{Execution, ExecutionStatus};
use attune_runtime_python::{PythonConfig, PythonRuntime};
use common::{SAFETY_WITH_PIP, assert_succeeded, run_within};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// Writes `tinypkg-<version>` as a wheel into `dir` (the package source is the fixture
/// `tests/fixtures/tinypkg/__init__.py`, its `VERSION` set).
fn make_wheel(dir: &Path, version: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tinypkg/__init__.py"),
    )
    .unwrap()
    .replace("{version}", version);
    let name = format!("tinypkg-{version}-py3-none-any.whl");
    let script = r#"
import sys, zipfile
path, version, source = sys.argv[1], sys.argv[2], sys.stdin.read()
info = "tinypkg-%s.dist-info" % version
files = {
    "tinypkg/__init__.py": source,
    info + "/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: %s\n" % version,
    info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: attune-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files[info + "/RECORD"] = "".join("%s,,\n" % f for f in files) + info + "/RECORD,,\n"
with zipfile.ZipFile(path, "w") as z:
    for f, text in files.items():
        z.writestr(f, text)
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.join(&name))
        .arg(version)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "the wheel was written");
    name
}

/// A pack `venvpack` whose action imports tinypkg, with `requirements`; the runtime (kept to
/// read its build count) installs with `--no-index`.
async fn setup(requirements: &str) -> (Engine, Arc<PythonRuntime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("venvpack");
    std::fs::create_dir_all(root.join("actions")).unwrap();
    std::fs::write(root.join("pack.yaml"), "ref: venvpack\nversion: 0.1.0\n").unwrap();
    std::fs::write(root.join("requirements.txt"), requirements).unwrap();
    std::fs::write(
        root.join("actions/shout.yaml"),
        "name: shout\nrunner_type: python-script\nentry_point: shout.py\nparameters:\n  word:\n    type: string\n",
    )
    .unwrap();
    std::fs::write(
        root.join("actions/shout.py"),
        "import tinypkg\n\ndef run(word):\n    return {'said': tinypkg.shout(word), 'version': tinypkg.VERSION}\n",
    )
    .unwrap();
    let runtime = Arc::new(PythonRuntime::new(PythonConfig {
        env_dir: dir.path().join("env"),
        pip_args: vec!["--no-index".into()],
        ..PythonConfig::default()
    }));
    let engine = Engine::builder()
        .runtime(runtime.clone())
        .build()
        .await
        .unwrap();
    engine.load_pack(&root).await.unwrap();
    (engine, runtime, dir)
}

async fn run(engine: &Engine, word: &str) -> Execution {
    run_within(
        SAFETY_WITH_PIP,
        engine,
        "venvpack.shout",
        json!({ "word": word }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_virtualenv_per_requirements_built_once_reused_and_rebuilt_on_change() {
    let (engine, runtime, dir) = setup("").await;
    let pack = dir.path().join("venvpack");
    let wheel = make_wheel(&pack.join("wheels"), "0.1");
    std::fs::write(pack.join("requirements.txt"), format!("./wheels/{wheel}\n")).unwrap();

    // Four first executions at once: one build, all four use it.
    let mut ids = Vec::new();
    for w in ["a", "b", "c", "d"] {
        ids.push(
            engine
                .execute("venvpack.shout", json!({ "word": w }))
                .await
                .unwrap(),
        );
    }
    for (id, w) in ids.into_iter().zip(["A!", "B!", "C!", "D!"]) {
        let x = tokio::time::timeout(SAFETY_WITH_PIP, engine.wait(id))
            .await
            .unwrap()
            .unwrap();
        assert_succeeded(&x, "");
        assert_eq!(
            x.result.unwrap()["result"],
            json!({"said": w, "version": "0.1"})
        );
    }
    assert_eq!(runtime.venv_builds(), 1, "built once for the four");

    let x = run(&engine, "e").await;
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    assert_eq!(
        runtime.venv_builds(),
        1,
        "reused while the requirements are the same"
    );

    let wheel = make_wheel(&pack.join("wheels"), "0.2");
    std::fs::write(pack.join("requirements.txt"), format!("./wheels/{wheel}\n")).unwrap();
    let x = run(&engine, "f").await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.unwrap()["result"]["version"], json!("0.2"));
    assert_eq!(
        runtime.venv_builds(),
        2,
        "rebuilt when the requirements changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_install_is_reported_with_pips_error_and_tried_again() {
    let (engine, runtime, dir) = setup("tinypkg-that-does-not-exist==9.9\n").await;
    let x = run(&engine, "a").await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    let msg = x.error.unwrap();
    assert!(
        msg.contains("virtualenv of pack 'venvpack' could not be built"),
        "{msg}"
    );
    assert!(
        msg.contains("pip install -r requirements.txt failed"),
        "{msg}"
    );
    assert!(
        msg.contains("tinypkg-that-does-not-exist"),
        "pip's own error is in the message: {msg}"
    );
    assert_eq!(runtime.venv_builds(), 1);

    let x = run(&engine, "b").await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(runtime.venv_builds(), 2, "the next execution tried again");

    let pack = dir.path().join("venvpack");
    let wheel = make_wheel(&pack.join("wheels"), "0.1");
    std::fs::write(pack.join("requirements.txt"), format!("./wheels/{wheel}\n")).unwrap();
    let x = run(&engine, "c").await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.unwrap()["result"]["said"], json!("C!"));
}
