//! A child that serves many runs (a warm interpreter): spawned in its own process group with
//! the three pipes handed to the caller, stopped as one-shot runs are, and killed with its
//! whole group when dropped.

use crate::group::Group;
use crate::spec::ProcessSpec;
use nix::sys::signal::Signal;
use std::time::Duration;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

/// A running child in its own process group. Dropping it kills the group.
#[derive(Debug)]
pub struct LongLived {
    child: Child,
    group: Option<Group>,
    /// Its stdin.
    pub stdin: ChildStdin,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    pid: u32,
}

impl LongLived {
    /// Starts `spec` (its `stdin` bytes are ignored: the caller writes to [`Self::stdin`]).
    pub fn spawn(spec: &ProcessSpec) -> std::io::Result<LongLived> {
        let mut child = crate::run::spawn(spec)?;
        let pid = child.id().unwrap_or_default();
        let pipe = |what: &str| std::io::Error::other(format!("the child's {what} is not piped"));
        let stdin = child.stdin.take().ok_or_else(|| pipe("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| pipe("stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| pipe("stderr"))?;
        Ok(LongLived {
            group: Group::new(pid),
            child,
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

    /// Stops it as a one-shot run is stopped: SIGTERM to the group, up to `grace` to exit,
    /// SIGKILL, then whatever is left of the group is killed and reaped.
    pub async fn stop(mut self, grace: Duration) {
        match &self.group {
            Some(g) => {
                g.signal(Signal::SIGTERM);
            }
            None => {
                let _ = self.child.start_kill();
            }
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            if let Some(g) = &self.group {
                g.signal(Signal::SIGKILL);
            }
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        if let Some(g) = self.group.as_mut() {
            g.kill_and_reap().await;
        }
    }
}
