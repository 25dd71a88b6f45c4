//! The `http` runtime and `core.http_request` (feature `http`), against a tiny HTTP/1.1 server
//! on 127.0.0.1 that records what it receives.
#![cfg(feature = "http")]

use attune_core::Engine;
use attune_core::model::{Execution, ExecutionStatus};
use attune_core::runtime::{HttpRuntime, http_request_action};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The safety net for every wait in these tests (never a timing assertion).
const SAFETY: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The test server
// ---------------------------------------------------------------------------------------------

/// One request as the server received it.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    /// Path and query, as on the request line.
    target: String,
    /// Names lower-cased, in order of arrival.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What the server answers.
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Never answer (the connection stays open until the test ends).
    hang: bool,
}

impl Reply {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            hang: false,
        }
    }

    fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, body)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn hang() -> Self {
        Reply {
            hang: true,
            ..Self::ok("")
        }
    }
}

type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

/// A server on 127.0.0.1 answering every request with `handler`; stops when dropped.
struct Server {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    accept: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Server {
    async fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = received.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, handler.clone(), log.clone()));
            }
        });
        Server {
            addr,
            received,
            accept,
        }
    }

    /// A server answering every request with `reply`.
    async fn replying(reply: Reply) -> Server {
        Self::start(move |_| reply.clone()).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The only request received.
    fn only(&self) -> Received {
        let all = self.received();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().unwrap()
    }
}

/// Serves the requests of one connection (keep-alive) until the client closes it.
async fn serve(stream: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Received>>>) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if stream.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let request = Received {
            method,
            target,
            headers,
            body,
        };
        log.lock().unwrap().push(request.clone());
        let reply = handler(&request);
        if reply.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        let mut head = format!(
            "HTTP/1.1 {} Test\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (n, v) in &reply.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let out = stream.get_mut();
        if out.write_all(head.as_bytes()).await.is_err()
            || out.write_all(&reply.body).await.is_err()
            || out.flush().await.is_err()
        {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn engine_with(builder: attune_core::EngineBuilder) -> Engine {
    let runtime = HttpRuntime::new().expect("the http runtime builds");
    let engine = builder
        .runtime(Arc::new(runtime))
        .build()
        .await
        .expect("engine builds");
    engine
        .register_action(http_request_action())
        .await
        .expect("core.http_request registers");
    engine
}

async fn engine() -> Engine {
    engine_with(Engine::builder()).await
}

/// Runs `core.http_request` with `params` on a new engine and returns the finished execution.
async fn run(params: Value) -> Execution {
    let engine = engine().await;
    tokio::time::timeout(SAFETY, engine.run("core.http_request", params))
        .await
        .expect("the execution finishes")
        .expect("the execution is accepted")
}

fn result(exec: &Execution) -> &Value {
    exec.result.as_ref().expect("a finished run has a result")
}

/// Asserts the execution succeeded and returns its result.
fn succeeded(exec: &Execution) -> &Value {
    assert_eq!(exec.status, ExecutionStatus::Succeeded, "{exec:#?}");
    result(exec)
}

/// Asserts the execution failed and returns its error message.
fn failed(exec: &Execution) -> String {
    assert_eq!(exec.status, ExecutionStatus::Failed, "{exec:#?}");
    exec.error.clone().expect("a failed execution records why")
}

/// Standard base64 with padding (RFC 4648), to compute expected basic-auth headers.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_helper_matches_rfc4648_vectors() {
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_sends_query_and_headers_and_returns_the_response() {
    let server = Server::replying(
        Reply::ok("hello")
            .header("X-Multi", "a")
            .header("X-Multi", "b")
            .header("Content-Type", "text/plain"),
    )
    .await;
    let exec = run(json!({
        "url": server.url("/items?fixed=1"),
        "query": {"q": "a b", "n": 5, "flag": true},
        "headers": {"X-Trace": "abc-123", "Accept": "text/plain"},
    }))
    .await;
    let r = succeeded(&exec);

    let got = server.only();
    assert_eq!(got.method, "GET");
    assert_eq!(got.target, "/items?fixed=1&q=a+b&n=5&flag=true");
    assert_eq!(got.header("x-trace"), Some("abc-123"));
    assert_eq!(got.header("accept"), Some("text/plain"));
    assert!(got.body.is_empty(), "{got:?}");

    assert_eq!(r["status_code"], json!(200));
    assert_eq!(r["body"], json!("hello"));
    assert_eq!(r["body_truncated"], json!(false));
    assert_eq!(r["json"], Value::Null, "a non-JSON body has json null");
    assert_eq!(r["headers"]["x-multi"], json!("a, b"), "{r:#}");
    assert_eq!(r["headers"]["content-type"], json!("text/plain"));
    assert_eq!(r["headers"]["content-length"], json!("5"));
    assert!(r["elapsed_ms"].is_number(), "{r:#}");
    assert_eq!(
        r["url"],
        json!(server.url("/items?fixed=1&q=a+b&n=5&flag=true"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_json_sends_the_body_with_a_json_content_type() {
    let server = Server::replying(Reply::new(201, "")).await;
    let payload = json!({"name": "ada", "tags": [1, 2, {"x": null}]});
    let exec = run(json!({
        "url": server.url("/create"),
        "method": "POST",
        "json": payload,
    }))
    .await;
    assert_eq!(succeeded(&exec)["status_code"], json!(201));
    let got = server.only();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path(), "/create");
    assert_eq!(got.header("content-type"), Some("application/json"));
    let sent: Value = serde_json::from_slice(&got.body).expect("the body is JSON");
    assert_eq!(sent, payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_body_is_sent_as_is_and_json_keeps_a_given_content_type() {
    let server = Server::replying(Reply::ok("")).await;
    let exec = run(json!({
        "url": server.url("/raw"),
        "method": "PUT",
        "body": "line one\nline two",
        "headers": {"Content-Type": "text/plain"},
    }))
    .await;
    succeeded(&exec);
    let got = server.only();
    assert_eq!(got.method, "PUT");
    assert_eq!(got.body, b"line one\nline two");
    assert_eq!(got.header("content-type"), Some("text/plain"));

    let server = Server::replying(Reply::ok("")).await;
    let exec = run(json!({
        "url": server.url("/patch"),
        "method": "PATCH",
        "json": [1, 2],
        "headers": {"Content-Type": "application/merge-patch+json"},
    }))
    .await;
    succeeded(&exec);
    let got = server.only();
    assert_eq!(got.method, "PATCH");
    assert_eq!(got.body, b"[1,2]");
    assert_eq!(
        got.header("content-type"),
        Some("application/merge-patch+json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_sends_base64_of_user_and_password() {
    let server = Server::replying(Reply::ok("")).await;
    let exec = run(json!({
        "url": server.url("/private"),
        "username": "ada",
        "password": "s3cret:pw",
    }))
    .await;
    succeeded(&exec);
    let expected = format!("Basic {}", base64(b"ada:s3cret:pw"));
    assert_eq!(
        server.only().header("authorization"),
        Some(expected.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_sends_a_bearer_header() {
    let server = Server::replying(Reply::ok("")).await;
    let exec = run(json!({
        "url": server.url("/private"),
        "bearer_token": "tok-123",
    }))
    .await;
    succeeded(&exec);
    assert_eq!(
        server.only().header("authorization"),
        Some("Bearer tok-123")
    );
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_or_5xx_status_fails_the_execution_with_the_result() {
    for (status, body) in [(404, "no such thing"), (503, "busy")] {
        let server = Server::replying(Reply::new(status, body)).await;
        let exec = run(json!({"url": server.url("/missing")})).await;
        assert_eq!(exec.status, ExecutionStatus::Failed, "{exec:#?}");
        let r = result(&exec);
        assert_eq!(r["status_code"], json!(status), "{r:#}");
        assert_eq!(r["body"], json!(body));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_response_is_parsed_into_json() {
    let server = Server::replying(
        Reply::ok(r#"{"ok": true, "items": [1, 2]}"#).header("Content-Type", "application/json"),
    )
    .await;
    let exec = run(json!({"url": server.url("/data")})).await;
    let r = succeeded(&exec);
    assert_eq!(r["json"], json!({"ok": true, "items": [1, 2]}));
    assert_eq!(r["body"], json!(r#"{"ok": true, "items": [1, 2]}"#));

    let server = Server::replying(Reply::ok("{not json")).await;
    let exec = run(json!({"url": server.url("/data")})).await;
    let r = succeeded(&exec);
    assert_eq!(r["json"], Value::Null);
    assert_eq!(r["body"], json!("{not json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_is_capped_at_max_response_bytes() {
    let big = "x".repeat(5000);
    let server = Server::replying(Reply::ok(big.clone())).await;
    let exec = run(json!({"url": server.url("/big"), "max_response_bytes": 100})).await;
    let r = succeeded(&exec);
    assert_eq!(r["body"], json!("x".repeat(100)));
    assert_eq!(r["body_truncated"], json!(true));
    assert_eq!(r["json"], Value::Null);

    // A body of exactly the cap is whole.
    let exec = run(json!({"url": server.url("/big"), "max_response_bytes": 5000})).await;
    let r = succeeded(&exec);
    assert_eq!(r["body"], json!(big));
    assert_eq!(r["body_truncated"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_unless_disabled() {
    let server = Server::start(|req| match req.path() {
        "/start" => Reply::new(302, "").header("Location", "/end"),
        _ => Reply::ok("arrived"),
    })
    .await;

    let exec = run(json!({"url": server.url("/start")})).await;
    let r = succeeded(&exec);
    assert_eq!(r["status_code"], json!(200));
    assert_eq!(r["url"], json!(server.url("/end")));
    assert_eq!(r["body"], json!("arrived"));
    let paths: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(paths, ["/start", "/end"]);

    let server = Server::start(|req| match req.path() {
        "/start" => Reply::new(302, "").header("Location", "/end"),
        _ => Reply::ok("arrived"),
    })
    .await;
    let exec = run(json!({"url": server.url("/start"), "follow_redirects": false})).await;
    let r = succeeded(&exec);
    assert_eq!(r["status_code"], json!(302));
    assert_eq!(r["url"], json!(server.url("/start")));
    assert_eq!(r["headers"]["location"], json!("/end"));
    assert_eq!(server.only().path(), "/start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_redirects_than_max_redirects_fail() {
    // /r/N redirects to /r/N+1 for ever.
    let server = Server::start(|req| {
        let n: u32 = req.path().trim_start_matches("/r/").parse().unwrap_or(0);
        Reply::new(302, "").header("Location", &format!("/r/{}", n + 1))
    })
    .await;
    let exec = run(json!({"url": server.url("/r/0"), "max_redirects": 2})).await;
    let error = failed(&exec);
    assert!(error.contains("more than 2 redirects"), "{error}");
    assert!(error.contains(&server.url("/r/0")), "{error}");
    assert_eq!(
        server.received().len(),
        3,
        "the first request and 2 redirects"
    );
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_param_fails_the_run_naming_the_timeout() {
    let server = Server::replying(Reply::hang()).await;
    let exec = run(json!({"url": server.url("/slow"), "timeout": 0.25})).await;
    // The runtime's own deadline ends it: status `timeout`, with the runtime's message.
    assert_eq!(exec.status, ExecutionStatus::Timeout, "{exec:#?}");
    let error = exec
        .error
        .clone()
        .expect("a timed-out execution records why");
    assert!(error.contains("timed out"), "{error}");
    assert!(error.contains("timeout of 0.25 s"), "{error}");
    assert!(
        error.contains(&format!("GET {}", server.url("/slow"))),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_names_method_and_url_and_no_secret() {
    // A port nothing listens on any more.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/down");
    let exec = run(json!({
        "url": url,
        "method": "DELETE",
        "username": "ada",
        "password": "pw-never-shown",
    }))
    .await;
    let error = failed(&exec);
    assert!(error.contains(&format!("DELETE {url}")), "{error}");
    let stored = serde_json::to_string(&exec).unwrap();
    assert!(!stored.contains("pw-never-shown"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_params_fail_with_a_clear_error() {
    let server = Server::replying(Reply::ok("")).await;
    let url = server.url("/x");
    let cases = [
        (
            json!({"url": url, "body": "a", "json": {"b": 1}}),
            "parameters 'body' and 'json' are exclusive",
        ),
        (
            json!({"url": url, "headers": {"X-Count": 3}}),
            "header 'X-Count' must be a string, got integer",
        ),
        (
            json!({"url": url, "username": "ada", "bearer_token": "tok-zz"}),
            "'username' (basic auth) and 'bearer_token' are exclusive",
        ),
        (
            json!({"url": "ftp://127.0.0.1/x"}),
            "must be an http or https URL",
        ),
    ];
    for (params, expected) in cases {
        let exec = run(params.clone()).await;
        let error = failed(&exec);
        assert!(
            error.contains("invalid params of action 'core.http_request'"),
            "{params}: {error}"
        );
        assert!(error.contains(expected), "{params}: {error}");
        assert!(!error.contains("tok-zz"), "{error}");
    }
    assert!(server.received().is_empty(), "no request was sent");

    // Schema violations are refused before an execution exists.
    let engine = engine().await;
    for params in [
        json!({"url": url, "method": "FETCH"}),
        json!({"url": url, "timeout": 0}),
        json!({"method": "GET"}),
    ] {
        let err = engine.execute("core.http_request", params.clone()).await;
        assert!(
            matches!(err, Err(attune_core::Error::Invalid { .. })),
            "{params}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_request_in_flight() {
    let server = Server::replying(Reply::hang()).await;
    // A long grace: if the runtime ignored the cancel, the engine would wait this long before
    // dropping it, and the safety net below would fire.
    let engine = engine_with(Engine::builder().cancel_grace(Duration::from_secs(3600))).await;
    let id = engine
        .execute("core.http_request", json!({"url": server.url("/hang")}))
        .await
        .unwrap();
    tokio::time::timeout(SAFETY, async {
        while server.received().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the request reaches the server");
    engine.cancel(id).await.unwrap();
    let exec = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(exec.status, ExecutionStatus::Canceled, "{exec:#?}");
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_redacted_in_params_and_masked_in_results() {
    // The server echoes the Authorization header it got.
    let server = Server::start(|req| Reply::ok(req.header("authorization").unwrap_or(""))).await;
    let engine = engine().await;

    let exec = engine
        .run(
            "core.http_request",
            json!({"url": server.url("/echo"), "username": "ada", "password": "hunter2-pw"}),
        )
        .await
        .unwrap();
    let r = succeeded(&exec);
    assert_eq!(
        r["body"],
        json!(format!("Basic {}", base64(b"ada:hunter2-pw"))),
        "the request carried the real password"
    );
    assert_eq!(exec.params["password"], json!("********"));
    assert_eq!(exec.params["username"], json!("ada"));
    let stored = serde_json::to_string(&engine.execution(exec.id).await.unwrap()).unwrap();
    assert!(!stored.contains("hunter2-pw"), "{stored}");

    let exec = engine
        .run(
            "core.http_request",
            json!({"url": server.url("/echo"), "bearer_token": "tok-secret-42"}),
        )
        .await
        .unwrap();
    let r = succeeded(&exec);
    assert_eq!(
        r["body"],
        json!("Bearer ********"),
        "the echoed token is masked"
    );
    assert_eq!(exec.params["bearer_token"], json!("********"));
    let stored = serde_json::to_string(&engine.execution(exec.id).await.unwrap()).unwrap();
    assert!(!stored.contains("tok-secret-42"), "{stored}");
    assert_eq!(
        server.received()[1].header("authorization"),
        Some("Bearer tok-secret-42"),
        "the request carried the real token"
    );
}
