//! `attune emit --pack DIR... TRIGGER --payload JSON|@FILE|-`

use super::work::{self, Work};
use super::{Failure, read_json_arg, wait_for};
use crate::Report;
use crate::cli::EmitArgs;
use crate::output::Style;
use attune_core::model::{EnforcementStatus, ExecutionStatus};
use serde_json::json;
use std::time::Duration;

/// Emits the event, waits for everything it caused, prints it; exit 0 when every
/// enforcement and execution succeeded, 1 otherwise. A first SIGINT/SIGTERM cancels what it
/// caused (see `work::stop`) and reports what that became.
pub(super) async fn run(
    args: EmitArgs,
    setup: &super::Setup,
    style: Style,
) -> Result<Report, Failure> {
    let payload = match args.payload.as_str() {
        "-" | "@-" => read_json_arg("-", "payload", &setup.interrupt).await?,
        p => match p.strip_prefix('@') {
            Some(file) => read_json_arg(file, "payload", &setup.interrupt).await?,
            None => attune_core::input::parse_json(
                p.as_bytes(),
                "--payload",
                attune_core::input::max_json_values(attune_core::input::MAX_PAYLOAD_BYTES),
            )
            .map_err(|e| Failure::Other(format!("{e} (give JSON, @FILE, or - for stdin)")))?,
        },
    };
    let wait = wait_for(args.wait)?;
    let deadline = tokio::time::Instant::now() + wait;
    let Work { engine, recovery } = work::start(&args.packs.packs, setup).await?;
    let interrupt = &setup.interrupt;
    let event = engine.emit(&args.trigger, payload).await?;
    let mut note = None;
    let interrupted = tokio::select! {
        r = engine.settle(wait) => {
            // Past --wait: cancel what still runs, and report the trace as it is (exit 1).
            if let Err(e) = r {
                note = Some(format!(
                    "not finished within --wait {}s ({e}): canceled",
                    args.wait
                ));
                let trace = engine.trace_event(event).await?;
                for ex in trace.executions.iter().filter(|x| !x.status.is_terminal()) {
                    let _ = engine.cancel(ex.id).await;
                }
                let _ = engine.settle(Duration::from_secs(15)).await;
            }
            false
        }
        _ = interrupt.first() => true,
    };
    let resumed = if interrupted {
        let trace = engine.trace_event(event).await?;
        let own = trace
            .executions
            .iter()
            .filter(|x| !x.status.is_terminal())
            .map(|x| x.id)
            .collect();
        work::stop(engine.clone(), own).await;
        let sig = interrupt.received().map_or("a signal", |s| s.name());
        note = Some(format!("interrupted by {sig}: canceled"));
        recovery.read_resumed(&engine).await
    } else {
        tokio::select! {
            r = recovery.finish(&engine, deadline, Duration::from_secs(15)) => r,
            _ = interrupt.first() => {
                work::stop(engine.clone(), Vec::new()).await;
                recovery.read_resumed(&engine).await
            }
        }
    };
    let trace = engine.trace_event(event).await?;
    engine.shutdown(Duration::from_secs(5)).await;
    let recovery = super::recover::Recovery {
        resumed_final: resumed,
        ..recovery
    };

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
    text.push_str(&recovery.text(style));
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
            "recovery": recovery.json(),
        }),
        text,
        code: u8::from(!all_ok),
    })
}
