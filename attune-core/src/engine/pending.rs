//! Work this engine accepted and has not finished: what `settle` and `shutdown` wait for,
//! and what retention must not purge.

use crate::model::{Event, EventId, ExecutionId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Events emitted here and not matched yet; executions created here and not finished yet.
/// Sets, not counters, so that a redelivered message cannot count twice. An event emitted
/// here is kept until the matching stage takes it, which saves reading it back.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    inner: Mutex<Sets>,
}

#[derive(Debug, Default)]
struct Sets {
    /// Held in place, not boxed: only the events in flight are here.
    events: BTreeMap<EventId, Option<Event>>,
    executions: BTreeSet<ExecutionId>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sets> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An event to be matched (again), to be read from the store.
    pub(crate) fn add_event(&self, id: EventId) {
        self.lock().events.entry(id).or_insert(None);
    }

    /// An event emitted here, held for the matching stage.
    pub(crate) fn add_emitted(&self, event: Event) {
        self.lock().events.insert(event.id, Some(event));
    }

    /// The event held for matching, if it is (taken: a second match reads the store).
    pub(crate) fn take_event(&self, id: EventId) -> Option<Event> {
        self.lock().events.get_mut(&id).and_then(Option::take)
    }

    pub(crate) fn event_done(&self, id: EventId) {
        self.lock().events.remove(&id);
    }

    pub(crate) fn add_execution(&self, id: ExecutionId) {
        self.lock().executions.insert(id);
    }

    pub(crate) fn execution_done(&self, id: ExecutionId) {
        self.lock().executions.remove(&id);
    }

    /// Unfinished events plus executions.
    pub(crate) fn len(&self) -> usize {
        let s = self.lock();
        s.events.len() + s.executions.len()
    }

    /// The oldest event not matched yet.
    pub(crate) fn oldest_event(&self) -> Option<EventId> {
        self.lock().events.keys().next().copied()
    }

    /// The unfinished executions.
    pub(crate) fn executions(&self) -> Vec<ExecutionId> {
        self.lock().executions.iter().copied().collect()
    }

    /// The events not matched yet, oldest first.
    pub(crate) fn event_ids(&self) -> Vec<EventId> {
        self.lock().events.keys().copied().collect()
    }

    /// The oldest `n` unfinished executions.
    pub(crate) fn oldest_executions(&self, n: usize) -> Vec<ExecutionId> {
        self.lock().executions.iter().take(n).copied().collect()
    }
}
