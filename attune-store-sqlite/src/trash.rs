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
use tokio::runtime::Handle;

/// What the current group leaves to free.
#[derive(Debug)]
pub(crate) struct Trash {
    executions: Vec<Execution>,
    enforcements: Vec<Enforcement>,
    texts: Vec<String>,
    /// Where it is freed; `None`: freed at once, by the writer.
    runtime: Option<Handle>,
}

impl Trash {
    /// Frees on the runtime the caller runs in, if any.
    pub(crate) fn new() -> Trash {
        Trash {
            executions: Vec::new(),
            enforcements: Vec::new(),
            texts: Vec::new(),
            runtime: Handle::try_current().ok(),
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

    /// Hands what was kept to a task of the runtime (at the end of a group commit).
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
        // A runtime that shut down drops the task, and with it `kept`, here.
        drop(runtime.spawn(async move { drop(kept) }));
    }
}
