//! Signals to a child's process group, killing what is left of it, and reaping what became
//! ours.

use crate::procfs;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
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

/// Whether this process is the child subreaper of its descendants (see [`reap_orphans`]).
pub(crate) fn is_subreaper() -> bool {
    nix::sys::prctl::get_child_subreaper().unwrap_or(false)
}

/// The process group of a child that leads it (its pid is the group id).
#[derive(Debug)]
pub(crate) struct Group {
    pgid: Pid,
}

impl Group {
    /// The group led by `pid`; `None` for a pid that cannot lead one (0, 1, out of range).
    pub(crate) fn new(pid: u32) -> Option<Self> {
        let pgid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
        Some(Group {
            pgid: Pid::from_raw(pgid),
        })
    }

    /// The group id.
    pub(crate) fn pgid(&self) -> Pid {
        self.pgid
    }

    /// Sends `sig` to every process of the group; `false` when the group is empty.
    pub(crate) fn signal(&self, sig: Signal) -> bool {
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
    /// [`reap_orphans`]), waiting up to a second.
    pub(crate) async fn kill_and_reap(&self) {
        // Signal 0 tells whether anyone is left: the common case (nothing) costs one call.
        if killpg(self.pgid, None) == Err(Errno::ESRCH) {
            return;
        }
        let left: Vec<Pid> = procfs::group_members(self.pgid)
            .into_iter()
            .filter(|p| *p != self.pgid)
            .collect();
        self.signal(Signal::SIGKILL);
        reap(left).await;
    }
}

/// Sends SIGKILL to each of `pids` (ignoring those already gone).
pub(crate) fn kill_each(pids: &[Pid]) {
    for pid in pids {
        let _ = kill(*pid, Signal::SIGKILL);
    }
}

/// Waits up to a second for the killed `pids` to be gone, reaping those that are (or
/// become) our children. The child a run spawned itself is never among them: its handle
/// reaps it.
pub(crate) async fn reap(mut pending: Vec<Pid>) {
    for _ in 0..100 {
        pending.retain(|pid| match waitpid(*pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => true,
            Ok(_) => false,
            // Not (yet) our child: its parent has not died yet, or we are not its
            // subreaper. Retry a while.
            Err(Errno::ECHILD) => procfs::exists(*pid),
            Err(_) => false,
        });
        if pending.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`reap`] without waiting: reaps those of `pids` that are already our zombies.
pub(crate) fn reap_now(pids: &[Pid]) {
    for pid in pids {
        let _ = waitpid(*pid, Some(WaitPidFlag::WNOHANG));
    }
}
