//! PostgreSQL restarted in the middle of a burst: two engines (each with its own pools, as
//! two processes) keep taking events while the server stops and comes back; they reconnect
//! by themselves, and every acknowledged event ends with one enforcement and one ended
//! execution, none run twice. The server is a private one this test starts (initdb on a
//! free port, as the `postgres` user when run as root), so that the restart touches no other
//! test. Skipped, saying why, when PostgreSQL's programs are not installed and
//! `ATTUNE_REQUIRE_POSTGRES` is not `1`.

use attune_core::model::{ExecutionStatus, Rule, TriggerType};
use attune_core::store::{EnforcementFilter, ExecutionFilter, Page, Store, StoreExt};
use attune_core::{Engine, Result};
use attune_store_postgres::testing::required;
use attune_store_postgres::{PgStore, PgTransport};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Events emitted; the server restarts after a third of them.
const EVENTS: u64 = 300;
/// A guard against hangs, not a speed requirement.
const GUARD: Duration = Duration::from_secs(180);

/// A PostgreSQL server of this test's own, stopped and removed when dropped.
struct PrivateServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivateServer {
    /// Creates and starts the server; `None` (skipped) when PostgreSQL's programs are not
    /// installed, unless required.
    fn start() -> Option<PrivateServer> {
        let Some(bin) = pg_bin() else {
            assert!(
                !required(),
                "ATTUNE_REQUIRE_POSTGRES=1 but no /usr/lib/postgresql/*/bin/initdb to start a \
                 private server with"
            );
            eprintln!("SKIPPED: restart test: no /usr/lib/postgresql/*/bin/initdb");
            return None;
        };
        let as_postgres = run("id", &["-u"]).trim() == "0";
        let dir = std::env::temp_dir().join(format!("attune-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("server dir");
        if as_postgres {
            run("chown", &["postgres:postgres", dir.to_str().unwrap()]);
        }
        let port = free_port();
        let server = PrivateServer {
            bin,
            dir,
            port,
            as_postgres,
        };
        server.pg(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        server.start_again();
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when this test runs as root).
    fn pg(&self, program: &str, args: &[&str]) -> String {
        let path = self.bin.join(program).display().to_string();
        if self.as_postgres {
            let mut all = vec!["-u", "postgres", "--", path.as_str()];
            all.extend_from_slice(args);
            run("runuser", &all)
        } else {
            run(&path, args)
        }
    }

    fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    fn stop(&self, mode: &str) {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = cmd
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// An engine on the server with its own pools, counting the runs of each event's `i`.
async fn engine(url: &str, name: &str, runs: Arc<Mutex<HashMap<u64, u32>>>) -> Result<Engine> {
    let store = PgStore::builder(url)
        .max_connections(4)
        .connect_for(Duration::from_secs(60))
        .open()
        .await?;
    let transport = PgTransport::builder(&store)
        .max_connections(4)
        .lease(Duration::from_secs(2))
        .open()
        .await?;
    let engine = Engine::builder()
        .store(Arc::new(store))
        .transport(Arc::new(transport))
        .worker_id(name)
        .lease(Duration::from_secs(2))
        .sweep_every(Duration::from_millis(500))
        .build()
        .await?;
    engine
        .register_trigger_type(TriggerType::new("rs.tick"))
        .await?;
    engine
        .register_fn("rs.count", move |ctx| {
            let runs = runs.clone();
            async move {
                let i = ctx.param("i").and_then(Value::as_u64).unwrap_or(u64::MAX);
                *runs.lock().unwrap().entry(i).or_default() += 1;
                Ok(json!({"i": i}))
            }
        })
        .await?;
    engine
        .register_rule(
            Rule::new("rs.on_tick", "rs.tick", "rs.count").param("i", json!("{{ trigger.i }}")),
        )
        .await?;
    Ok(engine)
}

/// Emits `i`, again after each retryable failure (as a client of a restarting server
/// would); the id once acknowledged.
async fn emit_until_acknowledged(engine: &Engine, i: u64) -> attune_core::model::EventId {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        match engine.emit("rs.tick", json!({"i": i})).await {
            Ok(id) => return id,
            Err(e) if e.is_retryable() => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "emit never recovered: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("emit {i}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_burst_loses_nothing() {
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let url = server.url();
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let a = engine(&url, "a", runs.clone()).await.expect("engine a");
    let b = engine(&url, "b", runs.clone()).await.expect("engine b");
    let mut acked = Vec::new();
    for i in 0..EVENTS {
        if i == EVENTS / 3 {
            server.stop("fast");
            // Emits fail meanwhile; the engines keep trying.
            tokio::time::sleep(Duration::from_secs(2)).await;
            server.start_again();
        }
        let from = if i % 2 == 0 { &a } else { &b };
        acked.push((emit_until_acknowledged(from, i).await, i));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Every acknowledged event ends: checked on a connection of the test's own.
    let check = PgStore::builder(&url)
        .max_connections(2)
        .open()
        .await
        .expect("check store");
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let open = check
            .count_executions(
                &ExecutionFilter::new().with_status(
                    ExecutionStatus::ALL
                        .into_iter()
                        .filter(|s| !s.is_terminal()),
                ),
            )
            .await
            .expect("count");
        let enforced = check
            .count_enforcements(&EnforcementFilter::new())
            .await
            .expect("count");
        let unmatched = check
            .count_events(&attune_core::store::EventFilter::new().unmatched_only())
            .await
            .expect("count");
        if open == 0 && unmatched == 0 && enforced >= acked.len() as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not everything ended: {enforced} enforcements, {open} executions open, \
             {unmatched} events unmatched"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (id, i) in &acked {
        let enfs = check
            .list_enforcements(&EnforcementFilter::new().event(*id), &Page::first(5))
            .await
            .expect("enforcements");
        assert_eq!(enfs.len(), 1, "event {i} has {} enforcements", enfs.len());
    }
    let mut per_event: HashMap<String, Vec<ExecutionStatus>> = HashMap::new();
    check
        .each_execution(&ExecutionFilter::new(), &mut |x| {
            per_event
                .entry(format!("{:?}", x.event))
                .or_default()
                .push(x.status);
        })
        .await
        .expect("executions");
    for (id, i) in &acked {
        let statuses = per_event
            .get(&format!("{:?}", Some(*id)))
            .cloned()
            .unwrap_or_default();
        assert_eq!(statuses.len(), 1, "event {i}: executions {statuses:?}");
        assert!(
            matches!(
                statuses[0],
                ExecutionStatus::Succeeded | ExecutionStatus::Abandoned
            ),
            "event {i} ended {:?}",
            statuses[0]
        );
    }
    let runs = runs.lock().unwrap().clone();
    if let Some((i, n)) = runs.iter().find(|(_, n)| **n > 1) {
        panic!("event {i}'s action ran {n} times");
    }
    let succeeded = per_event
        .values()
        .filter(|s| s == &&vec![ExecutionStatus::Succeeded])
        .count();
    eprintln!(
        "restart: {} events acknowledged, {succeeded} succeeded, {} abandoned with the restart",
        acked.len(),
        per_event.len() - succeeded
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    drop(server);
}
