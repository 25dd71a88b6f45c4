//! Executions and their status machine.

use super::{EnforcementId, EventId, ExecutionId, Name};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The status of an [`Execution`].
///
/// ```text
/// requested → scheduled → running → succeeded | failed | timeout
///     │  └→ delayed (held by a policy, FIFO) → scheduled
///     ├→ canceled                running → canceling → canceled
///     └→ abandoned (worker lost and no retry)      running → paused → running
///                                                  running → pending (inquiry) → succeeded | timeout
/// ```
///
/// [`ExecutionStatus::can_transition_to`] is the whole machine; stores reject every other
/// transition with [`Error::IllegalTransition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// Created, waiting for the scheduler.
    Requested,
    /// Held by a policy (concurrency, rate limit) until a slot frees.
    Delayed,
    /// Ready to be claimed by a worker.
    Scheduled,
    /// Claimed by a worker and running on its runtime.
    Running,
    /// Waiting for a human or an external answer (inquiry).
    Pending,
    /// Pause requested (a workflow): nothing new starts; running tasks finish.
    Pausing,
    /// Paused (a workflow whose running tasks finished after a pause).
    Paused,
    /// Cancel requested while running; the runtime is being stopped.
    Canceling,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped after its timeout.
    Timeout,
    /// Canceled.
    Canceled,
    /// Its worker was lost and no retry applies.
    Abandoned,
}

impl ExecutionStatus {
    /// Every status, in machine order.
    pub const ALL: [ExecutionStatus; 13] = [
        Self::Requested,
        Self::Delayed,
        Self::Scheduled,
        Self::Running,
        Self::Pending,
        Self::Pausing,
        Self::Paused,
        Self::Canceling,
        Self::Succeeded,
        Self::Failed,
        Self::Timeout,
        Self::Canceled,
        Self::Abandoned,
    ];

    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Timeout | Self::Canceled | Self::Abandoned
        )
    }

    /// Whether the transition `self → to` is part of the machine.
    pub fn can_transition_to(self, to: ExecutionStatus) -> bool {
        use ExecutionStatus::*;
        match self {
            Requested => matches!(to, Scheduled | Delayed | Canceled | Failed | Abandoned),
            Delayed => matches!(to, Scheduled | Canceled | Failed | Abandoned),
            Scheduled => matches!(to, Running | Delayed | Canceled | Failed | Abandoned),
            Running => matches!(
                to,
                Succeeded
                    | Failed
                    | Timeout
                    | Canceling
                    | Canceled
                    | Abandoned
                    | Pausing
                    | Paused
                    | Pending
            ),
            // A workflow pausing may still end (its last tasks finished the run), be paused,
            // resumed or canceled.
            Pausing => matches!(
                to,
                Paused | Running | Succeeded | Failed | Timeout | Canceling | Canceled | Abandoned
            ),
            // An inquiry ends when it is answered (succeeded) or expires (timeout).
            Pending => matches!(
                to,
                Running | Succeeded | Canceling | Canceled | Failed | Timeout
            ),
            Paused => matches!(to, Running | Canceling | Canceled | Failed | Timeout),
            Canceling => matches!(to, Canceled),
            Succeeded | Failed | Timeout | Canceled | Abandoned => false,
        }
    }

    /// Whether a worker holds an execution in this status under a claim (its lease is
    /// renewed, and it can be taken over when the lease expires): `running`, and the
    /// statuses a running workflow passes through (`pausing`, `paused`, `canceling`).
    pub fn holds_claim(self) -> bool {
        matches!(
            self,
            Self::Running | Self::Pausing | Self::Paused | Self::Canceling
        )
    }

    /// `Ok(())` when `self → to` is legal, else [`Error::IllegalTransition`] naming `id`.
    pub fn check_transition(self, to: ExecutionStatus, id: ExecutionId) -> Result<()> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            Err(Error::IllegalTransition {
                kind: "execution",
                id: id.to_string(),
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }

    /// The lower-case name (`requested`, `succeeded`, ...).
    pub fn as_str(self) -> &'static str {
        use ExecutionStatus::*;
        match self {
            Requested => "requested",
            Delayed => "delayed",
            Scheduled => "scheduled",
            Running => "running",
            Pending => "pending",
            Pausing => "pausing",
            Paused => "paused",
            Canceling => "canceling",
            Succeeded => "succeeded",
            Failed => "failed",
            Timeout => "timeout",
            Canceled => "canceled",
            Abandoned => "abandoned",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::invalid("execution status", format!("unknown status '{s}'")))
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of an action.
///
/// `params` are stored with secret parameters redacted; the real values reach the runtime
/// only. `stdout`/`stderr` are bounded by the runtime that produced them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The id.
    pub id: ExecutionId,
    /// The action's ref.
    pub action: Name,
    /// The runtime that runs it (the action's runner at creation time).
    pub runner: Name,
    /// The validated params, secrets redacted.
    pub params: Value,
    /// On a store several processes share, what `params` redacts — the real params and the
    /// values to mask in the run's output — sealed with the engine's encryption key, so that
    /// another process with the same key can run it; `None` otherwise (the values then stay
    /// in the process that created the execution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_params: Option<Value>,
    /// Current status.
    pub status: ExecutionStatus,
    /// The result (action output, or an error object when failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error message when failed, timed out, canceled or abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Captured standard output (bounded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// Captured standard error (bounded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// The parent execution (a workflow) when this is a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExecutionId>,
    /// Which task of its parent workflow this runs (with its route and item), when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskRef>,
    /// The enforcement that caused it, if a rule did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<EnforcementId>,
    /// The event that caused it, if any (copied from the enforcement for trace queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventId>,
    /// The rule that caused it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Name>,
    /// 1 for the first run; each retry (a new execution) is one more, and a lost execution
    /// claimed again counts one more too.
    pub attempt: u32,
    /// The first attempt, when this execution is a retry of it (a retry policy, or the
    /// engine's retry of abandoned work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<ExecutionId>,
    /// Not to be scheduled before this time (a retry's delay): it waits `delayed` until then.
    #[serde(
        with = "super::time_text::opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub run_after: Option<DateTime<Utc>>,
    /// The user it runs on behalf of (StackStorm's `context.user`): the requester of a
    /// direct run, the parent's user for a workflow task, the engine's system user for a
    /// rule's. Its keys are the `user` scope of the run's key-value access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Name>,
    /// The worker holding the claim, while claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<Name>,
    /// When the current claim expires unless renewed.
    #[serde(
        with = "super::time_text::opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_expires: Option<DateTime<Utc>>,
    /// Timeout in seconds applied to the run (None: no timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    /// Creation time.
    #[serde(with = "super::time_text")]
    pub created: DateTime<Utc>,
    /// Last change.
    #[serde(with = "super::time_text")]
    pub updated: DateTime<Utc>,
    /// When it started running.
    #[serde(
        with = "super::time_text::opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub started: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    #[serde(
        with = "super::time_text::opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub finished: Option<DateTime<Utc>>,
}

/// A workflow task an execution runs: the task's name, its route (0 unless the workflow
/// split) and, for with-items, the item's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    /// The task's name in the workflow.
    pub name: String,
    /// Its route.
    #[serde(default)]
    pub route: usize,
    /// The item, for a with-items task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

impl Execution {
    /// A new `requested` execution of `action` on `runner` with `params`, created at `now`.
    pub fn new(
        action: impl Into<Name>,
        runner: impl Into<Name>,
        params: Value,
        now: DateTime<Utc>,
    ) -> Self {
        Execution {
            id: ExecutionId::new(),
            action: action.into(),
            runner: runner.into(),
            params,
            sealed_params: None,
            status: ExecutionStatus::Requested,
            result: None,
            error: None,
            stdout: String::new(),
            stderr: String::new(),
            parent: None,
            task: None,
            enforcement: None,
            event: None,
            rule: None,
            attempt: 1,
            retry_of: None,
            run_after: None,
            user: None,
            worker: None,
            lease_expires: None,
            timeout_secs: None,
            created: now,
            updated: now,
            started: None,
            finished: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionStatus::*;

    #[test]
    fn machine_accepts_the_documented_paths() {
        for (a, b) in [
            (Requested, Scheduled),
            (Scheduled, Running),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Timeout),
            (Requested, Delayed),
            (Delayed, Scheduled),
            (Requested, Canceled),
            (Running, Canceling),
            (Canceling, Canceled),
            (Running, Abandoned),
            (Running, Paused),
            (Paused, Running),
            (Running, Pausing),
            (Pausing, Paused),
            (Pausing, Running),
            (Pausing, Succeeded),
            (Pausing, Canceling),
            (Paused, Canceling),
            (Running, Pending),
            (Pending, Running),
        ] {
            assert!(a.can_transition_to(b), "{a} -> {b}");
        }
    }

    #[test]
    fn machine_rejects_the_rest() {
        for (a, b) in [
            (Succeeded, Running),
            (Failed, Succeeded),
            (Requested, Running),
            (Requested, Succeeded),
            (Canceling, Succeeded),
            (Canceled, Scheduled),
            (Scheduled, Succeeded),
            (Paused, Succeeded),
            (Requested, Pausing),
        ] {
            let err = a.check_transition(b, ExecutionId::new()).unwrap_err();
            assert!(matches!(err, Error::IllegalTransition { .. }), "{a} -> {b}");
            assert!(err.to_string().contains(&format!("from {a} to {b}")));
        }
        for t in ExecutionStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(
                ExecutionStatus::ALL
                    .iter()
                    .all(|to| !t.can_transition_to(*to))
            );
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.to_string())
            );
        }
        assert!(ExecutionStatus::parse("done").is_err());
    }
}
