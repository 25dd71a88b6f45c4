//! Secrets never appear in stored results or error messages (invariant 5).

use attune_core::Engine;
use attune_core::model::{Action, ExecutionStatus};
use attune_core::params::ParamSpec;
use serde_json::{Value, json};

fn login() -> Action {
    Action::new("sec.echo", "native")
        .param("user", ParamSpec::string().required())
        .param("token", ParamSpec::string().required().secret())
        .param("fail", ParamSpec::boolean().default(false))
}

// An action that echoes its secret in the result and in its error: both are stored masked,
// and the params are stored redacted, while the action itself saw the real value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_secrets_are_masked_in_results_and_errors() {
    let engine = Engine::builder().build().await.unwrap();
    engine
        .register_native(login(), |ctx| async move {
            let token = ctx.param("token").and_then(Value::as_str).unwrap_or("").to_string();
            if ctx.param("fail") == Some(&json!(true)) {
                return Err(attune_core::Error::Action(format!("login failed with token {token}")));
            }
            Ok(json!({"echo": format!("token={token}"), "nested": [{"t": token.clone()}], "len": token.len()}))
        })
        .await
        .unwrap();

    let ok = engine
        .run("sec.echo", json!({"user": "ada", "token": "hunter2-xyz"}))
        .await
        .unwrap();
    assert_eq!(ok.status, ExecutionStatus::Succeeded);
    let result = ok.result.clone().unwrap();
    assert_eq!(result["echo"], json!("token=********"), "{result}");
    assert_eq!(result["nested"][0]["t"], json!("********"));
    assert_eq!(result["len"], json!(11), "the action saw the real value");
    assert_eq!(ok.params["token"], json!("********"));
    let stored = serde_json::to_string(&engine.execution(ok.id).await.unwrap()).unwrap();
    assert!(!stored.contains("hunter2-xyz"), "{stored}");

    let failed = engine
        .run(
            "sec.echo",
            json!({"user": "ada", "token": "hunter2-xyz", "fail": true}),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let stored = serde_json::to_string(&failed).unwrap();
    assert!(!stored.contains("hunter2-xyz"), "{stored}");
    assert!(
        failed
            .error
            .unwrap()
            .contains("login failed with token ********")
    );
}
