//! Shared by the integration tests: processes found by a unique `sleep` argument, and a
//! guard that kills them when a test ends, failed or not.
#![allow(dead_code)]

use std::time::Duration;

/// Long enough for any test.
pub(crate) const SAFETY: Duration = Duration::from_secs(30);

/// Distinct `sleep` durations (seconds, ~3 years) that no other process uses: their
/// argument finds the processes in /proc.
#[derive(Clone, Debug)]
pub(crate) struct Markers(pub Vec<String>);

impl Markers {
    pub(crate) fn new(n: usize) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let r = RandomState::new().hash_one(std::time::SystemTime::now()) % 10_000_000;
        let base = 90_000_000 + r * 10;
        Markers((0..n as u64).map(|i| (base + i).to_string()).collect())
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        &self.0[i]
    }

    /// The markers that have a live (not zombie) process.
    pub(crate) fn alive(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|m| !live_pids(m).is_empty())
            .cloned()
            .collect()
    }

    /// Polls until every marker has a live process; false after [`SAFETY`].
    pub(crate) async fn wait_all_alive(&self) -> bool {
        poll(|| self.alive().len() == self.0.len()).await
    }

    /// Polls until no marker has a live process; false after [`SAFETY`].
    pub(crate) async fn wait_none_alive(&self) -> bool {
        poll(|| self.alive().is_empty()).await
    }

    /// Those of the markers' processes (zombies too) whose parent is this process: what a
    /// run left for us to reap.
    pub(crate) fn ours_unreaped(&self) -> Vec<i32> {
        let me = std::process::id() as i32;
        self.0
            .iter()
            .flat_map(|m| pids(m))
            .filter(|p| stat(*p).is_some_and(|(_, ppid)| ppid == me))
            .collect()
    }
}

/// Kills the markers' processes when dropped (a test that fails leaves nothing running).
#[derive(Debug)]
pub(crate) struct Cleanup(pub Markers);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for m in &self.0.0 {
            for p in live_pids(m) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Polls `done` every 10 ms; false after [`SAFETY`].
pub(crate) async fn poll(mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < SAFETY {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// The pids whose command line is `sleep <marker>`, zombies included.
pub(crate) fn pids(marker: &str) -> Vec<i32> {
    let want = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.ends_with(want.as_bytes()) && ends_with_sleep(&c, &want))
        })
        .collect()
}

fn ends_with_sleep(cmdline: &[u8], want: &str) -> bool {
    // argv[0] is `sleep` or a path ending in `/sleep`.
    let start = cmdline.len() - want.len();
    start == 0 || cmdline[start - 1] == b'/'
}

/// The live (not zombie) processes `sleep <marker>`.
pub(crate) fn live_pids(marker: &str) -> Vec<i32> {
    pids(marker)
        .into_iter()
        .filter(|p| stat(*p).is_some_and(|(state, _)| state != 'Z'))
        .collect()
}

/// State and parent of `pid`.
pub(crate) fn stat(pid: i32) -> Option<(char, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = s[s.rfind(')')? + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether cgroup v2 must be usable here: running as root with a cgroup2 mount (the test
/// machines). Elsewhere the cgroup tests run in whatever mode the owner chose.
pub(crate) fn cgroups_expected() -> bool {
    nix::unistd::geteuid().is_root()
        && std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|m| m.lines().any(|l| l.contains(" - cgroup2 ")))
}

/// A `/bin/sh -c script` spec with a minimal environment.
pub(crate) fn sh(script: &str) -> attune_process::ProcessSpec {
    attune_process::ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())],
        cwd: "/".into(),
        stdin: Vec::new(),
    }
}
