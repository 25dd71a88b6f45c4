//! Ends of executions processed by another engine of a shared store.
//!
//! The completion stage tells what waits in this engine — workflow runs waiting for their
//! tasks, pending work, secrets and masks held for a run — that an execution ended. On a
//! store several engines share, the end of an execution this engine waits for may be
//! processed by another engine's completion stage; every completion stage announces the
//! ends it processes on the status fan-out topic, so this task, in every engine of a
//! shared store, hears of every end and does the same locally (twice is harmless: what
//! was told is no longer waiting). When the subscription fell behind and missed
//! announcements, what waits is looked up in the store instead.

use super::Shared;
use crate::model::{ExecutionId, ExecutionStatus};
use crate::transport::{Message, Topic};
use std::sync::Arc;
use std::time::Duration;

/// Announcements taken per receive.
const BATCH: usize = 512;

/// The task (see the module doc); only on a shared store; ends when the engine stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    if !shared.store.capabilities().shared {
        return;
    }
    let mut sub = match shared.transport.subscribe(Topic::Status).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot follow the ends of executions in other engines");
            return;
        }
    };
    loop {
        let got = tokio::select! {
            () = shared.stop.cancelled() => return,
            got = sub.recv(BATCH) => got,
        };
        match got {
            Ok(Some(batch)) => {
                let ended: Vec<(ExecutionId, ExecutionStatus)> = batch
                    .iter()
                    .filter_map(|d| match d.message {
                        Message::Status(c) if c.status.is_terminal() => {
                            Some((c.execution, c.status))
                        }
                        _ => None,
                    })
                    .collect();
                ended_here(&shared, &ended);
                if sub.missed() > 0 {
                    recheck(&shared).await;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "following the ends of executions: retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Tells what waits here that these executions ended.
fn ended_here(shared: &Shared, ended: &[(ExecutionId, ExecutionStatus)]) {
    if ended.is_empty() {
        return;
    }
    {
        let mut children = shared.lock_children();
        for (id, status) in ended {
            if let Some(tx) = children.remove(id) {
                let _ = tx.send((*id, *status));
            }
        }
    }
    for (id, _) in ended {
        shared.pending.execution_done(*id);
    }
    let mut secrets = shared.lock_secrets();
    for (id, _) in ended {
        secrets.remove(id);
    }
    drop(secrets);
    let mut masks = shared.lock_masks();
    for (id, _) in ended {
        masks.remove(id);
    }
}

/// After missed announcements: the executions workflow runs wait for, read from the store.
async fn recheck(shared: &Shared) {
    let waiting: Vec<ExecutionId> = shared.lock_children().keys().copied().collect();
    let mut ended = Vec::new();
    for id in waiting {
        if let Ok(x) = shared.store.get_execution(id).await
            && x.status.is_terminal()
        {
            ended.push((id, x.status));
        }
    }
    ended_here(shared, &ended);
}
