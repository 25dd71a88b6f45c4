//! YAQL against yaql 3.2.0's own suite (`tests/data/yaql/cases.json`, the core groups): every
//! priority-1 case (functions and operators real StackStorm workflows use) must pass, and
//! the pass ratio of the others must not drop below the floor recorded here. Cases that
//! only reproduce with yaql's test options (`engine: yaql-tests`) are counted apart. A case
//! expecting an error passes when evaluation (or parsing) fails; the failures are listed.

use attune_core::yaql::{Expression, NoHost, Val};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// The share of non-priority-1 core cases (default engine) that must pass.
const FLOOR_OTHERS: f64 = 0.97;

fn cases() -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yaql/cases.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// Decodes the file's encodings of non-JSON values (`$set`, `$dict`, `$datetime`,
/// `$timedelta`).
fn decode(v: &Value) -> Val<'static> {
    match v {
        Value::Object(m) if m.len() == 1 => {
            let (k, x) = m.iter().next().unwrap();
            match k.as_str() {
                "$set" => Val::Set(Arc::new(x.as_array().unwrap().iter().map(decode).collect())),
                "$dict" => Val::Dict(Arc::new(
                    x.as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (decode(&p[0]), decode(&p[1])))
                        .collect(),
                )),
                "$datetime" => Val::DateTime(
                    chrono::DateTime::parse_from_rfc3339(x.as_str().unwrap()).unwrap(),
                ),
                "$timedelta" => Val::TimeSpan(chrono::TimeDelta::microseconds(
                    (x.as_f64().unwrap() * 1e6).round() as i64,
                )),
                _ => Val::Dict(Arc::new(vec![(Val::str(k), decode(x))])),
            }
        }
        Value::Array(a) => Val::list(a.iter().map(decode).collect()),
        Value::Object(m) => Val::Dict(Arc::new(
            m.iter().map(|(k, x)| (Val::str(k), decode(x))).collect(),
        )),
        other => Val::from_json(other),
    }
}

/// Our value in the file's encoding (`sets_as_lists`: yaql's test option).
fn encode(v: &Val<'_>, sets_as_lists: bool) -> Value {
    match v {
        Val::Set(items) => {
            let items: Vec<Value> = items.iter().map(|x| encode(x, sets_as_lists)).collect();
            if sets_as_lists {
                Value::Array(items)
            } else {
                json!({"$set": items})
            }
        }
        Val::List(items) => Value::Array(items.iter().map(|x| encode(x, sets_as_lists)).collect()),
        Val::Dict(d) if d.iter().all(|(k, _)| matches!(k, Val::Str(_))) => Value::Object(
            d.iter()
                .map(|(k, x)| {
                    (
                        k.to_json().unwrap().as_str().unwrap().to_string(),
                        encode(x, sets_as_lists),
                    )
                })
                .collect(),
        ),
        Val::Dict(d) => json!({"$dict": d
            .iter()
            .map(|(k, x)| json!([encode(k, sets_as_lists), encode(x, sets_as_lists)]))
            .collect::<Vec<_>>()}),
        Val::DateTime(d) => {
            json!({"$datetime": d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)})
        }
        Val::TimeSpan(t) => {
            json!({"$timedelta": t.num_microseconds().unwrap() as f64 / 1e6})
        }
        other => other.to_json().unwrap_or(Value::Null),
    }
}

/// Equality with float tolerance, sets without order, date-times as instants.
fn same(want: &Value, got: &Value, unordered: bool) -> bool {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            if a.is_f64() != b.is_f64() {
                return false;
            }
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        (Value::Array(a), Value::Array(b)) if unordered => {
            a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| same(x, y, false)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y, false))
        }
        (Value::Object(a), Value::Object(b)) => {
            if let (Some(x), Some(y)) = (a.get("$set"), b.get("$set")) {
                return same(x, y, true);
            }
            if let (Some(Value::String(x)), Some(Value::String(y))) =
                (a.get("$datetime"), b.get("$datetime"))
            {
                let p = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
                return p(x).is_some()
                    && p(x) == p(y)
                    && p(x).map(|d| d.offset().local_minus_utc())
                        == p(y).map(|d| d.offset().local_minus_utc());
            }
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same(x, y, false)))
        }
        _ => want == got,
    }
}

/// Runs one core case: `Ok(())` when it passes, else what we gave.
fn run(case: &Value) -> Result<(), String> {
    let expr = case["expr"].as_str().unwrap();
    let sets_as_lists = case["engine"] == "yaql-tests";
    let data = decode(&case["data"]);
    let mut vars = vec![("data".to_string(), data.clone())];
    if let Some(ctx) = case["context"].as_object() {
        for (k, v) in ctx {
            vars.push((k.clone(), decode(v)));
        }
    }
    let result = Expression::parse(expr)
        .map_err(|e| format!("syntax error: {e}"))
        .and_then(|e| {
            e.evaluate(data, vars, &NoHost)
                .map_err(|e| format!("error: {e}"))
        });
    match (case.get("error"), result) {
        (Some(_), Err(_)) => Ok(()),
        (Some(err), Ok(v)) => Err(format!(
            "gave {} where yaql raises {err}",
            encode(&v, sets_as_lists)
        )),
        (None, Err(e)) => Err(e),
        (None, Ok(v)) => {
            let got = encode(&v, sets_as_lists);
            if same(&case["expected"], &got, case["unordered"] == true) {
                Ok(())
            } else {
                Err(format!("gave {got}"))
            }
        }
    }
}

#[test]
fn yaql_core_cases() {
    let all = cases();
    let core: Vec<&Value> = all
        .iter()
        .filter(|c| !c["group"].as_str().unwrap().starts_with("orquesta"))
        .collect();
    let (mut p1, mut p1_ok, mut others, mut others_ok, mut tests, mut tests_ok) =
        (0, 0, 0, 0, 0, 0);
    let mut p1_failures = Vec::new();
    let mut failures = Vec::new();
    for c in &core {
        let r = run(c);
        let ok = r.is_ok();
        let line = format!(
            "  [{}] {} => want {} — {}",
            c["group"].as_str().unwrap(),
            c["expr"],
            c.get("expected").or(c.get("error")).unwrap(),
            r.err().unwrap_or_default()
        );
        if c["engine"] == "yaql-tests" {
            tests += 1;
            tests_ok += usize::from(ok);
        } else if c["priority"] == 1 {
            p1 += 1;
            p1_ok += usize::from(ok);
        } else {
            others += 1;
            others_ok += usize::from(ok);
        }
        if !ok {
            if c["priority"] == 1 && c["engine"] != "yaql-tests" {
                p1_failures.push(line);
            } else {
                failures.push(line);
            }
        }
    }
    let ratio = others_ok as f64 / others as f64;
    println!(
        "priority 1: {p1_ok}/{p1}; others: {others_ok}/{others} ({:.1} %); yaql-tests options: {tests_ok}/{tests}",
        ratio * 100.0
    );
    println!(
        "failing ({}):\n{}",
        failures.len() + p1_failures.len(),
        p1_failures
            .iter()
            .chain(&failures)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        p1_failures.is_empty(),
        "priority-1 cases fail:\n{}",
        p1_failures.join("\n")
    );
    assert!(
        ratio >= FLOOR_OTHERS,
        "pass ratio {ratio:.3} below the floor {FLOOR_OTHERS}"
    );
}
