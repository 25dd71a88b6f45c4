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

mod conductor;
mod graph;
mod model;
mod parse;
mod rehearse;
mod validate;

pub use conductor::{Conductor, Entry, Plan, RunError, RunStatus, TaskRun};
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
    let fail = |problems| WorkflowErrors {
        workflow: file.to_string(),
        problems,
    };
    let doc = crate::document::yaml::parse(text).map_err(|e| {
        fail(vec![Problem {
            file: file.to_string(),
            line: e.pos.line,
            column: e.pos.column,
            path: String::new(),
            message: e.message,
            hint: None,
        }])
    })?;
    let src = Source {
        file: file.to_string(),
        locs: Arc::new(doc.locs),
    };
    let mut r = Report::default();
    let wf = parse::read(&src, &doc.value, &mut r);
    if let Some(wf) = &wf {
        let at = validate::At {
            src: Some(&src),
            file,
        };
        validate::check(wf, &at, &mut r);
    }
    if let (Some(wf), true) = (wf, r.problems.is_empty()) {
        return Ok(wf);
    }
    let mut problems = r.problems;
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    Err(fail(problems))
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
