//! Secrets below the top level of a parameter: `secret: true` on a property (`properties`,
//! `patternProperties`, `additionalProperties`) or on `items`, as StackStorm's pack config
//! schemas write them (`accounts: {patternProperties: {".*": {properties: {password:
//! {secret: true}}}}}`). Pack config schemas may use them; action parameters may not (a
//! secret there must be a whole parameter, so that runtimes keep it out of argv and env).

use super::ParamSpec;
use serde_json::Value;

/// Calls `f` on each part of `value` that a nested `secret: true` of `spec` marks (not on
/// `value` itself: the top-level `secret` is the parameter's own).
pub(crate) fn visit(spec: &ParamSpec, value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    if !has_nested(spec) {
        return;
    }
    let Ok(json) = serde_json::to_value(spec) else {
        return;
    };
    walk(&json, value, false, f);
}

/// Whether `spec` has a `secret: true` below its top level.
pub(crate) fn has_nested(spec: &ParamSpec) -> bool {
    spec.items.as_deref().is_some_and(marks_secret)
        || ["properties", "patternProperties", "additionalProperties"]
            .iter()
            .filter_map(|k| spec.extra.get(*k))
            .any(json_marks_secret)
}

fn marks_secret(spec: &ParamSpec) -> bool {
    spec.secret || has_nested(spec)
}

/// Whether a JSON schema fragment has `secret: true` anywhere.
fn json_marks_secret(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.get("secret") == Some(&Value::Bool(true)) || m.values().any(json_marks_secret)
        }
        Value::Array(a) => a.iter().any(json_marks_secret),
        _ => false,
    }
}

fn walk(spec: &Value, value: &mut Value, check_self: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some(s) = spec.as_object() else { return };
    if check_self && s.get("secret") == Some(&Value::Bool(true)) {
        f(value);
        return;
    }
    match value {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let patterns = s.get("patternProperties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in m.iter_mut() {
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    walk(p, v, true, f);
                    continue;
                }
                let mut matched = false;
                for (pattern, p) in patterns.into_iter().flatten() {
                    // A pattern that is not a valid regex matches nothing here; the schema
                    // check reports it.
                    if regex::Regex::new(pattern).is_ok_and(|re| re.is_match(k)) {
                        matched = true;
                        walk(p, v, true, f);
                    }
                }
                if !matched && let Some(a) = additional {
                    walk(a, v, true, f);
                }
            }
        }
        Value::Array(items) => {
            if let Some(i) = s.get("items").filter(|i| i.is_object()) {
                for x in items {
                    walk(i, x, true, f);
                }
            }
        }
        _ => {}
    }
}
