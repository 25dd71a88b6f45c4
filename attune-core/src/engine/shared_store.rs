//! Pending work on a store several engines share.
//!
//! Work accepted here (events emitted, executions created) is handed to the transport,
//! and on a shared store another engine's stages may take it: this engine's stages then
//! never see it end. Ends of executions are announced to every engine
//! ([`remote_ends`](super::remote_ends)); the matching of events is not. [`reconcile`] asks
//! the store what became of the pending entries and forgets those another engine finished
//! (events matched, executions ended), so that [`Engine::settle`](crate::Engine::settle)
//! and `shutdown` wait for the work itself, not for this engine's part in it, and the
//! pending sets stay bounded — an event emitted here is held with its body for the local
//! matching stage until then. [`run`] reconciles every [`EVERY`]; `settle` and the periodic
//! sweep also call it. Only on a store whose capabilities say `shared`.

use super::Shared;
use crate::Result;
use crate::model::{EventId, ExecutionId};
use std::sync::Arc;
use std::time::Duration;

/// Pending executions looked at per call (their ends are announced; this is the fallback).
const EXECUTIONS_PER_CALL: usize = 256;
/// Pending events asked about per store call.
const EVENTS_PER_QUERY: usize = 4096;
/// How often [`run`] reconciles.
pub(crate) const EVERY: Duration = Duration::from_secs(1);

/// The task reconciling the pending sets every [`EVERY`] until the engine stops; only on a
/// shared store.
pub(crate) async fn run(shared: Arc<Shared>) {
    if !shared.store.capabilities().shared {
        return;
    }
    while super::pause::pause(&shared.stop, EVERY).await {
        if let Err(e) = reconcile(&shared).await {
            tracing::debug!(error = %e, "asking the shared store about pending work");
        }
    }
}

/// Forgets pending entries the store shows finished: every pending event another engine
/// matched, and of the oldest pending executions those that ended. Returns how many.
pub(crate) async fn reconcile(shared: &Shared) -> Result<usize> {
    if !shared.store.capabilities().shared {
        return Ok(0);
    }
    let executions = shared.pending.oldest_executions(EXECUTIONS_PER_CALL);
    let mut forgotten = 0;
    for chunk in shared.pending.event_ids().chunks(EVENTS_PER_QUERY) {
        forgotten += matched_events(shared, chunk).await?;
    }
    forgotten += ended_executions(shared, &executions).await?;
    Ok(forgotten)
}

/// Forgets the pending `events` the store no longer holds unmatched. A pending event is
/// stored already (it is added after its insert), so not unmatched means matched.
async fn matched_events(shared: &Shared, events: &[EventId]) -> Result<usize> {
    let unmatched: std::collections::HashSet<EventId> = shared
        .store
        .unmatched_events(events)
        .await?
        .into_iter()
        .collect();
    let mut n = 0;
    for id in events {
        if !unmatched.contains(id) {
            shared.pending.event_done(*id);
            n += 1;
        }
    }
    Ok(n)
}

/// Pending executions the store shows ended.
async fn ended_executions(shared: &Shared, executions: &[ExecutionId]) -> Result<usize> {
    let reads = executions.iter().map(|id| shared.store.get_execution(*id));
    let mut n = 0;
    for (id, row) in executions
        .iter()
        .zip(futures::future::join_all(reads).await)
    {
        match row {
            Ok(x) if x.status.is_terminal() => {
                shared.pending.execution_done(*id);
                n += 1;
            }
            Err(crate::Error::NotFound { .. }) => {
                // Not stored (yet, or purged): nothing to learn.
            }
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
