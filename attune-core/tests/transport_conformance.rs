//! The Transport conformance suite (`attune_core::conformance::transport`) run on
//! [`LocalTransport`], and shown to fail on transports that break a promise on purpose.

use async_trait::async_trait;
use attune_core::Result;
use attune_core::conformance::{self, transport as checks};
use attune_core::transport::{Delivery, LocalTransport, Message, Subscription, Topic, Transport};
use std::sync::Arc;

/// Fresh LocalTransports, bounded ones included.
struct Local;

#[async_trait]
impl checks::TransportFactory for Local {
    async fn fresh(&self) -> Arc<dyn Transport> {
        Arc::new(LocalTransport::new())
    }

    async fn bounded(&self, capacity: usize) -> Option<Arc<dyn Transport>> {
        Some(Arc::new(LocalTransport::with_capacity(capacity)))
    }
}

attune_core::transport_conformance_tests!(Local);

/// A closure factory (no bounded variant), of LocalTransports whose queues hold more than
/// any check publishes: the unbounded form of the back-pressure check.
mod unbounded {
    use super::*;

    attune_core::transport_conformance_tests!(|| async {
        Arc::new(LocalTransport::with_capacity(1 << 20)) as Arc<dyn Transport>
    } => check_back_pressure, check_no_drop_under_load);
}

// ---------------------------------------------------------------------------------------------
// Each check can fail: transports breaking one promise each.
// ---------------------------------------------------------------------------------------------

/// The promise a [`Broken`] transport breaks.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Publishes what fits in a bounded work queue and drops the rest.
    DropsWhenFull,
    /// Publishes every work message twice: two subscribers may each get it.
    DeliversTwice,
    /// Publishes each batch in reverse.
    Reverses,
    /// Returns one message more than `max`.
    OverMax,
    /// Never reports missed fan-out messages.
    HidesMisses,
}

/// A LocalTransport (bounded to `capacity`) with one fault.
#[derive(Debug)]
struct Broken {
    inner: LocalTransport,
    capacity: usize,
    fault: Fault,
}

#[async_trait]
impl Transport for Broken {
    async fn publish(&self, topic: Topic, mut messages: Vec<Message>) -> Result<()> {
        match self.fault {
            Fault::DropsWhenFull if !topic.is_fanout() => {
                let room = self.capacity.saturating_sub(self.inner.backlog(topic));
                messages.truncate(room);
            }
            Fault::DeliversTwice if !topic.is_fanout() => {
                self.inner.publish(topic, messages.clone()).await?;
            }
            Fault::Reverses => messages.reverse(),
            _ => {}
        }
        self.inner.publish(topic, messages).await
    }

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>> {
        Ok(Box::new(BrokenSub {
            inner: self.inner.subscribe(topic).await?,
            fault: self.fault,
        }))
    }
}

#[derive(Debug)]
struct BrokenSub {
    inner: Box<dyn Subscription>,
    fault: Fault,
}

#[async_trait]
impl Subscription for BrokenSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        match self.fault {
            Fault::OverMax => self.inner.recv(max.max(1) + 1).await,
            _ => self.inner.recv(max).await,
        }
    }

    async fn ack(&mut self, deliveries: &[Delivery]) -> Result<()> {
        self.inner.ack(deliveries).await
    }

    fn missed(&mut self) -> u64 {
        match self.fault {
            Fault::HidesMisses => 0,
            _ => self.inner.missed(),
        }
    }
}

/// Makes [`Broken`] transports with `fault`.
struct BrokenFactory(Fault);

#[async_trait]
impl checks::TransportFactory for BrokenFactory {
    async fn fresh(&self) -> Arc<dyn Transport> {
        self.bounded(2_048).await.expect("always bounded")
    }

    async fn bounded(&self, capacity: usize) -> Option<Arc<dyn Transport>> {
        Some(Arc::new(Broken {
            inner: LocalTransport::with_capacity(capacity),
            capacity,
            fault: self.0,
        }))
    }
}

#[test]
#[should_panic(expected = "dropped work or ignored its bound")]
fn back_pressure_fails_on_a_transport_that_drops_when_full() {
    conformance::run(checks::check_back_pressure(&BrokenFactory(
        Fault::DropsWhenFull,
    )));
}

#[test]
#[should_panic(expected = "a work message goes to one subscriber, once")]
fn one_consumer_each_fails_on_a_transport_that_delivers_twice() {
    conformance::run(checks::check_work_one_consumer_each(&BrokenFactory(
        Fault::DeliversTwice,
    )));
}

#[test]
#[should_panic(expected = "in publish order")]
fn batch_order_fails_on_a_transport_that_reorders() {
    conformance::run(checks::check_batch_order_and_max(&BrokenFactory(
        Fault::Reverses,
    )));
}

#[test]
#[should_panic(expected = "at most max")]
fn batch_max_fails_on_a_transport_that_returns_more() {
    conformance::run(checks::check_batch_order_and_max(&BrokenFactory(
        Fault::OverMax,
    )));
}

#[test]
#[should_panic(expected = "every message is either received or counted by missed()")]
fn missed_count_fails_on_a_transport_that_hides_misses() {
    conformance::run(checks::check_fanout_counts_missed(&BrokenFactory(
        Fault::HidesMisses,
    )));
}
