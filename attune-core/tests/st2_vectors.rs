//! StackStorm conformance vectors (tests/data/st2_operators.json).

use attune_core::Engine;
use attune_core::model::{Key, KeyScope, Rule, TriggerType};
use attune_core::rules::Criteria;
use attune_core::rules::operators::{self, Operator, SearchCondition};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

const EXPECTED_VECTORS: usize = 150;
const EXPECTED_LOOKUPS: usize = 6;
const EXPECTED_FILTERS: usize = 37;

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/st2_operators.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn list<'a>(data: &'a Value, name: &str) -> &'a [Value] {
    data[name]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no '{name}' list"))
}

/// `NOW`, `NOW-<n>`, `NOW+<n>` become `now` (± n s) as Python's isoformat with +00:00.
fn substitute_now(value: &Value, now: DateTime<Utc>) -> Value {
    let Some(text) = value.as_str().filter(|t| t.starts_with("NOW")) else {
        return value.clone();
    };
    let offset = match &text[3..] {
        "" => 0,
        rest => rest
            .parse::<i64>()
            .unwrap_or_else(|e| panic!("bad NOW offset {text}: {e}")),
    };
    let at = now + TimeDelta::seconds(offset);
    json!(at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
}

/// The outcome as the vectors spell it: true, false or "error".
fn outcome(result: Result<bool, String>) -> Value {
    match result {
        Ok(b) => json!(b),
        Err(_) => json!("error"),
    }
}

/// Runs one vector through the operator layer and, when it does not error,
/// through a one-criterion `Criteria` (which must agree).
fn run_vector(vector: &Value, now: DateTime<Utc>) -> Result<Value, String> {
    let name = vector["operator"]
        .as_str()
        .ok_or("operator is not a string")?;
    let op = Operator::from_name(name).ok_or_else(|| format!("unknown operator {name}"))?;
    let value = substitute_now(&vector["value"], now);
    let pattern = &vector["pattern"];
    let direct = if op == Operator::Search {
        let condition = vector["condition"]
            .as_str()
            .ok_or("search vector without condition")?;
        match SearchCondition::parse(condition) {
            Err(e) => return Ok(outcome(Err(e))),
            Ok(_) => None,
        }
    } else {
        Some(outcome(operators::apply(op, Some(&value), pattern, now)))
    };
    if direct == Some(json!("error")) {
        return Ok(json!("error"));
    }
    let mut spec = json!({"type": name, "pattern": pattern});
    if let Some(condition) = vector.get("condition") {
        spec["condition"] = condition.clone();
    }
    let criteria = Criteria::compile(&json!({ "trigger.v": spec })).map_err(|e| e.to_string())?;
    let scope = json!({"trigger": {"v": value}});
    let evaluation = criteria.explain(&scope, None, now);
    let check = &evaluation.checks[0];
    let via_criteria = if let Some(error) = &check.error {
        return Err(format!("criteria evaluation errored: {error}"));
    } else {
        json!(check.passed)
    };
    if criteria.matches(&scope, None, now) != evaluation.matched {
        return Err("matches() and explain() disagree".to_string());
    }
    match direct {
        Some(direct) if direct != via_criteria => Err(format!(
            "operator gave {direct} but Criteria gave {via_criteria}"
        )),
        _ => Ok(via_criteria),
    }
}

/// Runs one rule-filter case as StackStorm's `RuleFilter` would meet it: a rule with the
/// case's criteria on a fresh engine, the case's datastore values as system keys, and the
/// payload through [`Engine::dry_run`] (templated patterns rendered against the event).
async fn run_filter_case(case: &Value) -> Result<bool, String> {
    let engine = Engine::builder().build().await.map_err(|e| e.to_string())?;
    let now = Utc::now();
    if let Some(system) = case["datastore"]["system"].as_object() {
        for (name, value) in system {
            let key = Key::new(KeyScope::System, name.clone(), value.clone(), now);
            engine
                .store()
                .put_key(&key)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    engine
        .register_trigger_type(TriggerType::new("st2.test"))
        .await
        .map_err(|e| e.to_string())?;
    engine
        .register_rule(
            Rule::new("st2.filter", "st2.test", "core.noop").criteria(case["criteria"].clone()),
        )
        .await
        .map_err(|e| format!("rule not accepted: {e}"))?;
    let verdicts = engine
        .dry_run("st2.test", &case["payload"])
        .await
        .map_err(|e| e.to_string())?;
    match verdicts.as_slice() {
        [only] => Ok(only.matched),
        other => Err(format!("expected one verdict, got {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn st2_conformance() {
    let data = load();
    let now = Utc::now();
    let mut failures = Vec::new();

    let vectors = list(&data, "vectors");
    let mut vectors_passed = 0;
    for vector in vectors {
        match run_vector(vector, now) {
            Ok(got) if got == vector["expected"] => vectors_passed += 1,
            Ok(got) => failures.push(format!(
                "vector {} : got {got}, expected {}: {vector}",
                vector["from"], vector["expected"]
            )),
            Err(e) => failures.push(format!("vector {} : {e}: {vector}", vector["from"])),
        }
    }

    let lookups = list(&data, "lookup_cases");
    let mut lookups_passed = 0;
    for case in lookups {
        let name = case["name"].as_str().unwrap_or_default();
        let got = Operator::from_name(name).map_or("error", Operator::name);
        if case["resolves_to"] == got {
            lookups_passed += 1;
        } else {
            failures.push(format!(
                "lookup {} : '{name}' resolved to {got}, expected {}",
                case["from"], case["resolves_to"]
            ));
        }
    }

    let filters = list(&data, "filter_cases");
    let mut filters_passed = 0;
    for case in filters {
        match run_filter_case(case).await {
            Ok(got) if json!(got) == case["expected"] => filters_passed += 1,
            Ok(got) => failures.push(format!(
                "filter {} : matched {got}, expected {}: {case}",
                case["from"], case["expected"]
            )),
            Err(e) => failures.push(format!("filter {} : {e}: {case}", case["from"])),
        }
    }

    println!("vectors: {vectors_passed}/{} passed", vectors.len());
    println!("lookup cases: {lookups_passed}/{} passed", lookups.len());
    println!("filter cases: {filters_passed}/{} passed", filters.len());
    for failure in &failures {
        println!("FAIL {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        (vectors_passed, vectors.len()),
        (EXPECTED_VECTORS, EXPECTED_VECTORS)
    );
    assert_eq!(
        (lookups_passed, lookups.len()),
        (EXPECTED_LOOKUPS, EXPECTED_LOOKUPS)
    );
    assert_eq!(
        (filters_passed, filters.len()),
        (EXPECTED_FILTERS, EXPECTED_FILTERS)
    );
}
