//! Webhooks: a call to a path emits one `core.webhook` event per trigger instance of the
//! enabled rules naming it (`path`, or StackStorm's `url`); unknown paths emit nothing;
//! `Engine::webhooks` lists the paths with their rules and the secrets they ask for.

use attune_core::model::{ExecutionStatus, Rule};
use attune_core::store::{EventFilter, ExecutionFilter, Page};
use attune_core::{Engine, Error, WEBHOOK_TRIGGER, Webhook};
use serde_json::{Value, json};
use std::time::Duration;

async fn engine() -> Engine {
    let e = Engine::builder().build().await.unwrap();
    e.register_fn(
        "hook.log",
        |ctx| async move { Ok(Value::Object(ctx.params)) },
    )
    .await
    .unwrap();
    let rule = |name: &str, params: Value| {
        let mut r = Rule::new(format!("hook.{name}"), "core.webhook", "hook.log")
            .param("name", json!(name))
            .param("who", json!("{{ trigger.body.who }}"));
        r.trigger_params = params;
        r
    };
    for r in [
        rule("st2_url", json!({"url": "github"})),
        rule("same_instance", json!({"url": "github"})),
        rule("attune_path", json!({"path": "/github"})),
        rule("other", json!({"url": "gitlab"})),
        rule(
            "signed",
            json!({"url": "signed", "secret_key": "hook_secret"}),
        ),
    ] {
        e.register_rule(r).await.unwrap();
    }
    let mut off = rule("disabled", json!({"url": "github"}));
    off.enabled = false;
    e.register_rule(off).await.unwrap();
    e
}

#[tokio::test]
async fn a_call_emits_one_event_per_trigger_instance_and_runs_each_rule() {
    let e = engine().await;
    let ids = e
        .emit_webhook(
            "/github",
            json!({"method": "POST", "headers": {}, "query": {}, "body": {"who": "octocat"}}),
        )
        .await
        .unwrap();
    // {url: github} (two rules) and {path: /github}: two instances, two events.
    assert_eq!(ids.len(), 2);
    e.settle(Duration::from_secs(30)).await.unwrap();
    let events = e
        .events(&EventFilter::new(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    for ev in &events {
        assert_eq!(ev.trigger, WEBHOOK_TRIGGER);
        assert_eq!(ev.payload["path"], "github");
        assert_eq!(ev.payload["body"]["who"], "octocat");
    }
    let mut ran: Vec<String> = e
        .executions(&ExecutionFilter::new(), Page::first(10))
        .await
        .unwrap()
        .into_iter()
        .map(|x| {
            assert_eq!(x.status, ExecutionStatus::Succeeded);
            assert_eq!(x.result.as_ref().unwrap()["who"], "octocat");
            x.result.unwrap()["name"].as_str().unwrap().to_string()
        })
        .collect();
    ran.sort();
    assert_eq!(ran, vec!["attune_path", "same_instance", "st2_url"]);
}

#[tokio::test]
async fn an_unknown_path_emits_nothing_and_the_paths_are_listed() {
    let e = engine().await;
    match e.emit_webhook("nowhere", json!({"body": {}})).await {
        Err(Error::NotFound { kind, id }) => {
            assert_eq!((kind, id.as_str()), ("webhook", "nowhere"))
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(
        e.events(&EventFilter::new(), Page::first(10))
            .await
            .unwrap()
            .is_empty()
    );
    let hooks = e.webhooks();
    let paths: Vec<&str> = hooks.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths, vec!["github", "gitlab", "signed"]);
    assert_eq!(
        hooks[0],
        Webhook {
            path: "github".into(),
            secret_keys: vec![],
            rules: vec![
                "hook.attune_path".into(),
                "hook.same_instance".into(),
                "hook.st2_url".into()
            ],
        }
    );
    assert_eq!(hooks[2].secret_keys, vec!["hook_secret".to_string()]);
    assert_eq!(e.webhook("/github").as_ref(), Some(&hooks[0]));
    assert_eq!(e.webhook("nowhere"), None);
}
