//! Signals to a child's process group, and a guard that kills the group if a run is dropped.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

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

    /// Kills whatever is left in the group, and disarms the drop guard.
    pub fn kill_rest(&mut self) {
        self.signal(Signal::SIGKILL);
        self.armed = false;
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
