//! Action parameter defaults that are templates, rendered when an execution is created as
//! StackStorm renders them: other params, `config_context`, `st2kv` (with `decrypt_kv`),
//! `action_context`; in dependency order, checked against their schema.

mod common;

use attune_core::Engine;
use attune_core::keystore::{EncryptionKey, KeyOptions};
use attune_core::model::{ExecutionStatus, KeyScope};
use common::write_pack;
use serde_json::{Value, json};

/// An engine with pack `d`: a rhai action returning its params, whose defaults are
/// templates of each other, of the pack's config and of the key store.
async fn engine_with_pack() -> (Engine, tempfile::TempDir) {
    let e = Engine::builder()
        .encryption_key(EncryptionKey::generate().unwrap())
        .build()
        .await
        .unwrap();
    let dir = write_pack(&[
        (
            "pack.yaml",
            "ref: d\nconfig:\n  region: eu-west\n  port: 8443\n",
        ),
        (
            "config.schema.yaml",
            "region: {type: string}\nport: {type: integer}\n",
        ),
        (
            "actions/show.yaml",
            concat!(
                "name: show\nrunner_type: rhai\n",
                "code: '#{host: host, url: url, port: port, token_ok: token == \"s3cret-token\", who: who, mine: mine}'\n",
                "parameters:\n",
                "  host: {type: string, default: 'api.{{ config_context.region }}.example'}\n",
                "  url: {type: string, default: 'https://{{ host }}:{{ port }}/{{ path }}'}\n",
                "  port: {type: integer, default: '{{ config_context.port }}'}\n",
                "  path: {type: string, default: v1}\n",
                "  token: {type: string, secret: true, default: '{{ st2kv.system.token | decrypt_kv }}'}\n",
                "  who: {type: string, default: '{{ action_context.user }}'}\n",
                "  mine: {type: string, default: \"{{ st2kv.user.color | default('none') }}\"}\n",
            ),
        ),
        (
            "actions/cycle.yaml",
            "name: cycle\nrunner_type: rhai\ncode: '#{a: a, b: b}'\nparameters:\n  a: {type: string, default: '{{ b }}'}\n  b: {type: string, default: '{{ a }}'}\n  c: {type: string, default: fine}\n",
        ),
        (
            "actions/typed.yaml",
            "name: typed\nrunner_type: rhai\ncode: 'n'\nparameters:\n  n: {type: integer, default: '{{ config_context.region }}'}\n",
        ),
        (
            "actions/optional.yaml",
            "name: optional\nrunner_type: rhai\ncode: 'if is_def_var(\"n\") { n } else { \"unset\" }'\nparameters:\n  n: {type: integer, default: '{{ none }}'}\n",
        ),
    ]);
    e.load_pack(dir.path()).await.unwrap();
    e.set_key(
        KeyScope::System,
        "token",
        json!("s3cret-token"),
        KeyOptions {
            encrypt: true,
            ..KeyOptions::default()
        },
    )
    .await
    .unwrap();
    e.set_key(
        KeyScope::User("ann".into()),
        "color",
        json!("teal"),
        KeyOptions::default(),
    )
    .await
    .unwrap();
    (e, dir)
}

fn param<'a>(v: &'a Option<Value>, name: &str) -> &'a Value {
    &v.as_ref().expect("a result")[name]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_defaults_render_in_dependency_order() {
    let (e, _dir) = engine_with_pack().await;
    let x = e.run_as("ann", "d.show", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    let r = &x.result;
    assert_eq!(param(r, "host"), &json!("api.eu-west.example"));
    assert_eq!(
        param(r, "port"),
        &json!(8443),
        "a whole expression keeps its type"
    );
    assert_eq!(
        param(r, "url"),
        &json!("https://api.eu-west.example:8443/v1"),
        "rendered after the defaults it names"
    );
    assert_eq!(param(r, "who"), &json!("ann"));
    assert_eq!(param(r, "mine"), &json!("teal"));
    // decrypt_kv opened the token: the action got it, and it shows nowhere stored.
    assert_eq!(param(r, "token_ok"), &json!(true));
    let stored = e.execution(x.id).await.unwrap();
    assert_eq!(stored.params["token"], json!("********"));
    assert!(!stored.result.unwrap().to_string().contains("s3cret-token"));

    // A given value wins, and is taken as it is (not rendered).
    let x = e
        .run_as("bob", "d.show", json!({"host": "h", "path": "{{ port }}"}))
        .await
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(param(&x.result, "url"), &json!("https://h:8443/{{ port }}"));
    assert_eq!(
        param(&x.result, "mine"),
        &json!("none"),
        "bob has no such key"
    );
    assert_eq!(param(&x.result, "who"), &json!("bob"));

    // Without a user there is no user scope: an error naming what the default read.
    let err = e
        .execute("d.show", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("param 'mine' default") && err.contains("st2kv.user"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_templated_defaults_are_errors_naming_the_param() {
    let (e, _dir) = engine_with_pack().await;
    let err = e
        .execute("d.cycle", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the defaults of a, b name each other in a cycle"),
        "{err}"
    );
    // Given one of them, the other renders from it.
    let x = e.run("d.cycle", json!({"a": "x"})).await.unwrap();
    assert_eq!(x.result.unwrap()["b"], json!("x"));

    let err = e
        .execute("d.typed", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("parameter 'n': expected integer, got string (its default, once rendered)"),
        "{err}"
    );
    // An optional param whose default renders to nothing is left unset.
    let x = e.run("d.optional", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(x.result, Some(json!("unset")));
}
