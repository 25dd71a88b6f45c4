//! Action parameter schemas in the StackStorm `parameters` style.
//!
//! An action declares its parameters as a map `name -> spec`
//! ([`ParamSchema`] of [`ParamSpec`]). [`ParamSchema::validate`] checks the
//! parameters supplied for an execution against that schema, collects *all*
//! problems in one pass and returns the effective parameters (supplied
//! values plus defaults). Secret parameters can be redacted
//! ([`ParamSchema::redact`]) and their values masked in free text
//! ([`mask_secrets`]).
//!
//! Null handling: a supplied `null` for a parameter whose type does not admit
//! `null` (`null`, `any` or no type) is treated as "not supplied": the default
//! applies, or a required parameter is reported missing.
//!
//! Unknown spec keys (e.g. `pattern`, which is not enforced) are kept in
//! [`ParamSpec::extra`] so packs round-trip unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Replacement text for secret values.
pub const REDACTED: &str = "********";

/// A single JSON parameter type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A JSON string.
    String,
    /// A JSON integer (i64/u64 only; `3.0` is not an integer).
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false` (never a number).
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
    /// JSON `null`.
    Null,
    /// Any value at all.
    Any,
}

impl ParamType {
    /// The lowercase name used in schemas.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
            Self::Null => "null",
            Self::Any => "any",
        }
    }

    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Array => value.is_array(),
            Self::Object => value.is_object(),
            Self::Null => value.is_null(),
            Self::Any => true,
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `type` of a parameter: one type, or a list of types (any of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TypeSpec {
    /// `type: string`
    Single(ParamType),
    /// `type: [string, integer]`
    Union(Vec<ParamType>),
}

impl TypeSpec {
    /// The listed types as a slice.
    pub fn types(&self) -> &[ParamType] {
        match self {
            Self::Single(t) => std::slice::from_ref(t),
            Self::Union(ts) => ts,
        }
    }

    /// Whether `value` matches any of the listed types.
    pub fn matches(&self, value: &Value) -> bool {
        self.types().iter().any(|t| t.matches(value))
    }

    /// Whether any listed type is one of `wanted` (or `any`).
    pub fn includes_any(&self, wanted: &[ParamType]) -> bool {
        self.types()
            .iter()
            .any(|t| *t == ParamType::Any || wanted.contains(t))
    }
}

impl fmt::Display for TypeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.types().iter().map(|t| t.as_str()).collect();
        f.write_str(&names.join(" or "))
    }
}

impl From<ParamType> for TypeSpec {
    fn from(t: ParamType) -> Self {
        Self::Single(t)
    }
}

/// Specification of one action parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParamSpec {
    /// Accepted type(s); `None` means any.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<TypeSpec>,
    /// Human-readable description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The parameter must be supplied (unless it has a default).
    #[serde(skip_serializing_if = "is_false")]
    pub required: bool,
    /// Value used when the parameter is not supplied (`null` is kept as a value).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_some"
    )]
    pub default: Option<Value>,
    /// Allowed values.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    /// The value is sensitive and must be redacted in logs and output.
    #[serde(skip_serializing_if = "is_false")]
    pub secret: bool,
    /// Callers may not override the default.
    #[serde(skip_serializing_if = "is_false")]
    pub immutable: bool,
    /// Inclusive lower bound for numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Inclusive upper bound for numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Minimum length of a string (in chars) or array.
    #[serde(
        rename = "minLength",
        alias = "min_length",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_length: Option<u64>,
    /// Maximum length of a string (in chars) or array.
    #[serde(
        rename = "maxLength",
        alias = "max_length",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_length: Option<u64>,
    /// Spec every array element must satisfy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<ParamSpec>>,
    /// Position for runners that pass positional arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Keys this module does not interpret (kept for round trips).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn deserialize_some<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl ParamSpec {
    /// A spec of the given type.
    pub fn of(kind: ParamType) -> Self {
        Self {
            kind: Some(TypeSpec::Single(kind)),
            ..<Self as Default>::default()
        }
    }
    /// A spec accepting any of the given types.
    pub fn of_types(kinds: Vec<ParamType>) -> Self {
        Self {
            kind: Some(TypeSpec::Union(kinds)),
            ..<Self as Default>::default()
        }
    }
    /// A `string` parameter.
    pub fn string() -> Self {
        Self::of(ParamType::String)
    }
    /// An `integer` parameter.
    pub fn integer() -> Self {
        Self::of(ParamType::Integer)
    }
    /// A `number` parameter.
    pub fn number() -> Self {
        Self::of(ParamType::Number)
    }
    /// A `boolean` parameter.
    pub fn boolean() -> Self {
        Self::of(ParamType::Boolean)
    }
    /// An `array` parameter.
    pub fn array() -> Self {
        Self::of(ParamType::Array)
    }
    /// An `object` parameter.
    pub fn object() -> Self {
        Self::of(ParamType::Object)
    }
    /// A parameter of any type (no `type` key).
    pub fn any() -> Self {
        <Self as Default>::default()
    }
    /// Mark as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Set the default value.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }
    /// Set the allowed values.
    pub fn enum_values(mut self, values: Vec<Value>) -> Self {
        self.enum_values = Some(values);
        self
    }
    /// Mark as secret.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    /// Mark as immutable.
    pub fn immutable(mut self) -> Self {
        self.immutable = true;
        self
    }
    /// Set the inclusive minimum.
    pub fn min(mut self, minimum: f64) -> Self {
        self.minimum = Some(minimum);
        self
    }
    /// Set the inclusive maximum.
    pub fn max(mut self, maximum: f64) -> Self {
        self.maximum = Some(maximum);
        self
    }
    /// Set the minimum length.
    pub fn min_length(mut self, len: u64) -> Self {
        self.min_length = Some(len);
        self
    }
    /// Set the maximum length.
    pub fn max_length(mut self, len: u64) -> Self {
        self.max_length = Some(len);
        self
    }
    /// Set the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    /// Set the element spec for arrays.
    pub fn items(mut self, spec: ParamSpec) -> Self {
        self.items = Some(Box::new(spec));
        self
    }
    /// Set the positional index.
    pub fn position(mut self, position: u32) -> Self {
        self.position = Some(position);
        self
    }

    /// Whether a `null` value is an ordinary value for this spec.
    fn admits_null(&self) -> bool {
        self.kind
            .as_ref()
            .is_none_or(|k| k.includes_any(&[ParamType::Null]))
    }

    /// Check `value` against this spec, pushing problems found under `path`.
    fn check_value(&self, path: &str, value: &Value, errors: &mut Vec<ParamError>) {
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
            let msg = format!("value {value} is not one of [{}]", list.join(", "));
            errors.push(ParamError::new(path, msg));
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum
                && n < min
            {
                errors.push(ParamError::new(
                    path,
                    format!("{value} is less than the minimum {min}"),
                ));
            }
            if let Some(max) = self.maximum
                && n > max
            {
                errors.push(ParamError::new(
                    path,
                    format!("{value} is greater than the maximum {max}"),
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
                items.check_value(&format!("{path}[{i}]"), elem, errors);
            }
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
        if let Some(default) = &self.default
            && !(default.is_null() && self.admits_null_default())
        {
            let mut inner = Vec::new();
            self.check_value(path, default, &mut inner);
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

/// The JSON type name of a value: "null", "boolean", "integer" (i64/u64),
/// "number", "string", "array" or "object".
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One problem with a parameter (or with a schema entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("parameter '{param}': {message}{}", hint_suffix(.hint))]
pub struct ParamError {
    /// Path of the parameter, e.g. `tags[2]`.
    pub param: String,
    /// What is wrong.
    pub message: String,
    /// A suggested parameter name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!(" (did you mean '{h}'?)"))
        .unwrap_or_default()
}

impl ParamError {
    /// A new error without a hint.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
            hint: None,
        }
    }
}

/// All problems found in one validation pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{}", join_errors(.0))]
pub struct ParamErrors(pub Vec<ParamError>);

fn join_errors(errors: &[ParamError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

impl ParamErrors {
    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Iterate over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ParamError> {
        self.0.iter()
    }
}

/// An action's parameter declarations: `name -> spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParamSchema(pub BTreeMap<String, ParamSpec>);

impl ParamSchema {
    /// An empty schema (which accepts any parameters).
    pub fn new() -> Self {
        <Self as Default>::default()
    }
    /// Add (or replace) a parameter, builder style.
    pub fn with(mut self, name: impl Into<String>, spec: ParamSpec) -> Self {
        self.0.insert(name.into(), spec);
        self
    }
    /// The spec of a parameter.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.0.get(name)
    }
    /// Iterate over `(name, spec)` in name order.
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, String, ParamSpec> {
        self.0.iter()
    }
    /// Number of declared parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether no parameters are declared.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Names of the secret parameters.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, s)| s.secret)
            .map(|(n, _)| n.as_str())
    }
    /// Whether any parameter is secret.
    pub fn has_secrets(&self) -> bool {
        self.secret_names().next().is_some()
    }
    /// Names of the parameters that have a `position`, ordered by it.
    pub fn positional_names(&self) -> Vec<&str> {
        let mut named: Vec<(u32, &str)> = self
            .0
            .iter()
            .filter_map(|(n, s)| s.position.map(|p| (p, n.as_str())))
            .collect();
        named.sort();
        named.into_iter().map(|(_, n)| n).collect()
    }

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
                    spec.check_value(name, value, &mut errors);
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

    /// The declared name closest to `name`, if it is close enough.
    fn nearest_name(&self, name: &str) -> Option<&str> {
        let wanted = name.to_lowercase();
        let len = wanted.chars().count();
        let limit = (len / 3).max(2);
        self.0
            .keys()
            .map(|k| (levenshtein(&wanted, &k.to_lowercase()), k.as_str()))
            .filter(|(d, _)| *d <= limit && *d < len)
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
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

    /// A copy of `params` with every present secret parameter replaced by
    /// [`REDACTED`].
    pub fn redact(&self, params: &Map<String, Value>) -> Map<String, Value> {
        let mut out = params.clone();
        for name in self.secret_names() {
            if let Some(v) = out.get_mut(name) {
                *v = Value::String(REDACTED.to_owned());
            }
        }
        out
    }

    /// String forms of the present, non-null, non-empty secret values
    /// (strings raw, other values as JSON), for masking output.
    pub fn secret_values(&self, params: &Map<String, Value>) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.secret_names()
            .filter_map(|n| params.get(n))
            .filter_map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .filter(|s| !s.is_empty() && seen.insert(s.clone()))
            .collect()
    }
}

/// Replace every occurrence of each secret in `text` with [`REDACTED`],
/// preferring the longest secret at each position; empty secrets are skipped.
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if sorted.is_empty() {
        return text.to_owned();
    }
    sorted.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    sorted.dedup();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = sorted.iter().find_map(|s| rest.strip_prefix(*s)) {
            out.push_str(REDACTED);
            rest = after;
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out
}

/// Edit distance between two strings (in chars).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn errs(schema: &ParamSchema, v: Value) -> Vec<ParamError> {
        match schema.validate(&obj(v)) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    fn one(spec: ParamSpec) -> ParamSchema {
        ParamSchema::new().with("p", spec)
    }

    fn ok(schema: &ParamSchema, v: Value) -> Map<String, Value> {
        let res = schema.validate(&obj(v));
        assert!(res.is_ok(), "unexpected errors: {res:?}");
        res.unwrap_or_default()
    }

    fn example() -> ParamSchema {
        ParamSchema::new()
            .with("host", ParamSpec::string().required().description("target"))
            .with(
                "port",
                ParamSpec::integer().default(22).min(1.0).max(65535.0),
            )
            .with(
                "mode",
                ParamSpec::string()
                    .enum_values(vec![json!("fast"), json!("safe")])
                    .default("safe"),
            )
            .with("password", ParamSpec::string().secret())
            .with("region", ParamSpec::string().default("eu").immutable())
            .with("tags", ParamSpec::array().items(ParamSpec::string()))
            .with("opts", ParamSpec::object())
            .with("timeout", ParamSpec::integer().default(60))
            .with("cmd", ParamSpec::string().position(0))
    }

    #[test]
    fn json_type_names() {
        assert_eq!(json_type_name(&json!(null)), "null");
        assert_eq!(json_type_name(&json!(true)), "boolean");
        assert_eq!(json_type_name(&json!(3)), "integer");
        assert_eq!(json_type_name(&json!(-3)), "integer");
        assert_eq!(json_type_name(&json!(u64::MAX)), "integer");
        assert_eq!(json_type_name(&json!(3.0)), "number");
        assert_eq!(json_type_name(&json!("x")), "string");
        assert_eq!(json_type_name(&json!([])), "array");
        assert_eq!(json_type_name(&json!({})), "object");
    }

    #[test]
    fn type_checks_pass_and_fail() {
        let cases = [
            (ParamSpec::string(), json!("x"), json!(1)),
            (ParamSpec::integer(), json!(3), json!(3.0)),
            (ParamSpec::integer(), json!(u64::MAX), json!("3")),
            (ParamSpec::number(), json!(3.5), json!(true)),
            (ParamSpec::number(), json!(3), json!(null)),
            (ParamSpec::boolean(), json!(false), json!(0)),
            (ParamSpec::array(), json!([1]), json!({})),
            (ParamSpec::object(), json!({"a": 1}), json!([])),
            (ParamSpec::of(ParamType::Null), json!(null), json!(0)),
        ];
        for (spec, good, bad) in cases {
            let s = one(spec.required());
            ok(&s, json!({ "p": good }));
            let e = errs(&s, json!({ "p": bad }));
            assert_eq!(e.len(), 1, "{bad} should fail");
        }
        let e = errs(&one(ParamSpec::integer()), json!({"p": 3.0}));
        assert_eq!(e[0].message, "expected integer, got number");
        let e = errs(&one(ParamSpec::number()), json!({"p": true}));
        assert_eq!(e[0].message, "expected number, got boolean");
    }

    #[test]
    fn any_type_accepts_everything() {
        for v in [json!(null), json!(1), json!("s"), json!([1]), json!({})] {
            ok(&one(ParamSpec::any()), json!({ "p": v }));
            ok(&one(ParamSpec::of(ParamType::Any)), json!({ "p": v }));
        }
    }

    #[test]
    fn union_types() {
        let s = one(ParamSpec::of_types(vec![
            ParamType::String,
            ParamType::Integer,
        ]));
        ok(&s, json!({"p": "a"}));
        ok(&s, json!({"p": 5}));
        let e = errs(&s, json!({"p": 1.5}));
        assert_eq!(e[0].message, "expected string or integer, got number");
    }

    #[test]
    fn required_and_defaults() {
        let s = example();
        let e = errs(&s, json!({}));
        assert_eq!(e, vec![ParamError::new("host", "is required")]);
        let out = ok(&s, json!({"host": "h"}));
        assert_eq!(out.get("port"), Some(&json!(22)));
        assert_eq!(out.get("mode"), Some(&json!("safe")));
        assert_eq!(out.get("region"), Some(&json!("eu")));
        assert_eq!(out.get("timeout"), Some(&json!(60)));
        assert!(!out.contains_key("password"));
        let out = ok(&s, json!({"host": "h", "port": 2222}));
        assert_eq!(out.get("port"), Some(&json!(2222)));
        // required with a default is satisfied by the default
        let s = one(ParamSpec::string().required().default("d"));
        assert_eq!(ok(&s, json!({})).get("p"), Some(&json!("d")));
    }

    #[test]
    fn null_default_is_inserted() {
        let s = one(ParamSpec::any().default(Value::Null));
        assert_eq!(ok(&s, json!({})).get("p"), Some(&Value::Null));
    }

    #[test]
    fn supplied_null_means_unset_unless_type_admits_null() {
        let s = one(ParamSpec::integer().default(5));
        assert_eq!(ok(&s, json!({"p": null})).get("p"), Some(&json!(5)));
        let s = one(ParamSpec::integer());
        assert!(!ok(&s, json!({"p": null})).contains_key("p"));
        let s = one(ParamSpec::integer().required());
        assert_eq!(errs(&s, json!({"p": null}))[0].message, "is required");
        let s = one(ParamSpec::of_types(vec![ParamType::Integer, ParamType::Null]).default(5));
        assert_eq!(ok(&s, json!({"p": null})).get("p"), Some(&Value::Null));
    }

    #[test]
    fn enum_values() {
        let s = example();
        ok(&s, json!({"host": "h", "mode": "fast"}));
        let e = errs(&s, json!({"host": "h", "mode": "slow"}));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].param, "mode");
        assert_eq!(
            e[0].message,
            r#"value "slow" is not one of ["fast", "safe"]"#
        );
        let s = one(ParamSpec::number().enum_values(vec![json!(1), json!(2.5)]));
        ok(&s, json!({"p": 1.0}));
        ok(&s, json!({"p": 2.5}));
        assert_eq!(errs(&s, json!({"p": 3})).len(), 1);
    }

    #[test]
    fn minimum_maximum_inclusive() {
        let s = example();
        ok(&s, json!({"host": "h", "port": 1}));
        ok(&s, json!({"host": "h", "port": 65535}));
        let e = errs(&s, json!({"host": "h", "port": 0}));
        assert_eq!(e[0].message, "0 is less than the minimum 1");
        let e = errs(&s, json!({"host": "h", "port": 65536}));
        assert_eq!(e[0].message, "65536 is greater than the maximum 65535");
        let s = one(ParamSpec::number().min(0.5).max(1.5));
        ok(&s, json!({"p": 0.5}));
        assert_eq!(errs(&s, json!({"p": 0.49})).len(), 1);
        assert_eq!(errs(&s, json!({"p": 2})).len(), 1);
    }

    #[test]
    fn string_and_array_lengths() {
        let s = one(ParamSpec::string().min_length(2).max_length(3));
        ok(&s, json!({"p": "ab"}));
        ok(&s, json!({"p": "äöü"})); // chars, not bytes
        assert_eq!(
            errs(&s, json!({"p": "a"}))[0].message,
            "length 1 is less than minLength 2"
        );
        assert_eq!(
            errs(&s, json!({"p": "abcd"}))[0].message,
            "length 4 is greater than maxLength 3"
        );
        let s = one(ParamSpec::array().min_length(1).max_length(2));
        ok(&s, json!({"p": [1, 2]}));
        assert_eq!(errs(&s, json!({"p": []})).len(), 1);
        assert_eq!(errs(&s, json!({"p": [1, 2, 3]})).len(), 1);
    }

    #[test]
    fn items_are_checked_with_paths() {
        let s = example();
        ok(&s, json!({"host": "h", "tags": ["a", "b"]}));
        let e = errs(&s, json!({"host": "h", "tags": ["a", "b", 3]}));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].param, "tags[2]");
        assert_eq!(
            e[0].to_string(),
            "parameter 'tags[2]': expected string, got integer"
        );
        let nested =
            one(ParamSpec::array().items(ParamSpec::array().items(ParamSpec::integer().min(0.0))));
        ok(&nested, json!({"p": [[1], [2, 3]]}));
        let e = errs(&nested, json!({"p": [[1], [2, -3]]}));
        assert_eq!(e[0].param, "p[1][1]");
    }

    #[test]
    fn immutable_params() {
        let s = example();
        ok(&s, json!({"host": "h", "region": "eu"}));
        let e = errs(&s, json!({"host": "h", "region": "us"}));
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].to_string(),
            "parameter 'region': is immutable and cannot be overridden"
        );
        let no_default = one(ParamSpec::string().immutable());
        assert_eq!(errs(&no_default, json!({"p": "x"})).len(), 1);
        ok(&no_default, json!({}));
    }

    #[test]
    fn unknown_params_and_hints() {
        let s = example();
        let e = errs(&s, json!({"host": "h", "prot": 22}));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].hint.as_deref(), Some("port"));
        assert_eq!(
            e[0].to_string(),
            "parameter 'prot': unknown parameter (did you mean 'port'?)"
        );
        let e = errs(&s, json!({"host": "h", "Timeout": 1}));
        assert_eq!(e[0].hint.as_deref(), Some("timeout"));
        let e = errs(&s, json!({"host": "h", "zzzzzzzz": 1}));
        assert_eq!(e[0].hint, None);
        assert_eq!(e[0].to_string(), "parameter 'zzzzzzzz': unknown parameter");
        // empty schema accepts anything
        let out = ok(&ParamSchema::new(), json!({"x": 1, "y": [true]}));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn levenshtein_distance() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("prot", "port"), 2);
        assert_eq!(levenshtein("héllo", "hello"), 1);
    }

    #[test]
    fn all_errors_in_one_pass() {
        let s = example();
        let err = s
            .validate(&obj(
                json!({"port": "22", "mode": "slow", "tags": [1, "x", 2]}),
            ))
            .err()
            .unwrap_or(ParamErrors(Vec::new()));
        let params: Vec<&str> = err.iter().map(|e| e.param.as_str()).collect();
        assert_eq!(params, vec!["host", "mode", "port", "tags[0]", "tags[2]"]);
        assert_eq!(err.len(), 5);
        let e3 = errs(&s, json!({"host": 1, "port": 0, "bogus": 1}));
        assert_eq!(e3.len(), 3);
    }

    #[test]
    fn errors_display_joined() {
        let errs = ParamErrors(vec![
            ParamError::new("a", "is required"),
            ParamError {
                param: "b".into(),
                message: "unknown parameter".into(),
                hint: Some("c".into()),
            },
        ]);
        assert!(!errs.is_empty());
        assert_eq!(
            errs.to_string(),
            "parameter 'a': is required; parameter 'b': unknown parameter (did you mean 'c'?)"
        );
        let as_err: &dyn std::error::Error = &errs;
        assert!(as_err.source().is_none());
    }

    #[test]
    fn serde_round_trip_with_extras_and_unions() {
        let raw = json!({
            "host": {"type": "string", "required": true, "description": "target"},
            "port": {"type": "integer", "default": 22, "minimum": 1, "maximum": 65535},
            "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
            "password": {"type": "string", "secret": true},
            "region": {"type": "string", "default": "eu", "immutable": true},
            "tags": {"type": "array", "items": {"type": "string"}, "min_length": 1},
            "opts": {"type": "object", "x-ui": {"widget": "json"}},
            "id": {"type": ["string", "integer"], "pattern": "^[a-z]+$", "maxLength": 9},
            "cmd": {"type": "string", "position": 0},
            "free": {"default": null},
        });
        let schema: ParamSchema = serde_json::from_value(raw.clone()).unwrap_or_default();
        assert_eq!(schema.len(), 10);
        let id = schema.get("id").cloned().unwrap_or_default();
        assert_eq!(
            id.kind,
            Some(TypeSpec::Union(vec![ParamType::String, ParamType::Integer]))
        );
        assert_eq!(id.extra.get("pattern"), Some(&json!("^[a-z]+$")));
        assert_eq!(id.max_length, Some(9));
        let tags = schema.get("tags").cloned().unwrap_or_default();
        assert_eq!(tags.min_length, Some(1));
        assert_eq!(tags.items.as_deref(), Some(&ParamSpec::string()));
        let opts = schema.get("opts").cloned().unwrap_or_default();
        assert_eq!(opts.extra.get("x-ui"), Some(&json!({"widget": "json"})));
        let free = schema.get("free").cloned().unwrap_or_default();
        assert_eq!(free.default, Some(Value::Null));
        assert_eq!(free.kind, None);
        assert_eq!(schema.get("port").and_then(|p| p.minimum), Some(1.0));
        assert!(schema.validate_schema().is_empty());

        let text = serde_json::to_string(&schema).unwrap_or_default();
        let back: ParamSchema = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, schema);
        // canonical names on output
        let out = serde_json::to_value(&schema).unwrap_or_default();
        assert_eq!(out["tags"]["minLength"], json!(1));
        assert_eq!(out["host"], raw["host"]);
        assert_eq!(out["free"], json!({"default": null}));
    }

    #[test]
    fn serde_rejects_bad_types() {
        let bad: Result<ParamSchema, _> = serde_json::from_value(json!({"a": {"type": "str"}}));
        assert!(bad.is_err());
        let bad: Result<ParamSchema, _> = serde_json::from_value(json!({"a": {"required": "yes"}}));
        assert!(bad.is_err());
    }

    #[test]
    fn builders() {
        assert_eq!(
            ParamSpec::string().kind,
            Some(TypeSpec::Single(ParamType::String))
        );
        assert_eq!(ParamSpec::integer().kind, Some(ParamType::Integer.into()));
        assert_eq!(ParamSpec::number().kind, Some(ParamType::Number.into()));
        assert_eq!(ParamSpec::boolean().kind, Some(ParamType::Boolean.into()));
        assert_eq!(ParamSpec::array().kind, Some(ParamType::Array.into()));
        assert_eq!(ParamSpec::object().kind, Some(ParamType::Object.into()));
        assert_eq!(ParamSpec::any().kind, None);
        let s = ParamSpec::string()
            .required()
            .secret()
            .immutable()
            .default("x")
            .description("d")
            .min_length(1)
            .max_length(2);
        assert!(s.required && s.secret && s.immutable);
        assert_eq!(s.default, Some(json!("x")));
        assert_eq!(s.description.as_deref(), Some("d"));
        assert_eq!((s.min_length, s.max_length), (Some(1), Some(2)));
        assert_eq!(ParamType::Boolean.to_string(), "boolean");
    }

    #[test]
    fn secrets_redact_and_values() {
        let s = example().with("token", ParamSpec::any().secret());
        assert!(s.has_secrets());
        assert_eq!(
            s.secret_names().collect::<Vec<_>>(),
            vec!["password", "token"]
        );
        assert!(
            !ParamSchema::new()
                .with("a", ParamSpec::string())
                .has_secrets()
        );
        let params = obj(json!({"host": "h", "password": "hunter2", "token": {"k": 1}}));
        let red = s.redact(&params);
        assert_eq!(red.get("password"), Some(&json!(REDACTED)));
        assert_eq!(red.get("token"), Some(&json!(REDACTED)));
        assert_eq!(red.get("host"), Some(&json!("h")));
        assert_eq!(params.get("password"), Some(&json!("hunter2")));
        let red = s.redact(&obj(json!({"host": "h"})));
        assert!(!red.contains_key("password"));
        assert_eq!(
            s.secret_values(&params),
            vec!["hunter2".to_owned(), r#"{"k":1}"#.to_owned()]
        );
        let empty = obj(json!({"password": "", "token": null}));
        assert!(s.secret_values(&empty).is_empty());
    }

    #[test]
    fn mask_secrets_in_text() {
        let secrets = vec!["abc".to_owned(), "abcdef".to_owned(), String::new()];
        assert_eq!(
            mask_secrets("x abcdef y abc z", &secrets),
            "x ******** y ******** z"
        );
        assert_eq!(mask_secrets("abcabc", &secrets), "****************");
        assert_eq!(mask_secrets("nothing here", &secrets), "nothing here");
        assert_eq!(mask_secrets("abc", &[]), "abc");
        assert_eq!(mask_secrets("", &secrets), "");
        let uni = vec!["pässwörd".to_owned()];
        assert_eq!(mask_secrets("ü pässwörd ü", &uni), "ü ******** ü");
        // the mask itself is never re-masked
        assert_eq!(mask_secrets("a*b", &["*".to_owned()]), "a********b");
    }

    #[test]
    fn positional_params() {
        let s = example()
            .with("arg2", ParamSpec::string().position(2))
            .with("arg1", ParamSpec::string().position(1));
        assert_eq!(s.positional_names(), vec!["cmd", "arg1", "arg2"]);
        assert_eq!(s.get("cmd").and_then(|c| c.position), Some(0));
        assert!(s.validate_schema().is_empty());
        let dup = s.with("other", ParamSpec::string().position(1));
        let e = dup.validate_schema();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, "position 1 is also used by 'arg1'");
    }

    #[test]
    fn validate_schema_checks() {
        assert!(example().validate_schema().is_empty());
        let cases = [
            (
                ParamSpec::integer().default("x"),
                "invalid default: expected integer, got string",
            ),
            (
                ParamSpec::string()
                    .enum_values(vec![json!("a")])
                    .default("b"),
                r#"invalid default: value "b" is not one of ["a"]"#,
            ),
            (
                ParamSpec::integer().min(5.0).default(1),
                "invalid default: 1 is less than the minimum 5",
            ),
            (
                ParamSpec::integer().min(5.0).max(1.0),
                "minimum 5 is greater than maximum 1",
            ),
            (
                ParamSpec::string().min_length(5).max_length(1),
                "minLength 5 is greater than maxLength 1",
            ),
            (
                ParamSpec::string().immutable(),
                "immutable parameter must have a default",
            ),
            (
                ParamSpec::string().enum_values(vec![]),
                "enum must not be empty",
            ),
            (
                ParamSpec::string().enum_values(vec![json!(1)]),
                "enum value 1 is not of type string",
            ),
            (
                ParamSpec::string().min(1.0),
                "minimum/maximum only apply to integer or number parameters",
            ),
            (
                ParamSpec::integer().max_length(1),
                "minLength/maxLength only apply to string or array parameters",
            ),
            (
                ParamSpec::string().items(ParamSpec::string()),
                "items only applies to array parameters",
            ),
            (ParamSpec::of_types(vec![]), "type list must not be empty"),
            (
                ParamSpec::string().required().default(Value::Null),
                "invalid default: expected string, got null",
            ),
        ];
        for (spec, msg) in cases {
            let e = one(spec).validate_schema();
            assert_eq!(e.len(), 1, "{msg}: {e:?}");
            assert_eq!(e[0].message, msg);
            assert_eq!(e[0].param, "p");
        }
        let bad_items =
            one(ParamSpec::array().items(ParamSpec::integer().default("x"))).validate_schema();
        assert_eq!(bad_items[0].param, "p[]");
        let bad_default_item = one(ParamSpec::array()
            .items(ParamSpec::string())
            .default(json!(["a", 1])));
        assert_eq!(bad_default_item.validate_schema()[0].param, "p[1]");
        // optional param with a null default is fine
        assert!(
            one(ParamSpec::string().default(Value::Null))
                .validate_schema()
                .is_empty()
        );
        let blank = ParamSchema::new()
            .with("", ParamSpec::any())
            .validate_schema();
        assert_eq!(blank.len(), 1);
    }
}
