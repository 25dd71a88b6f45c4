//! Trigger types and sensors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A kind of event, with the schema of its payload and of the parameters a rule may give it.
///
/// Both schemas are JSON Schema, as in StackStorm: the draft named by `$schema`, else
/// Draft 4; `null` (or `{}`) accepts anything. [`Engine::emit`](crate::Engine::emit) refuses
/// a payload that does not fit `payload_schema`; a rule whose `trigger_params` do not fit
/// `parameters_schema` is refused when it is registered or its pack loaded.
///
/// ```
/// use attune_core::model::TriggerType;
/// use serde_json::json;
/// let t = TriggerType::new("shop.order")
///     .description("An order was placed")
///     .payload_schema(json!({
///         "type": "object",
///         "properties": {"total": {"type": "number"}},
///         "required": ["total"]
///     }));
/// assert!(t.parameters_schema.is_null());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerType {
    /// `pack.name`.
    #[serde(rename = "ref")]
    pub trigger_ref: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Schema of the trigger parameters (a rule's `trigger.parameters`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub parameters_schema: Value,
    /// Schema of the payload.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload_schema: Value,
}

impl TriggerType {
    /// A trigger type `pack.name` without schemas.
    pub fn new(trigger_ref: impl Into<String>) -> Self {
        TriggerType {
            trigger_ref: trigger_ref.into(),
            description: String::new(),
            parameters_schema: Value::Null,
            payload_schema: Value::Null,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the JSON Schema that every event's payload must fit.
    pub fn payload_schema(mut self, schema: Value) -> Self {
        self.payload_schema = schema;
        self
    }

    /// Sets the JSON Schema that rules' trigger parameters must fit.
    pub fn parameters_schema(mut self, schema: Value) -> Self {
        self.parameters_schema = schema;
        self
    }
}

/// A producer of events of some trigger types, run by the engine while an enabled rule uses
/// one of them (see [`crate::sensor`]).
///
/// ```
/// use attune_core::model::Sensor;
/// let s = Sensor::new("shop.ticker", "native").trigger_types(["shop.tick"]);
/// assert!(s.enabled);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sensor {
    /// `pack.name`.
    #[serde(rename = "ref")]
    pub sensor_ref: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// The sensor runtime that runs it (`native`, `shell`, `python`).
    pub runner: String,
    /// Entry point inside the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
    /// The class in the entry point (StackStorm's `class_name`, Python sensors); `None`:
    /// the one sensor class the module defines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Poll interval in seconds for poll sensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<f64>,
    /// The trigger types it emits.
    #[serde(default)]
    pub trigger_types: Vec<String>,
    /// Sensor config.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
    /// Whether it runs.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Sensor {
    /// An enabled sensor `pack.name` of `runner`, emitting no trigger type yet.
    pub fn new(sensor_ref: impl Into<String>, runner: impl Into<String>) -> Self {
        Sensor {
            sensor_ref: sensor_ref.into(),
            description: String::new(),
            runner: runner.into(),
            entry_point: None,
            class_name: None,
            poll_interval_secs: None,
            trigger_types: Vec::new(),
            config: Value::Null,
            enabled: true,
        }
    }

    /// Sets the trigger types it emits.
    pub fn trigger_types<I, S>(mut self, refs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trigger_types = refs.into_iter().map(Into::into).collect();
        self
    }

    /// The pack part of the ref.
    pub fn pack(&self) -> &str {
        self.sensor_ref.split_once('.').map_or("", |(p, _)| p)
    }

    /// Sets the entry point (a file of its pack).
    pub fn entry_point(mut self, path: impl Into<String>) -> Self {
        self.entry_point = Some(path.into());
        self
    }
}

fn yes() -> bool {
    true
}
