//! The engine's life: built, recovering what a durable store holds, settling, shut down.
//!
//! What survives a crash or a shutdown is written on [`Engine`].

use super::{Engine, EngineBuilder, Shared};
use crate::model::ExecutionId;
use crate::{Error, Result};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;

/// # Lifecycle
///
/// Build, recover stored work, wait for work to settle, shut down.
impl Engine {
    /// A builder with the defaults: [`MemoryStore`](crate::store::MemoryStore),
    /// [`LocalTransport`](crate::transport::LocalTransport), the `native` and `rhai`
    /// runtimes, the system clock.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    /// Recovers what the store holds from a previous run (a durable store after a restart
    /// or a crash): unmatched events are matched, `requested` and `scheduled` executions are
    /// handed to their stage, executions whose worker's lease expired end `abandoned`
    /// (`canceled` if they were being canceled), and workflow runs whose lease expired are
    /// taken over and continued from their journal (see "What survives a crash or a
    /// shutdown" on [`Engine`]). Call it once the host registered its native actions;
    /// otherwise the periodic recovery sweep ([`EngineBuilder::sweep_every`]) picks the work
    /// up later. All stored work is handed on, page by page; the stages' bounded queues pace
    /// it, so with a large backlog this returns once most of it is being processed. What it
    /// handed on counts as this engine's pending work: [`Engine::settle`] then waits for it.
    /// Returns how many events and executions it handled.
    pub async fn recover(&self) -> Result<usize> {
        let waited = super::policy::restore(&self.shared).await?;
        let n =
            waited + super::recovery::sweep(&self.shared, self.shared.now(), usize::MAX).await?;
        if n > 0 {
            tracing::info!(executions = n, "recovered stored work");
        }
        Ok(n)
    }

    /// Events emitted and executions created through this engine (or handed on by
    /// [`Engine::recover`]) that are not finished yet: what [`Engine::settle`] waits for. On
    /// a store several engines share, work another engine finished stops counting within a
    /// second or so (the store is asked every second).
    pub fn in_flight(&self) -> usize {
        self.shared.pending.len()
    }

    /// Waits until every event emitted and every execution created through this engine, and
    /// all the work [`Engine::recover`] (or the periodic sweep) handed on, has been processed
    /// to the end, or `deadline` passes ([`Error::Timeout`]). On a store several engines
    /// share, work another engine took counts too: the store is asked what became of it
    /// (every 50 ms while nothing pending ends here).
    pub async fn settle(&self, deadline: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        let shared_store = self.shared.store.capabilities().shared;
        // The store is asked only while nothing ends here (the work is elsewhere).
        let (mut last, mut moved) = (usize::MAX, tokio::time::Instant::now());
        loop {
            let n = self.shared.pending.len();
            if n == 0 {
                break;
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return Err(Error::Timeout(format!(
                    "{n} events/executions still in flight after {deadline:?}"
                )));
            }
            if n < last {
                (last, moved) = (n, now);
            }
            if shared_store && now - moved >= Duration::from_millis(50) {
                moved = now;
                if let Err(e) = super::shared_store::reconcile(&self.shared).await {
                    tracing::debug!(error = %e, "asking the shared store about pending work");
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    /// Stops the engine: refuses new events and executions, lets in-flight work finish until
    /// `deadline`, then cancels what still runs (it ends `canceled`), and stops the stages.
    /// Work that never started is marked `canceled` on a store that is not durable; a durable
    /// store keeps it for the next start's [`Engine::recover`]. Returns as soon as that is
    /// done: the cancel grace period ([`EngineBuilder::cancel_grace`]) bounds the wait for
    /// canceled runs to end, and is not waited when they end sooner. Sensors are stopped
    /// first, so that nothing new comes in while the work drains. Idempotent. Returns
    /// whether the work in flight ended within `deadline` (nothing had to be canceled).
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        let s = &self.shared;
        // Sensors first: nothing new comes in while the work drains.
        s.sensors.stop_all().await;
        s.accepting.store(false, Ordering::SeqCst);
        let drained = self.settle(deadline).await.is_ok();
        if !drained {
            tracing::warn!("shutdown deadline passed; canceling remaining executions");
            s.stop_starting.store(true, Ordering::SeqCst);
            self.cancel_running().await;
            self.wait_stopped(s.config.cancel_grace).await;
        }
        s.stop.cancel();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *s.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
        if !drained && !s.store.capabilities().durable {
            // The stages have stopped: what a batch of matching in flight created after the
            // last look of `wait_stopped` ends `canceled` too.
            self.cancel_pending(&mut HashSet::new()).await;
        }
        // Paused workflow runs stay paused in a durable store, for any engine to resume
        // (their leases are no longer renewed: released now rather than left to expire).
        if s.store.capabilities().durable
            && let Some(w) = &s.workflows
        {
            let n = w.release_idle(s).await;
            if n > 0 {
                tracing::info!(runs = n, "paused workflow runs left paused in the store");
            }
        }
        drained
    }

    /// After a shutdown's cancel: waits, `grace` at most, for the runs of this engine to end
    /// (a canceled run ends within the cancel grace: its runtime is dropped after it) and, on
    /// a store that is not durable, for the work canceled before it started. Work a durable
    /// store keeps for the next start is not waited for: it will not run here. Runs that
    /// started while the cancel was under way are canceled too.
    async fn wait_stopped(&self, grace: Duration) {
        let s = &self.shared;
        let durable = s.store.capabilities().durable;
        let until = tokio::time::Instant::now() + grace;
        let mut canceled = HashSet::new();
        loop {
            // Work that never started: a durable store keeps it for the next start
            // (`Engine::recover`); in memory it would be lost, so it ends `canceled`.
            // Matching stops with `stop_starting`, but a batch in flight may still create
            // some: each round cancels those that appeared.
            if !durable {
                self.cancel_pending(&mut canceled).await;
            }
            let running = s.stop_runs_here();
            let done = running == 0 && (durable || s.pending.executions().is_empty());
            if done || tokio::time::Instant::now() >= until {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Cancels this engine's unfinished executions not in `done` yet (and adds them).
    async fn cancel_pending(&self, done: &mut HashSet<ExecutionId>) {
        for id in self.shared.pending.executions() {
            if done.insert(id) {
                let _ = self.cancel(id).await;
            }
        }
    }

    /// Cancels, as [`Engine::cancel`] does, every execution running in this process; on a
    /// durable store, not a workflow run sitting paused (it stays paused for any engine on
    /// the store to resume).
    pub(crate) async fn cancel_running(&self) {
        let durable = self.shared.store.capabilities().durable;
        let running: Vec<ExecutionId> = self.shared.lock_running().keys().copied().collect();
        for id in running {
            if durable && self.workflow_control(id).is_some_and(|c| c.idle()) {
                continue;
            }
            let _ = self.cancel(id).await;
        }
    }

    /// Whether the engine takes new events and executions: false once
    /// [`Engine::shutdown`] began (what a readiness probe reports).
    pub fn is_accepting(&self) -> bool {
        self.shared.accepting.load(Ordering::SeqCst)
    }

    pub(crate) fn ensure_accepting(&self) -> Result<()> {
        self.shared.ensure_accepting()
    }
}

impl Shared {
    /// `Err(ShutDown)` once the engine stopped taking work.
    pub(crate) fn ensure_accepting(&self) -> Result<()> {
        if self.accepting.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Error::ShutDown)
        }
    }
}
