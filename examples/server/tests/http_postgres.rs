//! The HTTP API in multi-process mode: two `attune serve --http` processes on one
//! PostgreSQL schema, with the same token secret, and any of them serves any request — a
//! token or API key made by one works on the other; keys, rules, executions and the event
//! stream cross between them. Without `ATTUNE_AUTH_SECRET` a shared database is refused.
//! Skipped, saying why, when the test server cannot be reached and
//! `ATTUNE_REQUIRE_POSTGRES` is not `1`.

mod common;

use attune_store_postgres::testing::TestSchema;
use common::{Running, attune, http_base, pg_schema, signal};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "a-shared-token-secret-of-32-bytes-or-more";

fn serve(db: &str) -> (Running, String) {
    let mut cmd = attune();
    cmd.args([
        "--log-format",
        "json",
        "--db",
        db,
        "serve",
        "--http",
        "127.0.0.1:0",
    ])
    .env("ATTUNE_ADMIN_USER", "admin")
    .env("ATTUNE_ADMIN_PASSWORD", "pw")
    .env("ATTUNE_AUTH_SECRET", SECRET)
    .env_remove("ATTUNE_USERS_FILE")
    .env_remove("ATTUNE_ENCRYPTION_KEY");
    let run = Running::start(cmd, false);
    let base = http_base(&run);
    (run, base)
}

async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    auth: (&str, &str),
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = c.request(method, url).header(auth.0, auth.1);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let st = r.status();
    let text = r.text().await.unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `GET url` until `done` holds for the answer; the answer.
async fn until(
    c: &reqwest::Client,
    url: String,
    auth: (&str, &str),
    done: impl Fn(StatusCode, &Value) -> bool,
) -> Value {
    for _ in 0..1200 {
        let (st, v) = call(c, reqwest::Method::GET, url.clone(), auth, None).await;
        if done(st, &v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting on {url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_api_process_serves_any_request() {
    let Some(pg) = TestSchema::create().await else {
        return;
    };
    let db = pg.schema_url();
    let (a_run, a) = serve(&db);
    let (b_run, b) = serve(&db);
    let c = reqwest::Client::new();

    // A token from one process works on the other.
    let r = c
        .post(format!("{a}/auth/v1/tokens"))
        .basic_auth("admin", Some("pw"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let tok: Value = r.json().await.unwrap();
    let tok = tok["token"].as_str().unwrap().to_string();
    let t = ("X-Auth-Token", tok.as_str());
    let (st, me) = call(
        &c,
        reqwest::Method::GET,
        format!("{b}/api/v1/user"),
        t,
        None,
    )
    .await;
    assert_eq!(
        (st, me["username"].clone()),
        (StatusCode::OK, json!("admin"))
    );
    // An API key made on B works on A.
    let (st, k) = call(
        &c,
        reqwest::Method::POST,
        format!("{b}/api/v1/apikeys"),
        t,
        Some(json!({})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{k}");
    let key = k["key"].as_str().unwrap().to_string();
    let (st, _) = call(
        &c,
        reqwest::Method::GET,
        format!("{a}/api/v1/user"),
        ("St2-Api-Key", &key),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    // A key set on A is read on B.
    let (st, _) = call(
        &c,
        reqwest::Method::PUT,
        format!("{a}/api/v1/keys/greeting"),
        t,
        Some(json!({"value": "hi"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, k) = call(
        &c,
        reqwest::Method::GET,
        format!("{b}/api/v1/keys/greeting"),
        t,
        None,
    )
    .await;
    assert_eq!(k["value"], "hi");
    // A rule created on A applies on B (definitions are followed): B's webhook fires it.
    let rule = json!({
        "name": "mp", "pack": "hooks", "enabled": true,
        "trigger": {"type": "core.st2.webhook", "parameters": {"url": "mp"}},
        "action": {"ref": "core.local", "parameters": {"cmd": "echo hook-{{ trigger.body.n }}"}}
    });
    let (st, r) = call(
        &c,
        reqwest::Method::POST,
        format!("{a}/api/v1/rules"),
        t,
        Some(rule),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    until(&c, format!("{b}/api/v1/webhooks/mp"), t, |st, _| {
        st == StatusCode::OK
    })
    .await;
    let r = c
        .post(format!("{b}/api/v1/webhooks/mp"))
        .header("X-Auth-Token", &tok)
        .json(&json!({"n": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let done = until(
        &c,
        format!("{a}/api/v1/executions?status=succeeded"),
        t,
        |_, v| v.as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;
    assert_eq!(done[0]["result"]["stdout"], "hook-7");
    // An execution created on B, followed on A through the event stream until it ends.
    let (st, x) = call(
        &c,
        reqwest::Method::POST,
        format!("{b}/api/v1/executions"),
        t,
        Some(json!({"action": "core.local", "parameters": {"cmd": "sleep 1; echo late"}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{x}");
    let id = x["id"].as_str().unwrap().to_string();
    let mut s = c
        .get(format!(
            "{a}/stream/v1/stream?x-auth-token={tok}&events=st2.execution__update&end_event=st2.execution__update&end_execution_id={id}"
        ))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = s.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the stream on A ends with the end of B's execution");
    assert!(text.contains("\"status\":\"succeeded\""), "{text}");
    let (_, x) = call(
        &c,
        reqwest::Method::GET,
        format!("{a}/api/v1/executions/{id}"),
        t,
        None,
    )
    .await;
    assert_eq!(x["result"]["stdout"], "late");

    for run in [a_run, b_run] {
        signal(run.pid(), "TERM");
        let ended = run.wait(Duration::from_secs(60));
        assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
    }
}

#[test]
fn a_shared_database_needs_a_token_secret() {
    let Some(pg) = pg_schema() else {
        return;
    };
    let out = attune()
        .args(["--db", &pg.schema_url(), "serve", "--http", "127.0.0.1:0"])
        .env("ATTUNE_ADMIN_USER", "admin")
        .env("ATTUNE_ADMIN_PASSWORD", "pw")
        .env_remove("ATTUNE_AUTH_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs ATTUNE_AUTH_SECRET"), "{err}");
}
