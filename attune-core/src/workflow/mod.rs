//! Workflows: Orquesta-class task graphs.
//!
//! This module holds the language: the definition ([`Workflow`], [`Task`], [`Transition`],
//! …), reading it from YAML ([`parse`]) in Orquesta's shape or with the `on_success` /
//! `on_failure` / `on_complete` / `on_timeout` shorthand, checking it
//! ([`Workflow::validate`]: unknown tasks in `do`, no start task, unreachable tasks, joins
//! with too few inbound transitions, template syntax (Jinja `{{ }}` and YAQL `<% %>`, whose
//! unknown functions are named too), bad `retry` / `with` values — each
//! problem with its file, line, column and key path), and drawing it ([`to_dot`],
//! [`to_mermaid`]).
//!
//! ```
//! let text = r#"
//! version: 1.0
//! input: [host]
//! tasks:
//!   check:
//!     action: core.echo message="{{ ctx('host') }}"
//!     next:
//!       - when: '{{ succeeded() }}'
//!         publish: checked={{ result() }}
//!         do: notify
//!   notify:
//!     action: core.noop
//! output:
//!   - checked: '{{ ctx("checked") }}'
//! "#;
//! let wf = attune_core::workflow::parse(text, "check.yaml").unwrap();
//! assert_eq!(wf.start_tasks(), vec!["check"]);
//! assert!(attune_core::workflow::to_mermaid(&wf, None).contains("-->"));
//!
//! let bad = "tasks:\n  a:\n    action: core.noop\n    next:\n      - do: nowhere\n";
//! let err = attune_core::workflow::parse(bad, "bad.yaml").unwrap_err();
//! assert_eq!(err.problems[0].to_string(),
//!     "bad.yaml:5:9: tasks.a.next[0].do: 'do' names task 'nowhere', which is not defined");
//! ```

mod chain;
mod conductor;
mod graph;
mod mistral;
mod model;
mod parse;
mod rehearse;
mod validate;

pub use chain::{ActionChain, ChainNode};
pub(crate) use conductor::EXECUTION_FAILED;
pub use conductor::{Conductor, Entry, KvSnapshot, Plan, RunError, RunStatus, TaskRun};
pub use graph::{TaskStatuses, to_dot, to_mermaid};
pub use model::{Backoff, Command, Join, Retry, Target, Task, Transition, WithItems, Workflow};
pub use rehearse::{MAX_WAVES, MockAction, MockStatus, RehearsalSpec, Rehearsed, rehearse};

use crate::document::fields::Source;
use crate::document::problem::Report;
use crate::pack::Problem;
use std::fmt;
use std::sync::Arc;

/// Every problem of one workflow, found in one pass.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub struct WorkflowErrors {
    /// The workflow's file (or name).
    pub workflow: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for WorkflowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::document::problem::write_problems(f, "workflow", &self.workflow, &self.problems)
    }
}

/// Reads and checks a workflow file's text; `file` names it in problems. Every problem is
/// reported, in file order.
pub fn parse(text: &str, file: &str) -> Result<Workflow, WorkflowErrors> {
    let (src, value) = document(text, file)?;
    let mut r = Report::default();
    let wf = parse::read(&src, &value, &mut r);
    if let Some(wf) = &wf {
        let at = validate::At {
            src: Some(&src),
            file,
        };
        validate::check(wf, &at, &mut r);
    }
    finish(wf, r, file)
}

/// Reads and checks an action chain file's text (StackStorm's `action-chain` runner; see
/// [`ActionChain`]); `file` names it in problems. Every problem is reported, in file order.
pub fn parse_chain(text: &str, file: &str) -> Result<ActionChain, WorkflowErrors> {
    let (src, value) = document(text, file)?;
    let mut r = Report::default();
    let chain = chain::read(&src, &value, &mut r);
    if let Some((c, index)) = &chain {
        let at = validate::At {
            src: Some(&src),
            file,
        };
        chain::check(c, index, &at, &mut r);
    }
    finish(chain.map(|(c, _)| c), r, file)
}

/// The nodes of a chain file that could be read, whatever its problems (for checks that
/// add to them, like the actions its nodes run), each with its index in the `chain` list.
pub(crate) fn read_chain(text: &str, file: &str) -> Vec<(usize, ChainNode)> {
    let Ok((src, value)) = document(text, file) else {
        return Vec::new();
    };
    match chain::read(&src, &value, &mut Report::default()) {
        Some((c, index)) => index.into_iter().zip(c.nodes).collect(),
        None => Vec::new(),
    }
}

/// The parsed YAML of `text` with the positions of its keys.
fn document(text: &str, file: &str) -> Result<(Source, serde_json::Value), WorkflowErrors> {
    let doc = crate::document::yaml::parse(text).map_err(|e| WorkflowErrors {
        workflow: file.to_string(),
        problems: vec![Problem {
            file: file.to_string(),
            line: e.pos.line,
            column: e.pos.column,
            path: String::new(),
            message: e.message,
            hint: None,
        }],
    })?;
    let src = Source {
        file: file.to_string(),
        locs: Arc::new(doc.locs),
    };
    Ok((src, doc.value))
}

/// `def` when there was no problem; else the problems in file order.
fn finish<T>(def: Option<T>, r: Report, file: &str) -> Result<T, WorkflowErrors> {
    if let (Some(def), true) = (def, r.problems.is_empty()) {
        return Ok(def);
    }
    let mut problems = r.problems;
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    Err(WorkflowErrors {
        workflow: file.to_string(),
        problems,
    })
}

/// Whether the text of a workflow action is an action chain (its top level has `chain`,
/// which a workflow file never has) rather than a workflow.
pub(crate) fn is_chain(text: &str) -> bool {
    // Cheap first: a chain file says `chain` somewhere.
    text.contains("chain")
        && crate::document::yaml::parse(text).is_ok_and(|d| d.value.get("chain").is_some())
}

/// What the text of a workflow action defines.
pub(crate) enum Definition {
    /// A workflow file.
    Workflow(Workflow),
    /// An action chain.
    Chain(ActionChain),
}

impl Definition {
    /// Reads and checks a workflow action's text: a workflow file, or an action chain.
    pub(crate) fn parse(text: &str, file: &str) -> Result<Definition, WorkflowErrors> {
        if is_chain(text) {
            parse_chain(text, file).map(Definition::Chain)
        } else {
            parse(text, file).map(Definition::Workflow)
        }
    }

    /// Its plan.
    pub(crate) fn plan(self) -> crate::Result<Arc<Plan>> {
        match self {
            Definition::Workflow(wf) => Plan::new(wf),
            Definition::Chain(c) => Plan::for_chain(&c),
        }
    }
}

/// Reads and checks the workflow file at `path` (a regular file of at most `max_bytes`;
/// problems name it by its file name).
pub fn read_file(path: &std::path::Path, max_bytes: u64) -> Result<Workflow, WorkflowErrors> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let text = crate::document::read::read_bounded(path, &name, max_bytes).map_err(|p| {
        WorkflowErrors {
            workflow: name.clone(),
            problems: vec![p],
        }
    })?;
    parse(&text, &name)
}

/// Where each key path of a workflow file's text is (for problems found after reading it).
pub(crate) fn locations(text: &str) -> crate::document::yaml::Locations {
    crate::document::yaml::parse(text)
        .map(|d| d.locs)
        .unwrap_or_default()
}

impl ActionChain {
    /// Checks a chain built in code (problems have key paths, no lines).
    pub fn validate(&self) -> Result<(), WorkflowErrors> {
        let mut r = Report::default();
        let at = validate::At {
            src: None,
            file: "",
        };
        let index: Vec<usize> = (0..self.nodes.len()).collect();
        chain::check(self, &index, &at, &mut r);
        finish(Some(()), r, "(built in code)")
    }
}

impl Workflow {
    /// Checks a workflow built in code (problems have key paths, no lines).
    pub fn validate(&self) -> Result<(), WorkflowErrors> {
        let mut r = Report::default();
        let at = validate::At {
            src: None,
            file: "",
        };
        validate::check(self, &at, &mut r);
        if r.problems.is_empty() {
            Ok(())
        } else {
            Err(WorkflowErrors {
                workflow: "(built in code)".into(),
                problems: r.problems,
            })
        }
    }

    /// The actions its tasks run, each once, in the order first used.
    pub fn actions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in self.tasks.iter().filter_map(|t| t.action.as_deref()) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}
