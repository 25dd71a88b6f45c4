//! Everything one run (or long-lived child) may leave behind: its process group, and its
//! cgroup or marker. Stopping signals all of it; the end of the run kills and reaps what is
//! left; dropping it unfinished kills everything at once and cleans up in the background.

use crate::cgroup::RunCgroup;
use crate::control::Control;
use crate::group::Group;
use nix::sys::signal::Signal;
use std::sync::Arc;

/// How the run's descendants are found besides its process group.
#[derive(Debug)]
pub(crate) enum How {
    /// Its cgroup.
    Cgroup(RunCgroup),
    /// The environment entry `ATTUNE_RUN_TOKEN=<token>` its processes carry.
    Marker(Vec<u8>),
}

#[derive(Debug)]
struct State {
    control: Arc<Control>,
    group: Option<Group>,
    how: How,
}

/// A run's descendants, until [`Tracked::finish`]; killed if dropped before.
#[derive(Debug)]
pub(crate) struct Tracked {
    state: Option<State>,
}

impl Tracked {
    pub(crate) fn new(control: Arc<Control>, group: Option<Group>, how: How) -> Self {
        Tracked {
            state: Some(State {
                control,
                group,
                how,
            }),
        }
    }

    /// SIGTERM to the run's group and, with a cgroup, to every process in it (those that
    /// left the group too). `false` when there is no group (the caller signals the child).
    pub(crate) fn terminate(&self) -> bool {
        let Some(st) = &self.state else { return false };
        let Some(g) = &st.group else { return false };
        g.signal(Signal::SIGTERM);
        if let How::Cgroup(run) = &st.how {
            run.signal(Signal::SIGTERM);
        }
        true
    }

    /// SIGKILL to the run's group and, with a cgroup, to everything in it. (Without, what
    /// left the group is found by [`Self::finish`].)
    pub(crate) fn kill(&self) {
        if let Some(st) = &self.state {
            st.kill();
        }
    }

    /// After the run's child ended (and was reaped): kills whatever of the run is left, reaps
    /// what became ours, removes the run's cgroup. Nothing of the run is alive afterwards.
    pub(crate) async fn finish(mut self) {
        if let Some(st) = self.state.take() {
            st.finish().await;
        }
    }
}

impl State {
    fn kill(&self) {
        if let Some(g) = &self.group {
            g.signal(Signal::SIGKILL);
        }
        if let How::Cgroup(run) = &self.how {
            run.kill();
        }
    }

    async fn finish(self) {
        if let Some(g) = &self.group {
            g.kill_and_reap().await;
        }
        match self.how {
            How::Cgroup(run) => {
                if !run.finish().await {
                    self.control.leave(run);
                }
            }
            How::Marker(entry) => self.control.sweep(&entry).await,
        }
        if let Some(g) = &self.group {
            self.control.forget_group(g.pgid());
        }
        self.control.retry_leftovers();
    }

    /// [`Self::finish`] without waiting, outside a Tokio runtime: what cannot be removed yet
    /// is left to the owner.
    fn finish_now(self) {
        match self.how {
            How::Cgroup(run) => {
                if run.try_remove().is_err() {
                    self.control.leave(run);
                }
            }
            How::Marker(entry) => self.control.sweep_now(&entry),
        }
        if let Some(g) = &self.group {
            self.control.forget_group(g.pgid());
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let Some(st) = self.state.take() else { return };
        // The run was dropped (the engine gave up waiting): nothing of it may outlive it.
        st.kill();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(st.finish());
            }
            Err(_) => st.finish_now(),
        }
    }
}
