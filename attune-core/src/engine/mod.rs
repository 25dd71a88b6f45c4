//! The [`Engine`]: registration, `emit`, `execute`, `wait`, `cancel`, trace and shutdown, on
//! top of four stages connected through the [`Transport`]:
//!
//! ```text
//! emit ─Events→ matching ─Requested→ scheduling ─Scheduled→ running ─Finished→ completion
//!                (rules, enforcements,  (policies,            (claim, runtime,   (status fan-out,
//!                 params, executions)    requested→scheduled)  result)            retention)
//! ```
//!
//! Every stage reads what it needs from the [`Store`] by id, so a later deployment can run
//! each stage in its own process.

mod builder;
mod combine;
mod completion;
mod config;
mod context;
mod dry_run;
mod inspect;
mod matching;
mod packs;
mod pending;
mod recovery;
mod register;
mod registry;
mod running;
mod scheduling;
mod stage;
mod trace;
mod trigger_schema;
mod workflow_run;
mod workflows;

pub use builder::EngineBuilder;
pub use config::Retention;
pub use dry_run::{RuleTest, RuleVerdict};
pub use packs::{LoadReport, PackSummary};
pub use trace::{EventTrace, ExecutionTrace};
pub use workflows::WORKFLOW_RUNNER;

use crate::clock::Clock;
use crate::model::{Execution, ExecutionId, ExecutionStatus};
use crate::runtime::{LogLine, NativeRuntime, Runtime};
use crate::script::Sandbox;
use crate::store::{ExecutionChange, Store};
use crate::template::Templates;
use crate::transport::{Message, StatusChange, Subscription, Topic, Transport};
use crate::{Error, Result};
use config::EngineConfig;
use registry::Registry;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The automation engine, embedded in the host program. Cheap to clone (an `Arc`).
///
/// Stop it with [`Engine::shutdown`], which lets in-flight work finish until a deadline.
/// Dropping the last clone without it stops the engine too, without waiting, as dropping a
/// tokio handle that owns tasks does: new work is refused, running executions are canceled
/// (recorded `canceled`; a process action gets SIGTERM, then SIGKILL after the cancel grace),
/// and the engine's tasks end. On a durable store work that never started is kept for the
/// next start's [`Engine::resume`]. A clone held by something the engine itself holds (a
/// native handler that captured one) keeps it running until [`Engine::shutdown`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
/// use attune_core::{Engine, model::{Rule, TriggerType}};
/// use serde_json::{json, Value};
///
/// let engine = Engine::builder().build().await?;
/// engine.register_trigger_type(TriggerType::new("demo.alert")).await?;
/// engine.register_fn("demo.shout", |ctx| async move {
///     let text = ctx.param("text").and_then(Value::as_str).unwrap_or("").to_uppercase();
///     Ok(json!({ "shouted": text }))
/// }).await?;
/// engine.register_rule(
///     Rule::new("demo.on_alert", "demo.alert", "demo.shout")
///         .criteria(json!({"trigger.level": {"type": "equals", "pattern": "high"}}))
///         .param("text", json!("{{ trigger.message }}")),
/// ).await?;
///
/// let event = engine.emit("demo.alert", json!({"level": "high", "message": "disk full"})).await?;
/// engine.settle(std::time::Duration::from_secs(5)).await?;
/// let trace = engine.trace_event(event).await?;
/// assert_eq!(trace.executions[0].result, Some(json!({"shouted": "DISK FULL"})));
/// engine.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    /// Shared by the handles the builder gave out (not by the engine's own short-lived
    /// ones): when the last is dropped, the engine stops ([`Stopper`]).
    _stopper: Option<Arc<Stopper>>,
}

/// Stops an engine when the last of the host's handles is dropped without
/// [`Engine::shutdown`] (see [`Engine`]): new work is refused, running executions are
/// canceled as [`Engine::cancel`] does, on a task of its own, then the stages are stopped.
/// Nothing is waited for; what was not recorded yet on a durable store is recovered at the
/// next start, as after a crash.
struct Stopper(Arc<Shared>);

impl Drop for Stopper {
    fn drop(&mut self) {
        let s = self.0.clone();
        if s.stop.is_cancelled() {
            return; // shut down already
        }
        s.accepting.store(false, Ordering::SeqCst);
        s.stop_starting.store(true, Ordering::SeqCst);
        match tokio::runtime::Handle::try_current() {
            // Canceled as `Engine::cancel` does (recorded `canceling`, then `canceled`).
            Ok(rt) => {
                rt.spawn(async move {
                    Engine::internal(s.clone()).cancel_running().await;
                    s.stop.cancel();
                });
            }
            // Outside a runtime nothing can be recorded: the runs are told to stop.
            Err(_) => {
                s.stop_runs_here();
                s.stop.cancel();
            }
        }
    }
}

impl Engine {
    /// The handle the builder gives the host: the engine stops when its last copy is
    /// dropped.
    pub(crate) fn owned(self) -> Engine {
        let stopper = Some(Arc::new(Stopper(self.shared.clone())));
        Engine {
            shared: self.shared,
            _stopper: stopper,
        }
    }

    /// A handle the engine uses itself (it does not keep the engine running).
    pub(crate) fn internal(shared: Arc<Shared>) -> Engine {
        Engine {
            shared,
            _stopper: None,
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.shared.store)
            .field("runtimes", &self.shared.runtimes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// State shared by the API and the stages.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub transport: Arc<dyn Transport>,
    pub runtimes: HashMap<String, Arc<dyn Runtime>>,
    pub native: Arc<NativeRuntime>,
    pub registry: Registry,
    pub templates: Templates,
    pub sandbox: Sandbox,
    pub clock: Arc<dyn Clock>,
    pub config: EngineConfig,
    pub logs: broadcast::Sender<LogLine>,
    /// Held while definitions change with checks against others (packs installed or
    /// unloaded, rules registered, actions removed), so that two changes never check
    /// against a state the other is replacing.
    pub definitions: tokio::sync::Mutex<()>,
    /// An empty secret list, shared (most runs have no secrets: no allocation for them).
    pub no_secrets: Arc<[String]>,
    /// Validated params with secret values, of executions created here and not run yet.
    pub secrets: Mutex<HashMap<ExecutionId, Map<String, Value>>>,
    /// Cancellation tokens of executions running in this process.
    pub running: Mutex<HashMap<ExecutionId, CancellationToken>>,
    /// The workflow runtime (also in `runtimes`, as `workflow`).
    pub workflows: Option<Arc<workflows::WorkflowRuntime>>,
    /// Executions whose end a workflow run waits for, and where to tell it.
    pub children: Mutex<
        HashMap<ExecutionId, tokio::sync::mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>>,
    >,
    /// Events emitted and waiting to be persisted together (a durable store).
    pub emitting: combine::Combiner<matching::Emitted>,
    /// Outcomes of runs waiting to be persisted together.
    pub finishing: combine::Combiner<running::Finish>,
    pub accepting: AtomicBool,
    /// Events not matched yet and executions not finished yet, created by this engine.
    pub pending: pending::Pending,
    /// Set when the shutdown deadline passed: the running stage starts nothing more.
    pub stop_starting: AtomicBool,
    pub stop: CancellationToken,
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub async fn publish_status(
        &self,
        changes: impl IntoIterator<Item = (ExecutionId, ExecutionStatus)>,
    ) {
        let msgs: Vec<Message> = changes
            .into_iter()
            .map(|(execution, status)| Message::Status(StatusChange { execution, status }))
            .collect();
        if let Err(e) = self.transport.publish(Topic::Status, msgs).await {
            tracing::warn!(error = %e, "status notification not published");
        }
    }

    /// A claim by this worker starting now, with the configured lease.
    pub fn claim(&self) -> crate::store::Claim {
        let now = self.now();
        crate::store::Claim {
            worker: self.config.worker_id.clone(),
            now,
            lease_until: crate::clock::saturating_add(now, self.config.lease),
        }
    }

    pub fn lock_secrets(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, Map<String, Value>>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lock_children(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        HashMap<ExecutionId, tokio::sync::mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>>,
    > {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lock_running(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells every run of this process to stop (its cancel token), without recording
    /// anything; returns how many are running.
    pub fn stop_runs_here(&self) -> usize {
        let running = self.lock_running();
        for token in running.values() {
            token.cancel();
        }
        running.len()
    }
}

impl Engine {
    /// A builder with the defaults: [`MemoryStore`](crate::store::MemoryStore),
    /// [`LocalTransport`](crate::transport::LocalTransport), the `native` and `rhai`
    /// runtimes, the system clock.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Reads an execution.
    pub async fn execution(&self, id: ExecutionId) -> Result<Execution> {
        self.shared.store.get_execution(id).await
    }

    /// Subscribes to status changes of every execution. Subscribe before the action that
    /// causes the changes to see them all; a subscriber that falls behind misses changes
    /// (see [`StatusSubscription::missed`]), the store stays the truth.
    pub async fn subscribe(&self) -> Result<StatusSubscription> {
        Ok(StatusSubscription {
            inner: self.shared.transport.subscribe(Topic::Status).await?,
            buffer: std::collections::VecDeque::new(),
        })
    }

    /// Subscribes to output lines of running executions (stdout, stderr, action logs).
    pub fn subscribe_logs(&self) -> broadcast::Receiver<LogLine> {
        self.shared.logs.subscribe()
    }

    /// Waits until the execution reaches a terminal status and returns it.
    pub async fn wait(&self, id: ExecutionId) -> Result<Execution> {
        let sub = self.subscribe().await?;
        self.wait_on(sub, id).await
    }

    /// Waits on `sub` (subscribed before the execution could finish) until `id` is terminal;
    /// the store decides, notifications only wake the check.
    async fn wait_on(&self, mut sub: StatusSubscription, id: ExecutionId) -> Result<Execution> {
        let mut check = true;
        loop {
            if check {
                let e = self.shared.store.get_execution(id).await?;
                if e.status.is_terminal() {
                    return Ok(e);
                }
            }
            let next = tokio::select! {
                n = sub.next() => n?,
                _ = self.shared.stop.cancelled() => None,
            };
            let Some(change) = next else {
                // Stopped: what the store says is final.
                let e = self.shared.store.get_execution(id).await?;
                return if e.status.is_terminal() {
                    Ok(e)
                } else {
                    Err(Error::ShutDown)
                };
            };
            check = (change.execution == id && change.status.is_terminal()) || sub.missed() > 0;
        }
    }

    /// [`Engine::wait`] with a deadline ([`Error::Timeout`] when it passes).
    pub async fn wait_timeout(&self, id: ExecutionId, deadline: Duration) -> Result<Execution> {
        tokio::time::timeout(deadline, self.wait(id))
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "execution '{id}' did not finish within {deadline:?}"
                ))
            })?
    }

    /// Runs `action_ref` with `params` directly (no rule) and returns the new execution's id.
    /// Params are validated first: an unknown action is NotFound, bad params are Invalid and
    /// nothing is created.
    pub async fn execute(&self, action_ref: &str, params: Value) -> Result<ExecutionId> {
        let params =
            crate::input::within_depth(params, || format!("params of action '{action_ref}'"))?;
        self.ensure_accepting()?;
        matching::create_direct(&self.shared, action_ref, params).await
    }

    /// [`Engine::execute`] then [`Engine::wait`].
    pub async fn run(&self, action_ref: &str, params: Value) -> Result<Execution> {
        let sub = self.subscribe().await?;
        let id = self.execute(action_ref, params).await?;
        self.wait_on(sub, id).await
    }

    /// Cancels an execution: one not running yet becomes `canceled` at once; a running one
    /// (or a pausing or paused workflow) becomes `canceling`, its runtime is told to stop,
    /// and it ends `canceled` — a workflow once its running tasks, canceled too, ended. Canceling a
    /// finished execution is a Conflict naming its status. A workflow run driven by another
    /// engine on the same store follows the recorded cancel at that engine's next lease
    /// renewal; another running execution hears of it through the transport.
    pub async fn cancel(&self, id: ExecutionId) -> Result<Execution> {
        let s = &self.shared;
        for _ in 0..8 {
            let e = s.store.get_execution(id).await?;
            let now = s.now();
            let to = match e.status {
                st if st.is_terminal() => {
                    return Err(Error::Conflict(format!(
                        "execution '{id}' already finished ({st})"
                    )));
                }
                ExecutionStatus::Canceling => return Ok(e),
                // A paused workflow's run is alive: it cancels its tasks and ends.
                st if st.holds_claim() => ExecutionStatus::Canceling,
                _ => ExecutionStatus::Canceled,
            };
            let change = ExecutionChange::to(to, now).error("canceled by request");
            match s.store.transition_execution(id, e.status, change).await {
                Ok(updated) => {
                    if to == ExecutionStatus::Canceling {
                        s.publish_status([(id, to)]).await;
                        if let Some(token) = s.lock_running().get(&id) {
                            token.cancel();
                        }
                        s.transport
                            .publish(Topic::Control, vec![Message::Cancel(id)])
                            .await?;
                    } else {
                        s.lock_secrets().remove(&id);
                        let done = Message::Finished(StatusChange {
                            execution: id,
                            status: to,
                        });
                        s.transport.publish(Topic::Finished, vec![done]).await?;
                    }
                    return Ok(updated);
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "execution '{id}' kept changing; cancel not applied"
        )))
    }

    /// Resumes what the store holds from a previous run (a durable store after a restart):
    /// `requested` and `scheduled` executions are handed to their stage, executions whose
    /// worker's lease expired end `abandoned` (`canceled` if they were being canceled).
    /// Call it once the host registered its native actions; otherwise the periodic recovery
    /// sweep ([`EngineBuilder::sweep_every`]) picks the work up later. All stored work is
    /// handed on, page by page; the stages' bounded queues pace it, so with a large backlog
    /// this returns once most of it is being processed. Returns how many events and
    /// executions it handled.
    pub async fn resume(&self) -> Result<usize> {
        let n = recovery::sweep(&self.shared, self.shared.now(), usize::MAX).await?;
        if n > 0 {
            tracing::info!(executions = n, "resumed stored work");
        }
        Ok(n)
    }

    /// Waits until every event emitted and every execution created through this engine has
    /// been processed to the end, or `deadline` passes ([`Error::Timeout`]).
    pub async fn settle(&self, deadline: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let n = self.shared.pending.len();
            if n == 0 {
                break;
            }
            if tokio::time::Instant::now() >= until {
                return Err(Error::Timeout(format!(
                    "{n} events/executions still in flight after {deadline:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    /// Stops the engine: refuses new events and executions, lets in-flight work finish until
    /// `deadline`, then cancels what still runs (it ends `canceled`), and stops the stages.
    /// Work that never started is marked `canceled` on a store that is not durable; a durable
    /// store keeps it for the next start's [`Engine::resume`]. Returns as soon as that is
    /// done: the cancel grace period ([`EngineBuilder::cancel_grace`]) bounds the wait for
    /// canceled runs to end, and is not waited when they end sooner. Idempotent.
    pub async fn shutdown(&self, deadline: Duration) {
        let s = &self.shared;
        s.accepting.store(false, Ordering::SeqCst);
        if self.settle(deadline).await.is_err() {
            tracing::warn!("shutdown deadline passed; canceling remaining executions");
            s.stop_starting.store(true, Ordering::SeqCst);
            self.cancel_running().await;
            // Work that never started: a durable store keeps it for the next start
            // (`Engine::resume`); in memory it would be lost, so it ends `canceled`. Matching stops with
            // the flag above; a batch in flight may still create a few, hence the rounds.
            if !s.store.capabilities().durable {
                for _ in 0..3 {
                    for id in s.pending.executions() {
                        let _ = self.cancel(id).await;
                    }
                    tokio::task::yield_now().await;
                }
            }
            self.wait_stopped(s.config.cancel_grace).await;
        }
        s.stop.cancel();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *s.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
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
        loop {
            let running = s.stop_runs_here();
            let done = running == 0 && (durable || s.pending.executions().is_empty());
            if done || tokio::time::Instant::now() >= until {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Cancels, as [`Engine::cancel`] does, every execution running in this process.
    async fn cancel_running(&self) {
        let running: Vec<ExecutionId> = self.shared.lock_running().keys().copied().collect();
        for id in running {
            let _ = self.cancel(id).await;
        }
    }

    fn ensure_accepting(&self) -> Result<()> {
        if self.shared.accepting.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Error::ShutDown)
        }
    }
}

/// A subscription to execution status changes (see [`Engine::subscribe`]).
#[derive(Debug)]
pub struct StatusSubscription {
    inner: Box<dyn Subscription>,
    buffer: std::collections::VecDeque<StatusChange>,
}

impl StatusSubscription {
    /// The next status change; `None` when the engine's transport closed.
    pub async fn next(&mut self) -> Result<Option<StatusChange>> {
        while self.buffer.is_empty() {
            let Some(batch) = self.inner.recv(1024).await? else {
                return Ok(None);
            };
            self.buffer
                .extend(batch.into_iter().filter_map(|d| match d.message {
                    Message::Status(c) => Some(c),
                    _ => None,
                }));
        }
        Ok(self.buffer.pop_front())
    }

    /// Changes missed since the last call because this subscriber fell behind.
    pub fn missed(&mut self) -> u64 {
        self.inner.missed()
    }
}
