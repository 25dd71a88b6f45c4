//! The wait of the engine's periodic tasks: sleep, unless told to stop first.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sleeps for `d`; false, at once, when `stop` is cancelled first (the task should end).
pub(crate) async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}
