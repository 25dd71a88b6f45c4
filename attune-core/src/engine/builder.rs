//! [`EngineBuilder`].

use super::catalog::{Catalog, PackEntry};
use super::config::{EngineConfig, Retention};
use super::{Engine, Shared};
use crate::clock::{Clock, SystemClock};
use crate::model::{Definition, DefinitionKind};
use crate::runtime::{NativeRuntime, NoopRuntime, RhaiRuntime, Runtime};
use crate::sandbox::{Sandbox, ScriptLimits};
use crate::store::{MemoryStore, Store};
use crate::template::Templates;
use crate::transport::{LocalTransport, Transport};
use crate::{Error, Result};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Builds an [`Engine`]. Every setting has a default; `build()` validates them.
pub struct EngineBuilder {
    store: Option<Arc<dyn Store>>,
    transport: Option<Arc<dyn Transport>>,
    runtimes: Vec<Arc<dyn Runtime>>,
    sensor_runtimes: Vec<Arc<dyn crate::sensor::SensorRuntime>>,
    supervision: crate::sensor::Supervision,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    encryption: Option<crate::keystore::EncryptionKey>,
    singletons: super::Leaders,
    roles: super::roles::Roles,
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineBuilder {
    /// The defaults (see [`Engine::builder`]).
    pub fn new() -> Self {
        EngineBuilder {
            store: None,
            transport: None,
            runtimes: Vec::new(),
            sensor_runtimes: Vec::new(),
            supervision: Default::default(),
            clock: Arc::new(SystemClock),
            config: EngineConfig::default(),
            encryption: None,
            singletons: super::Leaders::default(),
            roles: super::roles::Roles::ALL,
        }
    }

    /// The store (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The transport (default: a new [`LocalTransport`]).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Adds a runtime (a plugin, `shell`, `python`, ...); it replaces a built-in one of the
    /// same name.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtimes.push(runtime);
        self
    }

    /// Adds a sensor runtime (`shell`, `python`, a plugin); it replaces a built-in one of
    /// the same name. Sensors whose runner has none are shown as
    /// [`SensorState::NoRuntime`](crate::sensor::SensorState::NoRuntime) and do not run.
    pub fn sensor_runtime(mut self, runtime: Arc<dyn crate::sensor::SensorRuntime>) -> Self {
        self.sensor_runtimes.push(runtime);
        self
    }

    /// How sensors are restarted and given up (default: [`Supervision::default`]).
    ///
    /// [`Supervision::default`]: crate::sensor::Supervision
    pub fn sensor_supervision(mut self, supervision: crate::sensor::Supervision) -> Self {
        self.supervision = supervision;
        self
    }

    /// Runs the timers and the sensors only while `leader` holds `true`: for engines that
    /// share a store, where one of them at a time should fire each timer and run each sensor
    /// (attune-store-postgres's `PgLeader` keeps such a flag, held by one process of the
    /// cluster). Each time it turns true, timers continue from their last stored fire (as
    /// after a restart: fires missed meanwhile come as one event, or each with `catch_up`)
    /// and sensors start; when it turns false, or its sender is dropped, they stop. Without
    /// it, this engine always runs them.
    pub fn singletons(mut self, leader: tokio::sync::watch::Receiver<bool>) -> Self {
        self.singletons.timers = Some(leader.clone());
        self.singletons.sensors = Some(leader);
        self
    }

    /// Makes the concurrency and rate-limit policies hold across the engines of a shared
    /// store: only the engine whose `leader` flag holds decides for actions with such
    /// policies; the others leave their requests `delayed` for it, and it adopts them
    /// (every 250 ms) and frees the slots of what ended elsewhere. Without it, each engine
    /// applies the policies to what it schedules, alone. (attune-store-postgres's
    /// `PgLeader` keeps such a flag.)
    pub fn policies_leader(mut self, leader: tokio::sync::watch::Receiver<bool>) -> Self {
        self.singletons.policies = Some(leader);
        self
    }

    /// As [`EngineBuilder::singletons`], for the timers only: when processes with the
    /// `Timers` role and processes with the `Sensors` role differ, each kind needs a
    /// leadership of its own.
    pub fn timers_leader(mut self, leader: tokio::sync::watch::Receiver<bool>) -> Self {
        self.singletons.timers = Some(leader);
        self
    }

    /// As [`EngineBuilder::singletons`], for the sensors only.
    pub fn sensors_leader(mut self, leader: tokio::sync::watch::Receiver<bool>) -> Self {
        self.singletons.sensors = Some(leader);
        self
    }

    /// Runs only these parts of the pipeline (default: every [`Role`](super::Role)): for
    /// engines that share a store, where each process may take some stages — matching
    /// here, running there. The API (`emit`, `execute`, ...) works whatever the roles: what
    /// it writes is taken by the engines that have the role. `Timers` and `Sensors` also
    /// follow [`EngineBuilder::singletons`]. Roles other than all need a store several
    /// processes share (a `build` with fewer on another store is [`Error::Invalid`]:
    /// nothing would take the other stages' work).
    pub fn roles(mut self, roles: impl IntoIterator<Item = super::Role>) -> Self {
        self.roles = super::roles::Roles::of(roles);
        self
    }

    /// How many executions this process runs at once (default 1024); more wait in
    /// `scheduled`, in order.
    pub fn worker_slots(mut self, slots: usize) -> Self {
        self.config.worker_slots = slots;
        self
    }

    /// How long finished work is kept (default: forever).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// The key under which the key-value store's values are encrypted
    /// ([`KeyOptions::encrypt`](crate::keystore::KeyOptions::encrypt)) and decrypted. It is
    /// never stored: give the same key to every engine on the store, and to each after a
    /// restart. Without one, encrypting is refused and encrypted values cannot be read.
    pub fn encryption_key(mut self, key: crate::keystore::EncryptionKey) -> Self {
        self.encryption = Some(key);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Timeout of actions that declare none (default 600 s; `None`: no timeout).
    pub fn default_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.default_timeout = timeout;
        self
    }

    /// Largest accepted event payload, serialized (default 4 MiB).
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.config.max_payload_bytes = bytes;
        self
    }

    /// How long a canceled or timed-out runtime gets to return (default 10 s).
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    /// The claim lease of running executions (default 60 s).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// This worker's id (default: a fresh uuid).
    pub fn worker_id(mut self, id: impl Into<crate::model::Name>) -> Self {
        self.config.worker_id = id.into();
        self
    }

    /// Messages each stage takes per batch (default 512).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n;
        self
    }

    /// How often the recovery sweep looks for work no message carries any more: executions
    /// `requested` or `scheduled` and idle that long are handed to their stage again, and
    /// executions whose lease expired are ended `abandoned` (default 30 s).
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.config.sweep_every = every;
        self
    }

    /// Retries work that was running when its engine died (ended `abandoned` once its
    /// lease expired) as a new execution, up to `max_attempts` attempts in all, for every
    /// action — only for engines whose actions can safely run twice. Off by default; a
    /// retry policy with `on_abandoned` does the same for one action. A retry policy of the
    /// action gives the delay. 0 or 1 turns it off.
    pub fn retry_abandoned(mut self, max_attempts: u32) -> Self {
        self.config.retry_abandoned = (max_attempts > 1).then_some(max_attempts);
        self
    }

    /// The user that rules' executions run as (StackStorm's `system_user`, `stanley` in its
    /// default configuration): their `user` key scope, and `st2kv.user.NAME` in rule
    /// templates. Without one, rule-made executions have no user and reading the user scope
    /// is an error saying so. An empty name is refused by [`EngineBuilder::build`].
    pub fn system_user(mut self, name: impl Into<crate::model::Name>) -> Self {
        self.config.system_user = Some(name.into());
        self
    }

    /// Validates the settings, loads the definitions already in the store, starts the
    /// stages on the current tokio runtime and returns the engine.
    pub async fn build(self) -> Result<Engine> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Unsupported(
                "Engine::build must run inside a tokio runtime (the stages are tokio tasks)".into(),
            ));
        }
        let c = &self.config;
        if c.worker_slots == 0 {
            return Err(Error::invalid(
                "engine settings",
                "worker_slots must be at least 1",
            ));
        }
        if c.batch_size == 0 {
            return Err(Error::invalid(
                "engine settings",
                "batch_size must be at least 1",
            ));
        }
        if c.sweep_every.is_zero() {
            return Err(Error::invalid(
                "engine settings",
                "sweep_every must be longer than zero",
            ));
        }
        if c.lease.is_zero() {
            return Err(Error::invalid(
                "engine settings",
                "lease must be longer than zero",
            ));
        }
        if let Some(u) = &c.system_user {
            super::executions::check_user("engine settings: system_user", u)?;
        }
        if c.retention.keep_executions == Some(0) {
            return Err(Error::invalid(
                "engine settings",
                "retention must keep at least one execution",
            ));
        }
        let native = Arc::new(NativeRuntime::new());
        let mut runtimes: HashMap<String, Arc<dyn Runtime>> = HashMap::new();
        runtimes.insert("native".into(), native.clone());
        runtimes.insert("rhai".into(), Arc::new(RhaiRuntime::default()));
        runtimes.insert("noop".into(), Arc::new(NoopRuntime));
        let announcements = Arc::new(crate::runtime::AnnouncementRuntime::default());
        runtimes.insert("announcement".into(), announcements.clone());
        runtimes.insert("inquirer".into(), Arc::new(crate::runtime::InquirerRuntime));
        #[cfg(feature = "http")]
        runtimes.insert("http".into(), Arc::new(crate::runtime::HttpRuntime::new()?));
        crate::pack::install_core_handlers(&native);
        let workflows = Arc::new(super::workflow_runtime::WorkflowRuntime::default());
        runtimes.insert(crate::model::WORKFLOW_RUNNER.into(), workflows.clone());
        for r in self.runtimes {
            runtimes.insert(r.name().to_string(), r);
        }
        let native_sensors = Arc::new(crate::sensor::NativeSensors::default());
        let mut sensor_runtimes: HashMap<String, Arc<dyn crate::sensor::SensorRuntime>> =
            HashMap::new();
        sensor_runtimes.insert("native".into(), native_sensors.clone());
        for r in self.sensor_runtimes {
            sensor_runtimes.insert(r.name().to_string(), r);
        }
        let store: Arc<dyn Store> = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let transport: Arc<dyn Transport> = self
            .transport
            .unwrap_or_else(|| Arc::new(LocalTransport::new()));
        let outbox = outbox_of(store.as_ref(), transport.as_ref())?;
        for (flag, role, what) in [
            (
                self.singletons.timers.is_some(),
                super::Role::Timers,
                "timers",
            ),
            (
                self.singletons.sensors.is_some(),
                super::Role::Sensors,
                "sensors",
            ),
            (
                self.singletons.policies.is_some(),
                super::Role::Schedule,
                "policies",
            ),
        ] {
            if flag && !self.roles.has(role) {
                return Err(Error::invalid(
                    "engine settings",
                    format!(
                        "a leadership flag for the {what} needs the role '{role}': an engine \
                         that won it would leave the {what} to nobody"
                    ),
                ));
            }
        }
        if self.roles != super::roles::Roles::ALL && !store.capabilities().shared {
            return Err(Error::invalid(
                "engine settings",
                "roles other than all need a store several processes share: on this store \
                 nothing would take the work of the stages left out",
            ));
        }
        let gate = if self.singletons.policies.is_some() {
            super::policy::PolicyGate::following()
        } else {
            Default::default()
        };
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            store,
            transport,
            outbox,
            runtimes,
            native,
            catalog: Catalog::default(),
            templates: Templates::new(),
            sandbox: Sandbox::new(ScriptLimits::EXPRESSION),
            clock: self.clock,
            config: self.config,
            logs: broadcast::channel(4096).0,
            announcements,
            definitions: tokio::sync::Mutex::new(()),
            definitions_seen: super::followed_definitions::UNSEEN.into(),
            no_secrets: Arc::from(Vec::new()),
            secrets: Mutex::new(HashMap::new()),
            held_params: Mutex::new(HashMap::new()),
            masks: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            workflows: Some(workflows.clone()),
            children: Mutex::new(HashMap::new()),
            emitting: Default::default(),
            singletons: self.singletons,
            roles: self.roles,
            creating: Default::default(),
            finishing: Default::default(),
            slots: Default::default(),
            accepting: AtomicBool::new(true),
            pending: Default::default(),
            stop_starting: AtomicBool::new(false),
            sensors: super::sensors::SensorHub::new(
                sensor_runtimes,
                native_sensors,
                self.supervision,
                stop.child_token(),
            ),
            stop,
            tasks: Mutex::new(Vec::new()),
            gate,
            encryption: std::sync::RwLock::new(self.encryption.map(Arc::new)),
        });
        workflows.attach(&shared);
        let engine = Engine::internal(shared);
        // Read before loading: a change made meanwhile shows as a newer generation.
        let generation = engine.shared.store.definitions_generation().await?;
        engine.load_from_store().await?;
        super::followed_definitions::mark_loaded(&engine.shared, generation);
        // The core pack is code: installed afresh in every engine.
        engine.install_pack(engine.builtin_core()).await?;
        super::stage::start(&engine.shared).await?;
        // Policies read from the store gate from the start (what waits is handed on by
        // `recover`, as work that never started is).
        for action in engine.shared.catalog.policy_actions() {
            super::policy::rebuild(&engine.shared, &action, false).await?;
        }
        Ok(engine.owned())
    }
}

/// The order in which stored definitions are loaded: what a kind refers to comes first.
pub(super) const LOAD_ORDER: [DefinitionKind; 6] = [
    DefinitionKind::Pack,
    DefinitionKind::TriggerType,
    DefinitionKind::Action,
    DefinitionKind::Rule,
    DefinitionKind::Policy,
    DefinitionKind::Sensor,
];

impl Engine {
    /// The built-in core pack with the actions whose runtime this engine has.
    pub(super) fn builtin_core(&self) -> crate::pack::PackBundle {
        let mut core = crate::pack::core_pack();
        core.actions
            .retain(|a| self.shared.runtimes.contains_key(&a.def.runner));
        core
    }

    /// Loads the definitions a durable store already holds into the catalog. Rules and
    /// trigger types (schemas) that no longer compile are skipped with a warning (they stay
    /// in the store).
    async fn load_from_store(&self) -> Result<()> {
        let store = &self.shared.store;
        for kind in LOAD_ORDER {
            for def in store.list_definitions(kind, None).await? {
                match def {
                    Definition::Pack(p) => {
                        // Secret config values are never stored: packs with secrets are
                        // loaded again from disk (or registered again) to get them back.
                        let schema =
                            crate::pack::param_schema(&p.config_schema).unwrap_or_default();
                        self.shared.catalog.put_pack(PackEntry::new(p, &schema));
                    }
                    Definition::TriggerType(t) => {
                        let trigger_ref = t.trigger_ref.clone();
                        match super::trigger_schema::RegisteredTrigger::compile(t) {
                            Ok(t) => self.shared.catalog.put_trigger(t),
                            Err(e) => {
                                tracing::warn!(trigger = %trigger_ref, error = %e, "stored trigger type skipped")
                            }
                        }
                    }
                    Definition::Action(a) => self.shared.catalog.put_action(a),
                    Definition::Rule(r) => {
                        let rule_ref = r.rule_ref.clone();
                        match self.compile_rule(r) {
                            Ok(c) => {
                                self.shared.catalog.put_rule(Arc::new(c));
                            }
                            Err(e) => {
                                tracing::warn!(rule = %rule_ref, error = %e, "stored rule skipped")
                            }
                        }
                    }
                    Definition::Policy(p) => {
                        self.shared.catalog.put_policy(p);
                    }
                    Definition::Sensor(s) => {
                        self.shared.catalog.put_sensor(s);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether the store writes the work-queue messages itself (its outbox), checked against
/// the transport: a store whose outbox is on needs the transport that delivers it.
fn outbox_of(store: &dyn Store, transport: &dyn Transport) -> Result<bool> {
    let Some(queue) = store.outbox() else {
        return Ok(false);
    };
    if transport.outbox().as_deref() == Some(queue.as_str()) {
        return Ok(true);
    }
    Err(Error::invalid(
        "engine settings",
        format!(
            "the store writes its work-queue messages into its outbox ({queue}), which the \
             transport given does not deliver: give the engine the transport opened on this \
             store"
        ),
    ))
}
