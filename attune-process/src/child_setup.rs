//! What a child does between fork and exec: join its run's cgroup, ask for SIGKILL when its
//! parent dies. The one place of this crate with `unsafe` code (`CommandExt::pre_exec`).
#![allow(unsafe_code)]

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;

/// The child's setup, prepared before the fork: everything the hook uses is allocated and
/// opened here, in the parent.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    /// The run cgroup's `cgroup.procs`, opened for writing (close-on-exec): the child writes
    /// "0" to it, which moves itself into the cgroup before its program starts.
    pub cgroup_procs: Option<OwnedFd>,
    /// This process's pid, when the child is to get SIGKILL at its parent's death
    /// (`PR_SET_PDEATHSIG`). Checked against `getppid()` after the call, so a parent that died
    /// before it took effect is noticed: the child then fails to start.
    pub parent: Option<Pid>,
}

impl ChildSetup {
    /// Installs the setup as `cmd`'s pre-exec hook.
    pub(crate) fn install(self, cmd: &mut std::process::Command) {
        let ChildSetup {
            cgroup_procs,
            parent,
        } = self;
        let hook = move || -> std::io::Result<()> {
            if let Some(fd) = &cgroup_procs {
                nix::unistd::write(fd, b"0")?;
            }
            if let Some(parent) = parent {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::from(nix::errno::Errno::ESRCH));
                }
            }
            Ok(())
        };
        // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
        // calls are allowed. It makes three system calls (write(2) on a descriptor opened
        // before the fork, prctl(2), getppid(2)) through nix's thin wrappers, reads only
        // values moved into it before the fork, allocates nothing (an `io::Error` from an
        // errno is a plain code), takes no lock and touches no shared state.
        unsafe {
            cmd.pre_exec(hook);
        }
    }
}
