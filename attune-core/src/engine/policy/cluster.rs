//! Policies across processes: one process of a shared store decides.
//!
//! With a leadership flag (`EngineBuilder::policies_leader`), the gate of every engine
//! follows until its engine leads: a follower decides nothing for an action with gating
//! policies — its requests become `delayed` in the store, and the slots its runs free admit
//! nothing. The leader decides for all: when its term starts it rebuilds each gated
//! action's gate from the store, and every [`REFRESH`] it adopts what the others left
//! `delayed` (in request order, as arrivals) and frees the slots of executions that ended
//! elsewhere. A slot is therefore only ever given by the leader, whose count is never below
//! the store's: limits hold across processes, and FIFO order is request order. The price is
//! latency: an execution of a gated action requested in a follower waits for the next
//! refresh, and a slot freed in a follower for the next one too.

use super::{HOLDING, Moves, apply, configure, list};
use crate::Result;
use crate::engine::Shared;
use crate::engine::pause::pause;
use crate::model::{ExecutionId, ExecutionStatus};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the leader adopts what the followers left and frees what ended elsewhere.
pub(crate) const REFRESH: Duration = Duration::from_millis(250);

/// Runs the terms of the policies' leadership until the engine stops; a no-op without a
/// leadership flag.
pub(crate) async fn run(shared: Arc<Shared>) {
    let Some(flag) = shared.singletons.policies.clone() else {
        return;
    };
    let stop = shared.stop.clone();
    crate::engine::singletons::terms(Some(flag), stop, "policies", |term| {
        lead(shared.clone(), term)
    })
    .await;
}

/// One term: decides for the cluster until `term` ends.
async fn lead(shared: Arc<Shared>, term: CancellationToken) {
    // Gates rebuilt from the store first, while still following (admitting nothing); then
    // this engine decides, starting with what the rebuilt gates let through.
    loop {
        let mut rebuilt = true;
        if let Err(e) = super::super::followed_definitions::follow(&shared).await {
            tracing::warn!(error = %e, "policies: definitions not followed");
        }
        for action in shared.catalog.policy_actions() {
            if let Err(e) = configure(&shared, &action).await {
                tracing::warn!(action = %action, error = %e, "policies: gate not rebuilt; again");
                rebuilt = false;
            }
        }
        if rebuilt {
            break;
        }
        if !pause(&term, REFRESH).await {
            return;
        }
    }
    let actions: Vec<String> = {
        let mut st = shared.gate.state.lock().await;
        st.follower = false;
        st.actions.keys().cloned().collect()
    };
    for action in actions {
        let mut st = shared.gate.state.lock().await;
        let now = shared.now();
        let mut m = Moves::default();
        st.pump(&action, now, &mut m);
        apply(&shared, st, m, now).await;
    }
    loop {
        if !pause(&term, REFRESH).await {
            break;
        }
        if let Err(e) = refresh(&shared).await {
            tracing::warn!(error = %e, "policies: refresh failed; next time");
        }
    }
    shared.gate.state.lock().await.follower = true;
}

/// For each gated action: frees the slots of executions no longer holding one in the store
/// (ended elsewhere), adopts the `delayed` executions no gate tracks, and admits what fits.
/// Reads the store under the gate's lock, so that no decision of this process falls between
/// the reads and their use.
async fn refresh(shared: &Arc<Shared>) -> Result<()> {
    // A policy registered in another process gates from here on.
    crate::engine::followed_definitions::follow(shared).await?;
    let gate = &shared.gate;
    let actions: Vec<String> = gate.state.lock().await.actions.keys().cloned().collect();
    for action in actions {
        let mut st = gate.state.lock().await;
        if st.follower {
            return Ok(());
        }
        let holding: HashSet<ExecutionId> = list(shared, &action, &HOLDING)
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        let delayed = list(shared, &action, &[ExecutionStatus::Delayed]).await?;
        let now = shared.now();
        let mut m = Moves::default();
        let gone: Vec<ExecutionId> = match st.actions.get(&action) {
            Some(g) => g.active_ids().filter(|id| !holding.contains(id)).collect(),
            None => Vec::new(),
        };
        let mut freed = false;
        for id in gone {
            freed |= st.forget(id).is_some();
        }
        for e in delayed {
            if st.owner.contains_key(&e.id) || st.sleepers.contains_key(&e.id) {
                continue;
            }
            st.arrive(&e, ExecutionStatus::Delayed, now, &mut m);
        }
        if freed {
            st.pump(&action, now, &mut m);
        }
        apply(shared, st, m, now).await;
    }
    Ok(())
}
