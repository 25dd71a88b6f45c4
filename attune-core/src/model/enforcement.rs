//! Enforcements: one rule applied to one event.

use super::{EnforcementId, EventId, ExecutionId, Name};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The status of an [`Enforcement`]: `created → processed | failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementStatus {
    /// Written; the execution is not created yet.
    Created,
    /// The execution was created.
    Processed,
    /// The rule could not be applied (condition or template error, invalid params); see
    /// `failure`.
    Failed,
}

impl EnforcementStatus {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Processed => "processed",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for EnforcementStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule applied to one event. A store keeps at most one per `(rule, event)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enforcement {
    /// The id.
    pub id: EnforcementId,
    /// The rule's ref.
    pub rule: Name,
    /// The event.
    pub event: EventId,
    /// The event's trigger ref.
    pub trigger: Name,
    /// Status.
    pub status: EnforcementStatus,
    /// Why it failed, naming the rule, the param or condition and the cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The rendered action params (secrets redacted) when they were rejected (the failure
    /// says why); a processed enforcement's params are those of its execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// The execution it created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionId>,
    /// Creation time.
    #[serde(with = "super::time_text")]
    pub created: DateTime<Utc>,
    /// Last change.
    #[serde(with = "super::time_text")]
    pub updated: DateTime<Utc>,
}

impl Enforcement {
    /// A new `created` enforcement of `rule` for the event `event` of `trigger`.
    pub fn new(
        rule: impl Into<Name>,
        event: EventId,
        trigger: impl Into<Name>,
        now: DateTime<Utc>,
    ) -> Self {
        Enforcement {
            id: EnforcementId::new(),
            rule: rule.into(),
            event,
            trigger: trigger.into(),
            status: EnforcementStatus::Created,
            failure: None,
            params: None,
            execution: None,
            created: now,
            updated: now,
        }
    }
}
