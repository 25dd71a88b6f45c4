//! Topics and messages.

use crate::model::{EventId, ExecutionId, ExecutionStatus};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A channel between stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Topic {
    /// New events → matching stage (work queue).
    Events,
    /// Requested executions → scheduling stage (work queue).
    Requested,
    /// Scheduled executions → running stage (work queue).
    Scheduled,
    /// Finished executions → completion stage (work queue).
    Finished,
    /// Cancel requests → every running stage (fan-out).
    Control,
    /// Status changes → every subscriber (fan-out).
    Status,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 6] = [
        Topic::Events,
        Topic::Requested,
        Topic::Scheduled,
        Topic::Finished,
        Topic::Control,
        Topic::Status,
    ];

    /// Whether every subscriber sees every message.
    pub fn is_fanout(self) -> bool {
        matches!(self, Topic::Control | Topic::Status)
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Events => "events",
            Topic::Requested => "requested",
            Topic::Scheduled => "scheduled",
            Topic::Finished => "finished",
            Topic::Control => "control",
            Topic::Status => "status",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change of one execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatusChange {
    /// The execution.
    pub execution: ExecutionId,
    /// Its new status.
    pub status: ExecutionStatus,
}

/// What moves on a topic: ids only; the store holds the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// An event was persisted.
    Event(EventId),
    /// An execution was created in `requested`.
    Requested(ExecutionId),
    /// An execution is `scheduled`.
    Scheduled(ExecutionId),
    /// An execution reached a terminal status (the one given).
    Finished(StatusChange),
    /// Cancel a running execution.
    Cancel(ExecutionId),
    /// A status change.
    Status(StatusChange),
}

/// One received message with the token that acknowledges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// Transport-specific acknowledgement token.
    pub token: u64,
}
