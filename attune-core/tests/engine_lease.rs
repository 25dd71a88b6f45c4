//! A long run keeps its claim: the running stage renews the lease (invariant 2).

use attune_core::Engine;
use attune_core::clock::Clock;
use attune_core::model::ExecutionStatus;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A clock that follows tokio's (paused, auto-advancing) time.
#[derive(Debug)]
struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::TimeDelta::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

// An action that runs ten leases long still holds a live lease near its end, held by this
// worker, and finishes normally.
#[tokio::test(start_paused = true)]
async fn long_runs_renew_their_lease() {
    let clock = Arc::new(TokioClock {
        base: Utc::now(),
        start: tokio::time::Instant::now(),
    });
    let engine = Engine::builder()
        .clock(clock.clone())
        .lease(Duration::from_secs(3))
        .worker_id("w1")
        .build()
        .await
        .unwrap();
    engine
        .register_fn("lease.slow", |_ctx| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Value::Null)
        })
        .await
        .unwrap();
    let id = engine.execute("lease.slow", json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = engine.execution(id).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Running);
    tokio::time::sleep(Duration::from_secs(27)).await;
    let late = engine.execution(id).await.unwrap();
    assert_eq!(late.status, ExecutionStatus::Running);
    assert_eq!(late.worker.as_deref(), Some("w1"));
    let lease = late.lease_expires.unwrap();
    assert!(
        lease > clock.now(),
        "lease {lease} expired at {}",
        clock.now()
    );
    assert!(
        lease > first.lease_expires.unwrap(),
        "the lease was renewed"
    );
    let done = engine
        .wait_timeout(id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
}
