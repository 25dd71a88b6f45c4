//! Parameter schemas in pack files: the StackStorm `name: {type, required, ...}` map, or a
//! JSON-schema object (`{type: object, properties, required}`) as earlier-Attune packs wrote.

use crate::document::fields::{Fields, Source, a_type};
use crate::document::problem::Report;
use crate::document::yaml::child;
use crate::params::{ParamSchema, ParamSpec};
use serde_json::{Map, Value};

/// The keys a parameter spec may have: those [`ParamSpec`] interprets, and JSON-schema keys
/// kept as they are.
const SPEC_KEYS: &[&str] = &[
    "type",
    "description",
    "required",
    "default",
    "enum",
    "secret",
    "immutable",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "min_length",
    "max_length",
    "items",
    "position",
];
const KEPT_KEYS: &[&str] = &[
    "pattern",
    "patternProperties",
    "format",
    "title",
    "label",
    "properties",
    "additionalProperties",
    "additionalItems",
    "examples",
    "minItems",
    "maxItems",
    "uniqueItems",
    "oneOf",
    "anyOf",
    "allOf",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "placeholder",
];

/// Whether `v` is a JSON-schema object schema rather than a `name → spec` map.
fn is_json_schema(m: &Map<String, Value>) -> bool {
    m.get("properties").is_some_and(Value::is_object)
        && m.get("type").and_then(Value::as_str) == Some("object")
}

/// Converts a JSON-schema object schema into the `name → spec` form (`required: [..]`
/// becomes `required: true` on each named property). Other maps are returned as they are.
pub(crate) fn normalize(v: &Value) -> (Value, bool) {
    let Some(m) = v.as_object().filter(|m| is_json_schema(m)) else {
        return (v.clone(), false);
    };
    let mut props = m["properties"].as_object().cloned().unwrap_or_default();
    if let Some(req) = m.get("required").and_then(Value::as_array) {
        for name in req.iter().filter_map(Value::as_str) {
            if let Some(Value::Object(spec)) = props.get_mut(name) {
                spec.insert("required".into(), Value::Bool(true));
            }
        }
    }
    (Value::Object(props), true)
}

/// A parameter schema given in code (a pack's `config_schema`), in either form.
pub fn param_schema(v: &Value) -> crate::Result<ParamSchema> {
    if v.is_null() {
        return Ok(ParamSchema::default());
    }
    let (norm, _) = normalize(v);
    let schema: ParamSchema = serde_json::from_value(norm)
        .map_err(|e| crate::Error::invalid("parameter schema", e.to_string()))?;
    let errors = schema.validate_schema();
    if errors.is_empty() {
        Ok(schema)
    } else {
        let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Err(crate::Error::invalid("parameter schema", msgs.join("; ")))
    }
}

/// Reads the schema at `path`, reporting every problem (unknown spec keys with hints, wrong
/// types, defaults that fail their own spec); bad entries are left out of the result. Over
/// `runner` (a runner's parameters): a parameter of the same name in `v` starts from the
/// runner's spec and replaces the keys it gives.
pub(crate) fn read_over(
    src: &Source,
    path: &str,
    v: &Value,
    runner: &ParamSchema,
    r: &mut Report,
) -> ParamSchema {
    read_with(src, path, v, runner, false, r)
}

/// [`read_over`] for a pack's config schema, where `secret: true` may mark a property or item
/// below the top level (its values are masked and redacted like whole secret keys).
pub(crate) fn read_config(src: &Source, path: &str, v: &Value, r: &mut Report) -> ParamSchema {
    read_with(src, path, v, &ParamSchema::default(), true, r)
}

fn read_with(
    src: &Source,
    path: &str,
    v: &Value,
    runner: &ParamSchema,
    nested_secrets: bool,
    r: &mut Report,
) -> ParamSchema {
    let mut out = ParamSchema::default();
    let (norm, json_schema) = normalize(v);
    let base = if json_schema {
        child(path, "properties")
    } else {
        path.to_string()
    };
    let Some(map) = norm.as_object() else {
        r.push(src.problem(path, format!("must be a mapping, got {}", a_type(v))));
        return out;
    };
    for (name, spec) in map {
        let at = child(&base, name);
        check_keys(src, &at, spec, r);
        if !nested_secrets {
            check_nested_secret(src, &at, spec, r, true);
        }
        if !check_type(src, &at, spec, r) {
            continue;
        }
        let merged;
        let spec = match (runner.get(name), spec) {
            (Some(b), Value::Object(over)) => {
                let mut m = match serde_json::to_value(b) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                m.extend(over.clone());
                // A runner parameter made immutable without any default (StackStorm's
                // `sudo_password: {immutable: true}`) is one nobody may set: null.
                if m.get("immutable") == Some(&Value::Bool(true)) && !m.contains_key("default") {
                    m.insert("default".into(), Value::Null);
                }
                merged = Value::Object(m);
                &merged
            }
            _ => spec,
        };
        if let Some(mut parsed) = read_one(src, &at, spec, r) {
            // StackStorm packs write `required: true` with `default: null`: no default, the
            // parameter must be given.
            if parsed.required && parsed.default.as_ref().is_some_and(Value::is_null) {
                parsed.default = None;
            }
            out.0.insert(name.clone(), parsed);
        }
    }
    // Entries that did not parse are left out, so nothing is reported twice.
    for e in out.validate_schema() {
        let at = child(&base, &e.param);
        r.push(src.problem(&at, e.message));
    }
    out
}

const TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "object", "null", "any",
];

/// Reports a `type` that is not a known type name (with the nearest one); false if so.
fn check_type(src: &Source, at: &str, spec: &Value, r: &mut Report) -> bool {
    let Some(t) = spec.get("type") else {
        return true;
    };
    let names: Vec<&Value> = match t {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    let mut ok = true;
    for n in names {
        let path = child(at, "type");
        match n.as_str() {
            Some(name) if TYPES.contains(&name) => {}
            Some(name) => {
                let hint = crate::text::nearest(name, TYPES.iter().copied())
                    .map(|h| format!("did you mean '{h}'?"));
                let msg = format!("unknown type '{name}' (one of: {})", TYPES.join(", "));
                r.push(src.hinted(&path, msg, hint));
                ok = false;
            }
            None => {
                let msg = format!("must be a type name or a list of them, got {}", a_type(n));
                r.push(src.problem(&path, msg));
                ok = false;
            }
        }
    }
    ok
}

/// Reports `secret` below the top level of a spec (in `items` or `properties`): only whole
/// parameters are secret.
fn check_nested_secret(src: &Source, at: &str, spec: &Value, r: &mut Report, top: bool) {
    let Some(m) = spec.as_object() else { return };
    if !top && m.get("secret").is_some_and(|s| s != &Value::Bool(false)) {
        r.push(src.problem(
            &child(at, "secret"),
            "secret works on whole parameters only: mark the top-level parameter secret",
        ));
    }
    if let Some(items) = m.get("items") {
        check_nested_secret(src, &child(at, "items"), items, r, false);
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        for (k, v) in props {
            check_nested_secret(src, &child(&child(at, "properties"), k), v, r, false);
        }
    }
}

/// Reports unknown keys of a spec (and of its `items` spec).
fn check_keys(src: &Source, at: &str, spec: &Value, r: &mut Report) {
    if let Some(mut f) = Fields::new(src, at, spec, r) {
        f.accept(SPEC_KEYS);
        f.accept(KEPT_KEYS);
        if let Some(items) = f.any(&["items"]) {
            check_keys(src, &items.path, items.value, r);
        }
        f.finish(r);
    }
}

/// JSON Schema draft 4's `required: [names]` on an object spec (or on its `items`) written
/// as draft 3's `required: true` on each named property, which is how a parameter spec
/// says it (the spec's own `required` says whether the parameter must be given).
fn required_lists(spec: &mut Value) {
    let Value::Object(m) = spec else { return };
    if let Some(items) = m.get_mut("items") {
        required_lists(items);
    }
    if !m.get("required").is_some_and(Value::is_array) {
        return;
    }
    let Some(Value::Array(names)) = m.remove("required") else {
        return;
    };
    let props = m
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = props {
        for n in names.iter().filter_map(Value::as_str) {
            if let Some(Value::Object(p)) = props.get_mut(n) {
                p.insert("required".into(), Value::Bool(true));
            } else {
                props.insert(n.into(), serde_json::json!({"required": true}));
            }
        }
    }
}

fn read_one(src: &Source, at: &str, spec: &Value, r: &mut Report) -> Option<ParamSpec> {
    if !spec.is_object() {
        return None;
    }
    // `required: yes` and friends, as PyYAML-era packs write them.
    let mut spec = spec.clone();
    if let Value::Object(m) = &mut spec {
        for key in ["required", "secret", "immutable"] {
            if let Some(Value::String(b)) = m.get(key) {
                match b.to_ascii_lowercase().as_str() {
                    "yes" | "on" => m.insert(key.into(), Value::Bool(true)),
                    "no" | "off" => m.insert(key.into(), Value::Bool(false)),
                    _ => None,
                };
            }
        }
    }
    required_lists(&mut spec);
    match serde_json::from_value::<ParamSpec>(spec) {
        Ok(p) => Some(p),
        Err(e) => {
            r.push(src.problem(at, format!("invalid parameter spec: {e}")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_schema_form_is_normalized() {
        let s = param_schema(&json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["a"]
        }))
        .unwrap();
        assert!(s.get("a").unwrap().required);
        assert!(!s.get("b").unwrap().required);
    }

    #[test]
    fn bad_schema_is_an_error() {
        let e = param_schema(&json!({"a": {"type": "integer", "default": "x"}})).unwrap_err();
        assert!(e.to_string().contains("'a'"), "{e}");
    }
}
