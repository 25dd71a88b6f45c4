//! The web page (`GET /ui`) in headless Chromium, driven through ChromeDriver (the W3C
//! WebDriver protocol over HTTP): log in (a wrong password first), executions appearing and
//! finishing live, an execution's output, a workflow run drawn with each task's status, and
//! the rules with how often each fired. Screenshots go to the test's temporary directory
//! (their paths are printed).
//!
//! Chromium and ChromeDriver come from Debian's packages (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `.ci/run` installs them); without them the test says so and
//! passes, unless `ATTUNE_REQUIRE_BROWSER=1`, where it fails.

mod common;

use common::{Running, attune, http_base, login, stop_serving, write_files};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

/// A pack with a two-task workflow and a rule on a webhook.
fn pack(dir: &Path) {
    write_files(
        dir,
        &[
            (
                "pack.yaml",
                "ref: webtest\nname: webtest\ndescription: the web page's test pack\nversion: 1.0.0\n",
            ),
            (
                "actions/flow.yaml",
                "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n",
            ),
            (
                "actions/workflows/flow.yaml",
                "version: 1.0\ntasks:\n  greet:\n    action: core.local cmd=\"echo hello from greet\"\n    next:\n      - when: '{{ succeeded() }}'\n        do: finish\n  finish:\n    action: core.noop\n",
            ),
            (
                "rules/on_hit.yaml",
                "name: on_hit\npack: webtest\nenabled: true\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: hit\naction:\n  ref: core.local\n  parameters:\n    cmd: echo hit\n",
            ),
        ],
    );
}

/// ChromeDriver and one browser session; both end when this is dropped.
struct Browser {
    driver: std::process::Child,
    url: String,
    session: String,
    c: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let c = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = c.get(format!("{url}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1400,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let mut b = Browser {
            driver,
            url,
            session: String::new(),
            c,
            _profile: profile,
        };
        let v = b.call("POST", "/session", caps).await;
        b.session = v["sessionId"].as_str().expect("a session").to_string();
        b
    }

    /// One WebDriver command; its `value`. Panics on a WebDriver error.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.url)
        } else {
            format!("{}/session/{}{path}", self.url, self.session)
        };
        let req = match method {
            "GET" => self.c.get(url),
            "DELETE" => self.c.delete(url),
            _ => self.c.post(url).json(&body),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(
            v["value"]["error"].is_null(),
            "WebDriver {method} {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` as given) in the page.
    async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// The element `css` selects (the first).
    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call("POST", &format!("/element/{e}/clear"), json!({}))
            .await;
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Waits until `script` returns true in the page (it is polled); panics after 30 s with
    /// `what` and the page's text.
    async fn wait_for(&self, what: &str, script: &str, args: Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.js(script, args.clone()).await == true {
                return;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body.innerText", json!([])).await;
                self.screenshot("failed").await;
                panic!("the page never showed {what}; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot as `web-<name>.png` in the test's temporary directory.
    async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let v = self.call("GET", "/screenshot", json!(null)).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("web-{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session ends Chromium; then the driver.
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.url, self.session);
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async { reqwest::Client::new().delete(url).send().await })
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An API call as the admin; the JSON answer.
async fn post(c: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = c
        .post(url)
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_executions_live_their_output_a_workflow_run_and_rule_hits() {
    if !Path::new(CHROMIUM).exists() || !Path::new(DRIVER).exists() {
        assert!(
            std::env::var("ATTUNE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "ATTUNE_REQUIRE_BROWSER=1 but {CHROMIUM} or {DRIVER} is missing"
        );
        eprintln!("skipped: install Debian's chromium and chromium-driver to run it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pack_dir = dir.path().join("webtest");
    pack(&pack_dir);
    let mut cmd = attune();
    cmd.args(["--log-format", "json", "serve", "--db"])
        .arg(dir.path().join("state.db"))
        .arg("--pack")
        .arg(&pack_dir)
        .args(["--http", "127.0.0.1:0"])
        .env("ATTUNE_ADMIN_USER", "admin")
        .env("ATTUNE_ADMIN_PASSWORD", "admin-pw")
        .env_remove("ATTUNE_USERS_FILE")
        .env_remove("ATTUNE_AUTH_SECRET");
    let run: Running = Running::start(cmd, false);
    let base = http_base(&run);
    let c = reqwest::Client::new();
    let token = login(&base, "admin", "admin-pw").await;

    let b = Browser::start().await;
    b.go(&format!("{base}/ui")).await;

    // A wrong password: the form says why and stays.
    b.wait_for(
        "the login form",
        "return !document.getElementById('login').classList.contains('hidden')",
        json!([]),
    )
    .await;
    b.type_into("#user", "admin").await;
    b.type_into("#password", "wrong").await;
    b.click("#login-button").await;
    b.wait_for(
        "the login error",
        "return document.getElementById('login-error').textContent.length > 0",
        json!([]),
    )
    .await;
    let shown = b
        .js(
            "return document.getElementById('login-error').textContent",
            json!([]),
        )
        .await;
    assert!(
        shown.as_str().unwrap().to_lowercase().contains("invalid"),
        "{shown}"
    );

    // The right one: the executions, following the event stream.
    b.type_into("#password", "admin-pw").await;
    b.click("#login-button").await;
    b.wait_for(
        "the executions list, live",
        "return document.getElementById('executions').dataset.loaded === 'true' \
         && document.getElementById('live-state').dataset.live === 'true'",
        json!([]),
    )
    .await;
    let who = b
        .js(
            "return document.getElementById('who').textContent",
            json!([]),
        )
        .await;
    assert_eq!(who, "admin");

    // An execution started elsewhere appears and finishes without a reload.
    let x = post(
        &c,
        format!("{base}/api/v1/executions"),
        &token,
        json!({"action": "core.local", "parameters": {"cmd": "echo seen-by-the-page"}}),
    )
    .await;
    let id = x["id"].as_str().unwrap().to_string();
    let row_status = "const r = document.querySelector(`tr[data-id=\"${arguments[0]}\"]`); \
                      return r !== null && r.dataset.status === arguments[1];";
    b.wait_for(
        "the shell execution succeeded",
        row_status,
        json!([id, "succeeded"]),
    )
    .await;
    // Its output, when chosen.
    b.click(&format!("tr[data-id=\"{id}\"]")).await;
    b.wait_for(
        "the execution's output",
        "return document.getElementById('detail-output').textContent.includes('seen-by-the-page')",
        json!([]),
    )
    .await;
    let title = b
        .js(
            "return document.getElementById('detail-title').textContent",
            json!([]),
        )
        .await;
    assert_eq!(title, "core.local");

    // A workflow run: drawn from its Mermaid export, each task coloured by its status.
    let wf = post(
        &c,
        format!("{base}/api/v1/executions"),
        &token,
        json!({"action": "webtest.flow"}),
    )
    .await;
    let wf_id = wf["id"].as_str().unwrap().to_string();
    b.wait_for(
        "the workflow succeeded",
        row_status,
        json!([wf_id, "succeeded"]),
    )
    .await;
    b.click(&format!("tr[data-id=\"{wf_id}\"]")).await;
    b.wait_for(
        "both tasks drawn as succeeded",
        "const t = [...document.querySelectorAll('#graph g.task')]; \
         return t.length === 2 && t.every(g => g.dataset.status === 'succeeded');",
        json!([]),
    )
    .await;
    let tasks = b
        .js(
            "return [...document.querySelectorAll('#graph g.task')].map(g => g.dataset.task).sort()",
            json!([]),
        )
        .await;
    assert_eq!(tasks, json!(["finish", "greet"]));
    let fill = b
        .js(
            "return document.querySelector('#graph g.task[data-task=\"greet\"] rect').getAttribute('fill')",
            json!([]),
        )
        .await;
    assert_eq!(fill, "#c8f7c5", "succeeded tasks are green");
    let edges = b
        .js(
            "return [...document.querySelectorAll('#graph g.edge')].map(e => e.dataset.from + '>' + e.dataset.to)",
            json!([]),
        )
        .await;
    assert_eq!(edges, json!(["t_greet>t_finish"]));
    // Workflow tasks are not rows of their own.
    let rows = b
        .js(
            "return document.querySelectorAll('#executions tbody tr').length",
            json!([]),
        )
        .await;
    assert_eq!(rows, 2);
    b.screenshot("workflow").await;

    // The rules, with how often each fired.
    for _ in 0..3 {
        let r = c
            .post(format!("{base}/api/v1/webhooks/hit"))
            .header("X-Auth-Token", &token)
            .json(&json!({"n": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    b.wait_for(
        "the three executions the webhook caused",
        "return document.querySelectorAll('#executions tbody tr').length === 5",
        json!([]),
    )
    .await;
    b.click("#tabs button[data-tab=rules]").await;
    b.wait_for(
        "the rule fired three times",
        "const r = document.querySelector('tr[data-rule=\"webtest.on_hit\"]'); \
         return r !== null && r.dataset.hits === '3';",
        json!([]),
    )
    .await;
    let cells = b
        .js(
            "return [...document.querySelectorAll('tr[data-rule=\"webtest.on_hit\"] td')].map(td => td.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(
        cells,
        json!(["webtest.on_hit", "core.webhook", "core.local", "yes", "3"])
    );
    b.screenshot("rules").await;
    drop(b);

    stop_serving(run);
}
