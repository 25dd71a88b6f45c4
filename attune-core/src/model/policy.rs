//! Policies: scheduling rules for an action (applied by a later issue's policy stage).

use serde::{Deserialize, Serialize};

/// What to do with an execution over a concurrency limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyOverflow {
    /// Hold it in `delayed`, first in first out.
    Delay,
    /// Cancel it.
    Cancel,
}

/// The kind of a [`Policy`] with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyKind {
    /// At most `limit` executions at once (per value of `attributes` when given).
    Concurrency {
        /// The limit.
        limit: u32,
        /// What happens beyond it.
        #[serde(default = "delay")]
        overflow: ConcurrencyOverflow,
        /// Param names whose values partition the limit.
        #[serde(default)]
        attributes: Vec<String>,
    },
    /// At most `max` executions per `window_secs`.
    RateLimit {
        /// Executions per window.
        max: u32,
        /// The window in seconds.
        window_secs: f64,
    },
    /// Retry a failed or timed-out execution.
    Retry {
        /// Also retry on timeout.
        #[serde(default)]
        on_timeout: bool,
        /// Maximum attempts (including the first).
        max_attempts: u32,
        /// Delay between attempts in seconds.
        #[serde(default)]
        delay_secs: f64,
    },
}

fn delay() -> ConcurrencyOverflow {
    ConcurrencyOverflow::Delay
}

/// A scheduling rule applied to one action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// `pack.name`.
    #[serde(rename = "ref")]
    pub policy_ref: String,
    /// The action it applies to.
    pub action: String,
    /// What it does.
    #[serde(flatten)]
    pub kind: PolicyKind,
    /// Whether it applies.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}
