//! Time, injectable for tests.

use chrono::{DateTime, TimeDelta, Utc};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

/// Where the engine reads the current time (timestamps, `timediff_*` operators, leases,
/// retention by age).
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to (tests).
///
/// ```
/// use attune_core::clock::{Clock, ManualClock};
/// let c = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
/// c.advance(chrono::TimeDelta::seconds(5));
/// assert_eq!(c.now().to_rfc3339(), "2026-01-01T00:00:05+00:00");
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves it forward (or back, with a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let mut n = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *n += by;
    }

    /// Sets it.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A clock that follows tokio's time from a starting point: under
/// `tokio::time::pause` (tokio's `test-util`) it moves only as tokio's time is advanced, together with the
/// engine's sleeps (timers, delays), so tests of timers run on paused time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use attune_core::clock::{Clock, TokioClock};
/// let c = TokioClock::new("2026-01-01T00:00:00Z".parse().unwrap());
/// tokio::time::advance(std::time::Duration::from_secs(90)).await;
/// assert_eq!(c.now().to_rfc3339(), "2026-01-01T00:01:30+00:00");
/// # }
/// ```
#[derive(Debug)]
pub struct TokioClock {
    start: DateTime<Utc>,
    at: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start` now (must be called inside a tokio runtime).
    pub fn new(start: DateTime<Utc>) -> Self {
        TokioClock {
            start,
            at: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        saturating_add(self.start, self.at.elapsed())
    }
}

/// `t + d`, saturating at the latest representable time (a huge lease never overflows).
pub(crate) fn saturating_add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating at the earliest representable time (a huge age never overflows).
pub(crate) fn saturating_sub(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
