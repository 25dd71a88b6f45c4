//! A secret an action prints encoded (issue 15: `json.dumps` writes `p\u00e4ss…`) is masked
//! in every form an action is likely to print it: JSON-escaped, URL-encoded, base64 — in the
//! stored result and error, and in the streamed output lines.

mod common;

use attune_core::model::{Action, ExecutionStatus};
use attune_core::params::{ParamSpec, REDACTED};
use attune_core::runtime::LogStream;
use attune_core::{Engine, Error};
use common::*;
use serde_json::{Value, json};

/// A secret with two-byte and astral characters and URL delimiters.
const SECRET: &str = "päss wörd/+?&=😀";

/// How programs print [`SECRET`], written out as Python prints them (not computed by the
/// code under test): `json.dumps` (ensure_ascii), the same with upper-case hex digits,
/// `json.dumps(ensure_ascii=False)` (the text itself here), `urllib.parse.quote(s, safe='')`,
/// `quote(s)`, `quote_plus(s)`, lower-case hex, `base64.b64encode` with and without padding.
const PRINTED: [&str; 9] = [
    r"p\u00e4ss w\u00f6rd/+?&=\ud83d\ude00",
    r"p\u00E4ss w\u00F6rd/+?&=\uD83D\uDE00",
    "päss wörd/+?&=😀",
    "p%C3%A4ss%20w%C3%B6rd%2F%2B%3F%26%3D%F0%9F%98%80",
    "p%C3%A4ss%20w%C3%B6rd/%2B%3F%26%3D%F0%9F%98%80",
    "p%C3%A4ss+w%C3%B6rd%2F%2B%3F%26%3D%F0%9F%98%80",
    "p%c3%a4ss%20w%c3%b6rd%2f%2b%3f%26%3d%f0%9f%98%80",
    "cMOkc3Mgd8O2cmQvKz8mPfCfmIA=",
    "cMOkc3Mgd8O2cmQvKz8mPfCfmIA",
];

/// Registers `leak.print`: prints every form of its secret `password` (one line each) and
/// returns them (and fails, naming one, when `fail`).
async fn engine_with_leaky_action() -> Engine {
    let engine = engine().await;
    let action = Action::new("leak.print", "native")
        .param("password", ParamSpec::string().secret().required())
        .param("fail", ParamSpec::boolean());
    engine
        .register_native(action, |ctx| async move {
            for form in PRINTED {
                ctx.log.line(LogStream::Stdout, format!("password={form};"));
            }
            if ctx.param("fail") == Some(&json!(true)) {
                return Err(Error::Action(format!(
                    "could not log in with {}",
                    PRINTED[0]
                )));
            }
            Ok(json!({ "printed": PRINTED, "joined": PRINTED.join(" ") }))
        })
        .await
        .unwrap();
    engine
}

/// Asserts that no printed form of the secret, nor any telling part of one, is in `text`.
fn assert_no_form(text: &str) {
    for form in PRINTED {
        assert!(!text.contains(form), "{form} leaked in {text}");
    }
    for part in ["u00e4", "C3%A4", "c3%a4", "cMOkc3M"] {
        assert!(!text.contains(part), "{part} leaked in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printed_form_is_masked_in_the_stored_result_and_the_log_lines() {
    let engine = engine_with_leaky_action().await;
    let mut logs = engine.subscribe_logs();
    let exec = engine
        .run("leak.print", json!({ "password": SECRET }))
        .await
        .unwrap();
    assert_eq!(exec.status, ExecutionStatus::Succeeded, "{exec:#?}");
    let stored = engine.execution(exec.id).await.unwrap();
    let result = stored.result.clone().expect("a result");
    assert_eq!(
        result["printed"],
        Value::Array(vec![json!(REDACTED); PRINTED.len()]),
        "each printed form is one masked value: {result}"
    );
    assert_eq!(
        result["joined"],
        json!(vec![REDACTED; PRINTED.len()].join(" "))
    );
    assert_no_form(&serde_json::to_string(&stored).unwrap());

    let mut lines = Vec::new();
    while lines.len() < PRINTED.len() {
        let line = tokio::time::timeout(SAFETY, logs.recv())
            .await
            .expect("the printed lines arrive")
            .expect("the log channel is open");
        if line.execution == exec.id {
            lines.push(line.line.to_string());
        }
    }
    for line in &lines {
        assert_eq!(line, &format!("password={REDACTED};"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_form_in_the_error_is_masked() {
    let engine = engine_with_leaky_action().await;
    let exec = engine
        .run("leak.print", json!({ "password": SECRET, "fail": true }))
        .await
        .unwrap();
    assert_eq!(exec.status, ExecutionStatus::Failed, "{exec:#?}");
    let stored = engine.execution(exec.id).await.unwrap();
    assert_eq!(
        stored.error.as_deref(),
        Some(format!("action failed: could not log in with {REDACTED}").as_str())
    );
    assert_no_form(&serde_json::to_string(&stored).unwrap());
}
