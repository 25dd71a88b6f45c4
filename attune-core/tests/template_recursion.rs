//! A recursive template whose depth an event chooses (issue 15): it fails that one
//! enforcement (or workflow run) with an error naming the rule's template and the recursion
//! limit, instead of exhausting the stack and aborting the process.
//!
//! Each test runs the whole engine on one thread with the default 2 MiB stack of a spawned
//! thread (and of a tokio worker), in a debug build: what these tests prove holds there.

mod common;

use attune_core::Engine;
use attune_core::model::{EnforcementStatus, ExecutionStatus, Rule, TriggerType};
use attune_core::template::TEMPLATE_RECURSION_LIMIT;
use common::*;
use serde_json::{Value, json};
use std::future::Future;

/// The stack of a thread spawned with the defaults, and of a tokio worker.
const DEFAULT_STACK: usize = 2 * 1024 * 1024;

/// Runs `test` on a fresh thread with a 2 MiB stack and its own current-thread runtime, so
/// that everything the engine does for it (matching, rendering, running) uses that stack.
fn on_small_stack<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new()
        .name("2mib-stack".into())
        .stack_size(DEFAULT_STACK)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(test());
        })
        .expect("thread spawns")
        .join()
        .expect("the test thread ends without a panic");
}

/// A macro that calls itself `trigger.depth` times.
const RECURSIVE: &str = "{% macro f(n) %}{% if n < trigger.depth %}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}done";

async fn setup() -> Engine {
    let engine = engine().await;
    install_probe(&engine).await;
    engine
        .register_trigger_type(TriggerType::new("deep.t"))
        .await
        .unwrap();
    engine
        .register_fn(
            "deep.echo",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("deep.r", "deep.t", "deep.echo").param("out", json!(RECURSIVE)))
        .await
        .unwrap();
    engine
}

#[test]
fn a_recursive_macro_as_deep_as_the_event_says_fails_its_enforcement_only() {
    on_small_stack(|| async {
        let engine = setup().await;
        for depth in [120, 10_000] {
            let trace = emit_and_trace(&engine, "deep.t", json!({ "depth": depth })).await;
            let failure = failed_enforcement(&trace);
            assert!(failure.contains("rule 'deep.r' param 'out'"), "{failure}");
            assert!(failure.contains("recursion limit exceeded"), "{failure}");
            assert!(
                failure.contains(&format!("at most {TEMPLATE_RECURSION_LIMIT} levels")),
                "{failure}"
            );
        }
        // The process lives on, the same rule still serves shallow events, and so do others.
        let trace = emit_and_trace(&engine, "deep.t", json!({ "depth": 3 })).await;
        assert_eq!(
            only_enforcement(&trace).status,
            EnforcementStatus::Processed
        );
        let exec = only_execution(&trace);
        assert_eq!(exec.status, ExecutionStatus::Succeeded, "{exec:#?}");
        assert_eq!(exec.result, Some(json!({ "out": "done" })));
        assert_still_serving(&engine).await;
    });
}

/// Templates are registered under generated names (`t0`, `t1`, ...) in one environment, so
/// a template that loads another by name would reach another rule's template (or itself):
/// `include`, `import`, `from` and `extends` are refused when the rule is registered.
#[test]
fn a_template_that_loads_another_is_refused_at_registration() {
    on_small_stack(|| async {
        let engine = engine().await;
        engine
            .register_trigger_type(TriggerType::new("deep.t"))
            .await
            .unwrap();
        engine
            .register_fn(
                "deep.echo",
                |ctx| async move { Ok(Value::Object(ctx.params)) },
            )
            .await
            .unwrap();
        for (n, (source, word)) in [
            ("x{% include 't0' %}", "include"),
            ("{% import 't0' as m %}{{ m }}", "import"),
            ("{%- from 't0' import f -%}{{ f() }}", "from"),
            ("{% extends 't0' %}", "extends"),
        ]
        .into_iter()
        .enumerate()
        {
            let err = engine
                .register_rule(
                    Rule::new(format!("deep.inc{n}"), "deep.t", "deep.echo")
                        .param("out", json!(source)),
                )
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("rule 'deep.inc{n}' param 'out'")),
                "{err}"
            );
            assert!(
                err.contains(&format!("'{{% {word} %}}' is not supported")),
                "{err}"
            );
        }
        // Inside `{% raw %}` or a comment, it is text.
        engine
            .register_rule(Rule::new("deep.raw", "deep.t", "deep.echo").param(
                "out",
                json!("{% raw %}{% include 't0' %}{% endraw %}{# {% import 'x' as y %} #}"),
            ))
            .await
            .unwrap();
        assert_eq!(engine.rule_count(), 1);
    });
}

#[test]
fn a_recursive_criteria_pattern_fails_its_enforcement_naming_the_criterion() {
    on_small_stack(|| async {
        let engine = setup().await;
        engine
            .register_rule(
                Rule::new("deep.crit", "deep.t", "deep.echo").criteria(json!({
                    "trigger.want": {"type": "eq", "pattern": RECURSIVE}
                })),
            )
            .await
            .unwrap();
        let trace = emit_and_trace(
            &engine,
            "deep.t",
            json!({ "depth": 10_000, "want": "done" }),
        )
        .await;
        let crit = trace
            .enforcements
            .iter()
            .find(|e| e.rule == "deep.crit")
            .expect("an enforcement of deep.crit");
        assert_eq!(crit.status, EnforcementStatus::Failed, "{crit:#?}");
        let failure = crit.failure.as_deref().unwrap_or_default();
        assert!(
            failure.contains("rule 'deep.crit' criteria: criterion 'trigger.want'"),
            "{failure}"
        );
        assert!(failure.contains("recursion limit exceeded"), "{failure}");
        // Shallow: the pattern renders to "done" and matches.
        let trace = emit_and_trace(&engine, "deep.t", json!({ "depth": 2, "want": "done" })).await;
        let mut ok: Vec<&str> = trace
            .enforcements
            .iter()
            .filter(|e| e.status == EnforcementStatus::Processed)
            .map(|e| e.rule.as_str())
            .collect();
        ok.sort();
        assert_eq!(ok, ["deep.crit", "deep.r"], "{trace:#?}");
        assert_still_serving(&engine).await;
    });
}

#[test]
fn a_recursive_workflow_expression_fails_the_run_not_the_process() {
    on_small_stack(|| async {
        let engine = engine().await;
        engine
            .register_fn(
                "deep.echo",
                |ctx| async move { Ok(Value::Object(ctx.params)) },
            )
            .await
            .unwrap();
        let macro_src = "{% macro f(n) %}{% if n < ctx('depth') %}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}done";
        let wf = attune_core::workflow::parse(
            &format!(
                "input: [depth]\ntasks:\n  a:\n    action: deep.echo\n    input:\n      out: \"{macro_src}\"\n"
            ),
            "deep.yaml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        engine.register_workflow("deep.wf", wf).await.unwrap();
        let run = |depth: u64| {
            let engine = engine.clone();
            async move {
                tokio::time::timeout(SAFETY, engine.run("deep.wf", json!({ "depth": depth })))
                    .await
                    .expect("the run ends")
                    .expect("the run is accepted")
            }
        };
        let x = run(10_000).await;
        assert_eq!(x.status, ExecutionStatus::Failed, "{x:#?}");
        let error = format!("{:?} {:?}", x.error, x.result);
        assert!(error.contains("recursion limit exceeded"), "{error}");
        let x = run(3).await;
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    });
}
