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

mod action_chain;
mod builder;
mod catalog;
mod combine;
mod completion;
mod config;
mod context;
mod definitions;
mod dry_run;
mod emit;
mod executions;
mod followed_definitions;
mod heartbeat;
mod inquiries;
mod inspect;
mod keys;
mod lifecycle;
mod matching;
mod pack_checks;
mod packs;
mod param_defaults;
mod pause;
mod pending;
mod policy;
mod recovery;
mod remote_ends;
mod roles;
mod run_keys;
mod running;
mod scheduling;
mod sealed_params;
mod sensors;
mod shared_store;
mod singletons;
mod stage;
mod system_triggers;
mod timers;
mod trace;
mod trigger_schema;
mod webhooks;
mod workflow_driver;
mod workflow_runtime;

pub use builder::EngineBuilder;
pub use config::Retention;
pub use dry_run::{RuleTest, RuleVerdict};
pub(crate) use emit::Emission;

/// See [`system_triggers::sensor_process`].
pub(crate) async fn sensor_process(
    engine: &Engine,
    sensor: &str,
    pid: Option<u32>,
    cmd: Option<&str>,
    exit_code: Option<i32>,
) {
    system_triggers::sensor_process(&engine.shared, sensor, pid, cmd, exit_code).await;
}
pub use executions::{MAX_USER_NAME_BYTES, StatusSubscription};
pub use inquiries::{Inquiry, Responder};
pub use packs::{LoadReport, PackSummary};
pub use policy::QueueStats;
pub use roles::Role;
pub use trace::{EventTrace, ExecutionTrace, TraceRoot};
pub use webhooks::{WEBHOOK_TRIGGER, Webhook};

use crate::clock::Clock;
use crate::model::{ExecutionId, ExecutionStatus};
use crate::runtime::{LogLine, NativeRuntime, Runtime};
use crate::sandbox::Sandbox;
use crate::store::Store;
use crate::template::Templates;
use crate::transport::{Message, StatusChange, Topic, Transport};
use catalog::Catalog;
use config::EngineConfig;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
/// next start's [`Engine::recover`]. A clone held by something the engine itself holds (a
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
///
/// Its methods are grouped by topic: lifecycle, events, executions, definitions, packs,
/// workflows, rule testing, inspection.
///
/// # What survives a crash or a shutdown
///
/// The memory store keeps nothing past the process. On a durable store:
///
/// - **Events**: an event is stored before [`emit`](Engine::emit) returns `Ok`; one not
///   matched yet when the process stopped is matched by the next [`recover`](Engine::recover)
///   (never twice per rule). An `emit` that did not return `Ok` stored nothing to rely on:
///   its producer retries.
/// - **Never started** (`requested`, `scheduled`): kept by a shutdown, a drop or a crash, and
///   handed on by the next `recover`; each runs once. (A shutdown on the memory store ends
///   them `canceled` instead.)
/// - **Running** at a shutdown past its deadline or a drop: canceled — recorded `canceled`
///   at once, a process action gets SIGTERM, the cancel grace, then SIGKILL. At a crash:
///   ended `abandoned` once its lease ([`EngineBuilder::lease`]) expired, by `recover` or
///   the periodic sweep ([`EngineBuilder::sweep_every`]); not retried. `canceling` ends
///   `canceled` the same way.
/// - **Workflow runs** of a crashed process are taken over once their lease expired and
///   continued from their journal: finished tasks are not run again; a task execution that
///   was running ends `abandoned` and its task runs again.
/// - **Secret params** are never stored: a recovered execution that needs them fails.
/// - **Deadlines and cancels** are recorded when they happen: the execution ends `timeout` /
///   `canceled` once its runtime stopped it (a process action: its processes are gone), at
///   most one second later even when the action ignores its cancel token; such an action
///   keeps its worker slot until it returns or the cancel grace
///   ([`EngineBuilder::cancel_grace`]) passes and it is dropped.
/// - **Waiting for recovered work**: what `recover` hands on counts as this engine's pending
///   work, so `recover` then [`settle`](Engine::settle) returns once it has all ended.
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

/// The leadership flags of the timers, the sensors and the policies
/// (`EngineBuilder::singletons`, `policies_leader`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Leaders {
    pub timers: Option<tokio::sync::watch::Receiver<bool>>,
    pub sensors: Option<tokio::sync::watch::Receiver<bool>>,
    /// The policies' leadership (`policy/cluster.rs`): none, this engine decides alone.
    pub policies: Option<tokio::sync::watch::Receiver<bool>>,
}

/// State shared by the API and the stages.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub transport: Arc<dyn Transport>,
    /// The store writes the work-queue messages of its state changes itself
    /// ([`Store::outbox`]): the stages do not publish `Events`, `Requested`, `Scheduled` and
    /// `Finished` messages after their writes.
    pub outbox: bool,
    pub runtimes: HashMap<String, Arc<dyn Runtime>>,
    pub native: Arc<NativeRuntime>,
    pub catalog: Catalog,
    pub templates: Templates,
    pub sandbox: Sandbox,
    pub clock: Arc<dyn Clock>,
    pub config: EngineConfig,
    pub logs: broadcast::Sender<LogLine>,
    /// The `announcement` runtime, whose announcements hosts subscribe to.
    pub announcements: Arc<crate::runtime::AnnouncementRuntime>,
    /// Held while definitions change with checks against others (packs installed or
    /// unloaded, rules registered, actions removed), so that two changes never check
    /// against a state the other is replacing.
    pub definitions: tokio::sync::Mutex<()>,
    /// The store's definitions generation the catalog is in line with
    /// (`followed_definitions`; `UNSEEN` before one was read).
    pub definitions_seen: std::sync::atomic::AtomicU64,
    /// An empty secret list, shared (most runs have no secrets: no allocation for them).
    pub no_secrets: Arc<[String]>,
    /// Validated params with secret values, of executions created here and not run yet.
    pub secrets: Mutex<HashMap<ExecutionId, Map<String, Value>>>,
    /// The params (none secret) of executions the matching stage created here, on a store
    /// this engine does not share, until they run: their claim then needs no copy from the
    /// store ([`Store::claim_executions_holding_params`]). Forgotten when the run starts,
    /// when the claim does not get the execution, or when it ends; at most
    /// `matching::HELD_PARAMS_MAX` (a longer backlog's params come from the store).
    ///
    /// [`Store::claim_executions_holding_params`]: crate::store::Store::claim_executions_holding_params
    pub held_params: Mutex<HashMap<ExecutionId, Map<String, Value>>>,
    /// Values to mask in the outputs of executions created here that are not secret params
    /// or pack secrets: encrypted keys a rule decrypted into their params. Kept until the
    /// execution ends.
    pub masks: Mutex<HashMap<ExecutionId, Arc<[String]>>>,
    /// Cancellation tokens of executions running in this process.
    pub running: Mutex<HashMap<ExecutionId, CancellationToken>>,
    /// The workflow runtime (also in `runtimes`, as `workflow`).
    pub workflows: Option<Arc<workflow_runtime::WorkflowRuntime>>,
    /// Executions whose end a workflow run waits for, and where to tell it.
    pub children: Mutex<
        HashMap<ExecutionId, tokio::sync::mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>>,
    >,
    /// Events emitted and waiting to be persisted together (a durable store).
    pub emitting: combine::Combiner<emit::Emitted>,
    /// While false, timers (sensors) do not run here (see `singletons.rs`); none: always.
    pub singletons: Leaders,
    /// The parts of the pipeline this engine runs (`stage::start`).
    pub roles: roles::Roles,
    /// Executions created directly and waiting to be inserted together (a durable store).
    pub creating: combine::Combiner<executions::Creating>,
    /// Outcomes of runs waiting to be persisted together.
    pub finishing: combine::Combiner<running::Finish>,
    /// The running stage's slots, once it started (the work role): the matching stage
    /// starts what it may run at once with them ([`running::claim_at_creation`]).
    pub slots: std::sync::OnceLock<Arc<running::Slots>>,
    pub accepting: AtomicBool,
    /// Events not matched yet and executions not finished yet, created by this engine.
    pub pending: pending::Pending,
    /// Set when the shutdown deadline passed: the running stage starts nothing more.
    pub stop_starting: AtomicBool,
    pub stop: CancellationToken,
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The concurrency and rate-limit gate, and executions waiting for a time.
    pub gate: policy::PolicyGate,
    /// The key of the key-value store's encrypted values (replaced by a rotation).
    pub encryption: std::sync::RwLock<Option<Arc<crate::keystore::EncryptionKey>>>,
    /// The sensor runtimes and what the engine shows of its sensors.
    pub sensors: sensors::SensorHub,
}

impl Shared {
    /// The key of the key-value store's encrypted values, if the engine has one.
    pub(crate) fn cipher(&self) -> Option<Arc<crate::keystore::EncryptionKey>> {
        self.encryption
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Hands on the work-queue messages of a state change this engine just wrote to the
    /// store: published on the transport, unless the store's outbox wrote them with the
    /// change. (Re-announcements of what the store holds, by the recovery sweep, always
    /// publish.)
    pub(crate) async fn hand_on(&self, topic: Topic, msgs: &[Message]) -> crate::Result<()> {
        if self.outbox {
            return Ok(());
        }
        self.publish(topic, msgs).await
    }

    /// Publishes on the transport: at once, without the boxed future of `publish`, when the
    /// transport can take the messages so ([`Transport::try_publish`]); else through
    /// `publish` (which may wait for room), with a copy of them.
    pub(crate) async fn publish(&self, topic: Topic, msgs: &[Message]) -> crate::Result<()> {
        match self.transport.try_publish(topic, msgs) {
            Some(done) => done,
            None => self.transport.publish(topic, msgs.to_vec()).await,
        }
    }

    pub(crate) async fn publish_status(
        &self,
        changes: impl IntoIterator<Item = (ExecutionId, ExecutionStatus)>,
    ) {
        let msgs = Gathered::of(
            changes
                .into_iter()
                .map(|(execution, status)| Message::Status(StatusChange { execution, status })),
        );
        if msgs.as_slice().is_empty() {
            return;
        }
        if let Err(e) = self.publish(Topic::Status, msgs.as_slice()).await {
            tracing::warn!(error = %e, "status notification not published");
        }
    }

    /// A claim by this worker starting now, with the configured lease.
    pub(crate) fn claim(&self) -> crate::store::Claim {
        let now = self.now();
        crate::store::Claim {
            worker: self.config.worker_id.clone(),
            now,
            lease_until: crate::clock::saturating_add(now, self.config.lease),
        }
    }

    pub(crate) fn lock_held_params(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, Map<String, Value>>> {
        self.held_params.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_secrets(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, Map<String, Value>>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_masks(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, Arc<[String]>>> {
        self.masks.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_children(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        HashMap<ExecutionId, tokio::sync::mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>>,
    > {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_running(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells every run of this process to stop (its cancel token), without recording
    /// anything; returns how many are running. On a durable store a workflow run sitting
    /// paused is left alone and not counted: it stays paused in the store.
    pub(crate) fn stop_runs_here(&self) -> usize {
        let durable = self.store.capabilities().durable;
        let running = self.lock_running();
        let mut n = 0;
        for (id, token) in running.iter() {
            let idle = durable
                && self
                    .workflows
                    .as_ref()
                    .and_then(|w| w.control(*id))
                    .is_some_and(|c| c.idle());
            if !idle {
                token.cancel();
                n += 1;
            }
        }
        n
    }
}

/// Messages gathered for one publish, with no vector for a single one.
pub(crate) enum Gathered {
    /// One message.
    One([Message; 1]),
    /// Any other number.
    Many(Vec<Message>),
}

impl Gathered {
    /// The messages `msgs` yields.
    pub(crate) fn of(msgs: impl IntoIterator<Item = Message>) -> Self {
        let mut msgs = msgs.into_iter();
        let Some(first) = msgs.next() else {
            return Gathered::Many(Vec::new());
        };
        match msgs.next() {
            None => Gathered::One([first]),
            Some(second) => Gathered::Many([first, second].into_iter().chain(msgs).collect()),
        }
    }

    /// The messages, in their order.
    pub(crate) fn as_slice(&self) -> &[Message] {
        match self {
            Gathered::One(m) => m,
            Gathered::Many(v) => v,
        }
    }
}
