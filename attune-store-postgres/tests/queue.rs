//! The work queues of `PgTransport`: a delivered message waits in `queue_held` until it is
//! acknowledged; one whose lease lapsed (its process stopped renewing) or whose
//! subscription was dropped goes back to `queue` and keeps its place in the order.
//! Skipped, saying why, when the server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is
//! not `1`.

use attune_core::model::ExecutionId;
use attune_core::transport::{Delivery, Message, Subscription, Topic, Transport};
use attune_store_postgres::PgTransport;
use attune_store_postgres::testing::TestSchema;
use std::time::Duration;

/// The messages of `deliveries`.
fn contents(deliveries: &[Delivery]) -> Vec<Message> {
    deliveries.iter().map(|d| d.message).collect()
}

/// `n` distinct `Requested` messages.
fn messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|_| Message::Requested(ExecutionId::new()))
        .collect()
}

/// Receives until `want` messages came, failing after 20 s.
async fn recv_all(sub: &mut Box<dyn Subscription>, want: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    while out.len() < want {
        let got = tokio::time::timeout(Duration::from_secs(20), sub.recv(want - out.len()))
            .await
            .expect("messages within 20 s")
            .expect("recv")
            .expect("open");
        out.extend(got);
    }
    out
}

async fn count(pg: &TestSchema, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pg.pool())
        .await
        .expect("count")
}

/// Waits until `table` is empty, failing with `what` after 20 s.
async fn until_empty(pg: &TestSchema, table: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count(pg, table).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_until_acknowledged_and_a_lapsed_message_keeps_its_place() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    // The holder renews every 10 s; the other transport looks for lapsed leases every
    // 100 ms.
    let holder = PgTransport::open(pg.store()).await.expect("holder");
    let peer = pg.peer().await;
    let other = PgTransport::builder(&peer)
        .lease(Duration::from_millis(300))
        .open()
        .await
        .expect("other");
    let sent = messages(5);
    holder
        .publish(Topic::Requested, sent[..4].to_vec())
        .await
        .expect("publish");
    let mut a = holder.subscribe(Topic::Requested).await.expect("subscribe");
    let first = recv_all(&mut a, 4).await;
    assert_eq!(contents(&first), sent[..4], "delivered in publish order");
    assert_eq!(
        count(&pg, "queue").await,
        0,
        "delivered rows left the queue"
    );
    assert_eq!(count(&pg, "queue_held").await, 4, "and are held");
    a.ack(&first[..1]).await.expect("ack");
    assert_eq!(
        count(&pg, "queue_held").await,
        3,
        "an acknowledged row is gone"
    );

    // The holder's process "dies": its leases lapse without it noticing.
    sqlx::query("UPDATE queue_held SET lease_us = 0")
        .execute(pg.pool())
        .await
        .expect("lapse");
    other
        .publish(Topic::Requested, sent[4..].to_vec())
        .await
        .expect("publish the fifth");
    // The other transport looks for lapsed leases every 100 ms.
    until_empty(&pg, "queue_held", "the lapsed rows never went back").await;
    let mut b = other.subscribe(Topic::Requested).await.expect("subscribe");
    let again = recv_all(&mut b, 4).await;
    assert_eq!(
        contents(&again),
        sent[1..],
        "the lapsed messages come back before the one published after them"
    );
    // The holder's acknowledgement of a message it no longer holds deletes nothing.
    a.ack(&first[1..2]).await.expect("late ack");
    assert_eq!(count(&pg, "queue_held").await, 4, "held by the other now");
    b.ack(&again).await.expect("ack");
    assert_eq!(count(&pg, "queue_held").await, 0);
    assert_eq!(count(&pg, "queue").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_puts_back_what_it_held_in_order() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let transport = PgTransport::open(pg.store()).await.expect("transport");
    let sent = messages(6);
    transport
        .publish(Topic::Scheduled, sent[..3].to_vec())
        .await
        .expect("publish");
    let mut a = transport.subscribe(Topic::Scheduled).await.expect("a");
    let got = recv_all(&mut a, 3).await;
    transport
        .publish(Topic::Scheduled, sent[3..].to_vec())
        .await
        .expect("publish more");
    drop(a);
    // Put back by a task the drop started.
    until_empty(&pg, "queue_held", "never put back").await;
    let mut b = transport.subscribe(Topic::Scheduled).await.expect("b");
    let all = recv_all(&mut b, 6).await;
    assert_eq!(contents(&got), sent[..3]);
    assert_eq!(
        contents(&all),
        sent,
        "what the dropped subscription held comes first"
    );
}
