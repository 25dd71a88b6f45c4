//! Back-pressure instead of drops.

use super::{
    GUARD, TransportFactory, ack, contents, fanout_topics, guarded, messages, nothing_ready,
    publish, recv, subscribe, work_topics,
};
use crate::transport::{Message, Topic, Transport};
use futures::FutureExt;
use std::collections::HashSet;
use std::sync::Arc;

/// The capacity of the bounded transport of [`check_back_pressure`].
const CAPACITY: usize = 4;
/// Messages beyond it.
const OVER: usize = 5;

/// With a [bounded](TransportFactory::bounded) transport (capacity 4), on every work queue:
/// a publish of 9 messages does not complete while nobody receives (polled with yields in
/// between); driven beside a subscriber receiving one message at a time, it completes only
/// once at least 9 − 4 were received; every message arrives. Without a bounded variant: a
/// publish of 3 × 2,000 messages with nobody receiving completes (an unbounded queue never
/// waits) and every message arrives afterwards, in order.
pub async fn check_back_pressure(factory: &dyn TransportFactory) {
    match factory.bounded(CAPACITY).await {
        Some(transport) => {
            for topic in work_topics() {
                bounded_queue_waits(&*transport, topic).await;
            }
        }
        None => {
            let transport = factory.fresh().await;
            for topic in work_topics() {
                unbounded_queue_keeps_all(&*transport, topic).await;
            }
        }
    }
}

async fn bounded_queue_waits(transport: &dyn Transport, topic: Topic) {
    let mut sub = subscribe(transport, topic).await;
    let published = messages(topic, CAPACITY + OVER);
    let mut publishing = transport.publish(topic, published.clone());
    for _ in 0..32 {
        if let Some(r) = (&mut publishing).now_or_never() {
            panic!(
                "'{topic}': a publish of {} messages into a queue bounded to {CAPACITY} \
                 completed ({r:?}) before anything was received: it dropped work or ignored \
                 its bound instead of waiting",
                published.len()
            );
        }
        tokio::task::yield_now().await;
    }

    let deadline = tokio::time::Instant::now() + GUARD;
    let mut received: Vec<Message> = Vec::new();
    let mut received_at_completion = None;
    let all: HashSet<Message> = published.iter().copied().collect();
    let mut missing = all.clone();
    while received_at_completion.is_none() || !missing.is_empty() {
        tokio::select! {
            r = &mut publishing, if received_at_completion.is_none() => {
                if let Err(e) = r {
                    panic!("'{topic}': publish failed: {e}");
                }
                received_at_completion = Some(received.len());
            }
            r = sub.recv(1) => {
                let batch = match r {
                    Ok(Some(b)) => b,
                    other => panic!("'{topic}': recv returned {other:?} on an open transport"),
                };
                for m in contents(&batch) {
                    assert!(all.contains(&m), "'{topic}': received {m:?}, never published");
                    missing.remove(&m);
                    received.push(m);
                }
                ack(&mut *sub, &batch).await;
            }
            () = tokio::time::sleep_until(deadline) => panic!(
                "'{topic}': publish of {} messages into a queue bounded to {CAPACITY}: \
                 {} received, still missing {missing:?} (dropped?), publish {} within \
                 {GUARD:?} (a guard against hangs)",
                published.len(),
                received.len(),
                if received_at_completion.is_some() { "completed" } else { "not completed" },
            ),
        }
    }
    let at = received_at_completion.unwrap_or_default();
    assert!(
        at + CAPACITY >= published.len(),
        "'{topic}': a publish of {} messages into a queue bounded to {CAPACITY} completed when \
         only {at} had been received: it must wait for room (back-pressure)",
        published.len()
    );
}

/// [`Subscription::try_recv`](crate::transport::Subscription::try_recv) and
/// [`try_ack`](crate::transport::Subscription::try_ack), on every work queue: what they
/// answer is what `recv` and `ack` would (the messages in publish order, at most `max` at a
/// time; what they acknowledged is not delivered again, to this subscriber or the next),
/// and a subscription that offers a
/// [ready signal](crate::transport::Subscription::ready_signal) answers `try_recv`
/// definitely: with messages published and not received, it does not decline. A
/// transport without these fast paths (they decline by default) passes through `recv`.
pub async fn check_try_recv_and_ack(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    for topic in work_topics() {
        let mut sub = subscribe(&*transport, topic).await;
        let batch = messages(topic, 5);
        publish(&*transport, topic, &batch).await;
        let definite = sub.ready_signal().is_some();
        let mut got = Vec::new();
        while got.len() < batch.len() {
            let taken = match sub.try_recv(2) {
                Some(Ok(Some(d))) => {
                    assert!(
                        !d.is_empty() && d.len() <= 2,
                        "'{topic}': try_recv(2) gave {} messages",
                        d.len()
                    );
                    d
                }
                Some(Ok(None)) => panic!("'{topic}': try_recv said closed on an open transport"),
                Some(Err(e)) => panic!("'{topic}': try_recv failed: {e}"),
                None => {
                    assert!(
                        !definite,
                        "'{topic}': try_recv declined with messages ready, though the \
                         subscription offers a ready signal"
                    );
                    recv(&mut *sub, 2, format!("'{topic}': after try_recv declined")).await
                }
            };
            got.extend(contents(&taken));
            match sub.try_ack(&taken) {
                Some(Ok(())) => {}
                Some(Err(e)) => panic!("'{topic}': try_ack failed: {e}"),
                None => ack(&mut *sub, &taken).await,
            }
        }
        assert_eq!(got, batch, "'{topic}': try_recv delivered another sequence");
        if let Some(Ok(Some(again))) = sub.try_recv(10) {
            panic!(
                "'{topic}': try_recv delivered again: {:?}",
                contents(&again)
            );
        }
        drop(sub);
        let mut next = subscribe(&*transport, topic).await;
        nothing_ready(&mut *next, format!("'{topic}': what try_ack acknowledged"));
    }
}

/// [`Transport::try_publish`], on every topic: it either publishes the whole batch (then a
/// subscriber receives it, in order) or says it did not and publishes none of it. With a
/// [bounded](TransportFactory::bounded) transport (capacity 4): once a work queue holds 4
/// messages nobody received, it must not take a fifth.
pub async fn check_try_publish(factory: &dyn TransportFactory) {
    let transport = match factory.bounded(CAPACITY).await {
        Some(t) => t,
        None => factory.fresh().await,
    };
    for topic in work_topics().chain(fanout_topics()) {
        let mut sub = subscribe(&*transport, topic).await;
        let batch = messages(topic, CAPACITY);
        match transport.try_publish(topic, &batch) {
            Some(Ok(())) => {
                let got = recv(&mut *sub, usize::MAX, format!("'{topic}': try_publish")).await;
                let mut got = contents(&got);
                while got.len() < batch.len() {
                    let more = recv(&mut *sub, usize::MAX, format!("'{topic}': the rest")).await;
                    got.extend(contents(&more));
                }
                assert_eq!(got, batch, "'{topic}': try_publish delivered another batch");
            }
            Some(Err(e)) => panic!("'{topic}': try_publish on an open transport failed: {e}"),
            None => nothing_ready(&mut *sub, format!("'{topic}': a try_publish that declined")),
        }
    }
    let Some(bounded) = factory.bounded(CAPACITY).await else {
        return;
    };
    for topic in work_topics() {
        let _sub = subscribe(&*bounded, topic).await;
        publish(&*bounded, topic, &messages(topic, CAPACITY)).await;
        if let Some(r) = bounded.try_publish(topic, &messages(topic, 1)) {
            panic!(
                "'{topic}': try_publish into a full queue bounded to {CAPACITY} returned \
                 {r:?} instead of declining"
            );
        }
    }
}

async fn unbounded_queue_keeps_all(transport: &dyn Transport, topic: Topic) {
    let batches: Vec<Vec<Message>> = (0..3).map(|_| messages(topic, 2_000)).collect();
    for b in &batches {
        publish(transport, topic, b).await;
    }
    let published: Vec<Message> = batches.into_iter().flatten().collect();
    let mut sub = subscribe(transport, topic).await;
    let mut got = Vec::new();
    while got.len() < published.len() {
        let what = format!(
            "'{topic}': {} of {} messages published before anyone subscribed",
            published.len() - got.len(),
            published.len()
        );
        let batch = recv(&mut *sub, 1_000, what).await;
        got.extend(contents(&batch));
        ack(&mut *sub, &batch).await;
    }
    assert!(
        got == published,
        "'{topic}': messages published with nobody receiving came back otherwise than \
         published ({} received)",
        got.len()
    );
}

/// Publishers and competing subscribers.
const PUBLISHERS: usize = 4;
const BATCHES: usize = 50;
const BATCH: usize = 20;

/// On one work queue of a [fresh](TransportFactory::fresh) transport, four concurrent
/// publishers make 50 publishes of 20 messages each (4,000 messages, beyond LocalTransport's
/// default capacity of 2,048) while two subscribers (one through a
/// [peer](TransportFactory::peer)) receive and acknowledge: every publish completes and
/// every message arrives.
pub async fn check_no_drop_under_load(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    let peer = factory.peer(&transport).await;
    let topic = Topic::Scheduled;
    let mut subs = [
        subscribe(&*transport, topic).await,
        subscribe(&*peer, topic).await,
    ];
    let all: Vec<Vec<Message>> = (0..PUBLISHERS * BATCHES)
        .map(|_| messages(topic, BATCH))
        .collect();
    let mut publishers = Vec::new();
    for (p, chunk) in all.chunks(BATCHES).enumerate() {
        let t: Arc<dyn Transport> = if p % 2 == 0 { &transport } else { &peer }.clone();
        let chunk = chunk.to_vec();
        publishers.push(tokio::spawn(async move {
            for b in chunk {
                t.publish(topic, b).await?;
            }
            Ok::<(), crate::Error>(())
        }));
    }
    let mut missing: HashSet<Message> = all.iter().flatten().copied().collect();
    let total = missing.len();
    while !missing.is_empty() {
        let what = format!(
            "'{topic}': {} of {total} messages from concurrent publishers (dropped?)",
            missing.len()
        );
        let (a, b) = subs.split_at_mut(1);
        let (i, r) = guarded(&what, async {
            tokio::select! {
                r = a[0].recv(64) => (0, r),
                r = b[0].recv(64) => (1, r),
            }
        })
        .await;
        let batch = match r {
            Ok(Some(batch)) => batch,
            other => panic!("{what}: recv returned {other:?} on an open transport"),
        };
        for m in contents(&batch) {
            missing.remove(&m);
        }
        ack(&mut *subs[i], &batch).await;
    }
    for p in publishers {
        match guarded("a publisher's publishes", p).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("'{topic}': publish failed: {e}"),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("'{topic}': a publisher task failed: {e}"),
        }
    }
}
