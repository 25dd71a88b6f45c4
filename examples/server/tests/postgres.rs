//! The `attune` command on PostgreSQL (`--db postgres://...?schema=...`): keys and
//! executions written by one command are seen by the next (another process); two `serve`
//! processes with different `--role`s split the pipeline; a bad login fails naming the
//! server without the password. Skipped, saying why, when the test
//! server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`.

mod common;

use attune_store_postgres::testing::TestSchema;
use common::{Running, json_of, pg_schema, signal, wait_until, write_files};
use serde_json::json;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn db_url(pg: &TestSchema) -> String {
    pg.schema_url()
}

fn run(db: &str, args: &[&str]) -> Output {
    common::attune()
        .env_remove("ATTUNE_ENCRYPTION_KEY")
        .env_remove("ATTUNE_KEY_FILE")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("attune runs")
}

#[test]
fn commands_share_state_through_postgres() {
    let Some(pg) = pg_schema() else {
        return;
    };
    let db = db_url(&pg);
    let out = run(&db, &["key", "set", "greeting", "hello", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = run(&db, &["key", "get", "greeting", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_of(&out)["key"]["value"], json!("hello"));

    let out = run(
        &db,
        &["run", "core.local", "cmd=echo from-postgres", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let run_doc = json_of(&out);
    let id = run_doc["execution"]["id"]
        .as_str()
        .expect("an execution id")
        .to_string();

    let out = run(&db, &["execution", "get", &id, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let x = json_of(&out);
    assert_eq!(x["execution"]["status"], json!("succeeded"), "{x}");
    assert!(
        x["execution"]["result"]["stdout"]
            .as_str()
            .is_some_and(|s| s.contains("from-postgres")),
        "{x}"
    );
    let out = run(
        &db,
        &["execution", "list", "--status", "succeeded", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed = json_of(&out);
    assert_eq!(listed["total"], json!(1), "{listed}");
    assert_eq!(listed["executions"][0]["id"], json!(id));
}

#[test]
fn a_refused_login_fails_at_once_without_showing_the_password() {
    let Some(pg) = pg_schema() else {
        return;
    };
    let url = pg.url().replacen(
        "postgres://postgres",
        "postgres://attune_no_such_role:hunter2",
        1,
    );
    let out = run(&url, &["key", "list", "--json"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("attune_no_such_role"),
        "names the login: {text}"
    );
    assert!(
        !text.contains("hunter2"),
        "never shows the password: {text}"
    );
}

/// A pack `split` whose rule runs, every second, `core.local` appending the pid of the
/// process that runs the action (the shell's parent) to `out`.
fn split_pack(dir: &Path) {
    write_files(
        dir,
        &[
            (
                "split/pack.yaml",
                "ref: split\nname: split\nversion: 1.0.0\n",
            ),
            (
                "split/rules/tick.yaml",
                &format!(
                    "name: tick\npack: split\ntrigger:\n  type: core.st2.IntervalTimer\n  \
                     parameters:\n    unit: seconds\n    delta: 1\naction:\n  ref: core.local\n  \
                     parameters:\n    cmd: echo $PPID >> {}\n",
                    dir.join("out").display()
                ),
            ),
        ],
    );
}

fn serve(db: &str, pack: &Path, roles: &str) -> Running {
    let mut cmd = common::attune();
    cmd.env("ATTUNE_LOG", "info")
        .args(["serve", "--pack"])
        .arg(pack)
        .args(["--db", db, "--role", roles, "--drain-grace", "10"]);
    Running::start(cmd, false)
}

#[test]
fn serve_processes_with_roles_split_the_pipeline() {
    let Some(pg) = pg_schema() else {
        return;
    };
    let db = db_url(&pg);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    split_pack(d);
    let front = serve(&db, &d.join("split"), "ingest,timers,match,schedule");
    let worker = serve(&db, &d.join("split"), "work");
    let out = d.join("out");
    let ran = || -> Vec<String> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    wait_until("three timer runs", Duration::from_secs(60), || {
        ran().len() >= 3
    });
    let worker_pid = worker.pid().to_string();
    for line in ran() {
        assert_eq!(
            line, worker_pid,
            "every run in the process with the work role"
        );
    }
    assert!(
        front.stderr().contains("timers,match,schedule"),
        "the roles are logged: {}",
        front.stderr()
    );
    // Both processes are listed as workers, with their roles.
    let out = run(&db, &["worker", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    let mut roles: Vec<String> = doc["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            w["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    roles.sort();
    assert_eq!(roles, vec!["match,schedule,timers", "work"], "{doc}");
    for p in [&front, &worker] {
        signal(p.pid(), "TERM");
    }
    for p in [front, worker] {
        let ended = p.wait(Duration::from_secs(60));
        assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
    }
}

#[test]
fn serve_refuses_an_unknown_role() {
    let Some(pg) = pg_schema() else {
        return;
    };
    let out = run(&db_url(&pg), &["serve", "--role", "match,ingestion"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'ingestion' is not a role") && err.contains("ingest, match"),
        "{err}"
    );
}
