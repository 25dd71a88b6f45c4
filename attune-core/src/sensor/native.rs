//! Native sensors: a `Stream` of events from Rust code (runner `native`).

use super::{SensorEvent, SensorRun, SensorRuntime};
use crate::{Error, Result};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The events of one native sensor run; the run ends when the stream does.
pub type SensorStream = BoxStream<'static, SensorEvent>;

type Factory = Arc<dyn Fn(&SensorRun) -> SensorStream + Send + Sync>;

/// The `native` sensor runtime: each sensor is a function that makes a stream of events
/// from its [`SensorRun`] (its config, key store, triggers); the engine polls it while a
/// rule uses the sensor, and calls the function again to restart it after the stream ends.
/// Every engine has one; [`Engine::register_stream_sensor`](crate::Engine::register_stream_sensor)
/// adds to it.
#[derive(Default)]
pub struct NativeSensors {
    factories: RwLock<HashMap<String, Factory>>,
}

impl std::fmt::Debug for NativeSensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .factories
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        f.debug_struct("NativeSensors")
            .field("sensors", &names)
            .finish()
    }
}

/// Events taken from the stream at once (they share one store call on a durable store).
const BATCH: usize = 256;

impl NativeSensors {
    /// Adds (or replaces) the stream function of `sensor_ref`.
    pub fn register<F>(&self, sensor_ref: impl Into<String>, f: F)
    where
        F: Fn(&SensorRun) -> SensorStream + Send + Sync + 'static,
    {
        self.factories
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sensor_ref.into(), Arc::new(f));
    }

    fn factory(&self, sensor_ref: &str) -> Option<Factory> {
        self.factories
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sensor_ref)
            .cloned()
    }
}

#[async_trait]
impl SensorRuntime for NativeSensors {
    fn name(&self) -> &str {
        "native"
    }

    fn validate_sensor(&self, sensor: &crate::model::Sensor) -> Result<()> {
        match self.factory(&sensor.sensor_ref) {
            Some(_) => Ok(()),
            None => Err(Error::invalid(
                format!("sensor '{}'", sensor.sensor_ref),
                "no stream is registered for this native sensor \
                 (Engine::register_stream_sensor)",
            )),
        }
    }

    async fn run(&self, run: SensorRun) -> Result<()> {
        let Some(f) = self.factory(&run.sensor.sensor_ref) else {
            return Err(Error::Action(format!(
                "no stream is registered for native sensor '{}'",
                run.sensor.sensor_ref
            )));
        };
        let mut events = f(&run).ready_chunks(BATCH);
        loop {
            tokio::select! {
                () = run.stop.cancelled() => return Ok(()),
                next = events.next() => match next {
                    Some(batch) => {
                        // Refused events are counted and logged by the dispatcher.
                        let _ = run.dispatch.dispatch_all(batch).await;
                    }
                    None => return Ok(()),
                },
            }
        }
    }
}
