//! Shell actions whose children leave the process group (`setsid`, double forks) do not
//! leave them behind: at the action's normal end, at its timeout, at cancel. (Tracking by
//! process group and marker, the default; `ATTUNE_PROCESS_CGROUPS=1` runs these with cgroup
//! v2 where usable. attune-process's own tests cover both.)

use attune_core::Engine;
use attune_core::model::ExecutionStatus;
use attune_runtime_shell::ShellRuntime;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(30);

async fn engine() -> Engine {
    let rt = ShellRuntime::builder()
        .grace(Duration::from_millis(200))
        .build()
        .unwrap();
    Engine::builder()
        .runtime(Arc::new(rt))
        .build()
        .await
        .expect("engine builds")
}

/// Distinct `sleep` durations no other process uses (their argument finds the processes).
fn markers(n: u64) -> Vec<String> {
    use std::hash::{BuildHasher, RandomState};
    let base =
        80_000_000 + RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000 * 10;
    (0..n).map(|i| (base + i).to_string()).collect()
}

/// Live (not zombie) processes `sleep <marker>`.
fn live(marker: &str) -> Vec<u32> {
    let want = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.ends_with(want.as_bytes()))
        })
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .is_ok_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')))
        })
        .collect()
}

fn alive(markers: &[String]) -> Vec<&String> {
    markers.iter().filter(|m| !live(m).is_empty()).collect()
}

async fn wait_all_alive(markers: &[String]) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < SAFETY {
        if alive(markers).len() == markers.len() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Kills the markers' processes when the test ends, failed or not.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for m in &self.0 {
            for p in live(m) {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &p.to_string()])
                    .status();
            }
        }
    }
}

/// Descendants that leave the group: `setsid`, `setsid` in a double fork, a double fork.
fn daemons(m: &[String]) -> String {
    format!(
        "setsid sleep {} >/dev/null 2>&1 & ( ( setsid sleep {} >/dev/null 2>&1 & ) & ); \
         ( ( sleep {} >/dev/null 2>&1 & ) & ); ",
        m[0], m[1], m[2]
    )
}

fn go_wait(go: &Path) -> String {
    format!("while [ ! -e {} ]; do sleep 0.01; done; ", go.display())
}

#[tokio::test]
async fn daemons_of_an_action_end_with_it() {
    let engine = engine().await;
    let m = markers(3);
    let _cleanup = Cleanup(m.clone());
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let cmd = format!("{}{}echo done", daemons(&m), go_wait(&go));
    let id = engine
        .execute("core.local", json!({ "cmd": cmd }))
        .await
        .unwrap();
    assert!(wait_all_alive(&m).await, "the daemons started");
    std::fs::write(&go, "").unwrap();
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:#?}");
    assert_eq!(e.stdout, "done\n");
    assert!(
        alive(&m).is_empty(),
        "daemons outlived their action: {:?}",
        alive(&m)
    );
}

#[tokio::test]
async fn daemons_of_a_timed_out_action_end_with_it() {
    let engine = engine().await;
    let m = markers(3);
    let _cleanup = Cleanup(m.clone());
    let cmd = format!("{}trap '' TERM; sleep 300", daemons(&m));
    let id = engine
        .execute("core.local", json!({ "cmd": cmd, "timeout": 3 }))
        .await
        .unwrap();
    assert!(wait_all_alive(&m).await, "the daemons started");
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Timeout, "{e:#?}");
    assert!(
        alive(&m).is_empty(),
        "daemons outlived their action: {:?}",
        alive(&m)
    );
}

#[tokio::test]
async fn daemons_of_a_canceled_action_end_with_it() {
    let engine = engine().await;
    let m = markers(3);
    let _cleanup = Cleanup(m.clone());
    let cmd = format!("{}sleep 300", daemons(&m));
    let id = engine
        .execute("core.local", json!({ "cmd": cmd }))
        .await
        .unwrap();
    assert!(wait_all_alive(&m).await, "the daemons started");
    engine.cancel(id).await.unwrap();
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Canceled, "{e:#?}");
    // The engine may give up waiting for the runtime's stop (dropping the run, which kills
    // everything in the background): poll.
    let start = std::time::Instant::now();
    while !alive(&m).is_empty() && start.elapsed() < SAFETY {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        alive(&m).is_empty(),
        "daemons outlived their action: {:?}",
        alive(&m)
    );
}

#[tokio::test]
async fn a_hosts_shutdown_ends_running_actions_and_their_daemons() {
    // The host stops its engine while an action (which ignores SIGTERM) and its daemons run:
    // shutdown cancels it with the grace, it ends `canceled`, and nothing of it is left.
    let engine = engine().await;
    let m = markers(4);
    let _cleanup = Cleanup(m.clone());
    let cmd = format!("{}trap '' TERM; sleep {}", daemons(&m), m[3]);
    let id = engine
        .execute("core.local", json!({ "cmd": cmd }))
        .await
        .unwrap();
    assert!(
        wait_all_alive(&m).await,
        "the action and its daemons started"
    );
    engine.shutdown(Duration::ZERO).await;
    let e = engine.execution(id).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Canceled, "{e:#?}");
    let start = std::time::Instant::now();
    while !alive(&m).is_empty() && start.elapsed() < SAFETY {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        alive(&m).is_empty(),
        "processes outlived the engine's shutdown: {:?}",
        alive(&m)
    );
}
