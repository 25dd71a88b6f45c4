//! Fan-out topics: every subscriber sees every message; a lagging one is told what it missed.

use super::{
    TransportFactory, contents, fanout_topics, guarded, message, messages, nothing_ready, publish,
    recv, subscribe,
};
use crate::transport::{Message, Subscription, Topic, Transport};
use std::collections::HashSet;
use std::sync::Arc;

/// Publishes a subscriber falls behind by in [`check_fanout_counts_missed`]: more than a
/// transport keeps for one subscriber (LocalTransport keeps 4,096).
const BURST: usize = 6_000;

/// On every fan-out topic, three subscribers (one through a
/// [peer](TransportFactory::peer)) and batches published through both handles: each
/// subscriber receives every message, in publish order, and misses none; after one
/// subscriber is dropped the others still receive what follows.
pub async fn check_fanout_reaches_every_subscriber(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    let peer = factory.peer(&transport).await;
    for topic in fanout_topics() {
        let mut subs = vec![
            subscribe(&*transport, topic).await,
            subscribe(&*peer, topic).await,
            subscribe(&*transport, topic).await,
        ];
        let mut published = Vec::new();
        for (k, size) in [5, 1, 4].into_iter().enumerate() {
            let batch = messages(topic, size);
            let handle = if k % 2 == 0 { &transport } else { &peer };
            publish(&**handle, topic, &batch).await;
            published.extend(batch);
        }
        for (i, sub) in subs.iter_mut().enumerate() {
            expect_all(&mut **sub, topic, i, &published).await;
        }
        drop(subs.pop());
        let more = messages(topic, 3);
        publish(&*peer, topic, &more).await;
        for (i, sub) in subs.iter_mut().enumerate() {
            expect_all(&mut **sub, topic, i, &more).await;
        }
    }
}

/// Receives exactly `published` (in order) on subscriber `i`, which must have missed nothing.
async fn expect_all(sub: &mut dyn Subscription, topic: Topic, i: usize, published: &[Message]) {
    let mut got = Vec::new();
    while got.len() < published.len() {
        let what = format!(
            "'{topic}': subscriber {i} waits for {} of {} messages published after it subscribed",
            published.len() - got.len(),
            published.len()
        );
        got.extend(contents(&recv(sub, 100, what).await));
    }
    assert!(
        got == published,
        "'{topic}': subscriber {i} must receive every message, in publish order\n  \
         published: {published:?}\n  received:  {got:?}"
    );
    let missed = sub.missed();
    assert!(
        missed == 0,
        "'{topic}': subscriber {i} received every message but reports {missed} missed"
    );
    nothing_ready(sub, format!("'{topic}': subscriber {i}, all received"));
}

/// On every fan-out topic, a subscriber that does not read while 6,000 publishes of two
/// messages are made (`publish` must not wait for it), then reads up to a final message
/// published after them: the messages it received plus those [`missed`] reported are
/// exactly those published, none received twice, the received ones in publish order; a
/// second call of `missed` reports 0.
///
/// [`missed`]: crate::transport::Subscription::missed
pub async fn check_fanout_counts_missed(factory: &dyn TransportFactory) {
    let transport = factory.fresh().await;
    for topic in fanout_topics() {
        let mut sub = subscribe(&*transport, topic).await;
        let burst: Vec<Vec<Message>> = (0..BURST).map(|_| messages(topic, 2)).collect();
        let t: Arc<dyn Transport> = transport.clone();
        let batches = burst.clone();
        let publisher = async move {
            for b in batches {
                t.publish(topic, b).await?;
            }
            Ok::<(), crate::Error>(())
        };
        let what = format!(
            "'{topic}': {BURST} publishes while a subscriber does not read (a fan-out \
             publish never waits for subscribers)"
        );
        if let Err(e) = guarded(&what, publisher).await {
            panic!("{what}: unexpected error: {e}");
        }
        let end = message(topic);
        publish(&*transport, topic, &[end]).await;

        let published: Vec<Message> = burst.into_iter().flatten().collect();
        let position: std::collections::HashMap<Message, usize> =
            published.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let mut seen = HashSet::new();
        let (mut received, mut missed, mut last) = (0u64, 0u64, None::<usize>);
        'read: loop {
            let what = format!(
                "'{topic}': a lagging subscriber waits for the message published last \
                 ({received} received, {missed} reported missed of {})",
                published.len()
            );
            let batch = recv(&mut *sub, 1_000, what).await;
            missed += sub.missed();
            for m in contents(&batch) {
                if m == end {
                    break 'read;
                }
                let Some(&p) = position.get(&m) else {
                    panic!("'{topic}': received {m:?}, which was never published");
                };
                assert!(seen.insert(m), "'{topic}': received {m:?} twice");
                assert!(
                    last.is_none_or(|l| l < p),
                    "'{topic}': a lagging subscriber received message {p} of the burst \
                     after message {}: out of publish order",
                    last.unwrap_or_default()
                );
                last = Some(p);
                received += 1;
            }
        }
        missed += sub.missed();
        assert!(
            received + missed == published.len() as u64,
            "'{topic}': a subscriber that fell behind received {received} messages and was \
             told it missed {missed}, but {} were published: every message is either \
             received or counted by missed() (in messages, not publishes)",
            published.len()
        );
        let again = sub.missed();
        assert!(
            again == 0,
            "'{topic}': missed() counts since the last call; a second call reported {again}"
        );
    }
}
