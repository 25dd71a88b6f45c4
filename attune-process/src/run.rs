//! Running one child to its end: spawn it tracked, feed stdin, read both streams, stop it on
//! timeout or cancel (SIGTERM, grace, SIGKILL), kill everything it left behind.

use crate::capture::{Captured, capture};
use crate::control::Control;
use crate::spec::{Limits, ProcessSpec};
use crate::tracked::Tracked;
use attune_core::runtime::{LogSink, LogStream};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

/// How the child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
}

impl Ended {
    /// The exit code, or minus the signal number (StackStorm's convention).
    pub fn return_code(self) -> i32 {
        match self {
            Ended::Exited(c) => c,
            Ended::Signaled(s) => -s,
        }
    }
}

/// Why the child was stopped, when it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Its timeout passed.
    Timeout(Duration),
    /// The cancel token fired.
    Canceled,
}

/// The end of one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How the child ended.
    pub ended: Ended,
    /// Set when it was stopped by timeout or cancel.
    pub stopped: Option<Stopped>,
    /// Its stdout.
    pub stdout: Captured,
    /// Its stderr.
    pub stderr: Captured,
    /// Its pid (the group id).
    pub pid: u32,
    /// Wall time from spawn to end.
    pub elapsed: Duration,
}

/// After the child ended and everything of the run was killed, how long to wait for the
/// output readers (a process that escaped the tracking may hold the pipes open; its output
/// is then cut).
const READER_WAIT: Duration = Duration::from_secs(2);

/// Runs `spec` to its end within `limits`, forwarding output lines to `log`, with the
/// process-wide default owner ([`ProcessControl::shared`](crate::ProcessControl::shared));
/// see [`ProcessControl::run`](crate::ProcessControl::run). `cancel` stops it like a timeout
/// does. On return nothing the run started is alive; if the returned future is dropped
/// first, all of it is killed.
pub async fn run(
    spec: ProcessSpec,
    limits: &Limits,
    cancel: &CancellationToken,
    log: &LogSink,
) -> std::io::Result<Outcome> {
    crate::ProcessControl::shared()
        .run(spec, limits, cancel, log)
        .await
}

/// [`run`] with the owner `control`.
pub(crate) async fn run_with(
    control: &Arc<Control>,
    spec: ProcessSpec,
    limits: &Limits,
    cancel: &CancellationToken,
    log: &LogSink,
) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let (mut child, tracked) = control.spawn(&spec)?;
    let pid = child.id().unwrap_or_default();

    // stdin is written by its own task: a child that does not read it must not block us.
    let stdin_task = child.stdin.take().map(|mut stdin| {
        let data = spec.stdin;
        tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
            let _ = stdin.shutdown().await;
        })
    });
    let out_task = child
        .stdout
        .take()
        .map(|s| tokio::spawn(capture(s, LogStream::Stdout, log.clone(), limits.streams)));
    let err_task = child
        .stderr
        .take()
        .map(|s| tokio::spawn(capture(s, LogStream::Stderr, log.clone(), limits.streams)));

    let deadline = async {
        match limits.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let (status, stopped) = tokio::select! {
        s = child.wait() => (s?, None),
        () = deadline => {
            let t = limits.timeout.unwrap_or_default();
            (stop(&mut child, &tracked, limits.grace).await?, Some(Stopped::Timeout(t)))
        }
        () = cancel.cancelled() => {
            (stop(&mut child, &tracked, limits.grace).await?, Some(Stopped::Canceled))
        }
    };
    // Whatever the child left (background jobs, a grandchild ignoring SIGTERM, daemons that
    // left the group) goes with it.
    tracked.finish().await;
    if let Some(t) = stdin_task {
        t.abort();
    }
    let stdout = join_reader(out_task).await;
    let stderr = join_reader(err_task).await;
    Ok(Outcome {
        ended: ended(status),
        stopped,
        stdout,
        stderr,
        pid,
        elapsed: started.elapsed(),
    })
}

/// SIGTERM to the run, up to `grace` for the child to exit, then SIGKILL to the run.
pub(crate) async fn stop(
    child: &mut Child,
    tracked: &Tracked,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    if !tracked.terminate() {
        let _ = child.start_kill();
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracked.kill();
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

async fn join_reader(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    let Some(mut task) = task else {
        return Captured::default();
    };
    match tokio::time::timeout(READER_WAIT, &mut task).await {
        Ok(Ok(c)) => c,
        Ok(Err(_)) => Captured::default(),
        Err(_) => {
            // A process that escaped the tracking still holds the pipe: stop reading.
            task.abort();
            tracing::warn!("child output still open after the child ended; output cut");
            Captured::default()
        }
    }
}

fn ended(status: ExitStatus) -> Ended {
    match (status.code(), status.signal()) {
        (Some(c), _) => Ended::Exited(c),
        (None, Some(s)) => Ended::Signaled(s),
        (None, None) => Ended::Exited(-1),
    }
}
