//! `attune run --params @FILE|-`: params as a JSON object from a file or stdin, so that
//! secrets need not be on the command line; `key=value` arguments win over its keys.

mod common;

use common::{Running, attune, run, wait_until};
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// A pack with an action whose `token` param is secret and which echoes it.
fn secret_pack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pack.yaml"), "ref: t\nname: t\n").unwrap();
    std::fs::create_dir(dir.path().join("actions")).unwrap();
    std::fs::write(
        dir.path().join("actions/show.yaml"),
        "ref: t.show\nrunner_type: rhai\ncode: |\n  #{ echoed: token, length: token.len() }\n\
         parameters:\n  type: object\n  properties:\n    token: {type: string, secret: true}\n\
         \x20 required: [token]\n",
    )
    .unwrap();
    dir
}

#[test]
fn a_secret_param_from_stdin_reaches_the_action_and_is_masked() {
    let pack = secret_pack();
    let secret = "s3cr3t-XYZ-123";
    let mut cmd = attune();
    cmd.args(["--json", "run", "--pack"])
        .arg(pack.path())
        .args(["t.show", "--params", "-"]);
    let mut running = Running::start(cmd, true);
    // attune waits for stdin: its command line (once it is exec'd) holds no secret.
    let pid = running.pid();
    let cmdline = || {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    };
    wait_until("attune's command line", Duration::from_secs(60), || {
        cmdline().contains("--params")
    });
    assert!(!cmdline().contains(secret), "{}", cmdline());
    let mut stdin = running.stdin_take();
    stdin
        .write_all(json!({ "token": secret }).to_string().as_bytes())
        .unwrap();
    drop(stdin);
    let out = running.wait(Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    let e = &out.json()["execution"];
    assert_eq!(e["status"], json!("succeeded"));
    assert_eq!(
        e["result"]["length"],
        json!(secret.len()),
        "the action got the value"
    );
    assert_eq!(
        e["result"]["echoed"],
        json!("********"),
        "masked in the result"
    );
    assert_eq!(
        e["params"]["token"],
        json!("********"),
        "redacted in the params"
    );
    assert!(!out.stdout.contains(secret), "{}", out.stdout);
    assert!(!out.stderr.contains(secret), "{}", out.stderr);
}

#[test]
fn params_from_a_file_and_key_value_arguments_which_win() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("params.json");
    std::fs::write(&f, r#"{"message": "from the file"}"#).unwrap();
    let arg = format!("@{}", f.display());
    let mut cmd = attune();
    cmd.args(["--json", "run", "core.echo", "--params", &arg]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        out.json()["execution"]["result"],
        json!({"stdout": "from the file"})
    );
    let mut cmd = attune();
    cmd.args([
        "--json",
        "run",
        "core.echo",
        "--params",
        &arg,
        "message=from the arguments",
    ]);
    let out = run(cmd);
    assert_eq!(
        out.json()["execution"]["result"],
        json!({"stdout": "from the arguments"})
    );
}

#[test]
fn bad_params_input_exits_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("params.json");
    std::fs::write(&f, "[1, 2]").unwrap();
    let arg = format!("@{}", f.display());
    let mut cmd = attune();
    cmd.args(["run", "core.echo", "--params", &arg]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr
            .contains(&format!("params file '{}': it is an array", f.display())),
        "{}",
        out.stderr
    );
    std::fs::write(&f, "{\"message\": ").unwrap();
    let out = run({
        let mut c = attune();
        c.args(["run", "core.echo", "--params", &arg]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("is not valid JSON"), "{}", out.stderr);
    let out = run({
        let mut c = attune();
        c.args(["run", "core.echo", "--params", "message.json"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("give @FILE"), "{}", out.stderr);
}
