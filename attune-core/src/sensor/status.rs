//! What the engine shows of its sensors, and how it restarts them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// How the engine restarts a sensor that ended or failed.
///
/// After an end, the sensor starts again after a backoff that doubles from `backoff` up to
/// `max_backoff`, counting the ends in a row that came less than `fast` after the start
/// (a run that lasted longer resets the count and the backoff). At `give_up_after` fast ends
/// in a row, the sensor is given up ([`SensorState::GaveUp`]) until its definition or the
/// rules using it change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supervision {
    /// The first backoff (default 1 s).
    pub backoff: Duration,
    /// The longest backoff (default 60 s).
    pub max_backoff: Duration,
    /// A run shorter than this is a fast failure (default 30 s).
    pub fast: Duration,
    /// Fast failures in a row before giving up (default 5).
    pub give_up_after: u32,
    /// How long a sensor that is told to stop gets before it is killed (default 5 s).
    pub grace: Duration,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            fast: Duration::from_secs(30),
            give_up_after: 5,
            grace: Duration::from_secs(5),
        }
    }
}

/// Where a sensor is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SensorState {
    /// No enabled rule uses its trigger types: it does not run.
    Idle,
    /// Its definition says `enabled: false`.
    Disabled,
    /// No sensor runtime of its runner is registered with the engine.
    NoRuntime,
    /// Running.
    Running,
    /// Ended; starts again at `until`.
    Backoff {
        /// When it starts again.
        until: DateTime<Utc>,
    },
    /// Failed fast too many times in a row: not started again until its definition or the
    /// rules using it change.
    GaveUp,
}

/// One sensor as [`Engine::sensors`](crate::Engine::sensors) shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SensorStatus {
    /// The sensor's ref.
    #[serde(rename = "ref")]
    pub sensor_ref: String,
    /// Its runner.
    pub runner: String,
    /// The trigger types it emits.
    pub trigger_types: Vec<String>,
    /// Where it is.
    #[serde(flatten)]
    pub state: SensorState,
    /// Whether an enabled rule uses one of its trigger types now (then it runs, when it is
    /// enabled and its runner has a sensor runtime).
    pub used_by_rules: bool,
    /// How many times it was started in this engine.
    pub starts: u64,
    /// When it was last started.
    pub started_at: Option<DateTime<Utc>>,
    /// How its last run ended (`exit code 1`, an error), if it ended.
    pub last_end: Option<String>,
    /// Its last stderr lines (secret config values masked).
    pub stderr_tail: Vec<String>,
    /// Events it dispatched.
    pub events: u64,
    /// Lines and events refused (not JSON, an unknown trigger type, a payload that does not
    /// fit the schema).
    pub rejected: u64,
}
