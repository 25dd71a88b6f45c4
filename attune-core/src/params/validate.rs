//! Checking parameters against a [`ParamSchema`], and a schema against itself.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ParamError, ParamErrors, ParamSchema, ParamSpec, ParamType, json_type_name};

/// JSON-schema keywords a parameter spec may carry that [`ParamSpec`]'s own fields do not
/// cover; a value is checked against them too (as StackStorm validates params with JSON
/// Schema). `format` stays an annotation, as in StackStorm.
const STRUCTURAL: &[&str] = &[
    "pattern",
    "properties",
    "patternProperties",
    "additionalProperties",
    "additionalItems",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "const",
    "dependencies",
    "contains",
    "propertyNames",
];

impl ParamSpec {
    /// Whether a `null` value is an ordinary value for this spec.
    fn admits_null(&self) -> bool {
        self.kind
            .as_ref()
            .is_none_or(|k| k.includes_any(&[ParamType::Null]))
    }

    /// Check `value` against this spec, pushing problems found under `path`. Messages never
    /// show the value of a secret (`secret` is inherited by array items).
    fn check_value(&self, path: &str, value: &Value, errors: &mut Vec<ParamError>, secret: bool) {
        let secret = secret || self.secret;
        let shown = || {
            if secret {
                super::REDACTED.to_string()
            } else {
                value.to_string()
            }
        };
        if let Some(kind) = &self.kind
            && !kind.matches(value)
        {
            let msg = format!("expected {kind}, got {}", json_type_name(value));
            errors.push(ParamError::new(path, msg));
            return;
        }
        if let Some(allowed) = &self.enum_values
            && !allowed.iter().any(|a| values_equal(a, value))
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            let msg = format!("value {} is not one of [{}]", shown(), list.join(", "));
            errors.push(ParamError::new(path, msg));
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum
                && n < min
            {
                errors.push(ParamError::new(
                    path,
                    format!("{} is less than the minimum {min}", shown()),
                ));
            }
            if let Some(max) = self.maximum
                && n > max
            {
                errors.push(ParamError::new(
                    path,
                    format!("{} is greater than the maximum {max}", shown()),
                ));
            }
        }
        let len = match value {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(a) => Some(a.len()),
            _ => None,
        };
        if let Some(len) = len.map(|l| l as u64) {
            if let Some(min) = self.min_length
                && len < min
            {
                errors.push(ParamError::new(
                    path,
                    format!("length {len} is less than minLength {min}"),
                ));
            }
            if let Some(max) = self.max_length
                && len > max
            {
                errors.push(ParamError::new(
                    path,
                    format!("length {len} is greater than maxLength {max}"),
                ));
            }
        }
        if let (Some(items), Value::Array(elems)) = (&self.items, value) {
            for (i, elem) in elems.iter().enumerate() {
                items.check_value(&format!("{path}[{i}]"), elem, errors, secret);
            }
        }
        self.check_structure(path, value, errors, secret);
    }

    /// The JSON-schema keywords this spec carries besides the ones checked above
    /// (`pattern`, `properties`, `oneOf`, ...) as a schema of their own, if any.
    fn structural_schema(&self) -> Option<Value> {
        let mut m: Map<String, Value> = self
            .extra
            .iter()
            .filter(|(k, _)| STRUCTURAL.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if m.is_empty() {
            return None;
        }
        // Draft 4's boolean exclusiveMinimum/exclusiveMaximum modify minimum/maximum.
        for (flag, bound) in [
            ("exclusiveMinimum", self.minimum),
            ("exclusiveMaximum", self.maximum),
        ] {
            if m.get(flag).is_some_and(Value::is_boolean)
                && let Some(b) = bound
            {
                let key = if flag == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                m.insert(key.into(), Value::from(b));
            }
        }
        Some(super::draft3_required(&Value::Object(m)))
    }

    /// Checks `value` against [`ParamSpec::structural_schema`]: a secret's messages name
    /// where and which rule, never the value.
    fn check_structure(
        &self,
        path: &str,
        value: &Value,
        errors: &mut Vec<ParamError>,
        secret: bool,
    ) {
        let Some(schema) = self.structural_schema() else {
            return;
        };
        // A schema that does not compile is reported when the spec is checked.
        let Ok(Some(compiled)) = super::CompiledSchema::compile(&schema) else {
            return;
        };
        for p in compiled.problems(value).unwrap_or_default() {
            let message = if secret {
                let at = p.split(": ").next().unwrap_or_default();
                format!("{at}: does not match the parameter's schema")
            } else {
                p
            };
            errors.push(ParamError::new(path, message));
        }
    }

    /// Check the spec itself, pushing problems found under `path`.
    fn check_spec(&self, path: &str, errors: &mut Vec<ParamError>) {
        let mut err = |msg: String| errors.push(ParamError::new(path, msg));
        let kind = self.kind.as_ref();
        if kind.is_some_and(|k| k.types().is_empty()) {
            err("type list must not be empty".into());
        }
        let allows = |wanted: &[ParamType]| kind.is_none_or(|k| k.includes_any(wanted));
        if (self.minimum.is_some() || self.maximum.is_some())
            && !allows(&[ParamType::Integer, ParamType::Number])
        {
            err("minimum/maximum only apply to integer or number parameters".into());
        }
        if (self.min_length.is_some() || self.max_length.is_some())
            && !allows(&[ParamType::String, ParamType::Array])
        {
            err("minLength/maxLength only apply to string or array parameters".into());
        }
        if self.items.is_some() && !allows(&[ParamType::Array]) {
            err("items only applies to array parameters".into());
        }
        if let Some(schema) = self.structural_schema()
            && let Err(e) = super::CompiledSchema::compile(&schema)
        {
            err(format!(
                "its JSON-schema keywords are not a valid schema: {e}"
            ));
        }
        if let (Some(min), Some(max)) = (self.minimum, self.maximum)
            && min > max
        {
            err(format!("minimum {min} is greater than maximum {max}"));
        }
        if let (Some(min), Some(max)) = (self.min_length, self.max_length)
            && min > max
        {
            err(format!("minLength {min} is greater than maxLength {max}"));
        }
        if self.immutable && self.default.is_none() {
            err("immutable parameter must have a default".into());
        }
        if let Some(allowed) = &self.enum_values {
            if allowed.is_empty() {
                err("enum must not be empty".into());
            }
            if let Some(k) = kind {
                for v in allowed.iter().filter(|v| !k.matches(v)) {
                    err(format!("enum value {v} is not of type {k}"));
                }
            }
        }
        // A default that is a template is checked once rendered, per execution.
        if let Some(default) = &self.default
            && !(default.is_null() && self.admits_null_default())
            && !crate::template::contains_template(default)
        {
            let mut inner = Vec::new();
            self.check_value(path, default, &mut inner, false);
            errors.extend(inner.into_iter().map(|mut e| {
                e.message = format!("invalid default: {}", e.message);
                e
            }));
        }
        if let Some(items) = &self.items {
            items.check_spec(&format!("{path}[]"), errors);
        }
    }

    /// A `null` default on an optional parameter means "unset" and is allowed.
    fn admits_null_default(&self) -> bool {
        self.admits_null() || !self.required
    }
}

/// Compare JSON values, treating numerically equal numbers as equal when
/// either is a float (so `1` equals `1.0`).
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

impl ParamSchema {
    /// Validate supplied parameters; on success return the effective
    /// parameters (supplied values plus defaults for the missing ones).
    /// Every problem is reported, not just the first.
    pub fn validate(
        &self,
        provided: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ParamErrors> {
        let mut errors = Vec::new();
        let mut out = Map::new();
        for (name, spec) in &self.0 {
            let supplied = provided
                .get(name)
                .filter(|v| !v.is_null() || spec.admits_null());
            match (supplied, &spec.default) {
                (Some(value), default) => {
                    spec.check_value(name, value, &mut errors, false);
                    if spec.immutable && !default.as_ref().is_some_and(|d| values_equal(d, value)) {
                        errors.push(ParamError::new(
                            name,
                            "is immutable and cannot be overridden",
                        ));
                    }
                    out.insert(name.clone(), value.clone());
                }
                (None, Some(default)) => {
                    out.insert(name.clone(), default.clone());
                }
                (None, None) if spec.required => {
                    errors.push(ParamError::new(name, "is required"));
                }
                (None, None) => {}
            }
        }
        for (name, value) in provided {
            if self.0.contains_key(name) {
                continue;
            }
            if self.0.is_empty() {
                out.insert(name.clone(), value.clone());
            } else {
                let mut e = ParamError::new(name, "unknown parameter");
                e.hint = self.nearest_name(name).map(str::to_owned);
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ParamErrors(errors))
        }
    }

    /// [`ParamSchema::validate`] that takes `provided` (leaving it empty) instead of copying
    /// it when no params are declared: then every supplied param is accepted as it is, and
    /// there is no default to render from what was supplied.
    pub fn validate_taking(
        &self,
        provided: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>, ParamErrors> {
        if self.0.is_empty() {
            return Ok(std::mem::take(provided));
        }
        self.validate(provided)
    }

    /// Checks the value of one declared param against its spec (type and constraints);
    /// a name not declared is not checked.
    pub(crate) fn check_param(&self, name: &str, value: &Value) -> Result<(), ParamErrors> {
        let Some(spec) = self.0.get(name) else {
            return Ok(());
        };
        let mut errors = Vec::new();
        spec.check_value(name, value, &mut errors, false);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ParamErrors(errors))
        }
    }

    /// The declared name closest to `name`, if it is close enough.
    fn nearest_name(&self, name: &str) -> Option<&str> {
        crate::text::nearest(name, self.0.keys().map(String::as_str))
    }

    /// Check the schema itself: defaults that fail their own spec, bad
    /// bounds, immutable without default, empty enums, duplicate positions.
    pub fn validate_schema(&self) -> Vec<ParamError> {
        let mut errors = Vec::new();
        let mut positions: BTreeMap<u32, &str> = BTreeMap::new();
        for (name, spec) in &self.0 {
            if name.trim().is_empty() {
                errors.push(ParamError::new(name, "parameter name must not be empty"));
            }
            spec.check_spec(name, &mut errors);
            if let Some(p) = spec.position
                && let Some(other) = positions.insert(p, name)
            {
                let msg = format!("position {p} is also used by '{other}'");
                errors.push(ParamError::new(name, msg));
            }
        }
        errors
    }
}
