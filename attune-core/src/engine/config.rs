//! Engine settings.

use crate::model::Name;
use std::time::Duration;

/// How long finished work is kept. Both limits may be set; a row goes when either says so.
/// Purges run in bounded batches from the completion stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Retention {
    /// Keep at most this many executions (the newest); older finished ones, and the events
    /// and enforcements no kept execution refers to, are purged.
    pub keep_executions: Option<u64>,
    /// Purge finished work older than this.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// Keep everything.
    pub fn forever() -> Self {
        Retention::default()
    }

    /// Keep the newest `n` executions.
    pub fn keep_last(n: u64) -> Self {
        Retention {
            keep_executions: Some(n),
            max_age: None,
        }
    }

    /// Keep work younger than `age`.
    pub fn max_age(age: Duration) -> Self {
        Retention {
            keep_executions: None,
            max_age: Some(age),
        }
    }

    pub(crate) fn is_forever(&self) -> bool {
        self.keep_executions.is_none() && self.max_age.is_none()
    }
}

/// Engine settings with their defaults; set through [`EngineBuilder`](super::EngineBuilder).
#[derive(Clone, Debug)]
pub(crate) struct EngineConfig {
    pub worker_slots: usize,
    pub retention: Retention,
    pub default_timeout: Option<Duration>,
    pub max_payload_bytes: usize,
    pub cancel_grace: Duration,
    pub lease: Duration,
    pub worker_id: Name,
    pub batch_size: usize,
    pub sweep_every: Duration,
    /// Abandoned work is retried up to this many attempts in all (opt in).
    pub retry_abandoned: Option<u32>,
    /// The user rules' executions run as.
    pub system_user: Option<Name>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            worker_slots: 1024,
            retention: Retention::forever(),
            default_timeout: Some(Duration::from_secs(600)),
            max_payload_bytes: crate::input::MAX_PAYLOAD_BYTES,
            cancel_grace: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            worker_id: format!("worker-{}", uuid::Uuid::now_v7()).into(),
            batch_size: 512,
            sweep_every: Duration::from_secs(30),
            retry_abandoned: None,
            system_user: None,
        }
    }
}
