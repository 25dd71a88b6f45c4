//! The sensor task: runs the sensors whose trigger types an enabled rule uses, each
//! supervised (restarted with backoff, given up after too many fast failures), and stops
//! them when no rule uses them any more, their pack goes, or the engine stops.

use super::{Engine, Shared};
use crate::model::{Definition, Sensor};
use crate::sensor::dispatch::Counters;
use crate::sensor::{
    Dispatch, NativeSensors, SensorRun, SensorRuntime, SensorState, SensorStatus, Supervision,
    TriggerInstance,
};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The sensors of one engine: their runtimes, and what the engine shows of each.
pub(crate) struct SensorHub {
    pub runtimes: HashMap<String, Arc<dyn SensorRuntime>>,
    pub native: Arc<NativeSensors>,
    pub supervision: Supervision,
    /// The state of every sensor the task has seen.
    shown: Mutex<HashMap<String, Shown>>,
    /// Fires to stop every sensor (the engine's shutdown, before it drains).
    pub stop: CancellationToken,
    /// The task, awaited by the shutdown.
    pub task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SensorHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensorHub")
            .field("runtimes", &self.runtimes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What is shown of one sensor, besides its definition.
#[derive(Clone)]
struct Shown {
    state: SensorState,
    starts: u64,
    started_at: Option<DateTime<Utc>>,
    last_end: Option<String>,
    counters: Arc<Counters>,
}

impl Default for Shown {
    fn default() -> Self {
        Shown {
            state: SensorState::Idle,
            starts: 0,
            started_at: None,
            last_end: None,
            counters: Arc::new(Counters::default()),
        }
    }
}

impl SensorHub {
    pub(crate) fn new(
        runtimes: HashMap<String, Arc<dyn SensorRuntime>>,
        native: Arc<NativeSensors>,
        supervision: Supervision,
        stop: CancellationToken,
    ) -> Self {
        SensorHub {
            runtimes,
            native,
            supervision,
            shown: Mutex::new(HashMap::new()),
            stop,
            task: Mutex::new(None),
        }
    }

    fn update(&self, sensor: &str, f: impl FnOnce(&mut Shown)) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        f(shown.entry(sensor.to_string()).or_default());
    }

    fn counters(&self, sensor: &str) -> Arc<Counters> {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        shown
            .entry(sensor.to_string())
            .or_default()
            .counters
            .clone()
    }

    /// Stops every sensor and waits for them (the shutdown's first step).
    pub(crate) async fn stop_all(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut task) = task {
            let grace = self.supervision.grace + Duration::from_secs(2);
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// The status of every sensor of the catalog (`used`: whether a rule uses it).
    pub(crate) fn statuses(
        &self,
        sensors: &[Arc<Sensor>],
        used: impl Fn(&Sensor) -> bool,
    ) -> Vec<SensorStatus> {
        let shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        sensors
            .iter()
            .map(|s| {
                let x = shown.get(&s.sensor_ref).cloned().unwrap_or_default();
                SensorStatus {
                    sensor_ref: s.sensor_ref.clone(),
                    runner: s.runner.clone(),
                    trigger_types: s.trigger_types.clone(),
                    state: x.state,
                    used_by_rules: used(s),
                    starts: x.starts,
                    started_at: x.started_at,
                    last_end: x.last_end,
                    stderr_tail: x.counters.stderr_tail(),
                    events: x.counters.events.load(Ordering::Relaxed),
                    rejected: x.counters.rejected.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

/// One sensor the task runs.
struct Supervised {
    def: Arc<Sensor>,
    /// Its pack's config when it started: a pack installed again (its code or config may
    /// have changed) has a new one, and the sensor starts again.
    config: Option<Arc<Value>>,
    triggers: watch::Sender<Arc<[TriggerInstance]>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// Whether it gave up (kept, not restarted, until its definition or triggers change).
    gave_up: Arc<std::sync::atomic::AtomicBool>,
}

/// The task (see the module's doc); ends when `term` is canceled (the engine stops, or its
/// leadership of the sensors ends), after its sensors.
pub(crate) async fn run(shared: Arc<Shared>, term: CancellationToken) {
    let hub = &shared.sensors;
    let mut changes = shared.catalog.changes();
    let mut running: HashMap<String, Supervised> = HashMap::new();
    loop {
        follow(&shared, &mut running, &term).await;
        tokio::select! {
            () = term.cancelled() => break,
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    stop_all(hub, running.into_values().collect()).await;
}

/// Stops sensors and waits for them (each runtime stops its sensor within the grace; one
/// that does not is dropped a second after).
async fn stop_all(hub: &SensorHub, list: Vec<Supervised>) {
    let grace = hub.supervision.grace + Duration::from_secs(1);
    let waits = list.into_iter().map(|s| {
        s.stop.cancel();
        let mut task = s.task;
        async move {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        }
    });
    futures::future::join_all(waits).await;
}

/// The config `Arc` of the pack of `def`, if it has a registered pack.
fn pack_config(shared: &Shared, def: &Sensor) -> Option<Arc<Value>> {
    shared.catalog.pack_entry(def.pack()).map(|e| e.config)
}

/// Starts, updates and stops sensors to match the catalog. What stops is stopped before
/// what starts (a changed sensor's new copy never runs beside the old one).
async fn follow(
    shared: &Arc<Shared>,
    running: &mut HashMap<String, Supervised>,
    term: &CancellationToken,
) {
    let hub = &shared.sensors;
    let sensors = shared.catalog.sensors();
    if sensors.is_empty() && running.is_empty() {
        return;
    }
    let instances = shared.catalog.trigger_instances(|_| true);
    let mut to_stop = Vec::new();
    let mut to_start = Vec::new();
    // Shown once what stops has stopped (its task can no longer write its own state).
    let mut states = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for def in sensors {
        seen.insert(def.sensor_ref.clone());
        let triggers: Vec<TriggerInstance> = def
            .trigger_types
            .iter()
            .flat_map(|t| {
                instances
                    .get(crate::pack::canonical_trigger(t))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let runtime = hub.runtimes.get(&def.runner).cloned();
        let state = if !def.enabled {
            Some(SensorState::Disabled)
        } else if triggers.is_empty() {
            Some(SensorState::Idle)
        } else if runtime.is_none() {
            Some(SensorState::NoRuntime)
        } else {
            None
        };
        if let Some(state) = state {
            if let Some(s) = running.remove(&def.sensor_ref) {
                to_stop.push(s);
            }
            if state == SensorState::NoRuntime {
                tracing::warn!(sensor = %def.sensor_ref, runner = %def.runner,
                    "sensor not started: no sensor runtime of its runner is registered");
            }
            states.push((def.sensor_ref.clone(), state));
            continue;
        }
        let triggers: Arc<[TriggerInstance]> = triggers.into();
        let config = pack_config(shared, &def);
        if let Some(s) = running.get(&def.sensor_ref) {
            let same_pack = match (&s.config, &config) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            let same_triggers = *s.triggers.borrow() == triggers;
            if s.def == def && same_pack {
                if same_triggers {
                    continue;
                }
                if !s.gave_up.load(Ordering::Relaxed) {
                    s.triggers.send_replace(triggers);
                    continue;
                }
                // Given up: the rules changed, so it gets a new chance.
            }
            if let Some(s) = running.remove(&def.sensor_ref) {
                to_stop.push(s);
            }
        }
        let runtime = runtime.expect("checked above");
        to_start.push((def, config, triggers, runtime));
    }
    // Sensors whose definition is gone (pack unloaded).
    let gone: Vec<String> = running
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    for k in gone {
        if let Some(s) = running.remove(&k) {
            to_stop.push(s);
        }
        hub.shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&k);
    }
    stop_all(hub, to_stop).await;
    for (sensor, state) in states {
        hub.update(&sensor, |x| x.state = state);
    }
    for (def, config, triggers, runtime) in to_start {
        let (tx, rx) = watch::channel(triggers);
        let stop = term.child_token();
        let gave_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn(supervise(
            shared.clone(),
            def.clone(),
            runtime,
            rx,
            stop.clone(),
            gave_up.clone(),
        ));
        running.insert(
            def.sensor_ref.clone(),
            Supervised {
                def,
                config,
                triggers: tx,
                stop,
                task,
                gave_up,
            },
        );
    }
}

/// Runs one sensor again and again while it is wanted (see [`Supervision`]).
async fn supervise(
    shared: Arc<Shared>,
    def: Arc<Sensor>,
    runtime: Arc<dyn SensorRuntime>,
    triggers: watch::Receiver<Arc<[TriggerInstance]>>,
    stop: CancellationToken,
    gave_up: Arc<std::sync::atomic::AtomicBool>,
) {
    let hub = &shared.sensors;
    let policy = hub.supervision;
    let name = def.sensor_ref.clone();
    let counters = hub.counters(&name);
    let mut backoff = policy.backoff;
    let mut fast_failures = 0u32;
    loop {
        let run = run_of(
            &shared,
            &def,
            triggers.clone(),
            &counters,
            stop.child_token(),
        );
        let started = tokio::time::Instant::now();
        hub.update(&name, |x| {
            x.state = SensorState::Running;
            x.starts += 1;
            x.started_at = Some(shared.now());
        });
        tracing::info!(sensor = %name, runner = %def.runner, "sensor started");
        let ended = runtime.run(run).await;
        if stop.is_cancelled() {
            tracing::info!(sensor = %name, "sensor stopped");
            return;
        }
        let end = match &ended {
            Ok(()) => "ended by itself".to_string(),
            // The runtime's own words ("sensor '…' exited with code 3").
            Err(Error::Action(why)) => why.clone(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(sensor = %name, end = %end, "sensor ended");
        if started.elapsed() < policy.fast {
            fast_failures += 1;
        } else {
            fast_failures = 1;
            backoff = policy.backoff;
        }
        if stop.is_cancelled() {
            return;
        }
        if fast_failures >= policy.give_up_after {
            tracing::error!(sensor = %name, failures = fast_failures,
                "sensor given up: it ended too soon too many times in a row");
            gave_up.store(true, Ordering::Relaxed);
            hub.update(&name, |x| {
                x.state = SensorState::GaveUp;
                x.last_end = Some(end);
            });
            return;
        }
        let until = shared.now() + chrono::Duration::from_std(backoff).unwrap_or_default();
        hub.update(&name, |x| {
            x.state = SensorState::Backoff { until };
            x.last_end = Some(end);
        });
        if !super::pause::pause(&stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

/// What a runtime gets for one run of `def`.
fn run_of(
    shared: &Arc<Shared>,
    def: &Arc<Sensor>,
    triggers: watch::Receiver<Arc<[TriggerInstance]>>,
    counters: &Arc<Counters>,
    stop: CancellationToken,
) -> SensorRun {
    let pack = def.pack();
    let entry = shared.catalog.pack_entry(pack);
    let secrets = entry
        .as_ref()
        .map_or_else(|| shared.no_secrets.clone(), |e| e.secrets.clone());
    let keys: Arc<dyn crate::runtime::KeyAccess> = Arc::new(
        crate::runtime::StoreKeyAccess::new(
            shared.store.clone(),
            shared.clock.clone(),
            pack,
            None,
            format!("sensor '{}'", def.sensor_ref),
        )
        .with_encryption(shared.cipher())
        .with_watch(Arc::new(super::system_triggers::EngineKeyWatch(
            shared.clone(),
        ))),
    );
    SensorRun {
        sensor: def.clone(),
        pack_dir: entry.as_ref().and_then(|e| e.real.path.clone()),
        config: entry.as_ref().map(|e| e.config.clone()),
        secrets: secrets.clone(),
        keys: Some(keys),
        triggers,
        dispatch: Dispatch::new(
            Engine::internal(shared.clone()),
            def.sensor_ref.as_str().into(),
            counters.clone(),
            secrets,
        ),
        stop,
    }
}

/// # Sensors
///
/// Long-running producers of events (see [`crate::sensor`]): registered from packs or from
/// code, run while an enabled rule uses one of their trigger types.
impl Engine {
    /// Every sensor with its state, starts, last end, last stderr lines and counts, by ref.
    pub fn sensors(&self) -> Vec<SensorStatus> {
        let s = &self.shared;
        s.sensors.statuses(&s.catalog.sensors(), |x| {
            x.trigger_types.iter().any(|t| {
                s.catalog
                    .rules_for(crate::pack::canonical_trigger(t))
                    .is_some()
            })
        })
    }

    /// Registers (or replaces) a sensor; its pack is created bare if missing. Its trigger
    /// types must exist; when a sensor runtime of its runner is registered, that runtime
    /// checks it (a native sensor needs its stream registered first). A sensor whose runner
    /// has no runtime registers, and shows as
    /// [`SensorState::NoRuntime`](crate::sensor::SensorState::NoRuntime).
    pub async fn register_sensor(&self, sensor: Sensor) -> Result<()> {
        crate::model::validate_ref("sensor", &sensor.sensor_ref)?;
        let what = format!("sensor '{}'", sensor.sensor_ref);
        if sensor.trigger_types.is_empty() {
            return Err(Error::invalid(
                &what,
                "it emits no trigger type ('trigger_types')",
            ));
        }
        for t in &sensor.trigger_types {
            if self
                .shared
                .catalog
                .trigger(crate::pack::canonical_trigger(t))
                .is_none()
            {
                return Err(Error::invalid(
                    &what,
                    format!("trigger type '{t}' does not exist"),
                ));
            }
        }
        if let Some(rt) = self.shared.sensors.runtimes.get(&sensor.runner) {
            rt.validate_sensor(&sensor)?;
        }
        // Held across the write and the catalog's change (see `Engine::register_pack`).
        let _changing = self.shared.definitions.lock().await;
        self.ensure_pack(sensor.sensor_ref.split('.').next().unwrap_or_default())
            .await?;
        self.shared
            .store
            .put_definition(Definition::Sensor(sensor.clone()))
            .await?;
        self.shared.catalog.put_sensor(sensor);
        Ok(())
    }

    /// Registers a native sensor: `sensor` (its runner set to `native`) and the function
    /// that makes its stream of events each time it starts. The stream runs while an
    /// enabled rule uses one of its trigger types; when it ends, the engine calls the
    /// function again after a backoff (see [`Supervision`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::prelude::*;
    /// use attune_core::model::Sensor;
    /// use attune_core::sensor::SensorEvent;
    /// use futures::StreamExt;
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.register_trigger_type(TriggerType::new("shop.tick")).await?;
    /// engine
    ///     .register_stream_sensor(
    ///         Sensor::new("shop.ticker", "native").trigger_types(["shop.tick"]),
    ///         |_run| futures::stream::iter([SensorEvent::new("shop.tick", serde_json::json!({"n": 1}))]).boxed(),
    ///     )
    ///     .await?;
    /// // Nothing runs it until a rule uses `shop.tick`.
    /// assert_eq!(engine.sensors()[0].state, attune_core::sensor::SensorState::Idle);
    /// # engine.shutdown(std::time::Duration::from_secs(1)).await;
    /// # Ok(()) }
    /// ```
    pub async fn register_stream_sensor<F>(&self, mut sensor: Sensor, f: F) -> Result<()>
    where
        F: Fn(&SensorRun) -> crate::sensor::SensorStream + Send + Sync + 'static,
    {
        sensor.runner = "native".into();
        self.shared
            .sensors
            .native
            .register(sensor.sensor_ref.clone(), f);
        self.register_sensor(sensor).await
    }

    /// Removes a sensor (stopping it if it runs); returns whether it existed.
    pub async fn remove_sensor(&self, sensor_ref: &str) -> Result<bool> {
        let _changing = self.shared.definitions.lock().await;
        let existed = self
            .shared
            .store
            .delete_definition(crate::model::DefinitionKind::Sensor, sensor_ref)
            .await?;
        Ok(self.shared.catalog.remove_sensor(sensor_ref).is_some() || existed)
    }
}
