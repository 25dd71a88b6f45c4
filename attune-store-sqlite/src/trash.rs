//! Memory the writer thread is done with but did not allocate: freed by the runtime's
//! threads, which made it.
//!
//! Records reach the writer serialized and parsed by the callers' tasks. Freeing such a
//! block on the writer thread costs glibc's malloc a lock of the arena of the thread that
//! allocated it (the writer's own small-block cache is always full: it allocates little),
//! and every change waits for the writer; a runtime thread frees it into its own cache.
//! So what a group of changes leaves behind is collected here and, after the commit,
//! handed to a task on the runtime the store was built in. A store built outside a tokio
//! runtime has none: then the writer frees it as it goes.

use attune_core::model::{Enforcement, Execution};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;

/// Most tasks handed what was kept that may wait to run at once.
const MAX_HANDED: usize = 4;

/// What the current group leaves to free.
#[derive(Debug)]
pub(crate) struct Trash {
    executions: Vec<Execution>,
    enforcements: Vec<Enforcement>,
    texts: Vec<String>,
    /// Where it is freed; `None`: freed at once, by the writer.
    runtime: Option<Handle>,
    /// Tasks handed what was kept that have not run yet: at most [`MAX_HANDED`], so that a
    /// runtime alive but no longer driven (one that only built the store) does not gather
    /// one per commit; beyond it the writer frees what its groups leave.
    handed: Arc<AtomicUsize>,
}

impl Trash {
    /// Frees on the runtime the caller runs in, if any.
    pub(crate) fn new() -> Trash {
        Trash {
            executions: Vec::new(),
            enforcements: Vec::new(),
            texts: Vec::new(),
            runtime: Handle::try_current().ok(),
            handed: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Keeps an execution for later.
    pub(crate) fn execution(&mut self, x: Execution) {
        if self.runtime.is_some() {
            self.executions.push(x);
        }
    }

    /// Keeps an enforcement for later.
    pub(crate) fn enforcement(&mut self, e: Enforcement) {
        if self.runtime.is_some() {
            self.enforcements.push(e);
        }
    }

    /// Keeps a text for later.
    pub(crate) fn text(&mut self, s: String) {
        if self.runtime.is_some() {
            self.texts.push(s);
        }
    }

    /// Hands what was kept to a task of the runtime (at the end of a group commit), or, while
    /// [`MAX_HANDED`] tasks handed before have not run yet, frees it here.
    pub(crate) fn empty(&mut self) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        if self.executions.is_empty() && self.enforcements.is_empty() && self.texts.is_empty() {
            return;
        }
        let kept = (
            std::mem::take(&mut self.executions),
            std::mem::take(&mut self.enforcements),
            std::mem::take(&mut self.texts),
        );
        if self.handed.fetch_add(1, Ordering::AcqRel) >= MAX_HANDED {
            self.handed.fetch_sub(1, Ordering::AcqRel);
            return drop(kept);
        }
        let handed = self.handed.clone();
        // A runtime that shut down drops the task, and with it `kept`, here (and the count
        // stays up: from then on the writer frees it all).
        drop(runtime.spawn(async move {
            drop(kept);
            handed.fetch_sub(1, Ordering::AcqRel);
        }));
    }
}
