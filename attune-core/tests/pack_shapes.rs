//! The less common pack files and shapes: sensors, policies of every kind, the `conditions`
//! forms, YAML 1.1 booleans in specs, and secrets passed across packs.

mod common;

use common::write_pack as pack;

use attune_core::Error;
use attune_core::model::{Backoff, ConcurrencyOverflow, Definition, DefinitionKind, PolicyKind};
use attune_core::pack::{PackErrors, PackOptions, read_pack};
use common::{emit_and_trace, engine};
use serde_json::json;
use std::path::Path;

fn problems(dir: &Path) -> PackErrors {
    read_pack(dir, &PackOptions::default()).expect_err("refused")
}

#[tokio::test]
async fn sensors_declare_trigger_types_and_are_stored() {
    let dir = pack(&[
        ("pack.yaml", "ref: sens\n"),
        ("sensors/watch.py", "# a sensor\n"),
        (
            "sensors/watch.yaml",
            "class_name: Watcher\nentry_point: watch.py\npoll_interval: 30\ntrigger_types:\n  - name: changed\n    payload_schema: {type: object}\n  - core.webhook\n",
        ),
    ]);
    let engine = engine().await;
    let s = engine.load_pack(dir.path()).await.unwrap();
    assert_eq!((s.sensors, s.trigger_types), (1, 1));
    let Some(Definition::Sensor(sensor)) = engine
        .store()
        .get_definition(DefinitionKind::Sensor, "sens.Watcher")
        .await
        .unwrap()
    else {
        panic!("sensor stored")
    };
    assert_eq!(sensor.runner, "python");
    assert_eq!(sensor.entry_point.as_deref(), Some("sensors/watch.py"));
    assert_eq!(sensor.poll_interval_secs, Some(30.0));
    assert_eq!(sensor.trigger_types, vec!["sens.changed", "core.webhook"]);
    // The inline trigger type is a trigger type like any other.
    assert!(
        engine
            .test_rules("sens.changed", &json!({}), None)
            .await
            .unwrap()
            .is_empty()
    );

    let bad = pack(&[
        ("pack.yaml", "ref: sens\n"),
        (
            "sensors/s.yaml",
            "name: s\nrunner_type: python\npoll_interval: -1\ntrigger_types: [sens.nope]\n",
        ),
    ]);
    let e = engine.load_pack(bad.path()).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("poll_interval: must be a positive number"),
        "{text}"
    );
    assert!(
        text.contains("trigger type 'sens.nope' does not exist"),
        "{text}"
    );
}

#[tokio::test]
async fn policies_of_both_shapes() {
    let dir = pack(&[
        ("pack.yaml", "ref: pol\n"),
        ("actions/a.yaml", "name: a\nrunner_type: noop\n"),
        (
            "policies/c.yaml",
            "name: c\nresource_ref: pol.a\npolicy_type: action.concurrency.attr\nparameters:\n  threshold: 3\n  action: cancel\n  attributes: [host]\n",
        ),
        (
            "policies/r.yaml",
            "name: r\nresource_ref: pol.a\npolicy_type: action.retry\nparameters:\n  retry_on: timeout\n  max_retry_count: 2\n  delay: 5\n",
        ),
        (
            "policies/l.yaml",
            "ref: pol.l\naction: pol.a\ntype: rate_limit\nmax: 10\nwindow_secs: 60\n",
        ),
        (
            "policies/x.yaml",
            "ref: pol.x\naction: pol.a\ntype: retry\nmax_attempts: 4\ndelay: 1\nbackoff: exponential\nmax_delay: 30\non_abandoned: true\n",
        ),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).unwrap();
    let kinds: Vec<PolicyKind> = b.policies().map(|p| p.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            PolicyKind::Concurrency {
                limit: 3,
                overflow: ConcurrencyOverflow::Cancel,
                attributes: vec!["host".into()]
            },
            PolicyKind::RateLimit {
                max: 10,
                window_secs: 60.0
            },
            PolicyKind::Retry {
                on_timeout: true,
                on_abandoned: false,
                max_attempts: 3,
                delay_secs: 5.0,
                backoff: Backoff::Constant,
                max_delay_secs: None,
            },
            PolicyKind::Retry {
                on_timeout: false,
                on_abandoned: true,
                max_attempts: 4,
                delay_secs: 1.0,
                backoff: Backoff::Exponential,
                max_delay_secs: Some(30.0),
            },
        ]
    );
    engine().await.load_pack(dir.path()).await.unwrap();

    let bad = pack(&[
        ("pack.yaml", "ref: pol\n"),
        (
            "policies/c.yaml",
            "name: c\nresource_ref: pol.a\npolicy_type: action.concurrency\nparameters:\n  action: delay\n",
        ),
        (
            "policies/l.yaml",
            "ref: pol.l\naction: pol.a\ntype: rate_limit\nwindow_secs: 60\n",
        ),
        (
            "policies/r.yaml",
            "name: r\nresource_ref: pol.a\npolicy_type: action.retry\nparameters:\n  max_retry_count: 1\n  delay: -5\n",
        ),
        (
            "policies/t.yaml",
            "name: t\nresource_ref: pol.a\npolicy_type: action.concurency\n",
        ),
        (
            "policies/z.yaml",
            "ref: pol.z\naction: pol.a\ntype: concurrency\nlimit: 0\n",
        ),
        (
            "policies/y.yaml",
            "ref: pol.y\naction: pol.a\ntype: retry\nmax_attempts: 2\nbackoff: exponental\n",
        ),
    ]);
    let e = problems(bad.path());
    let text = e.to_string();
    assert!(
        text.contains("policies/c.yaml:4:1: parameters: a concurrency policy needs 'threshold'"),
        "{text}"
    );
    assert!(
        text.contains("policies/l.yaml:1:1: a rate_limit policy needs 'max' and 'window_secs'"),
        "{text}"
    );
    assert!(
        text.contains("policies/r.yaml:6:3: parameters.delay: must be a number of seconds"),
        "{text}"
    );
    assert!(
        text.contains("policies/z.yaml:4:1: limit: must be a whole number of at least 1, got 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "policies/y.yaml:5:1: backoff: unknown backoff 'exponental' (constant, linear or exponential) (did you mean 'exponential'?)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "unknown policy type 'action.concurency' (did you mean 'action.concurrency'?)"
        ),
        "{text}"
    );
    // The engine also checks that the policies' action exists.
    let e = engine()
        .await
        .load_pack(dir_without_action().path())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("action 'pol.gone' does not exist"),
        "{e}"
    );
}

fn dir_without_action() -> tempfile::TempDir {
    pack(&[
        ("pack.yaml", "ref: pol\n"),
        (
            "policies/c.yaml",
            "name: c\nresource_ref: pol.gone\npolicy_type: action.concurrency\nparameters: {threshold: 1}\n",
        ),
    ])
}

#[tokio::test]
async fn conditions_list_and_expression_forms() {
    let dir = pack(&[
        ("pack.yaml", "ref: cond\n"),
        ("triggers/t.yaml", "ref: cond.t\n"),
        (
            "rules/list.yaml",
            "ref: cond.list\ntrigger_ref: cond.t\naction_ref: core.noop\nconditions:\n  - {field: triggered_by, operator: equals, value: cron}\n  - {field: trigger.n, operator: greater_than, value: 1}\n  - {field: trigger.n, operator: less_than, value: 10}\n",
        ),
        (
            "rules/expr.yaml",
            "ref: cond.expr\ntrigger_ref: cond.t\naction_ref: core.noop\nconditions:\n  expression: 'payload.n * 2 == 8'\n",
        ),
    ]);
    let engine = engine().await;
    engine.load_pack(dir.path()).await.unwrap();
    let list = engine.rule("cond.list").unwrap();
    assert_eq!(
        list.criteria,
        json!({
            "payload.triggered_by": {"type": "equals", "pattern": "cron"},
            "trigger.n": {"type": "greaterthan", "pattern": 1},
            "trigger.n#2": {"type": "lessthan", "pattern": 10},
        })
    );
    assert_eq!(
        engine.rule("cond.expr").unwrap().expression.as_deref(),
        Some("payload.n * 2 == 8")
    );
    let t = engine
        .test_rules("cond.t", &json!({"triggered_by": "cron", "n": 4}), None)
        .await
        .unwrap();
    assert!(t.iter().all(|r| r.matched), "{t:#?}");
    let t = engine
        .test_rules("cond.t", &json!({"triggered_by": "cron", "n": 12}), None)
        .await
        .unwrap();
    assert!(t.iter().all(|r| !r.matched), "{t:#?}");
}

#[test]
fn the_two_shapes_may_not_be_mixed_within_one_rule() {
    let dir = pack(&[
        ("pack.yaml", "ref: mix\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\ntrigger_ref: core.webhook\naction: {ref: core.noop}\ncriteria: {}\nconditions: []\n",
        ),
    ]);
    let text = problems(dir.path()).to_string();
    assert!(
        text.contains("trigger: give either 'trigger' or 'trigger_ref', not both"),
        "{text}"
    );
    assert!(
        text.contains("criteria: give either 'criteria' or 'conditions', not both"),
        "{text}"
    );
}

#[test]
fn criterion_keys_are_checked() {
    let dir = pack(&[
        ("pack.yaml", "ref: crit\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\naction: {ref: core.noop}\ncriteria:\n  trigger.x: {type: equals, patern: 1}\n",
        ),
    ]);
    // Criteria compile in the engine: read_pack alone accepts the file.
    assert!(read_pack(dir.path(), &PackOptions::default()).is_ok());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(async { engine().await.load_pack(dir.path()).await.unwrap_err() });
    let Error::Pack(errs) = e else { panic!("{e}") };
    let p = &errs.problems[0];
    assert_eq!((p.path.as_str(), p.line), ("criteria['trigger.x']", 5));
    assert!(
        p.message
            .contains("unknown key 'patern'; did you mean 'pattern'?"),
        "{p}"
    );
}

#[test]
fn yaml_1_1_booleans_in_param_specs() {
    let dir = pack(&[
        ("pack.yaml", "ref: yb\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nenabled: yes\nparameters:\n  x: {type: string, required: yes, secret: on}\n  no: {type: boolean, default: false}\n",
        ),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).unwrap();
    let a = b.actions().next().unwrap();
    assert!(a.enabled);
    let x = a.parameters.get("x").unwrap();
    assert!(x.required && x.secret);
    // `no` is a key here, not `false`.
    assert!(a.parameters.get("no").is_some());
}

#[test]
fn config_schema_given_twice_is_refused() {
    let dir = pack(&[
        (
            "pack.yaml",
            "ref: twice\nconf_schema:\n  a: {type: string}\n",
        ),
        ("config.schema.yaml", "a: {type: string}\n"),
    ]);
    let text = problems(dir.path()).to_string();
    assert!(
        text.contains("pack.yaml:2:1: conf_schema: the config schema is given twice"),
        "{text}"
    );
}

#[tokio::test]
async fn secrets_stay_masked_when_a_rule_passes_them_to_another_packs_action() {
    let dir = pack(&[
        ("pack.yaml", "ref: cross\nconfig: {token: hunter2-secret}\n"),
        (
            "config.schema.yaml",
            "token: {type: string, secret: true}\n",
        ),
        ("triggers/t.yaml", "name: t\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: cross.t}\naction:\n  ref: core.echo\n  parameters:\n    message: 'token={{ pack.config.token }}'\n",
        ),
    ]);
    let engine = engine().await;
    engine.load_pack(dir.path()).await.unwrap();
    let tests = engine
        .test_rules("cross.t", &json!({}), None)
        .await
        .unwrap();
    assert_eq!(
        tests[0].params,
        Some(Ok(json!({"message": "token=********"})))
    );
    let trace = emit_and_trace(&engine, "cross.t", json!({})).await;
    let exec = &trace.executions[0];
    assert_eq!(exec.params["message"], json!("token=********"));
    assert_eq!(exec.result, Some(json!({"stdout": "token=********"})));
    assert!(
        !serde_json::to_string(&trace.executions)
            .unwrap()
            .contains("hunter2")
    );
    assert!(
        !serde_json::to_string(&trace.enforcements)
            .unwrap()
            .contains("hunter2")
    );
}

#[cfg(feature = "http")]
#[test]
fn http_request_actions_get_the_runner_parameters() {
    let dir = pack(&[
        ("pack.yaml", "ref: web\n"),
        (
            "actions/status.yaml",
            "name: status\nrunner_type: http-request\nparameters:\n  url: {type: string, default: 'http://127.0.0.1:9/status', immutable: true}\n",
        ),
    ]);
    let b = read_pack(dir.path(), &PackOptions::default()).unwrap();
    let a = b.actions().next().unwrap();
    assert_eq!(a.runner, "http");
    let url = a.parameters.get("url").unwrap();
    assert!(url.immutable, "the file's spec wins");
    for k in ["method", "headers", "timeout", "password"] {
        assert!(a.parameters.get(k).is_some(), "runner parameter {k}");
    }
    assert!(a.parameters.get("password").unwrap().secret);
}

#[tokio::test]
async fn secret_config_values_never_show_in_tests_failures_or_as_numbers() {
    let dir = pack(&[
        (
            "pack.yaml",
            "ref: sx\nconfig: {token: tok-S3CRET, pin: 987654}\n",
        ),
        (
            "config.schema.yaml",
            "token: {type: string, secret: true, default: tok-DEFAULT}\npin: {type: integer, secret: true}\n",
        ),
        ("triggers/t.yaml", "name: t\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: rhai\ncode: 'n'\nparameters:\n  n: {type: integer}\n",
        ),
        (
            "actions/e.yaml",
            "name: e\nrunner_type: noop\nparameters:\n  kind: {type: string, enum: [x, y]}\n",
        ),
        (
            "rules/num.yaml",
            "name: num\ntrigger: {type: sx.t}\ncriteria:\n  trigger.k: {type: nequals, pattern: '{{ pack.config.token }}'}\naction:\n  ref: sx.a\n  parameters:\n    n: '{{ pack.config.pin }}'\n",
        ),
        (
            "rules/bad.yaml",
            "name: bad\ntrigger: {type: sx.t}\naction:\n  ref: sx.e\n  parameters:\n    kind: '{{ pack.config.token }}'\n",
        ),
    ]);
    let engine = engine().await;
    engine.load_pack(dir.path()).await.unwrap();
    // The schema's secret default is redacted too.
    let shown = engine.pack("sx").unwrap();
    assert!(
        !serde_json::to_string(&shown)
            .unwrap()
            .contains("tok-DEFAULT")
    );
    let tests = engine
        .test_rules("sx.t", &json!({"k": "z"}), None)
        .await
        .unwrap();
    let text = format!("{tests:?}");
    assert!(
        !text.contains("tok-S3CRET") && !text.contains("987654"),
        "{text}"
    );
    let num = tests.iter().find(|t| t.rule == "sx.num").unwrap();
    assert_eq!(num.criteria[0].pattern, json!("********"));
    assert_eq!(num.params, Some(Ok(json!({"n": "********"}))));
    let trace = emit_and_trace(&engine, "sx.t", json!({"k": "z"})).await;
    let all = format!(
        "{}{}",
        serde_json::to_string(&trace.enforcements).unwrap(),
        serde_json::to_string(&trace.executions).unwrap()
    );
    assert!(
        !all.contains("tok-S3CRET") && !all.contains("987654"),
        "{all}"
    );
    let failed = trace
        .enforcements
        .iter()
        .find(|e| e.rule == "sx.bad")
        .unwrap();
    assert!(
        failed.failure.as_deref().unwrap().contains("********"),
        "{failed:?}"
    );
}

#[test]
fn secret_inside_an_action_parameter_is_refused() {
    // (Config schemas may have them: st2_pack_habits.rs.)
    let dir = pack(&[
        ("pack.yaml", "ref: ns\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nparameters:\n  creds:\n    type: object\n    properties:\n      password: {type: string, secret: true}\n",
        ),
    ]);
    let e = problems(dir.path());
    assert_eq!(e.problems.len(), 1, "{e}");
    assert_eq!(
        e.problems[0].path,
        "parameters.creds.properties.password.secret"
    );
    assert!(e.problems[0].message.contains("whole parameters"), "{e}");
}

#[test]
fn an_invalid_ref_never_names_a_config_file() {
    let configs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(configs.path().join("private")).unwrap();
    let dir = pack(&[
        ("pack.yaml", "ref: ../x\n"),
        (
            "config.schema.yaml",
            "password: {type: string, enum: [nope]}\n",
        ),
    ]);
    std::fs::write(configs.path().join("x.yaml"), "password: hunter2\n").unwrap();
    let opts = PackOptions {
        config_dir: Some(configs.path().join("private")),
        ..PackOptions::default()
    };
    let e = read_pack(dir.path(), &opts).unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(e.to_string().contains("not a valid pack ref"), "{e}");
}

#[tokio::test]
async fn undeclared_templated_params_are_reported() {
    let dir = pack(&[
        ("pack.yaml", "ref: ut\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\naction:\n  ref: core.echo\n  parameters:\n    message: hi\n    bogus: '{{ trigger.k }}'\n",
        ),
    ]);
    let e = engine().await.load_pack(dir.path()).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("action.parameters.bogus") && text.contains("unknown parameter"),
        "{text}"
    );
}

#[tokio::test]
async fn two_directories_with_one_ref_are_both_refused() {
    let a = pack(&[
        ("pack.yaml", "ref: dup\n"),
        ("actions/one.yaml", "name: one\nrunner_type: noop\n"),
    ]);
    let b = pack(&[
        ("pack.yaml", "ref: dup\n"),
        ("actions/two.yaml", "name: two\nrunner_type: noop\n"),
    ]);
    let engine = engine().await;
    let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
    let report = engine
        .load_pack_dirs(&dirs, &PackOptions::default())
        .await
        .unwrap();
    assert!(report.loaded.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 2);
    assert!(
        report.failed[0].to_string().contains("is also the ref of"),
        "{:?}",
        report.failed
    );
    assert!(engine.pack("dup").is_none());
}

/// As in StackStorm, `name` is the name within the pack, dots included: `name:
/// galaxy.install` in pack `ansible` is the action `ansible.galaxy.install` (st2's own
/// `hello_st2` pack names its policies `greet.concurrency`), and a rule reaches it by that
/// ref. `ref` is the full ref and must be of the pack.
#[tokio::test]
async fn dotted_names_are_names_within_the_pack() {
    let dir = pack(&[
        ("pack.yaml", "name: ansible\nversion: 0.1.0\n"),
        (
            "actions/galaxy_install.yaml",
            "name: galaxy.install\nrunner_type: native\nparameters:\n  role:\n    type: string\n",
        ),
        (
            "policies/concurrency.yaml",
            "name: galaxy.concurrency\nresource_ref: ansible.galaxy.install\npolicy_type: action.concurrency\nparameters:\n  threshold: 2\n",
        ),
        ("triggers/go.yaml", "name: go.now\n"),
        (
            "rules/install.yaml",
            "name: on.go\ntrigger:\n  type: ansible.go.now\naction:\n  ref: ansible.galaxy.install\n  parameters:\n    role: '{{ trigger.role }}'\n",
        ),
    ]);
    let bundle = read_pack(dir.path(), &PackOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let refs: Vec<String> = bundle
        .definitions()
        .into_iter()
        .map(|d| d.def_ref().to_string())
        .collect();
    for want in [
        "ansible.galaxy.install",
        "ansible.galaxy.concurrency",
        "ansible.go.now",
        "ansible.on.go",
    ] {
        assert!(refs.iter().any(|r| r == want), "{want} in {refs:?}");
    }

    // A `ref` of another pack is refused, naming both packs.
    let dir = pack(&[
        ("pack.yaml", "name: ansible\n"),
        (
            "actions/other.yaml",
            "ref: galaxy.install\nrunner_type: native\n",
        ),
    ]);
    let err = problems(dir.path()).to_string();
    assert!(
        err.contains(
            "'galaxy.install' belongs to pack 'galaxy', but the file is in pack 'ansible'"
        ),
        "{err}"
    );
}

/// StackStorm habits in action files: `entry_point: ''` for a runner without a script is no
/// entry point (one whose runner needs a script is still told so), and `required: true`
/// with `default: null` is a parameter without a default that must be given.
#[tokio::test]
async fn empty_entry_points_and_null_defaults_of_required_params() {
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "actions/echo.yaml",
            "name: echo\nrunner_type: native\nentry_point: ''\nparameters:\n  roles:\n    type: array\n    required: true\n    default: null\n",
        ),
    ]);
    let engine = engine().await;
    engine.register_handler("habits.echo", |_ctx| async move { Ok(json!("ran")) });
    engine
        .load_pack(dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let action = engine.action("habits.echo").expect("loaded");
    assert_eq!(action.entry_point, None);
    let roles = action.parameters.get("roles").expect("declared");
    assert!(roles.required && roles.default.is_none(), "{roles:?}");
    let err = engine
        .execute("habits.echo", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("parameter 'roles': is required"), "{err}");
    let done = engine
        .run("habits.echo", json!({"roles": ["a"]}))
        .await
        .unwrap();
    assert_eq!(done.result, Some(json!("ran")), "{done:#?}");

    // A runner that needs a script still needs one.
    let dir = pack(&[
        ("pack.yaml", "name: habits\n"),
        (
            "actions/script.yaml",
            "name: script\nrunner_type: local-shell-script\nentry_point: ''\n",
        ),
    ]);
    let err = problems(dir.path()).to_string();
    assert!(err.contains("needs an 'entry_point'"), "{err}");
}

/// Packs loaded together: a pack that does not load makes the packs that use it fail too,
/// and their problems say that the pack was given but does not load (not merely that the
/// action does not exist). The pack's own problems are reported as well.
#[tokio::test]
async fn a_ref_into_a_pack_that_does_not_load_says_so() {
    let base = pack(&[
        ("lib/pack.yaml", "name: lib\n"),
        (
            "lib/actions/tool.yaml",
            "name: tool\nrunner_type: no-such-runner\n",
        ),
        ("user/pack.yaml", "name: user\n"),
        (
            "user/rules/go.yaml",
            "name: go\ntrigger:\n  type: core.webhook\naction:\n  ref: lib.tool\n",
        ),
        (
            "user/policies/p.yaml",
            "name: p\nresource_ref: lib.tool\npolicy_type: action.concurrency\nparameters:\n  threshold: 1\n",
        ),
    ]);
    let engine = engine().await;
    let dirs = vec![base.path().join("lib"), base.path().join("user")];
    let report = engine
        .load_pack_dirs(&dirs, &PackOptions::default())
        .await
        .unwrap();
    assert!(report.loaded.is_empty(), "{report:?}");
    let of = |pack: &str| {
        report
            .failed
            .iter()
            .find(|f| f.pack == pack)
            .unwrap_or_else(|| panic!("{pack} failed: {report:?}"))
            .to_string()
    };
    assert!(of("lib").contains("no-such-runner"), "{}", of("lib"));
    let user = of("user");
    assert_eq!(
        user.matches("pack 'lib' was given too, but it does not load")
            .count(),
        2,
        "the rule and the policy: {user}"
    );
}

/// A rule naming an action of its own pack whose file has a problem is told that the action
/// may be in that file.
#[tokio::test]
async fn a_missing_ref_points_at_the_files_with_problems() {
    let dir = pack(&[
        ("pack.yaml", "name: own\n"),
        (
            "actions/tool.yaml",
            "name: tool\nrunner_type: [not, a, string]\n",
        ),
        (
            "rules/go.yaml",
            "name: go\ntrigger:\n  type: core.webhook\naction:\n  ref: own.tool\n",
        ),
    ]);
    let err = engine()
        .await
        .load_pack(dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "action 'own.tool' does not exist (or it is in a file of actions/ with a problem listed here)"
        ),
        "{err}"
    );
}
