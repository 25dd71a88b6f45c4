//! The processes of a shared store, as they announce themselves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An engine running on a store several processes share, as its last heartbeat said
/// ([`Store::put_worker`](crate::store::Store::put_worker): from the engine's first second
/// on, every 10 s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Worker {
    /// The engine's worker id (`EngineBuilder::worker_id`), which its claims carry.
    pub id: String,
    /// The parts of the pipeline it runs (`match`, `schedule`, `work`, `timers`, `sensors`).
    pub roles: Vec<String>,
    /// The runtimes it has, by name, sorted.
    pub runtimes: Vec<String>,
    /// How many executions it runs at once at most.
    pub slots: usize,
    /// How many it was running at the heartbeat.
    pub running: usize,
    /// When its engine was built.
    #[serde(with = "super::time_text")]
    pub started: DateTime<Utc>,
    /// Its last heartbeat.
    #[serde(with = "super::time_text")]
    pub heartbeat: DateTime<Utc>,
}
