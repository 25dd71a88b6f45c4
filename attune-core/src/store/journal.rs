//! [`JournalEntry`]: one step of a workflow run, as the store keeps it.

use crate::model::ExecutionId;

/// One entry of a workflow run's journal: a step the run applied (its tasks' ends, a
/// re-run), numbered from 0 in the order applied. The store keeps `step` (JSON text) as
/// given, byte for byte; the engine alone reads it (`attune_core::workflow` replays a run from its journal after a
/// restart). At most one entry per `(execution, seq)`: a second writer of the same run
/// gets a Conflict.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    /// The workflow execution.
    pub execution: ExecutionId,
    /// Its position in the run's journal, from 0.
    pub seq: u64,
    /// What the run applied, as JSON text (kept as text: a long with-items run writes one
    /// entry per round, and text is the compact form).
    pub step: String,
}
