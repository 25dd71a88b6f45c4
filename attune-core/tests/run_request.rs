//! What the engine puts on a run request besides params: the pack's config (real values,
//! masked in the outcome when secret) and a key-store handle scoped to the action's pack.

use async_trait::async_trait;
use attune_core::Engine;
use attune_core::model::{ExecutionStatus, KeyScope};
use attune_core::runtime::{KeyAccessScope, RunOutput, RunRequest, Runtime};
use attune_core::store::{MemoryStore, Store};
use serde_json::json;
use std::sync::Arc;

/// Runs an action by echoing its config and writing a key through its handle.
#[derive(Debug)]
struct ConfigAndKeys;

#[async_trait]
impl Runtime for ConfigAndKeys {
    fn name(&self) -> &str {
        "probe"
    }

    async fn run(&self, req: RunRequest) -> attune_core::Result<RunOutput> {
        let keys = req.keys.as_ref().expect("the engine gives a key handle");
        keys.set(KeyAccessScope::Pack, "seen", json!(1), None)
            .await?;
        keys.set(KeyAccessScope::System, "everyone", json!(2), None)
            .await?;
        let user = keys
            .get(KeyAccessScope::User, "x")
            .await
            .unwrap_err()
            .to_string();
        let config = req.config.as_deref().cloned().unwrap_or_default();
        let real = config["token"] == "tok-secret-value";
        Ok(RunOutput::success(
            json!({ "config": config, "user": user, "token_is_real": real }),
        ))
    }
}

#[tokio::test]
async fn the_run_request_carries_the_pack_config_and_a_key_handle_of_its_pack() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cfg");
    std::fs::create_dir_all(root.join("actions")).unwrap();
    std::fs::write(
        root.join("pack.yaml"),
        "ref: cfg\nversion: 0.1.0\nconfig:\n  region: north\n  token: tok-secret-value\n",
    )
    .unwrap();
    std::fs::write(
        root.join("config.schema.yaml"),
        "region:\n  type: string\ntoken:\n  type: string\n  secret: true\n",
    )
    .unwrap();
    std::fs::write(
        root.join("actions/probe.yaml"),
        "name: probe\nrunner_type: probe\n",
    )
    .unwrap();
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .store(store.clone())
        .runtime(Arc::new(ConfigAndKeys))
        .build()
        .await
        .unwrap();
    engine.load_pack(&root).await.unwrap();
    let x = engine.run("cfg.probe", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    let result = x.result.unwrap();
    assert_eq!(result["config"]["region"], "north");
    // The runtime saw the real value; what is stored has it masked.
    assert_eq!(result["token_is_real"], true);
    assert_ne!(result["config"]["token"], "tok-secret-value");
    assert!(!result.to_string().contains("tok-secret-value"));
    assert!(
        result["user"]
            .as_str()
            .unwrap()
            .contains("no user is known for this execution"),
        "{result}"
    );
    let pack_key = store
        .get_key(&KeyScope::Pack("cfg".into()), "seen")
        .await
        .unwrap();
    assert_eq!(pack_key.map(|k| k.value), Some(json!(1)));
    let system_key = store.get_key(&KeyScope::System, "everyone").await.unwrap();
    assert_eq!(system_key.map(|k| k.value), Some(json!(2)));
}

/// Reports whether its run request carried a key handle; it says it uses none.
#[derive(Debug)]
struct NoKeys;

#[async_trait]
impl Runtime for NoKeys {
    fn name(&self) -> &str {
        "nokeys"
    }

    fn uses_keys(&self) -> bool {
        false
    }

    async fn run(&self, req: RunRequest) -> attune_core::Result<RunOutput> {
        Ok(RunOutput::success(
            json!({ "had_keys": req.keys.is_some() }),
        ))
    }
}

#[tokio::test]
async fn a_runtime_that_uses_no_keys_gets_no_key_handle_and_the_others_still_do() {
    let engine = Engine::builder()
        .runtime(Arc::new(NoKeys))
        .runtime(Arc::new(ConfigAndKeys))
        .build()
        .await
        .unwrap();
    engine
        .register_action(attune_core::model::Action::new("t.none", "nokeys"))
        .await
        .unwrap();
    engine
        .register_action(attune_core::model::Action::new("t.probe", "probe"))
        .await
        .unwrap();
    let x = engine.run("t.none", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(x.result.unwrap()["had_keys"], false);
    // The default (`uses_keys` true): the handle is there (the probe expects it).
    let x = engine.run("t.probe", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
}
