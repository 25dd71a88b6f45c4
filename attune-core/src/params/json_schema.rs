//! JSON Schema compiled for validation, as StackStorm uses it: the draft named by `$schema`,
//! else Draft 4; `$ref`s to other documents never fetched; `format` an annotation, not
//! checked (StackStorm validates without a format checker). Trigger types' schemas, and the
//! JSON-schema keywords of a parameter spec that [`ParamSpec`](super::ParamSpec) does not
//! check itself (`pattern`, `properties`, `oneOf`, ...), are checked with it.

use serde_json::{Map, Value};

/// A JSON Schema compiled for validation.
pub(crate) struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

impl CompiledSchema {
    /// Compiles `schema`; `Ok(None)` for no schema (`null`) or the empty schema `{}`, which
    /// accept anything. `Err` is the compiler's message.
    pub(crate) fn compile(schema: &Value) -> std::result::Result<Option<Self>, String> {
        match schema {
            Value::Null => return Ok(None),
            Value::Object(m) if m.is_empty() => return Ok(None),
            _ => {}
        }
        let mut options = jsonschema::options()
            .offline()
            .should_validate_formats(false);
        let names_draft = schema
            .as_object()
            .is_some_and(|m| m.contains_key("$schema"));
        if !names_draft {
            options = options.with_draft(jsonschema::Draft::Draft4);
        }
        options
            .build(schema)
            .map(|validator| Some(CompiledSchema { validator }))
            .map_err(|e| {
                let at = e.instance_path().as_str();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("at {at}: {e}")
                }
            })
    }

    /// `None` when `instance` is valid; else every failing instance path (a JSON pointer,
    /// `(root)` for the value itself) with its message, in the validator's order. A missing
    /// required property is reported at its own path.
    pub(crate) fn problems(&self, instance: &Value) -> Option<Vec<String>> {
        if self.validator.is_valid(instance) {
            return None;
        }
        let out = self
            .validator
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().as_str().to_string();
                if let jsonschema::error::ValidationErrorKind::Required {
                    property: Value::String(p),
                } = e.kind()
                {
                    let key = p.replace('~', "~0").replace('/', "~1");
                    return format!("{at}/{key}: is a required property");
                }
                let at = if at.is_empty() { "(root)".into() } else { at };
                format!("{at}: {e}")
            })
            .collect();
        Some(out)
    }
}

/// `schema` with JSON Schema draft 3's `required: true` on a property (which StackStorm's
/// schemas use) written as draft 4's `required: [names]` on the object holding it, at every
/// level; `required: false` is dropped. Everything else is kept as it is.
pub(crate) fn draft3_required(schema: &Value) -> Value {
    let Value::Object(m) = schema else {
        return schema.clone();
    };
    let mut out = Map::with_capacity(m.len());
    let mut names: Vec<Value> = match m.get("required") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for (k, v) in m {
        match (k.as_str(), v) {
            ("required", Value::Bool(_) | Value::Array(_)) => {}
            ("properties", Value::Object(props)) => {
                let mut p = Map::with_capacity(props.len());
                for (name, spec) in props {
                    if spec.get("required") == Some(&Value::Bool(true))
                        && !names.iter().any(|n| n == name)
                    {
                        names.push(Value::String(name.clone()));
                    }
                    p.insert(name.clone(), draft3_required(spec));
                }
                out.insert(k.clone(), Value::Object(p));
            }
            ("items" | "additionalProperties" | "additionalItems" | "not", _) => {
                out.insert(k.clone(), draft3_required(v));
            }
            ("patternProperties" | "definitions", Value::Object(inner)) => {
                let inner = inner
                    .iter()
                    .map(|(n, x)| (n.clone(), draft3_required(x)))
                    .collect();
                out.insert(k.clone(), Value::Object(inner));
            }
            ("oneOf" | "anyOf" | "allOf", Value::Array(list)) => {
                out.insert(
                    k.clone(),
                    Value::Array(list.iter().map(draft3_required).collect()),
                );
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !names.is_empty() {
        out.insert("required".into(), Value::Array(names));
    }
    Value::Object(out)
}
