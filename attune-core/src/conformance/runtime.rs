//! Runtime conformance checks: the promises every process runtime shares.
//!
//! Each `check_*` function runs actions that a [`RuntimeFixtures`] provides on its runtime,
//! calling [`Runtime::run`] directly (no engine), and panics with a message naming the
//! broken promise of [`Runtime`]: a canceled run stops and returns
//! [`Error::Canceled`]; secret values stay out of the action's
//! command line and environment (and out of the output, since the action prints neither);
//! output lines reach the [`LogSink`] while the action runs. Run them all with
//! [`runtime_conformance_tests!`](crate::runtime_conformance_tests):
//!
//! ```ignore
//! // tests/conformance.rs of a runtime crate
//! struct Fixtures { /* the runtime, a pack directory */ }
//!
//! #[async_trait::async_trait]
//! impl attune_core::conformance::runtime::RuntimeFixtures for Fixtures { /* ... */ }
//!
//! async fn fixtures() -> Fixtures { /* ... */ }
//!
//! attune_core::runtime_conformance_tests!(fixtures);
//! ```
//!
//! No check measures time: the actions sleep for an hour unless stopped, and every wait is
//! bounded by [`GUARD`], a guard against hangs only (a run that needs it has not stopped).
//! The checks read `/proc`, so they run on Linux.

use crate::model::{Action, ExecutionId};
use crate::runtime::{LogLine, LogSink, LogStream, RunOutput, RunRequest, Runtime};
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a check waits for what a correct runtime does at once (a line, the end of a
/// canceled run) before it fails: a guard against hangs, far longer than any grace period
/// between SIGTERM and SIGKILL, far shorter than the hour the actions sleep.
pub const GUARD: Duration = Duration::from_secs(60);

/// The actions a runtime's conformance checks run, as requests for its runtime.
///
/// The checks replace the `cancel` token and the `log` sink of each request with their own;
/// everything else (the action, params, pack directory, secrets) is the fixture's.
/// [`request`] fills in the rest of a request from an action and its params.
#[async_trait]
pub trait RuntimeFixtures: Send + Sync {
    /// The runtime under test.
    fn runtime(&self) -> Arc<dyn Runtime>;

    /// A run of an action that writes `lines` to its standard output, one per line, in this
    /// order, each as soon as written (flushed), then sleeps for an hour unless stopped. The
    /// lines are ASCII letters, digits, `-` and spaces.
    async fn print_then_sleep(&self, lines: &[&str]) -> RunRequest;

    /// A run of an action that declares a secret parameter with the value `secret` (listed
    /// in [`RunRequest::secrets`] as well), and that writes to its standard output, without
    /// writing `secret`, lines `argv=HEX` and `environ=HEX`: the bytes of its process's
    /// `/proc/self/cmdline` and `/proc/self/environ` in hexadecimal (more than one of each
    /// when the action has more than one view of them), then ends succeeded.
    async fn show_process(&self, secret: &str) -> RunRequest;
}

/// A request to run `action` with `params` (already validated) from `pack_dir`: a new
/// execution id and cancel token, a log sink that drops lines, and as secrets the values of
/// the action's secret params.
pub fn request(
    action: Action,
    params: Map<String, Value>,
    pack_dir: Option<PathBuf>,
) -> RunRequest {
    let id = ExecutionId::new();
    let secrets: Arc<[String]> = action.parameters.secret_values(&params).into();
    RunRequest {
        execution_id: id,
        action: Arc::new(action),
        params,
        timeout: None,
        cancel: CancellationToken::new(),
        log: LogSink::discard(id),
        pack_dir,
        secrets,
        config: None,
        keys: None,
        user: None,
    }
}

/// Expands to one `#[test]` per runtime conformance check, each with fixtures made by
/// `$make`.
///
/// `$make` is an expression callable with no arguments that returns a future whose output
/// implements [`RuntimeFixtures`](crate::conformance::runtime::RuntimeFixtures) (typically
/// the path of an `async fn`). Every test runs on its own two-worker multi-thread runtime
/// ([`conformance::run`](crate::conformance::run)).
#[macro_export]
macro_rules! runtime_conformance_tests {
    ($make:expr $(,)?) => {
        $crate::runtime_conformance_tests!($make =>
            check_cancel_stops_a_running_action,
            check_cancel_before_start,
            check_secrets_stay_out_of_argv_and_environment,
            check_lines_stream_while_running,
        );
    };
    ($make:expr => $($check:ident),+ $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run(async {
                    let fixtures = ($make)().await;
                    $crate::conformance::runtime::$check(&fixtures).await;
                });
            }
        )+
    };
}

/// An action that sleeps is canceled once its first line arrived (so it runs): `run`
/// returns [`Error::Canceled`] within [`GUARD`] (the action would sleep for an hour).
pub async fn check_cancel_stops_a_running_action(fixtures: &dyn RuntimeFixtures) {
    let mut req = fixtures.print_then_sleep(&["sleeping"]).await;
    let (mut lines, token) = listen(&mut req);
    let run = spawn_run(fixtures, req);
    guarded(
        "the first line of an action that prints 'sleeping' and sleeps",
        next_stdout(&mut lines),
    )
    .await;
    assert!(
        !run.is_finished(),
        "the run ended before it was canceled, while its action should sleep for an hour"
    );
    token.cancel();
    let ended = guarded("the end of a canceled run", run).await;
    expect_canceled(ended, "a run canceled while its action sleeps");
}

/// A run whose cancel token fired before it started returns [`Error::Canceled`] within
/// [`GUARD`] (its action would sleep for an hour).
pub async fn check_cancel_before_start(fixtures: &dyn RuntimeFixtures) {
    let mut req = fixtures.print_then_sleep(&["sleeping"]).await;
    let (_lines, token) = listen(&mut req);
    token.cancel();
    let ended = guarded(
        "the end of a run canceled before it started",
        spawn_run(fixtures, req),
    )
    .await;
    expect_canceled(ended, "a run canceled before it started");
}

/// The action of [`RuntimeFixtures::show_process`] reports its command line and environment:
/// neither holds the secret (nor does any line sent to the log sink, nor the run's output),
/// and the command line is not empty (it was really read).
pub async fn check_secrets_stay_out_of_argv_and_environment(fixtures: &dyn RuntimeFixtures) {
    let secret = format!("conformance-secret-{}", ExecutionId::new());
    let mut req = fixtures.show_process(&secret).await;
    let declared = req
        .action
        .parameters
        .secret_names()
        .any(|n| req.params.get(n) == Some(&Value::String(secret.clone())));
    assert!(
        declared && req.secrets.contains(&secret),
        "fixture: show_process must pass the secret as the value of a param declared secret \
         and list it in RunRequest::secrets"
    );
    let (mut lines, _token) = listen(&mut req);
    let out = match guarded(
        "the end of the show_process action",
        spawn_run(fixtures, req),
    )
    .await
    {
        Ok(Ok(out)) if out.succeeded => out,
        other => panic!("the show_process action must succeed: {other:?}"),
    };
    let views = |key: &str| -> Vec<Vec<u8>> {
        out.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(key))
            .map(|hex| {
                decode_hex(hex.trim())
                    .unwrap_or_else(|| panic!("'{key}' line is not hexadecimal: {hex:?}"))
            })
            .collect()
    };
    let (argv, environ) = (views("argv="), views("environ="));
    assert!(
        !argv.is_empty() && !environ.is_empty(),
        "the show_process action must print 'argv=' and 'environ=' lines; stdout was {:?}",
        out.stdout
    );
    for (what, views) in [("command line", &argv), ("environment", &environ)] {
        for view in views {
            assert!(
                !contains(view, secret.as_bytes()),
                "a secret param's value is in the action's {what}: {:?}",
                String::from_utf8_lossy(view).replace('\0', " ")
            );
        }
    }
    assert!(
        argv.iter().all(|a| !a.is_empty()),
        "an empty command line was reported: not /proc/self/cmdline"
    );
    let output = format!("{out:?}");
    assert!(
        !output.contains(&secret),
        "the secret, which the action never prints, is in the run's output: {output}"
    );
    while let Ok(line) = lines.try_recv() {
        assert!(
            !line.line.contains(&secret),
            "the secret, which the action never prints, was sent to the log sink: {line:?}"
        );
    }
}

/// An action prints three lines and sleeps: the three reach the log sink as standard-output
/// lines of its execution, in order, while the run is still going (it ends only when the
/// check cancels it).
pub async fn check_lines_stream_while_running(fixtures: &dyn RuntimeFixtures) {
    let want = ["first line", "second line", "third line"];
    let mut req = fixtures.print_then_sleep(&want).await;
    let id = req.execution_id;
    let (mut lines, token) = listen(&mut req);
    let run = spawn_run(fixtures, req);
    let mut got: Vec<LogLine> = Vec::new();
    while got.len() < want.len() {
        let what = format!(
            "line {:?} on the log sink while the action runs (got {:?}); a runtime that \
             sends output only when the run ends fails here",
            want[got.len()],
            got.iter().map(|l| &*l.line).collect::<Vec<_>>()
        );
        got.push(guarded(what, next_stdout(&mut lines)).await);
    }
    let texts: Vec<&str> = got.iter().map(|l| &*l.line).collect();
    assert!(
        texts == want,
        "the log sink must get the lines in order: got {texts:?}"
    );
    assert!(
        got.iter().all(|l| l.execution == id),
        "the lines must name the run's execution {id}: {got:?}"
    );
    assert!(
        !run.is_finished(),
        "the run ended although its action sleeps for an hour"
    );
    token.cancel();
    let _ = guarded("the end of a canceled run", run).await;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Gives `req` a fresh cancel token and a log sink; returns its lines and the token.
fn listen(req: &mut RunRequest) -> (broadcast::Receiver<LogLine>, CancellationToken) {
    let (tx, rx) = broadcast::channel(4_096);
    req.log = LogSink::new(req.execution_id, tx);
    req.cancel = CancellationToken::new();
    (rx, req.cancel.clone())
}

/// Runs `req` on the fixtures' runtime in a task.
fn spawn_run(fixtures: &dyn RuntimeFixtures, req: RunRequest) -> JoinHandle<Result<RunOutput>> {
    let runtime = fixtures.runtime();
    tokio::spawn(async move { runtime.run(req).await })
}

/// The next standard-output line.
async fn next_stdout(lines: &mut broadcast::Receiver<LogLine>) -> LogLine {
    loop {
        match lines.recv().await {
            Ok(line) if line.stream == LogStream::Stdout => return line,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                panic!("the check missed {n} log lines (more output than expected)")
            }
            Err(broadcast::error::RecvError::Closed) => {
                panic!("the log sink was dropped before the expected line arrived")
            }
        }
    }
}

/// `fut`, or a panic naming `what` never happened within [`GUARD`].
async fn guarded<T>(what: impl fmt::Display, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not happen within {GUARD:?} (a guard against hangs)"),
    }
}

/// Panics unless the run `what` ended with [`Error::Canceled`].
fn expect_canceled(
    ended: std::result::Result<Result<RunOutput>, tokio::task::JoinError>,
    what: &str,
) {
    match ended {
        Ok(Err(Error::Canceled(_))) => {}
        Ok(other) => panic!("{what} must return Error::Canceled, got {other:?}"),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("{what}: the run's task failed: {e}"),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
