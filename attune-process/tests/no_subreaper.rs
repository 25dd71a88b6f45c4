//! Without cgroups and without being the subreaper (orphans go to PID 1, so our own
//! children cannot tell whether a descendant left the group): the end of every run looks
//! for the run's marker in /proc, and what left the group still dies with the run.
//! (A test binary of its own: the subreaper flag is process-wide.)

mod common;

use attune_core::model::ExecutionId;
use attune_core::runtime::LogSink;
use attune_process::{Limits, ProcessControl, Tracking};
use common::{Cleanup, Markers, sh};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn without_cgroups_or_subreaper_what_left_the_group_dies_with_the_run() {
    let control = ProcessControl::with_cgroups(false);
    assert_eq!(control.tracking(), Tracking::ProcessGroup);
    let m = Markers::new(3);
    let _cleanup = Cleanup(m.clone());
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script = format!(
        "setsid sleep {0} >/dev/null 2>&1 &
         ( ( setsid sleep {1} >/dev/null 2>&1 & ) & )
         ( ( sleep {2} >/dev/null 2>&1 & ) & )
         while [ ! -e {go} ]; do sleep 0.01; done",
        m.get(0),
        m.get(1),
        m.get(2),
        go = go.display()
    );
    let log = LogSink::discard(ExecutionId::new());
    let cancel = CancellationToken::new();
    let limits = Limits::default();
    let run = control.run(sh(&script), &limits, &cancel, &log);
    let watch = async {
        let seen = m.wait_all_alive().await;
        std::fs::write(&go, "").unwrap();
        seen
    };
    let (out, seen) = tokio::join!(run, watch);
    out.expect("runs");
    assert!(seen, "every descendant started");
    // Killed, and handed to PID 1 (which reaps or not): none is alive.
    assert!(m.wait_none_alive().await, "survivors: {:?}", m.alive());
}
