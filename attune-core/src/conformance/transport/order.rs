//! Batches: publish order, the `max` of `recv`, separate topics, cancel-safe `recv`.

use super::{TransportFactory, ack, contents, messages, nothing_ready, publish, recv, subscribe};
use crate::transport::{Message, Topic};
use futures::FutureExt;

/// The `max` of successive `recv` calls (0 counts as 1).
const MAXES: [usize; 6] = [1, 3, 0, 4, 2, 100];

/// On every topic, one subscriber each, batches of 10, 1 and 6 messages published on all
/// topics in turn: each subscriber receives exactly its topic's messages, in publish order,
/// each `recv(max)` returning at least one and at most `max` of them (one for a `max` of 0).
pub async fn check_batch_order_and_max(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    let mut subs = Vec::new();
    for topic in Topic::ALL {
        subs.push((
            topic,
            subscribe(&*transport, topic).await,
            Vec::<Message>::new(),
        ));
    }
    for size in [10, 1, 6] {
        for (topic, _, published) in &mut subs {
            let batch = messages(*topic, size);
            publish(&*transport, *topic, &batch).await;
            published.extend(batch);
        }
    }
    for (topic, sub, published) in &mut subs {
        let mut got = Vec::new();
        let mut calls = 0;
        while got.len() < published.len() {
            let max = MAXES[calls % MAXES.len()];
            calls += 1;
            let what = format!(
                "'{topic}': recv({max}) after {} of {} messages",
                got.len(),
                published.len()
            );
            let batch = recv(&mut **sub, max, &what).await;
            assert!(
                !batch.is_empty() && batch.len() <= max.max(1),
                "{what}: returned {} messages; it returns at least one and at most max \
                 (one for a max of 0)",
                batch.len()
            );
            got.extend(contents(&batch));
            ack(&mut **sub, &batch).await;
        }
        assert!(
            got == *published,
            "'{topic}': one subscriber must receive the topic's messages in publish order \
             (batches in their order, one publish after the other)\n  published: {published:?}\
             \n  received:  {got:?}"
        );
        nothing_ready(
            &mut **sub,
            format!("'{topic}': all published messages received"),
        );
    }
}

/// On every topic, three times: a `recv` future is polled while nothing is published (it
/// must be pending), a message is published while the future is pending, the future is
/// dropped unpolled; the next `recv` gets the message. (The engine's stages drop pending
/// `recv` futures when they stop.)
pub async fn check_recv_is_cancel_safe(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    for topic in Topic::ALL {
        let mut sub = subscribe(&*transport, topic).await;
        for round in 0..3 {
            let m = messages(topic, 1);
            {
                let mut pending = sub.recv(10);
                if let Some(r) = (&mut pending).now_or_never() {
                    panic!("'{topic}': recv on an empty topic returned at once: {r:?}");
                }
                publish(&*transport, topic, &m).await;
            }
            let what = format!(
                "'{topic}', round {round}: a message published while a recv future was \
                 pending, then the future dropped"
            );
            let batch = recv(&mut *sub, 10, &what).await;
            assert!(
                contents(&batch) == m,
                "{what}: the next recv returned {:?} instead of {m:?}",
                contents(&batch)
            );
            ack(&mut *sub, &batch).await;
        }
        nothing_ready(&mut *sub, format!("'{topic}': the three messages received"));
    }
}
