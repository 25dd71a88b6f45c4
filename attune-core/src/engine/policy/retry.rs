//! Retries: an execution that failed (timed out, or was abandoned, when asked) and whose
//! action has a retry policy — or abandoned work, when the engine retries it
//! ([`EngineBuilder::retry_abandoned`](crate::EngineBuilder::retry_abandoned)) — runs again
//! as a new execution: same action, params, cause and timeout, `attempt` one more,
//! `retry_of` the first attempt. With a delay it waits `delayed` until its time.
//!
//! Not retried: a workflow's task execution (the workflow's own `retry:` of the task
//! decides), and a canceled execution.

use super::super::Shared;
use crate::Error;
use crate::model::{Execution, ExecutionStatus, PolicyKind};
use crate::transport::{Message, StatusChange, Topic};
use std::sync::Arc;

/// How to retry an ended execution, if at all: attempts in all, and the delay before the
/// next in seconds.
fn plan(shared: &Shared, e: &Execution, status: ExecutionStatus) -> Option<(u32, f64)> {
    let policy = shared.catalog.retry_policy(&e.action);
    let from_policy = policy.as_deref().and_then(|p| match &p.kind {
        PolicyKind::Retry {
            on_timeout,
            on_abandoned,
            max_attempts,
            delay_secs,
            backoff,
            max_delay_secs,
        } => {
            let applies = match status {
                ExecutionStatus::Failed => true,
                ExecutionStatus::Timeout => *on_timeout,
                ExecutionStatus::Abandoned => *on_abandoned,
                _ => false,
            };
            let delay = backoff.delay_secs(*delay_secs, e.attempt, *max_delay_secs);
            Some((applies, *max_attempts, delay))
        }
        _ => None,
    });
    match (from_policy, status, shared.config.retry_abandoned) {
        (Some((true, max, delay)), _, _) => Some((max, delay)),
        (Some((false, _, delay)), ExecutionStatus::Abandoned, Some(max)) => Some((max, delay)),
        (None, ExecutionStatus::Abandoned, Some(max)) => Some((max, 0.0)),
        _ => None,
    }
}

/// Creates the next attempt of each execution of `done` a retry applies to. Called by the
/// completion stage before it forgets their secrets (a retry keeps them).
pub(crate) async fn retry_ended(shared: &Arc<Shared>, done: &[StatusChange]) {
    if shared.config.retry_abandoned.is_none() && !shared.catalog.has_retry_policies() {
        return;
    }
    for c in done {
        if !matches!(
            c.status,
            ExecutionStatus::Failed | ExecutionStatus::Timeout | ExecutionStatus::Abandoned
        ) {
            continue;
        }
        let e = match shared.store.get_execution(c.execution).await {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(execution.id = %c.execution, error = %err, "not read for a retry");
                continue;
            }
        };
        if e.parent.is_some() {
            continue;
        }
        let Some((max_attempts, delay)) = plan(shared, &e, c.status) else {
            continue;
        };
        if e.attempt >= max_attempts {
            continue;
        }
        retry(shared, &e, delay).await;
    }
}

/// Creates the attempt after `e`, waiting `delay` seconds first.
async fn retry(shared: &Arc<Shared>, e: &Execution, delay: f64) {
    let now = shared.now();
    let mut next = Execution::new(e.action.clone(), e.runner.clone(), e.params.clone(), now);
    next.enforcement = e.enforcement;
    next.event = e.event;
    next.rule = e.rule.clone();
    next.user = e.user.clone();
    next.timeout_secs = e.timeout_secs;
    next.sealed_params = e.sealed_params.clone();
    next.attempt = e.attempt + 1;
    next.retry_of = Some(e.retry_of.unwrap_or(e.id));
    let wait = std::time::Duration::try_from_secs_f64(delay).unwrap_or_default();
    if !wait.is_zero() {
        next.status = ExecutionStatus::Delayed;
        next.run_after = Some(crate::clock::saturating_add(now, wait));
    }
    let secrets = shared.lock_secrets().get(&e.id).cloned();
    if let Some(s) = secrets {
        shared.lock_secrets().insert(next.id, s);
    }
    let masks = shared.lock_masks().get(&e.id).cloned();
    if let Some(m) = masks {
        shared.lock_masks().insert(next.id, m);
    }
    match shared.store.insert_execution(&next).await {
        Ok(()) => {}
        Err(err) => {
            shared.lock_secrets().remove(&next.id);
            // Conflict: this attempt exists already (its cause was retried before).
            if !matches!(err, Error::Conflict(_)) {
                tracing::error!(execution.id = %e.id, error = %err, "retry not created");
            }
            return;
        }
    }
    shared.pending.add_execution(next.id);
    tracing::info!(
        execution.id = %e.id, retry.id = %next.id, attempt = next.attempt, delay_secs = delay,
        "retrying"
    );
    match next.run_after {
        Some(at) => {
            super::sleep_until(shared, next.id, at, &next.action).await;
            shared
                .publish_status([(next.id, ExecutionStatus::Delayed)])
                .await;
        }
        None => {
            shared
                .publish_status([(next.id, ExecutionStatus::Requested)])
                .await;
            let msg = Message::Requested(next.id);
            if let Err(err) = shared.hand_on(Topic::Requested, &[msg]).await {
                tracing::error!(error = %err, "retry not handed on; the recovery sweep does later");
            }
        }
    }
}
