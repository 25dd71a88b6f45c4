//! Pending work on a store several engines share.
//!
//! Work accepted here (events emitted, executions created) is handed to the transport,
//! and on a shared store another engine's stages may take it: this engine's stages then
//! never see it end. [`reconcile`] asks the store what became of the oldest pending entries
//! and forgets those another engine finished (events matched, executions ended), so that
//! [`Engine::settle`](crate::Engine::settle) and `shutdown` wait for the work itself, not
//! for this engine's part in it, and the pending sets stay bounded. It runs in `settle`
//! and in the periodic sweep, and only on a store whose capabilities say `shared`.

use super::Shared;
use crate::Result;
use crate::model::{EventId, ExecutionId};
use crate::store::{EventFilter, Page};
use chrono::{DateTime, TimeDelta};
use std::collections::HashSet;

/// Pending entries of each kind looked at per call.
const PER_CALL: usize = 256;
/// Unmatched events read per call to tell which pending events are matched.
const UNMATCHED_PAGE: usize = 10_000;

/// Forgets pending entries the store shows finished; returns how many.
pub(crate) async fn reconcile(shared: &Shared) -> Result<usize> {
    if !shared.store.capabilities().shared {
        return Ok(0);
    }
    let (events, executions) = shared.pending.oldest(PER_CALL);
    let mut forgotten = matched_events(shared, &events).await?;
    forgotten += ended_executions(shared, &executions).await?;
    Ok(forgotten)
}

/// Pending events no longer unmatched in the store. Ids are UUIDv7: the oldest one's time
/// bounds the unmatched events to read. A pending event is stored already (it is added
/// after its insert), so absent from the unmatched ones means matched.
async fn matched_events(shared: &Shared, events: &[EventId]) -> Result<usize> {
    let Some(oldest) = events.first() else {
        return Ok(0);
    };
    let since = oldest
        .0
        .get_timestamp()
        .and_then(|t| {
            let (secs, nanos) = t.to_unix();
            DateTime::from_timestamp(secs as i64, nanos)
        })
        .map(|t| t - TimeDelta::milliseconds(1));
    let filter = EventFilter {
        since,
        unmatched_only: true,
        ..EventFilter::default()
    };
    let rows = shared
        .store
        .list_events(&filter, &Page::first(UNMATCHED_PAGE))
        .await?;
    // With a full page, only ids up to the last one read are known.
    let known_until = (rows.len() == UNMATCHED_PAGE)
        .then(|| rows.last().map(|e| e.id))
        .flatten();
    let unmatched: HashSet<EventId> = rows.iter().map(|e| e.id).collect();
    let mut n = 0;
    for id in events {
        if known_until.is_some_and(|last| *id > last) {
            break;
        }
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
