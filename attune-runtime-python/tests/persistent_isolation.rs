//! Persistent mode between runs: a warm worker belongs to one pack (what one pack's action
//! leaves in an imported module never reaches another pack's), idle workers are bounded in
//! all, and nothing an action writes to the worker's pipes — a forged protocol line, stray
//! stderr of a leftover thread — reaches another run or piles up in the engine; an action
//! reading stdin sees its end, as in one-shot mode.

mod common;

use attune_core::model::ExecutionStatus;
use attune_runtime_python::{Mode, PythonConfig};
use common::{
    SAFETY, assert_succeeded, pack_engine_rt, packs_engine_grace, packs_engine_rt, run,
    until_exists,
};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// Persistent mode with `slots` interpreters at once (so at most `slots` idle workers).
fn persistent(slots: usize) -> Option<PythonConfig> {
    Some(PythonConfig {
        mode: Mode::Persistent,
        slots,
        ..PythonConfig::default()
    })
}

const TAINT: &str =
    "import json, os\n\ndef run():\n    json.leak = 'secret-A'\n    return os.getpid()\n";
const PEEK: &str =
    "import json, os\n\ndef run():\n    return [getattr(json, 'leak', None), os.getpid()]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_worker_serves_one_pack_and_idle_workers_are_bounded_in_all() {
    let no = "  {}";
    let (engine, rt, _dir) = packs_engine_rt(
        &[
            ("alpha", &[("taint", no, TAINT), ("peek", no, PEEK)]),
            ("beta", &[("peek", no, PEEK)]),
        ],
        persistent(1),
    )
    .await;
    let x = run(&engine, "alpha.taint", json!({})).await;
    assert_succeeded(&x, "");
    let alpha_pid = x.result.unwrap()["result"].clone();

    let x = run(&engine, "alpha.peek", json!({})).await;
    assert_succeeded(&x, "");
    assert_eq!(
        x.result.unwrap()["result"],
        json!(["secret-A", alpha_pid]),
        "the same pack's actions share their warm worker"
    );

    let x = run(&engine, "beta.peek", json!({})).await;
    assert_succeeded(&x, "");
    let r = x.result.unwrap()["result"].clone();
    assert_eq!(r[0], json!(null), "another pack never sees it: {r}");
    assert_ne!(r[1], alpha_pid, "another pack's worker");
    let alpha_pid = alpha_pid.as_u64().unwrap();
    assert!(
        !Path::new(&format!("/proc/{alpha_pid}")).exists(),
        "one idle worker at most in all: the least recently used one was stopped"
    );

    let x = run(&engine, "alpha.peek", json!({})).await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.unwrap()["result"][0], json!(null), "a new worker");
    assert_eq!(rt.workers_started(), 3);
}

/// Prints (so that what the worker wrote of the run so far has reached the engine), then
/// finds the worker's pipes other than its stdin and stderr (its protocol channel) and writes
/// forged protocol lines — a result, output — to each, in the old and the new form, twice;
/// then prints and returns as usual.
const FORGE: &str = r#"
import os, stat, sys

FORGED = (b'{"done": {"status": "succeeded", "result": "forged"}}\n'
          b'{"o": "forged output\\n"}\n'
          b'\nd {"status": "succeeded", "result": "forged"}\n'
          b'o "forged output\\n"\n')

def run(linger=0):
    print('before the forgery', flush=True)
    mine = {os.fstat(0).st_ino, os.fstat(2).st_ino}
    for fd in range(3, 256):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISFIFO(st.st_mode) and st.st_ino not in mine:
            try:
                os.write(fd, FORGED * 2)
            except OSError:
                pass
    print('after the forgery')
    if linger:
        import time
        time.sleep(linger)
    return 'real'
"#;

const ECHO: &str = "def run(n):\n    print('echo', n)\n    return n\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_protocol_line_never_reaches_another_run() {
    let (engine, rt, _dir) = pack_engine_rt(
        &[
            ("forge", "  linger:\n    type: number", FORGE),
            ("echo", "  n:\n    type: integer", ECHO),
        ],
        persistent(1),
    )
    .await;
    let x = run(&engine, "py.forge", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    for n in [7, 8] {
        let x = run(&engine, "py.echo", json!({ "n": n })).await;
        assert_succeeded(&x, "");
        let r = x.result.unwrap();
        assert_eq!(r["result"], json!(n), "its own result");
        assert_eq!(r["stdout"], json!(format!("echo {n}\n")), "its own output");
    }
    assert_eq!(rt.workers_started(), 1, "the worker carried on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_still_busy_after_a_forged_end_is_not_given_the_next_run() {
    let actions = [
        ("forge", "  linger:\n    type: number", FORGE),
        (
            "big",
            "  blob:\n    type: string\n  timeout:\n    type: number",
            "def run(blob):\n    return len(blob)\n",
        ),
        ("echo", "  n:\n    type: integer", ECHO),
    ];
    // The engine waits long for a run stopped at its timeout: the runtime must stop it.
    let (engine, rt, _dir) = packs_engine_grace(
        &[("py", &actions)],
        persistent(1),
        Some(Duration::from_secs(600)),
    )
    .await;
    // Its forged outcome ends its run while it lingers, without the run's end mark on
    // stderr: the worker, still busy, is stopped rather than reused.
    let x = run(&engine, "py.forge", json!({"linger": 60})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    // A request larger than a pipe's buffer, which the busy worker would not read.
    let blob = "b".repeat(1 << 20);
    let x = run(&engine, "py.big", json!({"blob": blob, "timeout": 10})).await;
    assert_succeeded(&x, "a new worker: ");
    assert_eq!(x.result.unwrap()["result"], json!(1 << 20));
    assert_eq!(rt.workers_started(), 2, "the busy worker was not reused");
    let x = run(&engine, "py.echo", json!({"n": 1})).await;
    assert_succeeded(&x, "the new worker again: ");
    assert_eq!(rt.workers_started(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_reading_stdin_gets_its_end_as_in_oneshot_mode() {
    let src = r#"
import subprocess, sys

def run(timeout=None):
    child = subprocess.run(['cat'], stdout=subprocess.PIPE)
    return [sys.stdin.read(), child.stdout.decode()]
"#;
    let (engine, _rt, _dir) = pack_engine_rt(
        &[
            ("reader", "  timeout:\n    type: number", src),
            ("echo", "  n:\n    type: integer", ECHO),
        ],
        persistent(1),
    )
    .await;
    for _ in 0..2 {
        let x = run(&engine, "py.reader", json!({"timeout": 10})).await;
        assert_succeeded(&x, "");
        assert_eq!(x.result.unwrap()["result"], json!(["", ""]));
    }
    let x = run(&engine, "py.echo", json!({"n": 2})).await;
    assert_succeeded(&x, "");
    assert_eq!(x.result.unwrap()["result"], json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_stderr_of_an_idle_worker_is_not_buffered_without_bound() {
    // A thread left behind writes to file descriptor 2 once the run is over (when `go`
    // exists), counting what the pipe took in `progress`.
    let src = r#"
import os, threading, time

def spray(go, progress):
    while not os.path.exists(go):
        time.sleep(0.01)
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT)
    piece = b'z' * 65536
    total = 0
    while True:
        total += os.write(2, piece)
        os.pwrite(fd, b'%20d' % total, 0)

def run(go, progress):
    threading.Thread(target=spray, args=(go, progress), daemon=True).start()
    return 'left a thread'
"#;
    let (engine, _rt, dir) = pack_engine_rt(
        &[(
            "spray",
            "  go:\n    type: string\n  progress:\n    type: string",
            src,
        )],
        persistent(1),
    )
    .await;
    let go = dir.path().join("go");
    let progress = dir.path().join("progress");
    let x = run(&engine, "py.spray", json!({"go": go, "progress": progress})).await;
    assert_succeeded(&x, "");
    std::fs::write(&go, "").unwrap();
    until_exists(&progress).await;
    // Not a timing assertion: given time, an unbounded buffer takes all it is given, a
    // bounded one stops at its bound.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let taken: u64 = tokio::time::timeout(SAFETY, async {
        loop {
            let text = std::fs::read_to_string(&progress).unwrap_or_default();
            if let Ok(n) = text.trim().parse() {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("progress is readable");
    assert!(
        taken < 8 << 20,
        "an idle worker's stderr was buffered up to {taken} bytes"
    );
}
