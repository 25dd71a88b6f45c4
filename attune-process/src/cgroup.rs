//! Runs tracked by cgroup v2: one cgroup per owner ([`ProcessControl`](crate::ProcessControl))
//! under this process's own cgroup, one child cgroup per run that the child joins before it
//! executes its program, so that no descendant can leave it (short of the privilege to move
//! itself elsewhere). Stopping a run kills the whole cgroup (`cgroup.kill`, or SIGKILL to
//! each member until it is empty on kernels before 5.14).

use crate::child_setup::ChildSetup;
use crate::group;
use nix::unistd::Pid;
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup of an owner, with the runs' cgroups under it.
#[derive(Debug)]
pub(crate) struct OwnerCgroup {
    dir: PathBuf,
    /// Whether the kernel has `cgroup.kill` (5.14+).
    has_kill: bool,
}

/// The cgroup of one run (or of one long-lived child).
#[derive(Debug)]
pub(crate) struct RunCgroup {
    dir: PathBuf,
    has_kill: bool,
}

impl OwnerCgroup {
    /// Creates the owner's cgroup `attune-<pid>-<token>` under this process's cgroup v2 and
    /// checks that a child can join a cgroup under it (one short-lived `/bin/sh`). Any
    /// failure means cgroups are not usable here; the caller falls back.
    pub(crate) fn create(token: &str) -> std::io::Result<OwnerCgroup> {
        let base = own_dir()?;
        let dir = base.join(format!("attune-{}-{token}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
        let owner = OwnerCgroup {
            has_kill: dir.join("cgroup.kill").exists(),
            dir,
        };
        if let Err(e) = owner.probe() {
            let _ = std::fs::remove_dir(&owner.dir);
            return Err(e);
        }
        Ok(owner)
    }

    /// Starts `/bin/sh -c :` in a probe cgroup, the way runs join theirs.
    fn probe(&self) -> std::io::Result<()> {
        let (run, procs) = self.run_cgroup("probe")?;
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", ":"])
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        ChildSetup {
            cgroup_procs: Some(procs),
            parent: None,
        }
        .install(&mut cmd);
        let status = cmd.spawn().and_then(|mut c| c.wait());
        let removed = std::fs::remove_dir(&run.dir);
        let status = status.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("a child cannot join {}: {e}", self.dir.display()),
            )
        })?;
        removed?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "the cgroup probe child failed: {status}"
            )))
        }
    }

    /// The owner's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the cgroup `name` for a run, and opens its `cgroup.procs` for the child to
    /// join it (write "0") before it executes its program. Costs a mkdir and an open.
    pub(crate) fn run_cgroup(&self, name: &str) -> std::io::Result<(RunCgroup, OwnedFd)> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
        let procs = match File::options().write(true).open(dir.join("cgroup.procs")) {
            Ok(f) => OwnedFd::from(f),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot open {}/cgroup.procs: {e}", dir.display()),
                ));
            }
        };
        Ok((
            RunCgroup {
                dir,
                has_kill: self.has_kill,
            },
            procs,
        ))
    }

    /// Kills everything under the owner's cgroup and removes it with the runs' cgroups,
    /// waiting up to a second for the killed to be gone.
    pub(crate) fn remove(&self) {
        if !self.dir.exists() {
            return;
        }
        if self.has_kill {
            let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        }
        for _ in 0..100 {
            if let Ok(runs) = std::fs::read_dir(&self.dir) {
                for run in runs.filter_map(|e| e.ok()) {
                    if run.file_type().is_ok_and(|t| t.is_dir()) {
                        let run = RunCgroup {
                            dir: run.path(),
                            has_kill: self.has_kill,
                        };
                        if run.try_remove().is_err() {
                            run.kill();
                        }
                    }
                }
            }
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::warn!(cgroup = %self.dir.display(), "cannot remove the cgroup: processes are still in it");
    }
}

impl RunCgroup {
    /// Its directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The processes in it.
    pub(crate) fn pids(&self) -> Vec<Pid> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|s| {
                s.split_ascii_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sends `sig` to each process in it.
    pub(crate) fn signal(&self, sig: nix::sys::signal::Signal) {
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(pid, sig);
        }
    }

    /// SIGKILL to everything in it: `cgroup.kill`, else to each member until none is left.
    pub(crate) fn kill(&self) {
        if self.has_kill && std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            group::kill_each(&pids);
        }
    }

    /// Removes it if nothing lives in it any more (zombies do not count): one rmdir.
    pub(crate) fn try_remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir(&self.dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// After the run's child ended: kills what is left in the cgroup, reaps what became ours
    /// and removes the cgroup. The common case (nothing left) costs one rmdir. `false` when
    /// the cgroup could not be removed within a second or two.
    pub(crate) async fn finish(&self) -> bool {
        if self.try_remove().is_ok() {
            return true;
        }
        let pids = self.pids();
        self.kill();
        group::reap(pids).await;
        for _ in 0..100 {
            if self.try_remove().is_ok() {
                return true;
            }
            // Killed processes leave the cgroup when they have exited; one that forked
            // while the loop ran needs another kill.
            self.kill();
            let pids = self.pids();
            group::reap_now(&pids);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

/// This process's cgroup v2 directory: the `0::/path` line of /proc/self/cgroup, under the
/// cgroup2 mount of /proc/self/mountinfo whose root is a prefix of it.
fn own_dir() -> std::io::Result<PathBuf> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    own_dir_from(&cgroup, &mountinfo).ok_or_else(|| {
        std::io::Error::new(
            ErrorKind::NotFound,
            "no cgroup v2 hierarchy for this process (/proc/self/cgroup, /proc/self/mountinfo)",
        )
    })
}

/// [`own_dir`] from the two files' contents.
fn own_dir_from(cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    mountinfo.lines().find_map(|line| {
        // id parent major:minor root mountpoint options [optional...] - fstype source super
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mut fields = left.split(' ');
        let root = unescape(fields.nth(3)?);
        let mount = unescape(fields.next()?);
        let rel = if root == "/" {
            path
        } else {
            path.strip_prefix(root.as_str())
                .filter(|r| r.is_empty() || r.starts_with('/'))?
        };
        let mut dir = PathBuf::from(mount);
        let rel = rel.trim_start_matches('/');
        if !rel.is_empty() {
            dir.push(rel);
        }
        Some(dir)
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owner cgroup where cgroup v2 is usable (as root on the test machines).
    fn owner() -> Option<OwnerCgroup> {
        match OwnerCgroup::create("unit-test") {
            Ok(o) => Some(o),
            Err(e) => {
                assert!(
                    !nix::unistd::geteuid().is_root(),
                    "cgroup v2 is usable as root here: {e}"
                );
                None
            }
        }
    }

    #[test]
    fn without_cgroup_kill_each_member_is_killed_until_none_is_left() {
        let Some(owner) = owner() else { return };
        let (mut run, procs) = owner.run_cgroup("no-kill-file").unwrap();
        run.has_kill = false;
        let mut cmd = std::process::Command::new("/bin/sh");
        // A shell that forks a child of its own, both in the cgroup.
        cmd.args(["-c", "sleep 1000 & sleep 1000; wait"])
            .stdout(std::process::Stdio::null());
        ChildSetup {
            cgroup_procs: Some(procs),
            parent: None,
        }
        .install(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let mut tries = 0;
        while run.pids().len() < 3 && tries < 3000 {
            std::thread::sleep(Duration::from_millis(10));
            tries += 1;
        }
        assert_eq!(run.pids().len(), 3, "the shell and its two sleeps joined");
        run.kill();
        child.wait().unwrap();
        let mut tries = 0;
        while run.try_remove().is_err() && tries < 3000 {
            std::thread::sleep(Duration::from_millis(10));
            tries += 1;
        }
        assert!(!run.dir().exists(), "emptied and removed");
        owner.remove();
        assert!(!owner.dir().exists());
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn the_cgroup2_mount_and_own_path_make_the_directory() {
        assert_eq!(
            own_dir_from("4:memory:/x\n0::/\n", HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            own_dir_from("0::/user.slice/app.scope\n", HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/app.scope"))
        );
        let pure = "29 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            own_dir_from("0::/system.slice/a.service\n", pure),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/a.service"))
        );
    }

    #[test]
    fn a_mount_of_a_subtree_is_used_only_for_paths_under_it() {
        let sub = "50 1 0:26 /docker/abc /mnt/cg\\040x rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            own_dir_from("0::/docker/abc/inner\n", sub),
            Some(PathBuf::from("/mnt/cg x/inner"))
        );
        assert_eq!(own_dir_from("0::/docker/abcd\n", sub), None);
        assert_eq!(own_dir_from("0::/other\n", sub), None);
    }

    #[test]
    fn no_v2_line_or_mount_means_none() {
        assert_eq!(own_dir_from("4:memory:/x\n", HYBRID), None);
        let v1only = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(own_dir_from("0::/\n", v1only), None);
    }
}
