//! Hello, Attune: embed the engine, register a native action and a rule, emit events, and
//! print what happened to each.
//!
//! Run it with `cargo run -p attune-example-hello`; set `RUST_LOG=attune_core=debug` to see
//! the pipeline's tracing spans.

use attune_core::model::{Action, Rule, TriggerType};
use attune_core::params::ParamSpec;
use attune_core::{Engine, Result};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The typed params of the `hello.greet` action.
#[derive(Deserialize)]
struct Greet {
    name: String,
    times: u32,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    // State lives in a SQLite file (durable: run it twice and the count below grows). Give
    // another path as the first argument; without a store the engine keeps it in memory.
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("attune-hello.db"));
    let store = attune_store_sqlite::SqliteStore::open(&path)?;
    let engine = Engine::builder()
        .store(std::sync::Arc::new(store))
        .build()
        .await?;
    // Work a previous run left unfinished (none, unless it was killed) carries on.
    engine.recover().await?;

    // A kind of event the host program emits.
    engine
        .register_trigger_type(TriggerType::new("hello.visitor"))
        .await?;

    // An action whose body is an async Rust closure, with a parameter schema.
    let greet = Action::new("hello.greet", "native")
        .description("Greets a visitor")
        .param("name", ParamSpec::string().required())
        .param("times", ParamSpec::integer().default(1).min(1.0).max(3.0));
    engine
        .register_native(greet, |ctx| async move {
            let p: Greet = ctx.params_as()?;
            Ok(json!({ "greeting": vec![format!("Hello, {}!", p.name); p.times as usize].join(" ") }))
        })
        .await?;

    // When a VIP visitor arrives, greet them as many times as their level says.
    engine
        .register_rule(
            Rule::new("hello.greet_vips", "hello.visitor", "hello.greet")
                .criteria(json!({
                    "trigger.vip": {"type": "equals", "pattern": true},
                    "trigger.name": {"type": "regex", "pattern": "^[A-Z]"},
                }))
                .param("name", json!("{{ trigger.name }}"))
                .param("times", json!("{{ trigger.level }}")),
        )
        .await?;

    let visitors = [
        json!({"name": "Ada", "vip": true, "level": 2}),
        json!({"name": "bob", "vip": true, "level": 1}), // criteria: name not capitalised
        json!({"name": "Carol", "vip": false, "level": 1}), // criteria: not a VIP
        json!({"name": "Dan", "vip": true, "level": 9}), // matches, but times > maximum
    ];
    let mut events = Vec::new();
    for v in visitors {
        let name = v["name"].clone();
        events.push((name, engine.emit("hello.visitor", v).await?));
    }
    engine.settle(Duration::from_secs(10)).await?;

    for (name, event) in events {
        let trace = engine.trace_event(event).await?;
        match (trace.enforcements.first(), trace.executions.first()) {
            (None, _) => println!("{name}: no rule matched"),
            (Some(enf), None) => println!(
                "{name}: rule {} failed: {}",
                enf.rule,
                enf.failure.as_deref().unwrap_or("?")
            ),
            (Some(_), Some(exec)) => println!(
                "{name}: execution {} {} → {}",
                exec.id,
                exec.status,
                exec.result.clone().unwrap_or_default()
            ),
        }
    }

    // A direct run, without a rule.
    let exec = engine.run("hello.greet", json!({"name": "World"})).await?;
    println!(
        "direct run: {} → {}",
        exec.status,
        exec.result.unwrap_or_default()
    );

    let all = engine
        .store()
        .count_executions(&attune_core::store::ExecutionFilter::default())
        .await?;
    println!("{} holds {all} executions (run me again)", path.display());
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
