//! Attune's records in the JSON shapes of StackStorm's API models (`ActionAPI`,
//! `RunnerTypeAPI`, `ActionExecutionAPI`), with what the `st2` client reads.

use attune_core::model::{Action, Execution};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// StackStorm's timestamp form: ISO-8601 UTC with microseconds and `Z`.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `(pack, name)` of a `pack.name` ref.
fn split_ref(r: &str) -> (&str, &str) {
    r.split_once('.').unwrap_or(("", r))
}

/// The runner type StackStorm names for an action (`local-shell-cmd`, `python-script`, …).
pub(crate) fn runner_type(a: &Action) -> &str {
    a.runner_type.as_deref().unwrap_or(&a.runner)
}

/// `ActionAPI`.
pub(crate) fn action(a: &Action) -> Value {
    let (pack, name) = split_ref(&a.action_ref);
    json!({
        "id": a.action_ref,
        "ref": a.action_ref,
        "uid": format!("action:{pack}:{name}"),
        "name": name,
        "pack": pack,
        "description": a.description,
        "enabled": a.enabled,
        "runner_type": runner_type(a),
        "entry_point": a.entry_point.clone().unwrap_or_default(),
        "parameters": serde_json::to_value(&a.parameters).unwrap_or_else(|_| json!({})),
        "output_schema": a.output_schema,
        "tags": [],
    })
}

/// `RunnerTypeAPI` of a runner type name. Attune declares the parameters on each action,
/// so `runner_parameters` is empty.
pub(crate) fn runner(name: &str) -> Value {
    json!({
        "id": name,
        "uid": format!("runner_type:{name}"),
        "name": name,
        "description": format!("the {name} runner"),
        "enabled": true,
        "runner_module": name,
        "runner_parameters": {},
    })
}

/// `ActionExecutionAPI` of `x`; `a` is its action when it is registered here.
pub(crate) fn execution(x: &Execution, a: Option<&Action>) -> Value {
    let (pack, _) = split_ref(&x.action);
    let action = match a {
        Some(a) => action(a),
        None => json!({ "ref": x.action, "pack": pack, "runner_type": x.runner }),
    };
    let runner_name = a.map(runner_type).unwrap_or(&x.runner).to_string();
    let mut context = Map::new();
    context.insert("user".into(), json!(x.user));
    context.insert("pack".into(), json!(pack));
    if let Some(r) = &x.rule {
        context.insert("rule".into(), json!({ "ref": r }));
    }
    if let Some(e) = x.event {
        context.insert("trigger_instance".into(), json!({ "id": e.to_string() }));
    }
    if let Some(p) = x.parent {
        context.insert("parent".into(), json!({ "execution_id": p.to_string() }));
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(x.id.to_string()));
    out.insert("action".into(), action);
    out.insert("runner".into(), runner(&runner_name));
    out.insert("status".into(), json!(x.status.as_str()));
    out.insert("parameters".into(), x.params.clone());
    out.insert("context".into(), Value::Object(context));
    out.insert("start_timestamp".into(), json!(timestamp(x.created)));
    if let Some(f) = x.finished {
        out.insert("end_timestamp".into(), json!(timestamp(f)));
        let secs = (f - x.created).num_microseconds().unwrap_or(0) as f64 / 1e6;
        out.insert("elapsed_seconds".into(), json!(secs));
    }
    if let Some(r) = &x.result {
        out.insert("result".into(), r.clone());
    } else if let Some(e) = &x.error {
        out.insert("result".into(), json!({ "error": e }));
    }
    if let Some(p) = x.parent {
        out.insert("parent".into(), json!(p.to_string()));
    }
    out.insert(
        "liveaction".into(),
        json!({
            "id": x.id.to_string(),
            "action": x.action,
            "status": x.status.as_str(),
            "parameters": x.params,
        }),
    );
    Value::Object(out)
}
