//! Work queues: one consumer per message; redelivery after a lost consumer.

use super::{
    TransportFactory, ack, contents, guarded, messages, nothing_ready, publish, recv, subscribe,
    work_topics,
};
use crate::transport::{Message, Subscription};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Competing subscribers of one work queue.
const CONSUMERS: usize = 4;

/// On every work queue, with four competing subscribers (half of them through a
/// [peer](TransportFactory::peer)) consuming while more is published: each message is
/// delivered to one subscriber, once, including those published before anyone subscribed;
/// each subscriber gets its share in publish order; once all are acknowledged nothing is
/// delivered again.
pub async fn check_work_one_consumer_each(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    let peer = factory.peer(&transport).await;
    for topic in work_topics() {
        let early = messages(topic, 40);
        publish(&*transport, topic, &early).await;
        let mut subs = Vec::new();
        for i in 0..CONSUMERS {
            let handle = if i % 2 == 0 { &transport } else { &peer };
            subs.push(subscribe(&**handle, topic).await);
        }
        let late = messages(topic, 60);
        let all: Vec<Message> = early.iter().chain(&late).copied().collect();

        // Consumers record (subscriber, message) and acknowledge; they stop once as many
        // deliveries as messages were made.
        let log = Arc::new(Mutex::new(Vec::<(usize, Message)>::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let done = CancellationToken::new();
        let mut tasks = Vec::new();
        for (i, mut sub) in subs.into_iter().enumerate() {
            let (log, count, done, total) = (log.clone(), count.clone(), done.clone(), all.len());
            tasks.push(tokio::spawn(async move {
                loop {
                    let batch = tokio::select! {
                        biased;
                        () = done.cancelled() => break,
                        b = sub.recv(7) => b,
                    };
                    let batch = match batch {
                        Ok(Some(b)) => b,
                        Ok(None) => panic!("'{topic}': recv returned None on an open transport"),
                        Err(e) => panic!("'{topic}': recv failed: {e}"),
                    };
                    let n = batch.len();
                    {
                        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                        log.extend(batch.iter().map(|d| (i, d.message)));
                    }
                    ack(&mut *sub, &batch).await;
                    if count.fetch_add(n, Ordering::SeqCst) + n >= total {
                        done.cancel();
                    }
                }
                sub
            }));
        }
        for (k, chunk) in late.chunks(13).enumerate() {
            let handle = if k % 2 == 0 { &transport } else { &peer };
            publish(&**handle, topic, chunk).await;
        }
        let mut subs: Vec<Box<dyn Subscription>> = Vec::new();
        let what = format!(
            "'{topic}': {} deliveries of {} messages published",
            all.len(),
            all.len()
        );
        for task in tasks {
            match guarded(&what, task).await {
                Ok(sub) => subs.push(sub),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("'{topic}': a consumer task failed: {e}"),
            }
        }

        let log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
        let position: HashMap<Message, usize> =
            all.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let mut receivers: HashMap<Message, Vec<usize>> = HashMap::new();
        for (sub, m) in &log {
            assert!(
                position.contains_key(m),
                "'{topic}': delivered {m:?}, which was never published on it"
            );
            receivers.entry(*m).or_default().push(*sub);
        }
        for (m, subs) in &receivers {
            assert!(
                subs.len() == 1,
                "'{topic}': {m:?} was delivered {} times (to subscribers {subs:?}): a work \
                 message goes to one subscriber, once, while its subscriber is alive",
                subs.len()
            );
        }
        for m in &all {
            assert!(
                receivers.contains_key(m),
                "'{topic}': {m:?} was never delivered ({} of {} were)",
                receivers.len(),
                all.len()
            );
        }
        for i in 0..CONSUMERS {
            let got: Vec<usize> = log
                .iter()
                .filter(|(s, _)| *s == i)
                .map(|(_, m)| position[m])
                .collect();
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "'{topic}': subscriber {i} received messages out of publish order \
                 (positions {got:?})"
            );
        }
        for (i, sub) in subs.iter_mut().enumerate() {
            nothing_ready(
                &mut **sub,
                format!("'{topic}': subscriber {i}, all messages acknowledged"),
            );
        }
    }
}

/// On every work queue: a subscriber receives messages, acknowledges some and is dropped;
/// every message it did not acknowledge (and every one it never received) then reaches a
/// subscriber made afterwards through a [peer](TransportFactory::peer). Duplicates are
/// allowed (at least once).
pub async fn check_work_redelivered_after_lost_consumer(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    let peer = factory.peer(&transport).await;
    for topic in work_topics() {
        let published = messages(topic, 6);
        let mut lost = subscribe(&*transport, topic).await;
        publish(&*transport, topic, &published).await;
        let got = recv(&mut *lost, 6, format!("'{topic}': a first delivery")).await;
        let half = got.len() / 2;
        ack(&mut *lost, &got[..half]).await;
        drop(lost);

        let acked: HashSet<Message> = contents(&got[..half]).into_iter().collect();
        let mut missing: Vec<Message> = published
            .iter()
            .filter(|m| !acked.contains(m))
            .copied()
            .collect();
        let mut other = subscribe(&*peer, topic).await;
        while !missing.is_empty() {
            let what = format!(
                "'{topic}': after a subscriber that received {:?} and acknowledged {:?} was \
                 dropped, another subscriber still waits for {missing:?}",
                contents(&got),
                contents(&got[..half]),
            );
            let batch = recv(&mut *other, 100, what).await;
            missing.retain(|m| !batch.iter().any(|d| d.message == *m));
            ack(&mut *other, &batch).await;
        }
    }
}
