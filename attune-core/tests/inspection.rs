//! What an embedder inspects and writes daily: counting and paging the stored records
//! through the engine, filter builders, the `CancellationToken` of a handler's signature,
//! native failures with a result, `register_fn` for a closure that never succeeds, and the
//! names of templated rule params checked at registration.

mod common;

use attune_core::clock::ManualClock;
use attune_core::model::{Action, EnforcementStatus, Event, ExecutionStatus, Rule, TriggerType};
use attune_core::params::ParamSpec;
use attune_core::runtime::{ActionContext, CancellationToken, typed};
use attune_core::store::{
    EnforcementFilter, EventFilter, ExecutionFilter, MemoryStore, Page, Store, StoreExt,
};
use attune_core::{Engine, Error};
use chrono::{TimeDelta, Utc};
use common::{SAFETY, engine};
use serde_json::{Value, json};
use std::sync::Arc;

/// The message of an `Error::Invalid`, with what it names.
fn invalid(e: Error) -> String {
    match e {
        Error::Invalid { what, message } => format!("{what}: {message}"),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

/// An engine on a manual clock with the trigger `ins.tick`, the action `ins.echo` (declares
/// `n`; returns its params) and the rule `ins.on_tick` (`n` from the payload, criteria
/// `n < 100`: larger ones match nothing).
async fn inspected() -> (Engine, Arc<ManualClock>, chrono::DateTime<Utc>) {
    let start = Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    let engine = Engine::builder()
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("ins.tick"))
        .await
        .unwrap();
    engine
        .register_trigger_type(TriggerType::new("ins.tock"))
        .await
        .unwrap();
    engine
        .register_native(
            Action::new("ins.echo", "native").param("n", ParamSpec::integer().required()),
            |ctx: ActionContext| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ins.on_tick", "ins.tick", "ins.echo")
                .criteria(json!({"trigger.n": {"type": "lt", "pattern": 100}}))
                .param("n", json!("{{ trigger.n }}")),
        )
        .await
        .unwrap();
    (engine, clock, start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_counts_and_pages_events_enforcements_and_executions() {
    let (engine, clock, start) = inspected().await;
    // Ten ticks a minute apart (three that no rule matches), each handled within its minute;
    // two tocks.
    for n in 0..10 {
        let n = if n % 3 == 2 { 100 + n } else { n };
        engine.emit("ins.tick", json!({ "n": n })).await.unwrap();
        engine.settle(SAFETY).await.unwrap();
        clock.advance(TimeDelta::minutes(1));
    }
    engine.emit("ins.tock", json!({})).await.unwrap();
    engine.emit("ins.tock", json!({})).await.unwrap();
    engine.settle(SAFETY).await.unwrap();

    let ticks = EventFilter::new().trigger("ins.tick");
    assert_eq!(engine.count_events(&EventFilter::new()).await.unwrap(), 12);
    assert_eq!(engine.count_events(&ticks).await.unwrap(), 10);
    // A time range: the ticks of minutes 2 to 5 (until is exclusive).
    let window = ticks
        .clone()
        .since(start + TimeDelta::minutes(2))
        .until(start + TimeDelta::minutes(6));
    let in_window = engine.events(&window, Page::first(100)).await.unwrap();
    let ns: Vec<Value> = in_window.iter().map(|e| e.payload["n"].clone()).collect();
    assert_eq!(ns, [json!(102), json!(3), json!(4), json!(105)]);
    assert_eq!(engine.count_events(&window).await.unwrap(), 4);

    // Paging by 4 sees every tick once, in emit order.
    let mut seen = Vec::new();
    let mut page = Page::first(4);
    loop {
        let rows = engine.events(&ticks, page).await.unwrap();
        assert!(rows.len() <= 4, "a page holds at most its limit");
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, 4);
        seen.extend(rows.iter().map(|e| e.payload["n"].as_u64().unwrap()));
    }
    assert_eq!(seen, [0, 1, 102, 3, 4, 105, 6, 7, 108, 9]);

    // Seven ticks matched the rule: seven processed enforcements, seven executions.
    let of_rule = EnforcementFilter::new().rule("ins.on_tick");
    assert_eq!(engine.count_enforcements(&of_rule).await.unwrap(), 7);
    let processed = of_rule.clone().status(EnforcementStatus::Processed);
    assert_eq!(engine.count_enforcements(&processed).await.unwrap(), 7);
    let first_event = engine.events(&ticks, Page::first(1)).await.unwrap()[0].id;
    let of_first = engine
        .enforcements(
            &EnforcementFilter::new().event(first_event),
            Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(of_first.len(), 1);
    assert_eq!(
        engine.enforcement(of_first[0].id).await.unwrap(),
        of_first[0],
        "enforcement(id) reads what the list returned"
    );
    let late = of_rule.since(start + TimeDelta::minutes(5));
    assert_eq!(engine.count_enforcements(&late).await.unwrap(), 3);

    let echoes = ExecutionFilter::new()
        .action("ins.echo")
        .status(ExecutionStatus::Succeeded);
    assert_eq!(engine.count_executions(&echoes).await.unwrap(), 7);
    let by_rule = ExecutionFilter::new()
        .rule("ins.on_tick")
        .event(first_event);
    let first = engine.executions(&by_rule, Page::first(10)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].result, Some(json!({"n": 0})));
    let early = ExecutionFilter::new().until(start + TimeDelta::minutes(2));
    assert_eq!(engine.count_executions(&early).await.unwrap(), 2);
    assert_eq!(
        engine
            .count_executions(&ExecutionFilter::new().status(ExecutionStatus::Failed))
            .await
            .unwrap(),
        0
    );
    let event = engine.event(first_event).await.unwrap();
    assert_eq!(event.payload, json!({"n": 0}));
}

#[test]
fn filter_builders_set_the_fields_they_name() {
    let (since, until) = (Utc::now(), Utc::now() + TimeDelta::hours(1));
    let parent = attune_core::model::ExecutionId::new();
    let event = attune_core::model::EventId::new();
    let enforcement = attune_core::model::EnforcementId::new();
    let f = ExecutionFilter::new()
        .action("core.local")
        .status(ExecutionStatus::Failed)
        .status(ExecutionStatus::Timeout)
        .status(ExecutionStatus::Failed)
        .parent(parent)
        .event(event)
        .enforcement(enforcement)
        .rule("ops.r")
        .since(since)
        .until(until);
    assert_eq!(f.action.as_deref(), Some("core.local"));
    assert_eq!(
        f.status,
        Some(vec![ExecutionStatus::Failed, ExecutionStatus::Timeout]),
        "status adds each once"
    );
    assert_eq!(
        (f.parent, f.event, f.enforcement),
        (Some(parent), Some(event), Some(enforcement))
    );
    assert_eq!(f.rule.as_deref(), Some("ops.r"));
    assert_eq!((f.since, f.until), (Some(since), Some(until)));
    assert_eq!(
        f.clone().with_status([ExecutionStatus::Succeeded]).status,
        Some(vec![ExecutionStatus::Succeeded]),
        "with_status replaces"
    );
    assert_eq!(ExecutionFilter::new(), ExecutionFilter::default());

    let f = EnforcementFilter::new()
        .rule("ops.r")
        .event(event)
        .status(EnforcementStatus::Failed)
        .since(since)
        .until(until);
    assert_eq!(
        (f.rule.as_deref(), f.event, f.status, f.since, f.until),
        (
            Some("ops.r"),
            Some(event),
            Some(EnforcementStatus::Failed),
            Some(since),
            Some(until)
        )
    );

    let f = EventFilter::new()
        .trigger("ops.alert")
        .since(since)
        .until(until)
        .unmatched_only();
    assert_eq!(
        (f.trigger.as_deref(), f.since, f.until, f.unmatched_only),
        (Some("ops.alert"), Some(since), Some(until), true)
    );
}

#[tokio::test]
async fn store_pagers_visit_every_event_and_enforcement_past_a_page() {
    let store = MemoryStore::new();
    let t = Utc::now();
    let mut ids = Vec::new();
    for n in 0..2345 {
        let trigger = if n % 5 == 0 { "p.five" } else { "p.other" };
        let e = Event::new(trigger, json!({ "n": n }), t);
        store.insert_event(&e).await.unwrap();
        if n % 2 == 0 {
            let enf = attune_core::model::Enforcement::new("p.rule", e.id, trigger, t);
            store.insert_enforcement(&enf).await.unwrap();
        }
        ids.push(e.id);
    }
    let mut seen = Vec::new();
    store
        .each_event(&EventFilter::new(), &mut |e| seen.push(e.id))
        .await
        .unwrap();
    assert_eq!(seen, ids, "every event once, in id order");
    let mut fives = 0;
    store
        .each_event(&EventFilter::new().trigger("p.five"), &mut |_| fives += 1)
        .await
        .unwrap();
    assert_eq!(fives, 469);
    let mut events_of_enforcements = Vec::new();
    store
        .each_enforcement(&EnforcementFilter::new().rule("p.rule"), &mut |e| {
            events_of_enforcements.push(e.event)
        })
        .await
        .unwrap();
    let even: Vec<_> = ids.iter().step_by(2).copied().collect();
    assert_eq!(events_of_enforcements, even);
    assert_eq!(
        store
            .count_enforcements(&EnforcementFilter::new())
            .await
            .unwrap(),
        1173
    );
}

/// Waits on the handler's token: the type of the handler's signature, from attune_core.
async fn until_canceled(token: CancellationToken) -> &'static str {
    token.cancelled().await;
    "canceled"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_names_the_cancellation_token_through_attune_core() {
    let engine = engine().await;
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (saw_tx, mut saw) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    engine
        .register_fn("ins.wait", move |ctx| {
            let (started_tx, saw_tx) = (started_tx.clone(), saw_tx.clone());
            async move {
                let token: CancellationToken = ctx.cancel.clone();
                let _ = started_tx.send(());
                let _ = saw_tx.send(until_canceled(token).await);
                Ok(json!({}))
            }
        })
        .await
        .unwrap();
    let id = engine.execute("ins.wait", json!({})).await.unwrap();
    let mut started = started;
    tokio::time::timeout(SAFETY, started.recv())
        .await
        .expect("the handler starts");
    engine.cancel(id).await.unwrap();
    let x = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Canceled);
    assert_eq!(
        tokio::time::timeout(SAFETY, saw.recv()).await.unwrap(),
        Some("canceled"),
        "the handler saw its token fire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_failure_with_a_result_is_stored_failed_with_that_result() {
    let engine = engine().await;
    engine
        .register_native(
            Action::new("ins.check", "native")
                .param("free", ParamSpec::integer().required())
                .param("token", ParamSpec::string().secret()),
            |ctx: ActionContext| async move {
                let free = ctx.param("free").and_then(Value::as_u64).unwrap_or(0);
                if free < 10 {
                    let token = ctx.param("token").cloned().unwrap_or(Value::Null);
                    return Err(Error::action_failed(
                        format!("only {free} GB free"),
                        json!({ "free": free, "token": token }),
                    ));
                }
                Ok(json!({ "free": free }))
            },
        )
        .await
        .unwrap();
    let x = engine
        .run("ins.check", json!({"free": 3, "token": "s3cr3t-value"}))
        .await
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(
        x.result,
        Some(json!({"free": 3, "token": "********"})),
        "the action's result is stored, secrets masked"
    );
    assert_eq!(x.error.as_deref(), Some("action failed: only 3 GB free"));
    let ok = engine.run("ins.check", json!({"free": 30})).await.unwrap();
    assert_eq!(ok.status, ExecutionStatus::Succeeded);

    // Through `typed` too; any other error keeps the `{"error": ...}` result.
    #[derive(serde::Deserialize)]
    struct Want {
        code: i64,
    }
    engine
        .register_fn(
            "ins.typed",
            typed(|w: Want| async move {
                match w.code {
                    0 => Ok(json!("fine")),
                    1 => Err(Error::action_failed("code 1", json!({ "code": 1 }))),
                    _ => Err(Error::Action("plain".into())),
                }
            }),
        )
        .await
        .unwrap();
    let x = engine.run("ins.typed", json!({"code": 1})).await.unwrap();
    assert_eq!(
        (x.status, x.result),
        (ExecutionStatus::Failed, Some(json!({"code": 1})))
    );
    let x = engine.run("ins.typed", json!({"code": 2})).await.unwrap();
    assert_eq!(
        (x.status, x.result),
        (
            ExecutionStatus::Failed,
            Some(json!({"error": "action failed: plain"}))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_fn_takes_a_closure_that_never_returns_ok() {
    let engine = engine().await;
    engine
        .register_fn::<Value, _, _>("ins.never", |_ctx| async move {
            Err(Error::action_failed("never", json!({"tried": true})))
        })
        .await
        .unwrap();
    engine
        .register_fn::<(), _, _>("ins.never_plain", |_ctx| async move {
            Err(Error::Action("no".into()))
        })
        .await
        .unwrap();
    let x = engine.run("ins.never", json!({})).await.unwrap();
    assert_eq!(
        (x.status, x.result),
        (ExecutionStatus::Failed, Some(json!({"tried": true})))
    );
    let x = engine.run("ins.never_plain", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_rule_param_the_action_does_not_declare_is_refused_with_a_hint() {
    let engine = engine().await;
    engine
        .register_trigger_type(TriggerType::new("ins.alert"))
        .await
        .unwrap();
    let msg = invalid(
        engine
            .register_rule(
                Rule::new("ins.typo", "ins.alert", "core.echo")
                    .param("mesage", json!("{{ trigger.text }}")),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("rule 'ins.typo'")
            && msg.contains("action 'core.echo'")
            && msg.contains("parameter 'mesage'")
            && msg.contains("did you mean 'message'?"),
        "{msg}"
    );
    assert!(engine.rule("ins.typo").is_none(), "nothing registered");

    // Nested in a value, a template still makes the param templated: its name is checked.
    let msg = invalid(
        engine
            .register_rule(
                Rule::new("ins.nested", "ins.alert", "core.echo")
                    .param("message", json!("fixed"))
                    .param("extra", json!({"a": ["{{ trigger.x }}"]})),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("parameter 'extra'") && msg.contains("unknown parameter"),
        "{msg}"
    );

    // A declared templated param is accepted, required or not; a mix with literal ones too.
    engine
        .register_rule(
            Rule::new("ins.good", "ins.alert", "core.echo")
                .param("message", json!("{{ trigger.text }}")),
        )
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ins.sleepy", "ins.alert", "core.sleep")
                .param("delay", json!("{{ trigger.delay | default(0) }}")),
        )
        .await
        .unwrap();
    // An action that declares no parameters accepts any name, templated or not.
    engine
        .register_fn(
            "ins.open",
            |ctx| async move { Ok(Value::Object(ctx.params)) },
        )
        .await
        .unwrap();
    engine
        .register_rule(
            Rule::new("ins.any", "ins.alert", "ins.open")
                .param("whatever", json!("{{ trigger.text }}"))
                .param("literal", json!(1)),
        )
        .await
        .unwrap();
    let trace = common::emit_and_trace(&engine, "ins.alert", json!({"text": "hi"})).await;
    let open = trace
        .executions
        .iter()
        .find(|x| x.action == "ins.open")
        .expect("ins.open ran");
    assert_eq!(
        open.result,
        Some(json!({"whatever": "hi", "literal": 1})),
        "{trace:#?}"
    );
}

#[tokio::test]
async fn a_pack_rule_with_a_templated_param_the_action_does_not_declare_is_refused() {
    let engine = engine().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("pack.yaml", "ref: tpl\n");
    write(
        "rules/r.yaml",
        "name: r\ntrigger: {type: core.webhook}\naction:\n  ref: core.echo\n  parameters:\n    mesage: \"{{ trigger.body }}\"\n",
    );
    let Err(Error::Pack(errors)) = engine.load_pack(dir.path()).await else {
        panic!("the pack must be refused")
    };
    let text = errors.to_string();
    assert!(
        text.contains("rules/r.yaml")
            && text.contains("action.parameters.mesage")
            && text.contains("core.echo")
            && text.contains("did you mean 'message'?"),
        "{text}"
    );
    assert!(engine.pack("tpl").is_none());
}
