//! YAQL (`<% %>`) in workflows: everywhere Jinja works, with Orquesta's functions; a single
//! expression keeps its type, text renders as text; syntax errors and unknown functions are
//! located by `parse`; mixing the two languages in one value is refused.

use attune_core::workflow::{Conductor, MockAction, Plan, RunStatus, parse, rehearse};
use serde_json::{Map, Value, json};

fn run(text: &str, input: Value, mocks: Value) -> Conductor {
    let wf = parse(text, "wf.yaml").unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(wf).unwrap();
    let input: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
    let mut c = Conductor::start(plan, input);
    let mocks: Vec<MockAction> = serde_json::from_value(mocks).unwrap();
    rehearse(&mut c, &mocks).unwrap();
    c
}

fn problems(text: &str) -> Vec<String> {
    match parse(text, "wf.yaml") {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

const WORKFLOW: &str = r#"
version: 1.0
input:
  - hosts
  - limit: <% 1 + 1 %>
vars:
  - greeting: hello <% ctx().hosts.len() %> hosts
  - first: <% $.hosts[0] %>
tasks:
  check:
    with:
      items: h in <% ctx(hosts) %>
      concurrency: <% ctx(limit) %>
    action: core.echo message="<% item(h) %> at <% index() %>"
    next:
      - when: <% succeeded() and result().len() = 3 %>
        publish:
          - up: <% result().where($.up).select($.host) %>
          - n: <% result().len() %>
          - status: <% task_status(check) %>
        do: report
      - when: <% failed() %>
        do: fail
  report:
    action: core.noop
    input:
      summary: "<% ctx(greeting) %>: <% ctx(up) %>"
      parsed: '<% json(''{"a": [1, 2]}'') %>'
      pairs: <% zip(ctx(up), [1], pad => 0) %>
    retry:
      when: <% failed() and ctx(n) > 5 %>
      count: 2
output:
  - up: <% ctx(up) %>
  - n: <% ctx().n %>
  - first: <% ctx(first) %>
  - status: <% ctx(status) %>
  - text: n=<% ctx(n) %> up=<% ctx(up) %> ok=<% true %> none=<% null %>
  - summary: <% task(report).result %>
"#;

#[test]
fn a_yaql_workflow_runs_with_orquesta_functions() {
    let mocks = json!([
        {"task_id": "check", "item_id": 0, "result": {"host": "a", "up": true}},
        {"task_id": "check", "item_id": 1, "result": {"host": "b", "up": false}},
        {"task_id": "check", "item_id": 2, "result": {"host": "c", "up": true}},
        {"task_id": "report", "result": "done"}
    ]);
    let c = run(WORKFLOW, json!({"hosts": ["a", "b", "c"]}), mocks);
    assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
    assert_eq!(
        c.output().cloned().map(Value::Object),
        Some(json!({
            "up": ["a", "c"],
            "n": 3,
            "first": "a",
            "status": "succeeded",
            "text": "n=3 up=['a', 'c'] ok=True none=None",
            "summary": "done",
        }))
    );
}

#[test]
fn task_inputs_render_each_item_and_keep_types() {
    let wf = parse(WORKFLOW, "wf.yaml").unwrap();
    let plan = Plan::new(wf).unwrap();
    let mut input = Map::new();
    input.insert("hosts".into(), json!(["a", "b", "c"]));
    let mut c = Conductor::start(plan, input);
    let run = c.start_task("check", 0).unwrap();
    // The concurrency (a YAQL number) lets two items start.
    assert_eq!(run.params.len(), 2);
    assert_eq!(run.params[1]["message"], json!("b at 1"));
    for (i, host) in ["a", "b", "c"].into_iter().enumerate() {
        if i == 2 {
            let more = c.start_task("check", 0).unwrap();
            assert_eq!(more.params[0]["message"], json!("c at 2"));
        }
        let result = json!({"host": host, "up": host != "b"});
        c.finish_item("check", 0, i, RunStatus::Succeeded, Some(result))
            .unwrap_or_else(|e| panic!("item {i}: {e}"));
    }
    let report = c.start_task("report", 0).unwrap();
    assert_eq!(
        Value::Object(report.params[0].clone()),
        json!({
            "summary": "hello 3 hosts: ['a', 'c']",
            "parsed": {"a": [1, 2]},
            "pairs": [["a", 1], ["c", 0]],
        })
    );
}

#[test]
fn yaql_errors_at_run_time_name_the_value_and_the_expression() {
    let text =
        "input: [x]\ntasks:\n  a:\n    action: core.noop\noutput:\n  - y: <% ctx(x).nope %>\n";
    let c = run(text, json!({"x": {"k": 1}}), json!([]));
    assert_eq!(c.status(), RunStatus::Failed);
    let msg = &c.errors()[0].message;
    assert!(msg.contains("output 'y'"), "{msg}");
    assert!(
        msg.contains("<% ctx(x).nope %>") && msg.contains("no key 'nope'"),
        "{msg}"
    );
}

#[test]
fn syntax_errors_unknown_functions_and_mixing_are_located() {
    let text = "tasks:\n  a:\n    action: core.echo\n    input:\n      message: <% ctx().x + %>\n      other: <% foo(1) %>\n      mixed: '{{ ctx().a }} and <% ctx().b %>'\n    next:\n      - when: <% succeeded() %>\n        publish: a=<% result().x %> b=<% $.a[ %>\n";
    let p = problems(text);
    assert_eq!(p.len(), 4, "{p:#?}");
    assert_eq!(
        p[0],
        "wf.yaml:5:7: tasks.a.input.message: template syntax error: YAQL syntax error in \
         '<% ctx().x + %>' at column 9: expected a value, found the end of the expression"
    );
    assert_eq!(
        p[1],
        "wf.yaml:6:7: tasks.a.input.other: template syntax error: unknown YAQL function 'foo' \
         in '<% foo(1) %>'"
    );
    assert!(
        p[2].starts_with("wf.yaml:7:7: tasks.a.input.mixed:"),
        "{p:#?}"
    );
    assert!(p[2].contains("mixes Jinja"), "{p:#?}");
    assert!(
        p[3].contains("next[0].publish.b") && p[3].contains("'<% $.a[ %>'"),
        "{p:#?}"
    );
}

#[test]
fn a_string_without_yaql_stays_text_and_a_lone_expression_keeps_its_type() {
    let text = "tasks:\n  a:\n    action: core.noop\noutput:\n  - pct: 100%\n  - lt: a <b> c\n  - open: 50<% done\n  - n: <% 40 + 2 %>\n  - f: <% 1.5 %>\n  - list: '<% [1, \"a\"] %>'\n  - map: '<% {a => null} %>'\n";
    let c = run(text, json!({}), json!([]));
    assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
    assert_eq!(
        c.output().cloned().map(Value::Object),
        Some(
            json!({"pct": "100%", "lt": "a <b> c", "open": "50<% done", "n": 42, "f": 1.5, "list": [1, "a"], "map": {"a": null}})
        )
    );
}

/// StackStorm's functions (the Jinja filters, also the environment's global functions) are
/// YAQL functions too, as in StackStorm's Orquesta; `parse` knows their names.
#[test]
fn stackstorm_functions_work_in_yaql() {
    let text = "input: [d]\ntasks:\n  a:\n    action: core.noop\noutput:\n  - j: <% to_json_string(ctx(d)) %>\n  - m: <% regex_match('v1.2', 'v[0-9]') %>\n  - v: <% version_compare('1.2.0', '1.10.0') %>\n";
    let c = run(text, json!({"d": {"a": 1}}), json!([]));
    assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
    let out = c.output().cloned().unwrap();
    assert_eq!(out["m"], json!(true));
    assert_eq!(out["v"], json!(-1));
    assert!(
        out["j"].as_str().is_some_and(|s| s.contains("\"a\"")),
        "{out:?}"
    );
}
