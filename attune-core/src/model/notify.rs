//! StackStorm's `notify`: what to announce when an execution ends.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// When an execution of an action (or of a rule) ends, one
/// `core.st2.generic.notifytrigger` event per route of the entries that apply:
/// `on-complete` at any end, `on-success` when it succeeded, `on-failure` when it did not.
/// Rules on that trigger (StackStorm's chatops pack) pick the routes they serve.
///
/// ```
/// use attune_core::model::Notify;
/// let n: Notify = serde_json::from_value(serde_json::json!({
///     "on-complete": {"message": "done: {{ action_results }}", "routes": ["slack"]}
/// })).unwrap();
/// assert_eq!(n.on_complete.unwrap().routes, ["slack"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// At any end.
    #[serde(
        rename = "on-complete",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_complete: Option<NotifyOn>,
    /// When the execution succeeded.
    #[serde(
        rename = "on-success",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_success: Option<NotifyOn>,
    /// When it did not (failed, timed out, abandoned, canceled).
    #[serde(
        rename = "on-failure",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_failure: Option<NotifyOn>,
}

/// One entry of [`Notify`]: a message and data (Jinja templates, rendered with the
/// execution: `action_parameters` and its params by name, `action_results`,
/// `action_context`), and the routes to announce on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyOn {
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Data handed along.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    /// The routes (`channels` is StackStorm's older name, accepted as well).
    #[serde(default, alias = "channels")]
    pub routes: Vec<String>,
}

impl Notify {
    /// Whether it announces nothing.
    pub fn is_empty(&self) -> bool {
        self.on_complete.is_none() && self.on_success.is_none() && self.on_failure.is_none()
    }
}
