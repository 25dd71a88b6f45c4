//! [`JournalEntry`]: one step of a workflow run, as the store keeps it.

use crate::model::ExecutionId;
use crate::{Error, Result};

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

impl JournalEntry {
    /// `seq` as the signed 64-bit integer SQL stores keep (Invalid beyond `i64::MAX`).
    pub fn stored_seq(&self) -> Result<i64> {
        i64::try_from(self.seq).map_err(|_| {
            Error::invalid(
                format!("journal entry of execution '{}'", self.execution),
                format!("seq {} is out of range", self.seq),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seq_past_i64_is_invalid_naming_the_run() {
        let mut e = JournalEntry {
            execution: ExecutionId::new(),
            seq: i64::MAX as u64,
            step: "{}".into(),
        };
        assert_eq!(e.stored_seq().expect("in range"), i64::MAX);
        e.seq = u64::MAX;
        let err = e.stored_seq().expect_err("out of range");
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(&e.execution.to_string()), "{err}");
    }
}
