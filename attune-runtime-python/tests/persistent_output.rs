//! Persistent mode streams output as one-shot mode does: output without newlines — on
//! `sys.stdout`, `sys.stderr` or file descriptor 2 — is kept up to the cap, the rest drained
//! and dropped, with the memory of the worker and of the engine bounded by the cap and the
//! protocol's chunk size, not by the output.
//!
//! Alone in its test binary: it reads the peak memory (`VmHWM`) of this process, which other
//! tests running beside it would disturb.

mod common;

use attune_runtime_python::{Mode, PythonConfig};
use common::{assert_succeeded, pack_engine_rt, run};
use serde_json::{Value, json};

/// Writes `mb` MiB in 64 KiB pieces, never a newline, the way `how` says; a single write of
/// it all with `how == "one"`.
const SPRAY: &str = r#"
import os, sys

def run(mb, how, python_mode=None):
    piece = 'x' * 65536
    if how == 'one':
        sys.stdout.write('x' * (mb << 20))
    for _ in range(0 if how == 'one' else mb * 16):
        if how == 'stdout':
            sys.stdout.write(piece)
        elif how == 'stderr':
            sys.stderr.write(piece)
        else:
            data = piece.encode()
            while data:
                data = data[os.write(2, data):]
    return os.getpid()
"#;

const CAP: usize = 256 << 10;
const MB: u64 = 24;
const MIB: u64 = 1 << 20;

/// The peak resident memory of process `pid` ("self" for this one), in bytes.
fn peak_memory(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is readable");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .expect("a VmHWM line")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmHWM in kB");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_without_newlines_is_capped_and_drained_with_bounded_memory() {
    let (engine, rt, _dir) = pack_engine_rt(
        &[(
            "spray",
            "  mb:\n    type: integer\n  how:\n    type: string\n  python_mode:\n    type: string",
            SPRAY,
        )],
        Some(PythonConfig {
            mode: Mode::Persistent,
            max_output_bytes: CAP,
            ..PythonConfig::default()
        }),
    )
    .await;
    let warm = |mb: u64, how: &str| json!({"mb": mb, "how": how, "python_mode": "persistent"});
    let x = run(&engine, "py.spray", warm(0, "stdout")).await;
    assert_succeeded(&x, "");
    let pid = x.result.unwrap()["result"].to_string();
    // The peaks after a first run: what the rest may add is what this test bounds.
    let worker_before = peak_memory(&pid);
    let engine_before = peak_memory("self");

    for (how, stream) in [
        ("stdout", "stdout"),
        ("stderr", "stderr"),
        ("fd2", "stderr"),
    ] {
        let x = run(&engine, "py.spray", warm(MB, how)).await;
        assert_succeeded(&x, &format!("{how}: "));
        let warm_result = x.result.unwrap();
        assert_eq!(
            warm_result["result"].to_string(),
            pid,
            "{how}: the same warm worker"
        );
        let x = run(
            &engine,
            "py.spray",
            json!({"mb": MB, "how": how, "python_mode": "oneshot"}),
        )
        .await;
        assert_succeeded(&x, &format!("{how} (oneshot): "));
        let cold_result = x.result.unwrap();
        let text = warm_result[stream].as_str().unwrap();
        assert!(
            text.ends_with(&format!(
                "\n[attune: {stream} truncated: kept {CAP} of {} bytes]\n",
                MB * MIB
            )),
            "{how}: {}",
            &text[text.len().saturating_sub(200)..]
        );
        assert_eq!(
            warm_result[stream], cold_result[stream],
            "{how}: as in oneshot"
        );
        assert_eq!(
            warm_result[format!("{stream}_truncated")],
            Value::Bool(true),
            "{how}"
        );
    }

    let worker_growth = peak_memory(&pid).saturating_sub(worker_before);
    let engine_growth = peak_memory("self").saturating_sub(engine_before);
    assert!(
        worker_growth < 8 * MIB,
        "the worker's peak memory grew by {} MiB for {MB} MiB of output per stream",
        worker_growth / MIB
    );
    assert!(
        engine_growth < 16 * MIB,
        "the engine's peak memory grew by {} MiB for {MB} MiB of output per stream",
        engine_growth / MIB
    );

    // One write of it all: cut into the protocol's chunks, kept as oneshot keeps it.
    let one = |mode: &str| json!({"mb": 2, "how": "one", "python_mode": mode});
    let warm_one = run(&engine, "py.spray", one("persistent")).await;
    let cold_one = run(&engine, "py.spray", one("oneshot")).await;
    assert_succeeded(&warm_one, "one write: ");
    assert_eq!(warm_one.stdout, cold_one.stdout, "one write: as in oneshot");
    assert!(warm_one.stdout.ends_with(&format!(
        "\n[attune: stdout truncated: kept {CAP} of {} bytes]\n",
        2 * MIB
    )));

    // The worker carries on.
    let x = run(&engine, "py.spray", warm(0, "stdout")).await;
    assert_succeeded(&x, "after: ");
    let r = x.result.unwrap();
    assert_eq!(r["result"].to_string(), pid, "still the same worker");
    assert_eq!(
        r["stdout"],
        json!(""),
        "nothing left over from earlier runs"
    );
    assert_eq!(rt.workers_started(), 1);
}
