//! StackStorm's `st2` client against `attune serve --http`: `tests/st2client/everyday.sh`
//! runs the everyday commands and checks their output and exit codes. The client comes
//! from `ATTUNE_ST2_CLIENT` (the `st2` of a venv with `st2client==3.9.0` from PyPI, as
//! `.ci/run` installs it); without it the test says so and passes, unless
//! `ATTUNE_REQUIRE_ST2=1`, where it fails.

mod common;

use common::{Running, attune, http_base, root, signal, write_files};
use std::time::Duration;

#[test]
fn the_st2_client_works_against_the_server() {
    let Some(st2) = std::env::var_os("ATTUNE_ST2_CLIENT") else {
        assert!(
            std::env::var("ATTUNE_REQUIRE_ST2").as_deref() != Ok("1"),
            "ATTUNE_REQUIRE_ST2=1 but ATTUNE_ST2_CLIENT (the st2 client) is not set"
        );
        eprintln!("skipped: set ATTUNE_ST2_CLIENT to the `st2` of st2client 3.9.0 to run it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A pack directory for `st2 pack register`.
    let pack = dir.path().join("st2test");
    write_files(
        &pack,
        &[
            (
                "pack.yaml",
                "ref: st2test\nname: st2test\ndescription: st2 pack register\nversion: 1.0.0\n",
            ),
            (
                "rules/on_ping.yaml",
                "name: on_ping\npack: st2test\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: st2test-ping\naction:\n  ref: core.noop\n",
            ),
        ],
    );
    let mut cmd = attune();
    cmd.args(["--log-format", "json", "serve", "--pack"])
        .arg(&pack)
        .arg("--db")
        .arg(dir.path().join("state.db"))
        .args(["--http", "127.0.0.1:0"])
        .env("ATTUNE_ADMIN_USER", "st2admin")
        .env("ATTUNE_ADMIN_PASSWORD", "Ch@ngeMe")
        .env(
            "ATTUNE_ENCRYPTION_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .env_remove("ATTUNE_USERS_FILE");
    let run = Running::start(cmd, false);
    let base = http_base(&run);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new("bash")
        .arg(root().join("examples/server/tests/st2client/everyday.sh"))
        .env("ST2", &st2)
        .env("ST2_API_URL", format!("{base}/api/v1"))
        .env("ST2_AUTH_URL", format!("{base}/auth/v1"))
        .env("ST2_STREAM_URL", format!("{base}/stream/v1"))
        .env("HOME", &home)
        .env("ADMIN_USER", "st2admin")
        .env("ADMIN_PASSWORD", "Ch@ngeMe")
        .env_remove("ST2_AUTH_TOKEN")
        .env_remove("ST2_API_KEY")
        .env_remove("ST2_BASE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the st2 script failed:\n{text}");
    assert!(text.contains("all st2 checks passed"), "{text}");
    signal(run.pid(), "TERM");
    let ended = run.wait(Duration::from_secs(60));
    assert_eq!(ended.status.code(), Some(0), "stderr:\n{}", ended.stderr);
}
