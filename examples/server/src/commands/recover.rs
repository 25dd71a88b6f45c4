//! What earlier commands left in the `--db` file, recovered before a command runs work:
//! executions whose `attune` process is gone are ended at once (`abandoned`, or `canceled`
//! when they were being canceled), then `Engine::recover` ends those whose lease expired,
//! hands stored `requested`/`scheduled` work to this engine (the command waits for it) and
//! takes over workflow runs of lost workers. What another live worker holds is left alone.

use super::Failure;
use crate::output::Style;
use crate::worker::{Liveness, Process};
use attune_core::Engine;
use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_core::store::{ExecutionChange, ExecutionFilter, StoreExt};
use serde_json::{Value, json};
use std::time::Duration;

/// The runner of workflow runs (taken over from a lost worker, never ended).
use attune_core::model::WORKFLOW_RUNNER;

/// What recovery found and did.
#[derive(Debug, Default)]
pub(super) struct Recovery {
    /// Whether the store is durable (recovery ran at all).
    pub ran: bool,
    /// Executions recovery ended (their worker was lost), as they are now.
    pub ended: Vec<Execution>,
    /// Stored executions this engine took on (run here; the command waits for them).
    pub resumed: Vec<ExecutionId>,
    /// Their final state, once the command waited for them.
    pub resumed_final: Vec<Execution>,
    /// This engine's worker id, when it names this process.
    pub worker: Option<String>,
    /// Executions left as they are: held by another worker's live lease, or waiting in a
    /// status recovery does not touch (`delayed`, `pending`, `paused`).
    pub held: Vec<(Execution, String)>,
}

/// Recovers the work of earlier commands on a durable store (nothing on a memory store).
/// `me` is this process (None where `/proc` does not say), `worker_id` its engine's worker id.
pub(super) async fn recover(
    engine: &Engine,
    me: Option<&Process>,
    worker_id: &str,
) -> Result<Recovery, Failure> {
    let store = engine.store();
    if !store.capabilities().durable {
        return Ok(Recovery::default());
    }
    let mut before = Vec::new();
    let unfinished = ExecutionStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal());
    store
        .each_execution(
            &ExecutionFilter::default().with_status(unfinished),
            &mut |e| {
                before.push(e.clone());
            },
        )
        .await?;
    let now = chrono::Utc::now();
    // A lease that is still live but whose attune process is gone: end it now rather than
    // when the lease expires (a workflow run waits for that, to be taken over).
    if let Some(me) = me {
        for e in &before {
            let ends_as = match e.status {
                ExecutionStatus::Running => ExecutionStatus::Abandoned,
                ExecutionStatus::Canceling => ExecutionStatus::Canceled,
                _ => continue,
            };
            let live_lease = e.lease_expires.is_some_and(|l| l > now);
            let Some(holder) = e.worker.as_deref().and_then(Process::parse) else {
                continue;
            };
            if !live_lease || e.runner == WORKFLOW_RUNNER || holder.liveness(me) != Liveness::Gone {
                continue;
            }
            let change = ExecutionChange::to(ends_as, now).error(format!(
                "its worker was lost: attune process {} is gone",
                holder.pid
            ));
            if let Err(err) = store.transition_execution(e.id, e.status, change).await {
                tracing::debug!(execution.id = %e.id, error = %err, "not ended (it changed meanwhile)");
            }
        }
    }
    engine.recover().await?;
    let my_id = Some(worker_id.to_string());
    let mut r = Recovery {
        ran: true,
        worker: my_id.clone(),
        ..Recovery::default()
    };
    for old in before {
        let e = store.get_execution(old.id).await?;
        let waiting = matches!(
            old.status,
            ExecutionStatus::Requested | ExecutionStatus::Scheduled
        );
        let ours = e.worker.is_some() && e.worker.as_deref() == my_id.as_deref();
        if waiting || (ours && e.status != ExecutionStatus::Paused) {
            // Handed to this engine (it may have finished already).
            r.resumed.push(e.id);
        } else if e.status.is_terminal() {
            // Ended by recovery (its worker was lost); not what its worker finished meanwhile.
            if e.error
                .as_deref()
                .is_some_and(|x| x.contains("worker was lost"))
            {
                r.ended.push(e);
            }
        } else {
            let why = held_because(&e, me);
            r.held.push((e, why));
        }
    }
    Ok(r)
}

/// Why recovery left `e` as it is.
fn held_because(e: &Execution, me: Option<&Process>) -> String {
    if !e.status.holds_claim() || e.status == ExecutionStatus::Paused {
        return format!("left {} (recovery does not touch that status)", e.status);
    }
    let until = e.lease_expires.map_or_else(
        || "a lease".to_string(),
        |l| {
            let left = (l - chrono::Utc::now()).num_seconds().max(0);
            format!(
                "its lease until {} ({left} s from now)",
                l.format("%H:%M:%S UTC")
            )
        },
    );
    let holder = e.worker.as_deref().and_then(Process::parse);
    match (holder, me) {
        (Some(p), Some(me)) if p.liveness(me) == Liveness::Alive => {
            format!("held by a running attune process (pid {}), {until}", p.pid)
        }
        (Some(p), Some(me)) if p.liveness(me) == Liveness::Gone => format!(
            "a workflow run of attune process {} (gone): taken over by the first command \
             after {until}",
            p.pid
        ),
        _ => format!(
            "held by worker '{}', {until}; ended (or, a workflow run, taken over) by the \
             first command after that if the worker is gone",
            e.worker.as_deref().unwrap_or("?")
        ),
    }
}

impl Recovery {
    /// Waits for the resumed executions until `deadline` and returns them; what is not
    /// finished then is canceled (and waited for `grace`). One that another worker claimed
    /// meanwhile (another `attune` on the same file) is left to it.
    pub(super) async fn finish(
        &self,
        engine: &Engine,
        deadline: tokio::time::Instant,
        grace: Duration,
    ) -> Vec<Execution> {
        let mut out = Vec::new();
        for id in &self.resumed {
            let e = loop {
                // Our own changes wake the wait; another worker's are seen at the next look.
                match engine.wait_timeout(*id, Duration::from_millis(250)).await {
                    Ok(e) => break Some(e),
                    Err(attune_core::Error::Timeout(_)) => {}
                    Err(_) => break engine.execution(*id).await.ok(),
                }
                let Ok(e) = engine.execution(*id).await else {
                    break None;
                };
                if e.status.holds_claim()
                    && e.worker.is_some()
                    && e.worker.as_deref() != self.worker.as_deref()
                {
                    break Some(e);
                }
                if tokio::time::Instant::now() >= deadline {
                    let _ = engine.cancel(*id).await;
                    break match engine.wait_timeout(*id, grace).await {
                        Ok(e) => Some(e),
                        Err(_) => engine.execution(*id).await.ok(),
                    };
                }
            };
            out.extend(e);
        }
        out
    }

    /// The resumed executions as they are now (after an interrupt).
    pub(super) async fn read_resumed(&self, engine: &Engine) -> Vec<Execution> {
        let mut out = Vec::new();
        for id in &self.resumed {
            if let Ok(e) = engine.execution(*id).await {
                out.push(e);
            }
        }
        out
    }

    /// The `recovery` member of the JSON documents (null when there was no durable store).
    pub(super) fn json(&self) -> Value {
        if !self.ran {
            return Value::Null;
        }
        let brief = |e: &Execution| json!({"id": e.id, "action": e.action, "status": e.status, "error": e.error});
        json!({
            "ended": self.ended.iter().map(brief).collect::<Vec<_>>(),
            "resumed": self.resumed_final.iter().map(brief).collect::<Vec<_>>(),
            "held": self.held.iter().map(|(e, why)| {
                json!({"id": e.id, "action": e.action, "status": e.status,
                       "worker": e.worker, "lease_expires": e.lease_expires, "note": why})
            }).collect::<Vec<_>>(),
        })
    }

    /// The text section (empty when there was nothing to recover).
    pub(super) fn text(&self, style: Style) -> String {
        if self.ended.is_empty() && self.resumed.is_empty() && self.held.is_empty() {
            return String::new();
        }
        let mut out = String::from("work left by earlier commands in the --db file:\n");
        for e in &self.ended {
            out.push_str(&format!(
                "  execution {} of {}: {}{}\n",
                e.id,
                style.bold(&e.action),
                style.bad(e.status.as_str()),
                e.error
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            ));
        }
        for e in &self.resumed_final {
            let status = if e.status == ExecutionStatus::Succeeded {
                style.good(e.status.as_str())
            } else {
                style.bad(e.status.as_str())
            };
            out.push_str(&format!(
                "  execution {} of {}: run here, {status}\n",
                e.id,
                style.bold(&e.action)
            ));
        }
        for (e, why) in &self.held {
            out.push_str(&format!(
                "  execution {} of {}: {} — {why}\n",
                e.id,
                style.bold(&e.action),
                e.status
            ));
        }
        out
    }
}
