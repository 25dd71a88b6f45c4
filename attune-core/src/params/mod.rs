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

mod json_schema;
mod masking;
mod nested_secrets;
mod validate;

pub(crate) use masking::holds_redacted;
pub use masking::{mask_secrets, mask_value, secret_forms};

#[cfg(test)]
mod tests;

pub(crate) use json_schema::{CompiledSchema, draft3_required};

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

    /// A copy of `params` with every present secret parameter replaced by
    /// [`REDACTED`].
    pub fn redact(&self, params: &Map<String, Value>) -> Map<String, Value> {
        let mut out = params.clone();
        for name in self.secret_names() {
            if let Some(v) = out.get_mut(name) {
                *v = Value::String(REDACTED.to_owned());
            }
        }
        // Secrets below the top level (pack config schemas).
        for (name, spec) in &self.0 {
            if let Some(v) = out.get_mut(name).filter(|_| !spec.secret) {
                nested_secrets::visit(spec, v, &mut |x| {
                    *x = Value::String(REDACTED.to_owned());
                });
            }
        }
        out
    }

    /// What to mask for the present, non-null, non-empty secret values: each value's text
    /// (strings raw, other values as JSON) followed by the other forms an action is likely to
    /// print it in ([`secret_forms`]: JSON-escaped, URL-encoded, base64), without duplicates.
    /// Computed once per run, where the list of a run's secrets is built, so that masking
    /// each line ([`mask_secrets`]) does no encoding.
    pub fn secret_values(&self, params: &Map<String, Value>) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut nested: Vec<Value> = Vec::new();
        for (name, spec) in &self.0 {
            let walk = !spec.secret && nested_secrets::has_nested(spec);
            if let Some(v) = params.get(name).filter(|_| walk) {
                // A copy to walk (the walk is shared with `redact`, which edits in place).
                let mut v = v.clone();
                nested_secrets::visit(spec, &mut v, &mut |x| nested.push(x.clone()));
            }
        }
        self.secret_names()
            .filter_map(|n| params.get(n))
            .chain(nested.iter())
            .filter_map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .filter(|s| !s.is_empty())
            .flat_map(|s| secret_forms(&s))
            .filter(|s| seen.insert(s.clone()))
            .collect()
    }
}
