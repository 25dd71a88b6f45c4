//! Shared setup of the Attune benchmarks: engines and workloads used by both the criterion
//! micro-benchmarks (`benches/micro.rs`) and the `attune-bench` harness.

pub mod alloc;

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

/// Writes a pack the size of the largest StackStorm-Exchange packs (which are generated
/// from a cloud API: thousands of actions) into `dir`: `actions` Python-runner action files,
/// each with eight parameters (runner overrides, enums, secrets, defaults) and an entry
/// point, a config schema, and one rule per 100 actions.
pub fn write_large_pack(dir: &std::path::Path, actions: usize) -> std::io::Result<()> {
    let a = dir.join("actions");
    std::fs::create_dir_all(&a)?;
    std::fs::create_dir_all(dir.join("rules"))?;
    std::fs::write(
        dir.join("pack.yaml"),
        "name: big\nversion: 1.0.0\ndescription: large\n",
    )?;
    std::fs::write(
        dir.join("config.schema.yaml"),
        "region: {type: string, default: us-east-1}\ntoken: {type: string, secret: true, default: x}\n",
    )?;
    std::fs::write(a.join("run.py"), "# entry point\n")?;
    for i in 0..actions {
        std::fs::write(
            a.join(format!("op_{i}.yaml")),
            format!(
                "---\nname: op_{i}\nrunner_type: python-script\nentry_point: run.py\n\
                 description: Operation number {i} of the generated API\nenabled: true\n\
                 parameters:\n  action:\n    type: string\n    default: op_{i}\n    immutable: true\n\
                 \x20 region:\n    type: string\n    default: us-east-1\n    enum: [us-east-1, eu-west-1, ap-south-1]\n\
                 \x20 token:\n    type: string\n    secret: true\n\
                 \x20 id:\n    type: string\n    required: true\n    description: The resource id\n\
                 \x20 limit:\n    type: integer\n    default: 100\n    minimum: 1\n\
                 \x20 tags:\n    type: array\n    items: {{type: string}}\n\
                 \x20 filters:\n    type: object\n\
                 \x20 dry_run:\n    type: boolean\n    default: false\n"
            ),
        )?;
        if i % 100 == 0 {
            std::fs::write(
                dir.join("rules").join(format!("r_{i}.yaml")),
                format!(
                    "name: r_{i}\ntrigger: {{type: core.webhook, parameters: {{path: p{i}}}}}\n\
                     criteria: {{trigger.body.kind: {{type: equals, pattern: op}}}}\n\
                     action: {{ref: big.op_{i}, parameters: {{id: '{{{{ trigger.body.id }}}}'}}}}\n"
                ),
            )?;
        }
    }
    Ok(())
}
