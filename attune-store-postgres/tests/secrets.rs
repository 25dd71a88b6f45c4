//! Secret parameter values across processes: an execution created by one engine (roles
//! match and schedule) and run by another (role work) gets its real secret values when both
//! have the same encryption key (sealed into the execution), and fails saying why when the
//! runner has no key. The stored params never hold them in clear. Skipped, saying why, when
//! the server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::keystore::EncryptionKey;
use attune_core::model::{Action, ExecutionStatus, Rule, TriggerType};
use attune_core::params::ParamSpec;
use attune_core::store::{ExecutionFilter, StoreExt};
use attune_core::{Engine, Result, Role};
use attune_store_postgres::testing::TestSchema;
use attune_store_postgres::{PgStore, PgTransport};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "s3cr3t-value";

/// An engine with `roles`, the key `key` if any, the trigger `sec.tick` and the action
/// `sec.use` (secret param `token`), whose result is the token's length and a line that
/// prints it.
async fn engine(store: &PgStore, roles: &[Role], key: Option<&EncryptionKey>) -> Result<Engine> {
    let mut b = Engine::builder()
        .store(Arc::new(store.clone()))
        .transport(Arc::new(PgTransport::open(store).await?))
        .roles(roles.iter().copied());
    if let Some(k) = key {
        b = b.encryption_key(k.clone());
    }
    let engine = b.build().await?;
    engine
        .register_trigger_type(TriggerType::new("sec.tick"))
        .await?;
    engine
        .register_native(
            Action::new("sec.use", "native").param("token", ParamSpec::string().secret()),
            |ctx| async move {
                let token = ctx
                    .param("token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Ok(json!({"len": token.len(), "said": format!("the token is {token}")}))
            },
        )
        .await?;
    Ok(engine)
}

/// A front engine (match, schedule) with an encryption key and the rule passing the
/// event's token, and a worker engine (work) with the same key or none.
async fn front_and_worker(pg: &TestSchema, worker_has_key: bool) -> (Engine, Engine) {
    let key = EncryptionKey::generate().expect("key");
    let front = engine(pg.store(), &[Role::Match, Role::Schedule], Some(&key))
        .await
        .expect("front");
    front
        .register_rule(
            Rule::new("sec.on_tick", "sec.tick", "sec.use")
                .param("token", json!("{{ trigger.token }}")),
        )
        .await
        .expect("rule");
    let worker_key = worker_has_key.then_some(&key);
    let worker = engine(&pg.peer().await, &[Role::Work], worker_key)
        .await
        .expect("worker");
    (front, worker)
}

/// Emits one event from `front` and waits for its execution to end; the execution.
async fn run_one(pg: &TestSchema, front: &Engine) -> attune_core::model::Execution {
    front
        .emit("sec.tick", json!({"token": TOKEN}))
        .await
        .expect("emit");
    front.settle(Duration::from_secs(60)).await.expect("settle");
    let mut xs = Vec::new();
    pg.each_execution(&ExecutionFilter::new(), &mut |x| xs.push(x.clone()))
        .await
        .expect("list");
    assert_eq!(xs.len(), 1, "{xs:?}");
    xs.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_reach_a_worker_with_the_same_key() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let (front, _worker) = front_and_worker(&pg, true).await;
    let x = run_one(&pg, &front).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:?}");
    let result = x.result.clone().expect("a result");
    assert_eq!(
        result["len"],
        json!(TOKEN.len()),
        "the real value reached the action"
    );
    assert_eq!(
        result["said"],
        json!("the token is ********"),
        "masked in the output"
    );
    assert_eq!(
        x.params["token"],
        json!("********"),
        "never stored in clear"
    );
    let stored = serde_json::to_string(&x).unwrap();
    assert!(
        !stored.contains(TOKEN),
        "nowhere in the stored execution: {stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_key_fails_the_run_saying_why() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let (front, _worker) = front_and_worker(&pg, false).await;
    let x = run_one(&pg, &front).await;
    assert_eq!(x.status, ExecutionStatus::Failed, "{x:?}");
    let error = x.error.clone().unwrap_or_default();
    assert!(error.contains("encryption key"), "{error}");
    assert!(!error.contains(TOKEN), "{error}");
}
