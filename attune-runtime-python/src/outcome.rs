//! What a run's report (the wrapper's outcome JSON) and its process's end make of an
//! execution's output, in either mode.

use attune_core::runtime::RunOutput;
use attune_process::{Captured, Stopped, tail};
use serde_json::{Value, json};
use std::time::Duration;

/// How the interpreter's part of a run ended.
#[derive(Debug)]
pub(crate) struct Ended {
    /// The wrapper's report, when it made one.
    pub reported: Option<Value>,
    /// Set when the run was stopped at its timeout.
    pub timed_out: Option<Duration>,
    /// The interpreter's exit code (0 for a warm worker that carries on).
    pub exit_code: i32,
    /// How the interpreter ended when it ended without a report.
    pub why_no_report: String,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// The execution's output: `{"result", "exit_code", "stdout", "stderr", …}` (StackStorm's
/// shape), failed with the reason when the action failed, raised, or gave no report.
pub(crate) fn output(ended: Ended, grace: Duration) -> RunOutput {
    let mut result = json!({
        "exit_code": ended.exit_code,
        "stdout": ended.stdout.text,
        "stderr": ended.stderr.text,
        "stdout_truncated": ended.stdout.truncated,
        "stderr_truncated": ended.stderr.truncated,
    });
    let (succeeded, error) = match (ended.timed_out, ended.reported) {
        (Some(t), _) => (
            false,
            Some(format!(
                "timed out after {:.3} s (SIGTERM to its process group, SIGKILL after {grace:?})",
                t.as_secs_f64()
            )),
        ),
        (None, Some(r)) => match r.get("status").and_then(Value::as_str) {
            Some("succeeded") => {
                result["result"] = r.get("result").cloned().unwrap_or(Value::Null);
                (true, None)
            }
            Some("failed") => {
                let v = r.get("result").cloned().unwrap_or(Value::Null);
                let msg = format!("the action returned failure: {}", short(&v));
                result["result"] = v;
                (false, Some(msg))
            }
            _ => {
                let e = r.get("error").cloned().unwrap_or(Value::Null);
                let msg = format!(
                    "{}: {}",
                    e.get("type").and_then(Value::as_str).unwrap_or("Error"),
                    e.get("message").and_then(Value::as_str).unwrap_or_default()
                );
                result["error"] = e;
                (false, Some(msg))
            }
        },
        (None, None) => {
            let msg = format!(
                "the Python interpreter ended without a result ({})",
                ended.why_no_report
            );
            let stderr_tail = tail(&ended.stderr.text, 20, 2048);
            (
                false,
                Some(if stderr_tail.is_empty() {
                    msg
                } else {
                    format!("{msg}: {stderr_tail}")
                }),
            )
        }
    };
    let mut out = if succeeded {
        RunOutput::success(result)
    } else {
        let mut o = RunOutput::failure(result);
        o.error = error;
        o.timed_out = ended.timed_out.is_some();
        o
    };
    out.stdout = ended.stdout.text;
    out.stderr = ended.stderr.text;
    out
}

/// Whether `stopped` says the run hit its timeout (and which).
pub(crate) fn timeout_of(stopped: Option<Stopped>) -> Option<Duration> {
    match stopped {
        Some(Stopped::Timeout(t)) => Some(t),
        _ => None,
    }
}

/// A value for an error message: its JSON, cut at 200 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}
