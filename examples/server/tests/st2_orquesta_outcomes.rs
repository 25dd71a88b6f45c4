//! The Orquesta workflows of StackStorm's `examples` pack run on Attune's engine, with the
//! real shell and Python runtimes, to the outcomes StackStorm's own integration tests assert
//! (tests/data/st2_orquesta_outcomes.json; the pack is attune-core's copy of st2's
//! `contrib/examples`, loaded as StackStorm registers it: partially, since some of its files
//! are negative fixtures or name packs that are not there).
//!
//! Compared: the workflow's status, its output (exactly), which task each error is of, and
//! the statuses of the executions of named tasks. Not compared: error message texts (Attune's
//! name the same task and cause in its own words).

use attune_core::model::{Execution, Key, KeyScope};
use attune_core::pack::PackOptions;
use attune_core::store::{ExecutionFilter, MemoryStore, Page, Store};
use attune_core::{Engine, Error, PackSummary};
use attune_runtime_python::{PythonConfig, PythonRuntime};
use attune_runtime_shell::ShellRuntime;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The longest a workflow of the examples may take (never a timing assertion: a safety net).
const SAFETY: Duration = Duration::from_secs(120);

fn examples_pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../attune-core/tests/data/st2-packs/examples")
}

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/st2_orquesta_outcomes.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// An engine with the shell and Python runtimes on a memory store (kept to set keys), the
/// examples pack loaded partially (its summary).
async fn engine() -> (Engine, Arc<MemoryStore>, PackSummary) {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        .runtime(Arc::new(ShellRuntime::builder().build().unwrap()))
        .runtime(Arc::new(PythonRuntime::new(PythonConfig::default())))
        .build()
        .await
        .unwrap();
    let options = PackOptions {
        partial: true,
        ..PackOptions::default()
    };
    let summary = engine
        .load_pack_with(examples_pack(), &options)
        .await
        .expect("the examples pack loads partially");
    assert!(summary.actions > 90, "{summary:?}");
    (engine, store, summary)
}

/// `$BIG` in a case's values: 100,000 lowercase letters (a fixed pseudo-random sequence).
fn big() -> String {
    let mut x: u32 = 2_463_534_242;
    (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'a' + u8::try_from(x % 26).unwrap())
        })
        .collect()
}

fn expand(v: &Value, big: &str) -> Value {
    match v {
        Value::String(s) if s == "$BIG" => Value::String(big.to_string()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), expand(v, big))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| expand(v, big)).collect()),
        other => other.clone(),
    }
}

/// The executions of task `name` of workflow execution `id`, in the order they were created.
async fn task_runs(
    store: &MemoryStore,
    id: attune_core::model::ExecutionId,
    name: &str,
) -> Vec<Execution> {
    let all = store
        .list_executions(&ExecutionFilter::new().parent(id), &Page::first(10_000))
        .await
        .unwrap();
    let mut runs: Vec<Execution> = all
        .into_iter()
        .filter(|x| x.task.as_ref().is_some_and(|t| t.name == name))
        .collect();
    runs.sort_by_key(|x| x.created);
    runs
}

/// Runs one case; the differences from what StackStorm asserts.
async fn check(engine: &Engine, store: &MemoryStore, case: &Value, big: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    for k in case["keys"].as_array().into_iter().flatten() {
        let scope = match k["scope"].as_str() {
            Some("system") => KeyScope::System,
            other => panic!("a key scope this test does not set: {other:?}"),
        };
        let key = Key::new(
            scope,
            k["name"].as_str().unwrap(),
            k["value"].clone(),
            chrono::Utc::now(),
        );
        store.put_key(&key).await.unwrap();
    }
    let action = case["action"].as_str().unwrap();
    let params = expand(&case["params"], big);
    let x = match tokio::time::timeout(SAFETY, engine.run(action, params)).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return vec![format!("refused: {e}")],
        Err(_) => return vec!["did not end".into()],
    };
    let status = x.status.as_str();
    if status != case["status"].as_str().unwrap() {
        wrong.push(format!("status {status} (error: {:?})", x.error));
    }
    let result = x.result.clone().unwrap_or(Value::Null);
    if let Some(expected) = case.get("output") {
        let expected = expand(expected, big);
        if result["output"] != expected {
            let got = result["output"].to_string();
            let shown: String = got.chars().take(400).collect();
            wrong.push(format!("output {shown}"));
        }
    }
    if let Some(expected) = case.get("error_tasks") {
        let got: Vec<Value> = result["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e.get("task_id").cloned().unwrap_or(Value::Null))
            .collect();
        if &Value::Array(got.clone()) != expected {
            wrong.push(format!("errors of tasks {got:?}: {}", result["errors"]));
        }
    }
    for (task, statuses) in case["tasks"].as_object().into_iter().flatten() {
        let runs = task_runs(store, x.id, task).await;
        let got: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
        let expected: Vec<&str> = statuses
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let fits = got.len() == expected.len()
            && got.iter().zip(&expected).all(|(g, e)| *e == "*" || g == e);
        if !fits {
            wrong.push(format!("task {task}: runs {got:?}, expected {expected:?}"));
        }
    }
    if let Some(min) = case["min_runs"].as_object() {
        for (task, n) in min {
            let runs = task_runs(store, x.id, task).await.len();
            if (runs as u64) < n.as_u64().unwrap() {
                wrong.push(format!("task {task}: {runs} runs, expected at least {n}"));
            }
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_workflows_end_as_stackstorms_integration_tests_assert() {
    let (engine, store, _) = engine().await;
    let big = big();
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let wrong = check(&engine, &store, case, &big).await;
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}",
                case["test"].as_str().unwrap(),
                wrong.join("; ")
            ));
        }
    }
    println!(
        "st2 Orquesta integration outcomes: {}/{} as StackStorm asserts",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The negative fixtures StackStorm inspects when a run starts (and fails it with the
/// problems) are refused by Attune when the pack loads, at the same places.
#[tokio::test]
async fn the_inspection_fixtures_are_refused_at_load_where_stackstorm_fails_them() {
    let (engine, _, summary) = engine().await;
    for (file, paths) in [
        (
            "actions/workflows/tests/orquesta-fail-inspection.yaml",
            &["tasks.task2.input", "tasks.task2.next[0].when"][..],
        ),
        (
            "actions/workflows/tests/orquesta-fail-inspection-task-contents.yaml",
            &[
                "tasks.task1.action",
                "tasks.task2.action",
                "tasks.task3.input",
            ][..],
        ),
    ] {
        let found: Vec<&str> = summary
            .left_out
            .iter()
            .filter(|p| p.file == file)
            .map(|p| p.path.as_str())
            .collect();
        for p in paths {
            assert!(found.contains(p), "{file}: {p} in {found:?}");
        }
    }
    for action in [
        "examples.orquesta-fail-inspection",
        "examples.orquesta-fail-inspection-task-contents",
    ] {
        match engine.run(action, json!({})).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("{action} is left out: {other:?}"),
        }
    }
}
