//! `attune sensor list --pack DIR...`: the sensors of packs, and whether `serve` runs them.

use super::{Failure, Setup, engine_with};
use crate::Report;
use crate::output::Style;
use attune_core::sensor::SensorState;
use serde_json::json;
use std::path::PathBuf;

/// Lists the sensors of `packs` (and of the `--db` file): ref, runner, trigger types, and
/// whether an enabled rule uses one of its trigger types (`serve` runs those). States of a
/// running `serve` are in its log; this command starts no sensor.
pub(super) async fn list(
    packs: &[PathBuf],
    setup: &Setup,
    style: Style,
) -> Result<Report, Failure> {
    let engine = engine_with(packs, setup).await?;
    let sensors = engine.sensors();
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    let mut text = String::new();
    let mut rows = Vec::new();
    for s in &sensors {
        let used = s.used_by_rules;
        let runs = match &s.state {
            SensorState::Disabled => "disabled".to_string(),
            // This command starts no sensor.
            _ if used => "runs (a rule uses it)".to_string(),
            _ => "idle (no enabled rule uses its trigger types)".to_string(),
        };
        text.push_str(&format!(
            "{} [{}] {} → {}\n",
            style.good(&s.sensor_ref),
            s.runner,
            runs,
            s.trigger_types.join(", ")
        ));
        rows.push(json!({
            "ref": s.sensor_ref,
            "runner": s.runner,
            "trigger_types": s.trigger_types,
            "used_by_rules": used,
            "enabled": s.state != SensorState::Disabled,
        }));
    }
    if sensors.is_empty() {
        text.push_str("no sensors\n");
    }
    Ok(Report {
        json: json!({ "sensors": rows }),
        text,
        code: 0,
    })
}
