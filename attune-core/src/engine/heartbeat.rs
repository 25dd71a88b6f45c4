//! The engine's heartbeat on a shared store: what it runs, recorded every [`EVERY`].

use super::{Engine, Shared};
use crate::Result;
use crate::model::Worker;
use std::sync::Arc;
use std::time::Duration;

/// How often an engine records its heartbeat.
pub(crate) const EVERY: Duration = Duration::from_secs(10);

/// How long an engine runs before its first heartbeat: a one-shot command that ends sooner
/// (`attune key get`) is not listed.
const FIRST_AFTER: Duration = Duration::from_secs(1);

/// Records this engine as a worker of the shared store every [`EVERY`], from its first
/// second until the engine stops, then forgets it. A no-op on a store that is not shared.
pub(crate) async fn run(shared: Arc<Shared>) {
    if !shared.store.capabilities().shared {
        return;
    }
    let started = shared.now();
    if !super::pause::pause(&shared.stop, FIRST_AFTER).await {
        return;
    }
    loop {
        let me = worker(&shared, started);
        if let Err(e) = shared.store.put_worker(&me).await {
            tracing::warn!(error = %e, "heartbeat not recorded");
        }
        if !super::pause::pause(&shared.stop, EVERY).await {
            break;
        }
    }
    if let Err(e) = shared.store.delete_worker(&shared.config.worker_id).await {
        tracing::debug!(error = %e, "worker not forgotten; its heartbeat ages");
    }
}

fn worker(shared: &Shared, started: chrono::DateTime<chrono::Utc>) -> Worker {
    let mut runtimes: Vec<String> = shared.runtimes.keys().cloned().collect();
    runtimes.sort();
    Worker {
        id: shared.config.worker_id.to_string(),
        roles: super::Role::ALL
            .into_iter()
            .filter(|r| shared.roles.has(*r))
            .map(|r| r.as_str().to_string())
            .collect(),
        runtimes,
        slots: shared.config.worker_slots,
        running: shared.lock_running().len(),
        started,
        heartbeat: shared.now(),
    }
}

/// # Workers
impl Engine {
    /// The engines of the shared store, as their last heartbeats say (this one included),
    /// by id; empty on a store only one engine uses. A worker whose heartbeat is older than
    /// three intervals (30 s) has stopped without saying so, or lost the store.
    pub async fn workers(&self) -> Result<Vec<Worker>> {
        self.shared.store.list_workers().await
    }
}
