//! `attune serve`: timers fire and sensors dispatch into rules whose actions run; SIGHUP
//! reloads the packs (a pack with a problem keeps the running one); SIGTERM drains, stops
//! the sensors and exits 0; logs are JSON lines with `--log-format json`; `sensor list`
//! says which sensors a rule uses.

mod common;

use common::{Reaper, Running, alive, attune, json_of, read_pid, signal, wait_until, write_files};
use std::path::Path;
use std::time::Duration;

/// A pack `svc`: a timer rule every second and a process sensor's rule, both appending a
/// line to `out` (the tick's line says `tick-<version>`).
fn svc_pack(dir: &Path, version: &str) {
    let out = dir.join("out");
    let pid = dir.join("sensor.pid");
    write_files(
        dir,
        &[
            ("svc/pack.yaml", "ref: svc\nname: svc\nversion: 1.0.0\n"),
            (
                "svc/sensors/feed.yaml",
                "name: feed\nentry_point: feed.sh\ntrigger_types:\n  - name: ping\n",
            ),
            (
                "svc/sensors/feed.sh",
                &format!(
                    "echo $$ > {}\necho '{{\"trigger\": \"svc.ping\", \"payload\": {{\"v\": 1}}}}'\nexec sleep 600\n",
                    pid.display()
                ),
            ),
            (
                "svc/rules/tick.yaml",
                &format!(
                    "name: tick\npack: svc\ntrigger:\n  type: core.st2.IntervalTimer\n  \
                     parameters:\n    unit: seconds\n    delta: 1\naction:\n  ref: core.local\n  \
                     parameters:\n    cmd: echo tick-{version} >> {}\n",
                    out.display()
                ),
            ),
            (
                "svc/rules/on_ping.yaml",
                &format!(
                    "name: on_ping\npack: svc\ntrigger:\n  type: svc.ping\naction:\n  \
                     ref: core.local\n  parameters:\n    cmd: echo ping-{{{{ trigger.v }}}} >> {}\n",
                    out.display()
                ),
            ),
        ],
    );
}

fn out_has(dir: &Path, text: &str) -> bool {
    std::fs::read_to_string(dir.join("out")).is_ok_and(|t| t.contains(text))
}

#[test]
fn serve_runs_timers_and_sensors_reloads_on_sighup_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    svc_pack(d, "v1");
    let mut cmd = attune();
    cmd.args(["--log-format", "json", "serve", "--pack"])
        .arg(d.join("svc"))
        .arg("--db")
        .arg(d.join("state.db"))
        .args(["--drain-grace", "20"]);
    let mut run = Running::start(cmd, false);
    let sensor = read_pid(&d.join("sensor.pid"));
    let _reaper = Reaper(sensor);
    let long = Duration::from_secs(60);
    wait_until("the sensor's event to run its rule", long, || {
        out_has(d, "ping-1")
    });
    wait_until("the timer to fire", long, || out_has(d, "tick-v1"));

    // A pack with a problem: refused, the running pack stays.
    write_files(
        d,
        &[(
            "svc/rules/bad.yaml",
            "name: bad\npack: svc\ntrigger: {type: svc.nope}\naction: {ref: core.noop}\n",
        )],
    );
    signal(run.pid(), "HUP");
    wait_until("the refused reload in the log", long, || {
        run.stderr().contains("reload refused")
    });
    assert!(run.running());
    std::fs::remove_file(d.join("svc/rules/bad.yaml")).unwrap();

    // The rule changes on disk; SIGHUP installs it.
    svc_pack(d, "v2");
    signal(run.pid(), "HUP");
    wait_until("the reloaded rule to fire", long, || out_has(d, "tick-v2"));
    assert!(run.stderr().contains("packs reloaded"), "{}", run.stderr());

    signal(run.pid(), "TERM");
    let ended = run.wait(Duration::from_secs(120));
    assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
    assert!(
        ended.stdout.contains("stopped after SIGTERM (drained)"),
        "{}",
        ended.stdout
    );
    wait_until("the sensor process to be gone", long, || !alive(sensor));
    // Every log line is one JSON object.
    let lines: Vec<&str> = ended
        .stderr
        .lines()
        .filter(|l| !l.starts_with("attune: "))
        .collect();
    assert!(lines.len() > 3, "{}", ended.stderr);
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
    assert!(ended.stderr.contains("attune serve: draining"));

    // What ran is in the --db file.
    let listed = attune()
        .args(["--json", "execution", "list", "--db"])
        .arg(d.join("state.db"))
        .output()
        .unwrap();
    let doc = json_of(&listed);
    let n = doc["executions"].as_array().map_or(0, Vec::len);
    assert!(n >= 3, "{doc}");
}

#[test]
fn sensor_list_says_which_sensors_a_rule_uses() {
    let dir = tempfile::tempdir().unwrap();
    svc_pack(dir.path(), "v1");
    let out = attune()
        .args(["--json", "sensor", "list", "--pack"])
        .arg(dir.path().join("svc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = json_of(&out);
    assert_eq!(doc["sensors"][0]["ref"], "svc.feed");
    assert_eq!(doc["sensors"][0]["runner"], "shell");
    assert_eq!(doc["sensors"][0]["used_by_rules"], true);
    // Without the rule: idle.
    std::fs::remove_file(dir.path().join("svc/rules/on_ping.yaml")).unwrap();
    let out = attune()
        .args(["sensor", "list", "--pack"])
        .arg(dir.path().join("svc"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("svc.feed [shell] idle"), "{text}");
}

#[test]
fn serve_without_packs_or_db_says_what_is_missing() {
    let out = attune().arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to serve"), "{err}");
}

#[test]
fn serve_with_part_of_the_pipeline_needs_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let out = attune()
        .args(["serve", "--role", "match,work", "--db"])
        .arg(dir.path().join("state.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs --db postgres://"), "{err}");
    assert!(!dir.path().join("state.db").exists(), "nothing was opened");
}
