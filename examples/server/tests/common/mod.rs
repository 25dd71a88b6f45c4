//! What the tests that drive `attune` as a live process share: starting it with its output
//! read on threads, signals, pid files of actions, and polls (never timing assertions; the
//! timeouts only keep a broken build from hanging).
#![allow(dead_code)]

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `attune` binary, without colour or a config dir from the environment.
pub(crate) fn attune() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_attune"));
    c.env("NO_COLOR", "1")
        .env_remove("ATTUNE_CONFIG_DIR")
        .env_remove("ATTUNE_DB");
    c
}

/// The one JSON document a command printed on stdout (`--json`); panics showing its output
/// when it is not one.
pub(crate) fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Writes `files` (path relative to `dir`, text) under `dir`.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let f = dir.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
}

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Polls `f` every 20 ms until it holds; panics naming `what` after `timeout`.
pub(crate) fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid an action wrote to `file` (`echo $$ > file`), once it is there.
pub(crate) fn read_pid(file: &Path) -> u32 {
    let mut pid = None;
    wait_until(
        &format!("a pid in {}", file.display()),
        Duration::from_secs(60),
        || {
            pid = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            pid.is_some()
        },
    );
    pid.unwrap_or_default()
}

/// Whether process `pid` runs (exists and is not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].chars().next())
                .unwrap_or('?');
            state != 'Z' && state != 'X'
        }
        Err(_) => false,
    }
}

/// Whether process `pid` catches signal `signum` (its handler is installed).
pub(crate) fn catches(pid: u32, signum: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let hex = s
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))?
                .trim()
                .to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (signum - 1)) != 0)
}

/// Sends `SIG<name>` (`INT`, `TERM`, `KILL`) to `pid`.
pub(crate) fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{name} {pid}");
}

/// Kills process `pid` when dropped, if it still runs: actions a test left behind (when
/// `attune` was SIGKILLed, nothing else may end them).
#[derive(Debug)]
pub(crate) struct Reaper(pub u32);

impl Drop for Reaper {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.0.to_string())
                .status();
        }
    }
}

/// `attune` running, its stdout and stderr read by threads.
#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How `attune` ended.
#[derive(Debug)]
pub(crate) struct Ended {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Ended {
    /// Stdout as the one JSON document of `--json`.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The peak memory `attune` reported (`ATTUNE_REPORT_PEAK_MEMORY`), in kB.
    pub(crate) fn peak_kb(&self) -> u64 {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("attune: peak memory (VmHWM) "))
            .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak memory on stderr:\n{}", self.stderr))
    }
}

fn reader(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Running {
    /// Starts `cmd` with stdout and stderr piped (and stdin piped when `stdin` is true).
    pub(crate) fn start(mut cmd: Command, stdin: bool) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().expect("attune starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            reader(child.stdout.take().unwrap(), stdout.clone()),
            reader(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdin (when started with one).
    pub(crate) fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child.stdin.as_mut().expect("started with stdin")
    }

    /// Takes its stdin (to write from another thread; dropping it closes it).
    pub(crate) fn stdin_take(&mut self) -> std::process::ChildStdin {
        self.child.stdin.take().expect("started with stdin")
    }

    /// Its stderr so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Whether it still runs.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for its end (panics after `timeout`, killing it).
    pub(crate) fn wait(mut self, timeout: Duration) -> Ended {
        let until = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "attune did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Ended {
            status,
            stdout: String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned(),
        }
    }

    /// SIGKILLs it and waits for it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that fails while the process runs leaves no process behind.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to its end (stdin closed), with a generous timeout.
pub(crate) fn run(cmd: Command) -> Ended {
    Running::start(cmd, false).wait(Duration::from_secs(300))
}

/// A `core.local` command that writes its shell's pid to `pid_file`, then sleeps (the same
/// process, by `exec`), with `prefix` run first (`trap '' TERM; `).
pub(crate) fn sleeper(pid_file: &Path, prefix: &str) -> String {
    format!(
        "cmd={prefix}echo $$ > '{}'; exec sleep 1000",
        pid_file.display()
    )
}

/// The base URL (`http://ADDR`) of a `serve --http` started with `--log-format json`, once
/// its log says it listens.
pub(crate) fn http_base(run: &Running) -> String {
    let mut base = String::new();
    wait_until("the HTTP API to listen", Duration::from_secs(60), || {
        run.stderr().lines().any(|line| {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                return false;
            };
            if v["fields"]["message"] != "attune serve: HTTP API listening" {
                return false;
            }
            base = format!(
                "http://{}",
                v["fields"]["addr"].as_str().unwrap_or_default()
            );
            true
        })
    });
    base
}

/// A token of `user` from the auth route of the `serve --http` at `base`.
pub(crate) async fn login(base: &str, user: &str, password: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/auth/v1/tokens"))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "login of {user}");
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// SIGTERM to a server; it must drain and exit 0 within a minute.
pub(crate) fn stop_serving(run: Running) {
    signal(run.pid(), "TERM");
    let ended = run.wait(Duration::from_secs(60));
    assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
}

/// A fresh schema on the PostgreSQL test server (dropped with the value), or `None` when
/// the server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1` (skipped, saying
/// why). For synchronous tests; async ones await `TestSchema::create()`.
pub(crate) fn pg_schema() -> Option<attune_store_postgres::testing::TestSchema> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(attune_store_postgres::testing::TestSchema::create())
}
