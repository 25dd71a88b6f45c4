//! Signals to a child's process group, and a guard that kills the group if a run is dropped.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::time::Duration;

/// Makes this process the "child subreaper" of its descendants (Linux): a process whose
/// parent dies is handed to us instead of to PID 1, so that [`run`](crate::run) can reap
/// what it killed. Without it, on machines whose PID 1 does not reap (containers), killed
/// grandchildren stay zombies. Process-wide and idempotent; the process runtimes call it
/// when they are created (unless configured not to).
pub fn reap_orphans() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

/// The pids of the processes of group `pgid`, from /proc (empty where there is none).
fn members(pgid: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // Fields after the command name (which may hold spaces and parens):
                    // state, ppid, pgrp.
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split(' ').nth(2)?.parse::<i32>().ok()
                })
                == Some(pgid.as_raw())
        })
        .map(Pid::from_raw)
        .collect()
}

/// The process group of a child that leads it (its pid is the group id).
#[derive(Debug)]
pub(crate) struct Group {
    pgid: Pid,
    /// Whether the group may still have members that must be killed on drop.
    armed: bool,
}

impl Group {
    pub fn new(pid: u32) -> Option<Self> {
        let pgid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
        Some(Group {
            pgid: Pid::from_raw(pgid),
            armed: true,
        })
    }

    /// Sends `sig` to every process of the group; `false` when the group is empty.
    pub fn signal(&self, sig: Signal) -> bool {
        match killpg(self.pgid, sig) {
            Ok(()) => true,
            Err(Errno::ESRCH) => false,
            Err(e) => {
                tracing::warn!(pgid = %self.pgid, signal = ?sig, error = %e, "signal to process group failed");
                false
            }
        }
    }

    /// Kills whatever is left in the group and reaps what became ours (see
    /// [`reap_orphans`]), waiting up to a second; disarms the drop guard.
    pub async fn kill_and_reap(&mut self) {
        // Signal 0 tells whether anyone is left: the common case (nothing) costs one call.
        if killpg(self.pgid, None) == Err(Errno::ESRCH) {
            self.armed = false;
            return;
        }
        let left: Vec<Pid> = members(self.pgid)
            .into_iter()
            .filter(|p| *p != self.pgid)
            .collect();
        self.signal(Signal::SIGKILL);
        self.armed = false;
        let mut pending = left;
        for _ in 0..100 {
            pending.retain(|pid| match waitpid(*pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => true,
                Ok(_) => false,
                // Not (yet) our child: its parent has not died yet, or we are not its
                // subreaper. Retry a while.
                Err(Errno::ECHILD) => std::path::Path::new(&format!("/proc/{pid}")).exists(),
                Err(_) => false,
            });
            if pending.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            // The run was dropped (the engine gave up waiting): nothing may outlive it.
            self.signal(Signal::SIGKILL);
        }
    }
}
