//! The event → rule → enforcement → execution pipeline, end to end, through the public API.

mod common;

use attune_core::model::{
    Action, EnforcementStatus, ExecutionStatus, Key, KeyScope, Pack, Rule, TriggerType,
};
use attune_core::params::ParamSpec;
use attune_core::runtime::{LogStream, typed};
use attune_core::{Engine, Error};
use common::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Registers trigger `demo.alert` and native action `demo.echo` (returns its params).
async fn demo_engine() -> Engine {
    let engine = engine().await;
    engine
        .register_trigger_type(TriggerType::new("demo.alert"))
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("demo.other"))
        .await
        .unwrap();
    engine
        .register_fn(
            "demo.echo",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    engine
}

fn high_only(rule_ref: &str) -> Rule {
    Rule::new(rule_ref, "demo.alert", "demo.echo")
        .criteria(json!({"trigger.level": {"type": "equals", "pattern": "high"}}))
        .param("rule", json!(rule_ref))
}

// A matching event runs the action once; a single-expression template keeps its JSON type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_event_runs_the_action_with_typed_params() {
    let engine = engine().await;
    engine
        .register_trigger_type(TriggerType::new("demo.alert"))
        .await
        .unwrap();
    let action = Action::new("demo.record", "native")
        .param("count", ParamSpec::integer().required())
        .param("tags", ParamSpec::array())
        .param("text", ParamSpec::string());
    engine
        .register_native(action, |ctx| async move { Ok(Value::Object(ctx.params)) })
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("demo.on_alert", "demo.alert", "demo.record")
                .criteria(json!({"trigger.level": {"type": "equals", "pattern": "high"}}))
                .param("count", json!("{{ trigger.count }}"))
                .param("tags", json!("{{ trigger.tags }}"))
                .param(
                    "text",
                    json!("host {{ trigger.host }} has {{ trigger.count }}"),
                ),
        )
        .await
        .unwrap();

    let payload = json!({"level": "high", "count": 3, "tags": ["a", "b"], "host": "db1"});
    let trace = emit_and_trace(&engine, "demo.alert", payload).await;
    let enf = only_enforcement(&trace);
    assert_eq!(enf.status, EnforcementStatus::Processed);
    assert_eq!(enf.rule, "demo.on_alert");
    let exec = only_execution(&trace);
    assert_eq!(exec.status, ExecutionStatus::Succeeded);
    assert_eq!(enf.execution, Some(exec.id));
    let expected = json!({"count": 3, "tags": ["a", "b"], "text": "host db1 has 3"});
    assert_eq!(exec.params, expected);
    assert_eq!(exec.result, Some(expected));
}

// Several rules on one trigger each get exactly one enforcement per event, and one execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_enforcement_per_rule_and_event() {
    let engine = demo_engine().await;
    for r in ["demo.r1", "demo.r2", "demo.r3"] {
        engine.register_rule(high_only(r)).await.unwrap();
    }
    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(
            engine
                .emit("demo.alert", json!({"level": "high"}))
                .await
                .unwrap(),
        );
    }
    engine.settle(SAFETY).await.unwrap();
    for event in events {
        let trace = engine.trace_event(event).await.unwrap();
        let mut rules: Vec<&str> = trace.enforcements.iter().map(|e| e.rule.as_str()).collect();
        rules.sort();
        assert_eq!(rules, ["demo.r1", "demo.r2", "demo.r3"], "{trace:#?}");
        assert!(
            trace
                .enforcements
                .iter()
                .all(|e| e.status == EnforcementStatus::Processed)
        );
        assert_eq!(trace.executions.len(), 3);
        assert!(
            trace
                .executions
                .iter()
                .all(|e| e.status == ExecutionStatus::Succeeded)
        );
    }
    assert_eq!(executions_of_rule(&engine, "demo.r2").await, 5);
    assert_eq!(execution_count(&engine).await, 15);
}

// An event that fails the criteria creates no enforcement and no execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_matching_event_creates_nothing() {
    let engine = demo_engine().await;
    engine.register_rule(high_only("demo.r1")).await.unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"level": "low"})).await;
    assert!(trace.enforcements.is_empty(), "{trace:#?}");
    assert!(trace.executions.is_empty());
    let trace = emit_and_trace(&engine, "demo.alert", json!({"other": 1})).await;
    assert!(trace.enforcements.is_empty(), "{trace:#?}");
    assert_eq!(execution_count(&engine).await, 0);
}

// Rules listening to another trigger are not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_on_other_triggers_are_untouched() {
    let engine = demo_engine().await;
    engine
        .register_rule(Rule::new("demo.on_alert", "demo.alert", "demo.echo"))
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("demo.on_other", "demo.other", "demo.echo"))
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({})).await;
    assert_eq!(only_enforcement(&trace).rule, "demo.on_alert");
    assert_eq!(
        only_execution(&trace).rule.as_deref(),
        Some("demo.on_alert")
    );
    assert_eq!(executions_of_rule(&engine, "demo.on_other").await, 0);
}

// A disabled rule is not applied; enabling it again makes it apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_rule_does_nothing() {
    let engine = demo_engine().await;
    engine
        .register_rule(high_only("demo.off").enabled(false))
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"level": "high"})).await;
    assert!(trace.enforcements.is_empty(), "{trace:#?}");
    assert_eq!(execution_count(&engine).await, 0);
    engine.register_rule(high_only("demo.off")).await.unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"level": "high"})).await;
    assert_eq!(only_execution(&trace).status, ExecutionStatus::Succeeded);
}

// A backstop rule fires only for events no standard rule matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backstop_fires_only_when_no_standard_rule_matched() {
    let engine = demo_engine().await;
    engine
        .register_rule(high_only("demo.standard"))
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("demo.fallback", "demo.alert", "demo.echo")
                .param("rule", json!("demo.fallback"))
                .backstop(),
        )
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"level": "high"})).await;
    assert_eq!(only_enforcement(&trace).rule, "demo.standard");
    let trace = emit_and_trace(&engine, "demo.alert", json!({"level": "low"})).await;
    assert_eq!(only_enforcement(&trace).rule, "demo.fallback");
    assert_eq!(
        only_execution(&trace).result,
        Some(json!({"rule": "demo.fallback"}))
    );
}

// A Rhai `expression` condition decides the match over the payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_expression_condition() {
    let engine = demo_engine().await;
    engine
        .register_rule(
            Rule::new("demo.big", "demo.alert", "demo.echo")
                .expression("payload.n > 10 && event.trigger == \"demo.alert\""),
        )
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"n": 11})).await;
    assert_eq!(only_execution(&trace).status, ExecutionStatus::Succeeded);
    let trace = emit_and_trace(&engine, "demo.alert", json!({"n": 10})).await;
    assert!(trace.enforcements.is_empty(), "{trace:#?}");
}

// Templates see event.id, event.trigger, event.payload, trigger, rule.ref and pack.config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_see_event_rule_and_pack_config() {
    let engine = demo_engine().await;
    engine
        .register_pack(Pack::new("cfg").with_config(json!({"region": "eu-1", "retries": 3})))
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("cfg.templated", "demo.alert", "demo.echo")
                .param("id", json!("{{ event.id }}"))
                .param("trigger_ref", json!("{{ event.trigger }}"))
                .param("from_event", json!("{{ event.payload.x }}"))
                .param("from_trigger", json!("{{ trigger.x }}"))
                .param("rule", json!("{{ rule.ref }}"))
                .param("region", json!("{{ pack.config.region }}"))
                .param("retries", json!("{{ pack.config.retries }}")),
        )
        .await
        .unwrap();
    let event = engine
        .emit("demo.alert", json!({"x": [1, 2]}))
        .await
        .unwrap();
    engine.settle(SAFETY).await.unwrap();
    let trace = engine.trace_event(event).await.unwrap();
    let exec = only_execution(&trace);
    assert_eq!(
        exec.params,
        json!({
            "id": event.to_string(),
            "trigger_ref": "demo.alert",
            "from_event": [1, 2],
            "from_trigger": [1, 2],
            "rule": "cfg.templated",
            "region": "eu-1",
            "retries": 3,
        })
    );
}

// `{{ kv.system.NAME }}` reads a system key put in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_system_namespace_in_templates() {
    let engine = demo_engine().await;
    let key = Key::new(
        KeyScope::System,
        "greeting",
        json!("hello"),
        chrono::Utc::now(),
    );
    engine.store().put_key(&key).await.unwrap();
    engine
        .register_rule(
            Rule::new("demo.kv", "demo.alert", "demo.echo")
                .param("msg", json!("{{ kv.system.greeting }}, {{ trigger.who }}")),
        )
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"who": "ops"})).await;
    assert_eq!(only_execution(&trace).params, json!({"msg": "hello, ops"}));
}

// execute() runs an action directly; wait/run return the finished execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_and_run_directly() {
    let engine = demo_engine().await;
    let id = engine.execute("demo.echo", json!({"a": 1})).await.unwrap();
    let done = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"a": 1})));
    assert!(done.enforcement.is_none() && done.event.is_none() && done.rule.is_none());
    let run = engine.run("demo.echo", json!({"b": true})).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert_eq!(run.result, Some(json!({"b": true})));
}

// A native run is polled once where it starts (`Runtime::starts_inline`); one that does not
// end on that poll gets a task of its own and is woken there: by a timer, by a message the
// host sends once it saw the run `running`, and by nothing at all when its first poll
// panics (the run fails, the engine goes on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_runs_that_wait_on_their_first_poll_are_woken_later() {
    let engine = demo_engine().await;
    engine
        .register_fn("demo.sleepy", |_ctx| async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(json!("slept"))
        })
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<Value>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    engine
        .register_fn("demo.waits", move |_ctx| {
            let rx = rx.lock().unwrap().take();
            async move {
                let rx = rx.ok_or_else(|| Error::Action("run twice".into()))?;
                rx.await.map_err(|_| Error::Action("sender dropped".into()))
            }
        })
        .await
        .unwrap();
    engine
        .register_fn("demo.panics", |_ctx| async move {
            if true {
                panic!("at once");
            }
            Ok(Value::Null)
        })
        .await
        .unwrap();
    let sleepy = engine.execute("demo.sleepy", json!({})).await.unwrap();
    let waits = engine.execute("demo.waits", json!({})).await.unwrap();
    let panics = engine.execute("demo.panics", json!({})).await.unwrap();
    // The run waits for the host, which answers only once the run is `running`.
    loop {
        let x = engine.execution(waits).await.unwrap();
        if x.status == ExecutionStatus::Running {
            break;
        }
        assert!(!x.status.is_terminal(), "{:?}", x.status);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    tx.send(json!({"answer": 42})).unwrap();
    let done = engine.wait_timeout(sleepy, SAFETY).await.unwrap();
    assert_eq!(
        (done.status, done.result),
        (ExecutionStatus::Succeeded, Some(json!("slept")))
    );
    let done = engine.wait_timeout(waits, SAFETY).await.unwrap();
    assert_eq!(
        (done.status, done.result),
        (ExecutionStatus::Succeeded, Some(json!({"answer": 42})))
    );
    let done = engine.wait_timeout(panics, SAFETY).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert!(
        done.error
            .as_deref()
            .unwrap_or_default()
            .contains("at once"),
        "{:?}",
        done.error
    );
    // The engine still runs what comes next.
    let again = engine
        .run("demo.echo", json!({"after": true}))
        .await
        .unwrap();
    assert_eq!(again.result, Some(json!({"after": true})));
}

// A native run that ends on its first poll gets no task of its own: the runs started
// together share the task of the stage that started them (each would have its own task id
// otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_runs_that_end_at_once_get_no_task_of_their_own() {
    let engine = demo_engine().await;
    let tasks = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let seen = tasks.clone();
    engine
        .register_fn("demo.where", move |_ctx| {
            seen.lock().unwrap().insert(tokio::task::try_id());
            async move { Ok(Value::Null) }
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(engine.execute("demo.where", json!({})).await.unwrap());
    }
    for id in ids {
        let done = engine.wait_timeout(id, SAFETY).await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Succeeded);
    }
    let tasks = tasks.lock().unwrap();
    assert!(!tasks.contains(&None), "a run was polled outside any task");
    assert!(
        tasks.len() < 50,
        "200 runs in {} tasks: the runs got tasks of their own",
        tasks.len()
    );
}

#[derive(serde::Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

// A typed native handler receives deserialized params; params that do not fit fail the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_native_handler() {
    let engine = engine().await;
    engine
        .register_fn("math.add", typed(|p: Add| async move { Ok(p.a + p.b) }))
        .await
        .unwrap();
    let run = engine
        .run("math.add", json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert_eq!(run.result, Some(json!(5)));
    let run = engine.run("math.add", json!({"a": 2})).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    let err = run.error.unwrap_or_default();
    assert!(err.contains("math.add") && err.contains('b'), "{err}");
}

// A rhai action sees its params as variables and returns the script's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_action_uses_params_as_variables() {
    let engine = engine().await;
    let action = Action::new("calc.add", "rhai")
        .code("a + b")
        .param("a", ParamSpec::integer().required())
        .param("b", ParamSpec::integer().default(10));
    engine.register_action(action).await.unwrap();
    let run = engine
        .run("calc.add", json!({"a": 4, "b": 3}))
        .await
        .unwrap();
    assert_eq!(
        (run.status, run.result),
        (ExecutionStatus::Succeeded, Some(json!(7)))
    );
    let run = engine.run("calc.add", json!({"a": 4})).await.unwrap();
    assert_eq!(run.result, Some(json!(14)));
}

// The status subscription sees requested, scheduled, running, succeeded in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_subscription_sees_every_status_in_order() {
    let engine = demo_engine().await;
    let mut sub = engine.subscribe().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(engine.execute("demo.echo", json!({"i": i})).await.unwrap());
    }
    let mut seen: std::collections::HashMap<_, Vec<ExecutionStatus>> = Default::default();
    let mut finished = 0;
    while finished < ids.len() {
        let change = tokio::time::timeout(SAFETY, sub.next())
            .await
            .expect("status changes keep coming")
            .unwrap()
            .expect("transport open");
        seen.entry(change.execution)
            .or_default()
            .push(change.status);
        if change.status.is_terminal() {
            finished += 1;
        }
    }
    assert_eq!(sub.missed(), 0);
    use ExecutionStatus::*;
    for id in ids {
        assert_eq!(
            seen[&id],
            [Requested, Scheduled, Running, Succeeded],
            "execution {id}"
        );
    }
}

// subscribe_logs streams a line that a native action sends through ctx.log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_subscription_sees_action_lines() {
    let engine = engine().await;
    engine
        .register_fn("demo.talk", |ctx| async move {
            ctx.log.line(LogStream::Log, "working on it");
            Ok(json!(null))
        })
        .await
        .unwrap();
    let mut logs = engine.subscribe_logs();
    let run = engine.run("demo.talk", json!({})).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    let line = tokio::time::timeout(SAFETY, logs.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.execution, run.id);
    assert_eq!(line.stream, LogStream::Log);
    assert_eq!(&*line.line, "working on it");
}

// Trace goes from an execution back to its enforcement, rule and event, and from the event
// forward to all its enforcements and executions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_both_ways() {
    let engine = demo_engine().await;
    engine.register_rule(high_only("demo.a")).await.unwrap();
    engine.register_rule(high_only("demo.b")).await.unwrap();
    let event = engine
        .emit("demo.alert", json!({"level": "high"}))
        .await
        .unwrap();
    engine.settle(SAFETY).await.unwrap();
    let trace = engine.trace_event(event).await.unwrap();
    assert_eq!(trace.event.id, event);
    assert_eq!(trace.event.trigger, "demo.alert");
    assert_eq!(trace.enforcements.len(), 2);
    assert_eq!(trace.executions.len(), 2);
    for exec in &trace.executions {
        let back = engine.trace_execution(exec.id).await.unwrap();
        assert_eq!(&back.execution, exec);
        let enf = back.enforcement.expect("enforcement");
        assert_eq!(Some(enf.id), exec.enforcement);
        assert_eq!(enf.execution, Some(exec.id));
        assert!(trace.enforcements.contains(&enf));
        let rule = back.rule.expect("rule");
        assert_eq!(rule.rule_ref, enf.rule);
        assert_eq!(back.event.expect("event").id, event);
        assert!(back.parent.is_none());
    }
}

// Secret params are stored redacted (execution and enforcement) but reach the handler intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_params_are_redacted_in_the_store() {
    let engine = demo_engine().await;
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let got = received.clone();
    let action = Action::new("sec.login", "native")
        .param("user", ParamSpec::string().required())
        .param("password", ParamSpec::string().required().secret())
        .param("port", ParamSpec::integer());
    engine
        .register_native(action, move |ctx| {
            let got = got.clone();
            async move {
                let pw = ctx
                    .param("password")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                got.lock().unwrap().push(pw);
                Ok(json!({"ok": true}))
            }
        })
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("sec.on_alert", "demo.alert", "sec.login")
                .param("user", json!("{{ trigger.user }}"))
                .param("password", json!("{{ trigger.pw }}"))
                .param("port", json!("{{ trigger.port }}")),
        )
        .await
        .unwrap();
    let payload = json!({"user": "bob", "pw": "s3cr3t", "port": 22});
    let trace = emit_and_trace(&engine, "demo.alert", payload).await;
    let exec = only_execution(&trace);
    assert_eq!(exec.status, ExecutionStatus::Succeeded);
    let stored = json!({"user": "bob", "password": "********", "port": 22});
    assert_eq!(exec.params, stored);
    assert_eq!(engine.execution(exec.id).await.unwrap().params, stored);
    let enf = only_enforcement(&trace);
    assert!(
        enf.params.is_none() || enf.params == Some(stored),
        "{enf:#?}"
    );

    // Params rejected by the schema are kept on the failed enforcement, redacted too.
    let payload = json!({"user": "eve", "pw": "t0ps3cret", "port": "ssh"});
    let trace = emit_and_trace(&engine, "demo.alert", payload).await;
    let enf = only_enforcement(&trace);
    assert_eq!(enf.status, EnforcementStatus::Failed, "{enf:#?}");
    assert_eq!(
        enf.params,
        Some(json!({"user": "eve", "password": "********", "port": "ssh"}))
    );
    assert!(
        !enf.failure
            .clone()
            .unwrap_or_default()
            .contains("t0ps3cret")
    );

    let run = engine
        .run("sec.login", json!({"user": "amy", "password": "hunter2"}))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert_eq!(run.params, json!({"user": "amy", "password": "********"}));
    assert_eq!(*received.lock().unwrap(), ["s3cr3t", "hunter2"]);
    let page = attune_core::store::Page::first(100);
    let all = engine
        .store()
        .list_executions(&Default::default(), &page)
        .await
        .unwrap();
    let text = serde_json::to_string(&all).unwrap();
    assert!(
        !text.contains("s3cr3t") && !text.contains("hunter2"),
        "{text}"
    );
}

// Emitting to a trigger nobody listens to is stored and traced, but creates nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_without_rules_is_stored() {
    let engine = demo_engine().await;
    let trace = emit_and_trace(&engine, "demo.other", json!({"k": "v"})).await;
    assert_eq!(trace.event.payload, json!({"k": "v"}));
    assert!(trace.enforcements.is_empty() && trace.executions.is_empty());
    assert!(matches!(
        engine.trace_event(attune_core::model::EventId::new()).await,
        Err(Error::NotFound { .. })
    ));
}

// A templated criteria pattern is rendered per event with its JSON type (here a number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_criteria_pattern_from_pack_config() {
    let engine = demo_engine().await;
    engine
        .register_pack(Pack::new("thr").with_config(json!({"threshold": 10})))
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("thr.over", "demo.alert", "demo.echo").criteria(
            json!({"trigger.n": {"type": "gt", "pattern": "{{ pack.config.threshold }}"}}),
        ))
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "demo.alert", json!({"n": 11})).await;
    assert_eq!(only_execution(&trace).status, ExecutionStatus::Succeeded);
    let trace = emit_and_trace(&engine, "demo.alert", json!({"n": 9})).await;
    assert!(trace.enforcements.is_empty(), "{trace:#?}");
}

// A Rhai expression sees the key store as `kv` and the pack config as `pack.config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_expression_sees_kv_and_pack_config() {
    let engine = demo_engine().await;
    engine
        .register_pack(Pack::new("exp").with_config(json!({"min": 2})))
        .await
        .unwrap();
    let key = Key::new(KeyScope::System, "max", json!(5), chrono::Utc::now());
    engine.store().put_key(&key).await.unwrap();
    engine
        .register_rule(
            Rule::new("exp.window", "demo.alert", "demo.echo")
                .expression("payload.n >= pack.config.min && payload.n <= kv.system.max"),
        )
        .await
        .unwrap();
    for (n, matches) in [(1, false), (2, true), (5, true), (6, false)] {
        let trace = emit_and_trace(&engine, "demo.alert", json!({"n": n})).await;
        assert_eq!(
            trace.executions.len(),
            usize::from(matches),
            "n = {n}: {trace:#?}"
        );
    }
}

// A removed rule no longer matches; removing an action used by a rule is a Conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_rule_stops_matching() {
    let engine = demo_engine().await;
    engine.register_rule(high_only("demo.gone")).await.unwrap();
    assert!(
        matches!(engine.remove_action("demo.echo").await, Err(Error::Conflict(m)) if m.contains("demo.gone"))
    );
    assert!(engine.remove_rule("demo.gone").await.unwrap());
    let trace = emit_and_trace(&engine, "demo.alert", json!({"level": "high"})).await;
    assert!(trace.enforcements.is_empty(), "{trace:#?}");
    assert!(engine.remove_action("demo.echo").await.unwrap());
}
