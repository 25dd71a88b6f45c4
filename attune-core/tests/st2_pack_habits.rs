//! The pack-format habits of StackStorm content: runner parameter overrides, runners Attune
//! leaves out (with a warning, refs to them refused naming the runner), required config not
//! written yet, draft-3 `required: true` in trigger schemas, trigger types declared by
//! several sensors, nested secrets in config schemas, StackStorm's system trigger names, and
//! st2's `core` pack read from disk onto the built-in one.

mod common;

use common::write_pack as pack;

use async_trait::async_trait;
use attune_core::model::ExecutionStatus;
use attune_core::pack::{PackOptions, read_pack};
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use attune_core::{Engine, Error};
use common::emit_and_trace;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A stand-in `shell` runtime: succeeds with the params it was given.
#[derive(Debug)]
struct EchoParams(&'static str);

#[async_trait]
impl Runtime for EchoParams {
    fn name(&self) -> &str {
        self.0
    }
    async fn run(&self, req: RunRequest) -> attune_core::Result<RunOutput> {
        Ok(RunOutput::success(Value::Object(req.params)))
    }
}

async fn engine_with_shell() -> Engine {
    Engine::builder()
        .runtime(Arc::new(EchoParams("shell")))
        .build()
        .await
        .unwrap()
}

fn st2_pack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/st2-packs")
        .join(name)
}

const LOCAL_ACTION: &str = "\
name: run
runner_type: local-shell-cmd
entry_point: ''
parameters:
  cmd:
    type: string
    default: echo hi
  sudo:
    immutable: true
  sudo_password:
    immutable: true
  kwarg_op:
    immutable: true
";

#[test]
fn runner_parameters_are_the_actions_and_overrides_keep_the_runner_default() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/run.yaml", LOCAL_ACTION),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    let a = b.actions().next().unwrap();
    assert_eq!(a.runner, "shell");
    assert_eq!(a.runner_type.as_deref(), Some("local-shell-cmd"));
    let sudo = a.parameters.get("sudo").unwrap();
    assert!(sudo.immutable);
    assert_eq!(
        sudo.default,
        Some(json!(false)),
        "the runner's default stays"
    );
    assert_eq!(
        a.parameters.get("kwarg_op").unwrap().default,
        Some(json!("--"))
    );
    // Immutable without any default: nobody may set it, it is null.
    assert_eq!(
        a.parameters.get("sudo_password").unwrap().default,
        Some(Value::Null)
    );
    // The runner's other parameters come with it.
    assert!(a.parameters.get("cwd").is_some() && a.parameters.get("env").is_some());
}

#[tokio::test]
async fn an_immutable_runner_parameter_cannot_be_set() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/run.yaml", LOCAL_ACTION),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(dir.path()).await.unwrap();
    let e = engine
        .execute("habits.run", json!({"sudo": true}))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("sudo") && e.to_string().contains("immutable"),
        "{e}"
    );
    let x = engine.run("habits.run", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    let r = x.result.unwrap();
    assert_eq!(
        (r["sudo"].clone(), r["kwarg_op"].clone()),
        (json!(false), json!("--"))
    );
}

const REMOTE_ACTION: &str = "\
name: remote
runner_type: remote-shell-cmd
entry_point: ''
parameters:
  cmd: {type: string}
";

#[tokio::test]
async fn an_unsupported_runner_leaves_the_action_out_with_a_warning() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/run.yaml", LOCAL_ACTION),
        ("actions/remote.yaml", REMOTE_ACTION),
    ]);
    let engine = engine_with_shell().await;
    let s = engine.load_pack(dir.path()).await.expect("the rest loads");
    assert_eq!(s.actions, 1);
    assert_eq!(s.warnings.len(), 1);
    let w = &s.warnings[0];
    assert_eq!((w.file.as_str(), w.line), ("actions/remote.yaml", 2));
    assert!(
        w.message.contains("'habits.remote'") && w.message.contains("'remote-shell-cmd'"),
        "{w}"
    );
    // Running it says why it is not there.
    let e = engine
        .execute("habits.remote", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
    assert!(e.to_string().contains("remote-shell-cmd"), "{e}");
}

#[tokio::test]
async fn a_rule_of_another_pack_on_an_action_left_out_is_a_problem_naming_the_runner() {
    let first = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/remote.yaml", REMOTE_ACTION),
    ]);
    let second = pack(&[
        ("pack.yaml", "name: other\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\naction: {ref: habits.remote}\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(first.path()).await.unwrap();
    let Err(Error::Pack(e)) = engine.load_pack(second.path()).await else {
        panic!("refused")
    };
    assert_eq!(e.problems.len(), 1, "{e}");
    let p = &e.problems[0];
    assert_eq!(p.file, "rules/r.yaml");
    assert!(
        p.message.contains("not loaded") && p.message.contains("remote-shell-cmd"),
        "{p}"
    );
    assert_eq!(p.hint, None);
}

const CONFIG_SCHEMA: &str = "\
api_key: {type: string, secret: true, required: true}
region: {type: string, required: true, default: us-east-1}
";

#[test]
fn required_config_without_any_config_is_a_warning_and_defaults_still_apply() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("config.schema.yaml", CONFIG_SCHEMA),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    assert_eq!(b.warnings().len(), 1);
    assert!(
        b.warnings()[0].message.contains("'api_key'"),
        "{:?}",
        b.warnings()
    );
    assert_eq!(b.pack.config, json!({"region": "us-east-1"}));
}

#[test]
fn a_config_that_is_given_must_be_complete() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("config.schema.yaml", CONFIG_SCHEMA),
    ]);
    let configs = tempfile::tempdir().unwrap();
    std::fs::write(configs.path().join("habits.yaml"), "region: eu-west-1\n").unwrap();
    let options = PackOptions {
        config_dir: Some(configs.path().to_path_buf()),
        ..PackOptions::default()
    };
    let e = read_pack(dir.path(), &options).expect_err("refused");
    assert!(e.problems.iter().any(|p| p.path.contains("api_key")), "{e}");
}

#[test]
fn nested_secrets_of_a_config_schema_are_redacted() {
    let dir = pack(&[
        (
            "pack.yaml",
            "name: habits\nconfig:\n  accounts:\n    prod: {user: ops, password: hunter2}\n",
        ),
        (
            "config.schema.yaml",
            "accounts:\n  type: object\n  patternProperties:\n    '^\\w+$':\n      type: object\n      properties:\n        user: {type: string}\n        password: {type: string, secret: true}\n",
        ),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    let stored = b.definitions();
    let attune_core::model::Definition::Pack(p) = &stored[0] else {
        panic!("pack first")
    };
    assert_eq!(
        p.config,
        json!({"accounts": {"prod": {"user": "ops", "password": "********"}}})
    );
    // The real value stays for actions.
    assert_eq!(b.pack.config["accounts"]["prod"]["password"], "hunter2");
}

#[tokio::test]
async fn draft3_required_in_trigger_schemas_is_enforced() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "triggers/t.yaml",
            "name: t\npayload_info: [value]\npayload_schema:\n  type: object\n  properties:\n    value: {type: string, required: true}\n  additionalProperties: false\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(dir.path()).await.expect("loads");
    engine
        .emit("habits.t", json!({"value": "x"}))
        .await
        .unwrap();
    let e = engine.emit("habits.t", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("value"), "{e}");
}

const SENSOR: &str = "\
class_name: {class}
entry_point: s.py
trigger_types:
  - name: seen
    payload_schema: {schema}
";

#[test]
fn several_sensors_may_declare_one_trigger_type() {
    let a = SENSOR
        .replace("{class}", "A")
        .replace("{schema}", "{type: object}");
    let b = SENSOR
        .replace("{class}", "B")
        .replace("{schema}", "{type: object}");
    let c = SENSOR
        .replace("{class}", "C")
        .replace("{schema}", "{type: string}");
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("sensors/s.py", "# sensor\n"),
        ("sensors/a.yaml", &a),
        ("sensors/b.yaml", &b),
    ]);
    let read = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    assert_eq!(read.trigger_types().count(), 1);
    assert!(read.warnings().is_empty());
    // A declaration that differs: the first is used, with a warning naming both files.
    std::fs::write(dir.path().join("sensors/c.yaml"), c).unwrap();
    let read = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    assert_eq!(read.trigger_types().count(), 1);
    let w = &read.warnings()[0];
    assert_eq!(w.file, "sensors/c.yaml");
    assert!(w.message.contains("sensors/a.yaml"), "{w}");
}

#[tokio::test]
async fn stackstorm_trigger_names_are_the_core_types() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/run.yaml", LOCAL_ACTION),
        (
            "rules/hook.yaml",
            "name: hook\ntrigger:\n  type: core.st2.webhook\n  parameters: {url: sample}\naction: {ref: habits.run}\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(dir.path()).await.unwrap();
    let rule = engine.rule("habits.hook").unwrap();
    assert_eq!(rule.trigger, "core.webhook");
    for name in ["core.st2.webhook", "core.webhook"] {
        let trace = emit_and_trace(&engine, name, json!({"body": {}})).await;
        assert_eq!(trace.event.trigger, "core.webhook");
        assert_eq!(trace.executions.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn rules_on_system_triggers_not_emitted_yet_load_with_a_warning() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/run.yaml", LOCAL_ACTION),
        (
            "rules/audit.yaml",
            "name: audit\ntrigger: {type: core.st2.action.file_written}\naction: {ref: habits.run}\n",
        ),
        // Emitted: no warning.
        (
            "rules/ends.yaml",
            "name: ends\ntrigger: {type: core.st2.generic.actiontrigger}\naction: {ref: habits.run}\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    let s = engine.load_pack(dir.path()).await.unwrap();
    assert_eq!(s.rules, 2);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(s.warnings[0].file, "rules/audit.yaml");
    assert!(
        s.warnings[0].message.contains("does not fire"),
        "{:?}",
        s.warnings
    );
}

#[tokio::test]
async fn stackstorms_core_pack_loads_onto_the_built_in_one() {
    let engine = engine_with_shell().await;
    let s = engine.load_pack(st2_pack("core")).await.expect("loads");
    // Left out, each named with its runner: remote, remote_sudo, winrm x2; and the
    // actions whose runtime this engine lacks (python; http without the feature).
    let warned: Vec<&str> = s.warnings.iter().map(|w| w.file.as_str()).collect();
    assert!(!warned.contains(&"actions/ask.yaml"), "{warned:?}");
    for f in [
        "actions/remote.yaml",
        "actions/remote_sudo.yaml",
        "actions/winrm_cmd.yaml",
        "actions/winrm_ps_cmd.yaml",
        "actions/uuid.yaml",
        "actions/inject_trigger.yaml",
    ] {
        assert!(warned.contains(&f), "{f} not in {warned:?}");
    }
    // The built-in actions stay (same names, Attune's runtimes); the pack's shell script
    // action is added; Attune's own built-ins are still there.
    for a in [
        "core.local",
        "core.local_sudo",
        "core.noop",
        "core.echo",
        "core.pause",
        "core.sendmail",
        "core.sleep",
        "core.ask",
        "core.announcement",
    ] {
        assert!(engine.action(a).is_some(), "{a}");
    }
    assert_eq!(engine.action("core.echo").unwrap().runner, "native");
    let sudo = engine.action("core.local_sudo").unwrap();
    let spec = sudo.parameters.get("sudo").unwrap();
    assert!(spec.immutable && spec.default == Some(json!(true)));
    // Runs as before.
    let x = engine
        .run("core.echo", json!({"message": "hi"}))
        .await
        .unwrap();
    assert_eq!(x.result, Some(json!({"stdout": "hi"})));
    let e = engine.execute("core.remote", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("remote-shell-cmd"), "{e}");
}

#[test]
fn notify_on_an_action_is_read_and_a_bad_one_is_a_problem() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nnotify:\n  on-complete: {routes: [slack], message: 'done {{ x }}'}\n",
        ),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    assert!(b.warnings().is_empty(), "{:?}", b.warnings());
    let a = b.actions().next().unwrap();
    let on = a.notify.on_complete.as_ref().unwrap();
    assert_eq!(on.routes, ["slack"]);
    assert_eq!(on.message.as_deref(), Some("done {{ x }}"));

    for (notify, says) in [
        ("  on-done: {routes: [x]}", "unknown field `on-done`"),
        ("  on-success: {message: hi}", "no routes"),
        (
            "  on-failure: {routes: [x], message: '{{ x'}",
            "on-failure.message",
        ),
    ] {
        let dir = pack(&[
            ("pack.yaml", "name: habits\n"),
            (
                "actions/a.yaml",
                &format!("name: a\nrunner_type: noop\nnotify:\n{notify}\n"),
            ),
        ]);
        let err = read_pack(dir.path(), &PackOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{notify}: {err}");
        assert!(err.contains("actions/a.yaml"), "{err}");
    }
}

#[tokio::test]
async fn core_pause_waits_the_given_seconds() {
    let engine = engine_with_shell().await;
    let x = engine
        .run("core.pause", json!({"max_pause": 0}))
        .await
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    assert_eq!(x.result, Some(json!(0)));
}

#[tokio::test]
async fn announcements_reach_subscribers_and_need_the_experimental_flag() {
    let dir = pack(&[
        (
            "pack.yaml",
            "name: habits\nrunner_type: python-script\nwebsite: https://example.com\n",
        ),
        (
            "actions/post.yaml",
            "name: post\nrunner_type: announcement\nentry_point: ''\nparameters:\n  experimental: {immutable: true, default: true}\n  route: {default: chatops}\n  message: {type: string, required: true}\n",
        ),
        (
            "actions/raw.yaml",
            "name: raw\nrunner_type: announcement\nparameters:\n  message: {type: string}\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(dir.path()).await.unwrap();
    let mut rx = engine.subscribe_announcements();
    let x = engine
        .run("habits.post", json!({"message": "deployed"}))
        .await
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    assert_eq!(x.result, Some(json!({"message": "deployed"})));
    let a = rx.try_recv().unwrap();
    assert_eq!(
        (a.route.as_str(), a.action.as_str()),
        ("chatops", "habits.post")
    );
    assert_eq!(
        a.payload,
        json!({"message": "deployed"}).as_object().unwrap().clone()
    );
    // Without `experimental: true` StackStorm refuses to run it; so does Attune.
    let e = engine
        .execute("habits.raw", json!({"message": "x"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("experimental"), "{e}");
}

#[test]
fn old_runner_names_are_todays() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/p.py", "# action\n"),
        (
            "actions/p.yaml",
            "name: p\nrunner_type: run-python\nentry_point: p.py\n",
        ),
        ("actions/r.yaml", "name: r\nrunner_type: run-remote\n"),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    let p = b.actions().next().unwrap();
    assert_eq!(
        (p.runner.as_str(), p.runner_type.as_deref()),
        ("python", Some("python-script"))
    );
    assert!(
        b.warnings()[0].message.contains("'remote-shell-cmd'"),
        "{:?}",
        b.warnings()
    );
}

#[tokio::test]
async fn a_rule_of_an_action_left_out_loads_disabled_with_a_warning() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/run.yaml", LOCAL_ACTION),
        (
            "actions/flow.yaml",
            "name: flow\nrunner_type: mistral-v2\nentry_point: flow.yaml\n",
        ),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\naction: {ref: habits.flow}\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    let s = engine.load_pack(dir.path()).await.expect("loads");
    assert_eq!((s.actions, s.rules), (1, 1));
    let rule = engine.rule("habits.r").unwrap();
    assert!(!rule.enabled);
    let w: Vec<&str> = s.warnings.iter().map(|w| w.file.as_str()).collect();
    assert_eq!(w, ["actions/flow.yaml", "rules/r.yaml"]);
    assert!(
        s.warnings[1].message.contains("loaded disabled"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn duplicate_keys_say_what_to_do() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/a.yaml", "name: a\nrunner_type: noop\nname: b\n"),
    ]);
    let e = read_pack(dir.path(), &PackOptions::default()).expect_err("refused");
    let p = &e.problems[0];
    assert_eq!((p.file.as_str(), p.line), ("actions/a.yaml", 3));
    assert!(
        p.message.contains("duplicate key 'name'") && !p.message.contains("Policy"),
        "{p}"
    );
}

#[test]
fn config_objects_get_the_defaults_of_their_properties() {
    let dir = pack(&[
        (
            "pack.yaml",
            "name: habits\nconfig:\n  ps_options: {all: true}\n",
        ),
        (
            "config.schema.yaml",
            "ps_options:\n  type: object\n  properties:\n    all: {type: boolean, default: false}\n    quiet: {type: boolean, default: false}\n    nested:\n      type: object\n      properties:\n        depth: {type: integer, default: 2}\n",
        ),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    // A nested object without a value of its own is made of its properties' defaults, as
    // StackStorm's config loader makes it.
    assert_eq!(
        b.pack.config,
        json!({"ps_options": {"all": true, "quiet": false, "nested": {"depth": 2}}})
    );
}

/// A required object none of whose value is written, but whose properties have defaults, is
/// given by them: no warning (StackStorm's config loader builds it; Exchange packs such as
/// docker rely on it). One whose properties give nothing stays absent.
#[test]
fn a_required_config_object_is_made_of_its_defaults_without_a_warning() {
    let schema = "\
ps_options:
  type: object
  required: true
  properties:
    all: {type: boolean, default: false}
    since: {type: string, default: null}
sensor:
  type: object
  required: true
  properties:
    repositories: {type: array, required: true}
    interval: {type: integer, default: 30}
empty:
  type: object
  properties:
    x: {type: string}
";
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("config.schema.yaml", schema),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).expect("loads");
    assert!(b.warnings().is_empty(), "{:?}", b.warnings());
    // A null default gives nothing; the defaults are not validated (a required property
    // without one stays absent, as StackStorm's loader leaves it).
    assert_eq!(
        b.pack.config,
        json!({"ps_options": {"all": false}, "sensor": {"interval": 30}})
    );
}

#[tokio::test]
async fn json_schema_keywords_of_parameters_are_enforced() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nparameters:\n  host: {type: string, pattern: '^[a-z0-9.-]+$'}\n  opts:\n    type: object\n    properties:\n      port: {type: integer, required: true}\n    additionalProperties: false\n  token: {type: string, secret: true, pattern: '^tok-'}\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(dir.path()).await.unwrap();
    let ok = json!({"host": "db-1", "opts": {"port": 5432}, "token": "tok-1"});
    engine.run("habits.a", ok).await.unwrap();
    for (params, wanted) in [
        (json!({"host": "DB 1"}), "host"),
        (json!({"opts": {"port": "x"}}), "opts"),
        (json!({"opts": {}}), "port"),
        (json!({"opts": {"port": 1, "other": 2}}), "other"),
    ] {
        let e = engine
            .execute("habits.a", params.clone())
            .await
            .unwrap_err();
        assert!(e.to_string().contains(wanted), "{params}: {e}");
    }
    // A secret's message never shows its value.
    let e = engine
        .execute("habits.a", json!({"token": "hunter2"}))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("token") && !e.to_string().contains("hunter2"),
        "{e}"
    );
}

#[test]
fn json_schema_keywords_that_do_not_compile_are_problems() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nparameters:\n  host: {type: string, pattern: '(['}\n",
        ),
    ]);
    let e = read_pack(dir.path(), &PackOptions::default()).expect_err("refused");
    assert!(
        e.problems[0].path == "parameters.host"
            && e.problems[0].message.contains("not a valid schema"),
        "{e}"
    );
}

#[tokio::test]
async fn a_workflow_task_on_an_action_left_out_is_a_warning_and_fails_when_reached() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        ("actions/remote.yaml", REMOTE_ACTION),
        (
            "actions/flow.yaml",
            "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n",
        ),
        (
            "actions/workflows/flow.yaml",
            "version: 1.0\ntasks:\n  first:\n    action: core.noop\n    next:\n      - when: <% succeeded() %>\n        do: far\n  far:\n    action: habits.remote\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    let s = engine.load_pack(dir.path()).await.expect("loads");
    let w = s
        .warnings
        .iter()
        .find(|w| w.file == "actions/workflows/flow.yaml")
        .expect("a warning on the workflow");
    assert_eq!((w.path.as_str(), w.line), ("tasks.far.action", 9));
    assert!(w.message.contains("remote-shell-cmd"), "{w}");
    let x = engine.run("habits.flow", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    let text = format!("{:?} {}", x.result, x.error.unwrap_or_default());
    assert!(text.contains("remote-shell-cmd"), "{text}");
}

#[tokio::test]
async fn a_required_list_inside_a_parameter_means_its_properties_are_required() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nparameters:\n  data:\n    type: object\n    required: [name]\n    properties:\n      name: {type: string}\n  list:\n    type: array\n    items:\n      type: object\n      required: [id]\n",
        ),
    ]);
    let engine = engine_with_shell().await;
    engine.load_pack(dir.path()).await.expect("loads");
    // The parameters themselves are optional; what they hold must have the names.
    engine.run("habits.a", json!({})).await.unwrap();
    engine
        .run(
            "habits.a",
            json!({"data": {"name": "x"}, "list": [{"id": 1}]}),
        )
        .await
        .unwrap();
    let e = engine
        .execute("habits.a", json!({"data": {}}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("name"), "{e}");
    let e = engine
        .execute("habits.a", json!({"list": [{}]}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("id"), "{e}");
}
