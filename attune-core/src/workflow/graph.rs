//! Graph export: DOT (Graphviz) and Mermaid, for a definition and — with the status of each
//! task — for a run. Edges are labelled with their condition; engine commands are drawn as
//! small terminal nodes.

use super::model::{Target, Workflow};
use crate::model::ExecutionStatus;
use std::collections::HashMap;
use std::fmt::Write;

/// The status of each task of a run, by task name (absent: not run).
pub type TaskStatuses = HashMap<String, ExecutionStatus>;

/// The fill colour of a task in `status`.
fn colour(status: Option<ExecutionStatus>) -> &'static str {
    use ExecutionStatus::*;
    match status {
        None => "#ffffff",
        Some(Succeeded) => "#c8f7c5",
        Some(Failed) | Some(Abandoned) => "#f7c5c5",
        Some(Timeout) => "#f7dcc5",
        Some(Canceled) | Some(Canceling) => "#dddddd",
        Some(Running) => "#fff3b0",
        Some(Paused) | Some(Pending) => "#c5dcf7",
        Some(_) => "#eeeeee",
    }
}

/// A transition's label: its condition without the template braces, `always` when none.
fn label(when: Option<&str>) -> String {
    match when {
        None => "always".into(),
        Some(w) => {
            let t = w.trim();
            t.strip_prefix("{{")
                .and_then(|x| x.strip_suffix("}}"))
                .map_or(t, str::trim)
                .to_string()
        }
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The workflow as a Graphviz digraph named `name`; `run` colours each task by its status.
pub fn to_dot(wf: &Workflow, name: &str, run: Option<&TaskStatuses>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(name));
    out.push_str(
        "  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n",
    );
    for t in &wf.tasks {
        let status = run.and_then(|r| r.get(&t.name)).copied();
        let mut text = t.name.clone();
        if let Some(a) = &t.action {
            text.push_str("\\n");
            text.push_str(&dot_escape(a));
        }
        if let Some(s) = status {
            let _ = write!(text, "\\n[{s}]");
        }
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\", fillcolor=\"{}\"];",
            dot_escape(&t.name),
            text,
            colour(status)
        );
    }
    let mut commands = Vec::new();
    for t in &wf.tasks {
        for tr in &t.next {
            let l = dot_escape(&label(tr.when.as_deref()));
            for target in &tr.targets {
                let to = match target {
                    Target::Task(n) => dot_escape(n),
                    Target::Command(c) => {
                        let id = format!("{}__{}", t.name, c.as_str());
                        commands.push((id.clone(), c.as_str()));
                        dot_escape(&id)
                    }
                };
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{to}\" [label=\"{l}\"];",
                    dot_escape(&t.name)
                );
            }
        }
    }
    for (id, c) in commands {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{c}\", shape=circle, style=filled, fillcolor=\"#eeeeee\", fontsize=10];",
            dot_escape(&id)
        );
    }
    out.push_str("}\n");
    out
}

/// A Mermaid node id for a task name (Mermaid ids are plain words).
fn mermaid_id(name: &str) -> String {
    let mut id = String::from("t_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            id.push(c);
        } else {
            let _ = write!(id, "_{:x}_", c as u32);
        }
    }
    id
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// The workflow as a Mermaid flowchart; `run` colours each task by its status.
pub fn to_mermaid(wf: &Workflow, run: Option<&TaskStatuses>) -> String {
    let mut out = String::from("flowchart TD\n");
    let mut classes: Vec<(String, &'static str)> = Vec::new();
    for t in &wf.tasks {
        let status = run.and_then(|r| r.get(&t.name)).copied();
        let mut text = mermaid_text(&t.name);
        if let Some(a) = &t.action {
            let _ = write!(text, "<br/>{}", mermaid_text(a));
        }
        if let Some(s) = status {
            let _ = write!(text, "<br/>[{s}]");
        }
        let id = mermaid_id(&t.name);
        let _ = writeln!(out, "  {id}[\"{text}\"]");
        if let Some(s) = status {
            classes.push((id, s.as_str()));
        }
    }
    for t in &wf.tasks {
        for tr in &t.next {
            let l = mermaid_text(&label(tr.when.as_deref()));
            for target in &tr.targets {
                let to = match target {
                    Target::Task(n) => mermaid_id(n),
                    Target::Command(c) => {
                        let id = format!("{}__{}", mermaid_id(&t.name), c.as_str());
                        let _ = writeln!(out, "  {id}((\"{}\"))", c.as_str());
                        id
                    }
                };
                let _ = writeln!(out, "  {} -->|\"{l}\"| {to}", mermaid_id(&t.name));
            }
        }
    }
    if !classes.is_empty() {
        let mut used: Vec<&str> = classes.iter().map(|(_, s)| *s).collect();
        used.sort_unstable();
        used.dedup();
        for s in used {
            let status = ExecutionStatus::parse(s).ok();
            let _ = writeln!(out, "  classDef {s} fill:{}", colour(status));
        }
        for (id, s) in classes {
            let _ = writeln!(out, "  class {id} {s}");
        }
    }
    out
}
