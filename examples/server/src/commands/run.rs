//! `attune run --pack DIR... ACTION [key=value ...]`

use super::{Failure, cli_value, engine_with, wait_for};
use crate::Report;
use crate::cli::RunArgs;
use crate::output::{Style, indent, json_text};
use attune_core::model::{Execution, ExecutionStatus};
use attune_core::pack::PackOptions;
use attune_core::runtime::LogStream;
use serde_json::{Map, Value, json};

/// Runs the action and waits for it; exit 0 when it succeeded, 1 otherwise.
pub async fn run(
    args: RunArgs,
    options: &PackOptions,
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
    let engine = engine_with(&args.packs.packs, options).await?;
    let mut logs = engine.subscribe_logs();
    // Output lines go to stderr as they come (text mode), so long actions show progress.
    // This engine runs only this execution (and what it starts).
    let echo = (!json_out).then(|| {
        tokio::spawn(async move {
            while let Ok(line) = logs.recv().await {
                let tag = match line.stream {
                    LogStream::Stderr => "stderr",
                    _ => "stdout",
                };
                eprintln!("{} {}", style.dim(tag), line.line);
            }
        })
    });
    let exec = tokio::time::timeout(wait, engine.run(&args.action, Value::Object(params)))
        .await
        .map_err(|_| {
            Failure::Other(format!(
                "the execution did not finish within {}s",
                args.wait
            ))
        })??;
    if let Some(task) = echo {
        task.abort();
    }
    let _ = engine.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(Report {
        text: execution_text(style, &exec),
        code: u8::from(exec.status != ExecutionStatus::Succeeded),
        json: json!({ "execution": exec }),
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
