//! The [`Transport`] conformance suite: every transport runs it unchanged.
//!
//! Each `check_*` function exercises one promise written on [`Transport`] and
//! [`Subscription`] and panics with a message naming the
//! broken promise. The checks get their transports from a [`TransportFactory`] (one fresh
//! transport per check, made asynchronously, so a networked transport can create its schema
//! or queue first). Run them all with
//! [`transport_conformance_tests!`](crate::transport_conformance_tests), which expands to one
//! `#[test]` per check:
//!
//! ```ignore
//! use attune_core::conformance::transport::TransportFactory;
//! use attune_core::transport::{LocalTransport, Transport};
//! use std::sync::Arc;
//!
//! struct Local;
//!
//! #[async_trait::async_trait]
//! impl TransportFactory for Local {
//!     async fn fresh(&self) -> Arc<dyn Transport> {
//!         Arc::new(LocalTransport::new())
//!     }
//!     async fn bounded(&self, capacity: usize) -> Option<Arc<dyn Transport>> {
//!         Some(Arc::new(LocalTransport::with_capacity(capacity)))
//!     }
//! }
//!
//! attune_core::transport_conformance_tests!(Local);
//! ```
//!
//! A closure returning a future of `Arc<dyn Transport>` is a factory too (without a bounded
//! variant): `transport_conformance_tests!(|| async { ... })`.
//!
//! No check measures time. Waits that a correct transport ends are bounded by [`GUARD`], a
//! guard against hangs only: a check that reaches it fails naming what never came. "A publish
//! waits" is checked by polling the publish future while nobody receives, and by counting
//! what was received when it completed.

mod fanout;
mod flow;
mod order;
mod work;

pub use fanout::{check_fanout_counts_missed, check_fanout_reaches_every_subscriber};
pub use flow::{
    check_back_pressure, check_no_drop_under_load, check_try_publish, check_try_recv_and_ack,
};
pub use order::{check_batch_order_and_max, check_recv_is_cancel_safe};
pub use work::{check_work_one_consumer_each, check_work_redelivered_after_lost_consumer};

use crate::model::{EventId, ExecutionId, ExecutionStatus};
use crate::transport::{Delivery, Message, StatusChange, Subscription, Topic, Transport};
use async_trait::async_trait;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long a check waits for something a correct transport does at once before it fails:
/// a guard against hangs, not a speed requirement.
pub const GUARD: Duration = Duration::from_secs(30);

/// Makes the transports the checks run on.
#[async_trait]
pub trait TransportFactory: Send + Sync {
    /// A fresh transport: no message queued on any topic, no subscriber.
    async fn fresh(&self) -> Arc<dyn Transport>;

    /// A fresh transport whose work queues each hold at most `capacity` messages that no
    /// `recv` has returned yet (publishers wait beyond), or `None` when the transport has no
    /// such bound (default). [`check_back_pressure`] checks the waiting on it; without one it
    /// checks that a large burst is queued whole instead.
    async fn bounded(&self, capacity: usize) -> Option<Arc<dyn Transport>> {
        let _ = capacity;
        None
    }

    /// Another handle on the same transport as `transport`, as a second process would open
    /// (a new connection to the same database, say): the checks of competing subscribers
    /// and fan-out subscribe through both. Default: `transport` itself (an in-process
    /// transport).
    async fn peer(&self, transport: &Arc<dyn Transport>) -> Arc<dyn Transport> {
        transport.clone()
    }
}

#[async_trait]
impl<F, Fut> TransportFactory for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Transport>> + Send,
{
    async fn fresh(&self) -> Arc<dyn Transport> {
        self().await
    }
}

/// Expands to one `#[test]` per transport conformance check, each with the factory `$factory`.
///
/// `$factory` is an expression, evaluated in each test, whose value implements
/// [`TransportFactory`](crate::conformance::transport::TransportFactory): a unit struct, a
/// constructor call, or a closure returning a future of `Arc<dyn Transport>`. Every test runs
/// on its own two-worker multi-thread runtime ([`conformance::run`](crate::conformance::run)).
///
/// `transport_conformance_tests!(optional future)` is for a transport that needs a server a
/// machine may not have: `future` (evaluated in each test) yields an `Option` of the
/// factory, and a check whose factory is `None` passes without running (the transport's
/// crate says why, once).
///
/// `transport_conformance_tests!(factory => check_a, check_b)` runs only the checks named,
/// for a test transport that deliberately breaks a promise (say why the others are left out).
///
/// ```ignore
/// attune_core::transport_conformance_tests!(Local);
/// ```
#[macro_export]
macro_rules! transport_conformance_tests {
    (optional $factory:expr $(,)?) => {
        $crate::transport_conformance_tests!(@all ($factory));
    };
    (@all $make:expr) => {
        $crate::transport_conformance_tests!(@tests $make =>
            check_work_one_consumer_each,
            check_work_redelivered_after_lost_consumer,
            check_batch_order_and_max,
            check_recv_is_cancel_safe,
            check_fanout_reaches_every_subscriber,
            check_fanout_counts_missed,
            check_back_pressure,
            check_no_drop_under_load,
            check_try_publish,
            check_try_recv_and_ack,
        );
    };
    // `$make`: a future of `Option<factory>`, evaluated in each test; `None` skips it.
    (@tests $make:expr => $($check:ident),+ $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run(async {
                    let Some(factory) = $make.await else {
                        return;
                    };
                    $crate::conformance::transport::$check(&factory).await;
                });
            }
        )+
    };
    ($factory:expr $(,)?) => {
        $crate::transport_conformance_tests!(@all (async { Some($factory) }));
    };
    ($factory:expr => $($check:ident),+ $(,)?) => {
        $crate::transport_conformance_tests!(@tests (async { Some($factory) }) => $($check),+);
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The work-queue topics.
fn work_topics() -> impl Iterator<Item = Topic> {
    Topic::ALL.into_iter().filter(|t| !t.is_fanout())
}

/// The fan-out topics.
fn fanout_topics() -> impl Iterator<Item = Topic> {
    Topic::ALL.into_iter().filter(|t| t.is_fanout())
}

/// A new message of the kind `topic` carries, with a new id.
fn message(topic: Topic) -> Message {
    let change = |status| StatusChange {
        execution: ExecutionId::new(),
        status,
    };
    match topic {
        Topic::Events => Message::Event(EventId::new()),
        Topic::Requested => Message::Requested(ExecutionId::new()),
        Topic::Scheduled => Message::Scheduled(ExecutionId::new()),
        Topic::Finished => Message::Finished(change(ExecutionStatus::Succeeded)),
        Topic::Control => Message::Cancel(ExecutionId::new()),
        Topic::Status => Message::Status(change(ExecutionStatus::Running)),
    }
}

/// `n` new messages for `topic`.
fn messages(topic: Topic, n: usize) -> Vec<Message> {
    (0..n).map(|_| message(topic)).collect()
}

/// The messages of `deliveries`.
fn contents(deliveries: &[Delivery]) -> Vec<Message> {
    deliveries.iter().map(|d| d.message).collect()
}

/// `fut`, or a panic naming `what` never happened within [`GUARD`].
async fn guarded<T>(what: impl fmt::Display, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not happen within {GUARD:?} (a guard against hangs)"),
    }
}

/// Subscribes to `topic`, or panics.
async fn subscribe(transport: &dyn Transport, topic: Topic) -> Box<dyn Subscription> {
    let sub = guarded(format!("subscribe({topic})"), transport.subscribe(topic)).await;
    sub.unwrap_or_else(|e| panic!("subscribe({topic}): unexpected error: {e}"))
}

/// Publishes `batch` on `topic`, or panics.
async fn publish(transport: &dyn Transport, topic: Topic, batch: &[Message]) {
    let what = format!("publish of {} messages on '{topic}'", batch.len());
    guarded(&what, transport.publish(topic, batch.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("{what}: unexpected error: {e}"));
}

/// The next batch of `sub` (at most `max`), or a panic naming `what` was awaited.
async fn recv(sub: &mut dyn Subscription, max: usize, what: impl fmt::Display) -> Vec<Delivery> {
    match guarded(&what, sub.recv(max)).await {
        Ok(Some(batch)) => batch,
        Ok(None) => panic!("{what}: recv returned None (closed) on an open transport"),
        Err(e) => panic!("{what}: recv failed: {e}"),
    }
}

/// Acknowledges `batch` on `sub`, or panics.
async fn ack(sub: &mut dyn Subscription, batch: &[Delivery]) {
    if let Err(e) = guarded("ack", sub.ack(batch)).await {
        panic!("ack of {} deliveries: unexpected error: {e}", batch.len());
    }
}

/// Panics when `sub` has a message ready now: after all that was published was received,
/// `what` must deliver nothing more.
fn nothing_ready(sub: &mut dyn Subscription, what: impl fmt::Display) {
    use futures::FutureExt;
    if let Some(Ok(Some(batch))) = sub.recv(usize::MAX).now_or_never() {
        panic!("{what}: delivered again: {:?}", contents(&batch));
    }
}
