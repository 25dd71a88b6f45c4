//! The builder's settings and the side-effect-free dry run.

use attune_core::model::{Rule, TriggerType};
use attune_core::{Engine, Error, Retention};
use serde_json::{Value, json};
use std::time::Duration;

// Nonsense settings are refused with an error naming the setting, not a panic.
#[tokio::test]
async fn builder_rejects_nonsense_settings() {
    for (builder, what) in [
        (Engine::builder().worker_slots(0), "worker_slots"),
        (Engine::builder().batch_size(0), "batch_size"),
        (Engine::builder().lease(Duration::ZERO), "lease"),
        (
            Engine::builder().retention(Retention::keep_last(0)),
            "retention",
        ),
    ] {
        let err = builder.build().await.unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

// Building outside a tokio runtime is an error, not a panic.
#[test]
fn builder_outside_tokio_is_an_error() {
    let err = futures::executor::block_on(Engine::builder().build()).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

// dry_run reports each rule's verdict (and a condition error) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_verdicts_and_writes_nothing() {
    let engine = Engine::builder().build().await.unwrap();
    engine
        .register_trigger_type(TriggerType::new("d.t"))
        .await
        .unwrap();
    engine
        .register_fn("d.noop", |_ctx| async move { Ok(Value::Null) })
        .await
        .unwrap();
    let rule = |name: &str, criteria: Value| {
        Rule::new(format!("d.{name}"), "d.t", "d.noop").criteria(criteria)
    };
    engine
        .register_rule(rule(
            "hit",
            json!({"trigger.n": {"type": "gt", "pattern": 1}}),
        ))
        .await
        .unwrap();
    engine
        .register_rule(rule(
            "miss",
            json!({"trigger.n": {"type": "lt", "pattern": 1}}),
        ))
        .await
        .unwrap();
    engine
        .register_rule(rule(
            "broken",
            json!({"trigger.n": {"type": "search", "condition": "any", "pattern": {"item.x": {"type": "exists"}}}}),
        ))
        .await
        .unwrap();
    engine
        .register_rule(Rule::new("d.fallback", "d.t", "d.noop").backstop())
        .await
        .unwrap();

    let verdicts = engine.dry_run("d.t", &json!({"n": 5})).await.unwrap();
    let by = |r: &str| verdicts.iter().find(|v| v.rule == r).unwrap().clone();
    assert!(by("d.hit").matched);
    assert!(!by("d.miss").matched && by("d.miss").error.is_none());
    let broken = by("d.broken");
    assert!(!broken.matched);
    assert!(
        broken.error.as_deref().unwrap().contains("trigger.n"),
        "{broken:?}"
    );
    assert!(
        verdicts.iter().all(|v| v.rule != "d.fallback"),
        "a backstop is not evaluated when a standard rule matched"
    );
    let only_backstop = engine.dry_run("d.t", &json!({"n": 1})).await.unwrap();
    assert!(
        only_backstop
            .iter()
            .any(|v| v.rule == "d.fallback" && v.matched)
    );

    let stored = engine
        .store()
        .count_executions(&Default::default())
        .await
        .unwrap();
    assert_eq!(stored, 0, "a dry run executes nothing");
    let err = engine.dry_run("d.unknown", &json!({})).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// A leadership flag given to an engine without the role it leads would leave that work
/// to nobody if the engine won it: refused, naming both. Fewer roles than all on a store
/// only one engine uses is refused too.
#[tokio::test]
async fn builder_refuses_leaderships_without_their_roles_and_roles_on_a_private_store() {
    use attune_core::Role;
    let (_tx, rx) = tokio::sync::watch::channel(true);
    for (builder, what, role) in [
        (
            Engine::builder()
                .roles([Role::Match])
                .timers_leader(rx.clone()),
            "timers",
            "timers",
        ),
        (
            Engine::builder()
                .roles([Role::Work])
                .sensors_leader(rx.clone()),
            "sensors",
            "sensors",
        ),
        (
            Engine::builder()
                .roles([Role::Work])
                .policies_leader(rx.clone()),
            "policies",
            "schedule",
        ),
    ] {
        match builder.build().await {
            Err(Error::Invalid { message, .. }) => assert!(
                message.contains(&format!("for the {what}"))
                    && message.contains(&format!("'{role}'")),
                "{message}"
            ),
            other => panic!("expected Invalid for {what}, got {other:?}"),
        }
    }
    match Engine::builder().roles([Role::Match]).build().await {
        Err(Error::Invalid { message, .. }) => {
            assert!(message.contains("roles other than all"), "{message}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}
