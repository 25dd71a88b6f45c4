//! The conductor against Orquesta's own cases (`tests/data/orquesta/cases.json`), replayed by
//! `attune_core::workflow::rehearse` with the upstream rehearsal driver's wave scheduling
//! (`format.driver` in that file): actions are mocked from each case's table, ready tasks
//! run in waves ordered by (task name, route), one with-items item completes per wave.

use attune_core::workflow::{
    Conductor, MockAction, Plan, RehearsalSpec, Rehearsed, RunStatus, parse, rehearse,
};
use serde_json::{Map, Value};
use std::path::Path;

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/orquesta")
}

fn replay(case: &Value) -> Rehearsed {
    Rehearsed::of(&conductor_of(case))
}

/// The conductor of `case` once driven to its end; a `rerun` case continues from the end of
/// the case it names. A case marked `"on_yaql": true` runs its YAQL original.
fn conductor_of(case: &Value) -> Conductor {
    let yaql = case["on_yaql"] == true;
    let (file, path) = match case["workflow_file"].as_str() {
        Some(p) => (p, Path::new(env!("CARGO_MANIFEST_DIR")).join(p)),
        None if yaql => {
            let f = case["workflow_yaql_original"].as_str().unwrap();
            (f, data().join(f))
        }
        None => {
            let f = case["workflow_jinja"]
                .as_str()
                .unwrap()
                .trim_start_matches("workflows/jinja/");
            (f, data().join("workflows").join(f))
        }
    };
    let text = std::fs::read_to_string(path).unwrap();
    let wf = parse(&text, file).unwrap_or_else(|e| panic!("{e}"));
    let mut c = match case["kind"].as_str() {
        Some("rerun") => {
            // The final state of the case it continues, then a re-run.
            let id = case["rerun_of"].as_str().unwrap();
            let mut base = find_case(id);
            base["on_yaql"] = Value::Bool(yaql);
            let mut c = conductor_of(&base);
            let tasks: Option<Vec<(String, usize)>> = case["rerun_tasks"].as_array().map(|l| {
                l.iter()
                    .map(|t| {
                        let route = t["route"].as_u64().unwrap_or(0) as usize;
                        (t["task_id"].as_str().unwrap().to_string(), route)
                    })
                    .collect()
            });
            c.rerun(tasks.as_deref()).unwrap();
            c
        }
        _ => {
            let plan = Plan::new(wf).unwrap();
            let input = case["inputs"].as_object().cloned().unwrap_or_default();
            Conductor::start(plan, input)
        }
    };
    drive(&mut c, case);
    c
}

fn cases() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data().join("cases.json")).unwrap()).unwrap()
}

fn find_case(id: &str) -> Value {
    cases()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .clone()
}

/// Drives `c` with the mocks of `case` (the library's rehearsal).
fn drive(c: &mut Conductor, case: &Value) {
    let mocks: Vec<MockAction> =
        serde_json::from_value(case["mock_action_executions"].clone()).unwrap();
    rehearse(c, &mocks).unwrap();
}

/// The case's expectations checked by the library's own rehearsal spec (the keys of a
/// rehearsal file are the corpus's).
fn check(case: &Value) -> Result<(), String> {
    let id = case["id"].as_str().unwrap_or("case");
    let mut spec_case = case.clone();
    if let Some(m) = spec_case.as_object_mut() {
        m.remove("on_yaql");
    }
    let spec = RehearsalSpec::parse(&spec_case.to_string(), id).map_err(|e| e.to_string())?;
    let got = Rehearsed::of(&conductor_of(case));
    match spec.first_difference(&got) {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

/// Every case reproduces Orquesta exactly (sequence, routes, status, output and errors where
/// given) — fresh runs, and re-runs continued from another case's final state — and the one
/// negative case is reported as a mismatch.
#[test]
fn orquesta_cases_replayed_on_the_conductor() {
    let cases = cases();
    let (mut passed, mut negative, mut failures) = (0, 0, Vec::new());
    for case in cases["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let outcome = check(case);
        if case["upstream_expects_rehearsal_to_fail"] == true {
            assert!(
                outcome.is_err(),
                "{id}: the negative case must be reported as a mismatch"
            );
            negative += 1;
            continue;
        }
        match outcome {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }
    println!(
        "orquesta cases: {passed} matched, {negative} negative reported as a mismatch, {} differ",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!((passed, negative), (97, 1));
}

/// Every case that has a YAQL original (Orquesta's own fixture, `workflows/yaql/`) gives the
/// same outcome on it as on its Jinja translation: the same sequence, routes, status,
/// output and errors as Orquesta.
#[test]
fn orquesta_cases_replayed_on_the_yaql_originals() {
    let cases = cases();
    let (mut passed, mut negative, mut failures) = (0, 0, Vec::new());
    for case in cases["cases"].as_array().unwrap() {
        if !case["workflow_yaql_original"].is_string() {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let mut case = case.clone();
        case["on_yaql"] = Value::Bool(true);
        let outcome = check(&case);
        if case["upstream_expects_rehearsal_to_fail"] == true {
            assert!(
                outcome.is_err(),
                "{id}: the negative case must be reported as a mismatch"
            );
            negative += 1;
            continue;
        }
        match outcome {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }
    println!(
        "orquesta cases on YAQL: {passed} matched, {negative} negative, {} differ",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ on YAQL:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed + negative, 87);
}

/// The example workflow (examples/packs/monitoring/actions/workflows/triage.yaml) on its "host down" path: both
/// checks run in parallel, the join merges what each published, every channel is notified.
#[test]
fn the_example_triage_workflow_runs_its_host_down_path() {
    let case = serde_json::json!({
        "workflow_file": "../examples/packs/monitoring/actions/workflows/triage.yaml",
        "inputs": {"host": "db-01"},
        "mock_action_executions": [{"task_id": "check_host", "status": "failed"}],
    });
    let o = replay(&case);
    assert_eq!(
        o.tasks,
        ["start", "check_db", "check_host", "decide", "notify"],
        "{:?}",
        o.errors
    );
    assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.errors);
    assert_eq!(
        o.output.map(Value::Object),
        Some(serde_json::json!({"host_up": false, "severity": "critical"}))
    );
    let ok = serde_json::json!({
        "workflow_file": "../examples/packs/monitoring/actions/workflows/triage.yaml",
        "inputs": {"host": "db-01"},
        "mock_action_executions": [],
    });
    let o = replay(&ok);
    assert_eq!(
        o.tasks,
        ["start", "check_db", "check_host", "decide", "noop"]
    );
    assert_eq!(
        o.output.map(Value::Object),
        Some(serde_json::json!({"host_up": true, "severity": "unknown"}))
    );
}

/// Bad requests are errors, not panics: a re-run of a run still running, of a task that has
/// no failed run; a missing required input fails the run at once, naming the input.
#[test]
fn bad_requests_are_clear_errors() {
    let wf = parse(
        "input: [host]\ntasks:\n  a:\n    action: core.noop\n    next: [{when: '{{ succeeded() }}', do: b}]\n  b:\n    action: core.noop\n",
        "wf.yaml",
    )
    .unwrap();
    let plan = Plan::new(wf).unwrap();
    let mut c = Conductor::start(plan.clone(), Map::new());
    assert_eq!(c.status(), RunStatus::Failed);
    assert!(
        c.errors()[0].message.contains("workflow input 'host'"),
        "{:?}",
        c.errors()
    );
    assert!(c.next_tasks().is_empty());

    let mut input = Map::new();
    input.insert("host".into(), Value::from("db-1"));
    let mut c2 = Conductor::start(plan, input);
    assert_eq!(c2.next_tasks(), vec![("a".to_string(), 0)]);
    let err = c2.rerun(None).unwrap_err();
    assert!(matches!(err, attune_core::Error::Conflict(_)), "{err}");
    c2.start_task("a", 0).unwrap();
    assert!(c2.start_task("a", 0).is_err(), "a task starts once");
    assert!(
        c2.finish_task("nope", 0, RunStatus::Succeeded, None)
            .is_err()
    );
    c2.finish_task("a", 0, RunStatus::Failed, None).unwrap();
    assert_eq!(
        c2.status(),
        RunStatus::Failed,
        "no transition handles the failure"
    );
    let err = c2.rerun(Some(&[("b".to_string(), 0)])).unwrap_err();
    assert!(err.to_string().contains("re-run of task 'b'"), "{err}");
    let err = c.rerun(None).unwrap_err();
    assert!(err.to_string().contains("no task failed"), "{err}");
    assert_eq!(
        c.status(),
        RunStatus::Failed,
        "a refused re-run changes nothing"
    );
    c2.rerun(None).unwrap();
    assert_eq!(c2.next_tasks(), vec![("a".to_string(), 0)]);
    c2.start_task("a", 0).unwrap();
    c2.finish_task("a", 0, RunStatus::Succeeded, None).unwrap();
    c2.start_task("b", 0).unwrap();
    c2.finish_task("b", 0, RunStatus::Succeeded, None).unwrap();
    assert_eq!(c2.status(), RunStatus::Succeeded);
    let seq: Vec<String> = c2.sequence().iter().map(|e| e.label()).collect();
    assert_eq!(seq, ["a", "a", "b"]);
}

/// `task('name')` (of a with-items task: `{items: [{status, result}]}`), `item('name')`,
/// `index()` and a with-items concurrency limit.
#[test]
fn task_item_and_index_functions_and_concurrency() {
    let wf = parse(
        r#"
tasks:
  a:
    action: core.echo
    next: [{when: '{{ succeeded() }}', do: b}]
  b:
    with:
      items: x in {{ [10, 20, 30] }}
      concurrency: 2
    action: core.echo message="{{ task('a').result }}-{{ item('x') }}-{{ index() }}"
output:
  - all: '{{ task("b").result }}'
"#,
        "wf.yaml",
    )
    .unwrap();
    let mut c = Conductor::start(Plan::new(wf).unwrap(), Map::new());
    c.start_task("a", 0).unwrap();
    c.finish_task("a", 0, RunStatus::Succeeded, Some(Value::from("A")))
        .unwrap();
    let run = c.start_task("b", 0).unwrap();
    let messages: Vec<&Value> = run.params.iter().map(|p| &p["message"]).collect();
    assert_eq!(messages, ["A-10-0", "A-20-1"], "two at a time");
    assert!(c.next_tasks().is_empty(), "no room until an item ends");
    c.finish_item("b", 0, 1, RunStatus::Succeeded, Some(Value::from(2)))
        .unwrap();
    assert!(
        c.finish_item("b", 0, 1, RunStatus::Succeeded, None)
            .is_err(),
        "an item ends once"
    );
    assert_eq!(c.next_tasks(), vec![("b".to_string(), 0)]);
    let run = c.start_task("b", 0).unwrap();
    assert_eq!(run.params[0]["message"], Value::from("A-30-2"));
    c.finish_item("b", 0, 2, RunStatus::Succeeded, Some(Value::from(3)))
        .unwrap();
    c.finish_item("b", 0, 0, RunStatus::Succeeded, Some(Value::from(1)))
        .unwrap();
    assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
    assert_eq!(
        c.output().cloned().map(Value::Object),
        Some(serde_json::json!({"all": {"items": [
            {"status": "succeeded", "result": 1},
            {"status": "succeeded", "result": 2},
            {"status": "succeeded", "result": 3},
        ]}})),
        "results in item order, shown as StackStorm's task() shows a with-items task"
    );
}

/// A workflow that never stops scheduling is stopped by the rehearsal, with an error.
#[test]
fn an_endless_cycle_is_an_error_in_rehearsal() {
    let wf = parse(
        "tasks:\n  prep:\n    action: core.noop\n    next: [{do: a}]\n  a:\n    action: core.noop\n    next: [{do: b}]\n  b:\n    action: core.noop\n    next: [{do: a}]\n",
        "loop.yaml",
    )
    .unwrap();
    let mut c = Conductor::start(Plan::new(wf).unwrap(), Map::new());
    let err = rehearse(&mut c, &[]).unwrap_err();
    assert!(err.to_string().contains("still scheduling after"), "{err}");
    assert_eq!(c.status(), RunStatus::Running);
}
