//! StackStorm's own `contrib/` packs (tests/data/st2-packs), checked together as a
//! StackStorm user would load them, on an engine with shell, Python and HTTP runtimes
//! (stand-ins here: loading checks runner names, nothing runs). Every pack whose content is in scope
//! loads; `examples` is refused for exactly the problems listed below, each a real one
//! (upstream negative fixtures, packs that are not there). The counts
//! the issue asks for are printed.

use async_trait::async_trait;
use attune_core::Engine;
use attune_core::pack::{PackOptions, Problem};
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
struct Named(&'static str);

#[async_trait]
impl Runtime for Named {
    fn name(&self) -> &str {
        self.0
    }
    async fn run(&self, _req: RunRequest) -> attune_core::Result<RunOutput> {
        Ok(RunOutput::success(Value::Null))
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/st2-packs")
}

const PACKS: &[&str] = &[
    "chatops",
    "core",
    "debug",
    "default",
    "examples",
    "hello_st2",
    "linux",
    "packs",
];

/// What is refused in `examples`, as `file:line: key path` and a part of the message.
const EXAMPLES_PROBLEMS: &[(&str, &str)] = &[
    // Upstream negative fixtures: StackStorm refuses them too.
    (
        "actions/chains/echochain_task_failure.yaml:9: chain[0].on-failure",
        "names node 'c4', which does not exist",
    ),
    (
        "actions/chains/echochain_top_level_failure.yaml:9: chain[0].on-failure",
        "names node 'c4', which does not exist",
    ),
    (
        "actions/chains/echochain_top_level_failure.yaml:12: chain[1].ref",
        "'core.invalid-action' does not exist",
    ),
    (
        "actions/workflows/tests/orquesta-fail-inspection.yaml:17: tasks.task2.input",
        "must be a mapping",
    ),
    (
        "actions/workflows/tests/orquesta-fail-inspection.yaml:20: tasks.task2.next[0].when",
        "YAQL syntax error",
    ),
    (
        "actions/workflows/tests/orquesta-fail-inspection-task-contents.yaml:16: tasks.task1.action",
        "'echo' does not exist",
    ),
    (
        "actions/workflows/tests/orquesta-fail-inspection-task-contents.yaml:22: tasks.task2.action",
        "'core.echoz' does not exist",
    ),
    (
        "actions/workflows/tests/orquesta-fail-inspection-task-contents.yaml:31: tasks.task3.input",
        "'message' is required",
    ),
    (
        "actions/workflows/tests/orquesta-fail-inspection-task-contents.yaml:31: tasks.task3.input.messages",
        "unknown parameter",
    ),
    // Packs that are not in contrib/ (slack, fixtures) or an action upstream lacks too.
    (
        "actions/chains/json_escape_jinja_filter.yaml:9: chain[0].ref",
        "'slack.chat.postMessage' does not exist",
    ),
    (
        "rules/notify_inquiry.yaml:11: action.ref",
        "'slack.post_message' does not exist",
    ),
    (
        "rules/notify_slack.yaml:15: action.ref",
        "'slack.post_message' does not exist",
    ),
    (
        "actions/workflows/render_config_context.yaml:5: tasks.task1.action",
        "'fixtures.render_config_context' does not exist",
    ),
    (
        "actions/workflows/orquesta-data-flow-large-data.yaml:29: tasks.task2.action",
        "'examples.load_and_print_fixture' does not exist",
    ),
];

/// The problems of `examples` that are not in [`EXAMPLES_PROBLEMS`].
fn unexpected(problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .filter(|p| {
            let at = shown(p);
            !EXAMPLES_PROBLEMS
                .iter()
                .any(|(where_, what)| at == *where_ && p.message.contains(what))
        })
        .map(ToString::to_string)
        .collect()
}

fn shown(p: &Problem) -> String {
    format!("{}:{}: {}", p.file, p.line, p.path)
}

#[tokio::test]
async fn stackstorms_contrib_packs_load_but_for_known_problems() {
    let engine = stand_in_engine().await;
    let dirs: Vec<PathBuf> = PACKS.iter().map(|p| root().join(p)).collect();
    let (ok, failed) = engine
        .check_packs(&dirs, &PackOptions::default())
        .await
        .unwrap();
    let loaded: Vec<&str> = ok.iter().map(|b| b.pack_ref()).collect();
    assert_eq!(
        loaded,
        [
            "chatops",
            "core",
            "debug",
            "default",
            "hello_st2",
            "linux",
            "packs"
        ]
    );
    assert_eq!(failed.len(), 1);
    let examples = &failed[0];
    assert_eq!(examples.pack, "examples");
    let unexpected = unexpected(&examples.problems);
    assert!(
        unexpected.is_empty(),
        "unexpected problems:\n{}",
        unexpected.join("\n")
    );
    assert_eq!(
        examples.problems.len(),
        EXAMPLES_PROBLEMS.len(),
        "{examples}"
    );
    // The counts of the issue: action files loading / total, and warnings.
    let files: usize = PACKS
        .iter()
        .map(|p| action_files(&root().join(p).join("actions")))
        .sum();
    let loading: usize = ok.iter().map(|b| b.actions().count()).sum();
    let warnings: usize = ok.iter().map(|b| b.warnings().len()).sum();
    println!(
        "st2 contrib packs: {}/{} load; actions of the loading packs: {loading} (action files \
         in all packs: {files}); {warnings} warnings; examples: {} problems",
        ok.len(),
        PACKS.len(),
        examples.problems.len()
    );
}

/// Loaded as StackStorm registers packs (file by file: `PackOptions::partial`), every pack
/// loads, and what `examples` leaves out is exactly what the strict load refuses it for.
#[tokio::test]
async fn with_partial_loading_every_contrib_pack_loads_leaving_out_only_the_known_problems() {
    let engine = stand_in_engine().await;
    let dirs: Vec<PathBuf> = PACKS.iter().map(|p| root().join(p)).collect();
    let options = PackOptions {
        partial: true,
        ..PackOptions::default()
    };
    let report = engine.load_pack_dirs(&dirs, &options).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let loaded: Vec<&str> = report.loaded.iter().map(|s| s.pack.as_str()).collect();
    assert_eq!(loaded, PACKS);
    for s in &report.loaded {
        if s.pack != "examples" {
            assert!(s.left_out.is_empty(), "{}: {:?}", s.pack, s.left_out);
        }
    }
    let examples = report.loaded.iter().find(|s| s.pack == "examples").unwrap();
    let unexpected = unexpected(&examples.left_out);
    assert!(
        unexpected.is_empty(),
        "unexpected problems:\n{}",
        unexpected.join("\n")
    );
    assert_eq!(examples.left_out.len(), EXAMPLES_PROBLEMS.len());
    println!(
        "st2 contrib packs, partial: {}/{} load; examples: {} actions, {} rules, {} left out",
        report.loaded.len(),
        PACKS.len(),
        examples.actions,
        examples.rules,
        examples.left_out.len()
    );
    // What loaded is there: an Orquesta workflow and a chain of examples.
    assert!(engine.action("examples.orquesta-sequential").is_some());
    assert!(engine.action("examples.echochain").is_some());
    assert!(engine.action("examples.orquesta-fail-inspection").is_none());
}

/// An engine with stand-ins for the shell, Python and HTTP runtimes.
async fn stand_in_engine() -> Engine {
    Engine::builder()
        .runtime(Arc::new(Named("shell")))
        .runtime(Arc::new(Named("python")))
        // Without the `http` feature core.http is not built in: st2's core pack adds it.
        .runtime(Arc::new(Named("http")))
        .build()
        .await
        .unwrap()
}

/// The action metadata files under `dir` (YAML files of `actions/`, not in `workflows/` or
/// `chains/`, which hold workflow and chain definitions).
fn action_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let p = e.path();
            p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
        })
        .count()
}
