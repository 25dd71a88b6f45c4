//! The Python runtime through the engine: run() and class actions, (bool, value) results,
//! exceptions, values that are not JSON, the `attune` helper module, secrets kept off the
//! environment and command line, timeouts and cancel with no process left behind, output
//! caps, and a clear error when the interpreter is missing.

mod common;

use attune_core::model::ExecutionStatus;
use attune_runtime_python::{PythonConfig, PythonRuntime};
use common::{NO_PARAMS, assert_succeeded, pack_engine, run, until_exists, wait};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_function_gets_its_params_and_its_return_value_is_the_result() {
    let (engine, _dir) = pack_engine(
        &[(
            "add",
            "  a:\n    type: integer\n    required: true\n  b:\n    type: integer\n    default: 2",
            "import sys\n\ndef run(a, b):\n    print('adding', a, b)\n    return {'sum': a + b, 'python': sys.version_info[0]}\n",
        )],
        None,
    )
    .await;
    let x = run(&engine, "py.add", json!({"a": 40})).await;
    assert_succeeded(&x, "");
    let r = x.result.unwrap();
    assert_eq!(r["result"], json!({"sum": 42, "python": 3}));
    assert_eq!(r["exit_code"], json!(0));
    assert_eq!(
        r["stdout"],
        json!("adding 40 2\n"),
        "the action's prints are its stdout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_with_run_works_as_stackstorm_actions_are_written() {
    let (engine, _dir) = pack_engine(
        &[
            (
                "greet",
                "  who:\n    type: string",
                "import attune\n\nclass Greet(attune.Action):\n    def run(self, who):\n        self.logger.info('greeting %s', who)\n        return 'hello ' + who\n",
            ),
            (
                "plain",
                NO_PARAMS,
                "class Plain(object):\n    def run(self):\n        return [1, 2]\n",
            ),
        ],
        None,
    )
    .await;
    let x = run(&engine, "py.greet", json!({"who": "ops"})).await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.as_ref().unwrap()["result"], json!("hello ops"));
    assert!(
        x.stderr.contains("INFO greeting ops"),
        "attune.logger lines reach the execution's log: {:?}",
        x.stderr
    );
    let x = run(&engine, "py.plain", json!({})).await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.unwrap()["result"], json!([1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bool_value_pairs_decide_the_status() {
    let (engine, _dir) = pack_engine(
        &[(
            "pair",
            "  ok:\n    type: boolean",
            "def run(ok):\n    return (ok, {'checked': True})\n",
        )],
        None,
    )
    .await;
    let good = run(&engine, "py.pair", json!({"ok": true})).await;
    assert_eq!(good.status, ExecutionStatus::Succeeded);
    assert_eq!(good.result.unwrap()["result"], json!({"checked": true}));
    let bad = run(&engine, "py.pair", json!({"ok": false})).await;
    assert_eq!(bad.status, ExecutionStatus::Failed);
    assert_eq!(bad.result.unwrap()["result"], json!({"checked": true}));
    assert!(
        bad.error.unwrap().contains("returned failure"),
        "the error says the action reported failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_and_unserialisable_values_fail_with_the_reason() {
    let (engine, _dir) = pack_engine(
        &[
            (
                "boom",
                NO_PARAMS,
                "def helper():\n    raise ValueError('disk full on /var')\n\ndef run():\n    helper()\n",
            ),
            ("odd", NO_PARAMS, "def run():\n    return {'when': object()}\n"),
            ("quits", NO_PARAMS, "import sys\n\ndef run():\n    sys.exit(3)\n"),
            ("norun", NO_PARAMS, "X = 1\n"),
            ("broken", NO_PARAMS, "def run(:\n"),
        ],
        None,
    )
    .await;
    let x = run(&engine, "py.boom", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(x.error.as_deref(), Some("ValueError: disk full on /var"));
    let e = &x.result.unwrap()["error"];
    assert_eq!(e["type"], json!("ValueError"));
    let tb = e["traceback"].as_str().unwrap();
    assert!(tb.contains("in helper") && tb.contains("boom.py"), "{tb}");

    for (action, says) in [
        ("py.odd", "not JSON-serialisable"),
        ("py.quits", "sys.exit(3)"),
        ("py.norun", "no run(**params) function"),
    ] {
        let x = run(&engine, action, json!({})).await;
        assert_eq!(x.status, ExecutionStatus::Failed, "{action}");
        assert!(
            x.error.as_deref().unwrap().contains(says),
            "{action}: {:?}",
            x.error
        );
    }
    let x = run(&engine, "py.broken", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert!(
        x.error.as_deref().unwrap().starts_with("SyntaxError"),
        "{:?}",
        x.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_come_on_stdin_only_and_through_get_secret() {
    let src = r#"
import attune, os

def run(token, user):
    environ = open('/proc/self/environ', 'rb').read()
    cmdline = open('/proc/self/cmdline', 'rb').read()
    return {
        'in_environ': token.encode() in environ,
        'in_cmdline': token.encode() in cmdline,
        'get_secret': attune.get_secret('token') == token,
        'not_secret': attune.get_secret('user'),
        'execution_id': attune.execution_id == os.environ['ATTUNE_EXECUTION_ID'],
    }
"#;
    let (engine, _dir) = pack_engine(
        &[(
            "peek",
            "  token:\n    type: string\n    secret: true\n  user:\n    type: string",
            src,
        )],
        None,
    )
    .await;
    let x = run(
        &engine,
        "py.peek",
        json!({"token": "s3cr3t-value-x", "user": "ops"}),
    )
    .await;
    assert_succeeded(&x, "");
    assert_eq!(
        x.result.unwrap()["result"],
        json!({
            "in_environ": false,
            "in_cmdline": false,
            "get_secret": true,
            "not_secret": null,
            "execution_id": true,
        })
    );
    assert_eq!(
        x.params["token"],
        json!("********"),
        "the stored params keep it redacted"
    );
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_cancel_stop_the_whole_process_group() {
    let src = r#"
import subprocess, sys, time

def run(pid_file, timeout=None):
    child = subprocess.Popen(['sleep', '60'])
    with open(pid_file, 'w') as f:
        f.write('%d\n' % child.pid)
    time.sleep(60)
"#;
    let (engine, dir) = pack_engine(
        &[(
            "hang",
            "  pid_file:\n    type: string\n  timeout:\n    type: number",
            src,
        )],
        None,
    )
    .await;
    let pid_file = dir.path().join("pid");
    let x = run(
        &engine,
        "py.hang",
        json!({"pid_file": pid_file, "timeout": 1}),
    )
    .await;
    assert_eq!(x.status, ExecutionStatus::Timeout, "{:?}", x.error);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the action's child was killed with the group");

    std::fs::remove_file(&pid_file).unwrap();
    let id = engine
        .execute("py.hang", json!({"pid_file": pid_file}))
        .await
        .unwrap();
    until_exists(&pid_file).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.cancel(id).await.unwrap();
    let x = wait(&engine, id).await;
    assert_eq!(x.status, ExecutionStatus::Canceled);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the action's child was killed with the group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped_as_for_shell_actions() {
    let (engine, _dir) = pack_engine(
        &[(
            "chatty",
            NO_PARAMS,
            "import sys\n\ndef run():\n    for i in range(20000):\n        print('line %05d' % i)\n    return 'done'\n",
        )],
        Some(PythonConfig {
            max_output_bytes: 1000,
            ..PythonConfig::default()
        }),
    )
    .await;
    let x = run(&engine, "py.chatty", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    let r = x.result.unwrap();
    assert_eq!(r["result"], json!("done"));
    assert_eq!(r["stdout_truncated"], json!(true));
    let out = r["stdout"].as_str().unwrap();
    assert!(out.starts_with("line 00000\n"), "{out}");
    assert!(
        out.ends_with("[attune: stdout truncated: kept 1000 of 220000 bytes]\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_interpreter_is_a_clear_error() {
    let (engine, _dir) = pack_engine(
        &[("any", NO_PARAMS, "def run():\n    return 1\n")],
        Some(PythonConfig {
            python: "/nonexistent/python3".into(),
            ..PythonConfig::default()
        }),
    )
    .await;
    let x = run(&engine, "py.any", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    let msg = x.error.unwrap();
    assert!(
        msg.contains("/nonexistent/python3") && msg.contains("3.8 or newer"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_interpreter_is_resolved_to_its_real_path() {
    let dir = tempfile::tempdir().unwrap();
    // A shim, as pyenv installs: a script that execs the real interpreter.
    let shim = dir.path().join("python3");
    let real = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    std::fs::write(&shim, format!("#!/bin/sh\nexec {real} \"$@\"\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rt = PythonRuntime::new(PythonConfig {
        python: shim.clone(),
        ..PythonConfig::default()
    });
    let interp = rt.interpreter().await.unwrap();
    assert_eq!(interp.path, Path::new(&real), "past the shim");
    assert!(interp.version >= (3, 8, 0));
}

#[tokio::test]
async fn an_interpreter_older_than_3_8_is_refused_naming_its_version() {
    let dir = tempfile::tempdir().unwrap();
    // Answers the version probe as a Python 3.6 would.
    let old = dir.path().join("python3");
    std::fs::write(&old, "#!/bin/sh\necho /usr/bin/python3.6\necho 3.6.9\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rt = PythonRuntime::new(PythonConfig {
        python: old,
        ..PythonConfig::default()
    });
    let err = rt.interpreter().await.unwrap_err().to_string();
    assert!(
        err.contains("is Python 3.6.9") && err.contains("3.8 or newer"),
        "{err}"
    );
}
