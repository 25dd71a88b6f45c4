//! Checks on a workflow's graph and templates (petgraph): unknown tasks in `do`, no start
//! task, unreachable tasks, joins with too few inbound transitions, template syntax.

use super::model::{Join, Target, Workflow};
use crate::document::fields::Source;
use crate::document::problem::{Problem, Report};
use crate::document::yaml::{child, item};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;
use serde_json::Value;
use std::collections::HashMap;

/// Where problems are located: the file's positions when the workflow was read from one.
pub(crate) struct At<'a> {
    pub src: Option<&'a Source>,
    pub file: &'a str,
}

impl At<'_> {
    pub(crate) fn problem(&self, path: &str, message: String, hint: Option<String>) -> Problem {
        match self.src {
            Some(s) => s.hinted(path, message, hint),
            None => Problem {
                file: self.file.to_string(),
                line: 0,
                column: 0,
                path: path.to_string(),
                message,
                hint,
            },
        }
    }
}

/// The graph of task runs: a node per task, an edge per transition target (a transition
/// naming two tasks gives two edges).
pub(crate) fn graph(wf: &Workflow) -> (DiGraph<&str, ()>, HashMap<&str, NodeIndex>) {
    let mut g = DiGraph::new();
    let mut ids = HashMap::new();
    for t in &wf.tasks {
        ids.entry(t.name.as_str())
            .or_insert_with(|| g.add_node(t.name.as_str()));
    }
    for t in &wf.tasks {
        let from = ids[t.name.as_str()];
        for n in t.targets() {
            if let Some(to) = ids.get(n) {
                g.add_edge(from, *to, ());
            }
        }
    }
    (g, ids)
}

/// Every problem of `wf`'s graph and templates.
pub(crate) fn check(wf: &Workflow, at: &At<'_>, r: &mut Report) {
    if wf.tasks.is_empty() {
        r.push(at.problem("tasks", "a workflow needs at least one task".into(), None));
        return;
    }
    let mut seen = HashMap::new();
    for t in &wf.tasks {
        let path = child("tasks", &t.name);
        if seen.insert(t.name.as_str(), ()).is_some() {
            r.push(at.problem(&path, format!("task '{}' is defined twice", t.name), None));
        }
        if super::model::Command::parse(&t.name).is_some() {
            let msg = format!(
                "'{}' is an engine command; a task cannot have that name",
                t.name
            );
            r.push(at.problem(&path, msg, None));
        } else if t.name.is_empty()
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            let msg = format!(
                "task name '{}' must be letters, digits, '_' and '-'",
                t.name
            );
            r.push(at.problem(&path, msg, None));
        }
    }
    let names: Vec<&str> = wf.tasks.iter().map(|t| t.name.as_str()).collect();
    for t in &wf.tasks {
        let tpath = child("tasks", &t.name);
        for (i, tr) in t.next.iter().enumerate() {
            let npath = item(&child(&tpath, "next"), i);
            for target in &tr.targets {
                if let Target::Task(n) = target
                    && !names.contains(&n.as_str())
                {
                    let hint = crate::text::nearest(n, names.iter().copied())
                        .map(|k| format!("did you mean '{k}'?"));
                    let msg = format!("'do' names task '{n}', which is not defined");
                    r.push(at.problem(&child(&npath, "do"), msg, hint));
                }
            }
            if let Some(w) = &tr.when {
                template(at, &child(&npath, "when"), w, r);
            }
            for (k, v) in &tr.publish {
                templates(at, &child(&child(&npath, "publish"), k), v, r);
            }
        }
        for (k, v) in &t.input {
            templates(at, &child(&child(&tpath, "input"), k), v, r);
        }
        if let Some(w) = &t.with {
            template(at, &child(&child(&tpath, "with"), "items"), &w.items, r);
            if let Some(Value::String(c)) = &w.concurrency {
                template(at, &child(&child(&tpath, "with"), "concurrency"), c, r);
            }
        }
        if let Some(w) = t.retry.as_ref().and_then(|r| r.when.as_ref()) {
            template(at, &child(&child(&tpath, "retry"), "when"), w, r);
        }
        if let Some(d) = &t.delay_expr {
            template(at, &child(&tpath, "delay"), d, r);
        }
    }
    for (k, v) in &wf.input {
        if let Some(v) = v {
            templates(at, &child("input", k), v, r);
        }
    }
    for (k, v) in &wf.vars {
        templates(at, &child("vars", k), v, r);
    }
    for (k, v) in &wf.output {
        templates(at, &child("output", k), v, r);
    }
    graph_checks(wf, at, r);
}

fn graph_checks(wf: &Workflow, at: &At<'_>, r: &mut Report) {
    let (g, ids) = graph(wf);
    let starts: Vec<NodeIndex> = g
        .node_indices()
        .filter(|n| {
            g.neighbors_directed(*n, petgraph::Incoming)
                .next()
                .is_none()
        })
        .collect();
    if starts.is_empty() {
        let msg = "no task can start: every task has an inbound transition (a start task is \
                   one that no transition leads to)"
            .to_string();
        r.push(at.problem("tasks", msg, None));
        return;
    }
    let mut reached = vec![false; g.node_count()];
    for s in &starts {
        let mut dfs = Dfs::new(&g, *s);
        while let Some(n) = dfs.next(&g) {
            reached[n.index()] = true;
        }
    }
    for t in &wf.tasks {
        let Some(n) = ids.get(t.name.as_str()) else {
            continue;
        };
        let path = child("tasks", &t.name);
        if !reached[n.index()] {
            let msg = format!(
                "task '{}' is unreachable: only tasks that no start task leads to lead to it",
                t.name
            );
            r.push(at.problem(&path, msg, None));
        }
        let inbound = g.edges_directed(*n, petgraph::Incoming).count();
        match t.join {
            Some(Join::All) if inbound < 2 => {
                let msg = format!(
                    "'join' on a task with {inbound} inbound transition{}: a join waits for \
                     several",
                    if inbound == 1 { "" } else { "s" }
                );
                r.push(at.problem(&child(&path, "join"), msg, None));
            }
            Some(Join::Count(k)) if inbound < 2 || k as usize > inbound => {
                let msg = format!(
                    "'join: {k}' on a task with {inbound} inbound transition{}",
                    if inbound == 1 { "" } else { "s" }
                );
                r.push(at.problem(&child(&path, "join"), msg, None));
            }
            _ => {}
        }
    }
}

/// Checks every template inside `v`.
fn templates(at: &At<'_>, path: &str, v: &Value, r: &mut Report) {
    match v {
        Value::String(s) => template(at, path, s, r),
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                templates(at, &item(path, i), x, r);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                if crate::template::is_yaql(k) {
                    template(at, &child(path, k), k, r);
                }
                templates(at, &child(path, k), x, r);
            }
        }
        _ => {}
    }
}

fn template(at: &At<'_>, path: &str, s: &str, r: &mut Report) {
    if let Err(e) = crate::template::check_workflow_syntax(s) {
        r.push(at.problem(path, format!("template syntax error: {e}"), None));
    }
}
