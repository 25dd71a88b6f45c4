//! The completion stage: announces terminal statuses, ends this engine's pending work, tells
//! the workflow runs waiting for a task that it ended, forgets the secrets of finished runs,
//! frees policy slots (admitting what waited), creates retries, and applies retention.

use super::Shared;
use crate::model::ExecutionId;
use crate::store::PurgeRequest;
use crate::transport::StatusChange;
use std::collections::HashMap;
use std::sync::Arc;

/// Finished executions between two retention passes.
const PURGE_EVERY: u64 = 1024;
/// Rows of each kind deleted per purge call (the store is released between calls).
const PURGE_BATCH: usize = 4096;

/// Completion state kept by the stage task.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    since_purge: u64,
}

impl Completion {
    /// Processes a batch of `Finished` messages.
    pub(super) async fn handle(&mut self, shared: &Arc<Shared>, done: Vec<StatusChange>) {
        super::policy::ended(shared, &done).await;
        shared
            .publish_status(done.iter().map(|c| (c.execution, c.status)))
            .await;
        super::system_triggers::executions_ended(shared, &done).await;
        super::policy::retry_ended(shared, &done).await;
        for c in &done {
            shared.pending.execution_done(c.execution);
        }
        {
            // Workflow runs waiting for their tasks.
            let mut children = shared.lock_children();
            if !children.is_empty() {
                for c in &done {
                    if let Some(tx) = children.remove(&c.execution) {
                        let _ = tx.send((c.execution, c.status));
                    }
                }
            }
        }
        forget_ended(shared.lock_secrets(), &done);
        // Held for a run that never started (canceled, or failed before it ran).
        forget_ended(shared.lock_held_params(), &done);
        forget_ended(shared.lock_masks(), &done);
        self.since_purge += done.len() as u64;
        if self.since_purge >= PURGE_EVERY && !shared.config.retention.is_forever() {
            self.since_purge = 0;
            purge(shared).await;
        }
    }
}

/// Removes what `map` keeps for the executions that ended (an empty map is not searched).
fn forget_ended<V>(
    mut map: std::sync::MutexGuard<'_, HashMap<ExecutionId, V>>,
    done: &[StatusChange],
) {
    if !map.is_empty() {
        for c in done {
            map.remove(&c.execution);
        }
    }
}

/// Runs purge batches until the store reports nothing more is due.
pub(crate) async fn purge(shared: &Shared) {
    let r = &shared.config.retention;
    let before = r
        .max_age
        .map(|a| crate::clock::saturating_sub(shared.now(), a));
    let req = PurgeRequest {
        before,
        keep_executions: r.keep_executions,
        keep_events_from: shared.pending.oldest_event(),
        batch: PURGE_BATCH,
    };
    for _ in 0..64 {
        match shared.store.purge(&req).await {
            Ok(stats) if stats.more => tokio::task::yield_now().await,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "retention purge failed");
                break;
            }
        }
    }
}
