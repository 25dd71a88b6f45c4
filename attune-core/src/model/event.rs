//! Events: one occurrence of a trigger.

use super::{EventId, Name};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One occurrence of a trigger. Immutable once stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The id; it is also the trace root of everything the event causes.
    pub id: EventId,
    /// The trigger type's ref.
    pub trigger: Name,
    /// The payload.
    pub payload: Value,
    /// Who emitted it (sensor ref, `api`, `webhook:/path`, a host-chosen name), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The parameters of the trigger that fired it, when it is one instance of its trigger
    /// type (a timer's schedule): only the rules with these trigger parameters match it.
    /// `None`: every rule of the trigger type is considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_params: Option<Value>,
    /// StackStorm's `trace_tag`: the emitter's own reference to what happened (a sensor's
    /// id of an external event), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_tag: Option<String>,
    /// When it was created.
    #[serde(with = "super::time_text")]
    pub created: DateTime<Utc>,
}

impl Event {
    /// A new event of `trigger` with `payload`, created at `now`.
    pub fn new(trigger: impl Into<Name>, payload: Value, now: DateTime<Utc>) -> Self {
        Event {
            id: EventId::new(),
            trigger: trigger.into(),
            payload,
            source: None,
            trigger_params: None,
            trace_tag: None,
            created: now,
        }
    }
}
