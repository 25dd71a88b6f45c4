//! The store's outbox: once a transport is opened on a `PgStore`, the store writes the
//! work-queue messages of its state changes itself, in the statement of the change, and the
//! transport delivers them; without a transport it writes none; an engine refuses a store
//! whose outbox its transport does not deliver. Skipped, saying why, when the server cannot
//! be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::Error;
use attune_core::model::{Event, Execution, ExecutionStatus};
use attune_core::store::{ExecutionChange, Store};
use attune_core::transport::{Message, StatusChange, Subscription, Topic, Transport};
use attune_store_postgres::PgTransport;
use attune_store_postgres::testing::TestSchema;
use chrono::Utc;
use serde_json::json;
use std::time::Duration;

/// Every message waiting on `sub` now (it has been committed before this is called).
async fn drain(sub: &mut Box<dyn Subscription>) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), sub.recv(100)).await {
            Ok(got) => {
                let got = got.expect("recv").expect("open");
                sub.ack(&got).await.expect("ack");
                out.extend(got.into_iter().map(|d| d.message));
            }
            Err(_) => return out,
        }
    }
}

async fn queued(pg: &TestSchema) -> i64 {
    sqlx::query_scalar("SELECT (SELECT count(*) FROM queue) + (SELECT count(*) FROM queue_held)")
        .fetch_one(pg.pool())
        .await
        .expect("count queue")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_writes_the_messages_of_its_changes() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let store = pg.store().clone();
    assert_eq!(store.outbox(), None, "off until a transport is opened");
    let transport = PgTransport::open(&store).await.expect("transport");
    assert!(store.outbox().is_some(), "on once a transport is opened");
    assert_eq!(
        store.outbox(),
        transport.outbox(),
        "the transport delivers it"
    );
    let mut events = transport.subscribe(Topic::Events).await.expect("sub");
    let mut requested = transport.subscribe(Topic::Requested).await.expect("sub");
    let mut scheduled = transport.subscribe(Topic::Scheduled).await.expect("sub");
    let mut finished = transport.subscribe(Topic::Finished).await.expect("sub");

    let now = Utc::now();
    let (e1, e2) = (
        Event::new("ob.t", json!({"n": 1}), now),
        Event::new("ob.t", json!({"n": 2}), now),
    );
    for r in store.insert_events(&[e1.clone(), e2.clone()]).await {
        r.expect("insert");
    }
    let got = drain(&mut events).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&Message::Event(e1.id)) && got.contains(&Message::Event(e2.id)));
    // An event that exists is not inserted, nor announced.
    let again = store.insert_event(&e1).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert_eq!(
        drain(&mut events).await,
        vec![],
        "nothing for a refused insert"
    );

    let x = Execution::new("ob.a", "native", json!({}), now);
    let mut delayed = Execution::new("ob.a", "native", json!({}), now);
    delayed.status = ExecutionStatus::Delayed;
    // Created past `requested` (no policy to ask): straight to the running stage.
    let mut direct = Execution::new("ob.a", "native", json!({}), now);
    direct.status = ExecutionStatus::Scheduled;
    for r in store
        .insert_executions(&[x.clone(), delayed, direct.clone()])
        .await
    {
        r.expect("insert");
    }
    assert_eq!(
        drain(&mut requested).await,
        vec![Message::Requested(x.id)],
        "requested executions only"
    );
    assert_eq!(
        drain(&mut scheduled).await,
        vec![Message::Scheduled(direct.id)],
        "an execution inserted scheduled"
    );

    let to = |s| ExecutionChange::to(s, Utc::now());
    store
        .transition_execution(
            x.id,
            ExecutionStatus::Requested,
            to(ExecutionStatus::Scheduled),
        )
        .await
        .expect("schedule");
    assert_eq!(drain(&mut scheduled).await, vec![Message::Scheduled(x.id)]);
    store
        .transition_executions(vec![(
            x.id,
            ExecutionStatus::Scheduled,
            to(ExecutionStatus::Running),
        )])
        .await
        .pop()
        .expect("one")
        .expect("run");
    // A transition refused by its compare-and-set writes nothing.
    let refused = store
        .transition_execution(
            x.id,
            ExecutionStatus::Scheduled,
            to(ExecutionStatus::Failed),
        )
        .await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
    store
        .transition_execution(
            x.id,
            ExecutionStatus::Running,
            to(ExecutionStatus::Succeeded),
        )
        .await
        .expect("end");
    assert_eq!(
        drain(&mut finished).await,
        vec![Message::Finished(StatusChange {
            execution: x.id,
            status: ExecutionStatus::Succeeded,
        })],
        "one Finished, for the terminal transition only"
    );
    assert_eq!(
        drain(&mut scheduled).await,
        vec![],
        "running is not announced"
    );
    assert_eq!(
        queued(&pg).await,
        0,
        "everything delivered was acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_transport_the_store_writes_no_messages() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let store = pg.store();
    store
        .insert_event(&Event::new("ob.t", json!({}), Utc::now()))
        .await
        .expect("insert");
    store
        .insert_execution(&Execution::new("ob.a", "native", json!({}), Utc::now()))
        .await
        .expect("insert");
    assert_eq!(queued(&pg).await, 0, "no outbox rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_refuses_a_store_whose_outbox_its_transport_does_not_deliver() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let store = pg.store().clone();
    let _transport = PgTransport::open(&store).await.expect("transport");
    let refused = attune_core::Engine::builder()
        .store(std::sync::Arc::new(store))
        .build()
        .await;
    match refused {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "engine settings");
            assert!(message.contains("outbox"), "{message}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}
