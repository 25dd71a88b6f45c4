//! Inquiries: `core.ask` waits `pending`; a response fitting the schema, from an allowed
//! responder, ends it `succeeded` once; an expired one ends `timeout`; a workflow that asks
//! pauses and resumes with the response; a restart keeps the question.

use attune_core::clock::ManualClock;
use attune_core::model::ExecutionStatus;
use attune_core::store::MemoryStore;
use attune_core::{Engine, Error, Responder};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(10);

async fn pending(engine: &Engine, id: attune_core::model::ExecutionId) {
    let until = tokio::time::Instant::now() + SAFETY;
    while engine.execution(id).await.unwrap().status != ExecutionStatus::Pending {
        assert!(tokio::time::Instant::now() < until, "never pending");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn approval_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "required": true},
            "note": {"type": "string"}
        }
    })
}

// An inquiry waits, is listed, accepts one response that fits its schema, and ends
// succeeded with the response in its result; a second response is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_accepts_one_fitting_response() {
    let engine = Engine::builder().build().await.unwrap();
    let id = engine
        .execute(
            "core.ask",
            json!({"schema": approval_schema(), "route": "ops", "ttl": 30}),
        )
        .await
        .unwrap();
    // Waiting for a person is not work in flight.
    engine.settle(SAFETY).await.unwrap();
    pending(&engine, id).await;
    let listed = engine.inquiries().await.unwrap();
    assert_eq!(listed.len(), 1);
    let q = &listed[0];
    assert_eq!((q.id, q.route.as_str(), q.ttl_minutes), (id, "ops", 30));
    assert_eq!(q.expires - q.asked, chrono::Duration::minutes(30));

    // Not fitting: refused naming the path, nothing changes.
    let err = engine
        .respond(id, json!({"approved": "yes"}), &Responder::anyone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("/approved"), "{err}");
    let err = engine
        .respond(id, json!({"note": "hm"}), &Responder::anyone())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("/approved: is a required property"),
        "{err}"
    );
    assert_eq!(
        engine.execution(id).await.unwrap().status,
        ExecutionStatus::Pending
    );

    let done = engine
        .respond(id, json!({"approved": true}), &Responder::anyone())
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let result = done.result.unwrap();
    assert_eq!(result["response"], json!({"approved": true}));
    assert_eq!(result["route"], json!("ops"));
    let err = engine
        .respond(id, json!({"approved": false}), &Responder::anyone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(err.to_string().contains("it is succeeded"), "{err}");
    assert!(engine.inquiries().await.unwrap().is_empty());
}

// Users and roles: only those named may respond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_users_and_roles_may_respond() {
    let engine = Engine::builder().build().await.unwrap();
    let id = engine
        .execute("core.ask", json!({"users": ["ann"], "roles": ["ops"]}))
        .await
        .unwrap();
    pending(&engine, id).await;
    let yes = json!({"continue": true});
    for who in [
        Responder::anyone(),
        Responder::user("bob", vec!["dev".into()]),
    ] {
        let err = engine.respond(id, yes.clone(), &who).await.unwrap_err();
        assert!(err.to_string().contains("may not respond"), "{err}");
    }
    let done = engine
        .respond(
            id,
            yes.clone(),
            &Responder::user("carl", vec!["ops".into()]),
        )
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);

    let id = engine
        .execute("core.ask", json!({"users": ["ann"]}))
        .await
        .unwrap();
    pending(&engine, id).await;
    let done = engine
        .respond(id, yes, &Responder::user("ann", vec![]))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
}

// Past its ttl an inquiry ends timeout: found by the sweep, or by a late response (which
// is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_inquiry_ends_timeout() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let engine = Engine::builder()
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    let late = engine.execute("core.ask", json!({"ttl": 1})).await.unwrap();
    let swept = engine.execute("core.ask", json!({"ttl": 1})).await.unwrap();
    let fresh = engine.execute("core.ask", json!({"ttl": 5})).await.unwrap();
    for id in [late, swept, fresh] {
        pending(&engine, id).await;
    }
    clock.advance(chrono::TimeDelta::seconds(120));
    let err = engine
        .respond(late, json!({"continue": true}), &Responder::anyone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(
        engine.execution(late).await.unwrap().status,
        ExecutionStatus::Timeout
    );
    engine.recover().await.unwrap();
    let e = engine.execution(swept).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Timeout);
    assert!(e.error.unwrap().contains("not answered within its ttl"));
    assert_eq!(
        engine.execution(fresh).await.unwrap().status,
        ExecutionStatus::Pending
    );
}

// Bad input: an unknown inquiry, an execution that is not one, a bad schema or ttl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inquiries_and_responses_are_refused() {
    let engine = Engine::builder().build().await.unwrap();
    let err = engine
        .respond(
            attune_core::model::ExecutionId::new(),
            json!({}),
            &Responder::anyone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let x = engine.run("core.noop", json!({})).await.unwrap();
    let err = engine.inquiry(x.id).await.unwrap_err();
    assert!(err.to_string().contains("is not an inquiry"), "{err}");
    for (params, want) in [
        (json!({"ttl": 0}), "param 'ttl'"),
        (
            json!({"schema": {"type": 12}}),
            "param 'schema' is not a valid JSON Schema",
        ),
    ] {
        let x = engine.run("core.ask", params).await.unwrap();
        assert_eq!(x.status, ExecutionStatus::Failed);
        assert!(x.error.as_deref().unwrap().contains(want), "{x:?}");
    }
}

// A workflow whose task asks is paused while the inquiry waits; the response resumes it,
// and the task's result (with the response) is published as Orquesta publishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_pauses_on_its_inquiry_and_resumes_with_the_response() {
    let engine = Engine::builder().build().await.unwrap();
    let wf = attune_core::workflow::parse(
        r#"
version: 1.0
output:
  - approved: <% ctx(approved) %>
tasks:
  ask:
    action: core.ask
    input:
      schema:
        type: object
        properties:
          approved: {type: boolean, required: true}
    next:
      - when: <% succeeded() %>
        publish:
          - approved: <% result().response.approved %>
        do: after
  after:
    action: core.noop
"#,
        "ask.yaml",
    )
    .unwrap();
    engine.register_workflow("w.ask", wf).await.unwrap();
    let run = engine.execute("w.ask", json!({})).await.unwrap();
    let until = tokio::time::Instant::now() + SAFETY;
    let q = loop {
        if let Some(q) = engine.inquiries().await.unwrap().pop() {
            break q;
        }
        assert!(tokio::time::Instant::now() < until, "never asked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(q.parent, Some(run));
    let until = tokio::time::Instant::now() + SAFETY;
    while engine.execution(run).await.unwrap().status != ExecutionStatus::Paused {
        assert!(
            tokio::time::Instant::now() < until,
            "the workflow never paused"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine
        .respond(q.id, json!({"approved": true}), &Responder::anyone())
        .await
        .unwrap();
    let done = engine.wait_timeout(run, SAFETY).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.result.unwrap()["output"], json!({"approved": true}));
}

// The question lives in the store: an engine started on it answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_survives_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let id = {
        let engine = Engine::builder()
            .store(store.clone())
            .build()
            .await
            .unwrap();
        let id = engine.execute("core.ask", json!({})).await.unwrap();
        pending(&engine, id).await;
        engine.shutdown(Duration::from_millis(10)).await;
        id
    };
    let engine = Engine::builder().store(store).build().await.unwrap();
    engine.recover().await.unwrap();
    assert_eq!(engine.inquiry(id).await.unwrap().id, id);
    let done = engine
        .respond(id, json!({"continue": false}), &Responder::anyone())
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
}
