//! Unit tests of the conductor: small workflows, task outcomes fed by hand, and what the
//! conductor yields (ready tasks, params, sequence, routes, status, errors, output). No
//! engine, no store, no action runs.

use super::{Conductor, Plan, RunStatus, TaskRun};
use crate::Error;
use crate::workflow::{Command, Join, Retry, Task, Transition, Workflow, parse};
use serde_json::{Value, json};

/// A run of `wf` (checked first) with `input` (a JSON object).
fn run(wf: Workflow, input: Value) -> Conductor {
    wf.validate().expect("a valid workflow");
    let plan = Plan::new(wf).expect("templates compile");
    let Value::Object(input) = input else {
        panic!("input is an object")
    };
    Conductor::start(plan, input)
}

/// A run of the workflow file text `yaml` with `input`.
fn run_yaml(yaml: &str, input: Value) -> Conductor {
    let wf = parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    run(wf, input)
}

fn ready(c: &Conductor) -> Vec<(String, usize)> {
    c.next_tasks()
}

fn at(task: &str, route: usize) -> (String, usize) {
    (task.to_string(), route)
}

/// Starts `task` (route 0), which must be ready.
fn start(c: &mut Conductor, task: &str) -> TaskRun {
    c.start_task(task, 0)
        .unwrap_or_else(|e| panic!("{task} starts: {e}"))
}

/// Reports how `task` (route 0) ended.
fn end(c: &mut Conductor, task: &str, status: RunStatus, result: Value) {
    c.finish_task(task, 0, status, Some(result))
        .unwrap_or_else(|e| panic!("{task} ends: {e}"));
}

/// The labels of the sequence, commands included, in the order they entered.
fn labels(c: &Conductor) -> Vec<String> {
    c.sequence().iter().map(|e| e.label()).collect()
}

/// The error messages about `task`.
fn errors_of(c: &Conductor, task: &str) -> Vec<String> {
    c.errors()
        .iter()
        .filter(|e| e.task_id.as_deref() == Some(task))
        .map(|e| e.message.clone())
        .collect()
}

#[test]
fn a_sequence_runs_each_task_once_the_one_before_succeeded() {
    let wf = Workflow::new()
        .input("who", None)
        .task(
            Task::new("a")
                .action("core.echo")
                .param("message", json!("hello {{ ctx('who') }}"))
                .next(Transition::on_success().to("b")),
        )
        .task(
            Task::new("b")
                .action("core.noop")
                .next(Transition::on_success().to("c")),
        )
        .task(Task::new("c").action("core.noop"));
    let mut c = run(wf, json!({"who": "ops"}));
    assert_eq!(ready(&c), vec![at("a", 0)]);
    let a = start(&mut c, "a");
    assert_eq!(a.action.as_deref(), Some("core.echo"));
    assert_eq!(
        a.params,
        vec![json!({"message": "hello ops"}).as_object().unwrap().clone()]
    );
    assert_eq!((a.first_item, a.delay), (None, None));
    assert!(ready(&c).is_empty(), "nothing is ready while a runs");
    assert!(
        matches!(c.start_task("b", 0), Err(Error::Conflict(_))),
        "b is not ready before a ends"
    );
    end(&mut c, "a", RunStatus::Succeeded, Value::Null);
    assert_eq!(ready(&c), vec![at("b", 0)]);
    start(&mut c, "b");
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    assert_eq!(ready(&c), vec![at("c", 0)]);
    assert_eq!(c.status(), RunStatus::Running);
    start(&mut c, "c");
    end(&mut c, "c", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert_eq!(labels(&c), ["a", "b", "c"]);
    assert_eq!(c.terminal_tasks(), ["c"]);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    assert!(ready(&c).is_empty());
}

#[test]
fn a_failure_takes_the_on_failure_branch_and_the_run_succeeds() {
    let wf = Workflow::new()
        .task(
            Task::new("a")
                .action("core.noop")
                .next(Transition::on_success().to("ok"))
                .next(Transition::on_failure().to("recover")),
        )
        .task(Task::new("ok").action("core.noop"))
        .task(Task::new("recover").action("core.noop"));
    let mut c = run(wf, json!({}));
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Failed, json!({"error": "boom"}));
    assert_eq!(ready(&c), vec![at("recover", 0)]);
    start(&mut c, "recover");
    end(&mut c, "recover", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert_eq!(labels(&c), ["a", "recover"]);
    // The failure is reported with its result, though a transition handled it.
    let e = &c.errors()[0];
    assert_eq!(e.task_id.as_deref(), Some("a"));
    assert_eq!(e.result, Some(json!({"error": "boom"})));
    assert_eq!(c.errors().len(), 1);
}

#[test]
fn a_join_waits_for_both_branches_and_sees_what_each_published() {
    let branch = |name: &str, key: &str| {
        Task::new(name).action("core.noop").next(
            Transition::on_success()
                .publish(key, json!("{{ result() }}"))
                .to("merge"),
        )
    };
    let wf = Workflow::new()
        .task(
            Task::new("init")
                .action("core.noop")
                .next(Transition::on_success().to("left").to("right")),
        )
        .task(branch("left", "l"))
        .task(branch("right", "r"))
        .task(
            Task::new("merge")
                .action("core.echo")
                .join(Join::All)
                .param("message", json!("{{ ctx('l') }}+{{ ctx('r') }}")),
        );
    let mut c = run(wf, json!({}));
    start(&mut c, "init");
    end(&mut c, "init", RunStatus::Succeeded, Value::Null);
    assert_eq!(ready(&c), vec![at("left", 0), at("right", 0)]);
    start(&mut c, "left");
    start(&mut c, "right");
    end(&mut c, "left", RunStatus::Succeeded, json!("L"));
    assert!(ready(&c).is_empty(), "the join waits for right");
    end(&mut c, "right", RunStatus::Succeeded, json!("R"));
    assert_eq!(ready(&c), vec![at("merge", 0)]);
    let merge = start(&mut c, "merge");
    assert_eq!(merge.params[0]["message"], json!("L+R"));
    end(&mut c, "merge", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert_eq!(labels(&c), ["init", "left", "right", "merge"]);
    assert_eq!(c.routes().len(), 1, "a join adds no route");
}

#[test]
fn a_join_left_partly_satisfied_fails_the_run_naming_it() {
    let wf = Workflow::new()
        .task(
            Task::new("a")
                .action("core.noop")
                .next(Transition::on_success().to("j")),
        )
        .task(
            Task::new("b")
                .action("core.noop")
                .next(Transition::on_failure().to("j")),
        )
        .task(Task::new("j").action("core.noop").join(Join::All));
    let mut c = run(wf, json!({}));
    start(&mut c, "a");
    start(&mut c, "b");
    end(&mut c, "a", RunStatus::Succeeded, Value::Null);
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Failed);
    let errors = errors_of(&c, "j");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("UnreachableJoinError"), "{errors:?}");
    assert_eq!(c.errors()[0].route, Some(0));
    assert_eq!(labels(&c), ["a", "b"]);
}

#[test]
fn a_task_two_paths_reach_runs_once_per_path_on_its_own_route() {
    let wf = Workflow::new()
        .task(
            Task::new("a")
                .action("core.noop")
                .next(Transition::on_success().to("b").to("c")),
        )
        .task(
            Task::new("b")
                .action("core.noop")
                .next(Transition::on_success().to("d")),
        )
        .task(
            Task::new("c")
                .action("core.noop")
                .next(Transition::on_success().to("d")),
        )
        .task(Task::new("d").action("core.noop"));
    let mut c = run(wf, json!({}));
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Succeeded, Value::Null);
    start(&mut c, "b");
    start(&mut c, "c");
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    end(&mut c, "c", RunStatus::Succeeded, Value::Null);
    assert_eq!(ready(&c), vec![at("d", 1), at("d", 2)]);
    assert_eq!(
        c.routes(),
        [vec![], vec!["b__t0".to_string()], vec!["c__t0".to_string()]]
    );
    for route in [1, 2] {
        let d = c.start_task("d", route).unwrap();
        assert_eq!(d.route, route);
        c.finish_task("d", route, RunStatus::Succeeded, None)
            .unwrap();
    }
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert_eq!(labels(&c), ["a", "b", "c", "d__r1", "d__r2"]);
    assert_eq!(c.terminal_tasks(), ["d__r1", "d__r2"]);
}

#[test]
fn published_values_reach_the_next_task_and_later_entries_see_earlier_ones() {
    let wf = Workflow::new()
        .task(
            Task::new("a")
                .action("core.noop")
                .param("seen", json!("{{ ctx() }}"))
                .next(
                    Transition::on_success()
                        .publish("x", json!("{{ result().n + 1 }}"))
                        .publish("y", json!("{{ ctx('x') * 2 }}"))
                        .to("b"),
                ),
        )
        .task(
            Task::new("b")
                .action("core.echo")
                .param("value", json!("{{ ctx('y') }}"))
                .param("seen", json!("{{ ctx() }}")),
        );
    let mut c = run(wf, json!({"host": "h"}));
    let a = start(&mut c, "a");
    assert_eq!(a.params[0]["seen"], json!({"host": "h"}));
    end(&mut c, "a", RunStatus::Succeeded, json!({"n": 4}));
    let b = start(&mut c, "b");
    assert_eq!(b.params[0]["value"], json!(10));
    assert_eq!(b.params[0]["seen"], json!({"host": "h", "x": 5, "y": 10}));
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Succeeded);
}

#[test]
fn a_publish_that_does_not_render_fails_the_run_naming_the_task() {
    let wf = Workflow::new()
        .task(
            Task::new("a").action("core.noop").next(
                Transition::on_success()
                    .publish("x", json!("{{ ctx('missing') }}"))
                    .to("b"),
            ),
        )
        .task(Task::new("b").action("core.noop"));
    let mut c = run(wf, json!({}));
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Failed);
    let errors = errors_of(&c, "a");
    assert_eq!(errors.len(), 1, "{:?}", c.errors());
    assert!(
        errors[0].contains("task 'a' next[0] publish 'x'"),
        "the error locates the entry: {errors:?}"
    );
    assert!(ready(&c).is_empty());
    assert_eq!(labels(&c), ["a"], "b does not start");
}

#[test]
fn with_items_starts_at_most_concurrency_items_and_keeps_item_order() {
    let wf = Workflow::new()
        .input("xs", None)
        .task(
            Task::new("t")
                .action("core.echo")
                .with_items("{{ ctx('xs') }}", Some(2))
                .param("message", json!("{{ item() }}#{{ index() }}"))
                .next(Transition::on_success().publish("out", json!("{{ result() }}"))),
        )
        .output("out", json!("{{ ctx('out') }}"));
    let mut c = run(wf, json!({"xs": ["a", "b", "c"]}));
    let first = start(&mut c, "t");
    assert_eq!(first.first_item, Some(0));
    let messages: Vec<&Value> = first.params.iter().map(|p| &p["message"]).collect();
    assert_eq!(messages, [&json!("a#0"), &json!("b#1")]);
    assert!(ready(&c).is_empty(), "two items run, the concurrency");
    assert_eq!(c.running_items("t", 0), [0, 1]);
    c.finish_item("t", 0, 1, RunStatus::Succeeded, Some(json!("B")))
        .unwrap();
    assert!(
        c.finish_item("t", 0, 1, RunStatus::Succeeded, None)
            .is_err(),
        "an item ends once"
    );
    assert_eq!(ready(&c), vec![at("t", 0)], "room for the third item");
    let third = start(&mut c, "t");
    assert_eq!(third.first_item, Some(2));
    assert_eq!(third.params.len(), 1);
    assert_eq!(third.params[0]["message"], json!("c#2"));
    c.finish_item("t", 0, 2, RunStatus::Succeeded, Some(json!("C")))
        .unwrap();
    assert_eq!(c.status(), RunStatus::Running, "item 0 still runs");
    c.finish_item("t", 0, 0, RunStatus::Succeeded, Some(json!("A")))
        .unwrap();
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert_eq!(c.sequence()[0].result, Some(json!(["A", "B", "C"])));
    assert_eq!(c.output().unwrap()["out"], json!(["A", "B", "C"]));
}

#[test]
fn after_a_failed_item_no_further_item_starts_and_the_task_fails() {
    let wf = Workflow::new().task(
        Task::new("t")
            .action("core.noop")
            .with_items("{{ [1, 2, 3] }}", Some(1)),
    );
    let mut c = run(wf, json!({}));
    let run0 = start(&mut c, "t");
    assert_eq!(run0.params.len(), 1);
    c.finish_item("t", 0, 0, RunStatus::Failed, Some(json!("bad")))
        .unwrap();
    assert!(ready(&c).is_empty(), "no further item starts");
    assert_eq!(c.running_items("t", 0), Vec::<usize>::new());
    assert_eq!(c.sequence()[0].status, RunStatus::Failed);
    assert_eq!(c.sequence()[0].result, Some(json!([null])));
    assert_eq!(c.status(), RunStatus::Failed);
}

#[test]
fn with_items_that_are_not_a_list_fail_the_task_when_it_starts() {
    let wf = Workflow::new().input("xs", None).task(
        Task::new("t")
            .action("core.noop")
            .with_items("{{ ctx('xs') }}", None),
    );
    let mut c = run(wf, json!({"xs": 5}));
    let err = c.start_task("t", 0).unwrap_err();
    assert!(err.to_string().contains("expected a list"), "{err}");
    // As in Orquesta, the task never ran: the run fails with an error of the task.
    assert!(c.sequence().is_empty());
    assert_eq!(c.errors()[0].task_id.as_deref(), Some("t"));
    assert_eq!(c.errors()[0].route, Some(0));
    assert_eq!(c.status(), RunStatus::Failed);
}

#[test]
fn fail_fast_an_unhandled_failure_lets_running_tasks_end_and_starts_nothing_new() {
    let wf = Workflow::new()
        .task(Task::new("a").action("core.noop"))
        .task(
            Task::new("b")
                .action("core.noop")
                .next(Transition::on_success().to("c")),
        )
        .task(Task::new("c").action("core.noop"));
    let mut c = run(wf, json!({}));
    assert_eq!(ready(&c), vec![at("a", 0), at("b", 0)]);
    start(&mut c, "a");
    start(&mut c, "b");
    end(&mut c, "a", RunStatus::Failed, json!("down"));
    assert_eq!(c.status(), RunStatus::Running, "b is still running");
    assert!(ready(&c).is_empty());
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Failed);
    assert!(ready(&c).is_empty());
    assert_eq!(labels(&c), ["a", "b"], "c is never started");
    assert_eq!(c.terminal_tasks(), ["a", "b"]);
    assert_eq!(errors_of(&c, "a").len(), 1);
    assert_eq!(c.errors()[0].result, Some(json!("down")));
}

#[test]
fn a_rerun_starts_the_failed_task_again_and_what_it_held_back() {
    let wf = Workflow::new()
        .task(Task::new("a").action("core.noop"))
        .task(
            Task::new("b")
                .action("core.noop")
                .next(Transition::on_success().to("c")),
        )
        .task(Task::new("c").action("core.noop"));
    let mut c = run(wf, json!({}));
    start(&mut c, "a");
    start(&mut c, "b");
    end(&mut c, "a", RunStatus::Failed, Value::Null);
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Failed);
    c.rerun(None).unwrap();
    assert_eq!(c.status(), RunStatus::Running);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    assert_eq!(ready(&c), vec![at("a", 0), at("c", 0)]);
    for t in ["a", "c"] {
        start(&mut c, t);
        end(&mut c, t, RunStatus::Succeeded, Value::Null);
    }
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert!(c.rerun(None).is_err(), "nothing failed to re-run");
}

#[test]
fn the_fail_command_fails_the_run_and_noop_handles_a_failure() {
    let fail = Workflow::new().task(
        Task::new("a")
            .action("core.noop")
            .next(Transition::on_success().command(Command::Fail)),
    );
    let mut c = run(fail, json!({}));
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Failed);
    assert_eq!(labels(&c), ["a", "fail"]);
    assert_eq!(errors_of(&c, "fail").len(), 1);

    let noop = Workflow::new().task(
        Task::new("a")
            .action("core.noop")
            .next(Transition::on_failure().command(Command::Noop)),
    );
    let mut c = run(noop, json!({}));
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Failed, Value::Null);
    assert_eq!(c.status(), RunStatus::Succeeded);
    assert_eq!(labels(&c), ["a", "noop"]);

    let cont = Workflow::new().task(
        Task::new("a")
            .action("core.noop")
            .next(Transition::on_failure().command(Command::Continue)),
    );
    let mut c = run(cont, json!({}));
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Failed, Value::Null);
    assert_eq!(c.status(), RunStatus::Failed, "continue keeps the failure");
}

#[test]
fn a_failed_task_runs_again_after_each_retry_delay_until_its_retries_are_spent() {
    let mut retry = Retry::times(2);
    retry.delay = 1.5;
    retry.backoff = crate::workflow::Backoff::Linear;
    let wf = Workflow::new().task(Task::new("a").action("core.noop").retry(retry));
    let mut c = run(wf, json!({}));
    let mut delays = Vec::new();
    for _ in 0..3 {
        assert_eq!(ready(&c), vec![at("a", 0)]);
        delays.push(start(&mut c, "a").delay);
        end(&mut c, "a", RunStatus::Failed, Value::Null);
    }
    assert_eq!(delays, [None, Some(1.5), Some(3.0)]);
    let retries: Vec<u32> = c.sequence().iter().map(|e| e.retries).collect();
    assert_eq!(retries, [0, 1, 2]);
    assert_eq!(c.status(), RunStatus::Failed);
    assert!(ready(&c).is_empty());
}

#[test]
fn a_canceled_task_cancels_the_run_once_running_tasks_end() {
    let wf = Workflow::new()
        .task(Task::new("a").action("core.noop"))
        .task(
            Task::new("b")
                .action("core.noop")
                .next(Transition::on_success().to("c")),
        )
        .task(Task::new("c").action("core.noop"));
    let mut c = run(wf, json!({}));
    start(&mut c, "a");
    start(&mut c, "b");
    end(&mut c, "a", RunStatus::Canceled, Value::Null);
    assert_eq!(c.status(), RunStatus::Running);
    end(&mut c, "b", RunStatus::Succeeded, Value::Null);
    assert_eq!(c.status(), RunStatus::Canceled);
    assert_eq!(labels(&c), ["a", "b"]);
}

#[test]
fn the_output_is_rendered_at_the_end_also_when_the_run_failed() {
    let yaml = r#"
input: [host]
tasks:
  probe:
    action: core.noop
    next:
      - when: '{{ succeeded() }}'
        publish:
          - up: '{{ result().up }}'
output:
  - host: '{{ ctx("host") }}'
  - up: '{{ ctx("up") }}'
  - summary: '{{ ctx("host") }} up={{ ctx("up") }}'
"#;
    let mut ok = run_yaml(yaml, json!({"host": "h1"}));
    start(&mut ok, "probe");
    assert_eq!(ok.output(), None, "no output while the run runs");
    end(&mut ok, "probe", RunStatus::Succeeded, json!({"up": true}));
    assert_eq!(ok.status(), RunStatus::Succeeded);
    assert_eq!(
        ok.output(),
        json!({"host": "h1", "up": true, "summary": "h1 up=True"}).as_object()
    );

    let mut failed = run_yaml(yaml, json!({"host": "h2"}));
    start(&mut failed, "probe");
    end(&mut failed, "probe", RunStatus::Failed, Value::Null);
    assert_eq!(failed.status(), RunStatus::Failed);
    // What renders is kept; what does not is an error of the run.
    assert_eq!(failed.output(), json!({"host": "h2"}).as_object());
    let untied: Vec<&str> = failed
        .errors()
        .iter()
        .filter(|e| e.task_id.is_none())
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(untied.len(), 2, "{untied:?}");
    assert!(untied[0].contains("output 'up'"), "{untied:?}");
    assert!(untied[1].contains("output 'summary'"), "{untied:?}");
}

#[test]
fn a_missing_required_input_fails_the_run_before_any_task() {
    let wf = Workflow::new()
        .input("host", None)
        .task(Task::new("a").action("core.noop"));
    let c = run(wf, json!({}));
    assert_eq!(c.status(), RunStatus::Failed);
    assert!(c.sequence().is_empty());
    assert!(ready(&c).is_empty());
    assert!(c.errors()[0].message.contains("'host'"), "{:?}", c.errors());
}

/// A with-items task whose concurrency does not render, or is not a whole number, fails
/// the run when it starts (it never stays running with nothing to run), naming the task.
#[test]
fn a_with_items_concurrency_that_does_not_render_or_is_not_a_number_fails_the_task() {
    for (concurrency, expected) in [
        ("\"{{ ctx('missing') }}\"", "undefined"),
        (
            "\"{{ 'many' }}\"",
            "concurrency must be a whole number, got \"many\"",
        ),
    ] {
        let yaml = format!(
            "version: 1.0\ntasks:\n  t:\n    with:\n      items: '{{{{ [1, 2, 3] }}}}'\n      concurrency: {concurrency}\n    action: core.noop\n"
        );
        let mut c = run_yaml(&yaml, json!({}));
        let err = c.start_task("t", 0).unwrap_err();
        assert!(err.to_string().contains(expected), "{concurrency}: {err}");
        assert!(err.to_string().contains("task 't'"), "{concurrency}: {err}");
        assert!(c.sequence().is_empty(), "{concurrency}: it never ran");
        assert_eq!(c.errors()[0].task_id.as_deref(), Some("t"), "{concurrency}");
        assert_eq!(c.status(), RunStatus::Failed, "{concurrency}");
        assert!(ready(&c).is_empty(), "{concurrency}");
    }
    // A number in a text is a number.
    let yaml = "version: 1.0\ntasks:\n  t:\n    with:\n      items: '{{ [1, 2, 3] }}'\n      concurrency: \"{{ '2' }}\"\n    action: core.noop\n";
    let mut c = run_yaml(yaml, json!({}));
    assert_eq!(start(&mut c, "t").params.len(), 2);
}

/// An item whose params do not render fails the task at its start instead of leaving it
/// running: the items rendered before it in that start are not launched.
#[test]
fn an_item_whose_params_do_not_render_fails_the_task() {
    let wf = Workflow::new().task(
        Task::new("t")
            .action("core.echo")
            .with_items("{{ [{'x': 1}, 5, {'x': 3}] }}", Some(3))
            .param("message", json!("{{ item().x }}")),
    );
    let mut c = run(wf, json!({}));
    let err = c.start_task("t", 0).unwrap_err();
    assert_eq!(c.sequence()[0].status, RunStatus::Failed, "{err}");
    assert_eq!(c.status(), RunStatus::Failed, "{err}");
    assert!(ready(&c).is_empty());
    assert_eq!(c.running_items("t", 0), Vec::<usize>::new());
}

/// As in Orquesta: a run whose vars do not render has no output and one error; a run where
/// no task ran renders its output over an empty context; an output that renders nothing is
/// null.
#[test]
fn output_after_a_failure_is_as_orquesta_renders_it() {
    let c = run_yaml(
        "vars:\n  - v: <% abs(8).value %>\n  - greeting: null\noutput:\n  - greeting: <% ctx().greeting %>\ntasks:\n  a:\n    action: core.noop\n",
        json!({}),
    );
    assert_eq!(c.status(), RunStatus::Failed);
    assert_eq!(c.output(), None);
    assert_eq!(c.errors().len(), 1, "{:?}", c.errors());

    // The first task's input does not render: it never runs, and the output, over an empty
    // context, does not render either.
    let mut c = run_yaml(
        "input: [name]\nvars:\n  - greeting: null\noutput:\n  - greeting: <% ctx().greeting %>\ntasks:\n  a:\n    action: core.echo message=<% ctx().name.value %>\n",
        json!({"name": "x"}),
    );
    assert!(c.start_task("a", 0).is_err());
    assert_eq!(c.status(), RunStatus::Failed);
    assert!(c.sequence().is_empty());
    assert_eq!(c.output(), None);
    let tasks: Vec<Option<&str>> = c.errors().iter().map(|e| e.task_id.as_deref()).collect();
    assert_eq!(tasks, [Some("a"), None], "{:?}", c.errors());
    assert_eq!(c.errors()[0].route, Some(0));
}

/// An error in a transition names the task, its route and the transition as Orquesta does;
/// the failure of a task comes before the error of the `fail` it leads to.
#[test]
fn transition_errors_name_the_transition_and_errors_keep_their_order() {
    let mut c = run_yaml(
        "tasks:\n  a:\n    action: core.noop\n    next:\n      - when: <% succeeded() and result().value %>\n        do: b\n  b:\n    action: core.noop\n",
        json!({}),
    );
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Succeeded, json!({}));
    assert_eq!(c.status(), RunStatus::Failed);
    let e = &c.errors()[0];
    assert_eq!(
        (
            e.task_id.as_deref(),
            e.route,
            e.task_transition_id.as_deref()
        ),
        (Some("a"), Some(0), Some("b__t0"))
    );

    let mut c = run_yaml(
        "tasks:\n  a:\n    action: core.noop\n    next:\n      - when: <% failed() %>\n        do: [log, fail]\n  log:\n    action: core.noop\n",
        json!({}),
    );
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Failed, json!({"rc": 1}));
    start(&mut c, "log");
    end(&mut c, "log", RunStatus::Succeeded, json!({}));
    assert_eq!(c.status(), RunStatus::Failed);
    let tasks: Vec<Option<&str>> = c.errors().iter().map(|e| e.task_id.as_deref()).collect();
    assert_eq!(tasks, [Some("a"), Some("fail")]);
}

/// `task(name)` without a route, rendered for a task on a route, is that route's run; with
/// `route=N` (YAQL: `route => N`), run N's.
#[test]
fn task_without_a_route_is_the_run_on_the_current_route() {
    let yaml = "tasks:\n  s1:\n    action: core.noop\n    next: [{do: m}]\n  s2:\n    action: core.noop\n    next: [{do: m}]\n  m:\n    action: core.noop\n    next: [{do: n}]\n  n:\n    action: core.echo message=<% str(task(m).route) %>\noutput:\n  - one: '{{ task(\"m\", route=1).route }}'\n  - two: <% task(m, route => 2).route %>\n";
    let mut c = run_yaml(yaml, json!({}));
    for t in ["s1", "s2"] {
        start(&mut c, t);
        end(&mut c, t, RunStatus::Succeeded, json!({}));
    }
    let mut messages = Vec::new();
    while let Some((t, r)) = ready(&c).first().cloned() {
        let run = c.start_task(&t, r).unwrap();
        if t == "n" {
            messages.push((r, run.params[0]["message"].clone()));
        }
        c.finish_task(&t, r, RunStatus::Succeeded, None).unwrap();
    }
    messages.sort_by_key(|(r, _)| *r);
    assert_eq!(messages, [(1, json!("1")), (2, json!("2"))]);
    assert_eq!(c.output(), json!({"one": 1, "two": 2}).as_object());
}

/// In workflows `use_none` gives StackStorm's marker string, as Orquesta keeps it (rule and
/// action params turn it into null).
#[test]
fn use_none_keeps_its_marker_in_workflows() {
    let mut c = run_yaml(
        "output:\n  - j: '{{ use_none(none) }}'\n  - y: <% use_none(null) %>\ntasks:\n  a:\n    action: core.noop\n",
        json!({}),
    );
    start(&mut c, "a");
    end(&mut c, "a", RunStatus::Succeeded, json!({}));
    let marker = crate::template::USE_NONE_MAGIC;
    assert_eq!(c.output(), json!({"j": marker, "y": marker}).as_object());
}
