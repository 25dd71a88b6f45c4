//! The scheduling stage: `requested → scheduled`, through the policy gate while some action
//! has a concurrency or rate-limit policy (`policy/`).

use super::Shared;
use crate::Error;
use crate::model::{ExecutionId, ExecutionStatus};
use crate::store::ExecutionChange;
use crate::transport::{Message, Topic};
use std::sync::Arc;

/// Processes a batch of `Requested` messages.
pub(crate) async fn handle(shared: &Arc<Shared>, ids: Vec<ExecutionId>) {
    if !super::followed_definitions::follow_or_log(shared, "scheduling").await {
        // They stay requested: the recovery sweep announces them again.
        return;
    }
    let Some(_fast) = shared.gate.fast_path().await else {
        return super::policy::schedule(shared, ids).await;
    };
    let now = shared.now();
    let changes = ids
        .iter()
        .map(|id| {
            (
                *id,
                ExecutionStatus::Requested,
                ExecutionChange::to(ExecutionStatus::Scheduled, now),
            )
        })
        .collect();
    let results = shared.store.transition_executions(changes).await;
    let mut scheduled = Vec::with_capacity(ids.len());
    for (id, r) in ids.into_iter().zip(results) {
        match r {
            Ok(_) => scheduled.push(id),
            // Canceled meanwhile, or a redelivery: someone else moved it.
            Err(Error::Conflict(_)) => {}
            Err(e) => tracing::error!(execution.id = %id, error = %e, "not scheduled"),
        }
    }
    if scheduled.is_empty() {
        return;
    }
    // Announce before the hand-off (status order).
    shared
        .publish_status(scheduled.iter().map(|id| (*id, ExecutionStatus::Scheduled)))
        .await;
    let msgs: Vec<Message> = scheduled.iter().map(|id| Message::Scheduled(*id)).collect();
    if let Err(e) = shared.hand_on(Topic::Scheduled, &msgs).await {
        tracing::error!(error = %e, "scheduled executions not published; the recovery sweep hands them on later");
    }
}
