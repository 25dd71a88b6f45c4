//! The owner of process control: how runs are tracked (cgroup v2 or process group plus
//! marker), the thread that forks, the guard, and the one process-wide default owner.

use crate::cgroup::{OwnerCgroup, RunCgroup};
use crate::child_setup::ChildSetup;
use crate::group::{self, Group};
use crate::guard::{Guard, Watch};
use crate::long_lived::LongLived;
use crate::procfs;
use crate::run::Outcome;
use crate::spawner::Spawner;
use crate::spec::{Limits, ProcessSpec};
use crate::tracked::{How, Tracked};
use attune_core::runtime::LogSink;
use nix::unistd::Pid;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// The environment variable that chooses the tracking of [`ProcessControl::new`]: `1` for
/// cgroup v2 where usable, `0` (or unset) for process groups and markers. Process groups are
/// the default because a child that joins its cgroup before exec needs a pre-exec hook, and
/// with one the standard library forks the whole process instead of using `posix_spawn`:
/// shell actions ran 3 to 4 times slower (README, "Cost per run").
pub const CGROUPS_ENV: &str = "ATTUNE_PROCESS_CGROUPS";

/// The environment variable that marks every process of a run in [`Tracking::ProcessGroup`]
/// mode: `<owner token>-<run number>`, inherited by the run's descendants.
pub const RUN_TOKEN_ENV: &str = "ATTUNE_RUN_TOKEN";

/// How an owner finds every descendant of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tracking {
    /// Each run in a cgroup v2 of its own, joined by the child before its program starts:
    /// nothing it starts can leave it, however it forks or detaches.
    Cgroup,
    /// The default, and what is used where cgroups are not usable: the run's process group,
    /// plus a marker in the environment (`ATTUNE_RUN_TOKEN`) that descendants inherit and
    /// that the owner looks for in /proc when one may have left the group. A descendant that
    /// both leaves the group and clears its environment escapes; children get no
    /// parent-death signal (they are started by `posix_spawn`, without a pre-exec hook).
    ProcessGroup,
}

/// The owner of the processes of the runs it starts: runs one-shot children
/// ([`run`](Self::run)) and long-lived ones ([`spawn`](Self::spawn)), tracks every descendant
/// of each so that timeout, cancel and the end of a run kill them all, and keeps a guard
/// process that kills what is left if this process dies. Cheap to clone (shared); the
/// process runtimes use [`ProcessControl::shared`] unless given one.
#[derive(Clone, Debug)]
pub struct ProcessControl {
    inner: Arc<Control>,
}

impl Default for ProcessControl {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessControl {
    /// An owner whose tracking follows [`CGROUPS_ENV`] (read now, once): with `1`, cgroup v2
    /// where it is available and writable, else (and by default) process groups and markers.
    /// Creating one with cgroups costs a cgroup directory and one short-lived probe child.
    pub fn new() -> Self {
        Self::with_cgroups(cgroups_from_env())
    }

    /// An owner that uses cgroup v2 when `cgroups` is true and cgroups are usable here, and
    /// process groups and markers otherwise.
    pub fn with_cgroups(cgroups: bool) -> Self {
        let token = random_token();
        let cgroup = if cgroups {
            match OwnerCgroup::create(&token) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::info!(error = %e, "cgroup v2 not usable: runs are tracked by process group and marker");
                    None
                }
            }
        } else {
            None
        };
        ProcessControl {
            inner: Arc::new(Control {
                token,
                cgroup,
                next_run: AtomicU64::new(0),
                spawner: Spawner::default(),
                guard: OnceLock::new(),
                leftovers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The process-wide default owner, created at first use with [`ProcessControl::new`].
    ///
    /// This is the crate's one piece of global state, kept because what it owns is
    /// process-wide by nature (like the subreaper flag): one guard process per process
    /// suffices, and the free functions [`run`](crate::run) and
    /// [`LongLived::spawn`] need an owner without one being passed. It is never dropped: at
    /// the process's exit its guard finds what is left and removes its cgroup.
    pub fn shared() -> ProcessControl {
        static SHARED: OnceLock<ProcessControl> = OnceLock::new();
        SHARED.get_or_init(ProcessControl::new).clone()
    }

    /// How this owner tracks descendants.
    pub fn tracking(&self) -> Tracking {
        match self.inner.cgroup {
            Some(_) => Tracking::Cgroup,
            None => Tracking::ProcessGroup,
        }
    }

    /// The owner's cgroup directory (with cgroups).
    pub fn cgroup_dir(&self) -> Option<&std::path::Path> {
        self.inner.cgroup.as_ref().map(OwnerCgroup::dir)
    }

    /// The pid of the owner's guard process, once started (at the first spawn).
    pub fn guard_pid(&self) -> Option<u32> {
        self.inner.guard.get()?.as_ref()?.pid()
    }

    /// Runs `spec` to its end within `limits`, forwarding output lines to `log`; `cancel`
    /// stops it like a timeout does (SIGTERM, `limits.grace`, SIGKILL). On return nothing
    /// the run started is alive: not its process group, nor (with cgroups) anything that
    /// left it, nor (without) anything still carrying the run's marker. If the returned
    /// future is dropped first, everything of the run is killed.
    pub async fn run(
        &self,
        spec: ProcessSpec,
        limits: &Limits,
        cancel: &CancellationToken,
        log: &LogSink,
    ) -> std::io::Result<Outcome> {
        crate::run::run_with(&self.inner, spec, limits, cancel, log).await
    }

    /// Starts `spec` as a long-lived child (its `stdin` bytes are ignored), tracked like a
    /// run until it is stopped or dropped. Must be called within a Tokio runtime (the child
    /// is registered with it); elsewhere it fails with an error saying so.
    pub fn spawn(&self, spec: &ProcessSpec) -> std::io::Result<LongLived> {
        LongLived::spawn_with(&self.inner, spec)
    }
}

/// What a [`ProcessControl`] shares with its runs.
#[derive(Debug)]
pub(crate) struct Control {
    /// Random, names the owner's cgroup and marks its runs.
    token: String,
    cgroup: Option<OwnerCgroup>,
    next_run: AtomicU64,
    spawner: Spawner,
    guard: OnceLock<Option<Guard>>,
    /// Run cgroups that could not be removed yet.
    leftovers: Mutex<Vec<RunCgroup>>,
}

impl Control {
    /// The guard, started at the first call.
    fn guard(&self) -> Option<&Guard> {
        self.guard
            .get_or_init(|| {
                let watch = match &self.cgroup {
                    Some(c) => Watch::Cgroup(c.dir()),
                    None => Watch::Groups { token: &self.token },
                };
                Guard::start(watch)
                    .inspect_err(|e| tracing::warn!(error = %e, "no process guard: children of ours may outlive a crash"))
                    .ok()
            })
            .as_ref()
    }

    /// Spawns `spec` (in its own process group, with the whole environment given, three
    /// pipes, killed if its handle is dropped) and starts tracking it.
    pub(crate) fn spawn(self: &Arc<Self>, spec: &ProcessSpec) -> std::io::Result<(Child, Tracked)> {
        let n = self.next_run.fetch_add(1, Ordering::Relaxed);
        let guard = self.guard();
        let (how, procs) = match &self.cgroup {
            Some(owner) => {
                let (run, procs) = owner.run_cgroup(&format!("run-{n}"))?;
                (How::Cgroup(run), Some(procs))
            }
            None => {
                let value = format!("{}-{n}", self.token);
                (
                    How::Marker(format!("{RUN_TOKEN_ENV}={value}").into_bytes()),
                    None,
                )
            }
        };
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)));
        if self.cgroup.is_none() {
            cmd.env(RUN_TOKEN_ENV, format!("{}-{n}", self.token));
        }
        cmd.current_dir(&spec.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // With a cgroup, the child joins it between fork and exec, and gets the parent-death
        // signal (from a forking thread of the owner's: see spawner.rs). A pre-exec hook makes
        // the standard library fork instead of posix_spawn (vfork), whose cost grows with
        // this process's memory; without a cgroup the child needs no hook, and is spawned on
        // the caller's thread by posix_spawn (what it leaves is found by its marker, and the
        // guard kills it if this process dies).
        let spawned = match procs {
            Some(procs) => {
                ChildSetup {
                    cgroup_procs: Some(procs),
                    parent: Some(Pid::this()),
                }
                .install(cmd.as_std_mut());
                self.spawner.spawn(cmd)
            }
            None => cmd.spawn(),
        };
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                if let How::Cgroup(run) = &how {
                    let _ = run.try_remove();
                }
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot start '{}': {e}", spec.program.display()),
                ));
            }
        };
        let group = Group::new(child.id().unwrap_or_default());
        if let (None, Some(guard), Some(g)) = (&self.cgroup, guard, &group) {
            guard.register(g.pgid().as_raw());
        }
        Ok((child, Tracked::new(self.clone(), group, how)))
    }

    /// A run's process group has nothing left: the guard forgets it.
    pub(crate) fn forget_group(&self, pgid: Pid) {
        if self.cgroup.is_none()
            && let Some(Some(guard)) = self.guard.get()
        {
            guard.unregister(pgid.as_raw());
        }
    }

    /// A run cgroup that could not be removed: retried after later runs and at drop.
    pub(crate) fn leave(&self, run: RunCgroup) {
        tracing::warn!(cgroup = %run.dir().display(), "a run's cgroup is still populated after its kill; retrying later");
        self.leftovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(run);
    }

    /// Retries removing left-over run cgroups (nothing to do in the common case).
    pub(crate) fn retry_leftovers(&self) {
        let mut left = self.leftovers.lock().unwrap_or_else(|p| p.into_inner());
        left.retain(|run| {
            if run.try_remove().is_ok() {
                return false;
            }
            run.kill();
            group::reap_now(&run.pids());
            true
        });
    }

    /// Without cgroups, after a run's group was killed: kills and reaps the descendants that
    /// left the group and still carry the run's marker `entry`. A full /proc scan is made
    /// only when one may exist: when this process is the subreaper (see
    /// [`reap_orphans`](crate::reap_orphans)), every such descendant was handed to us when its
    /// parent died, so looking at our own children settles it; otherwise the scan is made.
    pub(crate) async fn sweep(&self, entry: &[u8]) {
        let needed = !group::is_subreaper()
            || procfs::own_children()
                .is_none_or(|children| children.iter().any(|c| procfs::has_entry(*c, entry)));
        if !needed {
            return;
        }
        let uid = nix::unistd::geteuid().as_raw();
        let mut killed: Vec<Pid> = Vec::new();
        for _ in 0..50 {
            let found = procfs::with_entry(uid, entry);
            if found.is_empty() {
                break;
            }
            group::kill_each(&found);
            for p in found {
                if !killed.contains(&p) {
                    killed.push(p);
                }
            }
            group::reap_now(&killed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        group::reap(killed).await;
    }

    /// [`Self::sweep`] without waiting (a run dropped outside a Tokio runtime).
    pub(crate) fn sweep_now(&self, entry: &[u8]) {
        let uid = nix::unistd::geteuid().as_raw();
        let found = procfs::with_entry(uid, entry);
        group::kill_each(&found);
        group::reap_now(&found);
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // Runs hold the owner, so none is running: remove what is left, then (dropping the
        // guard) tell the guard all is clean.
        let left = std::mem::take(&mut *self.leftovers.lock().unwrap_or_else(|p| p.into_inner()));
        for run in &left {
            run.kill();
        }
        if let Some(owner) = &self.cgroup {
            owner.remove();
        }
    }
}

/// [`CGROUPS_ENV`]: `1`, `auto` and friends ask for cgroups; unset, `0` and friends do not;
/// anything else is reported and treated as unset.
fn cgroups_from_env() -> bool {
    parse_cgroups(std::env::var_os(CGROUPS_ENV).as_deref())
}

fn parse_cgroups(value: Option<&std::ffi::OsStr>) -> bool {
    let Some(value) = value else {
        return false;
    };
    match value.to_str().map(str::trim) {
        Some("1" | "auto" | "yes" | "true" | "on") => true,
        Some("" | "0" | "no" | "false" | "off") => false,
        _ => {
            tracing::warn!(
                value = ?value,
                "{CGROUPS_ENV} is neither 0 nor 1: tracking by process group and marker"
            );
            false
        }
    }
}

/// 64 random bits in hex (std's randomly keyed hasher; no security rests on it).
fn random_token() -> String {
    use std::hash::{BuildHasher, RandomState};
    let seed = (std::process::id(), std::time::SystemTime::now());
    format!("{:016x}", RandomState::new().hash_one(seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_environment_variable_chooses_cgroups_or_not() {
        assert!(!parse_cgroups(None));
        assert!(parse_cgroups(Some(OsStr::new("1"))));
        assert!(parse_cgroups(Some(OsStr::new(" auto "))));
        assert!(!parse_cgroups(Some(OsStr::new("0"))));
        assert!(!parse_cgroups(Some(OsStr::new("off"))));
        assert!(
            !parse_cgroups(Some(OsStr::new("maybe"))),
            "unknown: the default"
        );
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 16);
    }
}
