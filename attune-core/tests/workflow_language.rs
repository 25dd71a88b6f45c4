//! The workflow language: both shapes read to the same definition, every validation problem
//! with its location, the Orquesta corpus reads clean, and the graph exports.

use attune_core::model::ExecutionStatus;
use attune_core::workflow::{
    Backoff, Command, Join, Retry, Target, Task, TaskStatuses, Transition, Workflow, parse, to_dot,
    to_mermaid,
};
use serde_json::json;

fn problems(text: &str) -> Vec<String> {
    match parse(text, "wf.yaml") {
        Ok(wf) => panic!("expected problems, got {wf:#?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_orquesta_corpus_workflow_reads_and_validates() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/orquesta/workflows");
    // The Jinja translations, then Orquesta's YAQL originals.
    for (dir, count) in [(dir.clone(), 34), (dir.join("yaql"), 33)] {
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let wf = parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!wf.tasks.is_empty(), "{name}");
            assert!(!wf.start_tasks().is_empty(), "{name}");
            n += 1;
        }
        assert_eq!(n, count, "{} holds {count} workflows", dir.display());
    }
}

#[test]
fn orquesta_shape_reads_every_construct() {
    let text = r#"
version: 1.0
description: all of it
input:
  - host
  - port: 22
vars:
  - xs: [a, b]
tasks:
  init:
    action: core.local cmd="echo {{ ctx().host }}" timeout=5
    input:
      cwd: /tmp
    next:
      - when: '{{ succeeded() }}'
        publish:
          - out: '{{ result().stdout }}'
        do: fan, other
      - when: '{{ failed() }}'
        publish: reason={{ result() }} n=1
        do: fail
  fan:
    with:
      items: x in {{ ctx("xs") }}
      concurrency: 2
    action: core.echo message={{ item(x) }}
    retry:
      when: '{{ failed() }}'
      count: 3
      delay: 1.5
      backoff: exponential
      max_delay: 10
    timeout: 30
    delay: 2
    next:
      - do: done
  other:
    action: core.noop
    next:
      - do: [done, noop]
  done:
    join: all
    action: core.noop
output:
  - out: '{{ ctx("out") }}'
"#;
    let wf = parse(text, "all.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wf.version.as_deref(), Some("1.0"));
    assert_eq!(
        wf.input,
        vec![("host".into(), None), ("port".into(), Some(json!(22)))]
    );
    assert_eq!(wf.vars, vec![("xs".into(), json!(["a", "b"]))]);
    let init = wf.get("init").unwrap();
    assert_eq!(init.action.as_deref(), Some("core.local"));
    assert_eq!(
        serde_json::Value::Object(init.input.clone()),
        json!({"cwd": "/tmp", "cmd": "echo {{ ctx().host }}", "timeout": 5})
    );
    assert_eq!(init.next.len(), 2);
    assert_eq!(
        init.next[0].targets,
        vec![Target::Task("fan".into()), Target::Task("other".into())]
    );
    assert_eq!(
        init.next[0].publish,
        vec![("out".into(), json!("{{ result().stdout }}"))]
    );
    assert_eq!(
        init.next[1].publish,
        vec![
            ("reason".into(), json!("{{ result() }}")),
            ("n".into(), json!(1))
        ]
    );
    assert_eq!(init.next[1].targets, vec![Target::Command(Command::Fail)]);
    let fan = wf.get("fan").unwrap();
    let with = fan.with.as_ref().unwrap();
    assert_eq!(with.items, "{{ ctx(\"xs\") }}");
    assert_eq!(with.name.as_deref(), Some("x"));
    assert_eq!(with.concurrency, Some(json!(2)));
    let retry = fan.retry.as_ref().unwrap();
    assert_eq!(
        (retry.count, retry.delay, retry.backoff, retry.max_delay),
        (3, 1.5, Backoff::Exponential, Some(10.0))
    );
    assert_eq!(
        [
            retry.delay_before(1),
            retry.delay_before(2),
            retry.delay_before(4)
        ],
        [1.5, 3.0, 10.0]
    );
    assert_eq!((fan.timeout, fan.delay), (Some(30.0), Some(2.0)));
    assert_eq!(fan.next[0].when, None, "no `when`: always");
    assert_eq!(
        wf.get("other").unwrap().next[0].targets,
        vec![Target::Task("done".into()), Target::Command(Command::Noop)]
    );
    assert_eq!(wf.get("done").unwrap().join, Some(Join::All));
    assert_eq!(wf.start_tasks(), vec!["init"]);
    assert_eq!(wf.actions(), vec!["core.local", "core.echo", "core.noop"]);
}

#[test]
fn shorthand_reads_as_the_orquesta_shape() {
    let short = "tasks:\n  a:\n    action: core.noop\n    on_success: b\n    on_failure: [c, fail]\n    on_complete: d\n    on_timeout: c\n  b: {action: core.noop}\n  c: {action: core.noop}\n  d: {action: core.noop}\n";
    let long = r#"
tasks:
  a:
    action: core.noop
    next:
      - when: '{{ succeeded() }}'
        do: b
      - when: '{{ failed() }}'
        do: c, fail
      - do: d
      - when: '{{ timed_out() }}'
        do: c
  b: {action: core.noop}
  c: {action: core.noop}
  d: {action: core.noop}
"#;
    let a = parse(short, "short.yaml").unwrap_or_else(|e| panic!("{e}"));
    let b = parse(long, "long.yaml").unwrap_or_else(|e| panic!("{e}"));
    let mut a_next = a.get("a").unwrap().next.clone();
    let mut b_next = b.get("a").unwrap().next.clone();
    let key = |t: &Transition| format!("{:?}", t.when);
    a_next.sort_by_key(key);
    b_next.sort_by_key(key);
    assert_eq!(a_next, b_next);
    let both = "tasks:\n  a:\n    action: core.noop\n    on_success: b\n    next:\n      - do: b\n  b: {action: core.noop}\n";
    assert_eq!(
        problems(both),
        vec![
            "wf.yaml:5:5: tasks.a.next: 'on_success' and 'next' cannot both be given: use one form"
        ]
    );
}

#[test]
fn a_rust_built_workflow_equals_the_parsed_one() {
    let built = Workflow::new()
        .task(
            Task::new("a")
                .action("core.echo")
                .param("message", json!("hi"))
                .next(
                    Transition::on_success()
                        .to("b")
                        .publish("x", json!("{{ result() }}")),
                ),
        )
        .task(Task::new("b").action("core.noop").retry(Retry::times(2)));
    built.validate().unwrap();
    let text = r#"
tasks:
  a:
    action: core.echo message=hi
    next:
      - when: '{{ succeeded() }}'
        publish: x={{ result() }}
        do: b
  b:
    action: core.noop
    retry: {count: 2}
"#;
    assert_eq!(parse(text, "wf.yaml").unwrap(), built);
}

#[test]
fn unknown_task_in_do_is_located_with_a_hint() {
    let text = "tasks:\n  first:\n    action: core.noop\n    next:\n      - do: secnd\n  second:\n    action: core.noop\n";
    // `second` has no inbound edge from a known task, so it is a start task too: fine.
    assert_eq!(
        problems(text),
        vec![
            "wf.yaml:5:9: tasks.first.next[0].do: 'do' names task 'secnd', which is not defined (did you mean 'second'?)"
        ]
    );
}

#[test]
fn no_start_task_and_unreachable_tasks_are_reported() {
    let cycle = "tasks:\n  a:\n    action: core.noop\n    next: [{do: b}]\n  b:\n    action: core.noop\n    next: [{do: a}]\n";
    assert_eq!(
        problems(cycle),
        vec![
            "wf.yaml:1:1: tasks: no task can start: every task has an inbound transition (a start task is one that no transition leads to)"
        ]
    );
    let island = "tasks:\n  start:\n    action: core.noop\n  a:\n    action: core.noop\n    next: [{do: b}]\n  b:\n    action: core.noop\n    next: [{do: a}]\n";
    assert_eq!(
        problems(island),
        vec![
            "wf.yaml:4:3: tasks.a: task 'a' is unreachable: only tasks that no start task leads to lead to it",
            "wf.yaml:7:3: tasks.b: task 'b' is unreachable: only tasks that no start task leads to lead to it",
        ]
    );
}

#[test]
fn join_needs_several_inbound_transitions() {
    let one = "tasks:\n  a:\n    action: core.noop\n    next: [{do: b}]\n  b:\n    join: all\n    action: core.noop\n";
    assert_eq!(
        problems(one),
        vec![
            "wf.yaml:6:5: tasks.b.join: 'join' on a task with 1 inbound transition: a join waits for several"
        ]
    );
    let count = "tasks:\n  a:\n    action: core.noop\n    next: [{do: 'c, b'}]\n  b:\n    action: core.noop\n    next: [{do: c}]\n  c:\n    join: 3\n    action: core.noop\n";
    assert_eq!(
        problems(count),
        vec!["wf.yaml:9:5: tasks.c.join: 'join: 3' on a task with 2 inbound transitions"]
    );
    let zero = "tasks:\n  a:\n    action: core.noop\n    join: 0\n";
    assert_eq!(
        problems(zero),
        vec!["wf.yaml:4:5: tasks.a.join: must be 'all' or a count of at least 1, got 0"]
    );
}

#[test]
fn template_syntax_errors_are_located() {
    let text = "tasks:\n  a:\n    action: core.echo\n    input:\n      message: '{{ ctx(\"x\" }}'\n    next:\n      - when: '{{ succeeded() '\n        do: noop\n";
    let p = problems(text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].starts_with("wf.yaml:5:7: tasks.a.input.message: template syntax error:"),
        "{p:#?}"
    );
    assert!(
        p[1].starts_with("wf.yaml:7:9: tasks.a.next[0].when: template syntax error:"),
        "{p:#?}"
    );
}

#[test]
fn bad_retry_and_with_values_are_located() {
    let text = r#"
tasks:
  a:
    action: core.noop
    retry:
      count: -1
      delay: 5
      backof: linear
      max_delay: 2
    with:
      items: not a template
      concurrency: 0
    timeout: 0
"#;
    assert_eq!(
        problems(text),
        vec![
            "wf.yaml:6:7: tasks.a.retry.count: must be a count (0 or more), got -1",
            "wf.yaml:8:7: tasks.a.retry.backof: unknown key 'backof' (did you mean 'backoff'?)",
            "wf.yaml:9:7: tasks.a.retry.max_delay: max_delay (2 s) is shorter than delay (5 s)",
            "wf.yaml:11:7: tasks.a.with.items: must be a template giving the items (like '{{ ctx(\"xs\") }}'), got 'not a template'",
            "wf.yaml:12:7: tasks.a.with.concurrency: must be a count of at least 1 or a template, got 0",
            "wf.yaml:13:5: tasks.a.timeout: must be more than 0 seconds, got 0",
        ]
    );
    let backoff =
        "tasks:\n  a:\n    action: core.noop\n    retry: {count: 1, backoff: exponentail}\n";
    assert_eq!(
        problems(backoff),
        vec![
            "wf.yaml:4:23: tasks.a.retry.backoff: must be constant, linear or exponential, got 'exponentail' (did you mean 'exponential'?)"
        ]
    );
}

#[test]
fn unknown_keys_names_and_shapes_are_reported() {
    let text = "version: 1.0\nvars: 3\ntask:\n  a: {}\n";
    assert_eq!(
        problems(text),
        vec![
            "wf.yaml:1:1: missing required key 'tasks'",
            "wf.yaml:2:1: vars: must be a list or a mapping, got an integer",
            "wf.yaml:3:1: task: unknown key 'task' (did you mean 'tasks'?)",
        ]
    );
    let names = "tasks:\n  fail:\n    action: core.noop\n  'a b':\n    action: core.noop\n";
    assert_eq!(
        problems(names),
        vec![
            "wf.yaml:2:3: tasks.fail: 'fail' is an engine command; a task cannot have that name",
            "wf.yaml:4:3: tasks['a b']: task name 'a b' must be letters, digits, '_' and '-'",
        ]
    );
    let yaml = "tasks:\n  a: [\n";
    let p = problems(yaml);
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("wf.yaml:"), "{p:?}");
}

#[test]
fn built_workflows_are_validated_too() {
    let wf = Workflow::new()
        .task(
            Task::new("a")
                .action("core.noop")
                .next(Transition::always().to("zz")),
        )
        .task(Task::new("b").join(Join::All));
    let err = wf.validate().unwrap_err();
    let p: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        p,
        vec![
            ": tasks.a.next[0].do: 'do' names task 'zz', which is not defined",
            ": tasks.b.join: 'join' on a task with 0 inbound transitions: a join waits for several",
        ]
    );
}

#[test]
fn graphs_label_conditions_and_colour_a_run() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/orquesta/workflows/join.yaml"),
    )
    .unwrap();
    let wf = parse(&text, "join.yaml").unwrap();
    let dot = to_dot(&wf, "join", None);
    assert!(dot.starts_with("digraph \"join\" {"), "{dot}");
    assert!(
        dot.contains("\"task1\" -> \"task2\" [label=\"succeeded()\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"task1\" -> \"task4\" [label=\"succeeded()\"];"),
        "{dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), 7, "{dot}");
    let mut run = TaskStatuses::new();
    run.insert("task1".into(), ExecutionStatus::Succeeded);
    run.insert("task2".into(), ExecutionStatus::Failed);
    let dot = to_dot(&wf, "join", Some(&run));
    assert!(
        dot.contains("\"task2\" [label=\"task2\\ncore.noop\\n[failed]\", fillcolor=\"#f7c5c5\"];"),
        "{dot}"
    );
    let m = to_mermaid(&wf, Some(&run));
    assert!(m.starts_with("flowchart TD\n"), "{m}");
    assert!(
        m.contains("  t_task1 -->|\"succeeded()\"| t_task2\n"),
        "{m}"
    );
    assert!(m.contains("  class t_task2 failed\n"), "{m}");
    assert!(m.contains("  classDef succeeded fill:#c8f7c5\n"), "{m}");
    let commands = Workflow::new().task(
        Task::new("a")
            .action("core.noop")
            .next(Transition::on_failure().command(Command::Fail)),
    );
    assert!(to_mermaid(&commands, None).contains("t_a -->|\"failed()\"| t_a__fail"));
    assert!(to_dot(&commands, "c", None).contains("\"a__fail\" [label=\"fail\", shape=circle"));
}
