//! [`LocalTransport`]: in-process queues.

use super::{Delivery, Message, Subscription, Topic, Transport};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast};

/// Default capacity of each work queue, in messages.
pub(super) const DEFAULT_QUEUE_CAPACITY: usize = 2_048;

/// In-process [`Transport`]: a bounded FIFO per work-queue topic (batches move under one lock,
/// consumers drain many messages per wake-up) and a broadcast channel per fan-out topic.
///
/// Nothing is lost while the process lives; nothing survives it (pair it with a durable store,
/// whose `Engine::recover` and recovery sweep re-publish pending work).
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
    fanouts: HashMap<Topic, broadcast::Sender<Arc<[Message]>>>,
}

#[derive(Debug)]
struct Queue {
    items: Mutex<VecDeque<Message>>,
    capacity: usize,
    readable: Notify,
    writable: Notify,
    closed: AtomicBool,
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
                fanouts.insert(topic, broadcast::channel(4096).0);
            } else {
                queues.insert(
                    topic,
                    Arc::new(Queue {
                        items: Mutex::new(VecDeque::new()),
                        capacity: capacity.max(1),
                        readable: Notify::new(),
                        writable: Notify::new(),
                        closed: AtomicBool::new(false),
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
        if messages.is_empty() {
            return Ok(());
        }
        if let Some(tx) = self.fanouts.get(&topic) {
            // No subscriber is not an error for a fan-out topic.
            let _ = tx.send(Arc::from(messages));
            return Ok(());
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

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>> {
        if let Some(tx) = self.fanouts.get(&topic) {
            return Ok(Box::new(FanoutSub {
                rx: tx.subscribe(),
                pending: VecDeque::new(),
                missed: 0,
            }));
        }
        Ok(Box::new(QueueSub {
            queue: self.queue(topic)?.clone(),
        }))
    }
}

#[derive(Debug)]
struct QueueSub {
    queue: Arc<Queue>,
}

#[async_trait]
impl Subscription for QueueSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        let q = &self.queue;
        loop {
            let readable = q.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            let (batch, more) = {
                let mut items = q.lock();
                let n = items.len().min(max.max(1));
                let batch: Vec<Delivery> = items
                    .drain(..n)
                    .map(|message| Delivery { message, token: 0 })
                    .collect();
                (batch, !items.is_empty())
            };
            if !batch.is_empty() {
                q.writable.notify_waiters();
                if more {
                    // Let another consumer of the same topic take the rest.
                    q.readable.notify_one();
                }
                return Ok(Some(batch));
            }
            if q.closed.load(Ordering::SeqCst) {
                return Ok(None);
            }
            readable.await;
        }
    }

    async fn ack(&mut self, _deliveries: &[Delivery]) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct FanoutSub {
    rx: broadcast::Receiver<Arc<[Message]>>,
    pending: VecDeque<Message>,
    missed: u64,
}

#[async_trait]
impl Subscription for FanoutSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        while self.pending.is_empty() {
            match self.rx.recv().await {
                Ok(batch) => self.pending.extend(batch.iter().copied()),
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
        // Take whatever else is already there without waiting.
        while let Ok(batch) = self.rx.try_recv() {
            self.pending.extend(batch.iter().copied());
        }
        let n = self.pending.len().min(max.max(1));
        Ok(Some(
            self.pending
                .drain(..n)
                .map(|message| Delivery { message, token: 0 })
                .collect(),
        ))
    }

    async fn ack(&mut self, _deliveries: &[Delivery]) -> Result<()> {
        Ok(())
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
}
