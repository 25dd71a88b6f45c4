//! Policies: scheduling rules for an action, applied by the engine's scheduling and
//! completion stages (`engine/policy/`).

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
    /// Retry a failed execution (and, when asked, a timed-out or abandoned one) as a new
    /// execution linked to the first (`attempt`, `retry_of`).
    Retry {
        /// Also retry on timeout.
        #[serde(default)]
        on_timeout: bool,
        /// Also retry work that was running when its engine died (`abandoned`): only for
        /// actions that can safely run twice.
        #[serde(default)]
        on_abandoned: bool,
        /// Maximum attempts (including the first).
        max_attempts: u32,
        /// Delay before the first retry, in seconds.
        #[serde(default)]
        delay_secs: f64,
        /// How the delay grows from one retry to the next.
        #[serde(default)]
        backoff: Backoff,
        /// The longest delay, in seconds (no limit when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_delay_secs: Option<f64>,
    },
}

/// How a retry policy's delay grows: retry `n` (1 for the first) waits `delay` (constant),
/// `n × delay` (linear) or `2^(n-1) × delay` (exponential), at most `max_delay_secs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// The same delay each time.
    #[default]
    Constant,
    /// The delay times the retry's number.
    Linear,
    /// The delay doubled each time.
    Exponential,
}

impl Backoff {
    /// The delay in seconds before retry `n` (1 for the first retry).
    pub fn delay_secs(self, base: f64, n: u32, max: Option<f64>) -> f64 {
        let factor = match self {
            Backoff::Constant => 1.0,
            Backoff::Linear => f64::from(n.max(1)),
            Backoff::Exponential => 2f64.powi(i32::try_from(n.max(1) - 1).unwrap_or(i32::MAX)),
        };
        let d = base * factor;
        let d = if d.is_finite() { d } else { f64::MAX };
        match max {
            Some(m) => d.min(m),
            None => d,
        }
    }
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
