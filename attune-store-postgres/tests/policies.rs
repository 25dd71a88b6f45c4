//! Policies across processes: two engines on one schema (each with its own pools, as two
//! processes) schedule executions of an action with a concurrency limit of 1, and never run
//! two at once — one engine holds the policies' leadership and decides for both; the other
//! leaves its requests `delayed` for it. Skipped, saying why, when the server cannot be
//! reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::model::{
    ConcurrencyOverflow, ExecutionStatus, Policy, PolicyKind, Rule, TriggerType,
};
use attune_core::store::{ExecutionFilter, StoreExt};
use attune_core::{Engine, Result};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgLeader, PgStore, PgTransport};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Runs of `pol.slow` at this moment, in both engines, and the most seen at once.
#[derive(Default)]
struct Probe {
    now: AtomicU32,
    most: AtomicU32,
    runs: AtomicU32,
}

async fn engine(store: &PgStore, name: &str, probe: Arc<Probe>) -> Result<(Engine, PgLeader)> {
    let leader = PgLeader::campaign_every(store, "policies", Duration::from_millis(200));
    let engine = Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(PgTransport::open(store).await?))
        .policies_leader(leader.watch())
        .worker_id(name)
        .build()
        .await?;
    engine
        .register_trigger_type(TriggerType::new("pol.tick"))
        .await?;
    engine
        .register_fn("pol.slow", move |_ctx| {
            let probe = probe.clone();
            async move {
                let now = probe.now.fetch_add(1, Ordering::SeqCst) + 1;
                probe.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                probe.now.fetch_sub(1, Ordering::SeqCst);
                probe.runs.fetch_add(1, Ordering::SeqCst);
                Ok(json!({}))
            }
        })
        .await?;
    Ok((engine, leader))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_across_engines() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let probe = Arc::new(Probe::default());
    let (a, _la) = engine(pg.store(), "a", probe.clone()).await.expect("a");
    let (b, _lb) = engine(&pg.peer().await, "b", probe.clone())
        .await
        .expect("b");
    a.register_rule(Rule::new("pol.on_tick", "pol.tick", "pol.slow"))
        .await
        .expect("rule");
    a.register_policy(Policy {
        policy_ref: "pol.one_at_a_time".into(),
        action: "pol.slow".into(),
        kind: PolicyKind::Concurrency {
            limit: 1,
            overflow: ConcurrencyOverflow::Delay,
            attributes: vec![],
        },
        enabled: true,
    })
    .await
    .expect("policy");
    // Both engines follow the policy (definitions are followed before each batch): emit
    // from both, so that each schedules some.
    const N: u32 = 16;
    for i in 0..N {
        let from = if i % 2 == 0 { &a } else { &b };
        from.emit("pol.tick", json!({"i": i})).await.expect("emit");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut ended = 0;
        pg.each_execution(&ExecutionFilter::new(), &mut |x| {
            if x.status == ExecutionStatus::Succeeded {
                ended += 1;
            }
        })
        .await
        .expect("list");
        if ended == N {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ended} of {N} succeeded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(probe.runs.load(Ordering::SeqCst), N, "each ran once");
    assert_eq!(
        probe.most.load(Ordering::SeqCst),
        1,
        "never two runs at once across the engines"
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
