//! `attune key`, `attune inquiry`, `attune execution`, `attune policy stats` on a `--db`
//! file: exit codes and JSON documents.

mod common;

use common::{json_of, wait_until, write_files};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn attune(db: &Path) -> Command {
    let mut c = common::attune();
    c.env_remove("ATTUNE_ENCRYPTION_KEY")
        .env_remove("ATTUNE_KEY_FILE")
        .arg("--db")
        .arg(db);
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    attune(db).args(args).output().expect("attune runs")
}

// Keys: set (plain, encrypted with the key file, with a ttl, in a user scope), get, list,
// delete; an encrypted value needs the key, and never shows without --decrypt.
#[test]
fn keys_are_set_read_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let key_file = dir.path().join("k.hex");
    std::fs::write(&key_file, "ab".repeat(32)).unwrap();
    let kf = key_file.to_str().unwrap();

    let out = run(&db, &["key", "set", "greeting", "hello", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["key"]["value"], json!("hello"));

    // No key: refused (exit 2), saying so.
    let out = run(&db, &["key", "set", "token", "s3cr3t", "--encrypt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--key-file"),
        "{out:?}"
    );
    let out = run(
        &db,
        &[
            "key",
            "set",
            "token",
            "s3cr3t",
            "--encrypt",
            "--key-file",
            kf,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sealed = json_of(&out)["key"]["value"].as_str().unwrap().to_string();
    assert!(sealed.starts_with("attune:aes256gcm:") && !sealed.contains("s3cr3t"));

    let out = run(
        &db,
        &[
            "key",
            "get",
            "token",
            "--decrypt",
            "--key-file",
            kf,
            "--json",
        ],
    );
    assert_eq!(json_of(&out)["key"]["value"], json!("s3cr3t"));
    let out = run(&db, &["key", "get", "token", "--json"]);
    assert_eq!(json_of(&out)["key"]["value"], json!(sealed));

    let out = run(
        &db,
        &[
            "key", "set", "n", "42", "--scope", "user:ann", "--ttl", "600", "--json",
        ],
    );
    let k = &json_of(&out)["key"];
    assert_eq!((&k["value"], &k["scope"]), (&json!(42), &json!("user:ann")));
    assert!(k["expires"].is_string());

    let out = run(&db, &["key", "list", "--json"]);
    let listed = json_of(&out);
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["greeting", "token", "n"], "{listed}");
    let out = run(&db, &["key", "list", "--scope", "user:ann", "--json"]);
    assert_eq!(json_of(&out)["keys"].as_array().unwrap().len(), 1);

    let out = run(&db, &["key", "delete", "n", "--scope", "user:ann"]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&db, &["key", "get", "n", "--scope", "user:ann"]);
    assert_eq!(out.status.code(), Some(1));

    // Bad input: a scope that is none, a name with path tricks, no --db.
    for (args, want) in [
        (
            &["key", "get", "x", "--scope", "group:a"][..],
            "--scope 'group:a'",
        ),
        (&["key", "set", "../etc", "1"][..], "../etc"),
    ] {
        let out = run(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{out:?}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_attune"))
        .args(["key", "list"])
        .env_remove("ATTUNE_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db FILE"));
}

// An inquiry asked by `attune run core.ask` waits in the file; `inquiry list` shows it,
// `inquiry respond` answers it once (a response not fitting its schema is refused).
#[test]
fn inquiries_are_listed_and_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let schema =
        r#"schema={"type":"object","properties":{"ok":{"type":"boolean","required":true}}}"#;
    let out = run(&db, &["run", "core.ask", schema, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let asked = json_of(&out);
    assert_eq!(asked["execution"]["status"], json!("pending"));
    let id = asked["execution"]["id"].as_str().unwrap().to_string();

    let out = run(&db, &["inquiry", "list", "--json"]);
    let list = json_of(&out);
    assert_eq!(list["inquiries"][0]["id"], json!(id));
    assert_eq!(list["inquiries"][0]["ttl_minutes"], json!(1440));
    let out = run(&db, &["inquiry", "get", &id, "--json"]);
    assert_eq!(
        json_of(&out)["inquiry"]["schema"]["properties"]["ok"]["type"],
        json!("boolean")
    );

    let out = run(&db, &["inquiry", "respond", &id, r#"{"ok":"yes"}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/ok"),
        "{out:?}"
    );
    let out = run(
        &db,
        &["inquiry", "respond", &id, r#"{"ok":true}"#, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let done = json_of(&out);
    assert_eq!(done["execution"]["status"], json!("succeeded"));
    assert_eq!(done["execution"]["result"]["response"], json!({"ok": true}));
    let out = run(&db, &["inquiry", "respond", &id, r#"{"ok":true}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it is succeeded"));

    let out = run(
        &db,
        &["execution", "list", "--status", "succeeded", "--json"],
    );
    let listed = json_of(&out);
    assert_eq!(listed["total"], json!(1));
    assert_eq!(listed["executions"][0]["id"], json!(id));
    let out = run(&db, &["execution", "get", &id, "--json"]);
    assert_eq!(json_of(&out)["execution"]["action"], json!("core.ask"));
    let out = run(&db, &["execution", "cancel", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already finished"));
    let out = run(&db, &["execution", "get", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

// `policy stats` reads a pack's policy and the queue in the file.
#[test]
fn policy_stats_show_the_queue_and_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = dir.path().join("p");
    write_files(
        &pack,
        &[
            ("pack.yaml", "ref: p\n"),
            ("actions/a.yaml", "name: a\nrunner_type: noop\n"),
            (
                "policies/one.yaml",
                "name: one\nresource_ref: p.a\npolicy_type: action.concurrency\nparameters:\n  threshold: 2\n",
            ),
        ],
    );
    let out = run(
        &db,
        &[
            "policy",
            "stats",
            "p.a",
            "--pack",
            pack.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = json_of(&out);
    assert_eq!(s["stats"]["limit"], json!(2));
    assert_eq!(
        (&s["stats"]["queued"], &s["stats"]["running"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(s["policies"][0]["ref"], json!("p.one"));
}

/// A pack of shell actions and workflows for the execution-control tests.
fn control_pack(dir: &Path) -> std::path::PathBuf {
    let pack = dir.join("w");
    write_files(
        &pack,
        &[
            ("pack.yaml", "ref: w\n"),
            (
                "actions/fails.yaml",
                "name: fails\nrunner_type: local-shell-cmd\nparameters:\n  n: {type: integer, required: true}\n  cmd: {type: string, default: 'test {{ n }} -gt 1'}\n",
            ),
            (
                "actions/flow.yaml",
                "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\nparameters:\n  flag: {type: string, required: true}\n  hold: {type: string, default: sleep 2}\n",
            ),
            (
                "actions/workflows/flow.yaml",
                "version: 1.0\ninput: [flag, hold]\ntasks:\n  a:\n    action: core.local\n    input:\n      cmd: <% ctx().hold %>\n    next:\n      - when: <% succeeded() %>\n        do: b\n  b:\n    action: core.local\n    input:\n      cmd: test -f <% ctx().flag %>\noutput:\n  - done: true\n",
            ),
            (
                "actions/whoami.yaml",
                "name: whoami\nrunner_type: orquesta\nentry_point: workflows/whoami.yaml\n",
            ),
            (
                "actions/workflows/whoami.yaml",
                "version: 1.0\ntasks:\n  a:\n    action: core.noop\noutput:\n  - token: '{{ st2kv(\"token\") }}'\n  - system: '{{ st2kv(\"system.token\") }}'\n",
            ),
        ],
    );
    pack
}

// `run --user` runs on behalf of a user: the workflow reads the user's keys with a bare
// `st2kv('NAME')`; without a user that is an error saying the run has none.
#[test]
fn run_as_a_user_reads_the_users_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = control_pack(dir.path());
    let pack = pack.to_str().unwrap();
    for args in [
        &["key", "set", "token", "ann-token", "--scope", "user:ann"][..],
        &["key", "set", "token", "sys-token"],
    ] {
        let out = run(&db, args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let out = run(
        &db,
        &["run", "--pack", pack, "--user", "ann", "w.whoami", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let done = json_of(&out);
    assert_eq!(done["execution"]["user"], json!("ann"));
    assert_eq!(
        done["execution"]["result"]["output"],
        json!({"token": "ann-token", "system": "sys-token"})
    );
    let out = run(&db, &["run", "--pack", pack, "w.whoami", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let failed = json_of(&out);
    assert!(
        failed["execution"]["error"].as_str().is_some_and(
            |e| e.contains("'token' is a key of the run's user, and this run has none")
        ),
        "{failed}"
    );
    let out = run(&db, &["run", "--pack", pack, "--user", "", "w.whoami"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("user name must not be empty"));
}

// `execution rerun`: a plain action again with its stored params and overrides; a
// workflow from its failed task, keeping what succeeded.
#[test]
fn rerun_runs_again_with_overrides_or_from_the_failed_task() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = control_pack(dir.path());
    let pack = pack.to_str().unwrap();
    let out = run(&db, &["run", "--pack", pack, "w.fails", "n=1", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let first = json_of(&out)["execution"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(
        &db,
        &["execution", "rerun", "--pack", pack, &first, "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "same params fail again: {out:?}"
    );
    let out = run(
        &db,
        &[
            "execution",
            "rerun",
            "--pack",
            pack,
            &first,
            "n=2",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let again = json_of(&out);
    assert_eq!(again["execution"]["params"]["n"], json!(2));
    assert_ne!(again["execution"]["id"], json!(first));
    let out = run(
        &db,
        &["execution", "rerun", "--pack", pack, &first, "--task", "a"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("which is not a workflow"));

    let flag = dir.path().join("flag");
    let flag_arg = format!("flag={}", flag.display());
    let out = run(&db, &["run", "--pack", pack, "w.flow", &flag_arg, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "task b fails without the flag: {out:?}"
    );
    let flow = json_of(&out)["execution"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(&flag, "").unwrap();
    let out = run(&db, &["execution", "rerun", "--pack", pack, &flow, "x=1"]);
    assert_eq!(out.status.code(), Some(2), "a workflow takes no overrides");
    let out = run(
        &db,
        &["execution", "rerun", "--pack", pack, &flow, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rerun = json_of(&out);
    assert_eq!(
        rerun["execution"]["result"]["output"],
        json!({"done": true})
    );
    // Only task b ran again: one more execution of core.local, not two.
    let out = run(
        &db,
        &["execution", "list", "--action", "core.local", "--json"],
    );
    assert_eq!(json_of(&out)["total"], json!(3), "a, b, then b again");
}

// `execution pause` from another process: the run that drives the workflow stops at the
// pause (exit 0, saying how to continue); `execution resume` continues it to its end here.
#[test]
fn a_workflow_paused_from_another_process_is_resumed_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = control_pack(dir.path());
    let pack = pack.to_str().unwrap();
    let flag = dir.path().join("flag");
    std::fs::write(&flag, "").unwrap();
    let flag_arg = format!("flag={}", flag.display());
    // Task a runs until the test removes `gate` (at most a minute), so the workflow is
    // seen running and paused while it does, however slow the machine.
    let gate = dir.path().join("gate");
    std::fs::write(&gate, "").unwrap();
    let hold_arg = format!(
        "hold=i=0; while [ -f {} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
        gate.display()
    );
    let child = attune(&db)
        .args([
            "run", "--pack", pack, "w.flow", &flag_arg, &hold_arg, "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the workflow runs (its first task holds until the gate goes).
    let mut flow = String::new();
    wait_until(
        "the workflow to run",
        std::time::Duration::from_secs(60),
        || {
            let out = run(
                &db,
                &[
                    "execution",
                    "list",
                    "--action",
                    "w.flow",
                    "--status",
                    "running",
                    "--json",
                ],
            );
            let id = json_of(&out)["executions"][0]["id"]
                .as_str()
                .map(str::to_string);
            flow = id.unwrap_or_default();
            !flow.is_empty()
        },
    );
    let out = run(
        &db,
        &["execution", "pause", "--pack", pack, &flow, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let status = json_of(&out)["execution"]["status"].clone();
    assert!(
        status == json!("pausing") || status == json!("paused"),
        "{status}"
    );
    std::fs::remove_file(&gate).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stopped = json_of(&out);
    assert_eq!(stopped["execution"]["status"], json!("paused"));
    assert!(
        stopped["note"]
            .as_str()
            .unwrap()
            .contains("attune execution resume")
    );

    let out = run(
        &db,
        &["execution", "resume", "--pack", pack, &flow, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let done = json_of(&out);
    assert_eq!(done["execution"]["status"], json!("succeeded"));
    assert_eq!(done["execution"]["result"]["output"], json!({"done": true}));
    let out = run(&db, &["execution", "resume", "--pack", pack, &flow]);
    assert_eq!(out.status.code(), Some(2), "a finished run is not resumed");
}

// A workflow whose task asks stops `paused` (exit 0, naming the inquiry); answering it
// from another command continues the workflow to its end there.
#[test]
fn answering_an_inquiry_continues_its_paused_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = dir.path().join("q");
    write_files(
        &pack,
        &[
            ("pack.yaml", "ref: q\n"),
            (
                "actions/askflow.yaml",
                "name: askflow\nrunner_type: orquesta\nentry_point: workflows/askflow.yaml\n",
            ),
            (
                "actions/workflows/askflow.yaml",
                "version: 1.0\ntasks:\n  ask:\n    action: core.ask\n    input:\n      schema: {type: object, properties: {ok: {type: boolean, required: true}}}\n    next:\n      - when: <% succeeded() %>\n        publish: [answer: <% result().response.ok %>]\n        do: after\n  after:\n    action: core.noop\noutput:\n  - answer: <% ctx(answer) %>\n",
            ),
        ],
    );
    let pack = pack.to_str().unwrap();
    let out = run(&db, &["run", "--pack", pack, "q.askflow", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let paused = json_of(&out);
    assert_eq!(paused["execution"]["status"], json!("paused"));
    let flow = paused["execution"]["id"].as_str().unwrap().to_string();
    let out = run(&db, &["inquiry", "list", "--json"]);
    let list = json_of(&out);
    assert_eq!(list["inquiries"][0]["parent"], json!(flow));
    let inquiry = list["inquiries"][0]["id"].as_str().unwrap().to_string();
    assert!(
        paused["note"].as_str().unwrap().contains(&inquiry),
        "{paused}"
    );

    let out = run(
        &db,
        &["inquiry", "respond", &inquiry, r#"{"ok":true}"#, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let done = json_of(&out);
    assert_eq!(done["execution"]["id"], json!(flow));
    assert_eq!(done["execution"]["status"], json!("succeeded"));
    assert_eq!(
        done["execution"]["result"]["output"],
        json!({"answer": true})
    );
}

// `timer next` prints when a rule's timer fires next.
#[test]
fn timer_next_prints_the_next_fire_times() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = dir.path().join("tp");
    write_files(
        &pack,
        &[
            ("pack.yaml", "ref: tp\n"),
            (
                "rules/nightly.yaml",
                "name: nightly\ntrigger:\n  type: core.st2.CronTimer\n  parameters: {hour: 2, timezone: Europe/Paris}\naction: {ref: core.noop}\n",
            ),
            (
                "rules/past.yaml",
                "name: past\ntrigger:\n  type: core.st2.DateTimer\n  parameters: {date: '2020-01-01 00:00:00'}\naction: {ref: core.noop}\n",
            ),
            (
                "rules/manual.yaml",
                "name: manual\ntrigger: {type: core.st2.webhook, parameters: {url: x}}\naction: {ref: core.noop}\n",
            ),
        ],
    );
    let pack = pack.to_str().unwrap();
    let out = run(
        &db,
        &[
            "timer",
            "next",
            "--pack",
            pack,
            "--count",
            "3",
            "tp.nightly",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let next = json_of(&out);
    assert_eq!(next["cron"], json!("0 0 2 * * *"));
    let times = next["next"].as_array().unwrap();
    assert_eq!(times.len(), 3);
    for t in times {
        // 02:00 in Paris is 01:00 UTC in winter, 00:00 in summer (03:00 on the spring change).
        let t = t.as_str().unwrap();
        assert!(
            ["T00:00:00+00:00", "T01:00:00+00:00"]
                .iter()
                .any(|h| t.ends_with(h)),
            "{t}"
        );
    }
    let out = run(&db, &["timer", "next", "--pack", pack, "tp.past"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("fires no more"));
    let out = run(&db, &["timer", "next", "--pack", pack, "tp.manual"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a timer"),
        "{out:?}"
    );
}
