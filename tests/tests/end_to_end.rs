//! End to end through the public API only: a host program wires events, rules, a native and
//! a Rhai action, and a cascade where one action emits the next event.

use attune_core::Engine;
use attune_core::model::{Action, ExecutionStatus, Rule, TriggerType};
use attune_core::params::ParamSpec;
use serde_json::{Value, json};
use std::time::Duration;

// Proves a two-step cascade: an alert is scored by a Rhai action, and a native action that
// sees a high score emits a page event, which a second rule turns into a page execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_cascade_runs_through_rhai_and_native_actions() {
    let engine = Engine::builder().build().await.unwrap();
    for t in ["ops.alert", "ops.page"] {
        engine
            .register_trigger_type(TriggerType::new(t))
            .await
            .unwrap();
    }
    engine
        .register_action(
            Action::new("ops.score", "rhai")
                .param("cpu", ParamSpec::number().required())
                .param("mem", ParamSpec::number().required())
                .code("let s = cpu * 0.7 + mem * 0.3; #{ score: s, high: s > 80.0 }"),
        )
        .await
        .unwrap();
    let emitter = engine.clone();
    engine
        .register_fn("ops.route", move |ctx| {
            let engine = emitter.clone();
            async move {
                let host = ctx.param("host").cloned().unwrap_or(Value::Null);
                engine
                    .emit("ops.page", json!({"host": host, "why": "cpu"}))
                    .await?;
                Ok(json!({"routed": host}))
            }
        })
        .await
        .unwrap();
    engine
        .register_fn("ops.pager", |ctx| async move {
            Ok(json!({"paged": ctx.param("who").cloned()}))
        })
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ops.score_alerts", "ops.alert", "ops.score")
                .param("cpu", json!("{{ trigger.cpu }}"))
                .param("mem", json!("{{ trigger.mem }}")),
        )
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ops.route_hot", "ops.alert", "ops.route")
                .expression("payload.cpu * 0.7 + payload.mem * 0.3 > 80.0")
                .param("host", json!("{{ trigger.host }}")),
        )
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ops.page_oncall", "ops.page", "ops.pager")
                .criteria(json!({"trigger.host": {"type": "startswith", "pattern": "db-"}}))
                .param("who", json!("oncall for {{ trigger.host }}")),
        )
        .await
        .unwrap();

    let hot = engine
        .emit("ops.alert", json!({"host": "db-1", "cpu": 99, "mem": 90}))
        .await
        .unwrap();
    let cool = engine
        .emit("ops.alert", json!({"host": "db-2", "cpu": 10, "mem": 20}))
        .await
        .unwrap();
    engine.settle(Duration::from_secs(10)).await.unwrap();

    let hot_trace = engine.trace_event(hot).await.unwrap();
    assert_eq!(
        hot_trace.executions.len(),
        2,
        "score and route for the hot alert"
    );
    let score = hot_trace
        .executions
        .iter()
        .find(|e| e.action == "ops.score")
        .unwrap();
    assert_eq!(score.status, ExecutionStatus::Succeeded);
    assert_eq!(score.result.as_ref().unwrap()["high"], json!(true));
    let cool_trace = engine.trace_event(cool).await.unwrap();
    assert_eq!(
        cool_trace.executions.len(),
        1,
        "only scoring for the cool alert"
    );
    assert_eq!(
        cool_trace.executions[0].result.as_ref().unwrap()["high"],
        json!(false)
    );

    let pages = engine
        .store()
        .list_executions(
            &attune_core::store::ExecutionFilter::new().action("ops.pager"),
            &attune_core::store::Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].result, Some(json!({"paged": "oncall for db-1"})));
    let trace = engine.trace_execution(pages[0].id).await.unwrap();
    assert_eq!(trace.event.unwrap().payload["host"], json!("db-1"));
    assert_eq!(trace.rule.unwrap().rule_ref, "ops.page_oncall");
    engine.shutdown(Duration::from_secs(2)).await;
}
