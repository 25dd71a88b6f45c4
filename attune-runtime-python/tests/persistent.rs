//! Persistent mode: warm interpreters running one execution at a time. Results, failures and
//! exceptions as in one-shot mode; an action's module is executed afresh for each execution
//! unless it opts into sharing; what an execution changes of the process (environment,
//! sys.path, working directory) is undone; output is each execution's own; secrets stay off
//! the environment and command line; workers are recycled after N executions, after a crash
//! and after a timeout kill.

mod common;

use attune_core::model::ExecutionStatus;
use attune_runtime_python::{Mode, PythonConfig};
use common::{NO_PARAMS, assert_succeeded, pack_engine_rt, run, until_exists, wait};
use serde_json::json;

fn persistent(recycle_after: u32) -> Option<PythonConfig> {
    Some(PythonConfig {
        mode: Mode::Persistent,
        recycle_after,
        ..PythonConfig::default()
    })
}

const STATEFUL: &str = r#"
import os, sys

SEEN = []

def run(n):
    SEEN.append(n)
    os.environ['LEAK'] = 'yes'
    sys.path.append('/leak')
    os.chdir('/')
    print('run', n)
    return {'seen': SEEN, 'pid': os.getpid(), 'leak_env': os.environ.get('LEAK_BEFORE'),
            'leak_path': '/leak' in sys.path[:-1]}
"#;

const SHARED: &str = r#"
import os
ATTUNE_SHARE = True
SEEN = []

def run(n):
    SEEN.append(n)
    return {'seen': SEEN, 'pid': os.getpid()}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_worker_serves_executions_one_after_the_other_each_with_its_own_module() {
    let (engine, rt, _dir) = pack_engine_rt(
        &[
            ("stateful", "  n:\n    type: integer", STATEFUL),
            ("shared", "  n:\n    type: integer", SHARED),
            (
                "pair",
                "  ok:\n    type: boolean",
                "def run(ok):\n    return (ok, 'checked')\n",
            ),
            (
                "boom",
                NO_PARAMS,
                "def run():\n    raise KeyError('missing')\n",
            ),
        ],
        persistent(1000),
    )
    .await;
    let mut pids = Vec::new();
    for n in 1..=3 {
        let x = run(&engine, "py.stateful", json!({ "n": n })).await;
        assert_succeeded(&x, "");
        let r = x.result.unwrap();
        assert_eq!(
            r["result"]["seen"],
            json!([n]),
            "the action's module is its own each time"
        );
        assert_eq!(
            r["result"]["leak_path"],
            json!(false),
            "sys.path was restored"
        );
        assert_eq!(
            r["stdout"],
            json!(format!("run {n}\n")),
            "output is this execution's own"
        );
        pids.push(r["result"]["pid"].clone());
    }
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "one warm interpreter: {pids:?}"
    );
    assert_eq!(rt.workers_started(), 1);

    for n in 1..=3 {
        let x = run(&engine, "py.shared", json!({ "n": n })).await;
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
        let seen = x.result.unwrap()["result"]["seen"].clone();
        assert_eq!(
            seen,
            json!((1..=n).collect::<Vec<_>>()),
            "ATTUNE_SHARE keeps the module"
        );
    }

    let bad = run(&engine, "py.pair", json!({"ok": false})).await;
    assert_eq!(bad.status, ExecutionStatus::Failed);
    assert_eq!(bad.result.unwrap()["result"], json!("checked"));
    let boom = run(&engine, "py.boom", json!({})).await;
    assert_eq!(boom.status, ExecutionStatus::Failed);
    assert_eq!(boom.error.as_deref(), Some("KeyError: 'missing'"));
    assert_eq!(rt.workers_started(), 1, "failures do not cost the worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_recycled_after_n_runs_a_crash_and_a_timeout() {
    let (engine, rt, _dir) = pack_engine_rt(
        &[
            ("pid", NO_PARAMS, "import os\n\ndef run():\n    return os.getpid()\n"),
            (
                "crash",
                NO_PARAMS,
                "import os, sys\n\ndef run():\n    sys.stderr.write('going down\\n')\n    sys.stderr.flush()\n    os._exit(3)\n",
            ),
            (
                "hang",
                "  timeout:\n    type: number",
                "import time\n\ndef run():\n    time.sleep(60)\n",
            ),
        ],
        persistent(2),
    )
    .await;
    let mut pids = Vec::new();
    for _ in 0..5 {
        let x = run(&engine, "py.pid", json!({})).await;
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
        pids.push(x.result.unwrap()["result"].as_u64().unwrap());
    }
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2], "recycled after 2 runs");
    assert_eq!(pids[2], pids[3]);
    assert_eq!(rt.workers_started(), 3);

    let x = run(&engine, "py.crash", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    let msg = x.error.unwrap();
    assert!(
        msg.contains("exited with code 3") || msg.contains("closed its output"),
        "{msg}"
    );
    let x = run(&engine, "py.pid", json!({})).await;
    assert_eq!(
        x.status,
        ExecutionStatus::Succeeded,
        "a new worker after the crash"
    );

    let started = rt.workers_started();
    let x = run(&engine, "py.hang", json!({"timeout": 0.5})).await;
    assert_eq!(x.status, ExecutionStatus::Timeout);
    let x = run(&engine, "py.pid", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    assert_eq!(
        rt.workers_started(),
        started + 1,
        "the killed worker was replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_workers_secrets_stay_off_its_environment_and_command_line() {
    let src = r#"
import attune

def run(token):
    environ = open('/proc/self/environ', 'rb').read()
    cmdline = open('/proc/self/cmdline', 'rb').read()
    return [token.encode() in environ, token.encode() in cmdline, attune.get_secret('token') == token]
"#;
    let (engine, _rt, _dir) = pack_engine_rt(
        &[("peek", "  token:\n    type: string\n    secret: true", src)],
        persistent(1000),
    )
    .await;
    for _ in 0..2 {
        let x = run(&engine, "py.peek", json!({"token": "warm-s3cr3t-9"})).await;
        assert_succeeded(&x, "");
        assert_eq!(x.result.unwrap()["result"], json!([false, false, true]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_warm_worker_and_the_next_run_gets_a_new_one() {
    let (engine, rt, dir) = pack_engine_rt(
        &[
            (
                "wait",
                "  flag:\n    type: string",
                "import time\n\ndef run(flag):\n    open(flag, 'w').write('up\\n')\n    time.sleep(60)\n",
            ),
            ("pid", NO_PARAMS, "import os\n\ndef run():\n    return os.getpid()\n"),
        ],
        persistent(1000),
    )
    .await;
    let flag = dir.path().join("flag");
    let id = engine
        .execute("py.wait", json!({ "flag": flag }))
        .await
        .unwrap();
    until_exists(&flag).await;
    engine.cancel(id).await.unwrap();
    let x = wait(&engine, id).await;
    assert_eq!(x.status, ExecutionStatus::Canceled);
    let x = run(&engine, "py.pid", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    assert_eq!(rt.workers_started(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sibling_modules_are_importable_and_imported_afresh_for_each_run() {
    for mode in [Mode::Oneshot, Mode::Persistent] {
        let (engine, _rt, dir) = pack_engine_rt(
            &[(
                "uses_helper",
                NO_PARAMS,
                "import helper\n\ndef run():\n    helper.CALLS.append(1)\n    return len(helper.CALLS)\n",
            )],
            Some(PythonConfig {
                mode,
                ..PythonConfig::default()
            }),
        )
        .await;
        std::fs::write(dir.path().join("py/actions/helper.py"), "CALLS = []\n").unwrap();
        for _ in 0..3 {
            let x = run(&engine, "py.uses_helper", json!({})).await;
            assert_succeeded(&x, &format!("{mode:?}: "));
            assert_eq!(
                x.result.unwrap()["result"],
                json!(1),
                "{mode:?}: the pack's own module starts afresh in each run"
            );
        }
    }
}
