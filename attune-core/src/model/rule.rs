//! Rules: when trigger T fires and conditions hold, run action A with params P.

use super::Notify;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// When the trigger fires and the conditions hold, run the action with rendered params.
///
/// `criteria` is the StackStorm criteria map (`field path → {type, pattern}`); `expression`
/// a Rhai boolean expression; both must hold when both are given. `action_params` values are
/// templates rendered per event.
///
/// ```
/// use attune_core::model::Rule;
/// use serde_json::json;
/// let r = Rule::new("demo.on_alert", "demo.alert", "demo.notify")
///     .criteria(json!({"trigger.severity": {"type": "equals", "pattern": "high"}}))
///     .param("text", json!("{{ trigger.message }}"));
/// assert!(r.enabled);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// `pack.name`.
    #[serde(rename = "ref")]
    pub rule_ref: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// The trigger type it listens to.
    pub trigger: String,
    /// Trigger parameters (timer interval, webhook path...).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub trigger_params: Value,
    /// Criteria map; empty matches every event.
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub criteria: Value,
    /// Optional Rhai expression that must evaluate to `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The action to run.
    pub action: String,
    /// Action params (templates).
    #[serde(default)]
    pub action_params: Map<String, Value>,
    /// Whether it is applied.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A backstop rule fires only when no standard rule matched the event.
    #[serde(default)]
    pub backstop: bool,
    /// What to announce when an execution of this rule ends (as an action's `notify`).
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
}

fn yes() -> bool {
    true
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn is_empty_object(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(Map::is_empty)
}

impl Rule {
    /// An enabled rule `rule_ref` running `action` on every event of `trigger`.
    pub fn new(
        rule_ref: impl Into<String>,
        trigger: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Rule {
            rule_ref: rule_ref.into(),
            description: String::new(),
            trigger: trigger.into(),
            trigger_params: Value::Null,
            criteria: Value::Object(Map::new()),
            expression: None,
            action: action.into(),
            action_params: Map::new(),
            enabled: true,
            backstop: false,
            notify: Notify::default(),
        }
    }

    /// Sets the criteria map.
    pub fn criteria(mut self, criteria: Value) -> Self {
        self.criteria = criteria;
        self
    }

    /// Sets the Rhai expression condition.
    pub fn expression(mut self, expr: impl Into<String>) -> Self {
        self.expression = Some(expr.into());
        self
    }

    /// Adds an action param (a value or a template string).
    pub fn param(mut self, name: impl Into<String>, value: Value) -> Self {
        self.action_params.insert(name.into(), value);
        self
    }

    /// Marks it a backstop rule.
    pub fn backstop(mut self) -> Self {
        self.backstop = true;
        self
    }

    /// Sets `enabled`.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The pack part of the ref.
    pub fn pack(&self) -> &str {
        self.rule_ref.split_once('.').map_or("", |(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_round_trips_through_json() {
        let r = Rule::new("p.r", "p.t", "p.a");
        let back: Rule = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r, "empty criteria come back as {{}}, not null");
    }
}
