//! The key-value store from the host (`Engine::set_key` and the rest): scopes, time to live,
//! values encrypted under the engine's key (never stored with the data), a wrong or missing
//! key as a clear error, rotation, bad names; and workflows reading encrypted keys with
//! `st2kv(key, decrypt=true)`.

mod common;

use attune_core::clock::ManualClock;
use attune_core::keystore::{EncryptionKey, KeyOptions};
use attune_core::model::{ExecutionStatus, KeyScope};
use attune_core::store::{MemoryStore, Store};
use attune_core::{Engine, Error};
use common::write_pack;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn encrypted() -> KeyOptions {
    KeyOptions {
        encrypt: true,
        ..KeyOptions::default()
    }
}

async fn engine_on(store: Arc<MemoryStore>, key: Option<EncryptionKey>) -> Engine {
    let mut b = Engine::builder().store(store);
    if let Some(k) = key {
        b = b.encryption_key(k);
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn encrypted_values_are_stored_sealed_and_read_with_the_key_only() {
    let store = Arc::new(MemoryStore::new());
    let key = EncryptionKey::generate().unwrap();
    let e = engine_on(store.clone(), Some(key.clone())).await;
    let user = KeyScope::User("ann".into());
    e.set_key(
        KeyScope::System,
        "db.password",
        json!("hunter2"),
        encrypted(),
    )
    .await
    .unwrap();
    e.set_key(
        user.clone(),
        "pref",
        json!({"theme": "dark"}),
        KeyOptions::default(),
    )
    .await
    .unwrap();

    // What the store holds is not the secret.
    let raw = store
        .get_key(&KeyScope::System, "db.password")
        .await
        .unwrap()
        .unwrap();
    assert!(raw.encrypted);
    assert!(!raw.value.to_string().contains("hunter2"), "{}", raw.value);
    let got = e
        .get_key(&KeyScope::System, "db.password", true)
        .await
        .unwrap();
    assert_eq!(got.unwrap().value, json!("hunter2"));
    let sealed = e
        .get_key(&KeyScope::System, "db.password", false)
        .await
        .unwrap();
    assert_eq!(
        sealed.unwrap().value,
        raw.value,
        "without decrypt: as stored"
    );
    // Scopes are apart.
    assert_eq!(e.get_key(&user, "db.password", true).await.unwrap(), None);
    assert_eq!(
        e.get_key(&user, "pref", false)
            .await
            .unwrap()
            .unwrap()
            .value,
        json!({"theme": "dark"})
    );
    let all: Vec<(String, String)> = e
        .list_keys(None, "", true)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.scope.to_string(), k.value.to_string()))
        .collect();
    assert_eq!(
        all,
        [
            ("system".to_string(), "\"hunter2\"".to_string()),
            ("user:ann".to_string(), "{\"theme\":\"dark\"}".to_string())
        ]
    );

    // Another engine on the same store, with another key or none: a clear error, never
    // garbage; the plain key still reads.
    let other = engine_on(store.clone(), Some(EncryptionKey::generate().unwrap())).await;
    let err = other
        .get_key(&KeyScope::System, "db.password", true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key 'db.password' (system)") && err.contains(key.id()),
        "{err}"
    );
    let none = engine_on(store.clone(), None).await;
    let err = none
        .get_key(&KeyScope::System, "db.password", true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has none (EngineBuilder::encryption_key)"),
        "{err}"
    );
    let err = none
        .set_key(KeyScope::System, "x", json!(1), encrypted())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(none.get_key(&user, "pref", false).await.unwrap().is_some());
    assert!(e.delete_key(&user, "pref").await.unwrap());
    assert!(!e.delete_key(&user, "pref").await.unwrap());
}

#[tokio::test]
async fn rotation_re_encrypts_every_value_and_a_foreign_one_stops_it() {
    let store = Arc::new(MemoryStore::new());
    let old = EncryptionKey::generate().unwrap();
    let e = engine_on(store.clone(), Some(old.clone())).await;
    for (i, scope) in [KeyScope::System, KeyScope::Pack("p".into())]
        .into_iter()
        .enumerate()
    {
        e.set_key(scope, "k", json!(i), encrypted()).await.unwrap();
    }
    e.set_key(KeyScope::System, "plain", json!("p"), KeyOptions::default())
        .await
        .unwrap();
    let new = EncryptionKey::generate().unwrap();
    assert_eq!(e.rotate_encryption_key(new.clone()).await.unwrap(), 2);
    assert_eq!(
        e.get_key(&KeyScope::Pack("p".into()), "k", true)
            .await
            .unwrap()
            .unwrap()
            .value,
        json!(1)
    );
    // The old key no longer opens them; the new one does, in a new engine.
    let with_old = engine_on(store.clone(), Some(old)).await;
    assert!(
        with_old
            .get_key(&KeyScope::System, "k", true)
            .await
            .is_err()
    );
    let with_new = engine_on(store.clone(), Some(new)).await;
    assert_eq!(
        with_new
            .get_key(&KeyScope::System, "k", true)
            .await
            .unwrap()
            .unwrap()
            .value,
        json!(0)
    );

    // A value sealed under a third key: rotation refuses, naming it, and changes nothing.
    let stranger = engine_on(store.clone(), Some(EncryptionKey::generate().unwrap())).await;
    stranger
        .set_key(KeyScope::System, "foreign", json!("f"), encrypted())
        .await
        .unwrap();
    let before = store.list_keys(None).await.unwrap();
    let err = with_new
        .rotate_encryption_key(EncryptionKey::generate().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("key 'foreign' (system)"), "{err}");
    assert_eq!(store.list_keys(None).await.unwrap(), before);
}

#[tokio::test]
async fn a_ttl_expires_a_key_and_bad_names_and_ttls_are_refused() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let e = Engine::builder()
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    let ttl = KeyOptions {
        ttl: Some(Duration::from_secs(30)),
        ..KeyOptions::default()
    };
    let k = e
        .set_key(KeyScope::System, "session", json!("s"), ttl)
        .await
        .unwrap();
    assert!(k.expires.is_some());
    assert!(
        e.get_key(&KeyScope::System, "session", false)
            .await
            .unwrap()
            .is_some()
    );
    clock.advance(chrono::TimeDelta::seconds(31));
    assert_eq!(
        e.get_key(&KeyScope::System, "session", false)
            .await
            .unwrap(),
        None
    );
    assert!(e.list_keys(None, "", false).await.unwrap().is_empty());

    let zero = KeyOptions {
        ttl: Some(Duration::ZERO),
        ..KeyOptions::default()
    };
    let err = e
        .set_key(KeyScope::System, "k", json!(1), zero)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than zero"), "{err}");
    for (name, why) in [
        ("../etc/passwd", "is a path"),
        ("", "must not be empty"),
        ("a\0b", "control"),
    ] {
        let err = e
            .set_key(KeyScope::System, name, json!(1), KeyOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{name:?}: {err}");
    }
}

/// A workflow reads an encrypted key with `st2kv(key, decrypt=true)` (Jinja and YAQL), and
/// without `decrypt` fails saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_read_encrypted_keys_with_decrypt_only() {
    let e = Engine::builder()
        .encryption_key(EncryptionKey::generate().unwrap())
        .build()
        .await
        .unwrap();
    e.set_key(KeyScope::System, "api_token", json!("tok-123"), encrypted())
        .await
        .unwrap();
    let dir = write_pack(&[
        ("pack.yaml", "ref: kvp\n"),
        (
            "actions/read.yaml",
            "name: read\nrunner_type: orquesta\nentry_point: workflows/read.yaml\nparameters:\n  decrypt: {type: boolean, default: true}\n",
        ),
        (
            "actions/workflows/read.yaml",
            "input: [decrypt]\ntasks:\n  a:\n    action: core.noop\noutput:\n  - jinja: '{{ st2kv(\"system.api_token\", decrypt=ctx(\"decrypt\")) }}'\n  - yaql: <% st2kv(\"system.api_token\", decrypt => ctx(decrypt)) %>\n",
        ),
    ]);
    e.load_pack(dir.path()).await.unwrap();
    let x = e.run("kvp.read", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["output"],
        json!({"jinja": "tok-123", "yaql": "tok-123"})
    );
    let x = e.run("kvp.read", json!({"decrypt": false})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    let err = x.error.unwrap_or_default();
    assert!(
        err.contains("is encrypted: read it with decrypt=true"),
        "{err}"
    );
    assert!(!err.contains("tok-123"), "{err}");
}

/// The params the action of [`decrypting_rule`] saw last.
type Seen = Arc<std::sync::Mutex<Option<serde_json::Value>>>;

/// An engine holding `key`, with the key `api_token` (encrypted under `sealing`) and
/// `region` (plain), a native action echoing its params (and keeping them in `Seen`), and a
/// rule passing them through templates.
async fn decrypting_rule(sealing: EncryptionKey, key: Option<EncryptionKey>) -> (Engine, Seen) {
    let store = Arc::new(MemoryStore::new());
    {
        let e = engine_on(store.clone(), Some(sealing)).await;
        e.set_key(
            KeyScope::System,
            "api_token",
            json!("s3cr3t-t0ken"),
            encrypted(),
        )
        .await
        .unwrap();
        e.set_key(
            KeyScope::System,
            "region",
            json!("eu"),
            KeyOptions::default(),
        )
        .await
        .unwrap();
        e.shutdown(Duration::from_secs(1)).await;
    }
    let e = engine_on(store, key).await;
    e.register_trigger_type(attune_core::model::TriggerType::new("k.go"))
        .await
        .unwrap();
    let seen: Seen = Arc::new(std::sync::Mutex::new(None));
    let s = seen.clone();
    e.register_fn("k.echo", move |ctx| {
        let s = s.clone();
        async move {
            *s.lock().unwrap() = Some(json!(ctx.params));
            Ok(json!(ctx.params))
        }
    })
    .await
    .unwrap();
    e.register_rule(
        attune_core::model::Rule::new("k.pass", "k.go", "k.echo")
            .param("token", json!("{{ st2kv.system.api_token | decrypt_kv }}"))
            .param(
                "auth",
                json!("Bearer {{ st2kv.system.api_token | decrypt_kv }}"),
            )
            .param("raw", json!("{{ st2kv.system.api_token }}"))
            .param("region", json!("{{ st2kv.system.region }}")),
    )
    .await
    .unwrap();
    (e, seen)
}

// A rule's params read an encrypted key through `decrypt_kv`: the action gets the value,
// the stored params and the outputs have it masked, and `st2kv.system.NAME` alone gives the
// sealed text (as StackStorm gives the ciphertext).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_decrypt_keys_only_through_decrypt_kv_and_mask_them() {
    let key = EncryptionKey::generate().unwrap();
    let (e, seen) = decrypting_rule(key.clone(), Some(key)).await;
    let event = e.emit("k.go", json!({})).await.unwrap();
    e.settle(Duration::from_secs(10)).await.unwrap();
    let got = seen.lock().unwrap().clone().expect("the action ran");
    assert_eq!(got["token"], json!("s3cr3t-t0ken"));
    assert_eq!(got["auth"], json!("Bearer s3cr3t-t0ken"));
    assert!(
        got["raw"]
            .as_str()
            .unwrap()
            .starts_with("attune:aes256gcm:"),
        "{got}"
    );
    let x = &e.trace_event(event).await.unwrap().executions[0];
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    let stored = serde_json::to_string(&(&x.params, &x.result)).unwrap();
    assert!(!stored.contains("s3cr3t-t0ken"), "{stored}");
    assert_eq!(x.params["token"], json!("********"));
    assert_eq!(x.params["auth"], json!("Bearer ********"));
    assert_eq!(x.result.as_ref().unwrap()["token"], json!("********"));
    // A rule test shows the params masked too.
    let tests = e.test_rules("k.go", &json!({}), None).await.unwrap();
    let shown = serde_json::to_string(&tests[0].params).unwrap();
    assert!(
        !shown.contains("s3cr3t-t0ken") && shown.contains("********"),
        "{shown}"
    );
}

// Without the key the value was sealed under, or with none, the enforcement fails saying
// so; nothing runs, and no ciphertext or garbage is passed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrypt_kv_without_the_right_key_fails_the_enforcement() {
    for key in [None, Some(EncryptionKey::generate().unwrap())] {
        let missing = key.is_none();
        let (e, _) = decrypting_rule(EncryptionKey::generate().unwrap(), key).await;
        let event = e.emit("k.go", json!({})).await.unwrap();
        e.settle(Duration::from_secs(10)).await.unwrap();
        let trace = e.trace_event(event).await.unwrap();
        assert!(trace.executions.is_empty());
        let why = trace.enforcements[0].failure.clone().unwrap_or_default();
        let want = if missing {
            "this engine has no encryption key"
        } else {
            "was encrypted under encryption key"
        };
        assert!(why.contains("decrypt_kv") && why.contains(want), "{why}");
        assert!(why.contains("rule 'k.pass'"), "{why}");
    }
}

/// Executions run on behalf of a user: `execute_as` sets it, a workflow's tasks inherit it,
/// rules' executions get the engine's system user. The user scope is that user's keys:
/// `st2kv('NAME')` in workflows, `st2kv.user.NAME` in rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_have_a_user_whose_keys_they_read() {
    let e = Engine::builder()
        .system_user("stanley")
        .build()
        .await
        .unwrap();
    for (scope, value) in [
        (KeyScope::User("ann".into()), "ann-tok"),
        (KeyScope::User("stanley".into()), "stanley-tok"),
        (KeyScope::System, "system-tok"),
    ] {
        e.set_key(scope, "token", json!(value), KeyOptions::default())
            .await
            .unwrap();
    }
    e.register_fn("n.whoami", |ctx| async move { Ok(json!(ctx.user)) })
        .await
        .unwrap();
    let dir = write_pack(&[
        ("pack.yaml", "ref: u\n"),
        (
            "actions/flow.yaml",
            "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n",
        ),
        (
            "actions/workflows/flow.yaml",
            "tasks:\n  a:\n    action: n.whoami\n    next:\n      - publish: [who: <% result() %>]\noutput:\n  - who: <% ctx(who) %>\n  - token: '{{ st2kv(\"token\") }}'\n  - also: <% st2kv(\"user.token\") %>\n  - system: '{{ st2kv(\"system.token\") }}'\n",
        ),
        (
            "rules/on_go.yaml",
            "name: on_go\ntrigger: {type: u.go}\naction:\n  ref: n.whoami\n  parameters: {}\n",
        ),
        (
            "rules/token.yaml",
            "name: token\ntrigger: {type: u.go}\ncriteria:\n  trigger.want: {type: equals, pattern: '{{ st2kv.user.token }}'}\naction:\n  ref: core.noop\n",
        ),
        ("triggers/go.yaml", "name: go\n"),
    ]);
    e.load_pack(dir.path()).await.unwrap();

    let x = e.run_as("ann", "u.flow", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(x.user.as_deref(), Some("ann"));
    assert_eq!(
        x.result.unwrap()["output"],
        json!({"who": "ann", "token": "ann-tok", "also": "ann-tok", "system": "system-tok"})
    );
    let x = e.run("u.flow", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    let err = x.error.unwrap_or_default();
    assert!(
        err.contains("is a key of the run's user, and this run has none"),
        "{err}"
    );

    // Rules run as the system user, and read its keys.
    let ev = e
        .emit("u.go", json!({"want": "stanley-tok"}))
        .await
        .unwrap();
    e.settle(Duration::from_secs(10)).await.unwrap();
    let trace = e.trace_event(ev).await.unwrap();
    let mut ran: Vec<(String, Option<String>)> = trace
        .executions
        .iter()
        .map(|x| (x.action.to_string(), x.user.as_deref().map(String::from)))
        .collect();
    ran.sort();
    assert_eq!(
        ran,
        [
            ("core.noop".to_string(), Some("stanley".to_string())),
            ("n.whoami".to_string(), Some("stanley".to_string())),
        ]
    );
    let whoami = trace
        .executions
        .iter()
        .find(|x| x.action == "n.whoami")
        .unwrap();
    assert_eq!(whoami.result, Some(json!("stanley")));

    for bad in ["", "a\nb"] {
        let err = e.execute_as(bad, "n.whoami", json!({})).await.unwrap_err();
        assert!(err.to_string().contains("user name"), "{bad:?}: {err}");
    }
    let err = Engine::builder().system_user("").build().await.unwrap_err();
    assert!(err.to_string().contains("system_user"), "{err}");
}
