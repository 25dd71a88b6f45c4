//! Work this engine accepted and has not finished: what `settle` and `shutdown` wait for,
//! and what retention must not purge.

use crate::model::{EventId, ExecutionId};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Events emitted here and not matched yet; executions created here and not finished yet.
/// Sets, not counters, so that a redelivered message cannot count twice.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    inner: Mutex<Sets>,
}

#[derive(Debug, Default)]
struct Sets {
    events: BTreeSet<EventId>,
    executions: BTreeSet<ExecutionId>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sets> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_event(&self, id: EventId) {
        self.lock().events.insert(id);
    }

    pub fn event_done(&self, id: EventId) {
        self.lock().events.remove(&id);
    }

    pub fn add_execution(&self, id: ExecutionId) {
        self.lock().executions.insert(id);
    }

    pub fn execution_done(&self, id: ExecutionId) {
        self.lock().executions.remove(&id);
    }

    /// Unfinished events plus executions.
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.events.len() + s.executions.len()
    }

    /// The oldest event not matched yet.
    pub fn oldest_event(&self) -> Option<EventId> {
        self.lock().events.first().copied()
    }

    /// The unfinished executions.
    pub fn executions(&self) -> Vec<ExecutionId> {
        self.lock().executions.iter().copied().collect()
    }
}
