//! Bad input (issue 2, "Bad input"): each gets a clear error naming what and where — returned,
//! or recorded on the enforcement or execution — and the engine keeps serving other events.

mod common;

use attune_core::model::{Action, ExecutionStatus, Rule, TriggerType};
use attune_core::params::ParamSpec;
use attune_core::runtime::RhaiRuntime;
use attune_core::sandbox::ScriptLimits;
use attune_core::{Engine, Error};
use common::*;
use serde_json::json;
use std::sync::Arc;

/// An engine with the probe rule (`ok.ping` → `ok.echo`) and a trigger `bad.t` for bad rules.
async fn setup() -> Engine {
    let engine = engine().await;
    install_probe(&engine).await;
    engine
        .register_trigger_type(TriggerType::new("bad.t"))
        .await
        .unwrap();
    engine
}

fn invalid(err: Error) -> (String, String) {
    match err {
        Error::Invalid { what, message } => (what, message),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

// Emitting to an unknown trigger is NotFound naming the trigger; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_trigger_on_emit() {
    let engine = setup().await;
    let err = engine.emit("nope.trigger", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { kind, id } if *kind == "trigger type" && id == "nope.trigger"),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope.trigger"), "{err}");
    assert!(events_of(&engine, "nope.trigger").await.is_empty());
    assert_still_serving(&engine).await;
}

// execute/run of an unknown action is NotFound naming the action; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_action_on_execute() {
    let engine = setup().await;
    for err in [
        engine.execute("nope.action", json!({})).await.unwrap_err(),
        engine.run("nope.action", json!({})).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::NotFound { kind, id } if *kind == "action" && id == "nope.action"),
            "{err:?}"
        );
    }
    assert_eq!(execution_count(&engine).await, 0);
    assert_still_serving(&engine).await;
}

// Params failing the schema are Invalid naming every bad param; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_failing_the_schema() {
    let engine = setup().await;
    let action = Action::new("p.strict", "native")
        .param("count", ParamSpec::integer().required().min(1.0))
        .param(
            "mode",
            ParamSpec::string().enum_values(vec![json!("a"), json!("b")]),
        )
        .param("name", ParamSpec::string().required());
    engine
        .register_native(action, |_ctx| async { Ok(()) })
        .await
        .unwrap();

    let err = engine
        .execute("p.strict", json!({"count": "three", "mode": "c"}))
        .await
        .unwrap_err();
    let (what, msg) = invalid(err);
    assert!(what.contains("p.strict"), "{what}");
    assert!(
        msg.contains("parameter 'count': expected integer, got string"),
        "{msg}"
    );
    assert!(
        msg.contains("parameter 'mode'") && msg.contains("\"c\""),
        "{msg}"
    );
    assert!(msg.contains("parameter 'name': is required"), "{msg}");

    let (_, msg) = invalid(
        engine
            .execute("p.strict", json!({"count": 0, "name": "x"}))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("parameter 'count'") && msg.contains("minimum"),
        "{msg}"
    );
    let (_, msg) = invalid(
        engine
            .execute("p.strict", json!({"cuont": 1, "name": "x"}))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("'cuont'") && msg.contains("did you mean 'count'"),
        "{msg}"
    );
    let (_, msg) = invalid(engine.execute("p.strict", json!([1, 2])).await.unwrap_err());
    assert!(msg.contains("must be an object"), "{msg}");
    assert_eq!(execution_count(&engine).await, 0);

    // A literal bad param is refused when the rule is registered ...
    let rule = Rule::new("bad.literal", "bad.t", "p.strict")
        .param("count", json!("x"))
        .param("name", json!("n"));
    let (what, msg) = invalid(engine.register_rule(rule).await.unwrap_err());
    assert!(
        what.contains("bad.literal") && msg.contains("parameter 'count'"),
        "{what}: {msg}"
    );
    // ... and a rendered one fails that enforcement, naming the action and the param.
    engine
        .register_rule(
            Rule::new("bad.rendered", "bad.t", "p.strict")
                .param("count", json!("{{ trigger.count }}"))
                .param("name", json!("n")),
        )
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "bad.t", json!({"count": "zero"})).await;
    let failure = failed_enforcement(&trace);
    assert!(
        failure.contains("p.strict") && failure.contains("parameter 'count'"),
        "{failure}"
    );
    assert_eq!(execution_count(&engine).await, 0);
    assert_still_serving(&engine).await;
}

// A param template naming an undefined variable fails the enforcement naming rule and variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_with_undefined_variable() {
    let engine = setup().await;
    engine
        .register_rule(
            Rule::new("bad.tpl", "bad.t", "ok.echo").param("msg", json!("{{ nothere }}")),
        )
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "bad.t", json!({"x": 1})).await;
    let failure = failed_enforcement(&trace);
    assert!(failure.contains("bad.tpl"), "{failure}");
    assert!(
        failure.contains("undefined variable 'nothere'"),
        "{failure}"
    );
    assert_still_serving(&engine).await;
}

// A rule expression that runs away is stopped by the operation limit and fails the enforcement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_that_runs_away() {
    let engine = setup().await;
    // 20^4 closure calls of several operations each: far beyond the expression limit of
    // 100,000 operations (an expression cannot hold `loop`; nested callbacks are the way to run
    // away, as deep as the expression depth limit lets them nest).
    let twenty = format!("[{}]", vec!["1"; 20].join(", "));
    let expr = format!(
        "{twenty}.map(|a| {twenty}.map(|b| {twenty}.map(|c| {twenty}.map(|d| a + b + c + d)\
         .len()).len()).len()).len() > 0"
    );
    engine
        .register_rule(Rule::new("bad.spin", "bad.t", "ok.echo").expression(expr))
        .await
        .expect("the expression compiles");
    let trace = emit_and_trace(&engine, "bad.t", json!({})).await;
    let failure = failed_enforcement(&trace);
    assert!(
        failure.contains("bad.spin") && failure.contains("limit exceeded"),
        "{failure}"
    );
    assert_still_serving(&engine).await;
}

// A rule expression that allocates without bound hits the size limit and fails the enforcement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_that_allocates_without_bound() {
    let engine = setup().await;
    engine
        .register_rule(
            Rule::new("bad.alloc", "bad.t", "ok.echo").expression("[].pad(100000000, 0).len() > 0"),
        )
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "bad.t", json!({})).await;
    let failure = failed_enforcement(&trace);
    assert!(failure.contains("rule 'bad.alloc' expression"), "{failure}");
    assert!(failure.contains("size limit"), "{failure}");
    assert_still_serving(&engine).await;
}

// A non-boolean expression result fails the enforcement saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_that_is_not_boolean() {
    let engine = setup().await;
    engine
        .register_rule(Rule::new("bad.num", "bad.t", "ok.echo").expression("payload.n + 1"))
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "bad.t", json!({"n": 1})).await;
    let failure = failed_enforcement(&trace);
    assert!(
        failure.contains("bad.num") && failure.contains("boolean"),
        "{failure}"
    );
    assert_still_serving(&engine).await;
}

// A rhai action that loops forever fails with the operation limit, naming the action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_script_that_loops_forever() {
    // The default action limit (50 M operations) takes ~13 s in a debug build; a rhai runtime
    // with a smaller limit exercises the same path quickly.
    let limits = ScriptLimits {
        max_operations: 1_000_000,
        ..ScriptLimits::ACTION
    };
    let engine = Engine::builder()
        .runtime(Arc::new(RhaiRuntime::new(limits)))
        .build()
        .await
        .unwrap();
    install_probe(&engine).await;
    engine
        .register_action(Action::new("bad.loop", "rhai").code("let i = 0; loop { i += 1; }"))
        .await
        .unwrap();
    let run = engine.run("bad.loop", json!({})).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed, "{run:#?}");
    let err = run.error.unwrap_or_default();
    assert!(
        err.contains("bad.loop") && err.contains("operation limit"),
        "{err}"
    );
    assert_still_serving(&engine).await;
}

// A rhai action that allocates without bound fails with a size limit, naming the action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_script_that_allocates_without_bound() {
    let engine = setup().await;
    engine
        .register_action(Action::new("bad.grow", "rhai").code(r#"let s = "x"; loop { s += s; }"#))
        .await
        .unwrap();
    let run = engine.run("bad.grow", json!({})).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed, "{run:#?}");
    let err = run.error.unwrap_or_default();
    assert!(
        err.contains("bad.grow") && err.contains("size limit"),
        "{err}"
    );
    assert_still_serving(&engine).await;
}

// A 10 MB payload is Invalid naming the trigger and the limit; no event is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_payload() {
    let engine = setup().await;
    let big = json!({"blob": "x".repeat(10 << 20)});
    let (what, msg) = invalid(engine.emit("bad.t", big).await.unwrap_err());
    assert!(what.contains("payload") && what.contains("bad.t"), "{what}");
    assert!(
        msg.contains("limit") && msg.contains(&(4usize << 20).to_string()),
        "{msg}"
    );
    assert!(events_of(&engine, "bad.t").await.is_empty());
    assert_still_serving(&engine).await;
}

// An invalid regex in a criterion is refused at registration, naming the rule and the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_regex_in_a_criterion() {
    let engine = setup().await;
    let before = engine.rule_count();
    let rule = Rule::new("bad.re", "bad.t", "ok.echo")
        .criteria(json!({"trigger.host": {"type": "regex", "pattern": "(unclosed"}}));
    let (what, msg) = invalid(engine.register_rule(rule).await.unwrap_err());
    assert!(what.contains("bad.re"), "{what}");
    assert!(
        msg.contains("criterion 'trigger.host'") && msg.contains("invalid regex"),
        "{msg}"
    );
    assert_eq!(engine.rule_count(), before);
    assert!(engine.rule("bad.re").is_none());
    assert_still_serving(&engine).await;
}

// A criteria pattern whose template does not compile (a search child's too) is refused at
// registration, naming the rule and the criterion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn criteria_pattern_template_that_does_not_compile() {
    let engine = setup().await;
    let before = engine.rule_count();
    let rule = Rule::new("bad.tpl", "bad.t", "ok.echo").criteria(json!({
        "trigger.host": {"type": "equals", "pattern": "db-{{ trigger.n + }}"},
        "trigger.items": {"type": "search", "condition": "any",
                          "pattern": {"item.x": {"type": "equals", "pattern": "{% if %}"}}}
    }));
    let (what, msg) = invalid(engine.register_rule(rule).await.unwrap_err());
    assert!(what.contains("bad.tpl"), "{what}");
    assert!(
        msg.contains("criterion 'trigger.host' pattern") && msg.contains("syntax error"),
        "{msg}"
    );
    assert!(
        msg.contains("criterion 'trigger.items/item.x' pattern"),
        "{msg}"
    );
    assert_eq!(engine.rule_count(), before);
    assert_still_serving(&engine).await;
}

// A non-list value under `search` fails that enforcement naming the criterion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_list_value_under_search() {
    let engine = setup().await;
    engine
        .register_rule(Rule::new("bad.search", "bad.t", "ok.echo").criteria(json!({
            "trigger.items": {"type": "search", "condition": "any",
                              "pattern": {"item.x": {"type": "equals", "pattern": 1}}}
        })))
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "bad.t", json!({"items": 5})).await;
    let failure = failed_enforcement(&trace);
    assert!(
        failure.contains("bad.search") && failure.contains("trigger.items"),
        "{failure}"
    );
    assert!(failure.contains("list"), "{failure}");
    // The same rule still matches a well-formed event.
    let trace = emit_and_trace(&engine, "bad.t", json!({"items": [{"x": 2}, {"x": 1}]})).await;
    assert_eq!(only_execution(&trace).status, ExecutionStatus::Succeeded);
    assert_still_serving(&engine).await;
}

// A rule naming an unknown trigger and an unknown action is Invalid listing both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_with_unknown_trigger_and_action() {
    let engine = setup().await;
    let (what, msg) = invalid(
        engine
            .register_rule(Rule::new("bad.orphan", "nope.trigger", "nope.action"))
            .await
            .unwrap_err(),
    );
    assert!(what.contains("bad.orphan"), "{what}");
    assert!(
        msg.contains("nope.trigger") && msg.contains("nope.action"),
        "{msg}"
    );
    assert!(engine.rule("bad.orphan").is_none());
    assert_still_serving(&engine).await;
}

// An action whose runner is not a registered runtime is Invalid listing the runtimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_with_unknown_runner() {
    let engine = setup().await;
    let (what, msg) = invalid(
        engine
            .register_action(Action::new("bad.x", "nope"))
            .await
            .unwrap_err(),
    );
    assert!(what.contains("bad.x"), "{what}");
    assert!(
        msg.contains("'nope'") && msg.contains("native") && msg.contains("rhai"),
        "{msg}"
    );
    assert!(engine.action("bad.x").is_none());
    assert_still_serving(&engine).await;
}

// A rule whose action is disabled does not run it: the enforcement fails naming the action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_on_a_disabled_action() {
    let engine = setup().await;
    let mut action = Action::new("bad.off", "native");
    action.enabled = false;
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = ran.clone();
    engine
        .register_native(action, move |_ctx| {
            r.store(true, std::sync::atomic::Ordering::SeqCst);
            async { Ok(()) }
        })
        .await
        .unwrap();
    let (what, msg) = invalid(engine.execute("bad.off", json!({})).await.unwrap_err());
    assert!(
        what.contains("bad.off") && msg.contains("disabled"),
        "{what}: {msg}"
    );
    engine
        .register_rule(Rule::new("bad.to_off", "bad.t", "bad.off"))
        .await
        .unwrap();
    let trace = emit_and_trace(&engine, "bad.t", json!({})).await;
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "a disabled action ran"
    );
    let failure = failed_enforcement(&trace);
    assert!(
        failure.contains("bad.off") && failure.contains("disabled"),
        "{failure}"
    );
    assert_still_serving(&engine).await;
}
