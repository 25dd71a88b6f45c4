//! Workflows run by the engine: each task an execution whose parent is the workflow's;
//! publish and output, parallel branches and joins, with-items with concurrency, failures
//! handled or not, cancel cascading to tasks, nested workflows, bad registrations.

mod common;
use attune_core::Engine;
use attune_core::model::ExecutionStatus;
use attune_core::workflow::parse;
use common::{children, write_pack};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SAFETY: Duration = Duration::from_secs(20);

/// An engine with `wf.echo` (returns its `message`), `wf.fail` (fails with `message`) and
/// `wf.slow` (sleeps `ms`, counting how many run at once in `live`/`peak`).
async fn engine(live: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> Engine {
    let e = Engine::builder().build().await.unwrap();
    e.register_fn("wf.echo", |ctx| async move {
        Ok(ctx.param("message").cloned().unwrap_or(Value::Null))
    })
    .await
    .unwrap();
    e.register_fn("wf.fail", |ctx| async move {
        Err::<Value, _>(attune_core::Error::Action(format!(
            "failed: {}",
            ctx.param("message").cloned().unwrap_or_default()
        )))
    })
    .await
    .unwrap();
    e.register_fn("wf.slow", move |ctx| {
        let (live, peak) = (live.clone(), peak.clone());
        async move {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let ms = ctx.param("ms").and_then(Value::as_u64).unwrap_or(10);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                () = ctx.cancel.cancelled() => {}
            }
            live.fetch_sub(1, Ordering::SeqCst);
            Ok(ctx.param("n").cloned().unwrap_or(Value::Null))
        }
    })
    .await
    .unwrap();
    e
}

/// Registers `yaml` as `action`, runs it with `params`, and returns the execution once it
/// succeeded.
async fn run_ok(
    e: &Engine,
    action: &str,
    yaml: &str,
    params: Value,
) -> attune_core::model::Execution {
    let wf = parse(yaml, "wf.yaml").unwrap_or_else(|err| panic!("{err}"));
    e.register_workflow(action, wf).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.run(action, params))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    x
}

async fn plain() -> Engine {
    engine(Arc::default(), Arc::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_publishes_and_renders_its_output_each_task_a_child_execution() {
    let e = plain().await;
    let x = run_ok(
        &e,
        "wf.hello",
        r#"
input: [name]
tasks:
  greet:
    action: wf.echo message="hello {{ ctx('name') }}"
    next:
      - when: '{{ succeeded() }}'
        publish: greeting={{ result() }}
        do: shout
  shout:
    action: wf.echo
    input:
      message: '{{ ctx("greeting") | upper }}'
output:
  - loud: '{{ task("shout").result }}'
  - greeting: '{{ ctx("greeting") }}'
"#,
        json!({"name": "ada"}),
    )
    .await;
    let result = x.result.unwrap();
    assert_eq!(
        result["output"],
        json!({"loud": "HELLO ADA", "greeting": "hello ada"})
    );
    assert_eq!(result["tasks"], json!(["greet", "shout"]));
    let kids = children(&e, x.id).await;
    assert_eq!(kids.len(), 2);
    assert!(
        kids.iter()
            .all(|k| k.parent == Some(x.id) && k.status == ExecutionStatus::Succeeded)
    );
    assert_eq!(kids[1].params, json!({"message": "HELLO ADA"}));
    // A required input is a param error at execute time.
    assert!(e.execute("wf.hello", json!({})).await.is_err());
}

/// The same workflow in YAQL (Orquesta's other language), with a default computed in YAQL
/// and with-items over a YAQL query: the engine runs it the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yaql_workflow_runs_through_the_engine() {
    let e = plain().await;
    let x = run_ok(
        &e,
        "wf.hello_yaql",
        r#"
input:
  - name
  - times: <% 1 + 1 %>
tasks:
  greet:
    action: wf.echo message="hello <% ctx(name) %>"
    next:
      - when: <% succeeded() %>
        publish: greeting=<% result() %>
        do: shout
  shout:
    with: n in <% range(ctx(times)).select($ + 1) %>
    action: wf.echo
    input:
      message: <% ctx(greeting).toUpper() + str(item(n)) %>
output:
  - loud: <% task(shout).result.items.select($.result) %>
  - greeting: <% $.greeting %>
"#,
        json!({"name": "ada"}),
    )
    .await;
    let result = x.result.unwrap();
    assert_eq!(
        result["output"],
        json!({"loud": ["HELLO ADA1", "HELLO ADA2"], "greeting": "hello ada"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_after_parallel_branches_where_one_fails_and_a_transition_handles_it() {
    let e = plain().await;
    let x = run_ok(
        &e,
        "wf.join",
        r#"
tasks:
  start:
    action: wf.echo message=go
    next: [{when: '{{ succeeded() }}', do: 'left, right'}]
  left:
    action: wf.fail message=boom
    next:
      - when: '{{ failed() }}'
        publish: left=recovered
        do: join
  right:
    action: wf.echo message=fine
    next:
      - when: '{{ succeeded() }}'
        publish: right={{ result() }}
        do: join
  join:
    join: all
    action: wf.echo message="{{ ctx('left') }}+{{ ctx('right') }}"
output:
  - both: '{{ task("join").result }}'
"#,
        json!({}),
    )
    .await;
    assert_eq!(
        x.result.unwrap()["output"],
        json!({"both": "recovered+fine"})
    );
    let kids = children(&e, x.id).await;
    assert_eq!(kids.len(), 4);
    assert_eq!(
        kids.iter()
            .filter(|k| k.status == ExecutionStatus::Failed)
            .count(),
        1,
        "the failed branch is a failed child"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_items_respects_concurrency_and_keeps_item_order() {
    let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let e = engine(live, peak.clone()).await;
    let x = run_ok(
        &e,
        "wf.items",
        r#"
input:
  - ns: [5, 4, 3, 2, 1, 0]
tasks:
  each:
    with:
      items: n in {{ ctx("ns") }}
      concurrency: 2
    action: wf.slow n={{ item('n') }} ms={{ item('n') * 5 }}
output:
  - got: '{{ task("each").result.items | map(attribute="result") | list }}'
"#,
        json!({}),
    )
    .await;
    assert_eq!(
        x.result.unwrap()["output"],
        json!({"got": [5, 4, 3, 2, 1, 0]}),
        "item order, not end order"
    );
    assert_eq!(peak.load(Ordering::SeqCst), 2, "two items at a time");
    let kids = children(&e, x.id).await;
    assert_eq!(kids.len(), 6);
    // Each item's execution names its task and item.
    let mut tags: Vec<(String, usize, Option<usize>)> = kids
        .iter()
        .map(|k| {
            let t = k.task.clone().expect("a task execution names its task");
            (t.name, t.route, t.item)
        })
        .collect();
    tags.sort();
    let want: Vec<(String, usize, Option<usize>)> =
        (0..6).map(|i| ("each".to_string(), 0, Some(i))).collect();
    assert_eq!(tags, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhandled_failure_fails_the_workflow_naming_the_task() {
    let e = plain().await;
    let wf = parse(
        "tasks:\n  a:\n    action: wf.fail message=nope\n    next: [{when: '{{ succeeded() }}', do: b}]\n  b:\n    action: wf.echo\n",
        "f.yaml",
    )
    .unwrap();
    e.register_workflow("wf.failing", wf).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.run("wf.failing", json!({})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(
        x.error.as_deref(),
        Some("a: Execution failed. See result for details.")
    );
    assert_eq!(children(&e, x.id).await.len(), 1, "b never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_cascades_to_running_tasks() {
    let e = plain().await;
    let wf = parse("tasks:\n  wait:\n    action: wf.slow ms=60000\n", "c.yaml").unwrap();
    e.register_workflow("wf.waits", wf).await.unwrap();
    let id = e.execute("wf.waits", json!({})).await.unwrap();
    let deadline = tokio::time::Instant::now() + SAFETY;
    let child = loop {
        if let Some(k) = children(&e, id)
            .await
            .into_iter()
            .find(|k| k.status == ExecutionStatus::Running)
        {
            break k;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    e.cancel(id).await.unwrap();
    let wf = tokio::time::timeout(SAFETY, e.wait(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(wf.status, ExecutionStatus::Canceled);
    let task = tokio::time::timeout(SAFETY, e.wait(child.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        task.status,
        ExecutionStatus::Canceled,
        "the cancel cascaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_may_run_another_workflow() {
    let e = plain().await;
    let inner = parse(
        "input: [who]\ntasks:\n  hi:\n    action: wf.echo message=\"hi {{ ctx('who') }}\"\noutput:\n  - said: '{{ task(\"hi\").result }}'\n",
        "inner.yaml",
    )
    .unwrap();
    e.register_workflow("wf.inner", inner).await.unwrap();
    let outer = parse(
        "tasks:\n  call:\n    action: wf.inner who=bob\n    next:\n      - publish: said={{ result().output.said }}\noutput:\n  - said: '{{ ctx(\"said\") }}'\n",
        "outer.yaml",
    )
    .unwrap();
    e.register_workflow("wf.outer", outer).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.run("wf.outer", json!({})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(x.result.unwrap()["output"], json!({"said": "hi bob"}));
    let kids = children(&e, x.id).await;
    assert_eq!(kids.len(), 1);
    assert_eq!(
        children(&e, kids[0].id).await.len(),
        1,
        "the inner workflow's task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_refused_with_the_reason() {
    let e = plain().await;
    let missing = parse("tasks:\n  a:\n    action: wf.nowhere\n", "m.yaml").unwrap();
    let err = e.register_workflow("wf.m", missing).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("action 'wf.nowhere' is not registered"),
        "{err}"
    );
    let bad = attune_core::workflow::Workflow::new().task(
        attune_core::workflow::Task::new("a")
            .action("wf.echo")
            .next(attune_core::workflow::Transition::always().to("zz")),
    );
    let err = e.register_workflow("wf.bad", bad).await.unwrap_err();
    assert!(err.to_string().contains("'do' names task 'zz'"), "{err}");
    // A workflow action with no registered workflow is refused by the runtime.
    let err = e
        .register_action(attune_core::model::Action::new("wf.orphan", "workflow"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no workflow is registered"),
        "{err}"
    );
}

const FLOW_ACTION: &str = "name: flow\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\nparameters:\n  who: {type: string, required: true}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packs_workflow_action_runs_its_file() {
    let e = plain().await;
    let dir = write_pack(&[
        ("pack.yaml", "ref: wfp\n"),
        ("actions/flow.yaml", FLOW_ACTION),
        (
            "actions/workflows/flow.yaml",
            "input: [who]\ntasks:\n  greet:\n    action: core.echo message=\"hi {{ ctx('who') }}\"\noutput:\n  - said: '{{ task(\"greet\").result }}'\n",
        ),
    ]);
    e.load_pack(dir.path()).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.run("wfp.flow", json!({"who": "eve"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
    assert_eq!(
        x.result.unwrap()["output"]["said"],
        json!({"stdout": "hi eve"})
    );
    // Reloading with a changed file runs the new workflow.
    std::fs::write(
        dir.path().join("actions/workflows/flow.yaml"),
        "input: [who]\ntasks:\n  greet:\n    action: core.echo message=\"bye {{ ctx('who') }}\"\noutput:\n  - said: '{{ task(\"greet\").result }}'\n",
    )
    .unwrap();
    e.load_pack(dir.path()).await.unwrap();
    let x = e.run("wfp.flow", json!({"who": "eve"})).await.unwrap();
    assert_eq!(
        x.result.unwrap()["output"]["said"],
        json!({"stdout": "bye eve"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packs_bad_workflow_file_is_refused_with_located_problems() {
    let e = plain().await;
    let dir = write_pack(&[
        ("pack.yaml", "ref: wfp\n"),
        ("actions/flow.yaml", FLOW_ACTION),
        (
            "actions/workflows/flow.yaml",
            "tasks:\n  a:\n    action: core.ecko\n    next:\n      - do: nowhere\n",
        ),
    ]);
    let err = e.load_pack(dir.path()).await.unwrap_err();
    let attune_core::Error::Pack(p) = err else {
        panic!("expected pack problems, got {err}");
    };
    let shown: Vec<String> = p.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "actions/workflows/flow.yaml:5:9: tasks.a.next[0].do: 'do' names task 'nowhere', which is not defined",
        ],
        "file problems first; the engine's checks run once the file reads clean"
    );
    std::fs::write(
        dir.path().join("actions/workflows/flow.yaml"),
        "tasks:\n  a:\n    action: core.ecko\n",
    )
    .unwrap();
    let err = e.load_pack(dir.path()).await.unwrap_err();
    let attune_core::Error::Pack(p) = err else {
        panic!("expected pack problems, got {err}");
    };
    let shown: Vec<String> = p.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "actions/workflows/flow.yaml:3:5: tasks.a.action: action 'core.ecko' does not exist (did you mean 'core.echo'?)"
        ]
    );
    assert!(
        e.execute("wfp.flow", json!({"who": "x"})).await.is_err(),
        "nothing registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_timeout_is_its_executions_and_on_timeout_handles_it() {
    let e = plain().await;
    let x = run_ok(
        &e,
        "wf.timeouts",
        r#"
tasks:
  wait:
    action: wf.slow ms=60000
    timeout: 0.2
    on_timeout: after
  after:
    action: wf.echo message=recovered
output:
  - after: '{{ task("after").result }}'
"#,
        json!({}),
    )
    .await;
    assert_eq!(x.result.unwrap()["output"], json!({"after": "recovered"}));
    let kids = children(&e, x.id).await;
    assert_eq!(kids[0].status, ExecutionStatus::Timeout, "{:?}", kids[0]);
    assert_eq!(kids[0].timeout_secs, Some(0.2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_runs_a_failed_task_again_with_backoff_until_count() {
    let e = plain().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    e.register_fn("wf.flaky", move |ctx| {
        let c = c.clone();
        async move {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            let ok_from = ctx.param("ok_from").and_then(Value::as_u64).unwrap_or(3) as usize;
            if n >= ok_from {
                Ok(json!(n))
            } else {
                Err(attune_core::Error::Action(format!("attempt {n} failed")))
            }
        }
    })
    .await
    .unwrap();
    let x = run_ok(
        &e,
        "wf.retries",
        r#"
tasks:
  flaky:
    action: wf.flaky ok_from=3
    retry: {count: 3, delay: 0.02, backoff: exponential}
output:
  - attempt: '{{ task("flaky").result }}'
"#,
        json!({}),
    )
    .await;
    let result = x.result.unwrap();
    assert_eq!(result["output"], json!({"attempt": 3}));
    assert_eq!(
        result["tasks"],
        json!(["flaky", "flaky", "flaky"]),
        "three runs"
    );
    let kids = children(&e, x.id).await;
    assert_eq!(
        kids.iter().map(|k| k.status).collect::<Vec<_>>(),
        [
            ExecutionStatus::Failed,
            ExecutionStatus::Failed,
            ExecutionStatus::Succeeded
        ]
    );
    // The delays were waited: 0.02 s before the first retry, 0.04 s before the second.
    let gap = |a: &attune_core::model::Execution, b: &attune_core::model::Execution| {
        (b.created - a.finished.unwrap()).num_milliseconds()
    };
    assert!(gap(&kids[0], &kids[1]) >= 20, "{}", gap(&kids[0], &kids[1]));
    assert!(gap(&kids[1], &kids[2]) >= 40, "{}", gap(&kids[1], &kids[2]));

    // Retries run out: the failure is the workflow's.
    calls.store(0, Ordering::SeqCst);
    let wf = parse(
        "tasks:\n  flaky:\n    action: wf.flaky ok_from=9\n    retry: {count: 2}\n",
        "out.yaml",
    )
    .unwrap();
    e.register_workflow("wf.gives_up", wf).await.unwrap();
    let x = e.run("wf.gives_up", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(children(&e, x.id).await.len(), 3, "the run and two retries");
    // `when` decides: a failure it does not match is not retried.
    let wf = parse(
        "tasks:\n  flaky:\n    action: wf.flaky ok_from=9\n    retry:\n      count: 5\n      when: '{{ \"timeout\" in (result() | string) }}'\n",
        "when.yaml",
    )
    .unwrap();
    e.register_workflow("wf.picky", wf).await.unwrap();
    let x = e.run("wf.picky", json!({})).await.unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(children(&e, x.id).await.len(), 1, "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_waits_before_a_task_without_holding_up_the_others() {
    let e = plain().await;
    let x = run_ok(
        &e,
        "wf.delays",
        r#"
tasks:
  start:
    action: wf.echo message=go
    next: [{do: 'late, now'}]
  late:
    action: wf.echo message=late
    delay: 0.1
  now:
    action: wf.echo message=now
"#,
        json!({}),
    )
    .await;
    let kids = children(&e, x.id).await;
    let find = |m: &str| {
        kids.iter()
            .find(|k| k.params["message"] == json!(m))
            .unwrap()
            .clone()
    };
    let (start, late, now) = (find("go"), find("late"), find("now"));
    assert!((late.created - start.finished.unwrap()).num_milliseconds() >= 100);
    assert!(now.created < late.created, "the other branch did not wait");
}

/// Retry inside with-items: a failed item fails the task, and the retry runs the task —
/// every item — again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_inside_with_items_runs_the_items_again() {
    let e = plain().await;
    let failed_once = Arc::new(AtomicUsize::new(0));
    let f = failed_once.clone();
    e.register_fn("wf.once", move |ctx| {
        let f = f.clone();
        async move {
            let n = ctx.param("n").and_then(Value::as_u64).unwrap_or(0);
            if n == 2 && f.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(attune_core::Error::Action("item 2 fails once".into()));
            }
            Ok(json!(n * 10))
        }
    })
    .await
    .unwrap();
    let x = run_ok(
        &e,
        "wf.items_retry",
        r#"
tasks:
  each:
    with:
      items: '{{ [1, 2, 3] }}'
      concurrency: 1
    action: wf.once n={{ item() }}
    retry: {count: 1}
output:
  - got: '{{ task("each").result.items | map(attribute="result") | list }}'
"#,
        json!({}),
    )
    .await;
    assert_eq!(x.result.unwrap()["output"], json!({"got": [10, 20, 30]}));
    // First run: item 1 ok, item 2 failed (item 3 never started); the retry: all three.
    assert_eq!(children(&e, x.id).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn st2kv_reads_the_key_store_and_st2_filters_render() {
    use attune_core::model::{Key, KeyScope};
    let e = plain().await;
    let now = chrono::Utc::now();
    for key in [
        Key::new(KeyScope::System, "greeting", json!("hello"), now),
        Key::new(KeyScope::Pack("wf".into()), "version", json!("1.4.2"), now),
    ] {
        e.store().put_key(&key).await.unwrap();
    }
    let x = run_ok(
        &e,
        "wf.kv",
        r#"
vars:
  - greeting: '{{ st2kv("system.greeting") }}'
tasks:
  say:
    action: wf.echo
    input:
      message: '{{ ctx("greeting") }} {{ st2kv("pack.version") | version_bump_minor }}'
    next:
      - publish:
          - me: '{{ task().task_id }}'
output:
  - said: '{{ task("say").result }}'
  - me: '{{ ctx("me") }}'
"#,
        json!({}),
    )
    .await;
    assert_eq!(
        x.result.unwrap()["output"],
        json!({"said": "hello 1.5.0", "me": "say"})
    );
    // A key that does not exist fails the run, naming it.
    let wf = parse(
        "vars:\n  - x: '{{ st2kv(\"system.nope\") }}'\ntasks:\n  a:\n    action: wf.echo\n",
        "wf.yaml",
    )
    .unwrap();
    e.register_workflow("wf.nokey", wf).await.unwrap();
    let x = tokio::time::timeout(SAFETY, e.run("wf.nokey", json!({})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    let error = format!("{:?}", x.error);
    assert!(error.contains("key system.nope does not exist"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_delay_is_rendered_when_the_task_starts() {
    // StackStorm's examples.orquesta-delay: `delay: <% ctx(delay) %>` (and Jinja's form).
    let e = plain().await;
    let wf = r#"
input: [wait]
tasks:
  start:
    action: wf.echo message=go
    next: [{do: 'yaql, jinja'}]
  yaql:
    action: wf.echo message=yaql
    delay: <% ctx(wait) %>
  jinja:
    action: wf.echo message=jinja
    delay: '{{ ctx("wait") }}'
"#;
    let x = run_ok(&e, "wf.tdelay", wf, json!({"wait": 0.1})).await;
    let kids = children(&e, x.id).await;
    let find = |m: &str| {
        kids.iter()
            .find(|k| k.params["message"] == json!(m))
            .unwrap()
            .clone()
    };
    let go = find("go").finished.unwrap();
    for m in ["yaql", "jinja"] {
        assert!((find(m).created - go).num_milliseconds() >= 100, "{m}");
    }
    // A value that is not a number of seconds fails the task, naming the delay.
    let x = tokio::time::timeout(SAFETY, e.run("wf.tdelay", json!({"wait": "soon"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    let text = format!("{:?} {:?}", x.result, x.error);
    assert!(text.contains("delay: must be a number"), "{text}");
}
