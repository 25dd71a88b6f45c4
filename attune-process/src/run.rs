//! Running one child to its end: spawn in its own group, feed stdin, read both streams,
//! stop it on timeout or cancel (SIGTERM, grace, SIGKILL), kill what it left behind.

use crate::capture::{Captured, capture};
use crate::group::Group;
use crate::spec::{Limits, ProcessSpec};
use attune_core::runtime::{LogSink, LogStream};
use nix::sys::signal::Signal;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
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

/// After the child ended and its group was killed, how long to wait for the output readers
/// (a process that left the group may hold the pipes open; its output is then cut).
const READER_WAIT: Duration = Duration::from_secs(2);

/// Runs `spec` to its end within `limits`, forwarding output lines to `log`. `cancel` stops
/// it like a timeout does. On return nothing of the child's process group is alive; if the
/// returned future is dropped first, the group is killed.
pub async fn run(
    spec: ProcessSpec,
    limits: &Limits,
    cancel: &CancellationToken,
    log: &LogSink,
) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let mut child = spawn(&spec)?;
    let pid = child.id().unwrap_or_default();
    let mut group = Group::new(pid);

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
            (stop(&mut child, group.as_ref(), limits.grace).await?, Some(Stopped::Timeout(t)))
        }
        () = cancel.cancelled() => {
            (stop(&mut child, group.as_ref(), limits.grace).await?, Some(Stopped::Canceled))
        }
    };
    // Whatever the child left in its group (background jobs, a grandchild ignoring
    // SIGTERM) goes with it.
    if let Some(g) = group.as_mut() {
        g.kill_and_reap().await;
    }
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

/// Starts `spec` as the leader of a process group of its own, with the whole environment
/// given (nothing inherited), three pipes, and killed if its handle is dropped.
pub(crate) fn spawn(spec: &ProcessSpec) -> std::io::Result<Child> {
    Command::new(&spec.program)
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot start '{}': {e}", spec.program.display()),
            )
        })
}

/// SIGTERM to the group, up to `grace` for the child to exit, then SIGKILL to the group.
async fn stop(
    child: &mut Child,
    group: Option<&Group>,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    match group {
        Some(g) => {
            g.signal(Signal::SIGTERM);
        }
        None => {
            let _ = child.start_kill();
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            match group {
                Some(g) => {
                    g.signal(Signal::SIGKILL);
                }
                None => {
                    let _ = child.start_kill();
                }
            }
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
            // A process outside the group still holds the pipe: stop reading.
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
