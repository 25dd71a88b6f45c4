//! Recovery: work the store holds but no message carries any more — after a restart on a
//! durable store, a lost message, or a failed store call in a stage — is handed to its stage
//! again, and executions whose worker was lost are ended.

use super::Shared;
use crate::Result;
use crate::model::{EventId, ExecutionId, ExecutionStatus};
use crate::store::{EventFilter, ExecutionChange, ExecutionFilter, Page};
use crate::transport::{Message, StatusChange, Topic};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Rows looked at per status and sweep (the next sweep continues).
const SWEEP_LIMIT: usize = 10_000;

/// Re-publishes `requested` and `scheduled` executions last changed before `idle_since`, and
/// ends `running`/`canceling` executions whose lease expired (`abandoned`/`canceled`).
/// Consumers are idempotent, so a message that was not lost after all is harmless.
pub(crate) async fn sweep(shared: &Arc<Shared>, idle_since: DateTime<Utc>) -> Result<usize> {
    let mut found = 0;
    // Events stored but never matched to the end (a crash or a store error in matching):
    // match them again; existing enforcements make it idempotent.
    let events = unmatched_events(shared, idle_since).await?;
    if !events.is_empty() {
        found += events.len();
        for id in &events {
            shared.pending.add_event(*id);
        }
        let msgs = events.iter().map(|id| Message::Event(*id)).collect();
        if let Err(e) = shared.transport.publish(Topic::Events, msgs).await {
            for id in &events {
                shared.pending.event_done(*id);
            }
            return Err(e);
        }
    }
    for (status, topic) in [
        (ExecutionStatus::Requested, Topic::Requested),
        (ExecutionStatus::Scheduled, Topic::Scheduled),
    ] {
        let ids = idle(shared, status, |e| e.updated < idle_since).await?;
        found += ids.len();
        let msgs = ids
            .into_iter()
            .map(|id| match status {
                ExecutionStatus::Requested => Message::Requested(id),
                _ => Message::Scheduled(id),
            })
            .collect();
        shared.transport.publish(topic, msgs).await?;
    }
    let now = shared.now();
    for (status, to) in [
        (ExecutionStatus::Running, ExecutionStatus::Abandoned),
        (ExecutionStatus::Canceling, ExecutionStatus::Canceled),
    ] {
        let ids = idle(shared, status, |e| e.lease_expires.is_some_and(|l| l < now)).await?;
        for id in ids {
            if shared.lock_running().contains_key(&id) {
                continue; // ours and alive: its lease is being renewed
            }
            let change = ExecutionChange::to(to, now).error("its worker was lost (lease expired)");
            if shared
                .store
                .transition_execution(id, status, change)
                .await
                .is_ok()
            {
                found += 1;
                tracing::warn!(execution.id = %id, status = %to, "lost worker; execution ended");
                let done = Message::Finished(StatusChange {
                    execution: id,
                    status: to,
                });
                shared
                    .transport
                    .publish(Topic::Finished, vec![done])
                    .await?;
            }
        }
    }
    Ok(found)
}

/// Events not marked matched, created before `idle_since` (in-flight ones are younger).
async fn unmatched_events(shared: &Shared, idle_since: DateTime<Utc>) -> Result<Vec<EventId>> {
    let filter = EventFilter {
        until: Some(idle_since),
        unmatched_only: true,
        ..EventFilter::default()
    };
    let mut page = Page::first(1000);
    let mut out = Vec::new();
    while out.len() < SWEEP_LIMIT {
        let rows = shared.store.list_events(&filter, &page).await?;
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, 1000);
        let full = rows.len() == 1000;
        out.extend(rows.iter().map(|e| e.id));
        if !full {
            break;
        }
    }
    Ok(out)
}

async fn idle(
    shared: &Shared,
    status: ExecutionStatus,
    admit: impl Fn(&crate::model::Execution) -> bool,
) -> Result<Vec<ExecutionId>> {
    let filter = ExecutionFilter::default().with_status([status]);
    let mut page = Page::first(1000);
    let mut out = Vec::new();
    while out.len() < SWEEP_LIMIT {
        let rows = shared.store.list_executions(&filter, &page).await?;
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, 1000);
        let full = rows.len() == 1000;
        out.extend(rows.iter().filter(|e| admit(e)).map(|e| e.id));
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Sweeps every `every`, for work idle that long, until the engine stops.
pub(crate) async fn run(shared: Arc<Shared>, every: Duration) {
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let idle_since = crate::clock::saturating_sub(shared.now(), every);
        match sweep(&shared, idle_since).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(executions = n, "recovery sweep handed work on"),
            Err(e) => tracing::warn!(error = %e, "recovery sweep failed"),
        }
    }
}
