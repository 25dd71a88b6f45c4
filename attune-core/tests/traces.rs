//! Traces: an event's trace holds what its rules started and every workflow task under
//! them; an execution a caller started is the root of its own; every execution names the
//! trace it belongs to (through its workflow parents and earlier attempts).

mod common;
use attune_core::model::{Execution, ExecutionId, ExecutionStatus, Rule, TriggerType};
use attune_core::workflow::parse;
use attune_core::{Engine, Error, TraceRoot};
use common::SAFETY;
use serde_json::{Value, json};

/// An engine with `tr.echo`, the workflows `tr.inner` (one task) and `tr.outer` (one task
/// running `tr.inner`), the trigger `tr.go` and the rule `tr.on_go` running `tr.outer`.
async fn engine() -> Engine {
    let e = common::engine().await;
    e.register_fn("tr.echo", |ctx| async move {
        Ok(ctx.param("message").cloned().unwrap_or(Value::Null))
    })
    .await
    .unwrap();
    let inner = parse(
        "tasks:\n  hi:\n    action: tr.echo message=hi\n",
        "inner.yaml",
    )
    .unwrap();
    e.register_workflow("tr.inner", inner).await.unwrap();
    let outer = parse("tasks:\n  call:\n    action: tr.inner\n", "outer.yaml").unwrap();
    e.register_workflow("tr.outer", outer).await.unwrap();
    e.register_trigger_type(TriggerType::new("tr.go"))
        .await
        .unwrap();
    e.register_rule(Rule::new("tr.on_go", "tr.go", "tr.outer"))
        .await
        .unwrap();
    e
}

/// The actions of `xs`, in order.
fn actions(xs: &[Execution]) -> Vec<&str> {
    xs.iter().map(|x| x.action.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_trace_holds_the_workflow_tasks_at_every_depth() {
    let e = engine().await;
    let trace = common::emit_and_trace(&e, "tr.go", json!({})).await;
    assert_eq!(trace.enforcements.len(), 1, "{trace:#?}");
    assert_eq!(
        actions(&trace.executions),
        ["tr.outer", "tr.inner", "tr.echo"],
        "the rule's execution, its task, and the task's own task, in creation order"
    );
    assert!(
        trace
            .executions
            .iter()
            .all(|x| x.status == ExecutionStatus::Succeeded)
    );
    for x in &trace.executions {
        assert_eq!(
            e.trace_root(x.id).await.unwrap(),
            TraceRoot::Event(trace.event.id),
            "{} belongs to the event's trace",
            x.action
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_a_caller_started_is_the_root_of_its_trace() {
    let e = engine().await;
    let outer = tokio::time::timeout(SAFETY, e.run("tr.outer", json!({})))
        .await
        .unwrap()
        .unwrap();
    let all = e.trace_started(outer.id).await.unwrap();
    assert_eq!(actions(&all), ["tr.outer", "tr.inner", "tr.echo"]);
    for x in &all {
        assert_eq!(
            e.trace_root(x.id).await.unwrap(),
            TraceRoot::Execution(outer.id)
        );
    }
    // A later attempt of it (as a retry policy makes one) belongs to the same trace.
    let mut retry = Execution::new("tr.outer", "workflow", json!({}), chrono::Utc::now());
    retry.retry_of = Some(outer.id);
    retry.attempt = 1;
    e.store().insert_execution(&retry).await.unwrap();
    assert_eq!(
        e.trace_root(retry.id).await.unwrap(),
        TraceRoot::Execution(outer.id)
    );
    let all = e.trace_started(outer.id).await.unwrap();
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all.last().map(|x| x.id), Some(retry.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_cyclic_executions_are_errors_not_hangs() {
    let e = engine().await;
    let nobody = ExecutionId::new();
    assert!(matches!(
        e.trace_root(nobody).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.trace_started(nobody).await,
        Err(Error::NotFound { .. })
    ));
    // Two records naming each other as parent (only a corrupt store holds such a thing).
    let now = chrono::Utc::now();
    let mut a = Execution::new("tr.echo", "native", json!({}), now);
    let mut b = Execution::new("tr.echo", "native", json!({}), now);
    a.parent = Some(b.id);
    b.parent = Some(a.id);
    e.store().insert_execution(&a).await.unwrap();
    e.store().insert_execution(&b).await.unwrap();
    let err = e.trace_root(a.id).await.unwrap_err();
    assert!(
        err.to_string().contains(&a.id.to_string()) && err.to_string().contains("do not end"),
        "{err}"
    );
}
