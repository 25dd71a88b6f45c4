//! `attune timer next RULE --pack DIR...`: when a rule's timer fires next.

use super::{Failure, Setup, engine_with};
use crate::Report;
use attune_core::timer::Schedule;
use serde_json::json;
use std::path::PathBuf;

/// The next `count` fire times of `rule`'s timer, from now (an interval counts from now, as
/// a timer started now would).
pub(super) async fn next(
    packs: &[PathBuf],
    rule: &str,
    count: usize,
    setup: &Setup,
) -> Result<Report, Failure> {
    let engine = engine_with(packs, setup).await?;
    let found = engine.rule(rule);
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    let r = found.ok_or_else(|| Failure::Other(format!("rule '{rule}' is not loaded (--pack)")))?;
    let schedule = Schedule::of_trigger(&r.trigger, &r.trigger_params)?.ok_or_else(|| {
        Failure::Other(format!(
            "rule '{rule}' is on trigger type '{}', which is not a timer",
            r.trigger
        ))
    })?;
    let now = chrono::Utc::now();
    let mut at = now;
    let mut times = Vec::new();
    while times.len() < count {
        match schedule.next_after(at, now) {
            Some(t) => {
                times.push(t);
                at = t;
            }
            None => break,
        }
    }
    let mut text: String = times
        .iter()
        .map(|t| format!("{}\n", t.to_rfc3339()))
        .collect();
    if times.is_empty() {
        text.push_str("it fires no more (its time has passed)\n");
    }
    if !r.enabled {
        text.push_str(&format!(
            "note: rule '{rule}' is disabled: its timer does not run\n"
        ));
    }
    Ok(Report {
        json: json!({
            "rule": rule,
            "trigger": r.trigger,
            "enabled": r.enabled,
            "cron": schedule.cron_expression(),
            "next": times.iter().map(|t| t.to_rfc3339()).collect::<Vec<_>>(),
        }),
        text,
        code: 0,
    })
}
