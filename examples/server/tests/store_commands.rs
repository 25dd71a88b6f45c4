//! `attune key`, `attune inquiry`, `attune execution`, `attune policy stats` on a `--db`
//! file: exit codes and JSON documents.

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

fn attune(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_attune"));
    c.env("NO_COLOR", "1")
        .env_remove("ATTUNE_CONFIG_DIR")
        .env_remove("ATTUNE_ENCRYPTION_KEY")
        .env_remove("ATTUNE_KEY_FILE")
        .arg("--db")
        .arg(db);
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    attune(db).args(args).output().expect("attune runs")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

// Keys: set (plain, encrypted with the key file, with a ttl, in a user scope), get, list,
// delete; an encrypted value needs the key, and never shows without --decrypt.
#[test]
fn keys_are_set_read_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let key_file = dir.path().join("k.hex");
    std::fs::write(&key_file, "ab".repeat(32)).unwrap();
    let kf = key_file.to_str().unwrap();

    let out = run(&db, &["key", "set", "greeting", "hello", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["key"]["value"], json!("hello"));

    // No key: refused (exit 2), saying so.
    let out = run(&db, &["key", "set", "token", "s3cr3t", "--encrypt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--key-file"),
        "{out:?}"
    );
    let out = run(
        &db,
        &[
            "key",
            "set",
            "token",
            "s3cr3t",
            "--encrypt",
            "--key-file",
            kf,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sealed = json_of(&out)["key"]["value"].as_str().unwrap().to_string();
    assert!(sealed.starts_with("attune:aes256gcm:") && !sealed.contains("s3cr3t"));

    let out = run(
        &db,
        &[
            "key",
            "get",
            "token",
            "--decrypt",
            "--key-file",
            kf,
            "--json",
        ],
    );
    assert_eq!(json_of(&out)["key"]["value"], json!("s3cr3t"));
    let out = run(&db, &["key", "get", "token", "--json"]);
    assert_eq!(json_of(&out)["key"]["value"], json!(sealed));

    let out = run(
        &db,
        &[
            "key", "set", "n", "42", "--scope", "user:ann", "--ttl", "600", "--json",
        ],
    );
    let k = &json_of(&out)["key"];
    assert_eq!((&k["value"], &k["scope"]), (&json!(42), &json!("user:ann")));
    assert!(k["expires"].is_string());

    let out = run(&db, &["key", "list", "--json"]);
    let listed = json_of(&out);
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["greeting", "token", "n"], "{listed}");
    let out = run(&db, &["key", "list", "--scope", "user:ann", "--json"]);
    assert_eq!(json_of(&out)["keys"].as_array().unwrap().len(), 1);

    let out = run(&db, &["key", "delete", "n", "--scope", "user:ann"]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&db, &["key", "get", "n", "--scope", "user:ann"]);
    assert_eq!(out.status.code(), Some(1));

    // Bad input: a scope that is none, a name with path tricks, no --db.
    for (args, want) in [
        (
            &["key", "get", "x", "--scope", "group:a"][..],
            "--scope 'group:a'",
        ),
        (&["key", "set", "../etc", "1"][..], "../etc"),
    ] {
        let out = run(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{out:?}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_attune"))
        .args(["key", "list"])
        .env_remove("ATTUNE_DB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db FILE"));
}

// An inquiry asked by `attune run core.ask` waits in the file; `inquiry list` shows it,
// `inquiry respond` answers it once (a response not fitting its schema is refused).
#[test]
fn inquiries_are_listed_and_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let schema =
        r#"schema={"type":"object","properties":{"ok":{"type":"boolean","required":true}}}"#;
    let out = run(&db, &["run", "core.ask", schema, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let asked = json_of(&out);
    assert_eq!(asked["execution"]["status"], json!("pending"));
    let id = asked["execution"]["id"].as_str().unwrap().to_string();

    let out = run(&db, &["inquiry", "list", "--json"]);
    let list = json_of(&out);
    assert_eq!(list["inquiries"][0]["id"], json!(id));
    assert_eq!(list["inquiries"][0]["ttl_minutes"], json!(1440));
    let out = run(&db, &["inquiry", "get", &id, "--json"]);
    assert_eq!(
        json_of(&out)["inquiry"]["schema"]["properties"]["ok"]["type"],
        json!("boolean")
    );

    let out = run(&db, &["inquiry", "respond", &id, r#"{"ok":"yes"}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/ok"),
        "{out:?}"
    );
    let out = run(
        &db,
        &["inquiry", "respond", &id, r#"{"ok":true}"#, "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let done = json_of(&out);
    assert_eq!(done["execution"]["status"], json!("succeeded"));
    assert_eq!(done["execution"]["result"]["response"], json!({"ok": true}));
    let out = run(&db, &["inquiry", "respond", &id, r#"{"ok":true}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it is succeeded"));

    let out = run(
        &db,
        &["execution", "list", "--status", "succeeded", "--json"],
    );
    let listed = json_of(&out);
    assert_eq!(listed["total"], json!(1));
    assert_eq!(listed["executions"][0]["id"], json!(id));
    let out = run(&db, &["execution", "get", &id, "--json"]);
    assert_eq!(json_of(&out)["execution"]["action"], json!("core.ask"));
    let out = run(&db, &["execution", "cancel", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already finished"));
    let out = run(&db, &["execution", "get", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

// `policy stats` reads a pack's policy and the queue in the file.
#[test]
fn policy_stats_show_the_queue_and_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pack = dir.path().join("p");
    for (rel, text) in [
        ("pack.yaml", "ref: p\n"),
        ("actions/a.yaml", "name: a\nrunner_type: noop\n"),
        (
            "policies/one.yaml",
            "name: one\nresource_ref: p.a\npolicy_type: action.concurrency\nparameters:\n  threshold: 2\n",
        ),
    ] {
        let f = pack.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    let out = run(
        &db,
        &[
            "policy",
            "stats",
            "p.a",
            "--pack",
            pack.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = json_of(&out);
    assert_eq!(s["stats"]["limit"], json!(2));
    assert_eq!(
        (&s["stats"]["queued"], &s["stats"]["running"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(s["policies"][0]["ref"], json!("p.one"));
}
