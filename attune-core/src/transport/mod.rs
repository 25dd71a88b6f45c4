//! The [`Transport`] trait — how work and notifications move between the pipeline stages —
//! and the in-process [`LocalTransport`].

mod local;
mod message;

pub use local::LocalTransport;
pub use message::{Delivery, Message, StatusChange, Topic};

use crate::Result;
use async_trait::async_trait;
use std::fmt::Debug;

/// Moves messages between the stages of the pipeline, which may live in different processes.
///
/// Held as `Arc<dyn Transport>`. The contract:
///
/// * A [`Topic`] is either a **work queue** (each message is delivered to one subscriber of
///   the topic: stages compete for work) or a **fan-out** (every subscriber sees every
///   message published after it subscribed); [`Topic::is_fanout`] tells which.
/// * Work queues are **at least once**: a message stays owned by the transport until the
///   subscriber acknowledges it ([`Subscription::ack`]); a transport that can lose a consumer
///   (another process) redelivers unacknowledged messages. Consumers are therefore
///   idempotent — the store's compare-and-set and unique keys make them so.
/// * Fan-out topics are **best effort**: a subscriber that falls behind may miss messages
///   and is told how many ([`Subscription::missed`]); the store stays the source of truth.
/// * `publish` of a batch keeps its order for one subscriber.
/// * `publish` may wait when a bounded queue is full (back-pressure); it never drops work.
#[async_trait]
pub trait Transport: Send + Sync + Debug {
    /// Publishes `messages` on `topic`.
    async fn publish(&self, topic: Topic, messages: Vec<Message>) -> Result<()>;
    /// Subscribes to `topic`.
    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>>;
}

/// A subscriber's end of a topic.
#[async_trait]
pub trait Subscription: Send + Debug {
    /// Waits until at least one message is available and returns up to `max` of them;
    /// `Ok(None)` when the transport is closed.
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>>;
    /// Acknowledges processed work-queue deliveries (no-op on fan-out topics).
    async fn ack(&mut self, deliveries: &[Delivery]) -> Result<()>;
    /// Fan-out messages this subscriber missed by falling behind since the last call.
    fn missed(&mut self) -> u64 {
        0
    }
}
