//! [`LocalTransport`]: in-process queues.

use super::{Delivery, Message, Subscription, Topic, Transport};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast};

/// Default capacity of each work queue, in messages.
pub(super) const DEFAULT_QUEUE_CAPACITY: usize = 2_048;

/// Publishes each fan-out subscriber may fall behind by before it misses messages.
const FANOUT_CAPACITY: usize = 4_096;

/// In-process [`Transport`]: a bounded FIFO per work-queue topic (batches move under one lock,
/// consumers drain many messages per wake-up) and a broadcast channel per fan-out topic.
///
/// Nothing is lost while the process lives: the messages a work-queue subscription received
/// and did not acknowledge go back to the front of their queue when it is dropped (even past
/// the queue's capacity), for the other subscribers. Nothing survives the process (pair it
/// with a durable store, whose `Engine::recover` and recovery sweep re-publish pending work). A fan-out subscriber
/// misses messages once it is more than 4,096 publishes behind.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use attune_core::transport::{LocalTransport, Message, Topic, Transport};
/// use attune_core::model::EventId;
/// let t = LocalTransport::new();
/// let mut sub = t.subscribe(Topic::Events).await.unwrap();
/// let id = EventId::new();
/// t.publish(Topic::Events, vec![Message::Event(id)]).await.unwrap();
/// let got = sub.recv(10).await.unwrap().unwrap();
/// assert_eq!(got[0].message, Message::Event(id));
/// # }
/// ```
#[derive(Debug)]
pub struct LocalTransport {
    queues: HashMap<Topic, Arc<Queue>>,
    fanouts: HashMap<Topic, Fanout>,
}

/// A fan-out topic: each publish is numbered by the position of its first message, so that a
/// subscriber that lagged counts the messages (not the publishes) it missed.
#[derive(Debug)]
struct Fanout {
    tx: broadcast::Sender<Numbered>,
    /// The number of the next message published; held while sending, so numbers go out in
    /// order.
    next: Mutex<u64>,
}

/// The messages of one fan-out publish, the first numbered `first`.
#[derive(Clone, Debug)]
struct Numbered {
    first: u64,
    messages: Arc<[Message]>,
}

impl Fanout {
    fn next(&self) -> std::sync::MutexGuard<'_, u64> {
        self.next.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct Queue {
    items: Mutex<VecDeque<Message>>,
    capacity: usize,
    /// Notified on each publish (one waiter), and on close (all).
    readable: Arc<Notify>,
    writable: Notify,
    closed: AtomicBool,
    /// The next delivery token.
    tokens: AtomicU64,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Message>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalTransport {
    /// A transport with the default queue capacity.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// A transport whose work queues hold at most `capacity` messages (publishers wait beyond).
    pub fn with_capacity(capacity: usize) -> Self {
        let mut queues = HashMap::new();
        let mut fanouts = HashMap::new();
        for topic in Topic::ALL {
            if topic.is_fanout() {
                fanouts.insert(
                    topic,
                    Fanout {
                        tx: broadcast::channel(FANOUT_CAPACITY).0,
                        next: Mutex::new(0),
                    },
                );
            } else {
                queues.insert(
                    topic,
                    Arc::new(Queue {
                        items: Mutex::new(VecDeque::new()),
                        capacity: capacity.max(1),
                        readable: Arc::new(Notify::new()),
                        writable: Notify::new(),
                        closed: AtomicBool::new(false),
                        tokens: AtomicU64::new(1),
                    }),
                );
            }
        }
        LocalTransport { queues, fanouts }
    }

    /// Closes every work queue: subscribers drain what is queued, then receive `None`;
    /// later publishes fail with [`Error::ShutDown`].
    pub fn close(&self) {
        for q in self.queues.values() {
            q.closed.store(true, Ordering::SeqCst);
            q.readable.notify_waiters();
            q.writable.notify_waiters();
        }
    }

    /// Messages waiting on a work-queue topic.
    pub fn backlog(&self, topic: Topic) -> usize {
        self.queues.get(&topic).map_or(0, |q| q.lock().len())
    }

    fn queue(&self, topic: Topic) -> Result<&Arc<Queue>> {
        self.queues
            .get(&topic)
            .ok_or_else(|| Error::Unsupported(format!("topic '{topic}' is not a work queue")))
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn publish(&self, topic: Topic, messages: Vec<Message>) -> Result<()> {
        // Fan-out topics, and work queues with room for all: at once.
        if let Some(done) = self.try_publish(topic, &messages) {
            return done;
        }
        let q = self.queue(topic)?;
        let mut rest = messages.as_slice();
        while !rest.is_empty() {
            let writable = q.writable.notified();
            tokio::pin!(writable);
            writable.as_mut().enable();
            if q.closed.load(Ordering::SeqCst) {
                return Err(Error::ShutDown);
            }
            {
                let mut items = q.lock();
                let room = q.capacity.saturating_sub(items.len());
                if room > 0 {
                    let n = room.min(rest.len());
                    items.extend(rest[..n].iter().copied());
                    rest = &rest[n..];
                }
            }
            q.readable.notify_one();
            if !rest.is_empty() {
                writable.await;
            }
        }
        Ok(())
    }

    fn try_publish(&self, topic: Topic, messages: &[Message]) -> Option<Result<()>> {
        if messages.is_empty() {
            return Some(Ok(()));
        }
        if let Some(fanout) = self.fanouts.get(&topic) {
            let mut next = fanout.next();
            let first = *next;
            *next += messages.len() as u64;
            // No subscriber is not an error for a fan-out topic, and then nothing is sent
            // (a subscriber subscribes under the same lock: it expects the next number).
            if fanout.tx.receiver_count() > 0 {
                let _ = fanout.tx.send(Numbered {
                    first,
                    messages: Arc::from(messages),
                });
            }
            return Some(Ok(()));
        }
        let q = match self.queue(topic) {
            Ok(q) => q,
            Err(e) => return Some(Err(e)),
        };
        if q.closed.load(Ordering::SeqCst) {
            return Some(Err(Error::ShutDown));
        }
        {
            let mut items = q.lock();
            if q.capacity.saturating_sub(items.len()) < messages.len() {
                return None;
            }
            items.extend(messages.iter().copied());
        }
        q.readable.notify_one();
        Some(Ok(()))
    }

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>> {
        if let Some(fanout) = self.fanouts.get(&topic) {
            let next = fanout.next();
            return Ok(Box::new(FanoutSub {
                rx: fanout.tx.subscribe(),
                expected: *next,
                pending: VecDeque::new(),
                missed: 0,
            }));
        }
        Ok(Box::new(QueueSub {
            queue: self.queue(topic)?.clone(),
            unacked: VecDeque::new(),
        }))
    }
}

#[derive(Debug)]
struct QueueSub {
    queue: Arc<Queue>,
    /// Delivered and not acknowledged yet, oldest first: back to the queue on drop.
    unacked: VecDeque<Delivery>,
}

impl Drop for QueueSub {
    fn drop(&mut self) {
        if self.unacked.is_empty() {
            return;
        }
        {
            let mut items = self.queue.lock();
            for d in self.unacked.drain(..).rev() {
                items.push_front(d.message);
            }
        }
        self.queue.readable.notify_one();
    }
}

impl QueueSub {
    /// Takes up to `max` (at least 1) of the queued messages, if there are any; wakes
    /// another consumer when some are left, and the publishers waiting for room.
    fn take(&mut self, max: usize) -> Option<Vec<Delivery>> {
        let q = &self.queue;
        let (batch, more) = {
            let mut items = q.lock();
            if items.is_empty() {
                return None;
            }
            let n = items.len().min(max.max(1));
            let first = q.tokens.fetch_add(n as u64, Ordering::Relaxed);
            let batch: Vec<Delivery> = items
                .drain(..n)
                .zip(first..)
                .map(|(message, token)| Delivery { message, token })
                .collect();
            (batch, !items.is_empty())
        };
        self.unacked.extend(batch.iter().copied());
        q.writable.notify_waiters();
        if more {
            // Let another consumer of the same topic take the rest.
            q.readable.notify_one();
        }
        Some(batch)
    }

    fn ack_now(&mut self, deliveries: &[Delivery]) {
        for d in deliveries {
            // Acknowledged in delivery order, as the stages do, each is the oldest.
            if self.unacked.front().is_some_and(|u| u.token == d.token) {
                self.unacked.pop_front();
            } else if let Some(i) = self.unacked.iter().position(|u| u.token == d.token) {
                self.unacked.remove(i);
            }
        }
    }
}

#[async_trait]
impl Subscription for QueueSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        loop {
            let queue = self.queue.clone();
            let readable = queue.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            if let Some(batch) = self.take(max) {
                return Ok(Some(batch));
            }
            if queue.closed.load(Ordering::SeqCst) {
                return Ok(None);
            }
            readable.await;
        }
    }

    async fn ack(&mut self, deliveries: &[Delivery]) -> Result<()> {
        self.ack_now(deliveries);
        Ok(())
    }

    fn try_recv(&mut self, max: usize) -> Option<Result<Option<Vec<Delivery>>>> {
        match self.take(max) {
            Some(batch) => Some(Ok(Some(batch))),
            None if self.queue.closed.load(Ordering::SeqCst) => Some(Ok(None)),
            None => None,
        }
    }

    fn try_ack(&mut self, deliveries: &[Delivery]) -> Option<Result<()>> {
        self.ack_now(deliveries);
        Some(Ok(()))
    }

    fn ready_signal(&self) -> Option<Arc<Notify>> {
        Some(self.queue.readable.clone())
    }
}

#[derive(Debug)]
struct FanoutSub {
    rx: broadcast::Receiver<Numbered>,
    /// The number of the next message this subscriber should receive.
    expected: u64,
    pending: VecDeque<Message>,
    missed: u64,
}

impl FanoutSub {
    /// Takes `batch`, counting the messages published between the last one taken and it.
    fn take(&mut self, batch: Numbered) {
        self.missed += batch.first.saturating_sub(self.expected);
        self.expected = batch.first + batch.messages.len() as u64;
        self.pending.extend(batch.messages.iter().copied());
    }

    /// Takes whatever else has been sent, without waiting; whether the channel is closed.
    fn gather(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(batch) => self.take(batch),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(broadcast::error::TryRecvError::Closed) => return true,
                Err(broadcast::error::TryRecvError::Empty) => return false,
            }
        }
    }

    fn next_batch(&mut self, max: usize) -> Vec<Delivery> {
        let n = self.pending.len().min(max.max(1));
        self.pending
            .drain(..n)
            .map(|message| Delivery { message, token: 0 })
            .collect()
    }
}

#[async_trait]
impl Subscription for FanoutSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        while self.pending.is_empty() {
            match self.rx.recv().await {
                Ok(batch) => self.take(batch),
                // Counted from the number of the next batch received.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
        self.gather();
        Ok(Some(self.next_batch(max)))
    }

    async fn ack(&mut self, _deliveries: &[Delivery]) -> Result<()> {
        Ok(())
    }

    fn try_recv(&mut self, max: usize) -> Option<Result<Option<Vec<Delivery>>>> {
        let closed = self.gather();
        if !self.pending.is_empty() {
            return Some(Ok(Some(self.next_batch(max))));
        }
        closed.then_some(Ok(None))
    }

    fn try_ack(&mut self, _deliveries: &[Delivery]) -> Option<Result<()>> {
        Some(Ok(()))
    }

    fn missed(&mut self) -> u64 {
        std::mem::take(&mut self.missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventId, ExecutionId};

    #[tokio::test]
    async fn work_queue_delivers_each_message_once_in_order() {
        let t = LocalTransport::new();
        let mut a = t.subscribe(Topic::Events).await.unwrap();
        let ids: Vec<_> = (0..10).map(|_| EventId::new()).collect();
        t.publish(
            Topic::Events,
            ids.iter().map(|i| Message::Event(*i)).collect(),
        )
        .await
        .unwrap();
        let got = a.recv(4).await.unwrap().unwrap();
        assert_eq!(got.len(), 4);
        let mut b = t.subscribe(Topic::Events).await.unwrap();
        let rest = b.recv(100).await.unwrap().unwrap();
        let all: Vec<_> = got.iter().chain(rest.iter()).map(|d| d.message).collect();
        assert_eq!(
            all,
            ids.iter().map(|i| Message::Event(*i)).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn full_queue_applies_back_pressure_without_dropping() {
        let t = Arc::new(LocalTransport::with_capacity(3));
        let mut sub = t.subscribe(Topic::Scheduled).await.unwrap();
        let msgs: Vec<_> = (0..10)
            .map(|_| Message::Scheduled(ExecutionId::new()))
            .collect();
        let t2 = t.clone();
        let m2 = msgs.clone();
        let publisher = tokio::spawn(async move { t2.publish(Topic::Scheduled, m2).await });
        let mut got = Vec::new();
        while got.len() < 10 {
            got.extend(
                sub.recv(2)
                    .await
                    .unwrap()
                    .unwrap()
                    .into_iter()
                    .map(|d| d.message),
            );
        }
        publisher.await.unwrap().unwrap();
        assert_eq!(got, msgs);
    }

    #[tokio::test]
    async fn fanout_reaches_every_subscriber_and_close_ends_queues() {
        let t = LocalTransport::new();
        let mut a = t.subscribe(Topic::Control).await.unwrap();
        let mut b = t.subscribe(Topic::Control).await.unwrap();
        let m = Message::Cancel(ExecutionId::new());
        t.publish(Topic::Control, vec![m]).await.unwrap();
        assert_eq!(a.recv(1).await.unwrap().unwrap()[0].message, m);
        assert_eq!(b.recv(1).await.unwrap().unwrap()[0].message, m);
        let mut q = t.subscribe(Topic::Events).await.unwrap();
        t.close();
        assert!(q.recv(1).await.unwrap().is_none());
        assert!(matches!(
            t.publish(Topic::Events, vec![Message::Event(EventId::new())])
                .await,
            Err(Error::ShutDown)
        ));
    }

    #[tokio::test]
    async fn try_recv_takes_what_is_queued_and_try_ack_forgets_it() {
        let t = LocalTransport::new();
        let mut a = t.subscribe(Topic::Events).await.unwrap();
        assert!(
            a.try_recv(10).is_none(),
            "nothing queued: the caller waits in recv"
        );
        let ids: Vec<_> = (0..3).map(|_| Message::Event(EventId::new())).collect();
        t.publish(Topic::Events, ids.clone()).await.unwrap();
        let first = a.try_recv(2).unwrap().unwrap().unwrap();
        assert_eq!(
            first.iter().map(|d| d.message).collect::<Vec<_>>(),
            ids[..2]
        );
        assert!(a.try_ack(&first).unwrap().is_ok());
        let rest = a.try_recv(10).unwrap().unwrap().unwrap();
        assert_eq!(rest[0].message, ids[2]);
        // Not acknowledged: back to the queue when the subscription goes.
        drop(a);
        let mut b = t.subscribe(Topic::Events).await.unwrap();
        let again = b.try_recv(10).unwrap().unwrap().unwrap();
        assert_eq!(
            again.iter().map(|d| d.message).collect::<Vec<_>>(),
            ids[2..],
            "the acknowledged ones are not delivered again"
        );
        b.try_ack(&again).unwrap().unwrap();
        t.close();
        assert!(
            matches!(b.try_recv(1), Some(Ok(None))),
            "closed and drained: the end, at once"
        );
    }

    #[tokio::test]
    async fn fanout_try_recv_and_a_publish_nobody_hears() {
        let t = LocalTransport::new();
        // No subscriber: nothing is sent, and a later subscriber misses nothing.
        t.publish(Topic::Control, vec![Message::Cancel(ExecutionId::new())])
            .await
            .unwrap();
        let mut a = t.subscribe(Topic::Control).await.unwrap();
        assert!(a.try_recv(10).is_none(), "nothing for it yet");
        let m = Message::Cancel(ExecutionId::new());
        t.publish(Topic::Control, vec![m, m]).await.unwrap();
        let got = a.try_recv(1).unwrap().unwrap().unwrap();
        assert_eq!(got[0].message, m);
        assert!(a.try_ack(&got).unwrap().is_ok());
        assert_eq!(a.recv(10).await.unwrap().unwrap().len(), 1);
        assert_eq!(a.missed(), 0);
    }

    #[tokio::test]
    async fn the_ready_signal_wakes_a_waiter_on_publish_and_on_close() {
        let t = Arc::new(LocalTransport::new());
        let mut a = t.subscribe(Topic::Requested).await.unwrap();
        let ready = a.ready_signal().expect("a local queue signals");
        let wait = std::time::Duration::from_secs(10);
        for close in [false, true] {
            let signaled = ready.notified();
            tokio::pin!(signaled);
            signaled.as_mut().enable();
            assert!(a.try_recv(10).is_none());
            let t2 = t.clone();
            let m = Message::Requested(ExecutionId::new());
            tokio::spawn(async move {
                if close {
                    t2.close();
                } else {
                    t2.publish(Topic::Requested, vec![m]).await.unwrap();
                }
            });
            tokio::time::timeout(wait, signaled)
                .await
                .expect("woken by the publish or the close");
            match a.try_recv(10) {
                Some(Ok(Some(got))) if !close => {
                    assert_eq!(got[0].message, m);
                    a.try_ack(&got).unwrap().unwrap();
                }
                Some(Ok(None)) if close => {}
                other => panic!("close {close}: {other:?}"),
            }
        }
    }
}
