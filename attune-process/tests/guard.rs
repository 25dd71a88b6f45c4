//! If the process that owns runs is SIGKILLed, its children do not live on: the leaders get
//! their parent-death signal, and the guard kills what they started (same group, `setsid`,
//! double fork), with cgroups and without.
//!
//! The host is this test binary run again as the ignored test `host` (environment
//! `ATTUNE_TEST_HOST_MARKERS`), which the tests start, watch, and SIGKILL.

mod common;

use attune_core::model::ExecutionId;
use attune_core::runtime::LogSink;
use attune_process::{Limits, ProcessControl, Tracking};
use common::{Cleanup, Markers, SAFETY, sh};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const HOST_ENV: &str = "ATTUNE_TEST_HOST_MARKERS";

/// What the host reported.
#[derive(Debug, Default)]
struct Host {
    guard: Option<i32>,
    cgroup: Option<String>,
    thread_check: Option<String>,
}

/// The host process, SIGKILLed and reaped when dropped (a failed test leaves it not running).
struct HostProcess(Child);

impl HostProcess {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the host with `markers` (5: leader, same-group job, setsid, setsid in a double
/// fork, long-lived leader) and waits for its report line.
fn start_host(markers: &Markers, cgroups: bool) -> (HostProcess, Host) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "host",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOST_ENV, markers.0.join(" "))
        .env(attune_process::CGROUPS_ENV, if cgroups { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut host = Host::default();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in out.by_ref() {
        let line = line.unwrap();
        // The test harness may print on the same line before the host's first words.
        const TAG: &str = "attune-host: ";
        let Some(said) = line.find(TAG).map(|i| &line[i + TAG.len()..]) else {
            continue;
        };
        if let Some(g) = said.strip_prefix("guard ") {
            host.guard = g.parse().ok();
        } else if let Some(c) = said.strip_prefix("cgroup ") {
            host.cgroup = Some(c.to_string()).filter(|c| c != "none");
        } else if let Some(t) = said.strip_prefix("thread ") {
            host.thread_check = Some(t.to_string());
        } else if said == "ready" {
            break;
        }
    }
    // Whatever else it prints is drained.
    std::thread::spawn(move || out.for_each(drop));
    (HostProcess(child), host)
}

/// Removes what the host's owner left in its cgroup when a test fails (or kills the guard).
struct CgroupCleanup(Option<String>);

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        let Some(dir) = &self.0 else { return };
        let dir = std::path::Path::new(dir);
        let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        for _ in 0..100 {
            if let Ok(runs) = std::fs::read_dir(dir) {
                for r in runs.filter_map(|e| e.ok()) {
                    if r.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = std::fs::remove_dir(r.path());
                    }
                }
            }
            if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

async fn sigkilled_host_leaves_nothing(cgroups: bool) {
    let m = Markers::new(5);
    let _cleanup = Cleanup(m.clone());
    let (mut host_process, host) = start_host(&m, cgroups);
    let _cg = CgroupCleanup(host.cgroup.clone());
    assert!(host.guard.is_some(), "the host has a guard: {host:?}");
    if cgroups && common::cgroups_expected() {
        assert!(host.cgroup.is_some(), "the host uses cgroups: {host:?}");
    }
    assert!(
        m.wait_all_alive().await,
        "the host's processes started: {:?}",
        m.alive()
    );
    host_process.kill();
    assert!(m.wait_none_alive().await, "survivors: {:?}", m.alive());
    if let Some(dir) = &host.cgroup {
        let dir = std::path::PathBuf::from(dir);
        assert!(
            common::poll(|| !dir.exists()).await,
            "the guard removes the owner's cgroup {}",
            dir.display()
        );
    }
}

#[tokio::test]
async fn with_cgroups_a_sigkilled_host_leaves_nothing() {
    sigkilled_host_leaves_nothing(true).await;
}

#[tokio::test]
async fn without_cgroups_a_sigkilled_host_leaves_nothing() {
    sigkilled_host_leaves_nothing(false).await;
}

/// With the guard gone too (killed first), the leaders still die: their parent-death
/// signal. A long-lived child spawned from a blocking-pool thread that has ended since is
/// still alive before that (children are forked by the owner's own thread).
async fn leaders_die_with_their_parent(cgroups: bool) {
    assert!(
        cgroups,
        "the parent-death signal comes with cgroup tracking"
    );
    let m = Markers::new(5);
    let _cleanup = Cleanup(m.clone());
    let (mut host_process, host) = start_host(&m, cgroups);
    let _cg = CgroupCleanup(host.cgroup.clone());
    assert_eq!(
        host.thread_check.as_deref(),
        Some("child alive after its spawning thread ended"),
        "{host:?}"
    );
    let guard = host.guard.expect("the host has a guard");
    assert!(m.wait_all_alive().await, "the host's processes started");
    kill(Pid::from_raw(guard), Signal::SIGKILL).unwrap();
    assert!(
        common::poll(|| common::stat(guard).is_none_or(|(s, _)| s == 'Z')).await,
        "the guard died"
    );
    host_process.kill();
    let leaders = Markers(vec![m.get(0).to_string(), m.get(4).to_string()]);
    assert!(
        leaders.wait_none_alive().await,
        "leaders alive after their parent's death: {:?}",
        leaders.alive()
    );
}

#[tokio::test]
async fn with_cgroups_leaders_die_with_their_parent() {
    leaders_die_with_their_parent(true).await;
}

// Without cgroups children are started by posix_spawn, without the pre-exec hook that sets
// the parent-death signal: with the guard killed too, what they started lives on (the limit
// the crate's README states).

/// The host (run by the tests above as a child process, never on its own): spawns a
/// long-lived child from a blocking-pool thread and waits for that thread to end, starts a
/// run whose children leave its group, reports, and waits to be killed.
#[test]
#[ignore = "a helper the guard tests run as a child process"]
fn host() {
    let Ok(markers) = std::env::var(HOST_ENV) else {
        eprintln!("host: run by the guard tests only");
        return;
    };
    let m: Vec<String> = markers.split(' ').map(str::to_string).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_millis(20))
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let control = ProcessControl::new();
        // A long-lived child spawned from a blocking-pool thread, which then ends.
        let c = control.clone();
        let spec = sh(&format!("exec sleep {}", m[4]));
        let (mut long, tid) = tokio::task::spawn_blocking(move || {
            let tid = std::fs::read_link("/proc/thread-self").unwrap();
            (c.spawn(&spec).expect("spawns"), tid)
        })
        .await
        .unwrap();
        let tid = std::path::Path::new("/proc/self/task").join(tid.file_name().unwrap());
        let ended = common::poll(|| !tid.exists()).await;
        let check = match (ended, long.exited()) {
            (false, _) => "the blocking thread did not end",
            (true, None) => "child alive after its spawning thread ended",
            (true, Some(_)) => "child killed when its spawning thread ended",
        };
        println!("attune-host: thread {check}");
        println!(
            "attune-host: guard {}",
            control.guard_pid().map_or("none".into(), |p| p.to_string())
        );
        println!(
            "attune-host: cgroup {}",
            control
                .cgroup_dir()
                .map_or("none".into(), |d| d.display().to_string())
        );
        assert!(
            control.tracking() == Tracking::Cgroup || control.cgroup_dir().is_none(),
            "consistent"
        );
        println!("attune-host: ready");
        let script = format!(
            "sleep {1} >/dev/null 2>&1 &
             setsid sleep {2} >/dev/null 2>&1 &
             ( ( setsid sleep {3} >/dev/null 2>&1 & ) & )
             exec sleep {0}",
            m[0], m[1], m[2], m[3]
        );
        let log = LogSink::discard(ExecutionId::new());
        let cancel = tokio_util::sync::CancellationToken::new();
        let _ = tokio::time::timeout(
            SAFETY * 4,
            control.run(sh(&script), &Limits::default(), &cancel, &log),
        )
        .await;
        drop(long);
    });
}
