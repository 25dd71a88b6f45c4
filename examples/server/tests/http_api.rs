//! `attune serve --http`: StackStorm's REST API v1 as its `st2` client calls it — tokens
//! from Basic credentials, every route behind them, actions and runner types, executions
//! created and read, the path forms StackStorm accepts, roles, and bad input answered with
//! a 4xx `{"faultstring"}` that changes nothing.

mod common;

use common::{Running, attune, http_base, signal};
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
        .env(
            "ATTUNE_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .env_remove("ATTUNE_AUTH_SECRET");
    let run = Running::start(cmd, false);
    let base = http_base(&run);
    Server {
        run,
        base,
        _dir: dir,
    }
}

impl Server {
    /// SIGTERM; the server must drain and exit 0. What it wrote.
    fn stop(self) -> common::Ended {
        signal(self.run.pid(), "TERM");
        let ended = self.run.wait(Duration::from_secs(60));
        assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
        ended
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
    // The signature's last digit changed (to another one, whatever it was).
    let last = if tok.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &tok[..tok.len() - 1]);
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

    s.stop();
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

/// An authenticated client of a started server.
struct As {
    c: reqwest::Client,
    base: String,
    token: String,
}

impl As {
    async fn admin(s: &Server) -> As {
        Self::user(s, ADMIN).await
    }

    async fn user(s: &Server, who: (&str, &str)) -> As {
        let c = reqwest::Client::new();
        let token = token(&c, &s.base, who).await;
        As {
            c,
            base: s.base.clone(),
            token,
        }
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        answer(self.call(reqwest::Method::PUT, path, Some(body)).await).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = self
            .c
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.call(reqwest::Method::GET, path, None).await).await
    }

    async fn run(&self, cmd: &str) -> Value {
        let (st, x) = answer(
            self.call(
                reqwest::Method::POST,
                "/api/v1/executions",
                Some(json!({"action": "core.local", "parameters": {"cmd": cmd}})),
            )
            .await,
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{x}");
        x
    }

    /// The execution once it left requested/scheduled/running.
    async fn ended(&self, id: &str) -> Value {
        for _ in 0..600 {
            let (_, x) = self.get(&format!("/api/v1/executions/{id}")).await;
            if !["requested", "scheduled", "running", "canceling"]
                .contains(&x["status"].as_str().unwrap())
            {
                return x;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("execution {id} did not end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_are_listed_newest_first_paged_filtered_canceled_and_read_as_text() {
    let s = start();
    let a = As::admin(&s).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let cmd = if i == 2 {
            "echo out-2; echo err-2 >&2; exit 1".to_string()
        } else {
            format!("echo out-{i}")
        };
        let x = a.run(&cmd).await;
        let id = x["id"].as_str().unwrap().to_string();
        a.ended(&id).await;
        ids.push(id);
    }
    let newest: Vec<String> = ids.iter().rev().cloned().collect();
    // Newest first, paged by offset, with the total.
    let r = a
        .call(
            reqwest::Method::GET,
            "/api/v1/executions/?limit=2&offset=1&parent=null",
            None,
        )
        .await;
    assert_eq!(r.headers()["x-total-count"], "5");
    assert_eq!(r.headers()["x-limit"], "2");
    let (_, page) = answer(r).await;
    let got: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![newest[1].as_str(), newest[2].as_str()]);
    let (_, asc) = a.get("/api/v1/executions?sort_asc=True&limit=2").await;
    assert_eq!(asc[0]["id"], ids[0].as_str());
    assert_eq!(asc[1]["id"], ids[1].as_str());
    // Filters: status; a finished one's output as text.
    let (_, failed) = a.get("/api/v1/executions?status=failed").await;
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["id"], ids[2].as_str());
    let (_, none) = a.get("/api/v1/executions?action=core.echo").await;
    assert!(none.as_array().unwrap().is_empty());
    // Who started them (`st2 execution list --user`).
    let (_, mine) = a.get("/api/v1/executions?user=admin").await;
    assert_eq!(mine.as_array().unwrap().len(), ids.len(), "{mine}");
    let (_, theirs) = a.get("/api/v1/executions?user=vic&status=failed").await;
    assert_eq!(theirs, json!([]));
    let (_, lean) = a
        .get(&format!(
            "/api/v1/executions/{}?exclude_attributes=result",
            ids[0]
        ))
        .await;
    assert!(
        lean.get("result").is_none() && lean["status"] == "succeeded",
        "{lean}"
    );
    for (q, want) in [
        ("", "out-2\nerr-2\n"),
        ("?output_type=stdout", "out-2\n"),
        ("?output_type=stderr", "err-2\n"),
    ] {
        let r = a
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/executions/{}/output{q}", ids[2]),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(r.text().await.unwrap(), want, "{q}");
    }
    let (_, kids) = a
        .get(&format!("/api/v1/executions/{}/children?depth=-1", ids[0]))
        .await;
    assert_eq!(kids, json!([]));
    // Bad filters: 400 naming them.
    for (q, says) in [
        ("status=sleeping", "status:"),
        ("timestamp_gt=yesterday", "timestamp_gt: 'yesterday'"),
        ("parent=nobody", "parent: 'nobody' is not an id"),
        ("runner=shell", "unknown query parameter 'runner'"),
        ("limit=0", "limit:"),
        ("offset=-3", "offset:"),
    ] {
        let (st, b) = a.get(&format!("/api/v1/executions?{q}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {b}");
        assert!(fault(&b).contains(says), "{q}: {b}");
    }
    // Cancel: a running one ends canceled; a finished one answers StackStorm's faultstring.
    let long = a.run("sleep 60").await;
    let long = long["id"].as_str().unwrap();
    let (st, x) = answer(
        a.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/executions/{long}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{x}");
    assert_eq!(a.ended(long).await["status"], "canceled");
    let (st, x) = answer(
        a.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/executions/{long}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(fault(&x), "Action cannot be canceled. State = canceled.");
    // Pause is for workflows: 400 for a shell action.
    let (st, x) = answer(
        a.call(
            reqwest::Method::PUT,
            &format!("/api/v1/executions/{}", ids[0]),
            Some(json!({"status": "pausing"})),
        )
        .await,
    )
    .await;
    assert!(
        st == StatusCode::BAD_REQUEST || st == StatusCode::CONFLICT,
        "{st} {x}"
    );
    // Re-run with an override: a new execution of the same action.
    let (st, x) = answer(
        a.call(
            reqwest::Method::POST,
            &format!("/api/v1/executions/{}/re_run", ids[0]),
            Some(
                json!({"parameters": {"cmd": "echo again"}, "tasks": [], "reset": [], "delay": 0}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{x}");
    let again = a.ended(x["id"].as_str().unwrap()).await;
    assert_eq!(again["result"]["stdout"], "again");
    let (_, all) = a.get("/api/v1/executions?limit=-1").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        7,
        "5 runs, the canceled one and the re-run"
    );

    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_keep_scopes_secrets_and_roles() {
    let s = start();
    let a = As::admin(&s).await;
    let v = As::user(&s, VIEWER).await;
    let (st, k) = a
        .put(
            "/api/v1/keys/db.password",
            json!({"name": "db.password", "value": "hunter2", "secret": true, "scope": "system"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{k}");
    assert_eq!(k["scope"], "st2kv.system");
    assert_ne!(k["value"], "hunter2", "a secret is returned sealed");
    let (_, k) = a
        .get("/api/v1/keys/db.password?decrypt=false&scope=system")
        .await;
    assert!(
        k["value"]
            .as_str()
            .unwrap()
            .starts_with("attune:aes256gcm:"),
        "{k}"
    );
    assert_eq!(
        (k["secret"].clone(), k["encrypted"].clone()),
        (json!(true), json!(true))
    );
    let (_, k) = a.get("/api/v1/keys/db.password?decrypt=true").await;
    assert_eq!(k["value"], "hunter2");
    // A viewer reads the ciphertext, not the secret; sets its own keys, not the system's.
    let (st, k) = v.get("/api/v1/keys/db.password").await;
    assert_eq!(st, StatusCode::OK);
    assert_ne!(k["value"], "hunter2");
    let (st, b) = v.get("/api/v1/keys/db.password?decrypt=true").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, b) = v.put("/api/v1/keys/x", json!({"value": "1"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, k) = v
        .put(
            "/api/v1/keys/mine",
            json!({"value": "s", "secret": true, "scope": "user", "ttl": 60}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{k}");
    assert_eq!(
        (k["scope"].clone(), k["user"].clone()),
        (json!("st2kv.user"), json!(VIEWER.0))
    );
    assert!(k["expire_timestamp"].is_string(), "{k}");
    let (_, k) = v.get("/api/v1/keys/mine?scope=user&decrypt=true").await;
    assert_eq!(k["value"], "s", "its owner decrypts a user key");
    // Another user's scope: admins only; the admin's own user scope does not hold it.
    let (st, _) = v
        .get(&format!("/api/v1/keys/mine?scope=user&user={}", ADMIN.0))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = a.get("/api/v1/keys/mine?scope=user").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, k) = a
        .get(&format!(
            "/api/v1/keys/mine?scope=user&user={}&decrypt=true",
            VIEWER.0
        ))
        .await;
    assert_eq!((st, k["value"].clone()), (StatusCode::OK, json!("s")));
    // Lists: prefix, scopes; `all` is the system keys and the caller's.
    let (_, l) = v
        .get("/api/v1/keys/?decrypt=false&scope=all&limit=50")
        .await;
    let names: Vec<&str> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["db.password", "mine"]);
    let (_, l) = a.get("/api/v1/keys?prefix=db.").await;
    assert_eq!(l.as_array().unwrap().len(), 1);
    // Bad input: 400 naming it, nothing stored.
    for (body, says) in [
        (json!({"value": "v", "scope": "galaxy"}), "scope: 'galaxy'"),
        (json!({"value": "v", "encrypted": true}), "encrypted:"),
        (json!({"value": "v", "description": "d"}), "description:"),
        (json!({"value": "v", "ttl": 0}), "ttl"),
        (json!({"value": 5}), "key:"),
        (json!({"value": "v", "name": "other"}), "name: 'other'"),
        (
            json!({"value": "v", "colour": "red"}),
            "unknown field `colour`",
        ),
    ] {
        let (st, b) = a.put("/api/v1/keys/bad", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(fault(&b).contains(says), "{body}: {b}");
    }
    let (st, _) = a.get("/api/v1/keys/bad").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing stored by refused sets");
    // Delete: 204, then 404.
    let r = a
        .call(
            reqwest::Method::DELETE,
            "/api/v1/keys/db.password?scope=system",
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = a
        .call(reqwest::Method::DELETE, "/api/v1/keys/db.password", None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_read_as_rule_files_and_bad_ones_refused_naming_the_problem() {
    let s = start();
    let a = As::admin(&s).await;
    let v = As::user(&s, VIEWER).await;
    let rule = json!({
        "name": "on_tick", "pack": "demo", "enabled": true,
        "trigger": {"type": "core.st2.IntervalTimer", "parameters": {"unit": "seconds", "delta": 3600}},
        "action": {"ref": "core.local", "parameters": {"cmd": "echo tick"}}
    });
    let (st, b) = answer(
        v.call(reqwest::Method::POST, "/api/v1/rules", Some(rule.clone()))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, r) = answer(
        a.call(reqwest::Method::POST, "/api/v1/rules", Some(rule.clone()))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["id"].clone(), r["enabled"].clone()),
        (json!("demo.on_tick"), json!(true))
    );
    let (st, b) = answer(
        a.call(reqwest::Method::POST, "/api/v1/rules", Some(rule.clone()))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(b["conflict-id"], "demo.on_tick");
    // Disable as the client does: the object read back, `ref` removed, `enabled` flipped.
    let (_, mut got) = a.get("/api/v1/rules/demo.on_tick").await;
    got.as_object_mut().unwrap().remove("ref");
    got["enabled"] = json!(false);
    let (st, r) = a.put("/api/v1/rules/demo.on_tick", got).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["enabled"], false);
    let (_, l) = a.get("/api/v1/rules?enabled=false&pack=demo").await;
    assert_eq!(l.as_array().unwrap().len(), 1);
    // Bad rules: 400 naming the problem; nothing registered.
    for (body, says) in [
        (
            json!({"name": "x", "pack": "demo", "action": {"ref": "core.local"}}),
            "missing required key 'trigger'",
        ),
        (
            json!({"name": "x", "pack": "demo", "trigger": {"type": "core.st2.webhook", "parameters": {"url": "u"}},
                "action": {"ref": "core.nope"}}),
            "core.nope",
        ),
        (
            json!({"name": "x", "pack": "demo", "trigger": {"type": "no.such"}, "action": {"ref": "core.noop"}}),
            "trigger type 'no.such' is not registered",
        ),
        (
            json!({"name": "x", "pack": "demo", "trigger": {"type": "core.st2.webhook", "parameters": {"url": "u"}},
                "action": {"ref": "core.noop"}, "colour": "red"}),
            "colour",
        ),
        (json!({"name": "x", "pack": 7}), "pack must be a string"),
    ] {
        let (st, b) = answer(
            a.call(reqwest::Method::POST, "/api/v1/rules", Some(body.clone()))
                .await,
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(fault(&b).contains(says), "{body}: {b}");
    }
    let (st, _) = a.get("/api/v1/rules/demo.x").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, b) = a.put("/api/v1/rules/demo.on_tick", json!({"name": "other", "pack": "demo",
        "trigger": {"type": "core.st2.webhook", "parameters": {"url": "u"}}, "action": {"ref": "core.noop"}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    let r = a
        .call(reqwest::Method::DELETE, "/api/v1/rules/demo.on_tick", None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = a
        .call(reqwest::Method::DELETE, "/api/v1/rules/demo.on_tick", None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    s.stop();
}

/// `sha256=<hex HMAC-SHA256 of body under secret>` (GitHub's X-Hub-Signature-256).
fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_fire_their_rules_check_signatures_and_refuse_bad_calls() {
    let s = start();
    let a = As::admin(&s).await;
    let v = As::user(&s, VIEWER).await;
    let hook_rule = |name: &str, params: Value| {
        json!({
            "name": name, "pack": "hooks", "enabled": true,
            "trigger": {"type": "core.st2.webhook", "parameters": params},
            "criteria": {"trigger.body.name": {"type": "equals", "pattern": "st2"}},
            "action": {"ref": "core.local", "parameters": {"cmd": format!("echo {name}-{{{{ trigger.body.name }}}}")}}
        })
    };
    for body in [
        hook_rule("plain", json!({"url": "sample"})),
        hook_rule(
            "signed",
            json!({"url": "github", "secret_key": "github_secret"}),
        ),
    ] {
        let (st, b) = answer(
            a.call(reqwest::Method::POST, "/api/v1/rules", Some(body))
                .await,
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    let (st, b) = a
        .put(
            "/api/v1/keys/github_secret",
            json!({"value": "s3cr3t", "secret": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, hooks) = a.get("/api/v1/webhooks").await;
    let urls: Vec<&str> = hooks
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["parameters"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, vec!["github", "sample"]);

    // A plain hook: a token of an operator; 202 with the body echoed; the rule runs.
    let post = |path: &str, token: Option<&str>, body: Vec<u8>, sig: Option<String>| {
        let mut r =
            a.c.post(format!("{}/api/v1/webhooks/{path}", a.base))
                .body(body);
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if let Some(sg) = sig {
            r = r.header("X-Hub-Signature-256", sg);
        }
        r.header("Content-Type", "application/json").send()
    };
    let body = br#"{"name": "st2"}"#.to_vec();
    let (st, b) = answer(
        post("sample", Some(&a.token), body.clone(), None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b, json!({"name": "st2"}));
    let (st, b) = answer(post("sample", None, body.clone(), None).await.unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
    let (st, b) = answer(
        post("sample", Some(&v.token), body.clone(), None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    // A signed hook: the signature is the authentication.
    let (st, b) = answer(post("github", None, body.clone(), None).await.unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
    assert!(fault(&b).contains("X-Hub-Signature-256"), "{b}");
    let wrong = github_signature("not-the-secret", &body);
    let (st, _) = answer(
        post("github", None, body.clone(), Some(wrong))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, b) = answer(
        post(
            "github",
            Some(&a.token),
            body.clone(),
            Some("sha256=zz".into()),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a token does not stand in for a signature: {b}"
    );
    let good = github_signature("s3cr3t", &body);
    let (st, b) = answer(
        post("github", None, body.clone(), Some(good))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    // Both calls that got through ran their rule once each.
    let mut outs = Vec::new();
    for _ in 0..600 {
        let (_, l) = a
            .get("/api/v1/executions?action=core.local&status=succeeded")
            .await;
        outs = l
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["result"]["stdout"].as_str().unwrap().to_string())
            .collect::<Vec<_>>();
        if outs.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outs.sort();
    assert_eq!(outs, vec!["plain-st2", "signed-st2"]);
    // Bad calls: unknown hook, oversized body, unknown trigger of the generic hook.
    let (st, b) = answer(
        post("nowhere", Some(&a.token), body.clone(), None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(fault(&b), "Webhook with url \"nowhere\" not found");
    // Over the limit: 413 — or, when the server closed the connection while the client
    // was still sending the rest, no answer at all; either way nothing is emitted.
    // (On a client of its own: the connection the server closes must not be reused.)
    let big = vec![b' '; 5 << 20];
    let once = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/sample", a.base))
        .header("X-Auth-Token", &a.token)
        .header("Content-Type", "application/json")
        .body(big)
        .send();
    match once.await {
        Ok(r) => {
            let (st, b) = answer(r).await;
            assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
            assert!(fault(&b).contains("bytes"), "{b}");
        }
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let generic = serde_json::to_vec(&json!({"trigger": "no.such", "payload": {}})).unwrap();
    let (st, b) = answer(post("st2", Some(&a.token), generic, None).await.unwrap()).await;
    assert!(
        st == StatusCode::BAD_REQUEST || st == StatusCode::NOT_FOUND,
        "{st} {b}"
    );
    assert!(fault(&b).contains("no.such"), "{b}");
    let (_, l) = a.get("/api/v1/executions?limit=-1").await;
    assert_eq!(l.as_array().unwrap().len(), 2, "refused calls ran nothing");

    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_instances_enforcements_packs_and_inquiries_are_served() {
    let s = start();
    let a = As::admin(&s).await;
    let v = As::user(&s, VIEWER).await;
    hook_rule(&a, "on_hook", "hook").await;
    for i in 0..3 {
        let r = call_hook(&a, "hook", json!({"i": i}), None).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    // Trigger instances: newest first, processed once matched.
    let mut list = Value::Null;
    for _ in 0..600 {
        let (_, l) = a
            .get("/api/v1/triggerinstances?trigger=core.st2.webhook")
            .await;
        if l.as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] == "processed")
            .count()
            == 3
        {
            list = l;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list = list.as_array().expect("three processed trigger instances");
    let order: Vec<i64> = list
        .iter()
        .map(|t| t["payload"]["body"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, vec![2, 1, 0]);
    let first = list[2]["id"].as_str().unwrap();
    let (st, one) = a.get(&format!("/api/v1/triggerinstances/{first}")).await;
    assert_eq!(
        (st, one["payload"]["path"].clone()),
        (StatusCode::OK, json!("hook"))
    );
    // Enforcements: one per event, by rule and by trigger instance.
    let (_, enf) = a
        .get("/api/v1/ruleenforcements?rule_ref=hooks.on_hook")
        .await;
    assert_eq!(enf.as_array().unwrap().len(), 3);
    let (_, by_event) = a
        .get(&format!(
            "/api/v1/ruleenforcements/?trigger_instance={first}"
        ))
        .await;
    assert_eq!(by_event.as_array().unwrap().len(), 1);
    assert_eq!(by_event[0]["trigger_instance_id"], first);
    assert_eq!(by_event[0]["status"], "succeeded");
    let eid = by_event[0]["id"].as_str().unwrap();
    let (st, _) = a.get(&format!("/api/v1/ruleenforcements/{eid}")).await;
    assert_eq!(st, StatusCode::OK);
    // Packs, trigger types (StackStorm's names too), policies, sensors.
    let (_, packs) = a.get("/api/v1/packs").await;
    let refs: Vec<&str> = packs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap())
        .collect();
    assert!(
        refs.contains(&"core") && refs.contains(&"hooks"),
        "{refs:?}"
    );
    let (st, _) = a.get("/api/v1/packs/core").await;
    assert_eq!(st, StatusCode::OK);
    let (st, t) = a.get("/api/v1/triggertypes/core.st2.webhook").await;
    assert_eq!(
        (st, t["ref"].clone()),
        (StatusCode::OK, json!("core.webhook"))
    );
    for path in ["/api/v1/policies", "/api/v1/sensortypes"] {
        let (st, l) = a.get(path).await;
        assert_eq!((st, l.is_array()), (StatusCode::OK, true), "{path}");
    }
    // An inquiry: listed, answered once (a viewer may not), then no longer waiting.
    let (st, x) = answer(
        a.call(
            reqwest::Method::POST,
            "/api/v1/executions",
            Some(
                json!({"action": "core.ask", "parameters": {"schema": {"type": "object",
                "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{x}");
    let ask = x["id"].as_str().unwrap().to_string();
    for _ in 0..600 {
        let (_, l) = a.get("/api/v1/inquiries").await;
        if l.as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == ask.as_str())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = format!("/api/v1/inquiries/{ask}");
    let (st, b) = v
        .put(&path, json!({"id": ask, "response": {"ok": true}}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, b) = a
        .put(&path, json!({"id": ask, "response": {"ok": "yes"}}))
        .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "a response outside the schema: {b}"
    );
    let (st, b) = a
        .put(&path, json!({"id": "other", "response": {"ok": true}}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    let (st, b) = a
        .put(&path, json!({"id": ask, "response": {"ok": true}}))
        .await;
    assert_eq!((st, b["id"].clone()), (StatusCode::OK, json!(ask)));
    let (st, b) = a
        .put(&path, json!({"id": ask, "response": {"ok": true}}))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "answered already: {b}");
    assert!(fault(&b).contains("succeeded"), "{b}");
    assert_eq!(
        a.ended(&ask).await["result"]["response"],
        json!({"ok": true})
    );
    // Bad ids and filters.
    for (path, status) in [
        ("/api/v1/triggerinstances/nope", StatusCode::NOT_FOUND),
        ("/api/v1/ruleenforcements/nope", StatusCode::NOT_FOUND),
        ("/api/v1/inquiries/nope", StatusCode::NOT_FOUND),
        ("/api/v1/packs/nope", StatusCode::NOT_FOUND),
        (
            "/api/v1/triggerinstances?status=weird",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/ruleenforcements?trigger_instance=x",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/triggerinstances?timestamp_gt=soon",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (st, b) = a.get(path).await;
        assert_eq!(st, status, "{path}: {b}");
        fault(&b);
    }

    s.stop();
}

/// Reads an event stream until the server ends it; its text.
async fn read_stream(a: &As, query: &str) -> String {
    let mut r =
        a.c.get(format!(
            "{}/stream/v1/stream?x-auth-token={}&{query}",
            a.base, a.token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = r.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the stream ends after its end event");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_carries_status_and_output_until_the_end_event() {
    let s = start();
    let a = As::admin(&s).await;
    let x = a
        // The first line waits, so that the stream is open before it (a stream shows what
        // comes after it opens).
        .run("sleep 2; for i in 1 2 3; do echo line-$i; sleep 0.3; done")
        .await;
    let id = x["id"].as_str().unwrap().to_string();
    let text = read_stream(
        &a,
        &format!("events=st2.execution__update,st2.execution.output__create&end_event=st2.execution__update&end_execution_id={id}"),
    )
    .await;
    assert!(
        text.starts_with('\n'),
        "a newline opens the stream: {text:?}"
    );
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n);
                }
                if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str::<Value>(d).unwrap());
                }
            }
            Some((name?, data?))
        })
        .collect();
    let out: String = events
        .iter()
        .filter(|(n, _)| *n == "st2.execution.output__create")
        .map(|(_, d)| {
            assert_eq!(d["execution_id"], id.as_str());
            assert_eq!(d["output_type"], "stdout");
            d["data"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        out.contains("line-1\n") && out.contains("line-3\n"),
        "{out:?}"
    );
    let (last, body) = events.last().unwrap();
    assert_eq!(*last, "st2.execution__update");
    assert_eq!(
        (body["id"].as_str(), body["status"].as_str()),
        (Some(id.as_str()), Some("succeeded"))
    );
    assert!(
        events.iter().all(|(n, _)| *n != "st2.liveaction__update"),
        "only the events asked for"
    );
    // Opened after the end: the end event at once.
    let again = read_stream(
        &a,
        &format!("end_event=st2.execution__update&end_execution_id={id}"),
    )
    .await;
    assert!(again.contains("event: st2.execution__update"), "{again}");
    assert!(again.contains("succeeded"));
    // Without credentials; a lone end_event.
    let r =
        a.c.get(format!("{}/stream/v1/stream", a.base))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (st, b) = a.get("/stream?end_event=st2.execution__update").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    // A stream still open when the server stops ends, and does not hold the stop up.
    let mut open =
        a.c.get(format!(
            "{}/stream/v1/stream?x-auth-token={}",
            a.base, a.token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(open.chunk().await.unwrap().as_deref(), Some(&b"\n"[..]));
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = open.chunk().await {} });
    let ended = tokio::task::spawn_blocking(move || s.stop()).await.unwrap();
    assert!(ended.stdout.contains("drained"), "{}", ended.stdout);
    tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the open stream ended with the server")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_stand_for_their_user_until_disabled_or_deleted() {
    let s = start();
    let a = As::admin(&s).await;
    let v = As::user(&s, VIEWER).await;
    // A viewer makes its own key, not another user's.
    let (st, b) = answer(
        v.call(
            reqwest::Method::POST,
            "/api/v1/apikeys",
            Some(json!({"user": ADMIN.0})),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, k) = answer(
        v.call(
            reqwest::Method::POST,
            "/api/v1/apikeys",
            Some(json!({"metadata": {"for": "t"}})),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{k}");
    let key = k["key"].as_str().unwrap().to_string();
    let id = k["id"].as_str().unwrap().to_string();
    assert_eq!(k["user"], VIEWER.0);
    // The key is never shown again; the admin sees every key, the viewer its own.
    let (_, mine) = v.get("/api/v1/apikeys").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert!(mine[0].get("key").is_none(), "{mine}");
    let (_, all) = a.get(&format!("/api/v1/apikeys/{id}")).await;
    assert_eq!(all["user"], VIEWER.0);
    // The key authenticates as the viewer, with the viewer's role.
    let with_key = |path: &str, k: &str| {
        a.c.get(format!("{}{path}", a.base))
            .header("St2-Api-Key", k)
            .send()
    };
    let (st, me) = answer(with_key("/api/v1/user", &key).await.unwrap()).await;
    assert_eq!(
        (st, me["username"].clone()),
        (StatusCode::OK, json!(VIEWER.0))
    );
    let r =
        a.c.post(format!("{}/api/v1/executions", a.base))
            .header("St2-Api-Key", &key)
            .json(&json!({"action": "core.noop"}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        a.c.get(format!("{}/api/v1/actions?st2-api-key={key}", a.base))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the key as a query parameter");
    // Garbage and disabled keys are refused; a bad change names its field.
    for bad in ["", "nothex", &"0".repeat(64)] {
        let (st, b) = answer(with_key("/api/v1/user", bad).await.unwrap()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{bad:?}: {b}");
    }
    let (st, b) = v
        .put(&format!("/api/v1/apikeys/{id}"), json!({"enabled": "no"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    let (st, b) = v
        .put(&format!("/api/v1/apikeys/{id}"), json!({"user": ADMIN.0}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    let (st, b) = v
        .put(&format!("/api/v1/apikeys/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!((st, b["enabled"].clone()), (StatusCode::OK, json!(false)));
    let (st, _) = answer(with_key("/api/v1/user", &key).await.unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a disabled key");
    v.put(&format!("/api/v1/apikeys/{id}"), json!({"enabled": true}))
        .await;
    let (st, _) = answer(with_key("/api/v1/user", &key).await.unwrap()).await;
    assert_eq!(st, StatusCode::OK, "enabled again");
    let r = v
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/apikeys/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, _) = answer(with_key("/api/v1/user", &key).await.unwrap()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a deleted key");
    let r = v
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/apikeys/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Changes are audited: one JSON log line each, target `audit`.
    let ended = s.stop();
    let audit: Vec<Value> = ended
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    let said: Vec<&str> = audit
        .iter()
        .map(|v| v["fields"]["message"].as_str().unwrap())
        .collect();
    for want in [
        "token issued",
        "API key created",
        "API key changed",
        "API key deleted",
    ] {
        assert!(said.contains(&want), "no audit record '{want}' in {said:?}");
    }
    assert!(
        audit.iter().all(|v| v["fields"]["user"].is_string()),
        "{audit:?}"
    );
}

/// The value of the Prometheus sample `name{labels}` (labels as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_executions_and_requests_carry_an_id() {
    let s = start();
    let a = As::admin(&s).await;
    let x = a.run("echo counted").await;
    a.ended(x["id"].as_str().unwrap()).await;
    let r =
        a.c.get(format!(
            "{}/api/v1/executions/{}",
            a.base,
            x["id"].as_str().unwrap()
        ))
        .header("X-Auth-Token", &a.token)
        .header("X-Request-Id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let r = a.c.get(format!("{}/health", a.base)).send().await.unwrap();
    assert!(
        !r.headers()["x-request-id"].is_empty(),
        "an id is made when none came"
    );
    // The status of the end is announced a little after it is stored: wait for it.
    let mut text = String::new();
    for _ in 0..600 {
        text =
            a.c.get(format!("{}/metrics", a.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        if sample(
            &text,
            "attune_execution_status_changes_total{status=\"succeeded\"}",
        )
        .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (series, at_least) in [
        (
            "attune_http_requests_total{method=\"POST\",route=\"/api/v1/executions\",status=\"201\"}",
            1.0,
        ),
        (
            "attune_http_requests_total{method=\"GET\",route=\"/api/v1/executions/{id}\",status=\"200\"}",
            2.0,
        ),
        (
            "attune_http_requests_total{method=\"POST\",route=\"/auth/v1/tokens\",status=\"201\"}",
            1.0,
        ),
        (
            "attune_http_request_seconds_count{route=\"/api/v1/executions\"}",
            1.0,
        ),
        (
            "attune_execution_status_changes_total{status=\"succeeded\"}",
            1.0,
        ),
        ("attune_execution_seconds_count{}", 1.0),
        ("attune_executions{status=\"running\"}", 0.0),
        ("attune_executions{status=\"requested\"}", 0.0),
        ("attune_events_unmatched", 0.0),
        ("attune_in_flight", 0.0),
    ] {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(v >= at_least, "{series} = {v}\n{text}");
    }
    assert!(text.contains("# TYPE attune_http_request_seconds histogram"));
    let ended = s.stop();
    // The request's log lines carry its id.
    let tagged = ended
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|v| {
            v["span"]["id"].is_string()
                || v["spans"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["id"].is_string()))
        });
    assert!(tagged, "no log line with a request id:\n{}", ended.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_register_reads_the_pack_directories_again_and_keeps_them_when_one_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("reg");
    common::write_files(
        &pack,
        &[
            (
                "pack.yaml",
                "ref: reg\nname: reg\ndescription: register\nversion: 1.0.0\n",
            ),
            (
                "rules/one.yaml",
                "name: one\npack: reg\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: one\naction:\n  ref: core.noop\n",
            ),
        ],
    );
    let mut cmd = attune();
    cmd.args(["--log-format", "json", "serve", "--pack"])
        .arg(&pack)
        .arg("--db")
        .arg(dir.path().join("state.db"))
        .args(["--http", "127.0.0.1:0"])
        .env("ATTUNE_ADMIN_USER", ADMIN.0)
        .env("ATTUNE_ADMIN_PASSWORD", ADMIN.1)
        .env_remove("ATTUNE_USERS_FILE")
        .env_remove("ATTUNE_AUTH_SECRET");
    let run = Running::start(cmd, false);
    let base = http_base(&run);
    let c = reqwest::Client::new();
    let tok = token(&c, &base, ADMIN).await;
    let register = |body: Value| {
        c.post(format!("{base}/api/v1/packs/register"))
            .header("X-Auth-Token", &tok)
            .json(&body)
            .send()
    };
    let rules = || async {
        let (_, b) = answer(
            c.get(format!("{base}/api/v1/rules?pack=reg"))
                .header("X-Auth-Token", &tok)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let mut refs: Vec<String> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ref"].as_str().unwrap().to_string())
            .collect();
        refs.sort();
        refs
    };
    assert_eq!(rules().await, ["reg.one"]);

    // A rule added on disk is there after a registration, with StackStorm's counts.
    common::write_files(
        &pack,
        &[(
            "rules/two.yaml",
            "name: two\npack: reg\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: two\naction:\n  ref: core.noop\n",
        )],
    );
    let (st, b) = answer(register(json!({"packs": ["reg"]})).await.unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["rules"], 2, "{b}");
    assert_eq!(rules().await, ["reg.one", "reg.two"]);

    // A broken pack: 400 naming the problem; the running rules stay.
    common::write_files(
        &pack,
        &[(
            "rules/three.yaml",
            "name: three\npack: reg\ntrigger:\n  type: core.st2.webhook\naction:\n  ref: no.such_action\n",
        )],
    );
    let (st, b) = answer(register(json!({})).await.unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    assert!(fault(&b).contains("no.such_action"), "{b}");
    assert_eq!(rules().await, ["reg.one", "reg.two"]);
    std::fs::remove_file(pack.join("rules/three.yaml")).unwrap();

    // Unknown packs, partial kinds and unknown fields are refused by name.
    let (st, b) = answer(register(json!({"packs": ["nope"]})).await.unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(fault(&b).contains("'nope'"), "{b}");
    let (st, b) = answer(register(json!({"types": ["actions"]})).await.unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(fault(&b).starts_with("types:"), "{b}");
    let (st, b) = answer(register(json!({"colour": 1})).await.unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(fault(&b).contains("colour"), "{b}");

    common::stop_serving(run);
}

/// Creates the rule `hooks.<name>` running `core.noop` on calls to the webhook `url`.
async fn hook_rule(a: &As, name: &str, url: &str) {
    let rule = json!({
        "name": name, "pack": "hooks", "enabled": true,
        "trigger": {"type": "core.st2.webhook", "parameters": {"url": url}},
        "action": {"ref": "core.noop"}
    });
    let (st, b) = answer(
        a.call(reqwest::Method::POST, "/api/v1/rules", Some(rule))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}

/// Calls the webhook `url` with `body` (and the trace tag `tag`, when given).
async fn call_hook(a: &As, url: &str, body: Value, tag: Option<&str>) -> reqwest::Response {
    let mut r =
        a.c.post(format!("{}/api/v1/webhooks/{url}", a.base))
            .header("X-Auth-Token", &a.token)
            .json(&body);
    if let Some(t) = tag {
        r = r.header("St2-Trace-Tag", t);
    }
    r.send().await.unwrap()
}

/// `GET /api/v1/traces{query}`: the traces and `X-Total-Count`.
async fn traces(a: &As, query: &str) -> (Vec<Value>, u64) {
    let r = a
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/traces{query}"),
            None,
        )
        .await;
    let total = r.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (st, b) = answer(r).await;
    assert_eq!(st, StatusCode::OK, "{query}: {b}");
    (b.as_array().unwrap().clone(), total)
}

/// The ids of `traces`, in order.
fn ids(traces: &[Value]) -> Vec<&str> {
    traces.iter().map(|t| t["id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_follow_an_event_through_its_rule_or_an_execution_a_caller_started() {
    let s = start();
    let a = As::admin(&s).await;
    hook_rule(&a, "traced", "deploy").await;
    // A webhook call tagged as StackStorm's clients tag it; then an execution started
    // through the API.
    let r = call_hook(&a, "deploy", json!({"v": 1}), Some("deploy-42")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut hook = Value::Null;
    for _ in 0..600 {
        let (l, _) = traces(&a, "?trace_tag=deploy-42").await;
        if l.len() == 1 && l[0]["action_executions"].as_array().unwrap().len() == 1 {
            hook = l[0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hook["trace_tag"], "deploy-42", "the tagged trace: {hook}");
    let event = hook["trigger_instances"][0]["object_id"].as_str().unwrap();
    assert_eq!(hook["id"], event, "an event's trace has the event's id");
    assert_eq!(hook["trigger_instances"][0]["ref"], "core.webhook");
    assert_eq!(hook["rules"][0]["ref"], "hooks.traced");
    assert_eq!(
        hook["rules"][0]["caused_by"],
        json!({"type": "trigger_instance", "id": event})
    );
    let hook_x = hook["action_executions"][0].clone();
    assert_eq!(hook_x["ref"], "core.noop");
    assert_eq!(
        hook_x["caused_by"],
        json!({"type": "rule", "id": format!("hooks.traced:{event}")})
    );
    let hook_x = hook_x["object_id"].as_str().unwrap().to_string();
    let started = a.run("echo traced").await;
    let started = started["id"].as_str().unwrap().to_string();
    a.ended(&started).await;

    // Both listed, newest first; oldest first; paged with the total.
    let (all, total) = traces(&a, "").await;
    assert_eq!(ids(&all), [started.as_str(), event]);
    assert_eq!(total, 2);
    assert_eq!(all[0]["trigger_instances"], json!([]));
    assert_eq!(all[0]["action_executions"][0]["ref"], "core.local");
    assert_eq!(all[0]["action_executions"][0]["caused_by"], json!({}));
    let (asc, _) = traces(&a, "?sort_asc=true").await;
    assert_eq!(ids(&asc), [event, started.as_str()]);
    let (second, total) = traces(&a, "?limit=1&offset=1").await;
    assert_eq!((ids(&second), total), (vec![event], 2));
    // Each filter, and filters together (all must hold).
    for (query, want) in [
        (format!("?execution={hook_x}"), vec![event]),
        (format!("?execution={started}"), vec![started.as_str()]),
        (format!("?trigger_instance={event}"), vec![event]),
        ("?rule=hooks.traced".to_string(), vec![event]),
        (
            "?rule=hooks.traced&trace_tag=deploy-42".to_string(),
            vec![event],
        ),
        ("?rule=hooks.traced&trace_tag=deploy-43".to_string(), vec![]),
        ("?trace_tag=deploy-43".to_string(), vec![]),
        (format!("?execution={started}&rule=hooks.traced"), vec![]),
        (
            format!("?execution={hook_x}&trigger_instance={event}"),
            vec![event],
        ),
        (
            format!("?execution={started}&trigger_instance={event}"),
            vec![],
        ),
        (format!("?execution={}", uuid::Uuid::nil()), vec![]),
    ] {
        let (l, total) = traces(&a, &query).await;
        assert_eq!(ids(&l), want, "{query}");
        assert_eq!(total, want.len() as u64, "{query}");
    }
    // One by id: an event's or a started execution's; a task's or a rule's execution id
    // is not a trace id.
    for (id, status) in [
        (event.to_string(), StatusCode::OK),
        (started.clone(), StatusCode::OK),
        (hook_x.clone(), StatusCode::NOT_FOUND),
        (uuid::Uuid::nil().to_string(), StatusCode::NOT_FOUND),
        ("nope".to_string(), StatusCode::NOT_FOUND),
    ] {
        let (st, b) = a.get(&format!("/api/v1/traces/{id}")).await;
        assert_eq!(st, status, "{id}: {b}");
        if st == StatusCode::OK {
            assert_eq!(b["id"], id.as_str());
        } else {
            assert!(fault(&b).contains(&id), "{b}");
        }
    }
    // Bad input: a 400 naming it, nothing changed.
    for (query, names) in [
        ("?execution=x", "execution"),
        ("?trigger_instance=x", "trigger_instance"),
        ("?tag=deploy-42", "tag"),
    ] {
        let (st, b) = a.get(&format!("/api/v1/traces{query}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert!(fault(&b).contains(names), "{query}: {b}");
    }
    let r = call_hook(&a, "deploy", json!({"v": 2}), Some(" ")).await;
    let (st, b) = answer(r).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    assert!(fault(&b).contains("St2-Trace-Tag"), "{b}");
    let (_, total) = traces(&a, "").await;
    assert_eq!(total, 2, "the refused call emitted nothing");
    // StackStorm's generic form takes the tag too.
    let generic = json!({"trigger": "core.webhook", "payload": {"body": {}}});
    let r = call_hook(&a, "st2", generic, Some("generic-1")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (tagged, total) = traces(&a, "?trace_tag=generic-1").await;
    assert_eq!(total, 1, "{tagged:?}");
    assert_eq!(tagged[0]["trigger_instances"][0]["ref"], "core.webhook");

    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_list_merges_events_and_started_executions_across_store_pages() {
    let s = start();
    let a = As::admin(&s).await;
    hook_rule(&a, "many", "many").await;
    // More events than the server reads at a time (500), with started executions among
    // them: before, between and after.
    let mut started = Vec::new();
    for i in 0..620 {
        if i % 300 == 0 {
            started.push(a.run("true").await["id"].as_str().unwrap().to_string());
        }
        let r = call_hook(&a, "many", json!({"i": i}), None).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    started.push(a.run("true").await["id"].as_str().unwrap().to_string());
    let (all, total) = traces(&a, "?limit=-1").await;
    assert_eq!((all.len() as u64, total), (624, 624));
    let mut seen = std::collections::HashSet::new();
    assert!(
        all.iter().all(|t| seen.insert(t["id"].as_str().unwrap())),
        "each once"
    );
    let times: Vec<&str> = all
        .iter()
        .map(|t| t["start_timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for x in &started {
        assert!(
            seen.contains(x.as_str()),
            "the started execution {x} is listed"
        );
    }
    // Pages cut anywhere are slices of the whole; oldest first is its reverse.
    for (limit, offset) in [(7, 0), (50, 480), (30, 500), (10, 615), (5, 622)] {
        let (page, total) = traces(&a, &format!("?limit={limit}&offset={offset}")).await;
        assert_eq!(total, 624);
        let end = (offset + limit).min(all.len());
        assert_eq!(
            ids(&page),
            ids(&all[offset..end]),
            "limit {limit} offset {offset}"
        );
    }
    let (asc, _) = traces(&a, "?limit=-1&sort_asc=true").await;
    let mut reversed = ids(&all);
    reversed.reverse();
    assert_eq!(ids(&asc), reversed);

    s.stop();
}
