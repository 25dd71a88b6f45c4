//! Trigger payload and parameter schemas (issue 16, item 1): `emit` refuses a payload that
//! does not fit its trigger type's payload schema, naming every failing path, and stores
//! nothing; a schema that does not compile is refused at registration or pack load; a rule
//! whose `trigger.parameters` do not fit the trigger type's parameter schema is refused.

mod common;

use attune_core::model::{DefinitionKind, Rule, TriggerType};
use attune_core::{Engine, Error};
use common::*;
use serde_json::{Value, json};
use std::path::Path;

fn invalid(err: Error) -> (String, String) {
    match err {
        Error::Invalid { what, message } => (what, message),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "total": {"type": "number"},
            "customer": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "required": ["sku"]}}
        },
        "required": ["customer"]
    })
}

/// An engine with the probe, the trigger `shop.order` (payload schema above) and a rule on
/// it that echoes the total.
async fn shop() -> Engine {
    let engine = engine().await;
    install_probe(&engine).await;
    engine
        .register_trigger_type(TriggerType::new("shop.order").payload_schema(order_schema()))
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("shop.on_order", "shop.order", "ok.echo")
                .param("total", json!("{{ trigger.total }}")),
        )
        .await
        .unwrap();
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_payload_is_refused_naming_every_path_and_nothing_is_stored() {
    let engine = shop().await;
    let err = engine
        .emit(
            "shop.order",
            json!({"total": "x", "items": [{"sku": 1}, {"name": "n"}]}),
        )
        .await
        .unwrap_err();
    let shown = err.to_string();
    let (what, message) = invalid(err);
    assert_eq!(what, "payload of event for trigger 'shop.order'");
    for part in [
        r#"/total: "x" is not of type "number""#,
        "/customer: is a required property",
        "/items/1/sku: is a required property",
    ] {
        assert!(message.contains(part), "{part:?} missing in: {message}");
    }
    assert!(!message.contains("/items/0"), "{message}");
    assert!(shown.starts_with("invalid payload of event for trigger 'shop.order': "));
    engine.settle(SAFETY).await.unwrap();
    assert!(events_of(&engine, "shop.order").await.is_empty());
    assert_eq!(executions_of_rule(&engine, "shop.on_order").await, 0);
    assert_still_serving(&engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_fits_is_stored_and_matched() {
    let engine = shop().await;
    let trace = emit_and_trace(
        &engine,
        "shop.order",
        json!({"total": 12.5, "customer": "ann", "items": [{"sku": "a"}]}),
    )
    .await;
    assert_eq!(trace.executions.len(), 1, "{trace:#?}");
    assert_eq!(trace.executions[0].result, Some(json!({"total": 12.5})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_an_object_is_named_at_the_root() {
    let engine = shop().await;
    let (_, message) = invalid(engine.emit("shop.order", json!(5)).await.unwrap_err());
    assert_eq!(message, r#"(root): 5 is not of type "object""#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_without_a_schema_accepts_any_payload() {
    let engine = engine().await;
    install_probe(&engine).await;
    for payload in [
        json!(null),
        json!(5),
        json!("s"),
        json!({"n": [1, {"x": true}]}),
    ] {
        engine.emit("ok.ping", payload).await.unwrap();
    }
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(events_of(&engine, "ok.ping").await.len(), 4);
}

// No `$schema`: Draft 4, as StackStorm. `exclusiveMaximum` is a boolean there; a number is a
// schema error. With `$schema` naming 2020-12 the numeric form is the valid one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_is_the_one_named_by_dollar_schema_else_draft_4() {
    let engine = engine().await;
    let d4 = json!({"type": "number", "maximum": 10, "exclusiveMaximum": true});
    engine
        .register_trigger_type(TriggerType::new("d.four").payload_schema(d4))
        .await
        .unwrap();
    engine.emit("d.four", json!(9)).await.unwrap();
    let (_, message) = invalid(engine.emit("d.four", json!(10)).await.unwrap_err());
    assert!(message.starts_with("(root): 10"), "{message}");
    // Draft 4: 1.0 is not an integer.
    engine
        .register_trigger_type(TriggerType::new("d.int").payload_schema(json!({"type": "integer"})))
        .await
        .unwrap();
    assert!(engine.emit("d.int", json!(1.0)).await.is_err());

    let numeric = json!({"type": "number", "exclusiveMaximum": 10});
    let err = engine
        .register_trigger_type(TriggerType::new("d.bad").payload_schema(numeric.clone()))
        .await
        .unwrap_err();
    let (what, message) = invalid(err);
    assert_eq!(what, "trigger type 'd.bad'");
    assert!(
        message.starts_with("payload_schema is not a valid JSON Schema"),
        "{message}"
    );

    let mut modern = numeric;
    modern["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    engine
        .register_trigger_type(TriggerType::new("d.modern").payload_schema(modern))
        .await
        .unwrap();
    engine.emit("d.modern", json!(9)).await.unwrap();
    assert!(engine.emit("d.modern", json!(10)).await.is_err());
}

// As in StackStorm (no format checker), `format` is an annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_is_not_asserted() {
    let engine = engine().await;
    let schema = json!({"type": "string", "format": "date-time"});
    engine
        .register_trigger_type(TriggerType::new("f.t").payload_schema(schema))
        .await
        .unwrap();
    engine.emit("f.t", json!("yesterday")).await.unwrap();
    assert!(engine.emit("f.t", json!(1)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_that_does_not_compile_is_refused_and_nothing_is_registered() {
    let engine = engine().await;
    let t = TriggerType::new("s.t")
        .payload_schema(json!({"type": "strin"}))
        .parameters_schema(json!({"properties": {"a": {"minimum": "one"}}}));
    let (what, message) = invalid(engine.register_trigger_type(t).await.unwrap_err());
    assert_eq!(what, "trigger type 's.t'");
    assert!(
        message.contains("payload_schema is not a valid JSON Schema"),
        "{message}"
    );
    assert!(
        message.contains("parameters_schema is not a valid JSON Schema"),
        "{message}"
    );
    assert!(matches!(
        engine.emit("s.t", json!({})).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    let stored = engine
        .store()
        .list_definitions(DefinitionKind::TriggerType, Some("s"))
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

// A reference to another document is never fetched: the schema does not compile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_refs_are_not_fetched() {
    let engine = engine().await;
    for r in ["http://127.0.0.1:9/schema.json", "file:///etc/hostname"] {
        let t = TriggerType::new("r.t").payload_schema(json!({"$ref": r}));
        let (what, _) = invalid(engine.register_trigger_type(t).await.unwrap_err());
        assert_eq!(what, "trigger type 'r.t'");
    }
    // References inside the schema resolve.
    let local = json!({
        "definitions": {"pos": {"type": "integer", "minimum": 1}},
        "properties": {"n": {"$ref": "#/definitions/pos"}}
    });
    engine
        .register_trigger_type(TriggerType::new("r.local").payload_schema(local))
        .await
        .unwrap();
    engine.emit("r.local", json!({"n": 1})).await.unwrap();
    let (_, message) = invalid(engine.emit("r.local", json!({"n": 0})).await.unwrap_err());
    assert!(
        message.starts_with("/n: 0 is less than the minimum of 1"),
        "{message}"
    );
}

// A recursive schema over a payload at the nesting limit holds on a 2 MiB stack.
#[test]
fn a_recursive_schema_at_the_depth_limit_holds_on_a_small_stack() {
    let run = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let engine = engine().await;
                let schema = json!({"type": ["array", "integer"], "items": {"$ref": "#"}});
                engine
                    .register_trigger_type(TriggerType::new("deep.t").payload_schema(schema))
                    .await
                    .unwrap();
                let mut ok = json!(1);
                let mut bad = json!("leaf");
                for _ in 0..attune_core::input::MAX_JSON_DEPTH - 1 {
                    ok = json!([ok]);
                    bad = json!([bad]);
                }
                engine.emit("deep.t", ok).await.unwrap();
                let (_, message) = invalid(engine.emit("deep.t", bad).await.unwrap_err());
                assert!(message.contains("\"leaf\" is not of type"), "{message}");
            });
    };
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .expect("no stack overflow");
}

fn timer_rule(params: Value) -> Rule {
    let mut r = Rule::new("tm.every", "core.intervaltimer", "core.noop");
    r.trigger_params = params;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_whose_trigger_parameters_do_not_fit_is_refused() {
    let engine = engine().await;
    let err = engine
        .register_rule(timer_rule(json!({"unit": "fortnights", "delta": 0})))
        .await
        .unwrap_err();
    let (what, message) = invalid(err);
    assert_eq!(what, "rule 'tm.every'");
    assert!(
        message.contains("trigger parameters of trigger type 'core.intervaltimer': /unit: "),
        "{message}"
    );
    assert!(
        message.contains("/delta: 0 is less than the minimum of 1"),
        "{message}"
    );
    assert!(engine.rule("tm.every").is_none());

    engine
        .register_rule(timer_rule(json!({"unit": "minutes", "delta": 5})))
        .await
        .unwrap();
    assert!(engine.rule("tm.every").is_some());
}

fn write_pack(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

async fn refused(engine: &Engine, dir: &Path) -> Vec<attune_core::pack::Problem> {
    match engine.load_pack(dir).await.unwrap_err() {
        Error::Pack(errors) => errors.problems,
        other => panic!("expected Error::Pack, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_payload_schema_is_enforced_at_emit() {
    let engine = engine().await;
    let dir = tempfile::tempdir().unwrap();
    write_pack(
        dir.path(),
        &[
            ("pack.yaml", "ref: shop\nversion: 1.0.0\n"),
            (
                "triggers/order.yaml",
                "name: order\npayload_schema:\n  type: object\n  properties:\n    total: {type: number}\n  required: [total]\n",
            ),
        ],
    );
    engine.load_pack(dir.path()).await.unwrap();
    engine
        .emit("shop.order", json!({"total": 3}))
        .await
        .unwrap();
    let (what, message) = invalid(
        engine
            .emit("shop.order", json!({"total": "3"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(what, "payload of event for trigger 'shop.order'");
    assert_eq!(message, r#"/total: "3" is not of type "number""#);
    engine.settle(SAFETY).await.unwrap();
    assert_eq!(events_of(&engine, "shop.order").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_trigger_schema_that_does_not_compile_is_a_load_error() {
    let engine = engine().await;
    let dir = tempfile::tempdir().unwrap();
    write_pack(
        dir.path(),
        &[
            ("pack.yaml", "ref: bad\nversion: 1.0.0\n"),
            (
                "triggers/t.yaml",
                "name: t\npayload_schema:\n  type: object\n  required: yes-please\n",
            ),
        ],
    );
    let problems = refused(&engine, dir.path()).await;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!(p.file, "triggers/t.yaml");
    assert_eq!(p.path, "payload_schema");
    assert_eq!(p.line, 2);
    assert!(
        p.message
            .starts_with("trigger type 'bad.t': payload_schema is not a valid JSON Schema"),
        "{p:?}"
    );
    assert!(engine.pack("bad").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_rule_whose_trigger_parameters_do_not_fit_is_a_load_error() {
    let engine = engine().await;
    let dir = tempfile::tempdir().unwrap();
    write_pack(
        dir.path(),
        &[
            ("pack.yaml", "ref: tp\nversion: 1.0.0\n"),
            (
                "triggers/watch.yaml",
                "name: watch\nparameters_schema:\n  type: object\n  properties:\n    dir: {type: string}\n  required: [dir]\n  additionalProperties: false\n",
            ),
            (
                "rules/own.yaml",
                "name: own\ntrigger:\n  type: tp.watch\n  parameters:\n    dirr: /tmp\naction: {ref: core.noop}\n",
            ),
            (
                "rules/timer.yaml",
                "name: timer\ntrigger_ref: core.intervaltimer\ntrigger_params: {unit: seconds, delta: 0}\naction_ref: core.noop\n",
            ),
            (
                "rules/fine.yaml",
                "name: fine\ntrigger:\n  type: tp.watch\n  parameters: {dir: /tmp}\naction: {ref: core.noop}\n",
            ),
        ],
    );
    let problems = refused(&engine, dir.path()).await;
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{shown:#?}");
    let own: Vec<_> = problems
        .iter()
        .filter(|p| p.file == "rules/own.yaml")
        .collect();
    assert_eq!(own.len(), 2, "{shown:#?}");
    for p in &own {
        assert_eq!(p.path, "trigger.parameters", "{p:?}");
        assert_eq!(p.line, 4, "{p:?}");
        assert!(
            p.message
                .starts_with("trigger parameters of trigger type 'tp.watch': "),
            "{p:?}"
        );
    }
    assert!(
        own.iter()
            .any(|p| p.message.contains("/dir: is a required property"))
    );
    assert!(
        own.iter()
            .any(|p| p.message.contains("(root): Additional properties"))
    );
    let timer = problems
        .iter()
        .find(|p| p.file == "rules/timer.yaml")
        .expect("timer rule problem");
    assert_eq!(timer.path, "trigger_params");
    assert!(
        timer
            .message
            .contains("/delta: 0 is less than the minimum of 1"),
        "{timer:?}"
    );
    assert!(engine.pack("tp").is_none());
}

// The example packs load, and each example event fits its trigger type's payload schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_events_fit_the_example_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let engine = Engine::builder()
        .runtime(std::sync::Arc::new(StubRuntime("shell")))
        .runtime(std::sync::Arc::new(StubRuntime("python")))
        .build()
        .await
        .unwrap();
    let report = engine
        .load_packs(root.join("examples/packs"), &Default::default())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("examples/events")).unwrap() {
        let path = entry.unwrap().path();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let trigger = doc["trigger"].as_str().unwrap();
        engine
            .emit(trigger, doc["payload"].clone())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n > 0);
}
