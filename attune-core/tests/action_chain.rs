//! Action chains (StackStorm's `action-chain` runner): read and checked at pack load, run
//! as workflows — each node an execution whose parent is the chain's — with StackStorm's
//! result (`tasks`, `published`), and the real chains of StackStorm's `examples` pack.

mod common;

use async_trait::async_trait;
use attune_core::model::{Execution, ExecutionStatus};
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use attune_core::workflow::parse_chain;
use attune_core::{Engine, Error};
use common::{SAFETY, children};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An engine with `fx.echo` (result `{"stdout": message}`), `fx.fail` (fails with
/// `message`), `fx.flaky` (fails until its third run) and a stand-in `shell` runtime.
async fn engine() -> Engine {
    let e = Engine::builder()
        .runtime(Arc::new(FakeShell))
        .build()
        .await
        .unwrap();
    e.register_fn("fx.echo", |ctx| async move {
        Ok(json!({"stdout": ctx.param("message").cloned().unwrap_or(Value::Null)}))
    })
    .await
    .unwrap();
    e.register_fn("fx.fail", |ctx| async move {
        Err::<Value, _>(Error::Action(format!(
            "failed: {}",
            ctx.param("message").and_then(Value::as_str).unwrap_or("")
        )))
    })
    .await
    .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    e.register_fn("fx.flaky", move |_| {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n < 3 {
                Err(Error::Action(format!("run {n} failed")))
            } else {
                Ok(json!({"runs": n}))
            }
        }
    })
    .await
    .unwrap();
    e
}

/// `shell` for `core.local` without processes: `echo X` gives stdout `X`; a command with
/// `exit 1` in it fails.
#[derive(Debug)]
struct FakeShell;

#[async_trait]
impl Runtime for FakeShell {
    fn name(&self) -> &str {
        "shell"
    }

    async fn run(&self, req: RunRequest) -> attune_core::Result<RunOutput> {
        let cmd = req.params.get("cmd").and_then(Value::as_str).unwrap_or("");
        if cmd.contains("exit 1") {
            let out = json!({"stdout": "", "stderr": cmd, "return_code": 1});
            return Ok(RunOutput::failure(out).with_error("exit code 1"));
        }
        let stdout = cmd.strip_prefix("echo ").unwrap_or(cmd).to_string();
        Ok(RunOutput::success(
            json!({"stdout": stdout, "stderr": "", "return_code": 0}),
        ))
    }
}

/// A pack `chains` in a temporary directory with one chain action per `(name, params,
/// chain text)`.
fn pack(chains: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("pack.yaml", "ref: chains\nname: chains\nversion: 1.0.0\n");
    for (name, params, text) in chains {
        write(
            &format!("actions/{name}.yaml"),
            &format!(
                "name: {name}\nrunner_type: action-chain\nentry_point: chains/{name}.yaml\n\
                 parameters: {params}\n"
            ),
        );
        write(&format!("actions/chains/{name}.yaml"), text);
    }
    dir
}

/// Loads one chain as `chains.<name>` and runs it with `params`.
async fn run_chain(e: &Engine, name: &str, params: &str, text: &str, input: Value) -> Execution {
    let dir = pack(&[(name, params, text)]);
    e.load_pack(dir.path())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    tokio::time::timeout(SAFETY, e.run(&format!("chains.{name}"), input))
        .await
        .expect("the chain ends")
        .unwrap()
}

/// The node names of the result's `tasks`, with their states.
fn tasks(x: &Execution) -> Vec<(String, String)> {
    x.result.as_ref().unwrap()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn named(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const LINEAR: &str = r#"
chain:
  - name: c1
    ref: fx.echo
    parameters:
      message: "hello {{ who }}"
    on-success: c2
  - name: c2
    ref: fx.echo
    params:
      message: "{{ c1.stdout }}, again"
    on-success: c3
  - name: c3
    ref: fx.echo
    parameters:
      message: "{{ __results.c2.stdout }} and {{ c1['stdout'] | upper }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_chain_runs_each_node_as_a_child_execution_with_earlier_results() {
    let e = engine().await;
    let params = "{who: {type: string, required: true}}";
    let x = run_chain(&e, "linear", params, LINEAR, json!({"who": "ann"})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(x.runner, "workflow");
    assert_eq!(
        tasks(&x),
        named(&[
            ("c1", "succeeded"),
            ("c2", "succeeded"),
            ("c3", "succeeded")
        ])
    );
    let result = x.result.clone().unwrap();
    let t = &result["tasks"];
    assert_eq!(t[0]["result"], json!({"stdout": "hello ann"}));
    assert_eq!(t[1]["result"], json!({"stdout": "hello ann, again"}));
    assert_eq!(
        t[2]["result"],
        json!({"stdout": "hello ann, again and HELLO ANN"})
    );
    assert_eq!(t[0]["id"], "c1");
    assert_eq!(t[0]["workflow"], Value::Null);
    assert!(t[0]["created_at"].is_string() && t[0]["updated_at"].is_string());
    assert_eq!(result["published"], json!({}));
    assert!(result.get("error").is_none(), "{result}");
    // Each node is an execution of its own, a child of the chain's.
    let kids = children(&e, x.id).await;
    assert_eq!(kids.len(), 3);
    for (k, t) in kids.iter().zip(t.as_array().unwrap()) {
        assert_eq!(k.parent, Some(x.id));
        assert_eq!(k.action, "fx.echo");
        assert_eq!(t["execution_id"], json!(k.id.to_string()));
    }
    assert_eq!(kids[1].params, json!({"message": "hello ann, again"}));
}

/// Chains are Jinja only, as StackStorm's: `<% %>` in a chain is text, never YAQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaql_in_a_chain_is_text() {
    let text = "chain:\n  - name: c1\n    ref: fx.echo\n    parameters:\n      \
                message: \"<% $.who %> is {{ who }}\"\n";
    let e = engine().await;
    let x = run_chain(
        &e,
        "plain",
        "{who: {type: string}}",
        text,
        json!({"who": "ann"}),
    )
    .await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    let result = x.result.unwrap();
    assert_eq!(
        result["tasks"][0]["result"],
        json!({"stdout": "<% $.who %> is ann"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_templates_read_the_datastore_as_stackstorm_writes_it() {
    let text = "vars:\n  domain: \"{{ st2kv.system.domain }}\"\nchain:\n  - name: c1\n    \
                ref: fx.echo\n    parameters:\n      message: \"{{ domain }} {{ st2kv.system.port }}\"\n";
    let e = engine().await;
    for (k, v) in [("domain", json!("example.com")), ("port", json!(8080))] {
        e.store()
            .put_key(&attune_core::model::Key::new(
                attune_core::model::KeyScope::System,
                k,
                v,
                chrono::Utc::now(),
            ))
            .await
            .unwrap();
    }
    let x = run_chain(&e, "kv", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["tasks"][0]["result"],
        json!({"stdout": "example.com 8080"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_names_need_not_be_identifiers() {
    // As StackStorm's own `packs.uninstall` names its nodes: `unregister packs`.
    let text = "chain:\n  - name: say hello\n    ref: fx.echo\n    parameters: {message: hi}\n    \
                on-success: say it again\n  - name: say it again\n    ref: fx.echo\n    \
                parameters:\n      message: \"{{ __results['say hello'].stdout }} again\"\n";
    let e = engine().await;
    let x = run_chain(&e, "spaced", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        tasks(&x),
        named(&[("say hello", "succeeded"), ("say it again", "succeeded")])
    );
    assert_eq!(
        x.result.unwrap()["tasks"][1]["result"],
        json!({"stdout": "hi again"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_leads_to_its_node_and_the_chain_ends_as_that_node_does() {
    let e = engine().await;
    let text = r#"
chain:
  - name: c1
    ref: fx.fail
    parameters: {message: boom}
    on-success: c2
    on-failure: recover
  - name: c2
    ref: fx.echo
  - name: recover
    ref: fx.echo
    parameters:
      message: "recovered from {{ c1 }}"
"#;
    let x = run_chain(&e, "handled", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        tasks(&x),
        named(&[("c1", "failed"), ("recover", "succeeded")])
    );
    let kids = children(&e, x.id).await;
    assert_eq!(kids.len(), 2, "c2 never ran");
    let msg = kids[1].params["message"].as_str().unwrap().to_string();
    assert!(msg.starts_with("recovered from"), "{msg}");

    // The on-failure node fails too: so does the chain.
    let text = r#"
chain:
  - name: c1
    ref: fx.fail
    on-failure: c2
  - name: c2
    ref: fx.fail
"#;
    let x = run_chain(&e, "both_fail", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(tasks(&x), named(&[("c1", "failed"), ("c2", "failed")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_failing_without_on_failure_fails_the_chain_and_nothing_after_it_runs() {
    let e = engine().await;
    let text = r#"
chain:
  - name: c1
    ref: fx.echo
    parameters: {message: one}
    on-success: c2
  - name: c2
    ref: fx.fail
    parameters: {message: two}
    publish:
      seen: "{{ c1.stdout }}"
    on-success: c3
  - name: c3
    ref: fx.echo
"#;
    let x = run_chain(&e, "unhandled", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(tasks(&x), named(&[("c1", "succeeded"), ("c2", "failed")]));
    assert_eq!(children(&e, x.id).await.len(), 2, "c3 never ran");
    let result = x.result.unwrap();
    // As StackStorm's runner: a failed node still publishes.
    assert_eq!(result["published"], json!({"seen": "one"}));
    assert!(
        result.get("error").is_none(),
        "a node's failure is in its task"
    );
    assert!(x.error.unwrap().contains("c2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vars_are_rendered_once_and_publish_adds_to_what_later_nodes_see() {
    let e = engine().await;
    let text = r#"
vars:
  base: "Hi {{ name }}"
  count: 2
chain:
  - name: greet
    ref: fx.echo
    parameters:
      message: "{{ base }}"
    publish:
      greeting: "{{ greet.stdout }}!"
      doubled: "{{ count * 2 }}"
    on-success: shout
  - name: shout
    ref: fx.echo
    parameters:
      message: "{{ greeting | upper }} x{{ doubled }}"
    publish:
      greeting: "{{ greeting }} {{ shout.stdout }}"
"#;
    let params = "{name: {type: string, default: Bob}}";
    let x = run_chain(&e, "published", params, text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    let kids = children(&e, x.id).await;
    assert_eq!(kids[0].params, json!({"message": "Hi Bob"}));
    assert_eq!(kids[1].params, json!({"message": "HI BOB! x4"}));
    assert_eq!(
        x.result.unwrap()["published"],
        json!({"greeting": "Hi Bob! HI BOB! x4", "doubled": 4})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_loop_with_an_exit_runs_until_it_leaves() {
    let e = engine().await;
    // The start node is on the loop (on-failure back to itself): it still starts the run.
    let text = r#"
chain:
  - name: try
    ref: fx.flaky
    on-failure: try
    on-success: done
  - name: done
    ref: fx.echo
    parameters:
      message: "after {{ try.runs }} runs"
"#;
    let x = run_chain(&e, "retry", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        tasks(&x),
        named(&[
            ("try", "failed"),
            ("try", "failed"),
            ("try", "succeeded"),
            ("done", "succeeded")
        ])
    );
    let kids = children(&e, x.id).await;
    assert_eq!(kids[3].params, json!({"message": "after 3 runs"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_context_names_the_chain_execution() {
    let e = engine().await;
    let text = r#"
chain:
  - name: c1
    ref: fx.echo
    parameters:
      message: "{{ action_context.parent.execution_id }}"
"#;
    let x = run_chain(&e, "ctx", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        children(&e, x.id).await[0].params,
        json!({"message": x.id.to_string()})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_param_that_does_not_render_fails_the_chain_whatever_on_failure_says() {
    let e = engine().await;
    let text = r#"
chain:
  - name: c1
    ref: fx.echo
    parameters:
      message: "{{ nowhere.stdout }}"
    on-failure: cleanup
  - name: cleanup
    ref: fx.echo
"#;
    let x = run_chain(&e, "unrendered", "{}", text, json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert!(children(&e, x.id).await.is_empty(), "neither node ran");
    let result = x.result.unwrap();
    let err = result["error"].as_str().unwrap();
    assert!(err.starts_with("c1: "), "{err}");
    assert!(err.contains("nowhere"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_can_be_canceled_with_its_running_node() {
    let e = engine().await;
    let text = r#"
chain:
  - name: wait
    ref: core.sleep
    parameters: {delay: 60}
    on-success: after
  - name: after
    ref: fx.echo
"#;
    let dir = pack(&[("cancel", "{}", text)]);
    e.load_pack(dir.path()).await.unwrap();
    let id = e.execute("chains.cancel", json!({})).await.unwrap();
    // Wait until its first node runs.
    tokio::time::timeout(SAFETY, async {
        loop {
            let kids = children(&e, id).await;
            if kids
                .first()
                .is_some_and(|k| k.status == ExecutionStatus::Running)
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    e.cancel(id).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.wait(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Canceled);
    let kids = children(&e, id).await;
    assert_eq!(kids.len(), 1, "'after' never ran");
    assert_eq!(kids[0].status, ExecutionStatus::Canceled);
}

/// Polls execution `id` until `done` holds (bounded by SAFETY).
async fn wait_until(
    e: &Engine,
    id: attune_core::model::ExecutionId,
    done: impl Fn(&Execution) -> bool,
) {
    tokio::time::timeout(SAFETY, async {
        loop {
            if done(&e.execution(id).await.unwrap()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("reached in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_pauses_after_its_running_node_and_resumes_with_the_next() {
    let e = engine().await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    e.register_fn("fx.gate", move |_| {
        let g = g.clone();
        async move {
            g.acquire().await.unwrap().forget();
            Ok(json!({"stdout": "opened"}))
        }
    })
    .await
    .unwrap();
    let text = r#"
chain:
  - name: first
    ref: fx.gate
    on-success: second
  - name: second
    ref: fx.echo
    parameters:
      message: "{{ first.stdout }}"
"#;
    let dir = pack(&[("pausable", "{}", text)]);
    e.load_pack(dir.path()).await.unwrap();
    let id = e.execute("chains.pausable", json!({})).await.unwrap();
    let e2 = e.clone();
    tokio::time::timeout(SAFETY, async move {
        while children(&e2, id).await.first().map(|k| k.status) != Some(ExecutionStatus::Running) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(e.pause(id).await.unwrap().status, ExecutionStatus::Pausing);
    gate.add_permits(1);
    wait_until(&e, id, |x| x.status == ExecutionStatus::Paused).await;
    assert_eq!(
        children(&e, id).await.len(),
        1,
        "nothing started while paused"
    );
    e.resume(id).await.unwrap();
    wait_until(&e, id, |x| x.status.is_terminal()).await;
    let x = e.execution(id).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        tasks(&x),
        named(&[("first", "succeeded"), ("second", "succeeded")])
    );
    assert_eq!(
        children(&e, id).await[1].params,
        json!({"message": "opened"})
    );
}

const DURABLE: &str = r#"
chain:
  - name: a
    ref: fx.once
    publish:
      v: "{{ a.stdout }}-pub"
    on-success: b
  - name: b
    ref: fx.block
    parameters:
      message: "{{ v }}"
    on-success: c
  - name: c
    ref: fx.echo
    parameters:
      message: "{{ a.stdout }} {{ b.stdout }} {{ v }} {{ action_context.parent.execution_id }}"
"#;

/// An engine on `store` (short lease) with the `durable` chain loaded from `dir`:
/// `fx.once` counts its runs in `runs`; `fx.block` never ends when `block`, else echoes.
async fn engine_on(
    store: Arc<attune_core::store::MemoryStore>,
    dir: &Path,
    runs: Arc<AtomicUsize>,
    block: bool,
) -> Engine {
    let e = Engine::builder()
        .store(store)
        .lease(std::time::Duration::from_millis(300))
        .sweep_every(std::time::Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    e.register_fn("fx.once", move |_| {
        runs.fetch_add(1, Ordering::SeqCst);
        async move { Ok(json!({"stdout": "one"})) }
    })
    .await
    .unwrap();
    e.register_fn("fx.block", move |ctx| async move {
        if block {
            std::future::pending::<()>().await;
        }
        Ok(json!({"stdout": ctx.param("message").cloned().unwrap_or(Value::Null)}))
    })
    .await
    .unwrap();
    e.register_fn("fx.echo", |ctx| async move {
        Ok(json!({"stdout": ctx.param("message").cloned().unwrap_or(Value::Null)}))
    })
    .await
    .unwrap();
    e.load_pack(dir).await.unwrap_or_else(|err| panic!("{err}"));
    e.recover().await.unwrap();
    e
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// The engine driving a chain dies while its second node runs; another engine on the same
// store takes the run over: the first node is not run again, what it published and its
// result are still seen, and the lost node runs again.
#[test]
fn a_chain_taken_over_after_its_engine_died_keeps_what_ran_and_was_published() {
    let store = Arc::new(attune_core::store::MemoryStore::new());
    let dir = pack(&[("durable", "{}", DURABLE)]);
    let runs = Arc::new(AtomicUsize::new(0));

    let first = tokio_runtime();
    let (id, first_engine) = first.block_on(async {
        let e = engine_on(store.clone(), dir.path(), runs.clone(), true).await;
        let id = e.execute("chains.durable", json!({})).await.unwrap();
        wait_until(&e, id, |_| true).await;
        let e2 = e.clone();
        tokio::time::timeout(SAFETY, async move {
            loop {
                let kids = children(&e2, id).await;
                if kids.get(1).map(|k| k.status) == Some(ExecutionStatus::Running) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("node b runs");
        (id, e)
    });
    // The process "dies": its tasks go with its runtime, nothing is recorded.
    drop(first);
    drop(first_engine);

    let second = tokio_runtime();
    second.block_on(async {
        let e = engine_on(store.clone(), dir.path(), runs.clone(), false).await;
        wait_until(&e, id, |x| x.status.is_terminal()).await;
        let x = e.execution(id).await.unwrap();
        assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "node a ran once");
        let kids = children(&e, id).await;
        let states: Vec<(String, ExecutionStatus)> = kids
            .iter()
            .map(|k| (k.task.as_ref().unwrap().name.clone(), k.status))
            .collect();
        assert_eq!(
            states,
            vec![
                ("a".into(), ExecutionStatus::Succeeded),
                ("b".into(), ExecutionStatus::Abandoned),
                ("b".into(), ExecutionStatus::Succeeded),
                ("c".into(), ExecutionStatus::Succeeded),
            ]
        );
        assert_eq!(
            kids[3].params,
            json!({"message": format!("one one-pub one-pub {id}")})
        );
        assert_eq!(x.result.unwrap()["published"], json!({"v": "one-pub"}));
        e.shutdown(std::time::Duration::from_secs(5)).await;
    });
}

// ---------------------------------------------------------------------------------------
// Bad input: each problem located, naming the node.

fn problems(text: &str) -> Vec<String> {
    parse_chain(text, "chains/bad.yaml")
        .expect_err("the chain is refused")
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_missing_node_is_reported_where_it_is_named_with_the_nearest_name() {
    let p = problems(
        "default: strat\nchain:\n  - name: start\n    ref: core.noop\n    on-success: nxt\n    \
         on-failure: gone\n  - name: next\n    ref: core.noop\n",
    );
    assert_eq!(
        p,
        vec![
            "chains/bad.yaml:1:1: default: 'default' names node 'strat', which does not exist \
             (missing node) (did you mean 'start'?)",
            "chains/bad.yaml:5:5: chain[0].on-success: 'on-success' of node 'start' names node \
             'nxt', which does not exist (missing node) (did you mean 'next'?)",
            "chains/bad.yaml:6:5: chain[0].on-failure: 'on-failure' of node 'start' names node \
             'gone', which does not exist (missing node)",
        ]
    );
}

#[test]
fn a_cycle_with_no_exit_is_an_error_and_a_loop_with_one_is_not() {
    let p = problems(
        "chain:\n  - name: first\n    ref: core.noop\n    on-success: a\n  - name: a\n    \
         ref: core.noop\n    on-success: b\n    on-failure: b\n  - name: b\n    ref: core.noop\n    \
         on-success: a\n    on-failure: a\n",
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("chains/bad.yaml:5:5: chain[1]: nodes 'a', 'b' form a cycle with no exit"),
        "{}",
        p[0]
    );
    let p = problems(
        "chain:\n  - name: spin\n    ref: core.noop\n    on-success: spin\n    on-failure: spin\n",
    );
    assert!(
        p[0].starts_with("chains/bad.yaml:2:5: chain[0]: node 'spin' forms a cycle with no exit"),
        "{p:?}"
    );
    // Loops that something leaves are fine: a retry, and a poll until failure.
    let ok = "chain:\n  - name: a\n    ref: core.noop\n    on-failure: a\n    on-success: b\n  \
              - name: b\n    ref: core.noop\n    on-success: a\n";
    let chain = parse_chain(ok, "ok.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chain.start(), Some("a"));
    assert!(chain.to_workflow().validate().is_ok());
}

#[test]
fn unknown_keys_missing_and_duplicate_names_are_located() {
    let p = problems(
        "chain:\n  - name: a\n    ref: core.noop\n    on_success: b\n  - ref: core.noop\n  \
         - name: a\n    ref: core.noop\n  - name: c\n    parameters: {}\n    params: {}\n\
         defaults: a\n",
    );
    assert_eq!(
        p,
        vec![
            "chains/bad.yaml:4:5: chain[0].on_success: unknown key 'on_success' (did you mean \
             'on-success'?)",
            "chains/bad.yaml:5:5: chain[1]: missing required key 'name'",
            "chains/bad.yaml:6:5: chain[2].name: node 'a' is defined twice (first as chain[0])",
            "chains/bad.yaml:8:5: chain[3]: missing required key 'ref'",
            "chains/bad.yaml:10:5: chain[3].params: give 'parameters' or 'params' (its older \
             name), not both",
            "chains/bad.yaml:11:1: defaults: unknown key 'defaults' (did you mean 'default'?)",
        ]
    );
    assert_eq!(
        problems("vars: {}\n"),
        vec!["chains/bad.yaml:1:1: missing required key 'chain' (the list of nodes)"]
    );
    assert_eq!(
        problems("chain: []\n"),
        vec!["chains/bad.yaml:1:1: chain: a chain needs at least one node"]
    );
}

#[test]
fn names_templates_cannot_tell_apart_and_unavailable_context_are_refused() {
    let p = problems(
        "vars:\n  a: 1\n  __x: 2\nchain:\n  - name: a\n    ref: core.noop\n    publish:\n      \
         action_context: 1\n    parameters:\n      x: '{{ config_context.k }}'\n      y: '{{ oops'\n  \
         - name: fail\n    ref: core.noop\n  - name: 'a,b'\n    ref: core.noop\n",
    );
    let has = |s: &str| p.iter().any(|x| x.contains(s));
    assert!(has("vars.a: var 'a' has the name of a node"), "{p:?}");
    assert!(has("vars.__x: var name '__x' is reserved"), "{p:?}");
    assert!(
        has("publish.action_context: published value name 'action_context' is reserved"),
        "{p:?}"
    );
    assert!(
        has("parameters.x: the pack config ('config_context') is not available"),
        "{p:?}"
    );
    assert!(has("parameters.y: template syntax error"), "{p:?}");
    assert!(has("'fail' is an engine command of workflows"), "{p:?}");
    assert!(
        has("node name 'a,b' must not be blank or hold a comma"),
        "{p:?}"
    );
    assert!(p.iter().all(|x| x.starts_with("chains/bad.yaml:")), "{p:?}");
}

#[tokio::test]
async fn a_chain_problem_refuses_its_pack_located_in_the_chain_file() {
    let e = engine().await;
    let dir = pack(&[(
        "broken",
        "{}",
        "chain:\n  - name: a\n    ref: fx.echo\n    on-success: b\n",
    )]);
    let err = e.load_pack(dir.path()).await.unwrap_err();
    let Error::Pack(errors) = err else {
        panic!("{err}")
    };
    assert_eq!(errors.problems.len(), 1, "{errors}");
    assert_eq!(
        errors.problems[0].to_string(),
        "actions/chains/broken.yaml:4:5: chain[0].on-success: 'on-success' of node 'a' names \
         node 'b', which does not exist (missing node)"
    );
    assert!(e.action("chains.broken").is_none());
}

// ---------------------------------------------------------------------------------------
// StackStorm's own chains: those of the `examples` pack in tests/data/st2-packs (see its
// README), copied into a pack of their own with the pack's pack.yaml.

/// The chains of `examples` that run only `core` actions: (metadata file, chain file).
const GOOD: [(&str, &str); 8] = [
    ("chain-sequential.yaml", "chain_sequential.yaml"),
    ("echochain.meta.yaml", "echochain.yaml"),
    ("echochain_param.meta.yaml", "echochain_param.yaml"),
    ("chain-test-cancel.yaml", "chain_test_cancel.yaml"),
    (
        "chain-test-pause-resume.yaml",
        "chain_test_pause_resume.yaml",
    ),
    ("regex_jinja_filter.meta.yaml", "regex_jinja_filter.yaml"),
    ("time_jinja_filter.meta.yaml", "time_jinja_filter.yaml"),
    (
        "version_jinja_filter.meta.yaml",
        "version_jinja_filter.yaml",
    ),
];

/// Chains of `examples` that must be refused: `on-failure: c4` and no node c4 (StackStorm's
/// runner refuses them before running too; upstream they are negative fixtures; the second
/// also runs `core.invalid-action`); and one that reads the datastore, which loads (its
/// `decrypt_kv` fails at run time: encrypted key values are read in rules, and in workflows
/// with `st2kv(name, decrypt=true)`).
const BROKEN: [(&str, &str); 3] = [
    (
        "echochain_task_failure.meta.yaml",
        "echochain_task_failure.yaml",
    ),
    (
        "echochain_top_level_failure.meta.yaml",
        "echochain_top_level_failure.yaml",
    ),
    (
        "decrypt_kv_jinja_filter.meta.yaml",
        "decrypt_kv_jinja_filter.yaml",
    ),
];

/// A pack `examples` with the given chain actions of StackStorm's `examples` pack.
fn st2_examples(actions: &[(&str, &str)]) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/st2-packs/examples");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("actions/chains")).unwrap();
    let copy = |rel: &str| std::fs::copy(from.join(rel), dir.path().join(rel)).unwrap();
    copy("pack.yaml");
    for (meta, chain) in actions {
        copy(&format!("actions/{meta}"));
        copy(&format!("actions/chains/{chain}"));
    }
    dir
}

#[tokio::test]
async fn the_real_chains_of_the_examples_pack_load() {
    let e = engine().await;
    let dir = st2_examples(&GOOD);
    let summary = e
        .load_pack(dir.path())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(summary.actions, GOOD.len(), "{summary:?}");
    for a in [
        "chain-sequential",
        "echochain",
        "echochain-param",
        "chain-test-cancel",
        "chain-test-pause-resume",
        "regex_jinja_filter",
        "time_jinja_filter",
        "version_jinja_filter",
    ] {
        let action = e
            .action(&format!("examples.{a}"))
            .unwrap_or_else(|| panic!("examples.{a} is registered"));
        assert_eq!(action.runner, "workflow", "{a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_chains_run_passing_results_along() {
    let e = engine().await;
    let dir = st2_examples(&GOOD);
    e.load_pack(dir.path()).await.unwrap();
    let run = |a: &'static str, p: Value| {
        let e = e.clone();
        async move {
            tokio::time::timeout(SAFETY, e.run(a, p))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let x = run("examples.echochain-param", json!({"input1": "foo"})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        tasks(&x),
        named(&[
            ("c1", "succeeded"),
            ("c2", "succeeded"),
            ("c3", "succeeded")
        ])
    );
    let t = &x.result.as_ref().unwrap()["tasks"];
    assert_eq!(t[2]["result"]["stdout"], "c3 c2 c1, input foo");

    let x = run("examples.echochain", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    let t = &x.result.as_ref().unwrap()["tasks"];
    assert_eq!(
        t[1]["result"]["stdout"],
        json!(format!("\"c2: parent exec is {}.\"", x.id))
    );

    let x = run("examples.chain-sequential", json!({})).await;
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["published"],
        json!({"greeting": "Lakshmi, All your base are belong to us!"})
    );
}

#[tokio::test]
async fn the_broken_real_chains_are_refused_naming_node_and_place() {
    let e = engine().await;
    let dir = st2_examples(&BROKEN);
    let err = e.load_pack(dir.path()).await.unwrap_err();
    let Error::Pack(errors) = err else {
        panic!("{err}")
    };
    let p: Vec<String> = errors.problems.iter().map(ToString::to_string).collect();
    assert!(
        p.iter().any(|x| x.starts_with(
            "actions/chains/echochain_top_level_failure.yaml:12:13: chain[1].ref: action \
             'core.invalid-action' does not exist"
        )),
        "{p:?}"
    );
    // Upstream fixtures that StackStorm's own check refuses too: `on-failure: c4`, no c4.
    for file in ["echochain_task_failure", "echochain_top_level_failure"] {
        let want = format!(
            "actions/chains/{file}.yaml:9:13: chain[0].on-failure: 'on-failure' of node 'c1' \
             names node 'c4', which does not exist (missing node)"
        );
        assert!(p.iter().any(|x| x.starts_with(&want)), "{p:?}");
    }
    assert_eq!(p.len(), 3, "{p:?}");
}

#[test]
fn the_start_is_default_else_the_first_node_nothing_names_and_unreachable_nodes_never_run() {
    // c1 is named by c2's on-failure: the start is c2, the first node nothing names.
    let text = "chain:\n  - name: c1\n    ref: core.noop\n  - name: c2\n    ref: core.noop\n    \
                on-failure: c1\n  - name: lonely\n    ref: core.noop\n";
    let chain = parse_chain(text, "c.yaml").unwrap();
    assert_eq!(chain.start(), Some("c2"));
    assert_eq!(chain.reachable(), vec!["c1", "c2"]);
    let wf = chain.to_workflow();
    assert_eq!(wf.start_tasks(), vec!["c2"]);
    assert!(wf.get("lonely").is_none(), "never reached, never run");
    let with_default = format!("{text}default: lonely\n");
    let chain = parse_chain(&with_default, "c.yaml").unwrap();
    assert_eq!(chain.start(), Some("lonely"));
    assert_eq!(chain.to_workflow().start_tasks(), vec!["lonely"]);
}

#[test]
fn a_chain_built_in_code_is_checked_with_key_paths() {
    use attune_core::workflow::{ActionChain, ChainNode};
    let chain = ActionChain {
        nodes: vec![ChainNode {
            name: "a".into(),
            action: "core.noop".into(),
            on_success: Some("b".into()),
            ..ChainNode::default()
        }],
        ..ActionChain::default()
    };
    let err = chain.validate().unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].path, "chain[0].on-success");
    assert_eq!(err.problems[0].line, 0);
    assert!(err.problems[0].message.contains("(missing node)"));
}
