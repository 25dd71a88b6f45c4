//! Shared setup of the Attune benchmarks: engines and workloads used by both the criterion
//! micro-benchmarks (`benches/micro.rs`) and the `attune-bench` harness.

use attune_core::model::{Rule, TriggerType};
use attune_core::{Engine, EngineBuilder, Result};
use serde_json::{Value, json};

/// Peak resident set size of this process in MiB (VmHWM), 0 when unknown.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The pipeline workload: trigger `bench.tick`, a no-op native action `bench.noop`, and one
/// rule with one criterion and one templated param.
pub async fn pipeline_engine(builder: EngineBuilder) -> Result<Engine> {
    let engine = builder.build().await?;
    engine
        .register_trigger_type(TriggerType::new("bench.tick"))
        .await?;
    engine
        .register_fn("bench.noop", |ctx| async move {
            Ok(ctx.param("n").cloned().unwrap_or(Value::Null))
        })
        .await?;
    engine
        .register_rule(
            Rule::new("bench.on_tick", "bench.tick", "bench.noop")
                .criteria(json!({"trigger.kind": {"type": "equals", "pattern": "tick"}}))
                .param("n", json!("{{ trigger.n }}")),
        )
        .await?;
    Ok(engine)
}

/// An engine with `triggers` trigger types and `rules_per_trigger` rules on each (criteria
/// on `trigger.level` and `trigger.host`; half of them match the payload of [`match_payload`]).
pub async fn many_rules_engine(triggers: usize, rules_per_trigger: usize) -> Result<Engine> {
    let engine = Engine::builder().build().await?;
    engine
        .register_fn("bench.noop", |_ctx| async move { Ok(Value::Null) })
        .await?;
    for t in 0..triggers {
        let trigger = format!("bench.t{t}");
        engine
            .register_trigger_type(TriggerType::new(&trigger))
            .await?;
        for r in 0..rules_per_trigger {
            let level = if r % 2 == 0 { "high" } else { "low" };
            engine
                .register_rule(
                    Rule::new(format!("bench.r{t}_{r}"), &trigger, "bench.noop").criteria(json!({
                        "trigger.level": {"type": "equals", "pattern": level},
                        "trigger.host": {"type": "startswith", "pattern": "web-"},
                    })),
                )
                .await?;
        }
    }
    Ok(engine)
}

/// The payload the many-rules engine matches against.
pub fn match_payload() -> Value {
    json!({"level": "high", "host": "web-01", "message": "disk full", "value": 97})
}
