//! Two engines sharing one PostgreSQL database, as two processes on two hosts would: one
//! store and one transport each, on the same database and schema. Events emitted through
//! either engine are matched, scheduled and run by whichever engine takes them first, once.
//!
//! Run it with `cargo run -p attune-example-postgres [URL]`; the URL defaults to
//! `postgres://postgres@127.0.0.1:5432/postgres`. It works in the schema
//! `attune_example` (created on first use; run it twice and the counts grow).

use attune_core::model::{Rule, TriggerType};
use attune_core::store::ExecutionFilter;
use attune_core::{Engine, Result};
use attune_store_postgres::{PgStore, PgTransport};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// An engine named `name` on its own connections to `url`. Native actions are code, not
/// data: every engine registers its own.
async fn engine(url: &str, name: &str) -> Result<Engine> {
    let store = PgStore::builder(url)
        .schema("attune_example")
        .open()
        .await?;
    let transport = PgTransport::open(&store).await?;
    let engine = Engine::builder()
        .store(Arc::new(store))
        .transport(Arc::new(transport))
        .worker_id(name)
        .build()
        .await?;
    let me = name.to_string();
    engine
        .register_fn("demo.greet", move |ctx| {
            let me = me.clone();
            async move {
                let who = ctx
                    .param("who")
                    .and_then(|v| v.as_str())
                    .unwrap_or("stranger");
                Ok(json!({"greeting": format!("hello, {who}"), "by": me}))
            }
        })
        .await?;
    Ok(engine)
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let a = engine(&url, "engine-a").await?;
    // Definitions live in the database: registered once, every engine reads them.
    a.register_trigger_type(TriggerType::new("demo.visitor"))
        .await?;
    a.register_rule(
        Rule::new("demo.on_visitor", "demo.visitor", "demo.greet")
            .param("who", json!("{{ trigger.name }}")),
    )
    .await?;
    let b = engine(&url, "engine-b").await?;

    for (i, name) in ["ada", "grace", "edsger", "barbara", "ken", "dennis"]
        .iter()
        .enumerate()
    {
        let through = if i % 2 == 0 { &a } else { &b };
        through.emit("demo.visitor", json!({"name": name})).await?;
    }
    // Each engine waits for what it accepted, whichever engine ran it.
    a.settle(Duration::from_secs(30)).await?;
    b.settle(Duration::from_secs(30)).await?;

    let done = a
        .store()
        .list_executions(
            &ExecutionFilter::new().action("demo.greet"),
            &Default::default(),
        )
        .await?;
    let mut by_engine: BTreeMap<String, usize> = BTreeMap::new();
    for x in &done {
        let by = x
            .result
            .as_ref()
            .and_then(|r| r["by"].as_str())
            .unwrap_or("?");
        *by_engine.entry(by.to_string()).or_default() += 1;
    }
    println!(
        "{} executions of demo.greet in the database; ran in: {by_engine:?}",
        done.len()
    );
    for x in done.iter().rev().take(6) {
        println!(
            "  {} {} {}",
            x.id,
            x.status,
            x.result.clone().unwrap_or_default()
        );
    }
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
