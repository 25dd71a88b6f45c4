//! The `attune` binary: exit codes and JSON documents of each command.

mod common;

use common::{attune, json_of, root};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Output, Stdio};

fn example_pack() -> String {
    root()
        .join("examples/packs/monitoring")
        .display()
        .to_string()
}

fn event_file() -> String {
    root()
        .join("examples/events/critical_db_alert.json")
        .display()
        .to_string()
}

fn run(args: &[&str]) -> Output {
    attune().args(args).output().expect("attune runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `text` at `rel` under `dir`, making the folders on the way.
fn write_file(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn bad_pack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let w = |n: &str, t: &str| write_file(dir.path(), n, t);
    w("pack.yaml", "ref: broken\n");
    w(
        "actions/a.yaml",
        "name: a\nrunner_type: noop\nentry_pont: x\n",
    );
    w(
        "rules/r.yaml",
        "name: r\ntrigger: {type: core.webhook}\naction: {ref: broken.nope}\n",
    );
    dir
}

#[test]
fn pack_validate_clean_pack_exits_0() {
    let out = run(&["pack", "validate", &example_pack()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ok monitoring"), "{}", text(&out));
    let out = run(&["--json", "pack", "validate", &example_pack()]);
    let doc = json_of(&out);
    assert_eq!(doc["command"], json!("pack validate"));
    assert_eq!(doc["ok"], json!(true));
    assert_eq!(doc["exit_code"], json!(0));
    assert_eq!(doc["packs"][0]["pack"], json!("monitoring"));
    assert_eq!(doc["packs"][0]["counts"]["rules"], json!(4));
}

#[test]
fn pack_validate_lists_every_problem_and_exits_1() {
    let bad = bad_pack();
    let dir = bad.path().display().to_string();
    let out = run(&["pack", "validate", &dir, &example_pack()]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("FAILED broken: 2 problems"), "{t}");
    assert!(
        t.contains(
            "actions/a.yaml:3:1: entry_pont: unknown key 'entry_pont' (did you mean 'entry_point'?)"
        ),
        "{t}"
    );
    assert!(
        t.contains("rules/r.yaml:3:10: action.ref: action 'broken.nope' does not exist"),
        "{t}"
    );
    assert!(
        t.contains("ok monitoring"),
        "the good pack is still checked: {t}"
    );

    let out = run(&["--json", "pack", "validate", &dir]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["ok"], json!(false));
    assert_eq!(doc["problems"], json!(2));
    let p = &doc["packs"][0]["problems"][0];
    assert_eq!(p["file"], json!("actions/a.yaml"));
    assert_eq!(
        (p["line"].clone(), p["column"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(p["path"], json!("entry_pont"));
    assert_eq!(p["hint"], json!("did you mean 'entry_point'?"));
}

/// `--partial`: what checks clean loads, what does not is listed as left out; validate still
/// exits 1, `run` goes on (the left-out list on stderr); without it, the refusal says that
/// `--partial` exists.
#[test]
fn partial_loads_what_checks_clean_and_lists_the_rest() {
    let bad = bad_pack();
    write_file(
        bad.path(),
        "actions/ok.yaml",
        "name: ok\nrunner_type: noop\n",
    );
    let dir = bad.path().display().to_string();

    let out = run(&["pack", "validate", "--partial", &dir]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("ok broken"), "{t}");
    assert!(t.contains("1 action,"), "{t}");
    assert!(
        t.contains("actions/a.yaml:3:1: left out: entry_pont: unknown key 'entry_pont'"),
        "{t}"
    );
    assert!(
        t.contains("rules/r.yaml:3:10: left out: action.ref: action 'broken.nope' does not exist"),
        "{t}"
    );
    let out = run(&["--json", "pack", "validate", "--partial", &dir]);
    let doc = json_of(&out);
    assert_eq!(doc["ok"], json!(false));
    assert_eq!(doc["problems"], json!(2));
    assert_eq!(doc["packs"][0]["ok"], json!(true));
    assert_eq!(
        doc["packs"][0]["left_out"][0]["file"],
        json!("actions/a.yaml")
    );

    let out = run(&["--partial", "run", "--pack", &dir, "broken.ok"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pack 'broken' loaded without what has problems")
            && err.contains("left out: entry_pont"),
        "{err}"
    );

    let out = run(&["run", "--pack", &dir, "broken.ok"]);
    assert_eq!(out.status.code(), Some(2));
    let t = format!("{}{}", text(&out), String::from_utf8_lossy(&out.stderr));
    assert!(t.contains("--partial loads what checks clean"), "{t}");
}

#[test]
fn pack_validate_needs_a_dir() {
    let out = run(&["pack", "validate"]);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}

#[test]
fn rule_test_explains_and_exits_0_on_a_match() {
    let out = run(&[
        "rule",
        "test",
        "--pack",
        &example_pack(),
        "--event",
        &event_file(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("rule monitoring.page_on_critical: MATCHED"),
        "{t}"
    );
    assert!(
        t.contains("pass trigger.severity greaterthan 3 — saw 5"),
        "{t}"
    );
    assert!(
        t.contains("\"token\":\"********\""),
        "secrets redacted: {t}"
    );
    assert!(t.contains("2 of 3 rules matched"), "{t}");

    let out = run(&[
        "--json",
        "rule",
        "test",
        "--pack",
        &example_pack(),
        "--event",
        &event_file(),
        "--rule",
        "monitoring.summarize",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json_of(&out);
    assert_eq!(doc["matched"], json!(true));
    let rules = doc["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["rule"], json!("monitoring.summarize"));
    assert_eq!(rules[0]["criteria"][0]["operator"], json!("startswith"));
    assert_eq!(rules[0]["criteria"][0]["value"], json!("db-7"));
    assert_eq!(rules[0]["criteria"][0]["passed"], json!(true));
    assert_eq!(rules[0]["params"]["message"], json!("REPLICA DOWN"));
}

#[test]
fn rule_test_exits_1_when_nothing_matches_and_reads_stdin() {
    let mut child = attune()
        .args([
            "--json",
            "rule",
            "test",
            "--pack",
            &example_pack(),
            "--event",
            "-",
            "--rule",
            "monitoring.page_on_critical",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let event = json!({"trigger": "monitoring.alert", "payload": {"host": "web-1", "severity": 5, "message": "down", "tags": ["prod"], "checks": []}});
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), event.to_string().as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["matched"], json!(false));
    let failed: Vec<&str> = doc["rules"][0]["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == json!(false))
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["trigger.host", "trigger.checks"]);
    assert_eq!(doc["rules"][0]["params"], Value::Null);
}

#[test]
fn rule_test_errors_exit_2() {
    let missing = run(&[
        "rule",
        "test",
        "--pack",
        &example_pack(),
        "--event",
        "/nonexistent/event.json",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/event.json"));

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.json");
    std::fs::write(&f, r#"{"payload": {}}"#).unwrap();
    let out = run(&[
        "--json",
        "rule",
        "test",
        "--pack",
        &example_pack(),
        "--event",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        json_of(&out)["error"]
            .as_str()
            .unwrap()
            .contains("\"trigger\"")
    );

    std::fs::write(&f, r#"{"trigger": "monitoring.nope"}"#).unwrap();
    let out = run(&[
        "rule",
        "test",
        "--pack",
        &example_pack(),
        "--event",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));

    let bad = bad_pack();
    std::fs::write(&f, r#"{"trigger": "core.webhook", "payload": {}}"#).unwrap();
    let out = run(&[
        "--json",
        "rule",
        "test",
        "--pack",
        bad.path().to_str().unwrap(),
        "--event",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let doc = json_of(&out);
    assert_eq!(doc["packs"][0]["pack"], json!("broken"));
    assert_eq!(doc["packs"][0]["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn run_prints_the_execution() {
    let out = run(&[
        "--json",
        "run",
        "--pack",
        &example_pack(),
        "monitoring.format_alert",
        "host=db-1",
        "severity=2",
        "team=ops",
        "message=disk full",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_eq!(doc["command"], json!("run"));
    let e = &doc["execution"];
    assert_eq!(e["status"], json!("succeeded"));
    assert_eq!(
        e["params"]["severity"],
        json!(2),
        "severity=2 is JSON, not a string"
    );
    assert_eq!(
        e["result"]["summary"],
        json!("[WARNING] db-1: disk full (team ops)")
    );

    let out = run(&["run", "core.echo", "message=hello"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("succeeded") && text(&out).contains("\"stdout\":\"hello\""),
        "{}",
        text(&out)
    );
}

#[test]
fn run_failures_exit_1_and_bad_input_exits_2() {
    let out = run(&["--json", "run", "core.error", "message=boom"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["execution"]["status"], json!("failed"));
    assert!(doc["execution"]["error"].as_str().unwrap().contains("boom"));

    let out = run(&["run", "core.echo"]);
    assert_eq!(out.status.code(), Some(2), "missing required param");
    assert!(String::from_utf8_lossy(&out.stderr).contains("message"));
    let out = run(&["run", "core.echo", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["run", "no.such_action"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn emit_prints_enforcements_and_executions() {
    let payload = r#"{"host":"db-2","severity":5,"message":"down","tags":["prod"],"checks":[{"status":"failing"}]}"#;
    let out = run(&[
        "--json",
        "emit",
        "--pack",
        &example_pack(),
        "monitoring.alert",
        "--payload",
        payload,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc = json_of(&out);
    assert_eq!(doc["event"]["trigger"], json!("monitoring.alert"));
    let mut rules: Vec<&str> = doc["enforcements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    rules.sort_unstable();
    assert_eq!(
        rules,
        vec!["monitoring.page_on_critical", "monitoring.summarize"]
    );
    let execs = doc["executions"].as_array().unwrap();
    assert_eq!(execs.len(), 2);
    assert!(execs.iter().all(|e| e["status"] == json!("succeeded")));
    let page = execs
        .iter()
        .find(|e| e["action"] == json!("monitoring.page"))
        .unwrap();
    assert_eq!(page["params"]["token"], json!("********"));

    // @FILE payloads, and the text form.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p.json");
    std::fs::write(&f, r#"{"host": "web-9"}"#).unwrap();
    let arg = format!("@{}", f.display());
    let out = run(&[
        "emit",
        "--pack",
        &example_pack(),
        "monitoring.alert",
        "--payload",
        &arg,
    ]);
    let t = text(&out);
    assert!(
        t.contains("rule monitoring.unrouted: enforcement processed"),
        "{t}"
    );
    assert!(t.contains("unrouted alert from web-9"), "{t}");
}

#[test]
fn emit_bad_input_exits_2() {
    let out = run(&[
        "emit",
        "--pack",
        &example_pack(),
        "monitoring.alert",
        "--payload",
        "{not json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    let out = run(&["emit", "no.such_trigger"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_dir_feeds_pack_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("monitoring.yaml"), "team: dba\n").unwrap();
    let out = run(&[
        "--json",
        "--config-dir",
        dir.path().to_str().unwrap(),
        "rule",
        "test",
        "--pack",
        &example_pack(),
        "--event",
        &event_file(),
        "--rule",
        "monitoring.summarize",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["rules"][0]["params"]["team"], json!("dba"));
}

#[test]
fn past_wait_the_execution_is_canceled_and_reported() {
    let out = run(&["--json", "run", "--wait", "0.3", "core.sleep", "delay=30"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_eq!(doc["execution"]["status"], json!("canceled"));
    assert!(doc["note"].as_str().unwrap().contains("--wait"));
}

#[test]
fn shell_actions_run_core_local_and_pack_scripts() {
    let out = run(&[
        "--json",
        "run",
        "core.local",
        "cmd=echo hi from $ATTUNE_ACTION",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = &json_of(&out)["execution"];
    assert_eq!(e["result"]["stdout"], json!("hi from core.local"));
    assert_eq!(e["result"]["return_code"], json!(0));
    assert_eq!(e["result"]["succeeded"], json!(true));

    let out = run(&[
        "--json",
        "run",
        "--pack",
        &example_pack(),
        "monitoring.check_host",
        "host=localhost",
        "port=80",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = &json_of(&out)["execution"];
    assert_eq!(e["result"]["result"]["host"], json!("localhost"));
    assert_eq!(e["result"]["result"]["port"], json!(80));

    let out = run(&["--json", "run", "core.local", "cmd=exit 4"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["execution"]["error"], json!("exit code 4"));
}

#[test]
fn db_keeps_state_in_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let db = db.to_str().unwrap();
    for _ in 0..2 {
        let out = run(&["--json", "--db", db, "run", "core.echo", "message=kept"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            json_of(&out)["execution"]["result"],
            json!({"stdout": "kept"})
        );
    }
    assert!(std::fs::metadata(db).unwrap().len() > 0);
    let out = run(&["--db", "/nonexistent/dir/x.db", "run", "core.noop"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unusable database file is an error"
    );
}

fn example_workflow() -> String {
    root()
        .join("examples/packs/monitoring/actions/workflows/triage.yaml")
        .display()
        .to_string()
}

#[test]
fn workflow_validate_exits_0_on_a_clean_file_and_1_with_every_problem() {
    let out = run(&["workflow", "validate", &example_workflow()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("5 tasks, starting at start"),
        "{}",
        text(&out)
    );
    let out = run(&["--json", "workflow", "validate", &example_workflow()]);
    let v = json_of(&out);
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["start_tasks"], json!(["start"]));
    assert_eq!(
        v["actions"],
        json!(["core.echo", "core.local", "core.noop"])
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "tasks:\n  a:\n    action: core.noop\n    next:\n      - do: bb\n  b:\n    join: all\n",
    )
    .unwrap();
    let out = run(&["--json", "workflow", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    assert_eq!(v["command"], json!("workflow validate"));
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{v:#}");
    assert_eq!(problems[0]["line"], json!(5));
    assert_eq!(problems[0]["path"], json!("tasks.a.next[0].do"));
    assert_eq!(problems[0]["hint"], json!("did you mean 'b'?"));
    assert_eq!(problems[1]["path"], json!("tasks.b.join"));
    let out = run(&["workflow", "validate", bad.to_str().unwrap()]);
    assert!(
        text(&out).contains("bad.yaml:5:9: tasks.a.next[0].do: 'do' names task 'bb'"),
        "{}",
        text(&out)
    );
    // Not a file: a problem, not a hang or a panic.
    let out = run(&["workflow", "validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
}

#[test]
fn workflow_graph_prints_dot_or_mermaid() {
    let out = run(&["workflow", "graph", &example_workflow()]);
    assert_eq!(out.status.code(), Some(0));
    let dot = text(&out);
    assert!(dot.starts_with("digraph \"triage\" {"), "{dot}");
    assert!(
        dot.contains("\"start\" -> \"check_host\" [label=\"succeeded()\"];"),
        "{dot}"
    );
    let out = run(&[
        "--json",
        "workflow",
        "graph",
        "--format",
        "mermaid",
        &example_workflow(),
    ]);
    let v = json_of(&out);
    assert_eq!(v["format"], json!("mermaid"));
    let m = v["graph"].as_str().unwrap();
    assert!(
        m.contains("t_decide -->|\"ctx(#quot;severity#quot;) == #quot;critical#quot;\"| t_notify"),
        "{m}"
    );
    let out = run(&["workflow", "graph", "--format", "svg", &example_workflow()]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown format");
}

#[test]
fn workflow_graph_of_a_run_colours_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let db = db.to_str().unwrap();
    let pack = example_pack();
    // localhost is checked with `ping`; whether it answers or not, a branch runs.
    let out = run(&[
        "--db",
        db,
        "--json",
        "run",
        "--pack",
        &pack,
        "monitoring.triage",
        "host=localhost",
    ]);
    let v = json_of(&out);
    let id = v["execution"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["execution"]["status"], json!("succeeded"), "{v:#}");
    let out = run(&["--db", db, "--json", "workflow", "graph", &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = json_of(&out);
    assert_eq!(g["tasks"]["start"], json!("succeeded"), "{g:#}");
    assert_eq!(g["tasks"]["decide"], json!("succeeded"), "{g:#}");
    assert!(
        g["graph"].as_str().unwrap().contains("[succeeded]"),
        "{g:#}"
    );
    // An id that is no execution: exit 2, said so.
    let out = run(&[
        "--db",
        db,
        "workflow",
        "graph",
        "01a2228f-c2db-7743-bc20-5d4834804b8d",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn example_rehearsal() -> String {
    root()
        .join("examples/packs/monitoring/rehearsals/triage_host_down.yaml")
        .display()
        .to_string()
}

#[test]
fn workflow_rehearse_exits_0_when_the_outcome_matches_and_1_at_the_first_difference() {
    let out = run(&[
        "workflow",
        "rehearse",
        &example_workflow(),
        "--mocks",
        &example_rehearsal(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("tasks: start, check_db, check_host, decide, notify"),
        "{}",
        text(&out)
    );
    let out = run(&[
        "--json",
        "workflow",
        "rehearse",
        &example_workflow(),
        "--mocks",
        &example_rehearsal(),
    ]);
    let v = json_of(&out);
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["outcome"]["status"], json!("succeeded"));
    assert_eq!(v["outcome"]["terminal"], json!(["notify"]));

    // The same mocks with the host up: the outcome differs from the expectations.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.yaml");
    let text_of = std::fs::read_to_string(example_rehearsal()).unwrap();
    std::fs::write(
        &wrong,
        text_of.replace("status: failed", "status: succeeded"),
    )
    .unwrap();
    let out = run(&[
        "workflow",
        "rehearse",
        &example_workflow(),
        "--mocks",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("first difference: task sequence differs at position 4"),
        "{}",
        text(&out)
    );

    // A misspelt key is refused, naming the right one.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "expected_task_sequnce: [start]\n").unwrap();
    let out = run(&[
        "workflow",
        "rehearse",
        &example_workflow(),
        "--mocks",
        bad.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("did you mean 'expected_task_sequence'?"),
        "{said}"
    );

    // No expectations: the workflow must succeed (here it cannot: `host` is required).
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "{}\n").unwrap();
    let out = run(&[
        "workflow",
        "rehearse",
        &example_workflow(),
        "--mocks",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("workflow input 'host': it is required"),
        "{}",
        text(&out)
    );
}

/// Every rehearsal file of the example packs (`rehearsals/<workflow>_<case>.yaml`) matches
/// its workflow (`actions/workflows/<workflow>.yaml`).
#[test]
fn every_example_rehearsal_matches_its_workflow() {
    let packs = root().join("examples/packs");
    let mut checked = 0;
    for pack in std::fs::read_dir(&packs).unwrap() {
        let dir = pack.unwrap().path().join("rehearsals");
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in files {
            let f = f.unwrap().path();
            let stem = f.file_stem().unwrap().to_string_lossy().to_string();
            let workflows = dir.parent().unwrap().join("actions/workflows");
            let wf = std::fs::read_dir(&workflows)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|w| {
                    let name = w.file_stem().unwrap().to_string_lossy().to_string();
                    stem.starts_with(&format!("{name}_"))
                })
                .unwrap_or_else(|| panic!("no workflow for rehearsal {}", f.display()));
            let out = run(&[
                "workflow",
                "rehearse",
                wf.to_str().unwrap(),
                "--mocks",
                f.to_str().unwrap(),
            ]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                f.display(),
                text(&out)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "the example rehearsals were found ({checked})"
    );
}

#[test]
fn emit_of_a_payload_that_does_not_fit_the_schema_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attune.db");
    let db = db.to_str().unwrap();
    let payload = r#"{"host": "db-2", "severity": "high", "tags": ["prod", 7]}"#;
    let out = run(&[
        "--db",
        db,
        "emit",
        "--pack",
        &example_pack(),
        "monitoring.alert",
        "--payload",
        payload,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("payload of event for trigger 'monitoring.alert'"),
        "{err}"
    );
    assert!(
        err.contains(r#"/severity: "high" is not of type "integer""#),
        "{err}"
    );
    assert!(
        err.contains(r#"/tags/1: 7 is not of type "string""#),
        "{err}"
    );
    // Nothing was stored.
    let store = attune_store_sqlite::SqliteStore::open(db).unwrap();
    let events = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use attune_core::store::Store;
            store
                .list_events(
                    &attune_core::store::EventFilter::default(),
                    &attune_core::store::Page::first(10),
                )
                .await
                .unwrap()
        });
    assert!(events.is_empty(), "{events:?}");
}

/// A rule that matches but whose params do not render would fail its enforcement: `rule
/// test` says so and exits 1, not 0.
#[test]
fn rule_test_exits_1_when_a_matched_rules_params_do_not_render() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| write_file(dir.path(), rel, text);
    write("pack.yaml", "name: rt\n");
    write("triggers/hit.yaml", "name: hit\n");
    write(
        "rules/echo.yaml",
        "name: echo\ntrigger:\n  type: rt.hit\naction:\n  ref: core.echo\n  parameters:\n    message: '{{ trigger.missing.deeper }}'\n",
    );
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"trigger": "rt.hit", "payload": {}}"#).unwrap();
    let pack = dir.path().to_string_lossy().into_owned();
    let ev = event.to_string_lossy().into_owned();
    let out = run(&["--json", "rule", "test", "--pack", &pack, "--event", &ev]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = json_of(&out);
    assert_eq!(doc["matched"], json!(true));
    assert_eq!(doc["params_do_not_render"], json!(1));
    assert!(
        doc["rules"][0]["params_error"]
            .as_str()
            .is_some_and(|e| e.contains("missing")),
        "{doc}"
    );
    let out = run(&["rule", "test", "--pack", &pack, "--event", &ev]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("1 matched rule would fail: its params do not render"),
        "{}",
        text(&out)
    );
}

#[test]
fn pack_validate_prints_warnings_and_still_exits_0() {
    // StackStorm's own core pack: its SSH and WinRM actions are left out, each with a
    // warning naming the runner; the pack loads.
    let core = root().join("attune-core/tests/data/st2-packs/core");
    let core = core.display().to_string();
    let out = run(&["pack", "validate", &core]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("ok core"), "{t}");
    assert!(
        t.contains("actions/remote.yaml:13:1: warning: runner_type: action 'core.remote' is not loaded: runner 'remote-shell-cmd'"),
        "{t}"
    );
    let out = run(&["--json", "pack", "validate", &core]);
    let v = json_of(&out);
    assert_eq!(v["ok"], json!(true));
    let warnings = v["packs"][0]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["file"] == "actions/winrm_cmd.yaml"
                && w["message"].as_str().unwrap().contains("winrm-cmd")),
        "{warnings:?}"
    );
}
