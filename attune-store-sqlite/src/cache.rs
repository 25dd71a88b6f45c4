//! The writer's cache of live executions, so that a status change does not read and parse
//! the row it just wrote.
//!
//! Only the writer thread of this process changes rows, so an entry is exactly the stored
//! row as the writer's transaction sees it: every write of an execution updates or drops
//! its entry, and every rollback clears the cache. Another process may write the same file:
//! the writer clears the cache at the start of a transaction when SQLite's `data_version`
//! says another connection committed. Terminal executions are not kept (they rarely
//! change again); when full, the oldest entries (by id) go first.

use crate::trash::Trash;
use attune_core::model::{Execution, ExecutionId};
use std::collections::BTreeMap;

/// Most executions kept.
const CAPACITY: usize = 8192;

/// A stored execution and its rowid.
#[derive(Debug)]
pub(crate) struct Cached {
    /// The row's rowid (stable: rows are never moved by this store).
    pub rowid: i64,
    /// The row's content.
    pub execution: Execution,
}

/// Live executions by id.
#[derive(Debug, Default)]
pub(crate) struct ExecCache {
    rows: BTreeMap<ExecutionId, Cached>,
}

impl ExecCache {
    /// Takes the entry of `id` out (put it back with [`ExecCache::put`]).
    pub(crate) fn take(&mut self, id: ExecutionId) -> Option<Cached> {
        self.rows.remove(&id)
    }

    /// Whether `id` is cached.
    pub(crate) fn contains(&self, id: ExecutionId) -> bool {
        self.rows.contains_key(&id)
    }

    /// Records the stored row of an execution (not when terminal); what it does not keep
    /// goes to `trash`.
    pub(crate) fn put(&mut self, rowid: i64, execution: Execution, trash: &mut Trash) {
        let id = execution.id;
        if execution.status.is_terminal() {
            if let Some(old) = self.rows.remove(&id) {
                trash.execution(old.execution);
            }
            trash.execution(execution);
            return;
        }
        self.rows.insert(id, Cached { rowid, execution });
        while self.rows.len() > CAPACITY {
            if let Some((_, old)) = self.rows.pop_first() {
                trash.execution(old.execution);
            }
        }
    }

    /// Forgets one execution.
    pub(crate) fn remove(&mut self, id: ExecutionId) {
        self.rows.remove(&id);
    }

    /// Forgets everything (after a rollback, or another connection's commit).
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
    }
}
