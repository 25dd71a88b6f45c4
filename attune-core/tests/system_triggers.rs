//! StackStorm's internal triggers, emitted by the engine while a rule uses them: an
//! execution's end (`actiontrigger`), `notify` routes (`notifytrigger`, which the chatops
//! pack's rules serve), and key changes (`key_value_pair.*`); none when no rule uses them.

use async_trait::async_trait;
use attune_core::Engine;
use attune_core::keystore::KeyOptions;
use attune_core::model::{Action, Execution, ExecutionStatus, KeyScope, Notify, Rule};
use attune_core::params::ParamSpec;
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use attune_core::store::{EventFilter, ExecutionFilter, Page};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(30);

async fn engine() -> Engine {
    let e = Engine::builder().build().await.unwrap();
    e.register_fn("t.work", |ctx| async move {
        if ctx.param("fail") == Some(&json!(true)) {
            return Err(attune_core::Error::action_failed(
                "asked to",
                json!({"why": "asked"}),
            ));
        }
        Ok(json!({"done": ctx.param("what")}))
    })
    .await
    .unwrap();
    // Records what the rule gave it.
    e.register_fn("t.log", |ctx| async move { Ok(Value::Object(ctx.params)) })
        .await
        .unwrap();
    e
}

async fn runs_of(e: &Engine, rule: &str) -> Vec<Execution> {
    e.settle(SAFETY).await.unwrap();
    e.executions(&ExecutionFilter::new().rule(rule), Page::first(50))
        .await
        .unwrap()
}

async fn events_of(e: &Engine, trigger: &str) -> usize {
    e.settle(SAFETY).await.unwrap();
    e.count_events(&EventFilter::new().trigger(trigger))
        .await
        .unwrap() as usize
}

#[tokio::test]
async fn an_execution_end_fires_actiontrigger_with_stackstorms_payload() {
    let e = engine().await;
    let id = e.execute("t.work", json!({"what": "x"})).await.unwrap();
    e.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(
        events_of(&e, "core.st2.generic.actiontrigger").await,
        0,
        "no rule uses it: not emitted"
    );
    e.register_rule(
        Rule::new("t.on_end", "core.st2.generic.actiontrigger", "t.log")
            .criteria(json!({"trigger.action_ref": {"type": "equals", "pattern": "t.work"}}))
            .param("payload", json!("{{ trigger }}")),
    )
    .await
    .unwrap();
    let id = e.execute("t.work", json!({"what": "y"})).await.unwrap();
    e.wait_timeout(id, SAFETY).await.unwrap();
    let runs = runs_of(&e, "t.on_end").await;
    assert_eq!(
        runs.len(),
        1,
        "the log action's own end does not match the criteria"
    );
    let p = &runs[0].params["payload"];
    assert_eq!(p["execution_id"], json!(id.to_string()));
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["action_ref"], "t.work");
    assert_eq!(p["action_name"], "t.work");
    assert_eq!(p["runner_ref"], "native");
    assert_eq!(p["parameters"], json!({"what": "y"}));
    assert_eq!(p["result"], json!({"done": "y"}));
    assert!(p["start_timestamp"].as_str().unwrap().ends_with("+00:00"));
    e.shutdown(SAFETY).await;
}

fn notify(v: Value) -> Notify {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn notify_routes_fire_notifytrigger_for_the_ends_they_name() {
    let e = engine().await;
    let mut a = Action::new("t.notified", "native")
        .param("what", ParamSpec::string())
        .param("fail", ParamSpec::boolean());
    a.notify = notify(json!({
        "on-success": {"message": "{{ action_context.user }} did {{ what }}", "routes": ["errbot", "slack"],
                       "data": {"source_channel": "#ops", "n": 3}},
        "on-failure": {"message": "failed: {{ action_results.why }}", "routes": ["oncall"]},
    }));
    e.register_native(a, |ctx| async move {
        if ctx.param("fail") == Some(&json!(true)) {
            return Err(attune_core::Error::action_failed(
                "asked to",
                json!({"why": "asked"}),
            ));
        }
        Ok(json!({}))
    })
    .await
    .unwrap();
    e.register_rule(
        Rule::new("t.on_note", "core.st2.generic.notifytrigger", "t.log")
            .param("payload", json!("{{ trigger }}")),
    )
    .await
    .unwrap();
    let ok = e
        .execute_as("alice", "t.notified", json!({"what": "backups"}))
        .await
        .unwrap();
    e.wait_timeout(ok, SAFETY).await.unwrap();
    let runs = runs_of(&e, "t.on_note").await;
    let mut routes: Vec<String> = runs
        .iter()
        .map(|r| r.params["payload"]["route"].as_str().unwrap().to_string())
        .collect();
    routes.sort();
    assert_eq!(routes, ["errbot", "slack"]);
    let p = &runs[0].params["payload"];
    assert_eq!(p["message"], "alice did backups");
    assert_eq!(p["data"], json!({"source_channel": "#ops", "n": 3}));
    assert_eq!(p["execution_id"], json!(ok.to_string()));
    assert_eq!(p["channel"], p["route"]);
    assert!(p["end_timestamp"].is_string());

    let bad = e
        .execute("t.notified", json!({"what": "x", "fail": true}))
        .await
        .unwrap();
    assert_eq!(
        e.wait_timeout(bad, SAFETY).await.unwrap().status,
        ExecutionStatus::Failed
    );
    let runs = runs_of(&e, "t.on_note").await;
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.params["payload"]["route"] == "oncall")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].params["payload"]["message"], "failed: asked");
    e.shutdown(SAFETY).await;
}

/// Runs any action of its runner and succeeds (the chatops pack's Python actions).
#[derive(Debug)]
struct StandIn(&'static str);

#[async_trait]
impl Runtime for StandIn {
    fn name(&self) -> &str {
        self.0
    }
    async fn run(&self, _req: RunRequest) -> attune_core::Result<RunOutput> {
        Ok(RunOutput::success(json!({"enabled": false})))
    }
}

#[tokio::test]
async fn the_chatops_packs_rule_serves_a_notify_route() {
    let e = Engine::builder()
        .runtime(Arc::new(StandIn("python")))
        .build()
        .await
        .unwrap();
    let chatops = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/st2-packs/chatops");
    e.load_pack(&chatops).await.unwrap();
    let mut a = Action::new("ops.deploy", "native");
    a.notify = notify(json!({"on-complete": {
        "routes": ["errbot"],
        "data": {"source_channel": "#deploys", "user": "bob", "source_context": {"via": "chat"}},
    }}));
    e.register_native(a, |_ctx| async move { Ok(json!({"deployed": true})) })
        .await
        .unwrap();
    let id = e.execute("ops.deploy", json!({})).await.unwrap();
    e.wait_timeout(id, SAFETY).await.unwrap();
    // StackStorm's rule `chatops.notify-errbot` (criteria: trigger.route equals errbot).
    let runs = runs_of(&e, "chatops.notify-errbot").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].action, "chatops.post_result");
    let p = &runs[0].params;
    assert_eq!(p["channel"], "#deploys");
    assert_eq!(p["user"], "bob");
    assert_eq!(p["execution_id"], json!(id.to_string()));
    assert_eq!(p["route"], "errbot");
    assert_eq!(p["context"], json!({"via": "chat"}));
    // The hubot rule wants another route.
    assert!(runs_of(&e, "chatops.notify").await.is_empty());
    e.shutdown(SAFETY).await;
}

#[tokio::test]
async fn an_inquiry_fires_the_inquiry_trigger_with_its_route() {
    let e = engine().await;
    e.register_rule(
        Rule::new("t.on_ask", "core.st2.generic.inquiry", "t.log")
            .param("payload", json!("{{ trigger }}")),
    )
    .await
    .unwrap();
    let id = e
        .execute("core.ask", json!({"route": "ops-chat"}))
        .await
        .unwrap();
    let mut runs = Vec::new();
    for _ in 0..3_000 {
        runs = runs_of(&e, "t.on_ask").await;
        if !runs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runs.len(), 1, "the inquiry's event ran its rule once");
    assert_eq!(
        runs[0].params["payload"],
        json!({"id": id.to_string(), "route": "ops-chat"})
    );
    e.shutdown(SAFETY).await;
}

#[tokio::test]
async fn key_changes_fire_the_key_value_pair_triggers() {
    let e = engine().await;
    for t in ["create", "update", "value_change", "delete"] {
        e.register_rule(
            Rule::new(
                format!("t.kv_{t}"),
                format!("core.st2.key_value_pair.{t}"),
                "t.log",
            )
            .param("payload", json!("{{ trigger }}")),
        )
        .await
        .unwrap();
    }
    let scope = KeyScope::System;
    e.set_key(scope.clone(), "colour", json!("red"), KeyOptions::default())
        .await
        .unwrap();
    e.set_key(scope.clone(), "colour", json!("red"), KeyOptions::default())
        .await
        .unwrap();
    e.set_key(
        scope.clone(),
        "colour",
        json!("blue"),
        KeyOptions::default(),
    )
    .await
    .unwrap();
    assert!(e.delete_key(&scope, "colour").await.unwrap());
    let created = runs_of(&e, "t.kv_create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].params["payload"]["object"]["name"], "colour");
    assert_eq!(created[0].params["payload"]["object"]["value"], "red");
    assert_eq!(
        created[0].params["payload"]["object"]["scope"],
        "st2kv.system"
    );
    assert_eq!(runs_of(&e, "t.kv_update").await.len(), 2);
    let changed = runs_of(&e, "t.kv_value_change").await;
    assert_eq!(changed.len(), 1, "setting the same value is not a change");
    assert_eq!(changed[0].params["payload"]["old_object"]["value"], "red");
    assert_eq!(changed[0].params["payload"]["new_object"]["value"], "blue");
    let deleted = runs_of(&e, "t.kv_delete").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].params["payload"]["object"]["value"], "blue");

    e.shutdown(SAFETY).await;
}
