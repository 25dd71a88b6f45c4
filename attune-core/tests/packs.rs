//! Packs from disk: both file shapes, config, cross-checks, reload, unload, and the example
//! pack of examples/packs run through the engine.

mod common;

use attune_core::Error;
use attune_core::model::{DefinitionKind, ExecutionStatus};
use attune_core::pack::{PackOptions, read_pack};
use common::{SAFETY, emit_and_trace, engine, engine_with_stub_shell};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A pack directory written file by file in a temporary directory.
#[derive(Debug)]
pub struct TestPack {
    pub dir: tempfile::TempDir,
}

impl TestPack {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = TestPack { dir };
        for (name, text) in files {
            p.write(name, text);
        }
        p
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn example_pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/packs/monitoring")
}

const PACK: &str = "ref: demo\ndescription: a test pack\nversion: 0.1.0\n";

#[tokio::test]
async fn example_pack_loads_in_both_shapes_and_runs() {
    let engine = engine_with_stub_shell().await;
    let summary = engine
        .load_pack(example_pack())
        .await
        .expect("example pack loads");
    assert_eq!(summary.pack, "monitoring");
    assert_eq!(
        (
            summary.actions,
            summary.trigger_types,
            summary.rules,
            summary.policies
        ),
        (7, 1, 4, 1),
        "check_host, disk_usage, format_alert, page, and the workflows triage, diagnose, sweep"
    );
    assert!(!summary.replaced);
    // StackStorm-shaped rule and the earlier-Attune-shaped one are both registered.
    let summarize = engine.rule("monitoring.summarize").unwrap();
    assert_eq!(summarize.action, "monitoring.format_alert");
    assert_eq!(
        summarize.criteria["payload.host"],
        json!({"type": "startswith", "pattern": "db-"})
    );
    assert!(engine.rule("monitoring.unrouted").unwrap().backstop);
    let page = engine.action("monitoring.page").unwrap();
    assert_eq!(page.timeout_secs, Some(10.0));
    assert!(page.parameters.get("token").unwrap().secret);
    assert!(page.parameters.get("team").unwrap().required);
    // The `timeout` parameter's default is the action timeout (StackStorm runners).
    assert_eq!(
        engine
            .action("monitoring.format_alert")
            .unwrap()
            .timeout_secs,
        Some(5.0)
    );
    assert_eq!(
        engine
            .action("monitoring.format_alert")
            .unwrap()
            .entry_point
            .as_deref(),
        Some("actions/format_alert.rhai")
    );

    let payload: Value = serde_json::from_str(
        &std::fs::read_to_string(example_pack().join("../../events/critical_db_alert.json"))
            .unwrap(),
    )
    .unwrap();
    let trace = emit_and_trace(&engine, "monitoring.alert", payload["payload"].clone()).await;
    let mut by_action: Vec<(String, ExecutionStatus)> = trace
        .executions
        .iter()
        .map(|e| (e.action.to_string(), e.status))
        .collect();
    by_action.sort();
    assert_eq!(
        by_action,
        vec![
            (
                "monitoring.format_alert".to_string(),
                ExecutionStatus::Succeeded
            ),
            ("monitoring.page".to_string(), ExecutionStatus::Succeeded),
        ],
        "{trace:#?}"
    );
    let fmt = trace
        .executions
        .iter()
        .find(|e| e.action == "monitoring.format_alert")
        .unwrap();
    assert_eq!(
        fmt.result.as_ref().unwrap()["summary"],
        json!("[CRITICAL] db-7: REPLICA DOWN (team sre)")
    );
    let page = trace
        .executions
        .iter()
        .find(|e| e.action == "monitoring.page")
        .unwrap();
    // The secret config value reached the action, but is stored redacted.
    assert_eq!(page.result.as_ref().unwrap()["authorized"], json!(true));
    assert_eq!(page.params["token"], json!("********"));

    // A non-matching alert goes to the backstop rule only.
    let trace = emit_and_trace(
        &engine,
        "monitoring.alert",
        json!({"host": "web-1", "severity": 1}),
    )
    .await;
    assert_eq!(trace.executions.len(), 1, "{trace:#?}");
    assert_eq!(trace.executions[0].action, "core.echo");
    assert_eq!(
        trace.executions[0].result,
        Some(json!({"stdout": "unrouted alert from web-1"}))
    );
}

#[tokio::test]
async fn rule_tester_explains_each_criterion_and_renders_params() {
    let engine = engine_with_stub_shell().await;
    engine.load_pack(example_pack()).await.unwrap();
    let payload = json!({
        "host": "db-7", "severity": 5, "message": "Replica DOWN", "tags": ["prod"],
        "checks": [{"status": "failing"}]
    });
    let tests = engine
        .test_rules("monitoring.alert", &payload, None)
        .await
        .unwrap();
    let names: Vec<(&str, bool)> = tests.iter().map(|t| (t.rule.as_str(), t.matched)).collect();
    assert_eq!(
        names,
        vec![
            ("monitoring.page_on_critical", true),
            ("monitoring.summarize", true),
            ("monitoring.unrouted", false),
        ]
    );
    let page = &tests[0];
    assert_eq!(page.criteria.len(), 5);
    assert!(page.criteria.iter().all(|c| c.passed), "{page:#?}");
    let sev = page
        .criteria
        .iter()
        .find(|c| c.key == "trigger.severity")
        .unwrap();
    assert_eq!(sev.operator, "greaterthan");
    assert_eq!(sev.value, Some(json!(5)));
    assert_eq!(
        sev.pattern,
        json!(3),
        "the templated pattern is shown rendered"
    );
    assert_eq!(
        page.params,
        Some(Ok(
            json!({"team": "sre", "text": "db-7 is down: Replica DOWN", "token": "********"})
        ))
    );
    assert!(
        tests[2]
            .note
            .as_deref()
            .unwrap()
            .contains("standard rule matched")
    );

    // One failing criterion: the rule does not match and the check says which.
    let tests = engine
        .test_rules(
            "monitoring.alert",
            &json!({"host": "db-7", "severity": 5, "message": "fine", "tags": ["prod"], "checks": []}),
            Some("monitoring.page_on_critical"),
        )
        .await
        .unwrap();
    assert_eq!(tests.len(), 1);
    assert!(!tests[0].matched);
    let failed: Vec<&str> = tests[0]
        .criteria
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(failed, vec!["trigger.message", "trigger.checks"]);
    assert_eq!(tests[0].params, None);

    let e = engine
        .test_rules("monitoring.alert", &json!({}), Some("monitoring.nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[tokio::test]
async fn config_is_validated_and_secret_values_are_redacted_everywhere() {
    let engine = engine().await;
    let p = TestPack::new(&[
        ("pack.yaml", "ref: sec\nconfig:\n  token: s3cr3t-value\n"),
        (
            "config.schema.yaml",
            "token: {type: string, secret: true, required: true}\nregion: {type: string, default: eu}\n",
        ),
        ("triggers/t.yaml", "name: t\n"),
        (
            "actions/leak.yaml",
            "name: leak\nrunner_type: rhai\ncode: 'region + \":\" + token'\nparameters:\n  token: {type: string}\n  region: {type: string}\n",
        ),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: sec.t}\naction:\n  ref: sec.leak\n  parameters:\n    token: '{{ pack.config.token }}'\n    region: '{{ pack.config.region }}'\n",
        ),
    ]);
    engine.load_pack(p.path()).await.unwrap();
    let shown = engine.pack("sec").unwrap();
    assert_eq!(shown.config, json!({"token": "********", "region": "eu"}));
    assert!(!format!("{shown:?}").contains("s3cr3t"));
    let stored = engine
        .store()
        .get_definition(DefinitionKind::Pack, "sec")
        .await
        .unwrap()
        .unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains("s3cr3t"));

    let trace = emit_and_trace(&engine, "sec.t", json!({})).await;
    let exec = &trace.executions[0];
    assert_eq!(exec.status, ExecutionStatus::Succeeded);
    // The action got the real value (it echoes it), the stored params and result mask it.
    assert_eq!(exec.result, Some(json!("eu:********")));
    assert_eq!(exec.params["token"], json!("********"));
    assert!(!serde_json::to_string(exec).unwrap().contains("s3cr3t"));

    // A config value of the wrong type is reported where it is written.
    let bad = TestPack::new(&[
        ("pack.yaml", "ref: badcfg\nconfig:\n  retries: many\n"),
        ("config.schema.yaml", "retries: {type: integer}\n"),
    ]);
    let e = engine.load_pack(bad.path()).await.unwrap_err();
    let Error::Pack(errs) = e else { panic!("{e}") };
    assert_eq!(errs.problems.len(), 1, "{errs}");
    assert_eq!(errs.problems[0].file, "pack.yaml");
    assert_eq!(errs.problems[0].path, "config.retries");
    assert_eq!(errs.problems[0].line, 3);
    assert!(engine.pack("badcfg").is_none());
}

#[tokio::test]
async fn config_dir_overrides_pack_yaml_values() {
    let engine = engine().await;
    let p = TestPack::new(&[("pack.yaml", "ref: cfg\nconfig:\n  team: a\n  zone: z1\n")]);
    let configs = tempfile::tempdir().unwrap();
    std::fs::write(configs.path().join("cfg.yaml"), "team: b\n").unwrap();
    let opts = PackOptions {
        config_dir: Some(configs.path().to_path_buf()),
        ..PackOptions::default()
    };
    engine.load_pack_with(p.path(), &opts).await.unwrap();
    assert_eq!(
        engine.pack("cfg").unwrap().config,
        json!({"team": "b", "zone": "z1"})
    );
}

#[tokio::test]
async fn reload_replaces_atomically_and_running_executions_finish() {
    let engine = engine().await;
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    engine.register_handler("rl.wait", move |_ctx| {
        let g = g.clone();
        let tx = started_tx.clone();
        async move {
            let _ = tx.send(());
            g.notified().await;
            Ok(json!("finished"))
        }
    });
    let p = TestPack::new(&[
        ("pack.yaml", PACK.replace("demo", "rl").as_str()),
        ("triggers/t.yaml", "name: t\n"),
        (
            "actions/wait.yaml",
            "name: wait\nrunner_type: native\ndescription: v1\n",
        ),
        (
            "rules/one.yaml",
            "name: one\ntrigger: {type: rl.t}\naction: {ref: core.noop}\n",
        ),
    ]);
    engine.load_pack(p.path()).await.unwrap();
    let id = engine.execute("rl.wait", json!({})).await.unwrap();
    tokio::time::timeout(SAFETY, started_rx.recv())
        .await
        .unwrap();

    // Version 2: rule `one` is gone, rule `two` arrives, the action changes.
    std::fs::remove_file(p.path().join("rules/one.yaml")).unwrap();
    p.write(
        "rules/two.yaml",
        "name: two\ntrigger: {type: rl.t}\naction: {ref: core.noop}\n",
    );
    p.write(
        "actions/wait.yaml",
        "name: wait\nrunner_type: native\ndescription: v2\n",
    );
    let s = engine.load_pack(p.path()).await.unwrap();
    assert!(s.replaced);
    assert!(engine.rule("rl.one").is_none());
    assert!(engine.rule("rl.two").is_some());
    assert_eq!(engine.action("rl.wait").unwrap().description, "v2");
    let rules = engine
        .store()
        .list_definitions(DefinitionKind::Rule, Some("rl"))
        .await
        .unwrap();
    assert_eq!(rules.len(), 1);

    gate.notify_one();
    let done = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.result, Some(json!("finished")));

    // A broken version 3 changes nothing.
    p.write(
        "rules/two.yaml",
        "name: two\ntrigger: {type: rl.t}\naction: {ref: core.nope}\n",
    );
    let e = engine.load_pack(p.path()).await.unwrap_err();
    assert!(matches!(e, Error::Pack(_)), "{e}");
    assert_eq!(engine.rule("rl.two").unwrap().action, "core.noop");
}

#[tokio::test]
async fn unload_removes_everything_and_refuses_while_in_use() {
    let engine = engine().await;
    let base = TestPack::new(&[
        ("pack.yaml", "ref: base\n"),
        ("triggers/t.yaml", "name: t\n"),
        ("actions/a.yaml", "name: a\nrunner_type: noop\n"),
    ]);
    let user = TestPack::new(&[
        ("pack.yaml", "ref: user\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: base.t}\naction: {ref: base.a}\n",
        ),
    ]);
    engine.load_pack(base.path()).await.unwrap();
    engine.load_pack(user.path()).await.unwrap();
    let e = engine.unload_pack("base").await.unwrap_err();
    assert!(
        matches!(e, Error::Conflict(_)) && e.to_string().contains("user.r"),
        "{e}"
    );
    // A new version of base that drops what user.r needs is refused as well.
    std::fs::remove_file(base.path().join("actions/a.yaml")).unwrap();
    let e = engine.load_pack(base.path()).await.unwrap_err();
    assert!(e.to_string().contains("user.r"), "{e}");

    assert!(engine.unload_pack("user").await.unwrap());
    assert!(engine.unload_pack("base").await.unwrap());
    assert!(!engine.unload_pack("base").await.unwrap());
    assert!(engine.action("base.a").is_none());
    assert!(engine.pack("base").is_none());
    for kind in DefinitionKind::ALL {
        assert!(
            engine
                .store()
                .list_definitions(kind, Some("base"))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(matches!(
        engine.unload_pack("core").await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn load_packs_installs_good_packs_and_reports_bad_ones() {
    let root = tempfile::tempdir().unwrap();
    let w = |pack: &str, name: &str, text: &str| {
        let path = root.path().join(pack).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    // `a` uses an action of `b`: order on disk does not matter.
    w("a", "pack.yaml", "ref: a\n");
    w(
        "a",
        "rules/r.yaml",
        "name: r\ntrigger: {type: b.t}\naction: {ref: b.x}\n",
    );
    w("b", "pack.yaml", "ref: b\n");
    w("b", "triggers/t.yaml", "name: t\n");
    w("b", "actions/x.yaml", "name: x\nrunner_type: noop\n");
    // `c` is broken, and `d` needs it.
    w("c", "pack.yaml", "ref: c\n");
    w("c", "actions/x.yaml", "name: x\nrunner_typo: noop\n");
    w("d", "pack.yaml", "ref: d\n");
    w(
        "d",
        "rules/r.yaml",
        "name: r\ntrigger: {type: b.t}\naction: {ref: c.x}\n",
    );
    std::fs::create_dir_all(root.path().join("not_a_pack")).unwrap();

    let engine = engine().await;
    let report = engine
        .load_packs(root.path(), &PackOptions::default())
        .await
        .unwrap();
    let loaded: Vec<&str> = report.loaded.iter().map(|s| s.pack.as_str()).collect();
    let failed: Vec<&str> = report.failed.iter().map(|e| e.pack.as_str()).collect();
    assert_eq!(loaded, vec!["a", "b"]);
    assert_eq!(failed, vec!["c", "d"]);
    assert!(engine.pack("c").is_none() && engine.pack("d").is_none());
    assert!(engine.rule("a.r").is_some());
}

#[tokio::test]
async fn core_pack_is_built_in() {
    let engine = engine().await;
    assert!(engine.pack("core").is_some());
    for t in [
        "core.intervaltimer",
        "core.crontimer",
        "core.datetimetimer",
        "core.webhook",
    ] {
        let def = engine
            .store()
            .get_definition(DefinitionKind::TriggerType, t)
            .await
            .unwrap();
        assert!(def.is_some(), "{t}");
    }
    let e = engine
        .run("core.echo", json!({"message": "hi"}))
        .await
        .unwrap();
    assert_eq!(e.result, Some(json!({"stdout": "hi"})));
    let e = engine.run("core.noop", json!({})).await.unwrap();
    assert_eq!(
        (e.status, e.result),
        (ExecutionStatus::Succeeded, Some(json!({})))
    );
    let e = engine
        .run("core.error", json!({"message": "boom"}))
        .await
        .unwrap();
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert!(e.error.unwrap().contains("boom"));
    let e = engine
        .run("core.sleep", json!({"delay": 0.01}))
        .await
        .unwrap();
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    // A canceled sleep stops.
    let id = engine
        .execute("core.sleep", json!({"delay": 600}))
        .await
        .unwrap();
    tokio::time::timeout(SAFETY, async {
        while engine.execution(id).await.unwrap().status != ExecutionStatus::Running {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the sleep starts");
    engine.cancel(id).await.unwrap();
    let e = engine.wait_timeout(id, SAFETY).await.unwrap();
    assert_eq!(e.status, ExecutionStatus::Canceled);
    // Missing required param.
    assert!(engine.execute("core.echo", json!({})).await.is_err());
    // A core pack from disk is laid onto the built-in one, which it cannot take away
    // (StackStorm's own core pack: st2_pack_habits.rs).
    let p = TestPack::new(&[("pack.yaml", "ref: core\n")]);
    engine.load_pack(p.path()).await.unwrap();
    assert!(engine.action("core.echo").is_some() && engine.action("core.sleep").is_some());
    assert!(engine.unload_pack("core").await.is_err());
}

#[test]
fn read_pack_needs_no_engine() {
    let b = read_pack(&example_pack(), &PackOptions::default()).unwrap();
    assert_eq!(b.pack_ref(), "monitoring");
    assert_eq!(b.rules().count(), 4);
    // Debug output never shows config values.
    assert!(!format!("{b:?}").contains("example-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_installs_leave_store_and_registry_agreeing() {
    let engine = std::sync::Arc::new(engine().await);
    let v1 = TestPack::new(&[
        ("pack.yaml", "ref: cc\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\ndescription: v1\n",
        ),
    ]);
    let v2 = TestPack::new(&[
        ("pack.yaml", "ref: cc\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\ndescription: v2\n",
        ),
    ]);
    let b1 = read_pack(v1.path(), &PackOptions::default()).unwrap();
    let b2 = read_pack(v2.path(), &PackOptions::default()).unwrap();
    for _ in 0..50 {
        let (e1, e2) = (engine.clone(), engine.clone());
        let (x, y) = (b1.clone(), b2.clone());
        let t1 = tokio::spawn(async move { e1.install_pack(x).await });
        let t2 = tokio::spawn(async move { e2.install_pack(y).await });
        t1.await.unwrap().unwrap();
        t2.await.unwrap().unwrap();
        let in_registry = engine.action("cc.a").unwrap().description;
        let Some(attune_core::model::Definition::Action(stored)) = engine
            .store()
            .get_definition(DefinitionKind::Action, "cc.a")
            .await
            .unwrap()
        else {
            panic!("stored")
        };
        assert_eq!(in_registry, stored.description);
    }
    // An unload racing a pack that starts using it: never a rule without its action.
    let user = TestPack::new(&[
        ("pack.yaml", "ref: uu\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\naction: {ref: cc.a}\n",
        ),
    ]);
    let bu = read_pack(user.path(), &PackOptions::default()).unwrap();
    let (e1, e2) = (engine.clone(), engine.clone());
    let t1 = tokio::spawn(async move { e1.unload_pack("cc").await });
    let t2 = tokio::spawn(async move { e2.install_pack(bu).await });
    let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
    assert!(r1.is_ok() != r2.is_ok(), "exactly one wins: {r1:?} {r2:?}");
    if let Some(rule) = engine.rule("uu.r") {
        assert!(engine.action(&rule.action).is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_pack_sequential_and_nested_workflows_run() {
    let engine = engine_with_stub_shell().await;
    engine.load_pack(example_pack()).await.unwrap();
    let x = engine
        .run("monitoring.diagnose", json!({"host": "db-1"}))
        .await
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["output"],
        json!({"fqdn": "db-1.internal", "summary": "db-1 -> checked db-1.internal"}),
        "each step used what the one before published"
    );
    let x = engine
        .run(
            "monitoring.sweep",
            json!({"hosts": ["db-1", "web-2", "web-3"]}),
        )
        .await
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["output"]["summaries"],
        json!([
            "db-1 -> checked db-1.internal",
            "web-2 -> checked web-2.internal",
            "web-3 -> checked web-3.internal"
        ]),
        "one nested diagnose run per host, in host order"
    );
    let nested = engine
        .store()
        .list_executions(
            &attune_core::store::ExecutionFilter::new().parent(x.id),
            &attune_core::store::Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(nested.len(), 3);
    assert!(nested.iter().all(|n| n.action == "monitoring.diagnose"));
}
