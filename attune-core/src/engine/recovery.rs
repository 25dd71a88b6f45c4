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

/// Rows looked at per status by a periodic sweep (the next sweep continues).
const SWEEP_LIMIT: usize = 10_000;
/// Rows read per page.
const PAGE: usize = 1000;

/// Re-publishes unmatched events and `requested`/`scheduled` executions last changed before
/// `idle_since`, and ends `running`/`canceling` executions whose lease expired
/// (`abandoned`/`canceled`); at most `limit` rows per kind. Each page is published as it is
/// read (the transport's bounded queues pace it). Consumers are idempotent, so a message
/// that was not lost after all is harmless.
pub(crate) async fn sweep(
    shared: &Arc<Shared>,
    idle_since: DateTime<Utc>,
    limit: usize,
) -> Result<usize> {
    let mut found = rematch_events(shared, idle_since, limit).await?;
    found += republish_executions(shared, idle_since, limit).await?;
    found += end_lost(shared, limit).await?;
    found += super::inquiries::expire(shared, limit).await?;
    // Work another engine of a shared store finished is forgotten here.
    super::shared_store::reconcile(shared).await?;
    Ok(found)
}

/// Events stored but never matched to the end (a crash or a store error in matching),
/// stored before `idle_since`: matched again (existing enforcements make it idempotent).
/// They count as this engine's pending work until matched.
async fn rematch_events(
    shared: &Arc<Shared>,
    idle_since: DateTime<Utc>,
    limit: usize,
) -> Result<usize> {
    let mut found = 0;
    let filter = EventFilter {
        until: Some(idle_since),
        unmatched_only: true,
        ..EventFilter::default()
    };
    let mut page = Page::first(PAGE);
    while found < limit {
        let rows = shared.store.list_events(&filter, &page).await?;
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, PAGE);
        let full = rows.len() == PAGE;
        let ids: Vec<EventId> = rows.iter().map(|e| e.id).collect();
        found += ids.len();
        for id in &ids {
            shared.pending.add_event(*id);
        }
        let msgs = ids.iter().map(|id| Message::Event(*id)).collect();
        if let Err(e) = shared.transport.publish(Topic::Events, msgs).await {
            for id in &ids {
                shared.pending.event_done(*id);
            }
            return Err(e);
        }
        if !full {
            break;
        }
    }
    Ok(found)
}

/// `requested` and `scheduled` executions last changed before `idle_since`: handed to
/// their stage again. They count as this engine's pending work until they end, so that
/// [`Engine::settle`](crate::Engine::settle) after a recovery waits for them.
async fn republish_executions(
    shared: &Arc<Shared>,
    idle_since: DateTime<Utc>,
    limit: usize,
) -> Result<usize> {
    let mut found = 0;
    for (status, topic) in [
        (ExecutionStatus::Requested, Topic::Requested),
        (ExecutionStatus::Scheduled, Topic::Scheduled),
    ] {
        found += idle(
            shared,
            status,
            limit,
            |e| (e.updated < idle_since).then_some(e.id),
            |ids| async move {
                for id in &ids {
                    shared.pending.add_execution(*id);
                }
                let msgs = ids
                    .iter()
                    .map(|id| match status {
                        ExecutionStatus::Requested => Message::Requested(*id),
                        _ => Message::Scheduled(*id),
                    })
                    .collect();
                let published = shared.transport.publish(topic, msgs).await;
                if published.is_err() {
                    for id in &ids {
                        shared.pending.execution_done(*id);
                    }
                }
                published
            },
        )
        .await?;
    }
    Ok(found)
}

/// Executions whose worker was lost (lease expired), one pass per status: a workflow run
/// is taken over and continued here (from its journal); any other running or canceling
/// execution ends (`abandoned` / `canceled`).
async fn end_lost(shared: &Arc<Shared>, limit: usize) -> Result<usize> {
    let now = shared.now();
    let mut found = 0;
    // Workflow runs are driven by an engine with the work role; the others leave them.
    let work = shared.roles.has(super::Role::Work);
    let resumable = |e: &crate::model::Execution| {
        work && shared.workflows.is_some() && e.runner == crate::model::WORKFLOW_RUNNER
    };
    let workflow = |e: &crate::model::Execution| e.runner == crate::model::WORKFLOW_RUNNER;
    for (status, ends_as) in [
        (ExecutionStatus::Running, Some(ExecutionStatus::Abandoned)),
        (ExecutionStatus::Pausing, None),
        (ExecutionStatus::Paused, None),
        (ExecutionStatus::Canceling, Some(ExecutionStatus::Canceled)),
    ] {
        let mut lost: Vec<(ExecutionId, bool)> = Vec::new();
        idle(
            shared,
            status,
            limit,
            |e| {
                if resumable(e) {
                    e.lease_expires
                        .is_none_or(|l| l < now)
                        .then_some((e.id, true))
                } else if workflow(e) && !work {
                    None
                } else {
                    (ends_as.is_some() && e.lease_expires.is_some_and(|l| l < now))
                        .then_some((e.id, false))
                }
            },
            |ids| {
                lost.extend(ids);
                async { Ok(()) }
            },
        )
        .await?;
        for (id, workflow) in lost {
            if workflow {
                found += usize::from(take_over_lost(shared, id).await);
            } else if let Some(to) = ends_as {
                found += usize::from(end_one(shared, id, status, to, now).await?);
            }
        }
    }
    Ok(found)
}

/// Takes over a lost workflow run; whether it did.
async fn take_over_lost(shared: &Arc<Shared>, id: ExecutionId) -> bool {
    match take_over(shared, id).await {
        Ok(true) => {
            tracing::warn!(execution.id = %id, "lost worker; workflow run taken over");
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::debug!(execution.id = %id, error = %e, "workflow run not taken over");
            false
        }
    }
}

/// Ends the execution `id` of a lost worker in `to` (from `status`), unless it runs here;
/// whether it did.
async fn end_one(
    shared: &Arc<Shared>,
    id: ExecutionId,
    status: ExecutionStatus,
    to: ExecutionStatus,
    now: DateTime<Utc>,
) -> Result<bool> {
    if shared.lock_running().contains_key(&id) {
        return Ok(false); // ours and alive: its lease is being renewed
    }
    let change = ExecutionChange::to(to, now).error("its worker was lost (lease expired)");
    if shared
        .store
        .transition_execution(id, status, change)
        .await
        .is_err()
    {
        return Ok(false);
    }
    tracing::warn!(execution.id = %id, status = %to, "lost worker; execution ended");
    // Pending until the completion stage has seen its end (a retry may follow).
    shared.pending.add_execution(id);
    let done = Message::Finished(StatusChange {
        execution: id,
        status: to,
    });
    if let Err(e) = shared.hand_on(Topic::Finished, &[done]).await {
        shared.pending.execution_done(id);
        return Err(e);
    }
    Ok(true)
}

/// Takes over the run of execution `id` from a lost worker and continues it in this
/// process (a workflow run); `Ok(false)` when this process runs it already. Conflict when
/// another worker's lease on it is live (or it holds no claim any more).
pub(crate) async fn take_over(shared: &Arc<Shared>, id: ExecutionId) -> Result<bool> {
    if shared.lock_running().contains_key(&id) {
        return Ok(false);
    }
    match shared
        .store
        .take_over_execution(id, &shared.claim())
        .await?
    {
        Some(exec) => Ok(super::running::run_taken_over(shared, exec)),
        None => Err(crate::Error::Conflict(format!(
            "execution '{id}' is held by another worker (its lease has not expired), or \
             has ended"
        ))),
    }
}

/// Pages through the executions in `status` (at most `limit`), handing what `pick` takes
/// of each page's rows to `each`; returns how many it handed on.
async fn idle<T, F, Fut>(
    shared: &Shared,
    status: ExecutionStatus,
    limit: usize,
    pick: impl Fn(&crate::model::Execution) -> Option<T>,
    mut each: F,
) -> Result<usize>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let filter = ExecutionFilter::default().with_status([status]);
    let mut page = Page::first(PAGE);
    let (mut seen, mut handed) = (0, 0);
    while seen < limit {
        let rows = shared.store.list_executions(&filter, &page).await?;
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, PAGE);
        seen += rows.len();
        let full = rows.len() == PAGE;
        let picked: Vec<T> = rows.iter().filter_map(&pick).collect();
        handed += picked.len();
        if !picked.is_empty() {
            each(picked).await?;
        }
        if !full {
            break;
        }
    }
    Ok(handed)
}

/// Sweeps every `every`, for work idle that long, until the engine stops.
pub(crate) async fn run(shared: Arc<Shared>, every: Duration) {
    loop {
        if !super::pause::pause(&shared.stop, every).await {
            return;
        }
        let idle_since = crate::clock::saturating_sub(shared.now(), every);
        match sweep(&shared, idle_since, SWEEP_LIMIT).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(executions = n, "recovery sweep handed work on"),
            Err(e) => tracing::warn!(error = %e, "recovery sweep failed"),
        }
    }
}
