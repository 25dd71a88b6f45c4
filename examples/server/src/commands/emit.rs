//! `attune emit --pack DIR... TRIGGER --payload JSON|@FILE`

use super::{Failure, engine_with, read_json_file, wait_for};
use crate::Report;
use crate::cli::EmitArgs;
use crate::output::Style;
use attune_core::model::{EnforcementStatus, ExecutionStatus};
use serde_json::json;

/// Emits the event, waits for everything it caused, prints it; exit 0 when every
/// enforcement and execution succeeded, 1 otherwise.
pub async fn run(args: EmitArgs, setup: &super::Setup, style: Style) -> Result<Report, Failure> {
    let payload = match args.payload.strip_prefix('@') {
        Some(file) => read_json_file(file, "payload file")?,
        None => match serde_json::from_str(&args.payload) {
            Ok(v) => v,
            Err(e) => {
                return Err(Failure::Other(format!(
                    "--payload is not valid JSON: {e} (give JSON, or @FILE)"
                )));
            }
        },
    };
    let wait = wait_for(args.wait)?;
    let engine = engine_with(&args.packs.packs, setup).await?;
    let event = engine.emit(&args.trigger, payload).await?;
    // Past --wait: cancel what still runs, and report the trace as it is (exit 1).
    let mut note = None;
    if let Err(e) = engine.settle(wait).await {
        note = Some(format!(
            "not finished within --wait {}s ({e}): canceled",
            args.wait
        ));
        let trace = engine.trace_event(event).await?;
        for ex in trace.executions.iter().filter(|x| !x.status.is_terminal()) {
            let _ = engine.cancel(ex.id).await;
        }
        let _ = engine.settle(std::time::Duration::from_secs(15)).await;
    }
    let trace = engine.trace_event(event).await?;
    let _ = engine.shutdown(std::time::Duration::from_secs(5)).await;

    let mut text = format!(
        "event {} of {}\n",
        trace.event.id,
        style.bold(&trace.event.trigger)
    );
    if trace.enforcements.is_empty() {
        text.push_str("  no rule matched\n");
    }
    for enf in &trace.enforcements {
        let status = format!("{:?}", enf.status).to_lowercase();
        let status = if enf.status == EnforcementStatus::Failed {
            style.bad(&status)
        } else {
            style.good(&status)
        };
        text.push_str(&format!(
            "  rule {}: enforcement {status}\n",
            style.bold(&enf.rule)
        ));
        if let Some(reason) = &enf.failure {
            text.push_str(&format!("    {}\n", style.bad(reason)));
        }
        for e in trace
            .executions
            .iter()
            .filter(|e| e.enforcement == Some(enf.id))
        {
            for line in super::run::execution_text(style, e).lines() {
                text.push_str("    ");
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    if let Some(n) = &note {
        text.push_str(&format!("  {}\n", style.bad(n)));
    }
    let all_ok = note.is_none()
        && trace
            .enforcements
            .iter()
            .all(|e| e.status != EnforcementStatus::Failed)
        && trace
            .executions
            .iter()
            .all(|e| e.status == ExecutionStatus::Succeeded);
    Ok(Report {
        json: json!({
            "event": trace.event,
            "enforcements": trace.enforcements,
            "executions": trace.executions,
            "note": note,
        }),
        text,
        code: u8::from(!all_ok),
    })
}
