//! What the commands that run work (`run`, `emit`) share: the engine with the packs loaded
//! and the work of earlier commands recovered, and stopping on a signal.

use super::recover::{Recovery, recover};
use super::{Failure, Setup, engine_with};
use attune_core::Engine;
use attune_core::model::ExecutionId;
use std::path::PathBuf;
use std::time::Duration;

/// An engine ready to run work.
#[derive(Debug)]
pub(super) struct Work {
    /// The engine, packs loaded.
    pub engine: Engine,
    /// What recovery found in the `--db` file.
    pub recovery: Recovery,
}

/// Builds the engine, loads `packs`, then recovers what earlier commands left in the
/// `--db` file (after the packs, so that stored work finds its actions). A signal received
/// meanwhile stops here: the engine is shut down and the failure says so.
pub(super) async fn start(packs: &[PathBuf], setup: &Setup) -> Result<Work, Failure> {
    let engine = engine_with(packs, setup).await?;
    let recovery = recover(&engine, setup.worker.as_ref(), &setup.worker_id).await?;
    let work = Work { engine, recovery };
    if let Some(sig) = setup.interrupt.received() {
        stop(work.engine.clone(), Vec::new()).await;
        return Err(Failure::Other(format!(
            "interrupted ({}) before any work started",
            sig.name()
        )));
    }
    Ok(work)
}

/// After a signal: cancels `own` (what the command started: not started yet → canceled at
/// once; running → SIGTERM to the action's process group, the cancel grace, SIGKILL), then
/// shuts the engine down at once, which cancels whatever else runs here (work recovery
/// handed on); stored work that had not started stays in the `--db` file for the next
/// command. Returns when that is done.
pub(super) async fn stop(engine: Engine, own: Vec<ExecutionId>) {
    for id in own {
        let _ = engine.cancel(id).await;
    }
    engine.shutdown(Duration::ZERO).await;
}
