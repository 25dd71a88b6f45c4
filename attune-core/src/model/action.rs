//! Actions: things that can be executed.

use super::Notify;
use crate::params::{ParamSchema, ParamSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The runner name of workflow actions (`runner_type: workflow` or `orquesta` in packs).
pub const WORKFLOW_RUNNER: &str = "workflow";

/// Something that can be executed: a ref, the runtime that runs it, and a parameter schema.
///
/// ```
/// use attune_core::model::Action;
/// use attune_core::params::ParamSpec;
/// let a = Action::new("demo.greet", "native")
///     .param("name", ParamSpec::string().required())
///     .timeout_secs(5.0);
/// assert_eq!(a.pack(), "demo");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// `pack.name`.
    #[serde(rename = "ref")]
    pub action_ref: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// The runtime name (`native`, `rhai`, `shell`, `python`, a plugin's name).
    pub runner: String,
    /// The entry point inside the pack (script file), for runtimes that use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
    /// Inline code (a Rhai script, a shell command), for runtimes that use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The parameter schema.
    #[serde(default, skip_serializing_if = "ParamSchema::is_empty")]
    pub parameters: ParamSchema,
    /// Schema of the result, if declared.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub output_schema: Value,
    /// How process runtimes parse stdout (`text`, `json`, `jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    /// Run timeout in seconds; `None` uses the engine default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    /// Whether it may be executed.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The StackStorm runner the pack named (`local-shell-script`) when it is not the
    /// runtime's own name: runtimes follow that runner's conventions (a shell script gets
    /// its named parameters as `--name=value` arguments; the runner's own parameters, such
    /// as `sudo` or `kwarg_op`, are not passed on). `None` for Attune's own runner names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_type: Option<String>,
    /// What to announce when a top-level execution of it ends (StackStorm's `notify`).
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
}

fn yes() -> bool {
    true
}

impl Action {
    /// An action `action_ref` (`pack.name`) run by the runtime `runner`.
    pub fn new(action_ref: impl Into<String>, runner: impl Into<String>) -> Self {
        Action {
            action_ref: action_ref.into(),
            description: String::new(),
            runner: runner.into(),
            entry_point: None,
            code: None,
            parameters: ParamSchema::default(),
            output_schema: Value::Null,
            output_format: None,
            timeout_secs: None,
            enabled: true,
            runner_type: None,
            notify: Notify::default(),
        }
    }

    /// The pack part of the ref.
    pub fn pack(&self) -> &str {
        self.action_ref.split_once('.').map_or("", |(p, _)| p)
    }

    /// Adds a parameter.
    pub fn param(mut self, name: impl Into<String>, spec: ParamSpec) -> Self {
        self.parameters.0.insert(name.into(), spec);
        self
    }

    /// Sets inline code (Rhai script, shell command).
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the timeout in seconds.
    pub fn timeout_secs(mut self, secs: f64) -> Self {
        self.timeout_secs = Some(secs);
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
}
