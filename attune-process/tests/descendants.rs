//! Every descendant of a run dies with it: background jobs, double-forked daemons, children
//! that call `setsid` (alone, with `-f`, in the middle of a double fork, or leading a shell
//! that ignores SIGTERM), at the run's normal end, at its timeout, at cancel, when the run
//! is dropped, and for long-lived children; with cgroup v2 and without.

mod common;

use attune_core::model::ExecutionId;
use attune_core::runtime::LogSink;
use attune_process::{Limits, ProcessControl, Stopped, Tracking};
use common::{Cleanup, Markers, SAFETY, sh};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the run's leader ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// It exits 0 once the test saw all its descendants.
    Exit,
    /// Its timeout stops it (it ignores SIGTERM: the grace passes, then SIGKILL).
    Timeout,
    /// The test cancels it.
    Cancel,
}

fn owner(cgroups: bool) -> ProcessControl {
    attune_process::reap_orphans().expect("subreaper");
    let control = ProcessControl::with_cgroups(cgroups);
    if !cgroups {
        assert_eq!(control.tracking(), Tracking::ProcessGroup);
    } else if common::cgroups_expected() {
        assert_eq!(
            control.tracking(),
            Tracking::Cgroup,
            "cgroup v2 is usable here"
        );
    }
    control
}

/// The descendants a run starts, one marker each: a background job, a double fork in the
/// group, `setsid`, `setsid -f`, `setsid` in the middle of a double fork, and a `setsid`
/// shell that ignores SIGTERM with a child of its own.
fn daemons(m: &Markers) -> String {
    format!(
        "sleep {0} >/dev/null 2>&1 &
         ( ( sleep {1} >/dev/null 2>&1 & ) & )
         setsid sleep {2} >/dev/null 2>&1 &
         setsid -f sleep {3} >/dev/null 2>&1
         ( ( setsid sleep {4} >/dev/null 2>&1 & ) & )
         setsid sh -c 'trap \"\" TERM; sleep {5} & wait' >/dev/null 2>&1 &
        ",
        m.get(0),
        m.get(1),
        m.get(2),
        m.get(3),
        m.get(4),
        m.get(5)
    )
}

async fn nothing_survives(cgroups: bool, end: End) {
    let control = owner(cgroups);
    let m = Markers::new(6);
    let _cleanup = Cleanup(m.clone());
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let leader = match end {
        End::Exit => format!(
            "while [ ! -e {} ]; do sleep 0.01; done; exit 0",
            go.display()
        ),
        End::Timeout => "trap '' TERM; while :; do sleep 1; done".to_string(),
        End::Cancel => "exec sleep 1000".to_string(),
    };
    let spec = sh(&format!("{}\n{leader}", daemons(&m)));
    let limits = Limits {
        timeout: (end == End::Timeout).then_some(Duration::from_secs(3)),
        grace: Duration::from_millis(200),
        ..Limits::default()
    };
    let cancel = CancellationToken::new();
    let log = LogSink::discard(ExecutionId::new());
    let run = control.run(spec, &limits, &cancel, &log);
    let watch = async {
        let seen = m.wait_all_alive().await;
        match end {
            End::Exit => std::fs::write(&go, "").unwrap(),
            End::Cancel => cancel.cancel(),
            End::Timeout => {}
        }
        seen
    };
    let (outcome, seen) = tokio::time::timeout(SAFETY, async { tokio::join!(run, watch) })
        .await
        .expect("the run ends");
    let outcome = outcome.expect("runs");
    assert!(
        seen,
        "every descendant started: {:?} of {:?}",
        m.alive(),
        m.0
    );
    match end {
        End::Exit => assert_eq!(outcome.stopped, None),
        End::Timeout => assert!(matches!(outcome.stopped, Some(Stopped::Timeout(_)))),
        End::Cancel => assert_eq!(outcome.stopped, Some(Stopped::Canceled)),
    }
    // On return, nothing of the run is alive, and what became ours is reaped.
    assert_eq!(m.alive(), Vec::<String>::new(), "survivors ({end:?})");
    assert_eq!(m.ours_unreaped(), Vec::<i32>::new(), "zombies left to us");
}

#[tokio::test]
async fn with_cgroups_nothing_survives_a_normal_exit() {
    nothing_survives(true, End::Exit).await;
}

#[tokio::test]
async fn with_cgroups_nothing_survives_a_timeout() {
    nothing_survives(true, End::Timeout).await;
}

#[tokio::test]
async fn with_cgroups_nothing_survives_a_cancel() {
    nothing_survives(true, End::Cancel).await;
}

#[tokio::test]
async fn without_cgroups_nothing_survives_a_normal_exit() {
    nothing_survives(false, End::Exit).await;
}

#[tokio::test]
async fn without_cgroups_nothing_survives_a_timeout() {
    nothing_survives(false, End::Timeout).await;
}

#[tokio::test]
async fn without_cgroups_nothing_survives_a_cancel() {
    nothing_survives(false, End::Cancel).await;
}

async fn dropped_run_leaves_nothing(cgroups: bool) {
    let control = owner(cgroups);
    let m = Markers::new(6);
    let _cleanup = Cleanup(m.clone());
    let spec = sh(&format!("{}\nexec sleep 1000", daemons(&m)));
    let cancel = CancellationToken::new();
    let log = LogSink::discard(ExecutionId::new());
    let limits = Limits::default();
    tokio::select! {
        _ = control.run(spec, &limits, &cancel, &log) => panic!("the run ended by itself"),
        seen = m.wait_all_alive() => assert!(seen, "every descendant started"),
    }
    // The run's future is dropped here: everything of it is killed (in the background).
    assert!(m.wait_none_alive().await, "survivors: {:?}", m.alive());
}

#[tokio::test]
async fn with_cgroups_a_dropped_run_leaves_nothing() {
    dropped_run_leaves_nothing(true).await;
}

#[tokio::test]
async fn without_cgroups_a_dropped_run_leaves_nothing() {
    dropped_run_leaves_nothing(false).await;
}

async fn long_lived_leaves_nothing(cgroups: bool, drop_it: bool) {
    let control = owner(cgroups);
    let m = Markers::new(6);
    let _cleanup = Cleanup(m.clone());
    let child = control
        .spawn(&sh(&format!("{}\nexec cat", daemons(&m))))
        .expect("spawns");
    assert!(m.wait_all_alive().await, "every descendant started");
    if drop_it {
        drop(child);
        assert!(m.wait_none_alive().await, "survivors: {:?}", m.alive());
    } else {
        child.stop(Duration::from_millis(200)).await;
        assert_eq!(m.alive(), Vec::<String>::new(), "survivors");
        assert_eq!(m.ours_unreaped(), Vec::<i32>::new(), "zombies left to us");
    }
}

#[tokio::test]
async fn with_cgroups_a_stopped_long_lived_child_leaves_nothing() {
    long_lived_leaves_nothing(true, false).await;
}

#[tokio::test]
async fn with_cgroups_a_dropped_long_lived_child_leaves_nothing() {
    long_lived_leaves_nothing(true, true).await;
}

#[tokio::test]
async fn without_cgroups_a_stopped_long_lived_child_leaves_nothing() {
    long_lived_leaves_nothing(false, false).await;
}

#[tokio::test]
async fn without_cgroups_a_dropped_long_lived_child_leaves_nothing() {
    long_lived_leaves_nothing(false, true).await;
}

#[tokio::test]
async fn run_cgroups_and_the_owner_cgroup_are_removed() {
    let control = owner(true);
    let Some(dir) = control.cgroup_dir().map(|d| d.to_path_buf()) else {
        assert!(!common::cgroups_expected(), "cgroup v2 is usable here");
        return;
    };
    let log = LogSink::discard(ExecutionId::new());
    let cancel = CancellationToken::new();
    let m = Markers::new(1);
    let _cleanup = Cleanup(m.clone());
    let script = format!("setsid sleep {} >/dev/null 2>&1 & echo ok", m.get(0));
    let out = control
        .run(sh(&script), &Limits::default(), &cancel, &log)
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "ok\n");
    let runs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name())
        .collect();
    assert!(runs.is_empty(), "run cgroups left: {runs:?}");
    drop(control);
    assert!(
        !dir.exists(),
        "the owner's cgroup {} is removed",
        dir.display()
    );
}

#[tokio::test]
async fn the_marker_is_set_only_without_cgroups() {
    let log = LogSink::discard(ExecutionId::new());
    let cancel = CancellationToken::new();
    let env_of = |c: ProcessControl| {
        let log = log.clone();
        let cancel = cancel.clone();
        async move {
            let out = c
                .run(sh("env"), &Limits::default(), &cancel, &log)
                .await
                .unwrap();
            out.stdout.text
        }
    };
    let fallback = env_of(ProcessControl::with_cgroups(false)).await;
    assert!(
        fallback
            .lines()
            .any(|l| l.starts_with(&format!("{}=", attune_process::RUN_TOKEN_ENV))),
        "{fallback}"
    );
    let control = ProcessControl::with_cgroups(true);
    if control.tracking() == Tracking::Cgroup {
        let env = env_of(control).await;
        assert!(!env.contains(attune_process::RUN_TOKEN_ENV), "{env}");
    }
}
