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
/// Held as `Arc<dyn Transport>`. The contract, which the conformance suite
/// (`attune_core::conformance::transport`, feature `conformance`) checks:
///
/// * A [`Topic`] is either a **work queue** (stages compete for its messages) or a
///   **fan-out** (every subscriber sees every message); [`Topic::is_fanout`] tells which.
///   Topics are separate: a subscription receives only messages published on its topic.
/// * **Work queues: one consumer per message, at least once.** A message published on a work
///   queue stays owned by the transport until a subscriber acknowledges it
///   ([`Subscription::ack`]), also while nobody has subscribed yet. Once delivered and until
///   acknowledged, no other subscriber receives it: among competing subscribers each message
///   goes to one of them, once. A message whose subscriber is lost before acknowledging it
///   (its [`Subscription`] dropped, or its process gone) is delivered again, to another
///   subscriber. An acknowledged message is not delivered again. Consumers are idempotent all
///   the same (across processes a redelivery can race an acknowledgement): the store's
///   compare-and-set and unique keys make them so.
/// * **Fan-out topics: every subscriber, best effort.** A subscriber receives every message
///   published after its `subscribe` returned, unless it falls behind: then it may miss
///   messages, and [`Subscription::missed`] counts each one, so that the messages it receives
///   plus those it is told it missed are all those published since it subscribed. `publish`
///   on a fan-out topic never waits for subscribers. The store stays the source of truth.
/// * **Order.** A subscriber receives the messages of a topic in publish order: those of a
///   batch in the batch's order, those of a `publish` that returned before another began
///   before the other's. Only a redelivered message may come after messages published after
///   it.
/// * **Back-pressure, never drops.** `publish` returns once every message is queued; when a
///   bounded work queue is full it waits until subscribers make room. It never drops work.
#[async_trait]
pub trait Transport: Send + Sync + Debug {
    /// Publishes `messages` on `topic`, in their order; returns once all are queued (work
    /// queues: waiting for room when the queue is bounded and full) or sent (fan-out).
    async fn publish(&self, topic: Topic, messages: Vec<Message>) -> Result<()>;
    /// [`Transport::publish`] when it can be done without waiting: `Some` with what `publish`
    /// would have returned, or `None` when it would wait or cannot tell — then nothing of
    /// `messages` was published, and the caller calls `publish`. The same contract as
    /// `publish` otherwise. An optional fast path (no boxed future, and the messages are
    /// borrowed, so a caller with one message needs no vector): the default says `None`.
    fn try_publish(&self, topic: Topic, messages: &[Message]) -> Option<Result<()>> {
        let _ = (topic, messages);
        None
    }
    /// Subscribes to `topic`.
    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>>;
    /// The store outbox whose messages this transport delivers, by the name
    /// [`Store::outbox`](crate::store::Store::outbox) reports; `None` (the default) for a
    /// transport that only delivers what is published on it.
    fn outbox(&self) -> Option<String> {
        None
    }
}

/// A subscriber's end of a topic.
#[async_trait]
pub trait Subscription: Send + Debug {
    /// Waits until at least one message is available and returns at least one and at most
    /// `max` of them (a `max` of 0 counts as 1), in publish order; `Ok(None)` when the
    /// transport is closed.
    ///
    /// Cancel safe: dropping the future before it completes loses no message (the engine's
    /// stages select on it).
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>>;
    /// Acknowledges processed work-queue deliveries received by this subscription: the
    /// transport forgets them and never delivers them again. Tokens it does not know (already
    /// acknowledged, or of another subscription) are ignored. A no-op on fan-out topics.
    async fn ack(&mut self, deliveries: &[Delivery]) -> Result<()>;
    /// [`Subscription::recv`] when messages are ready now: `Some` with what `recv` would
    /// have returned, or `None` when it would wait or cannot tell — then nothing was taken,
    /// and the caller calls `recv`. An optional fast path (no boxed future): the default
    /// says `None`.
    fn try_recv(&mut self, max: usize) -> Option<Result<Option<Vec<Delivery>>>> {
        let _ = max;
        None
    }
    /// [`Subscription::ack`] when it can be done without waiting: `Some` with what `ack`
    /// would have returned, or `None` when it would wait or cannot tell — then nothing was
    /// acknowledged, and the caller calls `ack`. An optional fast path (no boxed future):
    /// the default says `None`.
    fn try_ack(&mut self, deliveries: &[Delivery]) -> Option<Result<()>> {
        let _ = deliveries;
        None
    }
    /// What tells a waiter that [`Subscription::try_recv`] may have something new
    /// (messages, or the end): a caller that waits on it — `notified()`, enabled before
    /// the `try_recv` that found nothing — needs no boxed `recv`. It may wake spuriously;
    /// it never misses a publish or the close, for the topic's consumers as a group (a
    /// publish may wake one of them only: a woken one calls `try_recv` again). A
    /// subscription that offers it answers `try_recv` definitely: `None` only when `recv`
    /// would wait. `None` (the default): wait in `recv`. A subscription that wraps another
    /// and overrides `recv` or `ack` overrides these three too (or keeps the defaults).
    fn ready_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
    /// Fan-out messages this subscriber missed by falling behind, counted in messages (not
    /// batches), since the last call; always 0 on work queues. A miss is counted at the
    /// latest when the next message that was not missed is received.
    fn missed(&mut self) -> u64 {
        0
    }
}
