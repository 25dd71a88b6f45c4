//! Every nesting limit of the engine holds on the 2 MiB stack of a spawned thread or a tokio
//! worker (issue 15): input at the limit − 1 and at the limit is accepted, one level more is a
//! clear error naming where and the limit — never a stack overflow that aborts the process.
//!
//! `cargo test` builds in debug, whose stack frames are the largest: what passes here passes
//! in release, whose frames are several times smaller.

mod common;

use attune_core::input::MAX_JSON_DEPTH;
use attune_core::model::{ExecutionStatus, Rule, TriggerType};
use attune_core::pack::{PackOptions, YAML_MAX_DEPTH, read_pack};
use attune_core::params::ParamSpec;
use attune_core::sandbox::{Sandbox, ScriptLimits};
use attune_core::template::{TEMPLATE_RECURSION_LIMIT, Templates, to_jinja};
use attune_core::workflow::RehearsalSpec;
use common::*;
use serde_json::{Value, json};
use std::future::Future;

/// The stack of a thread spawned with the defaults, and of a tokio worker.
const DEFAULT_STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a fresh thread with a 2 MiB stack and returns its value.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("2mib-stack".into())
        .stack_size(DEFAULT_STACK)
        .spawn(f)
        .expect("thread spawns")
        .join()
        .expect("the 2 MiB thread ends without a panic")
}

/// Runs the async `test` on a 2 MiB thread with its own current-thread runtime, so that the
/// engine's stages all run on that stack.
fn engine_on_small_stack<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    on_small_stack(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(test());
    });
}

/// `levels` flow lists around a scalar: `[[[1]]]`.
fn flow_lists(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// A pack whose action's param default nests `depth` levels in all (the file's mapping,
/// `parameters`, `x`, then lists).
fn pack_nesting(depth: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pack.yaml"), "ref: deep\n").unwrap();
    std::fs::create_dir(dir.path().join("actions")).unwrap();
    let action = format!(
        "name: a\nrunner_type: noop\nparameters:\n  x:\n    default: {}\n",
        flow_lists(depth - 3)
    );
    std::fs::write(dir.path().join("actions/a.yaml"), action).unwrap();
    dir
}

#[test]
fn yaml_pack_files_nest_up_to_the_limit() {
    assert_eq!(YAML_MAX_DEPTH, 64);
    on_small_stack(|| {
        for depth in [YAML_MAX_DEPTH - 1, YAML_MAX_DEPTH] {
            let dir = pack_nesting(depth);
            let bundle = read_pack(dir.path(), &PackOptions::default())
                .unwrap_or_else(|e| panic!("depth {depth}: {e}"));
            assert_eq!(bundle.action_refs(), ["deep.a"]);
        }
        let dir = pack_nesting(YAML_MAX_DEPTH + 1);
        let errors = read_pack(dir.path(), &PackOptions::default()).unwrap_err();
        assert_eq!(errors.problems.len(), 1, "{errors}");
        let p = &errors.problems[0];
        assert_eq!((p.file.as_str(), p.line), ("actions/a.yaml", 5), "{errors}");
        assert_eq!(
            p.message,
            "invalid YAML: mappings and lists nest 65 levels deep here; the limit is 64 levels"
        );
    });
    // Far deeper (the parser stops at the limit, whatever follows).
    on_small_stack(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pack.yaml"),
            format!("ref: deep\nx: {}\n", flow_lists(100_000)),
        )
        .unwrap();
        let errors = read_pack(dir.path(), &PackOptions::default()).unwrap_err();
        assert!(
            errors.to_string().contains("the limit is 64 levels"),
            "{errors}"
        );
    });
}

#[test]
fn a_pack_nested_to_the_limit_loads_into_an_engine() {
    engine_on_small_stack(|| async {
        let engine = engine().await;
        let dir = pack_nesting(YAML_MAX_DEPTH);
        engine.load_pack(dir.path()).await.expect("loads");
        let x = engine.run("deep.a", json!({})).await.unwrap();
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    });
}

/// A workflow whose task input nests `depth` levels in all (mapping, `tasks`, `a`, `input`,
/// `v`'s lists).
fn workflow_nesting(depth: usize) -> String {
    format!(
        "tasks:\n  a:\n    action: core.noop\n    input:\n      v: {}\n",
        flow_lists(depth - 4)
    )
}

#[test]
fn workflow_files_nest_up_to_the_limit() {
    on_small_stack(|| {
        for depth in [YAML_MAX_DEPTH - 1, YAML_MAX_DEPTH] {
            attune_core::workflow::parse(&workflow_nesting(depth), "w.yaml")
                .unwrap_or_else(|e| panic!("depth {depth}: {e}"));
        }
        let e = attune_core::workflow::parse(&workflow_nesting(YAML_MAX_DEPTH + 1), "w.yaml")
            .unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(e.problems[0].line, 5, "{e}");
        assert!(
            e.problems[0].message.contains("the limit is 64 levels"),
            "{e}"
        );
    });
}

#[test]
fn rehearsal_files_nest_up_to_the_limit() {
    // The mapping, `inputs`, `v`'s lists.
    let spec = |depth: usize| format!("inputs:\n  v: {}\n", flow_lists(depth - 2));
    on_small_stack(move || {
        for depth in [YAML_MAX_DEPTH - 1, YAML_MAX_DEPTH] {
            RehearsalSpec::parse(&spec(depth), "r.yaml")
                .unwrap_or_else(|e| panic!("depth {depth}: {e}"));
        }
        let e = RehearsalSpec::parse(&spec(YAML_MAX_DEPTH + 1), "r.yaml").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("rehearsal file 'r.yaml'"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("the limit is 64 levels"), "{e}");
    });
}

/// `levels` JSON lists around a scalar, as text.
fn json_lists(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// `levels` arrays around a scalar, built in code (as deep as a host likes).
fn built_lists(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = Value::Array(vec![v]);
    }
    v
}

#[test]
fn json_values_nest_up_to_the_engine_limit_through_the_whole_engine() {
    // JSON text parses to 127 levels; the engine takes 100 (MAX_JSON_DEPTH), so that the
    // records wrapping a value still parse back and every walk stays within the stack.
    let max = MAX_JSON_DEPTH;
    assert!(serde_json::from_str::<Value>(&json_lists(127)).is_ok());

    engine_on_small_stack(move || async move {
        let engine = engine().await;
        install_probe(&engine).await;
        engine
            .register_trigger_type(TriggerType::new("deep.t"))
            .await
            .unwrap();
        let action = attune_core::model::Action::new("deep.echo", "native")
            .param("v", ParamSpec::array())
            .param("pw", ParamSpec::string().secret());
        engine
            .register_native(action, |ctx| async move { Ok(Value::Object(ctx.params)) })
            .await
            .unwrap();
        // The payload goes through criteria, a template (into the template context, through
        // `tojson` and back), validation, the action, masking of its result and the store.
        engine
            .register_rule(
                Rule::new("deep.r", "deep.t", "deep.echo")
                    .criteria(json!({"trigger.v": {"type": "exists"}}))
                    .param("v", json!("{{ trigger.v }}"))
                    .param("pw", json!("hunter2")),
            )
            .await
            .unwrap();
        // The payload `{"v": lists}` and the result `{"v": lists, "pw": ...}` nest one level
        // more than the lists.
        for depth in [max - 1, max] {
            let v: Value = serde_json::from_str(&json_lists(depth - 1)).unwrap();
            let payload: Value =
                serde_json::from_str(&format!("{{\"v\": {}}}", json_lists(depth - 1))).unwrap();
            let trace = emit_and_trace(&engine, "deep.t", payload).await;
            let exec = only_execution(&trace);
            assert_eq!(exec.status, ExecutionStatus::Succeeded, "depth {depth}");
            assert_eq!(exec.result.as_ref().map(|r| &r["v"]), Some(&v));
        }
        // One level more, as text or built by the host however deep: refused at emit,
        // naming the trigger and the limit, nothing stored, no stack exhausted.
        for levels in [max + 1, 100_000] {
            let e = engine
                .emit("deep.t", built_lists(levels))
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("deep.t") && e.contains("100 levels"), "{e}");
            let e = engine
                // Not `json!`, which would copy the value recursively.
                .execute(
                    "deep.echo",
                    Value::Object(
                        [("v".to_string(), built_lists(levels))]
                            .into_iter()
                            .collect(),
                    ),
                )
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("deep.echo") && e.contains("100 levels"), "{e}");
        }
        assert_still_serving(&engine).await;
    });
}

#[test]
fn an_action_result_deeper_than_the_limit_fails_its_execution_only() {
    engine_on_small_stack(|| async {
        let engine = engine().await;
        install_probe(&engine).await;
        let action = attune_core::model::Action::new("deep.build", "native")
            .param("levels", ParamSpec::integer());
        engine
            .register_native(action, |ctx| async move {
                let levels = ctx.param("levels").and_then(Value::as_u64).unwrap_or(0);
                Ok(built_lists(levels as usize))
            })
            .await
            .unwrap();
        let at = engine
            .run("deep.build", json!({"levels": MAX_JSON_DEPTH}))
            .await
            .unwrap();
        assert_eq!(at.status, ExecutionStatus::Succeeded);
        assert_eq!(at.result, Some(built_lists(MAX_JSON_DEPTH)));
        for levels in [MAX_JSON_DEPTH + 1, 100_000] {
            let over = engine
                .run("deep.build", json!({"levels": levels}))
                .await
                .unwrap();
            assert_eq!(over.status, ExecutionStatus::Failed, "{levels}");
            let e = over.error.unwrap_or_default();
            assert!(e.contains("result") && e.contains("100 levels"), "{e}");
        }
        assert_still_serving(&engine).await;
    });
}

#[test]
fn template_recursion_stops_at_its_limit() {
    // Each loop counts one level, and so does the template's own frame: `n` loops use n + 1
    // of the limit.
    let loops = |n: usize| {
        format!(
            "{}x{}",
            "{% for i in [1] %}".repeat(n),
            "{% endfor %}".repeat(n)
        )
    };
    on_small_stack(move || {
        let t = Templates::new();
        let ctx = to_jinja(json!({}));
        for levels in [TEMPLATE_RECURSION_LIMIT - 1, TEMPLATE_RECURSION_LIMIT] {
            assert_eq!(
                t.render_once("x", &loops(levels - 1), &ctx).unwrap(),
                json!("x"),
                "{levels} levels"
            );
        }
        let e = t
            .render_once("loop test", &loops(TEMPLATE_RECURSION_LIMIT), &ctx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("loop test"), "{e}");
        assert!(e.contains("recursion limit exceeded"), "{e}");
        assert!(e.contains("at most 100 levels"), "{e}");
    });
}

#[test]
fn python_percent_formatting_nests_up_to_its_limit() {
    // `'%s' % ('%s' % (... 'x'))`: rewritten level by level into `format` calls.
    let nested = |n: usize| format!("{{{{ {}'x'{} }}}}", "'%s' % (".repeat(n), ")".repeat(n));
    on_small_stack(move || {
        let t = Templates::new();
        let ctx = to_jinja(json!({}));
        let limit = attune_core::template::PERCENT_FORMAT_MAX_DEPTH;
        for n in [limit - 1, limit] {
            assert_eq!(
                t.render_once("x", &nested(n), &ctx).unwrap(),
                json!("x"),
                "{n}"
            );
        }
        let e = t
            .render_once("pct", &nested(limit + 1), &ctx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pct"), "{e}");
        assert!(
            e.contains(&format!("nests deeper than {limit} levels")),
            "{e}"
        );
    });
}

#[test]
fn rule_expressions_nest_up_to_their_limit_on_the_callers_stack() {
    // Nested calls, each about 2 levels of expression depth.
    let calls = |n: usize| format!("{}1{}", "abs(1 + ".repeat(n), ")".repeat(n));
    on_small_stack(move || {
        let sb = Sandbox::new(ScriptLimits::EXPRESSION);
        let engine = sb.engine(None, None);
        for n in [14, 15] {
            let ast = sb
                .compile_expression("rule 'r' expression", &calls(n))
                .unwrap();
            let v = sb.eval(&engine, "rule 'r' expression", &ast, &[]).unwrap();
            assert_eq!(v, json!(n + 1));
        }
        let e = sb
            .compile_expression("rule 'r' expression", &calls(16))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rule 'r' expression"), "{e}");
        assert!(e.contains("maximum complexity"), "{e}");
    });
}

#[test]
fn action_scripts_recurse_up_to_their_call_limit_on_their_own_stack() {
    assert_eq!(ScriptLimits::ACTION.max_call_levels, 32);
    // Each level nests 27 calls, the most a function body of the ACTION limits holds.
    let script = |n: usize| {
        format!(
            "fn f(n) {{ if n <= 0 {{ 0 }} else {{ {}f(n - 1){} }} }} f({n})",
            "abs(1 + ".repeat(27),
            ")".repeat(27)
        )
    };
    on_small_stack(move || {
        let sb = Sandbox::new(ScriptLimits::ACTION);
        let engine = sb.engine(None, None);
        // f(30) makes 31 calls of f; f(31) 32, the limit.
        for n in [30, 31] {
            let ast = sb.compile("action 'a'", &script(n)).unwrap();
            let v = sb.eval(&engine, "action 'a'", &ast, &[]).unwrap();
            assert_eq!(v, json!(27 * n), "f({n})");
        }
        let ast = sb.compile("action 'a'", &script(32)).unwrap();
        let e = sb
            .eval(&engine, "action 'a'", &ast, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("action 'a'"), "{e}");
        assert!(e.contains("call depth limit exceeded"), "{e}");
        // A body nesting one call more does not compile.
        let deeper = format!(
            "fn f(n) {{ if n <= 0 {{ 0 }} else {{ {}f(n - 1){} }} }} f(1)",
            "abs(1 + ".repeat(28),
            ")".repeat(28)
        );
        let e = sb.compile("action 'a'", &deeper).unwrap_err().to_string();
        assert!(e.contains("maximum complexity"), "{e}");
    });
}

/// YAQL: expressions nest up to `yaql::MAX_PARSE_DEPTH` levels when parsed, and evaluation
/// (nesting, lambdas inside queries, recursive `def` functions) up to `yaql::MAX_DEPTH`.
#[test]
fn yaql_nests_up_to_its_limits() {
    use attune_core::yaql::{Expression, MAX_DEPTH, MAX_PARSE_DEPTH};
    on_small_stack(|| {
        // Parse depth: nested lists inside lambdas, each level a `select` of the next.
        let nested = |levels: usize| {
            let mut s = String::from("$");
            for _ in 1..levels {
                s = format!("[1].select([{s}])");
            }
            s
        };
        for levels in [MAX_PARSE_DEPTH / 3 - 1, MAX_PARSE_DEPTH / 3] {
            let e = Expression::parse(&nested(levels)).unwrap();
            e.evaluate_json(&json!(1)).unwrap();
        }
        let parens = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
        assert!(Expression::parse(&parens(MAX_PARSE_DEPTH - 1)).is_ok());
        let err = Expression::parse(&parens(MAX_PARSE_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("nested deeper than"), "{err}");
        // Evaluation depth: a recursive function through a query lambda each level.
        let rec = |n: usize| {
            format!(
                "def(f, switch($ <= 0 => 0, true => [$].select(f($ - 1)).first() + 1)) -> f({n})"
            )
        };
        let depth_per_level = 8;
        let ok = Expression::parse(&rec(MAX_DEPTH / depth_per_level - 2)).unwrap();
        assert!(ok.evaluate_json(&Value::Null).is_ok());
        let err = Expression::parse(&rec(MAX_DEPTH))
            .unwrap()
            .evaluate_json(&Value::Null)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("deeper than {MAX_DEPTH}")),
            "{err}"
        );
    });
}
