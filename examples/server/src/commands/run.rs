//! `attune run --pack DIR... ACTION [key=value ...]`

use super::{Failure, cli_value, engine_with, wait_for};
use crate::Report;
use crate::cli::RunArgs;
use crate::output::{Style, indent, json_text};
use attune_core::Error;
use attune_core::model::{Execution, ExecutionStatus};
use attune_core::runtime::{LogLine, LogStream};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;

/// Runs the action and waits for it; exit 0 when it succeeded, 1 otherwise.
pub async fn run(
    args: RunArgs,
    setup: &super::Setup,
    style: Style,
    json_out: bool,
) -> Result<Report, Failure> {
    let mut params = Map::new();
    for kv in &args.params {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Failure::Other(format!("param '{kv}' is not of the form key=value")))?;
        if k.is_empty() {
            return Err(Failure::Other(format!("param '{kv}' has an empty key")));
        }
        params.insert(k.to_string(), cli_value(v));
    }
    let wait = wait_for(args.wait)?;
    let engine = engine_with(&args.packs.packs, setup).await?;
    let mut logs = engine.subscribe_logs();
    let id = engine.execute(&args.action, Value::Object(params)).await?;
    // Output lines go to stderr as they come (text mode), so long actions show progress.
    // This engine runs only this execution (and what it starts).
    let echo = |line: LogLine| {
        if !json_out {
            let tag = match line.stream {
                LogStream::Stderr => "stderr",
                _ => "stdout",
            };
            eprintln!("{} {}", style.dim(tag), line.line);
        }
    };
    let waiting = engine.wait_timeout(id, wait);
    tokio::pin!(waiting);
    let waited = loop {
        tokio::select! {
            r = &mut waiting => break r,
            line = logs.recv() => match line {
                Ok(line) => echo(line),
                Err(RecvError::Lagged(n)) => {
                    if !json_out {
                        eprintln!("{}", style.dim(&format!("({n} output lines skipped)")));
                    }
                }
                Err(RecvError::Closed) => {}
            },
        }
    };
    while let Ok(line) = logs.try_recv() {
        echo(line);
    }
    // Past --wait: cancel it, and report what it became (exit 1).
    let mut note = None;
    let exec = match waited {
        Ok(exec) => exec,
        Err(Error::Timeout(_)) => {
            note = Some(format!(
                "not finished within --wait {}s: canceled",
                args.wait
            ));
            engine.cancel(id).await?;
            engine
                .wait_timeout(id, std::time::Duration::from_secs(15))
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    let _ = engine.shutdown(std::time::Duration::from_secs(5)).await;
    let mut text = execution_text(style, &exec);
    if let Some(n) = &note {
        text.push_str(&format!("  {}\n", style.bad(n)));
    }
    Ok(Report {
        text,
        code: u8::from(exec.status != ExecutionStatus::Succeeded),
        json: json!({ "execution": exec, "note": note }),
    })
}

/// An execution as text: status, result, error, stdout/stderr.
pub fn execution_text(style: Style, e: &Execution) -> String {
    let status = format!("{:?}", e.status).to_lowercase();
    let status = if e.status == ExecutionStatus::Succeeded {
        style.good(&status)
    } else {
        style.bad(&status)
    };
    let mut out = format!(
        "execution {} of {}: {status}\n",
        e.id,
        style.bold(&e.action)
    );
    if let Some(r) = &e.result {
        out.push_str(&format!("  result: {}\n", indent(&json_text(r), 4)));
    }
    if let Some(err) = &e.error {
        out.push_str(&format!("  error: {}\n", style.bad(err)));
    }
    for (name, text) in [("stdout", &e.stdout), ("stderr", &e.stderr)] {
        if !text.is_empty() {
            let t = text;
            out.push_str(&format!("  {name}:\n    {}\n", indent(t.trim_end(), 4)));
        }
    }
    out
}
