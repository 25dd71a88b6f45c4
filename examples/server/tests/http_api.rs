//! `attune serve --http`: StackStorm's REST API v1 as its `st2` client calls it — tokens
//! from Basic credentials, every route behind them, actions and runner types, executions
//! created and read, the path forms StackStorm accepts, roles, and bad input answered with
//! a 4xx `{"faultstring"}` that changes nothing.

mod common;

use common::{Running, attune, signal, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN: (&str, &str) = ("admin", "admin-pw");
const VIEWER: (&str, &str) = ("vic", "viewer-pw");

struct Server {
    run: Running,
    base: String,
    _dir: tempfile::TempDir,
}

/// `attune serve --db … --http 127.0.0.1:0` with the admin and a viewer; its address from
/// the log.
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        use argon2::password_hash::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(VIEWER.1.as_bytes())
            .unwrap()
            .to_string()
    };
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        format!("# test users\n{}:viewer:{hash}\n", VIEWER.0),
    )
    .unwrap();
    let mut cmd = attune();
    cmd.args(["--log-format", "json", "serve", "--db"])
        .arg(dir.path().join("state.db"))
        .args(["--http", "127.0.0.1:0"])
        .env("ATTUNE_ADMIN_USER", ADMIN.0)
        .env("ATTUNE_ADMIN_PASSWORD", ADMIN.1)
        .env("ATTUNE_USERS_FILE", &users)
        .env_remove("ATTUNE_AUTH_SECRET");
    let run = Running::start(cmd, false);
    let mut base = String::new();
    wait_until("the HTTP API to listen", Duration::from_secs(60), || {
        for line in run.stderr().lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line)
                && v["fields"]["message"] == "attune serve: HTTP API listening"
            {
                base = format!("http://{}", v["fields"]["addr"].as_str().unwrap());
                return true;
            }
        }
        false
    });
    Server {
        run,
        base,
        _dir: dir,
    }
}

async fn token(c: &reqwest::Client, base: &str, (user, pw): (&str, &str)) -> String {
    // The client's default auth URL has no /v1: it posts to /tokens.
    let r = c
        .post(format!("{base}/tokens"))
        .basic_auth(user, Some(pw))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"], user);
    assert!(body["expiry"].as_str().unwrap().ends_with('Z'), "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Status and JSON body of a response.
async fn answer(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"));
    (status, body)
}

fn fault(body: &Value) -> &str {
    body["faultstring"]
        .as_str()
        .unwrap_or_else(|| panic!("no faultstring in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_stackstorm_does_and_refuses_bad_input() {
    let s = start();
    let base = s.base.as_str();
    let c = reqwest::Client::new();

    // Without credentials: 401 with StackStorm's message.
    let (st, body) = answer(
        c.get(format!("{base}/api/v1/actions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(
        fault(&body),
        "Unauthorized - One of Token or API key required."
    );
    // Wrong password, unknown user, forged token.
    for (u, p) in [(ADMIN.0, "nope"), ("nobody", ADMIN.1)] {
        let r = c
            .post(format!("{base}/auth/v1/tokens"))
            .basic_auth(u, Some(p))
            .send()
            .await
            .unwrap();
        let (st, body) = answer(r).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(fault(&body), "Invalid or missing credentials");
    }
    let tok = token(&c, base, ADMIN).await;
    let forged = format!("{}0", &tok[..tok.len() - 1]);
    let r = c
        .get(format!("{base}/api/v1/user"))
        .header("X-Auth-Token", &forged)
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await.0, StatusCode::UNAUTHORIZED);

    // Who am I; the token also as the stream's query parameter.
    let (st, me) = answer(
        c.get(format!("{base}/api/v1/user?x-auth-token={tok}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["username"], ADMIN.0);
    assert_eq!(me["authentication"]["method"], "authentication token");

    let get = |path: &str| c.get(format!("{base}{path}")).header("X-Auth-Token", &tok);
    // An action, in every path form the client may use.
    for path in [
        "/api/v1/actions/core.local",
        "/v1/actions/core.local",
        "/actions/core.local/",
    ] {
        let (st, a) = answer(get(path).send().await.unwrap()).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert_eq!(a["ref"], "core.local");
        assert_eq!(a["pack"], "core");
        assert_eq!(a["runner_type"], "local-shell-cmd");
        assert!(a["parameters"]["cmd"].is_object(), "{a}");
    }
    let r = get("/api/v1/actions?pack=core&include_attributes=ref,pack,description")
        .send()
        .await
        .unwrap();
    let total: usize = r.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, list) = answer(r).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), total.min(100));
    assert!(list.iter().all(|a| a["pack"] == "core"));
    assert!(list.iter().any(|a| a["ref"] == "core.local"));
    let (st, runners) = answer(
        get("/api/v1/runnertypes/?name=local-shell-cmd")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(runners.as_array().unwrap().len(), 1);
    assert!(runners[0]["runner_parameters"].is_object());

    // `st2 run core.local cmd=…`: created (201), then read until it ends.
    let r = c
        .post(format!("{base}/api/v1/executions"))
        .header("X-Auth-Token", &tok)
        .json(&json!({"action": "core.local", "parameters": {"cmd": "echo hi-from-api"}, "user": null}))
        .send()
        .await
        .unwrap();
    let (st, x) = answer(r).await;
    assert_eq!(st, StatusCode::CREATED, "{x}");
    assert_eq!(x["action"]["ref"], "core.local");
    assert_eq!(x["context"]["user"], ADMIN.0);
    let id = x["id"].as_str().unwrap().to_string();
    let mut done = Value::Null;
    for _ in 0..600 {
        let (_, x) = answer(
            get(&format!("/api/v1/executions/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if !["requested", "scheduled", "running"].contains(&x["status"].as_str().unwrap()) {
            done = x;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["stdout"], "hi-from-api", "{done}");
    assert!(done["end_timestamp"].is_string());

    // Bad input: a 4xx with a faultstring, nothing created.
    let post = |body: &str| {
        c.post(format!("{base}/api/v1/executions"))
            .header("X-Auth-Token", &tok)
            .header("Content-Type", "application/json")
            .body(body.to_string())
    };
    for (body, status, says) in [
        (
            "{not json",
            StatusCode::BAD_REQUEST,
            "execution: key must be a string",
        ),
        (
            r#"{"action": "core.local", "colour": 1}"#,
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
        (
            r#"{"action": "core.nope"}"#,
            StatusCode::BAD_REQUEST,
            "Action \"core.nope\" cannot be found.",
        ),
        (
            r#"{"action": "core.local", "parameters": {"cmd": "true"}, "delay": 500}"#,
            StatusCode::BAD_REQUEST,
            "delayed executions are not supported",
        ),
        (
            r#"{"action": "core.local", "parameters": {"cmdd": "true"}}"#,
            StatusCode::BAD_REQUEST,
            "cmdd",
        ),
    ] {
        let (st, b) = answer(post(body).send().await.unwrap()).await;
        assert_eq!(st, status, "{body}: {b}");
        assert!(fault(&b).contains(says), "{body}: {b}");
    }
    let (st, b) = answer(get("/api/v1/executions/not-an-id").send().await.unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(fault(&b).contains("not-an-id"), "{b}");
    let (st, b) = answer(get("/api/v1/nothing/here").send().await.unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(fault(&b), "No route matches \"/api/v1/nothing/here\" path");
    let (st, b) = answer(get("/api/v1/actions?colour=red").send().await.unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        fault(&b).contains("unknown query parameter 'colour'"),
        "{b}"
    );

    // A viewer reads but does not run.
    let vt = token(&c, base, VIEWER).await;
    let r = c
        .get(format!("{base}/api/v1/actions/core.local"))
        .header("X-Auth-Token", &vt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(format!("{base}/api/v1/executions"))
        .header("X-Auth-Token", &vt)
        .json(&json!({"action": "core.local", "parameters": {"cmd": "true"}}))
        .send()
        .await
        .unwrap();
    let (st, b) = answer(r).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(fault(&b).contains("needs the role operator"), "{b}");

    // Health is public.
    let r = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    signal(s.run.pid(), "TERM");
    let ended = s.run.wait(Duration::from_secs(60));
    assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
}

#[test]
fn http_without_a_first_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = attune()
        .args(["serve", "--db"])
        .arg(dir.path().join("state.db"))
        .args(["--http", "127.0.0.1:0"])
        .env_remove("ATTUNE_ADMIN_USER")
        .env_remove("ATTUNE_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("set ATTUNE_ADMIN_USER and ATTUNE_ADMIN_PASSWORD"),
        "{err}"
    );
}
