//! Partial loading (`PackOptions::partial`): what checks clean of a pack loads, as StackStorm
//! registers a pack file by file; what has a problem is left out with every problem listed,
//! and so is what needs it. A problem of the pack itself still refuses it.

mod common;

use attune_core::model::ExecutionStatus;
use attune_core::pack::{PackOptions, Problem};
use attune_core::{Engine, Error};
use common::{engine, write_pack};
use serde_json::json;

fn partial() -> PackOptions {
    PackOptions {
        partial: true,
        ..PackOptions::default()
    }
}

/// `file:path: message` of each problem, sorted.
fn listed(problems: &[Problem]) -> Vec<String> {
    let mut v: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{}: {}", p.file, p.path, p.message))
        .collect();
    v.sort();
    v
}

const FLOW: &str = "name: hello\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n";

/// A pack with clean definitions and, beside them: an action file that is not YAML, a
/// workflow whose file has a bad task, a rule on the broken action, a workflow that runs the
/// broken workflow, and a policy on it.
fn mixed_pack() -> tempfile::TempDir {
    write_pack(&[
        ("pack.yaml", "ref: mixed\n"),
        ("actions/hello.yaml", FLOW),
        (
            "actions/workflows/flow.yaml",
            "tasks:\n  a:\n    action: core.echo message=hi\n",
        ),
        ("actions/broken.yaml", "name: broken\nrunner_type: [oops\n"),
        (
            "actions/badflow.yaml",
            "name: badflow\nrunner_type: orquesta\nentry_point: workflows/bad.yaml\n",
        ),
        (
            "actions/workflows/bad.yaml",
            "tasks:\n  a:\n    action: core.nothere\n",
        ),
        (
            "actions/caller.yaml",
            "name: caller\nrunner_type: orquesta\nentry_point: workflows/caller.yaml\n",
        ),
        (
            "actions/workflows/caller.yaml",
            "tasks:\n  a:\n    action: mixed.badflow\n",
        ),
        ("triggers/ping.yaml", "name: ping\n"),
        (
            "rules/good.yaml",
            "name: good\ntrigger:\n  type: mixed.ping\naction:\n  ref: mixed.hello\n",
        ),
        (
            "rules/on_bad.yaml",
            "name: on_bad\ntrigger:\n  type: mixed.ping\naction:\n  ref: mixed.badflow\n",
        ),
        (
            "policies/limit.yaml",
            "name: limit\nresource_ref: mixed.caller\npolicy_type: action.concurrency\nparameters:\n  threshold: 1\n",
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_checks_clean_loads_and_every_problem_is_listed_with_what_needed_it() {
    let dir = mixed_pack();
    // By default the pack loads nothing, naming every problem.
    let e = engine().await;
    let Err(Error::Pack(refused)) = e.load_pack(dir.path()).await else {
        panic!("a pack with problems is refused by default");
    };
    assert!(e.pack("mixed").is_none());

    let summary = e.load_pack_with(dir.path(), &partial()).await.unwrap();
    assert_eq!(
        (
            summary.actions,
            summary.trigger_types,
            summary.rules,
            summary.policies
        ),
        (1, 1, 1, 0),
        "hello, ping, good: {summary:?}"
    );
    let left = listed(&summary.left_out);
    let expected_files = [
        "actions/broken.yaml",
        "actions/workflows/bad.yaml",
        "actions/workflows/caller.yaml",
        "policies/limit.yaml",
        "rules/on_bad.yaml",
    ];
    for f in expected_files {
        assert!(left.iter().any(|l| l.starts_with(f)), "{f} in {left:#?}");
    }
    assert!(
        left.iter()
            .all(|l| expected_files.iter().any(|f| l.starts_with(f))),
        "{left:#?}"
    );
    // Every problem of the default refusal is listed; what needed a left-out definition says so.
    for p in listed(&refused.problems) {
        assert!(left.contains(&p), "{p} is listed as left out: {left:#?}");
    }
    let needs: Vec<&String> = left
        .iter()
        .filter(|l| l.contains("it was left out for the problems listed with it"))
        .collect();
    assert_eq!(
        needs.len(),
        3,
        "caller, on_bad and limit name what was left out: {left:#?}"
    );

    // What loaded works; what was left out is not there.
    let x = e.run("mixed.hello", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    for gone in ["mixed.broken", "mixed.badflow", "mixed.caller"] {
        assert!(
            e.execute(gone, json!({})).await.is_err(),
            "{gone} is not loaded"
        );
    }
    assert!(e.rule("mixed.good").is_some());
    assert!(e.rule("mixed.on_bad").is_none());
    assert!(e.action("mixed.hello").is_some());
}

#[tokio::test]
async fn a_problem_of_the_pack_itself_refuses_it_even_when_partial() {
    let dir = write_pack(&[
        ("pack.yaml", "ref: selfbad\nconfig_schema_typo: 1\n"),
        ("actions/hello.yaml", FLOW),
        (
            "actions/workflows/flow.yaml",
            "tasks:\n  a:\n    action: core.echo message=hi\n",
        ),
        ("actions/broken.yaml", "name: broken\nrunner_type: [oops\n"),
    ]);
    let e = engine().await;
    let Err(Error::Pack(errors)) = e.load_pack_with(dir.path(), &partial()).await else {
        panic!("refused");
    };
    let problems = listed(&errors.problems);
    assert!(
        problems.iter().any(|p| p.starts_with("pack.yaml:")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("actions/broken.yaml:")),
        "every problem is still listed: {problems:#?}"
    );
    assert!(e.pack("selfbad").is_none(), "nothing registered");
}

#[tokio::test]
async fn a_budget_that_ran_out_refuses_the_pack_even_when_partial() {
    let dir = mixed_pack();
    let options = PackOptions {
        max_pack_files: 3,
        ..partial()
    };
    let e = engine().await;
    let Err(Error::Pack(errors)) = e.load_pack_with(dir.path(), &options).await else {
        panic!("a pack not read to its end is refused");
    };
    assert!(
        errors
            .problems
            .iter()
            .any(|p| p.message.contains("max_pack_files")),
        "{errors}"
    );
}

#[tokio::test]
async fn packs_loaded_together_leave_out_what_needs_a_definition_another_left_out() {
    let base = write_pack(&[
        ("pack.yaml", "ref: base\n"),
        ("actions/hello.yaml", FLOW),
        (
            "actions/workflows/flow.yaml",
            "tasks:\n  a:\n    action: core.echo message=hi\n",
        ),
        (
            "actions/bad.yaml",
            "name: bad\nrunner_type: orquesta\nentry_point: workflows/bad.yaml\n",
        ),
        (
            "actions/workflows/bad.yaml",
            "tasks:\n  a:\n    action: core.nothere\n",
        ),
    ]);
    let user = write_pack(&[
        ("pack.yaml", "ref: user\n"),
        (
            "rules/uses_bad.yaml",
            "name: uses_bad\ntrigger:\n  type: core.intervaltimer\n  parameters: {delta: 60}\naction:\n  ref: base.bad\n",
        ),
        (
            "rules/uses_hello.yaml",
            "name: uses_hello\ntrigger:\n  type: core.intervaltimer\n  parameters: {delta: 60}\naction:\n  ref: base.hello\n",
        ),
    ]);
    let e = engine().await;
    let dirs = [base.path().to_path_buf(), user.path().to_path_buf()];
    let strict = e
        .load_pack_dirs(&dirs, &PackOptions::default())
        .await
        .unwrap();
    assert_eq!(
        strict.failed.len(),
        2,
        "base fails, and user needs it: {strict:?}"
    );

    let e = Engine::builder().build().await.unwrap();
    let report = e.load_pack_dirs(&dirs, &partial()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let user_summary = report.loaded.iter().find(|s| s.pack == "user").unwrap();
    assert_eq!(user_summary.rules, 1);
    let left = listed(&user_summary.left_out);
    assert_eq!(left.len(), 1, "{left:#?}");
    assert!(
        left[0].starts_with(
            "rules/uses_bad.yaml:action.ref: action 'base.bad' does not exist (it was left out"
        ),
        "{left:#?}"
    );
}

/// A rule that leaves out a required param of its action names the param.
#[tokio::test]
async fn a_rule_missing_a_required_param_names_it() {
    let dir = write_pack(&[
        ("pack.yaml", "ref: req\n"),
        (
            "actions/deploy.yaml",
            "name: deploy\nrunner_type: noop\nparameters:\n  sha: {type: string, required: true}\n",
        ),
        ("triggers/push.yaml", "name: push\n"),
        (
            "rules/on_push.yaml",
            "name: on_push\ntrigger:\n  type: req.push\naction:\n  ref: req.deploy\n",
        ),
    ]);
    let e = engine().await;
    let Err(Error::Pack(errors)) = e.load_pack(dir.path()).await else {
        panic!("refused");
    };
    let p = &errors.problems[0];
    assert_eq!(
        (p.file.as_str(), p.path.as_str()),
        ("rules/on_push.yaml", "action.parameters")
    );
    assert!(
        p.message
            .contains("params of action 'req.deploy': 'sha' is required"),
        "{p}"
    );
}
