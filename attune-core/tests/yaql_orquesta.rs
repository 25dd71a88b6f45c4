//! Orquesta's own YAQL cases (`tests/data/yaql/cases.json`, groups `orquesta-*`) through the
//! workflow layer: each expression is put where a workflow evaluates it — a workflow's
//! `output` over inputs holding the case's variables, a transition's `publish` after a task
//! ended with the case's status and result, a with-items task's input for `item()` — and
//! `orquesta-validate` cases through `workflow::parse`. Cases whose context a run cannot
//! produce (a task still running seen from its own transition, a hand-written
//! `__state`, functions called with no current task) are counted apart and listed; the
//! others must pass at the floor recorded here.

use attune_core::workflow::{Conductor, MockAction, Plan, RunStatus, parse, rehearse};
use serde_json::{Map, Value, json};
use std::path::Path;

/// Cases that must pass, of those a run can express.
const FLOOR: usize = 138;

fn cases() -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yaql/cases.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// How a case went.
enum Outcome {
    Pass,
    Fail(String),
    /// A run cannot produce the case's context (why).
    Inexpressible(&'static str),
}

fn workflow(doc: Value) -> Result<std::sync::Arc<Plan>, String> {
    let wf = parse(&doc.to_string(), "case.yaml").map_err(|e| e.to_string())?;
    Plan::new(wf).map_err(|e| e.to_string())
}

/// Compares a result with the case's expectation (an error expected: any error passes).
fn judge(case: &Value, got: Result<Value, String>) -> Outcome {
    match (case.get("expected"), got) {
        (Some(want), Ok(v)) if *want == v => Outcome::Pass,
        (Some(_), Ok(v)) => Outcome::Fail(format!("gave {v}")),
        (Some(_), Err(e)) => Outcome::Fail(format!("error: {e}")),
        (None, Err(_)) => Outcome::Pass,
        (None, Ok(v)) => Outcome::Fail(format!("gave {v} where Orquesta raises")),
    }
}

/// The status of task `t1` in the case's `__state`, if it ran.
fn t1_status(data: &Value) -> Option<String> {
    let i = data["__state"]["tasks"]["t1__r0"].as_u64()? as usize;
    data["__state"]["sequence"][i]["status"]
        .as_str()
        .map(str::to_string)
}

/// Whether the case's `__state` records runs of tasks other than `except`, or refers to
/// runs its sequence does not hold (a state no run produces).
fn has_run_tasks(data: &Value, except: &str) -> bool {
    data["__state"]["tasks"].as_object().is_some_and(|m| {
        m.iter().any(|(k, i)| {
            i.as_u64().is_some_and(|i| {
                let run = &data["__state"]["sequence"][i as usize];
                !run.is_object() || k.split("__r").next() != Some(except)
            })
        })
    })
}

fn run(case: &Value) -> Outcome {
    let expr = case["expr"].clone();
    let data = case["data"].as_object().cloned().unwrap_or_default();
    let vars: Map<String, Value> = data
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let names: Vec<Value> = vars.keys().map(|k| Value::String(k.clone())).collect();
    let data = Value::Object(data);
    if let Some(item) = data.get("__current_item") {
        // item(): the input of a with-items task over one item.
        let mut input = vars.clone();
        input.insert("zz_items".into(), json!([item]));
        let mut names = names.clone();
        names.push(json!("zz_items"));
        let plan = match workflow(json!({
            "input": names,
            "tasks": {"t1": {"action": "core.noop", "with": {"items": "<% ctx(zz_items) %>"},
                              "input": {"v": expr}}},
        })) {
            Ok(p) => p,
            Err(e) => return judge(case, Err(e)),
        };
        let mut c = Conductor::start(plan, input);
        let got = c
            .start_task("t1", 0)
            .map_err(|e| e.to_string())
            .map(|r| r.params[0]["v"].clone());
        return judge(case, got);
    }
    let current = data.get("__current_task").cloned();
    if current.as_ref().is_some_and(Value::is_null) {
        return Outcome::Inexpressible("a task function called with no current task");
    }
    if let Some(task) = current {
        // A transition of t1 after it ended with the case's status and result.
        if has_run_tasks(&data, "t1") {
            return Outcome::Inexpressible("a hand-written __state of task runs");
        }
        let Some(status) = t1_status(&data) else {
            return Outcome::Inexpressible("a current task that never ran");
        };
        if status != "succeeded" && status != "failed" {
            return Outcome::Inexpressible("a task still running seen from its transition");
        }
        let plan = match workflow(json!({
            "input": names,
            "tasks": {"t1": {"action": "core.noop", "next": [{"publish": [{"r": expr}]}]}},
            "output": [{"r": "<% ctx(r) %>"}],
        })) {
            Ok(p) => p,
            Err(e) => return judge(case, Err(e)),
        };
        let mut c = Conductor::start(plan, vars);
        let mock: MockAction = serde_json::from_value(json!({
            "task_id": "t1", "status": status, "result": task.get("result").cloned().unwrap_or(Value::Null)
        }))
        .unwrap();
        return judge(case, finish(&mut c, &[mock]));
    }
    if has_run_tasks(&data, "") {
        return Outcome::Inexpressible("a hand-written __state of task runs");
    }
    let plan = match workflow(json!({
        "input": names,
        "tasks": {"zz_task": {"action": "core.noop"}},
        "output": [{"r": expr}],
    })) {
        Ok(p) => p,
        Err(e) => return judge(case, Err(e)),
    };
    let mut c = Conductor::start(plan, vars);
    judge(case, finish(&mut c, &[]))
}

/// Runs `c` to its end; the output's `r` (also of a run that failed because its task did:
/// Orquesta renders the output then too), or the run's errors.
fn finish(c: &mut Conductor, mocks: &[MockAction]) -> Result<Value, String> {
    rehearse(c, mocks).map_err(|e| e.to_string())?;
    let rendered = c.errors().iter().all(|e| e.task_id.is_some());
    match c.output().and_then(|o| o.get("r")) {
        Some(r) if rendered => Ok(r.clone()),
        _ if c.status() == RunStatus::Succeeded => Ok(Value::Null),
        _ => Err(format!("{:?}", c.errors())),
    }
}

/// orquesta-validate: problems reported exactly when Orquesta reports some.
fn validate(case: &Value) -> Outcome {
    let doc = json!({"tasks": {"t1": {"action": "core.noop"}}, "output": [{"r": case["expr"]}]});
    let problems = parse(&doc.to_string(), "case.yaml").err();
    let want = case["expected_errors"]
        .as_array()
        .is_some_and(|e| !e.is_empty());
    match (want, problems) {
        (true, Some(_)) | (false, None) => Outcome::Pass,
        (true, None) => Outcome::Fail("no problem reported".into()),
        (false, Some(p)) => Outcome::Fail(format!("reported {p}")),
    }
}

#[test]
fn orquesta_yaql_cases_through_the_workflow_layer() {
    let (mut pass, mut fail, mut inexpressible) = (0, Vec::new(), Vec::new());
    let mut p1_fail = Vec::new();
    for case in cases() {
        let group = case["group"].as_str().unwrap().to_string();
        if !group.starts_with("orquesta") {
            continue;
        }
        let outcome = if group == "orquesta-validate" {
            validate(&case)
        } else {
            run(&case)
        };
        let line = format!("  [{group}] {} with {}", case["expr"], case["data"]);
        match outcome {
            Outcome::Pass => pass += 1,
            Outcome::Fail(why) => {
                if case["priority"] == 1 {
                    p1_fail.push(format!("{line}: {why}"));
                }
                fail.push(format!("{line}: {why}"));
            }
            Outcome::Inexpressible(why) => inexpressible.push(format!("{line}: {why}")),
        }
    }
    println!(
        "orquesta YAQL cases: {pass} pass, {} fail, {} not expressible in a run",
        fail.len(),
        inexpressible.len()
    );
    println!("failing:\n{}", fail.join("\n"));
    println!("not expressible:\n{}", inexpressible.join("\n"));
    assert!(pass >= FLOOR, "{pass} cases pass, below the floor {FLOOR}");
}
