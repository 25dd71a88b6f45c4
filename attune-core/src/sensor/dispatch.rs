//! [`Dispatch`]: where one sensor's events, rejected lines and stderr lines go.

use super::SensorEvent;
use crate::model::EventId;
use crate::{Engine, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many of a sensor's last stderr lines its status keeps.
pub(crate) const STDERR_TAIL: usize = 20;

/// How much of a rejected line the log shows.
const SHOWN_BYTES: usize = 512;

/// What one sensor did, counted across its restarts.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub events: AtomicU64,
    pub rejected: AtomicU64,
    pub stderr: Mutex<VecDeque<String>>,
}

impl Counters {
    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The engine as one sensor reaches it: events in, lines it wrote that are not events
/// (counted, logged with the line), its stderr (logged, the last lines kept for its
/// status). Cheap to clone.
#[derive(Clone)]
pub struct Dispatch {
    engine: Engine,
    sensor: Arc<str>,
    counters: Arc<Counters>,
    secrets: Arc<[String]>,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch")
            .field("sensor", &self.sensor)
            .finish_non_exhaustive()
    }
}

impl Dispatch {
    pub(crate) fn new(
        engine: Engine,
        sensor: Arc<str>,
        counters: Arc<Counters>,
        secrets: Arc<[String]>,
    ) -> Self {
        Dispatch {
            engine,
            sensor,
            counters,
            secrets,
        }
    }

    /// The sensor's ref.
    pub fn sensor(&self) -> &str {
        &self.sensor
    }

    /// Emits one event, recording the sensor as its source, as
    /// [`Engine::emit`](crate::Engine::emit) does (checked, stored, then matched). An event
    /// the engine refuses (an unknown trigger type, a payload that does not fit its schema)
    /// is logged and counted as rejected, and its error returned.
    pub async fn dispatch(&self, event: SensorEvent) -> Result<EventId> {
        let trigger = event.trigger.clone();
        let r = self
            .engine
            .emit_instance(
                &event.trigger,
                event.payload,
                Some(self.source()),
                event.trigger_params,
                event.trace_tag,
            )
            .await;
        self.count(&trigger, &r);
        r
    }

    /// Emits a batch of events at once, in order, with one store call (one commit on a
    /// durable store); one result each, as [`Dispatch::dispatch`].
    pub async fn dispatch_all(&self, events: Vec<SensorEvent>) -> Vec<Result<EventId>> {
        let source = self.source();
        let triggers: Vec<String> = events.iter().map(|e| e.trigger.clone()).collect();
        let list = events
            .into_iter()
            .map(|e| crate::engine::Emission {
                trigger: e.trigger.into(),
                payload: e.payload,
                source: Some(source.clone()),
                trigger_params: e.trigger_params,
                trace_tag: e.trace_tag,
                checked: false,
            })
            .collect();
        let results = self.engine.emit_instances(list).await;
        for (t, r) in triggers.iter().zip(&results) {
            self.count(t, r);
        }
        results
    }

    fn source(&self) -> String {
        format!("sensor:{}", self.sensor)
    }

    fn count(&self, trigger: &str, r: &Result<EventId>) {
        match r {
            Ok(_) => {
                self.counters.events.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(sensor = %self.sensor, trigger = %trigger, error = %e,
                    "sensor event refused");
            }
        }
    }

    /// A line the sensor wrote that is not an event or a request: logged with (the start
    /// of) the line and `why`, counted; the sensor is kept.
    pub fn reject(&self, why: &str, line: &[u8]) {
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        let shown = &line[..line.len().min(SHOWN_BYTES)];
        let shown = crate::params::mask_secrets(&String::from_utf8_lossy(shown), &self.secrets);
        let more = if line.len() > SHOWN_BYTES {
            format!(" … ({} bytes)", line.len())
        } else {
            String::new()
        };
        tracing::warn!(sensor = %self.sensor, line = %format!("{shown}{more}"), "sensor line rejected: {why}");
    }

    /// One line of the sensor's stderr (its log): logged, and kept among the last lines its
    /// status shows. Secret config values are masked.
    pub fn stderr_line(&self, line: &str) {
        let line = crate::params::mask_secrets(line, &self.secrets);
        tracing::info!(sensor = %self.sensor, "{line}");
        let mut tail = self
            .counters
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }

    /// The sensor's process started (`pid`, its command line): StackStorm's
    /// `core.st2.sensor.process_spawn`, emitted when a rule uses it.
    pub async fn process_spawned(&self, pid: u32, cmd: &str) {
        crate::engine::sensor_process(&self.engine, &self.sensor, Some(pid), Some(cmd), None).await;
    }

    /// The sensor's process exited with `code` (minus the signal that killed it):
    /// `core.st2.sensor.process_exit`, emitted when a rule uses it.
    pub async fn process_exited(&self, code: i32) {
        crate::engine::sensor_process(&self.engine, &self.sensor, None, None, Some(code)).await;
    }

    /// Whether the engine still takes events (false once it shuts down).
    pub fn is_accepting(&self) -> bool {
        self.engine.ensure_accepting().is_ok()
    }
}
