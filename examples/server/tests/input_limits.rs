//! Documents that arrive from outside (payload, event, params and rehearsal files, stdin) are
//! checked against the size limit before they are read whole, and JSON against its value
//! bound before it is parsed: a 50 MB file costs nothing, a 50 MB stdin at most the limit.
//! Memory is `attune`'s own peak (VmHWM, reported with `ATTUNE_REPORT_PEAK_MEMORY`).

mod common;

use common::{Ended, Running, attune, run};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// 50 MB, written sparse (no time, no disk).
fn big_file(path: &Path) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
}

fn measured(args: &[&str]) -> Ended {
    let mut cmd = attune();
    cmd.env("ATTUNE_REPORT_PEAK_MEMORY", "1").args(args);
    run(cmd)
}

/// The peak memory of a whole `emit` (engine, core pack, one event): what a run costs
/// anyway, in kB.
fn baseline_kb() -> u64 {
    let out = measured(&["emit", "core.webhook", "--payload", "{}"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    out.peak_kb()
}

/// How far above the baseline a refused input may take attune: the limit (4 MiB) read, and
/// its buffer's growth, with margin. Reading a 50 MB input whole, or parsing 4 MiB of tiny
/// JSON values (106 MB), is far above.
const MARGIN_KB: u64 = 24 * 1024;

fn assert_refused(out: &Ended, baseline: u64, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    for n in needles {
        assert!(out.stderr.contains(n), "'{n}' not in:\n{}", out.stderr);
    }
    let peak = out.peak_kb();
    eprintln!("peak {peak} kB (baseline {baseline} kB)");
    assert!(
        peak < baseline + MARGIN_KB,
        "peak memory {peak} kB, baseline {baseline} kB:\n{}",
        out.stderr
    );
}

#[test]
fn a_50_mb_payload_file_is_refused_from_its_size() {
    let baseline = baseline_kb();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.json");
    big_file(&f);
    let arg = format!("@{}", f.display());
    let out = measured(&["emit", "core.webhook", "--payload", &arg]);
    assert_refused(
        &out,
        baseline,
        &[
            &format!("payload file '{}'", f.display()),
            "52428800 bytes (50.0 MiB)",
            "limit of 4194304 bytes (4.0 MiB)",
            "nothing was read",
        ],
    );
}

#[test]
fn a_50_mb_payload_on_stdin_is_read_only_to_the_limit() {
    let baseline = baseline_kb();
    let mut cmd = attune();
    cmd.env("ATTUNE_REPORT_PEAK_MEMORY", "1")
        .args(["emit", "core.webhook", "--payload", "-"]);
    let mut running = Running::start(cmd, true);
    let mut stdin = running.stdin_take();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..50 {
            // attune stops reading at the limit: the pipe then breaks.
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let out = running.wait(Duration::from_secs(300));
    let _ = writer.join();
    assert_refused(
        &out,
        baseline,
        &[
            "payload from stdin",
            "larger than the limit of 4194304 bytes (4.0 MiB)",
        ],
    );
}

#[test]
fn four_mib_of_tiny_json_values_is_refused_before_parsing() {
    let baseline = baseline_kb();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tiny.json");
    // Just under 4 MiB: 1,398,101 empty arrays, 106 MB once parsed.
    let n = (4 << 20) / 3 - 1;
    let mut text = String::with_capacity(4 << 20);
    text.push('[');
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text.push_str("[]");
    }
    text.push(']');
    assert!(text.len() <= 4 << 20);
    std::fs::write(&f, &text).unwrap();
    let arg = format!("@{}", f.display());
    let out = measured(&["emit", "core.webhook", "--payload", &arg]);
    assert_refused(
        &out,
        baseline,
        &["holds 1398101 JSON values", "over the limit of 524288"],
    );
}

#[test]
fn event_params_and_rehearsal_files_are_checked_before_reading() {
    let baseline = baseline_kb();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big");
    big_file(&f);
    let path = f.display().to_string();
    let out = measured(&["rule", "test", "--event", &path]);
    assert_refused(
        &out,
        baseline,
        &[&format!("event file '{path}'"), "52428800 bytes"],
    );
    let arg = format!("@{path}");
    let out = measured(&["run", "core.noop", "--params", &arg]);
    assert_refused(
        &out,
        baseline,
        &[&format!("params file '{path}'"), "52428800 bytes"],
    );
    let workflow = common::root()
        .join("examples/packs/monitoring/actions/workflows/triage.yaml")
        .display()
        .to_string();
    let out = measured(&["workflow", "rehearse", &workflow, "--mocks", &path]);
    assert_refused(&out, baseline, &["rehearsal file", "52428800 bytes"]);
}

#[test]
fn a_payload_within_the_limits_is_read_from_stdin() {
    let mut cmd = attune();
    cmd.args(["--json", "emit", "core.webhook", "--payload", "-"]);
    let mut running = Running::start(cmd, true);
    let mut stdin = running.stdin_take();
    stdin.write_all(br#"{"from": "stdin"}"#).unwrap();
    drop(stdin);
    let out = running.wait(Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        out.json()["event"]["payload"],
        serde_json::json!({"from": "stdin"})
    );
}
