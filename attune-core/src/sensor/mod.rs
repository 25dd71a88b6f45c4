//! Sensors: long-running producers of events, supervised by the engine.
//!
//! A sensor definition ([`Sensor`], from a pack's `sensors/` or
//! registered from code) names the trigger types it emits and the runner that runs it. A
//! [`SensorRuntime`] of that name runs it: [`NativeSensors`] (a `Stream` of events from
//! Rust code, runner `native`), and, in their own crates, process sensors printing JSON
//! lines (`shell`) and StackStorm's Python sensors (`python`).
//!
//! The engine runs a sensor only while an enabled rule uses one of its trigger types, as
//! StackStorm does, and supervises it: a sensor that ends (or fails) is started again after
//! a backoff; one that fails fast too many times in a row is given up, with its status, the
//! reason and its last stderr lines visible in [`Engine::sensors`](crate::Engine::sensors).
//! Unloading its pack or disabling the last rule stops it; so does the engine's shutdown,
//! first of all (no event comes in while work drains).
//!
//! Lines a process sensor writes are read with [`parse_line`], the one copy of the
//! protocol: `{"trigger": …, "payload": …, "trace_tag": …}` dispatches an event,
//! `{"key": {…}}` asks the key-value store ([`answer_key_request`]).
//!
//! [`answer_key_request`]: crate::runtime::answer_key_request

pub(crate) mod dispatch;
mod lines;
mod native;
mod status;

pub use dispatch::Dispatch;
pub use lines::{MAX_LINE_BYTES, SensorLine, parse_line};
pub use native::{NativeSensors, SensorStream};
pub use status::{SensorState, SensorStatus, Supervision};

use crate::Result;
use crate::model::Sensor;
use crate::runtime::KeyAccess;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One event a sensor dispatches.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorEvent {
    /// The trigger type's ref.
    pub trigger: String,
    /// The payload (checked against the trigger type's payload schema).
    pub payload: Value,
    /// StackStorm's `trace_tag`: the sensor's own reference to what it saw, kept on the
    /// event ([`Event::trace_tag`](crate::model::Event::trace_tag)).
    pub trace_tag: Option<String>,
    /// The parameters of the trigger instance it fires (only rules with these trigger
    /// parameters match it); `None`: every rule of the trigger type is considered.
    pub trigger_params: Option<Value>,
}

impl SensorEvent {
    /// An event of `trigger` with `payload`.
    pub fn new(trigger: impl Into<String>, payload: Value) -> Self {
        SensorEvent {
            trigger: trigger.into(),
            payload,
            trace_tag: None,
            trigger_params: None,
        }
    }

    /// Sets the trace tag.
    pub fn trace_tag(mut self, tag: impl Into<String>) -> Self {
        self.trace_tag = Some(tag.into());
        self
    }
}

/// One trigger a sensor serves now: a trigger type it emits with the parameters some
/// enabled rule gives it (StackStorm's `add_trigger` argument). Rules with the same type and
/// parameters share one.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerInstance {
    /// The trigger type's ref.
    pub trigger_type: String,
    /// The rules' trigger parameters (`{}` when none).
    pub parameters: Value,
}

impl TriggerInstance {
    /// The trigger as StackStorm hands it to a sensor: `type`, `ref`, `pack`, `name`,
    /// `parameters` (and `id`, here the same as `uid`: the type and its canonical
    /// parameters).
    pub fn to_json(&self) -> Value {
        let (pack, name) = self
            .trigger_type
            .split_once('.')
            .unwrap_or(("", &self.trigger_type));
        let uid = format!(
            "trigger:{}:{}",
            self.trigger_type,
            crate::rules::canonical_params(&self.parameters)
        );
        json!({
            "id": uid,
            "uid": uid,
            "type": self.trigger_type,
            "ref": self.trigger_type,
            "pack": pack,
            "name": name,
            "parameters": self.parameters,
        })
    }
}

/// Everything a [`SensorRuntime`] gets to run one sensor once.
pub struct SensorRun {
    /// The definition.
    pub sensor: Arc<Sensor>,
    /// The directory of its pack when loaded from disk (entry points are relative to it).
    pub pack_dir: Option<PathBuf>,
    /// The effective config of its pack, with secret values (hand it as actions get it:
    /// never in argv or the environment); `None` when it has no registered pack.
    pub config: Option<Arc<Value>>,
    /// The secret config values of its pack (masked in the lines it writes).
    pub secrets: Arc<[String]>,
    /// The key-value store as the sensor may use it (its pack's keys and the system ones).
    pub keys: Option<Arc<dyn KeyAccess>>,
    /// The triggers it serves now; changes as rules come and go.
    pub triggers: watch::Receiver<Arc<[TriggerInstance]>>,
    /// Where its events, rejected lines and stderr lines go.
    pub dispatch: Dispatch,
    /// Fires when the sensor must stop (no rule uses it any more, its pack was unloaded,
    /// the engine stops).
    pub stop: CancellationToken,
}

impl SensorRun {
    /// The path of the sensor's `entry_point` in its pack's directory: an error naming the
    /// sensor when it has none, its pack was not loaded from disk, or the file is missing.
    pub fn entry_path(&self) -> Result<PathBuf> {
        let what = format!("sensor '{}'", self.sensor.sensor_ref);
        let ep = self
            .sensor
            .entry_point
            .as_deref()
            .ok_or_else(|| crate::Error::invalid(&what, "it has no 'entry_point'"))?;
        let dir = self.pack_dir.as_ref().ok_or_else(|| {
            crate::Error::invalid(&what, "its pack was not loaded from a directory")
        })?;
        let path = dir.join(ep);
        if !path.is_file() {
            return Err(crate::Error::invalid(
                &what,
                format!("entry point '{}' is not a file", path.display()),
            ));
        }
        Ok(path)
    }

    /// The sensor's pack (the first part of its ref).
    pub fn pack(&self) -> &str {
        self.sensor.pack()
    }

    /// The variables naming the sensor in a process sensor's environment:
    /// `ATTUNE_SENSOR`, `ATTUNE_PACK`, and `ATTUNE_PACK_DIR` when it has one.
    pub fn identity_env(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        let mut env = vec![
            (
                "ATTUNE_SENSOR".into(),
                self.sensor.sensor_ref.clone().into(),
            ),
            ("ATTUNE_PACK".into(), self.pack().into()),
        ];
        if let Some(d) = &self.pack_dir {
            env.push(("ATTUNE_PACK_DIR".into(), d.clone().into_os_string()));
        }
        env
    }

    /// What a process sensor gets as its first stdin line besides `triggers`: its ref,
    /// pack, pack directory, the pack's config (secrets included: stdin only), its own
    /// `config` and poll interval.
    pub fn hello(&self) -> Value {
        let s = &self.sensor;
        json!({
            "sensor": s.sensor_ref,
            "pack": self.pack(),
            "pack_dir": self.pack_dir,
            "entry_point": s.entry_point,
            "class_name": s.class_name,
            "poll_interval": s.poll_interval_secs,
            "config": self.config.as_deref().unwrap_or(&Value::Null),
            "sensor_config": s.config,
        })
    }
}

impl Debug for SensorRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensorRun")
            .field("sensor", &self.sensor.sensor_ref)
            .field("pack_dir", &self.pack_dir)
            .finish_non_exhaustive()
    }
}

/// Runs sensors of one runner.
///
/// Held as `Arc<dyn SensorRuntime>` and registered with
/// [`EngineBuilder::sensor_runtime`](crate::EngineBuilder::sensor_runtime) under
/// [`SensorRuntime::name`]; a sensor's `runner` picks it. The contract:
///
/// * `run` runs the sensor until it ends by itself or `run.stop` fires. When `stop` fires,
///   stop it promptly (a process: SIGTERM, then SIGKILL after a grace period; nothing of it
///   left running) and return `Ok`.
/// * Return `Ok(())` when it ended cleanly (exit code 0), `Err` with the reason otherwise
///   (the exit code or signal, a missing entry point). Either way the engine starts it
///   again after a backoff while rules use it.
/// * Events go to `run.dispatch`; a line that is not an event is
///   [`Dispatch::reject`]ed (logged with the line, counted) and the sensor kept; stderr
///   lines go to [`Dispatch::stderr_line`].
/// * The config and its secrets never go into argv or the environment.
#[async_trait]
pub trait SensorRuntime: Send + Sync + Debug {
    /// The runner name sensors use (`native`, `shell`, `python`).
    fn name(&self) -> &str;

    /// Checks a sensor when its pack loads or it is registered. Default: Ok.
    fn validate_sensor(&self, _sensor: &Sensor) -> Result<()> {
        Ok(())
    }

    /// Runs one sensor once (see the trait's contract).
    async fn run(&self, run: SensorRun) -> Result<()>;
}
