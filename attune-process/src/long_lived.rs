//! A child that serves many runs (a warm interpreter): spawned and tracked like a one-shot
//! run (own process group, its own cgroup or marker, parent-death signal), with the three
//! pipes handed to the caller; stopped as one-shot runs are, and killed with everything it
//! started when dropped.

use crate::control::Control;
use crate::spec::ProcessSpec;
use crate::tracked::Tracked;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

/// A running child in its own process group. Dropping it kills the child and everything it
/// started.
#[derive(Debug)]
pub struct LongLived {
    child: Child,
    tracked: Tracked,
    /// Its stdin.
    pub stdin: ChildStdin,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    pid: u32,
}

impl LongLived {
    /// Starts `spec` (its `stdin` bytes are ignored: the caller writes to [`Self::stdin`])
    /// with the process-wide default owner; see
    /// [`ProcessControl::spawn`](crate::ProcessControl::spawn). Must be called within a
    /// Tokio runtime.
    pub fn spawn(spec: &ProcessSpec) -> std::io::Result<LongLived> {
        crate::ProcessControl::shared().spawn(spec)
    }

    /// [`Self::spawn`] with the owner `control`.
    pub(crate) fn spawn_with(control: &Arc<Control>, spec: &ProcessSpec) -> std::io::Result<Self> {
        let (mut child, tracked) = control.spawn(spec)?;
        let pid = child.id().unwrap_or_default();
        let pipe = |what: &str| std::io::Error::other(format!("the child's {what} is not piped"));
        let stdin = child.stdin.take().ok_or_else(|| pipe("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| pipe("stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| pipe("stderr"))?;
        Ok(LongLived {
            child,
            tracked,
            stdin,
            stdout: Some(stdout),
            stderr: Some(stderr),
            pid,
        })
    }

    /// Its stdout, to be read by the caller (`None` once taken).
    pub fn stdout_take(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Its stderr, to be read by the caller (`None` once taken).
    pub fn stderr_take(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// Its pid (the group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it has exited (reaping it if so); its exit code or minus the signal.
    pub fn exited(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.code().unwrap_or_else(|| -s.signal().unwrap_or(0))),
            _ => None,
        }
    }

    /// Waits for it to exit (reaping it): its exit code, or minus the signal that killed it
    /// (-1 when it cannot be waited for).
    pub async fn wait(&mut self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match self.child.wait().await {
            Ok(s) => s.code().unwrap_or_else(|| -s.signal().unwrap_or(1)),
            Err(_) => -1,
        }
    }

    /// Stops it as a one-shot run is stopped: SIGTERM to its group (and, with cgroups, to
    /// everything it started), up to `grace` to exit, SIGKILL, then whatever it left is
    /// killed and reaped. Returns its exit code, or minus the signal that ended it (-1 when
    /// it cannot be told).
    pub async fn stop(self, grace: Duration) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let LongLived {
            mut child, tracked, ..
        } = self;
        let status = crate::run::stop(&mut child, &tracked, grace).await;
        tracked.finish().await;
        match status {
            Ok(s) => s.code().unwrap_or_else(|| -s.signal().unwrap_or(1)),
            Err(_) => -1,
        }
    }
}
