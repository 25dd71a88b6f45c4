//! SIGINT and SIGTERM to `attune`: the first cancels the running action (SIGTERM to its
//! process group, the cancel grace, SIGKILL) and reports it, exit 130/143; a second exits at
//! once and the action's processes are killed.

mod common;

use common::{Reaper, Running, alive, attune, catches, read_pid, signal, sleeper, wait_until};
use serde_json::json;
use std::time::Duration;

const SIGINT: u32 = 2;

/// `attune run` of an action that sleeps, then `SIG<sig>` to attune.
fn interrupted_run(sig: &str, json: bool) -> (common::Ended, u32) {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let mut cmd = attune();
    if json {
        cmd.arg("--json");
    }
    cmd.args(["run", "core.local", &sleeper(&pid_file, ""), "timeout=1000"]);
    let run = Running::start(cmd, false);
    let action = read_pid(&pid_file);
    let _reaper = Reaper(action);
    assert!(alive(action));
    signal(run.pid(), sig);
    let out = run.wait(Duration::from_secs(120));
    // The action's process ends with the run (SIGTERM to its group).
    wait_until(
        "the action's process to be gone",
        Duration::from_secs(30),
        || !alive(action),
    );
    (out, action)
}

#[test]
fn sigint_cancels_the_running_action_reports_it_and_exits_130() {
    let (out, _) = interrupted_run("INT", true);
    assert_eq!(out.status.code(), Some(130), "stderr:\n{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["execution"]["status"], json!("canceled"), "{doc}");
    assert_eq!(doc["exit_code"], json!(130));
    assert_eq!(doc["interrupted"], json!("SIGINT"));
    assert_eq!(doc["note"], json!("interrupted by SIGINT: canceled"));
    assert!(
        out.stderr
            .contains("attune: SIGINT: canceling the running work"),
        "{}",
        out.stderr
    );
}

#[test]
fn sigterm_cancels_the_running_action_reports_it_and_exits_143() {
    let (out, _) = interrupted_run("TERM", false);
    assert_eq!(out.status.code(), Some(143), "stderr:\n{}", out.stderr);
    assert!(
        out.stdout.contains("of core.local: canceled"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("interrupted by SIGTERM: canceled"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_second_signal_exits_at_once_and_the_action_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The action ignores SIGTERM, and its grace is longer than this test may take: only
    // the second signal can end it in time.
    let mut cmd = attune();
    cmd.args([
        "--json",
        "--cancel-grace",
        "600",
        "run",
        "core.local",
        &sleeper(&pid_file, "trap '' TERM; "),
        "timeout=1000",
    ]);
    let mut run = Running::start(cmd, false);
    let action = read_pid(&pid_file);
    let _reaper = Reaper(action);
    signal(run.pid(), "INT");
    wait_until(
        "attune to say it cancels the work",
        Duration::from_secs(60),
        || run.stderr().contains("send it again to exit at once"),
    );
    assert!(run.running(), "the first signal waits for the grace");
    assert!(alive(action), "the action ignores SIGTERM");

    signal(run.pid(), "INT");
    let out = run.wait(Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(130), "stderr:\n{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["interrupted"], json!("SIGINT"));
    assert!(
        doc["error"].as_str().unwrap().contains("interrupted twice"),
        "{doc}"
    );
    wait_until(
        "the action's process to be gone",
        Duration::from_secs(30),
        || !alive(action),
    );
}

#[test]
fn a_signal_while_stdin_is_read_ends_the_command() {
    // `emit --payload -` runs work; `rule test --event -` does not: both are waiting on
    // stdin, which never comes.
    for args in [
        vec!["--json", "emit", "core.webhook", "--payload", "-"],
        vec!["--json", "rule", "test", "--event", "-"],
    ] {
        let mut cmd = attune();
        cmd.args(&args);
        let run = Running::start(cmd, true);
        wait_until("attune to catch SIGINT", Duration::from_secs(60), || {
            catches(run.pid(), SIGINT)
        });
        signal(run.pid(), "INT");
        let out = run.wait(Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(130), "{args:?}: {}", out.stderr);
        let doc = out.json();
        assert_eq!(doc["interrupted"], json!("SIGINT"), "{doc}");
        assert!(
            doc["error"].as_str().unwrap().contains("interrupted"),
            "{doc}"
        );
    }
}

#[test]
fn sigterm_to_emit_cancels_what_the_event_started() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let pack = dir.path().join("pack");
    std::fs::create_dir_all(pack.join("triggers")).unwrap();
    std::fs::create_dir_all(pack.join("rules")).unwrap();
    std::fs::write(pack.join("pack.yaml"), "ref: t\nname: t\n").unwrap();
    std::fs::write(pack.join("triggers/go.yaml"), "name: go\npack: t\n").unwrap();
    let cmd = sleeper(&pid_file, "");
    let cmd = cmd.strip_prefix("cmd=").unwrap();
    std::fs::write(
        pack.join("rules/sleep.yaml"),
        format!(
            "name: sleep\npack: t\ntrigger: {{type: t.go}}\naction:\n  ref: core.local\n  \
             parameters:\n    cmd: {}\n    timeout: 1000\n",
            json!(cmd)
        ),
    )
    .unwrap();
    let mut c = attune();
    c.args(["--json", "emit", "--pack"]).arg(&pack).arg("t.go");
    let run = Running::start(c, false);
    let action = read_pid(&pid_file);
    let _reaper = Reaper(action);
    signal(run.pid(), "TERM");
    let out = run.wait(Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(143), "stderr:\n{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["interrupted"], json!("SIGTERM"));
    assert_eq!(doc["executions"][0]["status"], json!("canceled"), "{doc}");
    wait_until(
        "the action's process to be gone",
        Duration::from_secs(30),
        || !alive(action),
    );
}
