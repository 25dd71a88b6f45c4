//! The guard of an owner: a small `/bin/sh` process that outlives this one to kill what the
//! owner's runs left if this process dies without cleaning up (SIGKILL, a crash).
//!
//! Its stdin is a pipe whose writing end only this process holds (close-on-exec, so no
//! child inherits it). At end of input it kills everything of the owner still registered:
//! with cgroups the owner's cgroup (`cgroup.kill`, then rmdir); without, the process groups
//! registered over the pipe (`+pgid` / `-pgid` lines) and every process of ours that carries
//! the owner's token in its environment. A clean shutdown writes `bye` first: the guard then
//! exits having nothing to do. It leads a process group of its own and ignores INT, TERM and
//! HUP, so a terminal's ^C or hang-up that reaches the engine does not reach it.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

const SCRIPT: &str = include_str!("guard.sh");

/// What the guard kills when the owner's process dies.
#[derive(Debug)]
pub(crate) enum Watch<'a> {
    /// The owner's cgroup (this directory and everything under it).
    Cgroup(&'a std::path::Path),
    /// Registered process groups and the processes carrying `ATTUNE_RUN_TOKEN=<token>-…`.
    Groups {
        /// The owner's token.
        token: &'a str,
    },
}

/// A running guard.
#[derive(Debug)]
pub(crate) struct Guard {
    stdin: Mutex<Option<ChildStdin>>,
    child: Option<Child>,
}

impl Guard {
    /// Starts the guard of an owner.
    pub(crate) fn start(watch: Watch<'_>) -> std::io::Result<Guard> {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(SCRIPT).arg("attune-guard");
        match watch {
            Watch::Cgroup(dir) => cmd.arg("cgroup").arg(dir),
            Watch::Groups { token } => cmd.arg("group").arg(token),
        };
        let mut child = cmd
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start the guard: {e}")))?;
        let stdin = child.stdin.take();
        if let Some(s) = &stdin {
            // Never block a run on a guard that stopped reading: a line that does not fit is
            // dropped (and logged).
            let fd = s.as_fd();
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
            let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        }
        Ok(Guard {
            stdin: Mutex::new(stdin),
            child: Some(child),
        })
    }

    /// Registers a run's process group: killed if this process dies while it runs.
    pub(crate) fn register(&self, pgid: i32) {
        self.send(&format!("+{pgid}\n"));
    }

    /// Unregisters a run's process group once nothing of it is left.
    pub(crate) fn unregister(&self, pgid: i32) {
        self.send(&format!("-{pgid}\n"));
    }

    /// The guard's pid.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn send(&self, line: &str) {
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stdin.as_mut()
            && let Err(e) = s.write_all(line.as_bytes())
        {
            tracing::warn!(error = %e, "the process guard does not take registrations; it stops guarding");
            *stdin = None;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // A clean shutdown: the owner cleaned up itself.
        self.send("bye\n");
        self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = self.child.take() {
            // It exits at once; reap it without making the dropping thread wait.
            match child.try_wait() {
                Ok(Some(_)) => {}
                _ => {
                    let _ = std::thread::Builder::new()
                        .name("attune-guard-reaper".into())
                        .spawn(move || child.wait());
                }
            }
        }
    }
}
