//! Helpers shared by the engine integration tests (tests/engine_*.rs).
#![allow(dead_code)]

pub(crate) mod hooked_store;

use attune_core::model::{
    Enforcement, EnforcementStatus, Execution, ExecutionStatus, Rule, TriggerType,
};
use attune_core::store::ExecutionFilter;
use attune_core::{Engine, EventTrace};
use serde_json::{Value, json};
use std::time::Duration;

/// The safety net for every wait in these tests (never a timing assertion).
pub(crate) const SAFETY: Duration = Duration::from_secs(10);

/// A pack directory in a temporary directory, written file by file (`(path, text)`).
pub(crate) fn write_pack(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// An engine with the defaults.
pub(crate) async fn engine() -> Engine {
    Engine::builder().build().await.expect("engine builds")
}

/// Registers the trigger `ok.ping`, the native action `ok.echo` (returns its params) and the
/// rule `ok.on_ping` passing `{"n": "{{ trigger.n }}"}`; used to prove the engine still serves.
pub(crate) async fn install_probe(engine: &Engine) {
    engine
        .register_trigger_type(TriggerType::new("ok.ping"))
        .await
        .unwrap();
    engine
        .register_fn(
            "ok.echo",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ok.on_ping", "ok.ping", "ok.echo").param("n", json!("{{ trigger.n }}")),
        )
        .await
        .unwrap();
}

/// Emits a good `ok.ping` event and asserts it produced one succeeded execution.
pub(crate) async fn assert_still_serving(engine: &Engine) {
    let event = engine
        .emit("ok.ping", json!({"n": 42}))
        .await
        .expect("a good event is accepted");
    engine.settle(SAFETY).await.expect("pipeline settles");
    let trace = engine.trace_event(event).await.unwrap();
    assert_eq!(trace.executions.len(), 1, "{trace:#?}");
    let exec = &trace.executions[0];
    assert_eq!(exec.status, ExecutionStatus::Succeeded, "{exec:#?}");
    assert_eq!(exec.result, Some(json!({"n": 42})));
}

/// Emits an event, waits for the pipeline, and returns its trace.
pub(crate) async fn emit_and_trace(engine: &Engine, trigger: &str, payload: Value) -> EventTrace {
    let event = engine.emit(trigger, payload).await.expect("emit");
    engine.settle(SAFETY).await.expect("pipeline settles");
    engine.trace_event(event).await.expect("trace")
}

/// The single enforcement of `trace`, asserting there is exactly one.
pub(crate) fn only_enforcement(trace: &EventTrace) -> &Enforcement {
    assert_eq!(trace.enforcements.len(), 1, "{trace:#?}");
    &trace.enforcements[0]
}

/// The single execution of `trace`, asserting there is exactly one.
pub(crate) fn only_execution(trace: &EventTrace) -> &Execution {
    assert_eq!(trace.executions.len(), 1, "{trace:#?}");
    &trace.executions[0]
}

/// Asserts that the only enforcement of `trace` failed and created no execution, and returns
/// its failure message.
pub(crate) fn failed_enforcement(trace: &EventTrace) -> String {
    let enf = only_enforcement(trace);
    assert_eq!(enf.status, EnforcementStatus::Failed, "{enf:#?}");
    assert!(enf.execution.is_none(), "{enf:#?}");
    assert!(trace.executions.is_empty(), "{trace:#?}");
    enf.failure
        .clone()
        .expect("a failed enforcement records why")
}

/// Number of executions in the store.
pub(crate) async fn execution_count(engine: &Engine) -> u64 {
    engine
        .store()
        .count_executions(&ExecutionFilter::default())
        .await
        .unwrap()
}

/// Number of executions of one rule.
pub(crate) async fn executions_of_rule(engine: &Engine, rule: &str) -> u64 {
    let filter = ExecutionFilter::new().rule(rule);
    engine.store().count_executions(&filter).await.unwrap()
}

/// Polls the store until `id` reaches `status` (safety net: [`SAFETY`]).
pub(crate) async fn wait_for_status(
    engine: &Engine,
    id: attune_core::model::ExecutionId,
    status: ExecutionStatus,
) -> Execution {
    wait_until(engine, id, &format!("reaching {status}"), |e| {
        e.status == status
    })
    .await
}

/// Polls execution `id` until `check` holds and returns it; the safety deadline fails the
/// test, naming `what` and the execution.
pub(crate) async fn wait_until(
    engine: &Engine,
    id: attune_core::model::ExecutionId,
    what: &str,
    check: impl Fn(&Execution) -> bool,
) -> Execution {
    let until = tokio::time::Instant::now() + SAFETY;
    loop {
        let e = engine.execution(id).await.unwrap();
        if check(&e) {
            return e;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{what}: never happened (execution is {}): {e:#?}",
            e.status
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The stored events of `trigger` (first page of 100).
pub(crate) async fn events_of(engine: &Engine, trigger: &str) -> Vec<attune_core::model::Event> {
    let filter = attune_core::store::EventFilter::new().trigger(trigger);
    engine
        .store()
        .list_events(&filter, &attune_core::store::Page::first(100))
        .await
        .expect("list_events")
}

/// A runtime that succeeds with `{}` under any name (for packs whose actions need a
/// runtime these tests do not have, e.g. `shell`).
#[derive(Debug)]
pub(crate) struct StubRuntime(pub &'static str);

#[async_trait::async_trait]
impl attune_core::runtime::Runtime for StubRuntime {
    fn name(&self) -> &str {
        self.0
    }

    async fn run(
        &self,
        _request: attune_core::runtime::RunRequest,
    ) -> attune_core::Result<attune_core::runtime::RunOutput> {
        Ok(attune_core::runtime::RunOutput::success(json!({})))
    }
}

/// An engine that also has a stub `shell` runtime (the example pack has shell actions).
pub(crate) async fn engine_with_stub_shell() -> Engine {
    Engine::builder()
        .runtime(std::sync::Arc::new(StubRuntime("shell")))
        .build()
        .await
        .expect("engine builds")
}

/// The task executions of workflow execution `parent`, in creation order.
pub(crate) async fn children(
    engine: &Engine,
    parent: attune_core::model::ExecutionId,
) -> Vec<Execution> {
    let filter = ExecutionFilter::new().parent(parent);
    engine
        .store()
        .list_executions(&filter, &attune_core::store::Page::first(10_000))
        .await
        .unwrap()
}
