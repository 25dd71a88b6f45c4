//! [`JournalEntry`]: one step of a workflow run, as the store keeps it.

use crate::model::ExecutionId;
use serde_json::Value;

/// One entry of a workflow run's journal: a step the run applied (its tasks' ends, a
/// re-run), numbered from 0 in the order applied. The store keeps `step` as given; the
/// engine alone reads it (`attune_core::workflow` replays a run from its journal after a
/// restart). At most one entry per `(execution, seq)`: a second writer of the same run
/// gets a Conflict.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    /// The workflow execution.
    pub execution: ExecutionId,
    /// Its position in the run's journal, from 0.
    pub seq: u64,
    /// What the run applied.
    pub step: Value,
}
