//! Leadership across processes: one `PgLeader` of a name at a time, another once the holder
//! goes; engines gated by it fire each timer once across the cluster, and the timers go on
//! in the other engine when the leader stops. Skipped, saying why, when the test server
//! cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.
//!
//! No timing assertion: waits are bounded by a guard against hangs only.

use attune_core::model::Rule;
use attune_core::store::{EventFilter, Store};
use attune_core::{Engine, conformance};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgLeader, PgStore, PgTransport};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(30);
const CHECK: Duration = Duration::from_millis(100);

/// Waits until `cond` holds, failing with `what` after [`GUARD`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn one_leader_at_a_time_and_another_when_it_goes() {
    conformance::run(async {
        let Some(pg) = TestSchema::create().await else {
            return;
        };
        let peer = pg.peer().await;
        let a = PgLeader::campaign_every(pg.store(), "singletons", CHECK);
        let b = PgLeader::campaign_every(&peer, "singletons", CHECK);
        until("one of two campaigns leads", || {
            a.is_leader() || b.is_leader()
        })
        .await;
        // Several checks later, still exactly one.
        tokio::time::sleep(CHECK * 5).await;
        assert!(a.is_leader() != b.is_leader(), "exactly one leads");
        // Another name is another leadership.
        let c = PgLeader::campaign_every(&peer, "other", CHECK);
        until("a campaign for another name leads", || c.is_leader()).await;
        let (gone, stays) = if a.is_leader() { (a, b) } else { (b, a) };
        drop(gone);
        until("the other campaign leads once the leader is gone", || {
            stays.is_leader()
        })
        .await;
    });
}

/// An engine on `store` with its own transport, gated by a campaign, and a timer rule firing
/// every second.
async fn timer_engine(store: &PgStore, name: &str) -> (Engine, PgLeader) {
    let leader = PgLeader::campaign_every(store, "singletons", CHECK);
    let engine = Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(PgTransport::open(store).await.expect("transport")))
        .worker_id(name)
        .singletons(leader.watch())
        .build()
        .await
        .expect("engine");
    let mut rule = Rule::new("t.every", "core.intervaltimer", "core.noop");
    rule.trigger_params = json!({"unit": "seconds", "delta": 1});
    engine.register_rule(rule).await.expect("timer rule");
    (engine, leader)
}

/// The trace tags (`timer:<due>`) of the timer's events, each once; panics on a repeat.
async fn fires(store: &PgStore) -> HashSet<String> {
    let events = store
        .list_events(
            &EventFilter::new().trigger("core.intervaltimer"),
            &attune_core::store::Page::first(1000),
        )
        .await
        .expect("list events");
    let mut seen = HashSet::new();
    for e in events {
        let tag = e.trace_tag.clone().expect("a timer event has a trace tag");
        assert!(seen.insert(tag.clone()), "the fire {tag} was emitted twice");
    }
    seen
}

#[test]
fn timers_fire_once_across_engines_and_go_on_when_the_leader_stops() {
    conformance::run(async {
        let Some(pg) = TestSchema::create().await else {
            return;
        };
        let peer = pg.peer().await;
        let (a, lead_a) = timer_engine(pg.store(), "a").await;
        let (b, lead_b) = timer_engine(&peer, "b").await;
        until("one engine leads", || {
            lead_a.is_leader() || lead_b.is_leader()
        })
        .await;
        let mut n = 0;
        let deadline = tokio::time::Instant::now() + GUARD;
        while n < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the timer fired {n} times"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            n = fires(pg.store()).await.len();
        }
        // The leader stops (as its process would at exit); the other goes on.
        let (gone, gone_leader, stays, stays_leader) = if lead_a.is_leader() {
            (a, lead_a, b, lead_b)
        } else {
            (b, lead_b, a, lead_a)
        };
        assert!(gone.shutdown(Duration::from_secs(5)).await);
        drop(gone);
        drop(gone_leader);
        until("the other engine leads", || stays_leader.is_leader()).await;
        let before = fires(pg.store()).await.len();
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the timer stopped after the failover"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            if fires(pg.store()).await.len() >= before + 2 {
                break;
            }
        }
        stays.shutdown(Duration::from_secs(5)).await;
    });
}
