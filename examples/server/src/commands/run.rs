//! `attune run --pack DIR... ACTION [key=value ...] [--params @FILE|-]`

use super::work::{self, Work};
use super::{Failure, cli_value, read_json_arg, wait_for};
use crate::Report;
use crate::cli::RunArgs;
use crate::interrupt::Interrupt;
use crate::output::{Style, indent, json_text};
use attune_core::Error;
use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_core::runtime::{LogLine, LogStream};
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The params: those of `--params` (a JSON object from a file or stdin), then the
/// `key=value` arguments, which win over the file's.
pub(super) async fn params(
    params_from: &Option<String>,
    pairs: &[String],
    interrupt: &Interrupt,
) -> Result<Map<String, Value>, Failure> {
    let mut params = match params_from.as_deref() {
        None => Map::new(),
        Some(from) => {
            let arg = match from {
                "-" | "@-" => "-",
                other => other.strip_prefix('@').ok_or_else(|| {
                    Failure::Other(format!(
                        "--params {other}: give @FILE (a JSON object in a file) or - (stdin); \
                         key=value arguments take params on the command line"
                    ))
                })?,
            };
            match read_json_arg(arg, "params", interrupt).await? {
                Value::Object(m) => m,
                other => {
                    let kind = match other {
                        Value::Array(_) => "an array",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "a boolean",
                        _ => "null",
                    };
                    let from = if arg == "-" {
                        "params from stdin".to_string()
                    } else {
                        format!("params file '{arg}'")
                    };
                    return Err(Failure::Other(format!(
                        "{from}: it is {kind}; give a JSON object of params, {{\"name\": value}}"
                    )));
                }
            }
        }
    };
    for kv in pairs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Failure::Other(format!("param '{kv}' is not of the form key=value")))?;
        if k.is_empty() {
            return Err(Failure::Other(format!("param '{kv}' has an empty key")));
        }
        params.insert(k.to_string(), cli_value(v));
    }
    Ok(params)
}

/// Runs the action and waits for it; exit 0 when it succeeded, 1 otherwise. A first
/// SIGINT/SIGTERM cancels it (see `work::stop`) and reports what it became.
pub(super) async fn run(
    args: RunArgs,
    setup: &super::Setup,
    json_out: bool,
) -> Result<Report, Failure> {
    let params = params(&args.params_from, &args.params, &setup.interrupt).await?;
    let wait = wait_for(args.wait)?;
    let deadline = tokio::time::Instant::now() + wait;
    let work = work::start(&args.packs.packs, setup).await?;
    let logs = work.engine.subscribe_logs();
    let id = match &args.user {
        Some(u) => {
            work.engine
                .execute_as(u, &args.action, Value::Object(params))
                .await?
        }
        None => {
            work.engine
                .execute(&args.action, Value::Object(params))
                .await?
        }
    };
    follow(work, logs, id, args.wait, deadline, setup, json_out).await
}

/// Follows execution `id` (started by this command, or resumed here) to its end, echoing
/// its output, then what recovery handed on, within `--wait` (`wait_secs`, ending at
/// `deadline`; past it `id` is canceled); exit 0 when it succeeded, asks a question
/// (`pending`) or was paused, 1 otherwise. A first SIGINT/SIGTERM cancels it (see `work::stop`) and
/// reports what it became. `logs` was subscribed before `id` could write any.
pub(super) async fn follow(
    work: Work,
    mut logs: tokio::sync::broadcast::Receiver<LogLine>,
    id: ExecutionId,
    wait_secs: f64,
    deadline: tokio::time::Instant,
    setup: &super::Setup,
    json_out: bool,
) -> Result<Report, Failure> {
    let Work { engine, recovery } = work;
    let style = setup.style;
    let interrupt = &setup.interrupt;
    let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
    // Output lines go to stderr as they come (text mode), so long actions show progress.
    let echo = |line: LogLine| {
        if !json_out {
            let tag = match line.stream {
                LogStream::Stderr => "stderr",
                _ => "stdout",
            };
            eprintln!("{} {}", style.dim(tag), line.line);
        }
    };
    let waiting = until_ended_or_asking(&engine, id, wait);
    tokio::pin!(waiting);
    // Set at the first signal: the task canceling the work (output is still echoed meanwhile).
    let mut stopping = None;
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
            _ = interrupt.first(), if stopping.is_none() => {
                stopping = Some(tokio::spawn(work::stop(engine.clone(), vec![id])));
            }
        }
    };
    while let Ok(line) = logs.try_recv() {
        echo(line);
    }
    let mut note = None;
    let (exec, resumed) = if let Some(stopping) = stopping {
        let _ = stopping.await;
        let sig = interrupt.received().map_or("a signal", |s| s.name());
        note = Some(format!("interrupted by {sig}: canceled"));
        (
            engine.execution(id).await?,
            recovery.read_resumed(&engine).await,
        )
    } else {
        let exec = match waited {
            Ok(exec) => exec,
            // Past --wait: cancel it, and report what it became (exit 1).
            Err(Error::Timeout(_)) => {
                note = Some(format!("not finished within --wait {wait_secs}s: canceled"));
                engine.cancel(id).await?;
                engine.wait_timeout(id, Duration::from_secs(15)).await?
            }
            Err(e) => return Err(e.into()),
        };
        // Then the work recovery handed on: stored executions, and what events matched
        // again started (settled within what is left of --wait).
        let others = async {
            let r = recovery
                .finish(&engine, deadline, Duration::from_secs(15))
                .await;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let _ = engine.settle(left).await;
            r
        };
        let resumed = tokio::select! {
            r = others => r,
            _ = interrupt.first() => {
                work::stop(engine.clone(), Vec::new()).await;
                recovery.read_resumed(&engine).await
            }
        };
        (exec, resumed)
    };
    engine.shutdown(Duration::from_secs(5)).await;
    let recovery = super::recover::Recovery {
        resumed_final: resumed,
        ..recovery
    };
    let asking = exec.status == ExecutionStatus::Pending;
    let paused = exec.status == ExecutionStatus::Paused;
    if asking && note.is_none() {
        note = Some(format!(
            "waiting for a response: attune inquiry respond {} JSON --db FILE",
            exec.id
        ));
    }
    if paused && note.is_none() {
        let asked = engine
            .inquiries()
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|i| i.parent == Some(exec.id)));
        note = Some(match asked {
            Some(i) => format!(
                "paused for inquiry {}: attune inquiry respond {} JSON --db FILE answers it \
                 and continues the workflow",
                i.id, i.id
            ),
            None => format!(
                "paused: attune execution resume {} --pack DIR... --db FILE continues it",
                exec.id
            ),
        });
    }
    let mut text = execution_text(style, &exec);
    if let Some(n) = &note {
        text.push_str(&format!("  {}\n", style.bad(n)));
    }
    text.push_str(&recovery.text(style));
    Ok(Report {
        text,
        // An inquiry that was asked did what it should: the response comes later.
        code: u8::from(exec.status != ExecutionStatus::Succeeded && !asking && !paused),
        json: json!({ "execution": exec, "note": note, "recovery": recovery.json() }),
    })
}

/// Waits until execution `id` ended, waits for a response (an inquiry, `pending`), or was
/// paused; at most `wait` (then Error::Timeout).
async fn until_ended_or_asking(
    engine: &attune_core::Engine,
    id: attune_core::model::ExecutionId,
    wait: Duration,
) -> attune_core::Result<Execution> {
    let mut sub = engine.subscribe().await?;
    let watch = async {
        loop {
            let e = engine.execution(id).await?;
            if e.status.is_terminal()
                || matches!(e.status, ExecutionStatus::Pending | ExecutionStatus::Paused)
            {
                return Ok(e);
            }
            // A shutdown may stop the engine's stages before the end is announced: the
            // store is the truth, so it is read again at least every 250 ms.
            match tokio::time::timeout(Duration::from_millis(250), sub.next()).await {
                Ok(Ok(None)) => return engine.execution(id).await,
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Some(_))) | Err(_) => {}
            }
        }
    };
    tokio::time::timeout(wait, watch)
        .await
        .map_err(|_| Error::Timeout(format!("execution '{id}' did not finish within {wait:?}")))?
}

/// An execution as text: status, result, error, stdout/stderr.
pub(super) fn execution_text(style: Style, e: &Execution) -> String {
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
