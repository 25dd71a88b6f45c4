//! Python actions written for StackStorm, in both modes: `st2common`'s `Action` with the
//! pack's config, its logger and `action_service` (the engine's key store); `(False, x)` as a
//! failure; what Attune does not provide is an import error saying so; and StackStorm's own
//! example actions (tests/data/st2-packs) run unmodified.

mod common;

use attune_core::Engine;
use attune_core::keystore::EncryptionKey;
use attune_core::model::{Execution, ExecutionStatus, Key, KeyScope};
use attune_core::pack::PackOptions;
use attune_core::store::{MemoryStore, Store};
use attune_runtime_python::{Mode, PythonConfig, PythonRuntime};
use common::{SAFETY, assert_succeeded};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const MODES: [Mode; 2] = [Mode::Oneshot, Mode::Persistent];

/// An engine with the Python runtime in `mode` on a store the test can read.
async fn engine(mode: Mode, dir: &Path) -> (Engine, Arc<MemoryStore>) {
    engine_keyed(mode, dir, None).await
}

/// [`engine`] with `key` as its encryption key.
async fn engine_keyed(
    mode: Mode,
    dir: &Path,
    key: Option<EncryptionKey>,
) -> (Engine, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let runtime = Arc::new(PythonRuntime::new(PythonConfig {
        mode,
        env_dir: dir.join("env"),
        grace: Duration::from_millis(500),
        ..PythonConfig::default()
    }));
    let mut builder = Engine::builder().store(store.clone()).runtime(runtime);
    if let Some(k) = key {
        builder = builder.encryption_key(k);
    }
    let engine = builder.build().await.expect("engine builds");
    (engine, store)
}

/// Writes pack `st2t` with a config (one value secret) and the actions `(name, params YAML,
/// source)`; its directory.
fn write_pack(dir: &Path, actions: &[(&str, &str, &str)]) -> PathBuf {
    let root = dir.join("st2t");
    std::fs::create_dir_all(root.join("actions")).unwrap();
    std::fs::write(
        root.join("pack.yaml"),
        "ref: st2t\nname: st2t\ndescription: st2 style actions\nversion: 0.1.0\n\
         config:\n  region: north\n  password: hunter2-secret\n",
    )
    .unwrap();
    std::fs::write(
        root.join("config.schema.yaml"),
        "region:\n  type: string\npassword:\n  type: string\n  secret: true\n",
    )
    .unwrap();
    for (name, params, source) in actions {
        std::fs::write(root.join("actions").join(format!("{name}.py")), source).unwrap();
        std::fs::write(
            root.join("actions").join(format!("{name}.yaml")),
            format!(
                "name: {name}\nrunner_type: python-script\nentry_point: {name}.py\nparameters:\n{params}\n"
            ),
        )
        .unwrap();
    }
    root
}

async fn run(engine: &Engine, action: &str, params: Value) -> Execution {
    tokio::time::timeout(SAFETY, engine.run(action, params))
        .await
        .expect("finishes")
        .expect("runs")
}

const KEYS_ACTION: &str = r#"
from st2common.runners.base_action import Action
from st2common.constants.keyvalue import SYSTEM_SCOPE


class KeyKeeper(Action):
    def run(self, step):
        svc = self.action_service
        self.logger.info("step %s in %s", step, self.config["region"])
        if step == "set":
            assert svc.set_value("counter", "1") is True
            svc.set_value("shared", {"n": 2}, local=False)
            svc.set_value("brief", "x", ttl=3600)
            return {"config": self.config}
        if step == "get":
            return {
                "local": svc.get_value("counter"),
                "global": svc.get_value("shared", local=False, scope=SYSTEM_SCOPE),
                "full_name": svc.get_value("st2t.KeyKeeper:counter", local=False),
                "missing": svc.get_value("nothing"),
                "decrypted_plain": svc.get_value("counter", decrypt=True),
                "listed": sorted(k.name for k in svc.list_values()),
                "listed_prefix": [k.name for k in svc.list_values(prefix="cou")],
                "listed_all": sorted(k.name for k in svc.list_values(local=False)),
            }
        if step == "delete":
            return [svc.delete_value("counter"), svc.delete_value("counter"),
                    svc.get_value("counter")]
        if step == "fail":
            return (False, {"why": "asked to"})
        if step == "encrypt":
            svc.set_value("x", "y", encrypt=True)
        if step == "user":
            svc.get_value("x", scope="user")
        if step == "scope":
            svc.get_value("x", scope="galaxy")
        if step == "malformed":
            import attune
            raise RuntimeError(attune._exchange("{not json"))
        if step == "huge":
            svc.set_value("h", "x" * 600000)
        if step == "bad_name":
            svc.get_value("n" * 2000, local=False)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_st2_action_gets_config_logger_and_the_key_store_in_both_modes() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (engine, store) = engine(mode, dir.path()).await;
        let root = write_pack(
            dir.path(),
            &[("keys", "  step:\n    type: string", KEYS_ACTION)],
        );
        engine.load_pack(&root).await.expect("the pack loads");

        let x = run(&engine, "st2t.keys", json!({"step": "set"})).await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        let result = x.result.clone().unwrap();
        // The config reached self.config; its secret value is masked in what is stored.
        assert_eq!(result["result"]["config"]["region"], "north", "{mode:?}");
        let stored = serde_json::to_string(&x).unwrap();
        assert!(!stored.contains("hunter2-secret"), "{mode:?}: {stored}");
        // The logger's line is in the execution's stderr, under StackStorm's logger name.
        assert!(
            x.stderr
                .contains("INFO [actions.python.KeyKeeper] step set in north"),
            "{mode:?}: {}",
            x.stderr
        );
        // Local keys are prefixed `<pack>.<ClassName>:` in the system scope, as st2 does.
        let key = store
            .get_key(&KeyScope::System, "st2t.KeyKeeper:counter")
            .await
            .unwrap()
            .expect("the local key is stored with its prefix");
        assert_eq!(key.value, json!("1"));
        let shared = store.get_key(&KeyScope::System, "shared").await.unwrap();
        assert_eq!(shared.map(|k| k.value), Some(json!({"n": 2})));
        let brief = store
            .get_key(&KeyScope::System, "st2t.KeyKeeper:brief")
            .await
            .unwrap()
            .expect("the key with a ttl");
        assert!(brief.expires.is_some(), "{mode:?}: a ttl sets an expiry");

        let x = run(&engine, "st2t.keys", json!({"step": "get"})).await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        assert_eq!(
            x.result.unwrap()["result"],
            json!({
                "local": "1",
                "global": {"n": 2},
                "full_name": "1",
                "missing": null,
                "decrypted_plain": "1",
                "listed": ["st2t.KeyKeeper:brief", "st2t.KeyKeeper:counter"],
                "listed_prefix": ["st2t.KeyKeeper:counter"],
                "listed_all": ["shared", "st2t.KeyKeeper:brief", "st2t.KeyKeeper:counter"],
            }),
            "{mode:?}"
        );

        let x = run(&engine, "st2t.keys", json!({"step": "delete"})).await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        assert_eq!(x.result.unwrap()["result"], json!([true, false, null]));

        let x = run(&engine, "st2t.keys", json!({"step": "fail"})).await;
        assert_eq!(x.status, ExecutionStatus::Failed, "{mode:?}");
        assert_eq!(x.result.unwrap()["result"], json!({"why": "asked to"}));
        engine.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_store_misuse_fails_the_action_with_a_clear_error_in_both_modes() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (engine, store) = engine(mode, dir.path()).await;
        let root = write_pack(
            dir.path(),
            &[("keys", "  step:\n    type: string", KEYS_ACTION)],
        );
        engine.load_pack(&root).await.expect("the pack loads");
        // An encrypted value in the store.
        let mut secret = Key::new(
            KeyScope::System,
            "st2t.KeyKeeper:sealed",
            json!("ciphertext"),
            chrono::Utc::now(),
        );
        secret.encrypted = true;
        store.put_key(&secret).await.unwrap();

        for (step, says) in [
            (
                "encrypt",
                "this engine has none (EngineBuilder::encryption_key)",
            ),
            ("user", "no user is known for this execution"),
            ("scope", "ValueError: scope 'galaxy' is not supported"),
            ("malformed", "malformed key-value request (not JSON"),
            ("bad_name", "more than the 1024 allowed"),
            ("huge", "ValueError: the key-value request is 600"),
            ("huge", "more than the 524288 allowed"),
        ] {
            let x = run(&engine, "st2t.keys", json!({ "step": step })).await;
            assert_eq!(x.status, ExecutionStatus::Failed, "{mode:?} {step}");
            let err = x.error.unwrap_or_default();
            assert!(err.contains(says), "{mode:?} {step}: {err}");
        }
        engine.shutdown(Duration::from_secs(5)).await;
    }
}

const SEALED: &str = r#"
from st2common.runners.base_action import Action


class Sealed(Action):
    def run(self, step):
        svc = self.action_service
        if step == "set":
            return svc.set_value("token", {"t": "tok-9"}, encrypt=True)
        return [svc.get_value("token", decrypt=True), svc.get_value("token")]
"#;

/// `set_value(encrypt=True)` stores the value sealed under the engine's key;
/// `get_value(decrypt=True)` reads it back, without `decrypt` it is the stored (sealed)
/// value, as in StackStorm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_values_are_set_and_read_with_the_engines_key_in_both_modes() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let key = EncryptionKey::generate().unwrap();
        let (engine, store) = engine_keyed(mode, dir.path(), Some(key)).await;
        let root = write_pack(
            dir.path(),
            &[("sealed", "  step:\n    type: string", SEALED)],
        );
        engine.load_pack(&root).await.expect("the pack loads");
        let x = run(&engine, "st2t.sealed", json!({"step": "set"})).await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        let stored = store
            .get_key(&KeyScope::System, "st2t.Sealed:token")
            .await
            .unwrap()
            .unwrap();
        assert!(stored.encrypted);
        assert!(
            !stored.value.to_string().contains("tok-9"),
            "{}",
            stored.value
        );
        let x = run(&engine, "st2t.sealed", json!({"step": "get"})).await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        let got = x.result.unwrap()["result"].clone();
        assert_eq!(got[0], json!({"t": "tok-9"}), "{mode:?}");
        assert_eq!(got[1], stored.value, "{mode:?}: without decrypt, as stored");
        engine.shutdown(Duration::from_secs(5)).await;
    }
}

const NOT_PROVIDED: &str = r#"
def run(what):
    if what == "module":
        from st2common.persistence.pack import Pack
    if what == "name":
        from st2common.util.shell import run_command
    if what == "client":
        from st2client.client import Client
    if what == "fallback":
        try:
            from st2client.client import Client
        except ImportError as e:
            return "fell back: %s" % type(e).__name__
    if what == "provided":
        from st2common.util.shell import quote_unix
        from st2common.util.jsonify import json_encode, try_loads
        from st2common.constants.keyvalue import USER_SCOPE, FULL_SYSTEM_SCOPE
        from st2common import log as logging
        from st2actions.runners.pythonrunner import Action
        from st2common.runners.base_action import Action as Base
        logging.getLogger("mine").info("via st2common.log")
        return [quote_unix("a b'c"), json_encode({"k": {1, 2}} and {"k": [1]}),
                try_loads('{"x": 1}'), try_loads("plain"), USER_SCOPE, FULL_SYSTEM_SCOPE,
                Action is Base]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_attune_does_not_provide_is_an_import_error_naming_it() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine(mode, dir.path()).await;
        let root = write_pack(
            dir.path(),
            &[("imports", "  what:\n    type: string", NOT_PROVIDED)],
        );
        engine.load_pack(&root).await.expect("the pack loads");
        for (what, says) in [
            (
                "module",
                "NotProvidedError: module 'st2common.persistence' is StackStorm's, and Attune \
                 does not provide it",
            ),
            (
                "name",
                "NotProvidedError: 'run_command' of module 'st2common.util.shell' (Attune's \
                 has: quote_unix, quote_windows) is StackStorm's, and Attune does not provide it",
            ),
            ("client", "module 'st2client' is StackStorm's"),
        ] {
            let x = run(&engine, "st2t.imports", json!({ "what": what })).await;
            assert_eq!(x.status, ExecutionStatus::Failed, "{mode:?} {what}");
            let err = x.error.unwrap_or_default();
            assert!(err.contains(says), "{mode:?} {what}: {err}");
        }
        let x = run(&engine, "st2t.imports", json!({"what": "fallback"})).await;
        assert_succeeded(&x, "");
        assert_eq!(x.result.unwrap()["result"], "fell back: NotProvidedError");
        let x = run(&engine, "st2t.imports", json!({"what": "provided"})).await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        assert_eq!(
            x.result.unwrap()["result"],
            json!([
                "'a b'\"'\"'c'",
                "{\"k\": [1]}",
                {"x": 1},
                "plain",
                "user",
                "st2kv.system",
                true
            ])
        );
        assert!(
            x.stderr.contains("INFO [mine] via st2common.log"),
            "{}",
            x.stderr
        );
        engine.shutdown(Duration::from_secs(5)).await;
    }
}

/// The test data: StackStorm's packs (see tests/data/st2-packs/README.md).
fn st2_packs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/st2-packs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stackstorms_example_actions_run_unmodified_in_both_modes() {
    let fixture = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(fixture.path(), r#"{"fixture": [1, 2, 3]}"#).unwrap();
    let fixture = fixture.path().to_str().unwrap().to_string();
    // (action, params, the result it returns, a line of its output)
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        ("isprime", json!({"value": 7}), json!(true), "value=7"),
        ("isprime", json!({"value": 8}), json!(false), ""),
        (
            "forloop_increase_index_and_check_condition",
            json!({"index": "2", "pagesize": "1", "input": {"a": 1}}),
            json!(3),
            "",
        ),
        (
            "python_runner_print_python_environment",
            json!({}),
            Value::Null,
            "Using Python version",
        ),
        (
            "print_config",
            json!({}),
            Value::Null,
            "'region': 'eu-west-1'",
        ),
        (
            "python_runner_print_python_version",
            json!({}),
            Value::Null,
            "Using Python executable",
        ),
        (
            "json_string_to_object",
            json!({"json_str": "{\"a\": [1, 2]}"}),
            json!({"a": [1, 2]}),
            "",
        ),
        (
            "python_runner_print_to_stdout_and_stderr",
            json!({"count": 3, "sleep_delay": 0.01}),
            Value::Null,
            "stdout -> Line: 2",
        ),
        (
            // Declared params not given reach run() as None, as StackStorm's runner passes
            // them: this run(self, cmd, hosts, hosts_dict) takes them all positionally.
            "python-mock-core-remote",
            json!({"hosts_dict": {"h.example": {"stdout": "v"}}}),
            json!({"h.example": {"stdout": "v"}}),
            "",
        ),
        (
            "python-mock-core-remote",
            json!({"cmd": "uptime", "hosts": "a.example,b.example", "hosts_dict": {}}),
            json!({
                "a.example": {"failed": false, "return_code": 0, "stderr": "",
                              "succeeded": true, "stdout": "uptime"},
                "b.example": {"failed": false, "return_code": 0, "stderr": "",
                              "succeeded": true, "stdout": "uptime"},
            }),
            "",
        ),
        (
            "python_runner_load_and_print_fixture",
            json!({ "file_path": fixture }),
            json!({"fixture": [1, 2, 3]}),
            "",
        ),
        (
            "object_return",
            json!({}),
            json!({"a": "b", "c": {"d": "e", "f": 1, "g": true}}),
            "",
        ),
    ];
    let options = PackOptions {
        config_dir: Some(st2_packs().join("configs")),
        ..PackOptions::default()
    };
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine(mode, dir.path()).await;
        engine
            .load_pack_with(st2_packs().join("examples"), &options)
            .await
            .expect("the examples pack loads");
        let mut passed = 0;
        for (action, params, result, says) in &cases {
            let x = run(&engine, &format!("examples.{action}"), params.clone()).await;
            assert_succeeded(&x, &format!("{mode:?} {action}: "));
            let got = x.result.clone().unwrap();
            assert_eq!(&got["result"], result, "{mode:?} {action}");
            let output = format!("{}{}", x.stdout, x.stderr);
            assert!(output.contains(says), "{mode:?} {action}: {output}");
            if *action == "print_config" {
                // Its secret config values are masked in its output.
                assert!(
                    !output.contains("s3cret-config-value") && !output.contains("key-0123456789"),
                    "{output}"
                );
            }
            passed += 1;
        }
        assert_eq!(
            passed, 12,
            "{mode:?}: 10 actions, isprime and mock-core-remote twice"
        );
        engine.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stackstorm_actions_that_need_its_services_fail_naming_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine(Mode::Oneshot, dir.path()).await;
    for pack in ["chatops", "packs"] {
        engine
            .load_pack(st2_packs().join(pack))
            .await
            .expect("the pack loads");
    }
    for (action, params, says) in [
        (
            "chatops.match",
            json!({"text": "hello"}),
            "module 'st2client' is StackStorm's, and Attune does not provide it",
        ),
        (
            "packs.get_config",
            json!({}),
            "module 'st2common.content' is StackStorm's, and Attune does not provide it",
        ),
    ] {
        let x = run(&engine, action, params).await;
        assert_eq!(x.status, ExecutionStatus::Failed, "{action}");
        let err = x.error.unwrap_or_default();
        assert!(err.contains(says), "{action}: {err}");
    }
}

/// StackStorm's `python-script` runner parameters: `env` reaches the action's environment
/// (not the next run's), `log_level`/`debug` set its loggers' level, `timeout` is accepted,
/// none of them reaches run(), and `content_version` (or an `env` value that is not a
/// string) is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_runners_own_parameters_work_as_in_stackstorm() {
    let source = r#"
import os
from st2common.runners.base_action import Action

class Probe(Action):
    def run(self, **params):
        self.logger.debug("debug line")
        self.logger.info("info line")
        return {"params": sorted(params), "color": os.environ.get("COLOR")}
"#;
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let root = write_pack(dir.path(), &[("probe", "  n: {type: integer}", source)]);
        let (engine, _) = engine(mode, dir.path()).await;
        engine.load_pack(&root).await.expect("loads");
        let x = run(
            &engine,
            "st2t.probe",
            json!({"env": {"COLOR": "blue"}, "log_level": "INFO", "timeout": 30}),
        )
        .await;
        assert_succeeded(&x, &format!("{mode:?}: "));
        let r = x.result.clone().unwrap()["result"].clone();
        assert_eq!(r, json!({"params": ["n"], "color": "blue"}), "{mode:?}");
        assert!(x.stderr.contains("info line"), "{mode:?}: {}", x.stderr);
        assert!(!x.stderr.contains("debug line"), "{mode:?}: {}", x.stderr);

        // The next run has neither the environment nor the level of the first.
        let x = run(&engine, "st2t.probe", json!({"n": 1})).await;
        assert_eq!(
            x.result.clone().unwrap()["result"]["color"],
            Value::Null,
            "{mode:?}"
        );
        assert!(x.stderr.contains("debug line"), "{mode:?}: {}", x.stderr);
        let x = run(
            &engine,
            "st2t.probe",
            json!({"log_level": "ERROR", "debug": true}),
        )
        .await;
        assert!(x.stderr.contains("debug line"), "debug wins: {}", x.stderr);

        for (params, wanted) in [
            (
                json!({"content_version": "v1"}),
                "'content_version' is not supported",
            ),
            (
                json!({"env": {"N": 1}}),
                "the value of 'N' must be a string",
            ),
        ] {
            let x = run(&engine, "st2t.probe", params).await;
            assert_eq!(x.status, ExecutionStatus::Failed, "{mode:?}");
            let e = x.error.unwrap_or_default();
            assert!(e.contains(wanted), "{mode:?}: {e}");
        }
        engine.shutdown(Duration::from_secs(5)).await;
    }
}
