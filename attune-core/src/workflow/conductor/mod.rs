//! The conductor: a workflow run as a deterministic state machine, with no I/O. The caller
//! (the engine, or a rehearsal) asks which tasks are ready, starts them, and reports how
//! each ended; the conductor evaluates transitions, publishes into the context, stages the
//! next tasks, and decides the workflow's status and output.
//!
//! Semantics follow Orquesta (see `cases.json` in the conformance corpus):
//! * start tasks run on route 0 with the initial context (input, then vars);
//! * a task's transitions are evaluated in order and every one that holds fires; its
//!   `publish` entries are rendered in order into a new context (later entries see earlier
//!   ones); a `next` entry without `do` means `do: continue`;
//! * a non-join task (or engine command) with more than one inbound task is a *split*: each
//!   arriving path gets its own route (the route is the list of transition ids
//!   `<source>__t<K>` that split it), and the task appears as `name__rN`;
//! * a join waits, per route, for all (or N) inbound transitions and merges their contexts;
//! * `continue` keeps a failure, `noop` handles it, `fail` fails the workflow; a failure no
//!   transition handles stops new scheduling (tasks in flight finish) and fails the workflow;
//! * with-items runs one action per item (`concurrency` at a time); `result()` is the list
//!   of item results in item order (null for failed items); after a failed item no further
//!   item starts and the task fails;
//! * the output is rendered when the workflow ends, also when it failed (its errors are
//!   added to the workflow's).
//!
//! The code is split by what it holds: [`Plan`] compilation (`plan`), the run's state and
//! its start (here), rendering templates (`render`), staging, routes and joins (`routes`),
//! starting a task (`start`), a task's end and its transitions (`transitions`), with-items
//! (`with_items`), the run's end and output (`outcome`) and re-runs (`rerun`).

mod kv;
mod outcome;
mod plan;
mod render;
mod rerun;
mod routes;
mod start;
#[cfg(test)]
mod tests;
mod transitions;
mod with_items;

pub use kv::KvSnapshot;
pub use plan::Plan;
pub(crate) use transitions::EXECUTION_FAILED;

use crate::workflow::model::Command;
use crate::{Error, Result};
use routes::Staged;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use with_items::Items;

/// How a task (or the workflow) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started, not finished.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// Stopped at its timeout.
    Timeout,
    /// Canceled.
    Canceled,
}

impl RunStatus {
    /// Whether it ended in failure (failed or timed out).
    pub fn is_failure(self) -> bool {
        matches!(self, RunStatus::Failed | RunStatus::Timeout)
    }
}

/// One error of a workflow run, as Orquesta reports them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunError {
    /// What went wrong.
    pub message: String,
    /// The task concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Its route, when the error is about a task on a route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<usize>,
    /// The task's result, when it failed with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The transition concerned, as Orquesta names it (`<first target>__t<index in next>`),
    /// when the error is in a transition's `when` or `publish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_transition_id: Option<String>,
}

/// A task (or command) run in the sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The task's (or command's) name.
    pub task: String,
    /// Its route.
    pub route: usize,
    /// How it stands.
    pub status: RunStatus,
    /// Its result (for with-items: the item results in item order).
    pub result: Option<Value>,
    ctx: usize,
    items: Option<Items>,
    /// Whether its failure was handled by a transition (or by a retry).
    handled: bool,
    /// Whether its end staged a task that may start (a transition to one, or a retry).
    led: bool,
    /// Whether its end staged a task while the run was failing (it starts only if the run
    /// is re-run).
    led_if_rerun: bool,
    /// Which retry this run is (0: the first run).
    pub retries: u32,
}

impl Entry {
    /// A run of `task` (or a command) on `route` with context `ctx`, as retry `retries`.
    fn new(task: &str, route: usize, status: RunStatus, ctx: usize, retries: u32) -> Entry {
        Entry {
            task: task.to_string(),
            route,
            status,
            result: None,
            ctx,
            items: None,
            handled: false,
            led: false,
            led_if_rerun: false,
            retries,
        }
    }

    /// `name`, or `name__rN` off route 0.
    pub fn label(&self) -> String {
        if self.route == 0 {
            self.task.clone()
        } else {
            format!("{}__r{}", self.task, self.route)
        }
    }
}

/// What to run for a ready task: the action and its rendered params (per item for
/// with-items).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRun {
    /// The task.
    pub task: String,
    /// Its route.
    pub route: usize,
    /// The action (`None`: a task with no action, which succeeds at once).
    pub action: Option<String>,
    /// Rendered params; for with-items, the params of each item started.
    pub params: Vec<Map<String, Value>>,
    /// For with-items: the index of the item of `params[0]` (`params[k]` is item
    /// `first_item + k`).
    pub first_item: Option<usize>,
    /// Seconds to wait before running the action: the task's `delay` on its first run, the
    /// retry delay on a retry.
    pub delay: Option<f64>,
}

/// One run of a workflow.
#[derive(Debug)]
pub struct Conductor {
    plan: Arc<Plan>,
    ctxs: Vec<Arc<Map<String, Value>>>,
    /// Per context: the keys published on its path since the start (what a join takes
    /// from each branch).
    published: Vec<Arc<BTreeSet<String>>>,
    routes: Vec<Vec<String>>,
    seq: Vec<Entry>,
    /// Entries running now (counted, so that a long run costs no rescans).
    running: usize,
    /// The entries of with-items tasks running now.
    items_active: Vec<usize>,
    staged: Vec<Staged>,
    failing: bool,
    /// The run failed before it began (its input or vars): its output is not rendered.
    no_output: bool,
    /// A `fail` command ran: the run ends failed.
    fail_requested: bool,
    /// A task was canceled: the run ends canceled.
    canceled: bool,
    errors: Vec<RunError>,
    output: Option<Map<String, Value>>,
    status: RunStatus,
    /// The keys `st2kv(…)` reads (when the plan uses it).
    kv: Arc<KvSnapshot>,
}

impl Conductor {
    /// Starts a run with `input`: renders the inputs' defaults and the vars (each seeing the
    /// earlier ones) and stages the start tasks. A missing required input or a rendering
    /// error fails the run at once.
    pub fn start(plan: Arc<Plan>, input: Map<String, Value>) -> Conductor {
        Self::start_with_kv(plan, input, KvSnapshot::new())
    }

    /// [`Conductor::start`] with the keys `st2kv(…)` reads (see [`Plan::uses_st2kv`]);
    /// [`Conductor::set_kv`] replaces them later.
    pub fn start_with_kv(plan: Arc<Plan>, input: Map<String, Value>, kv: KvSnapshot) -> Conductor {
        let mut c = Conductor {
            kv: Arc::new(kv),
            plan: plan.clone(),
            ctxs: Vec::new(),
            published: Vec::new(),
            routes: vec![Vec::new()],
            seq: Vec::new(),
            running: 0,
            items_active: Vec::new(),
            staged: Vec::new(),
            failing: false,
            no_output: false,
            fail_requested: false,
            canceled: false,
            errors: Vec::new(),
            output: None,
            status: RunStatus::Running,
        };
        let ctx = c.initial_context(input);
        c.ctxs.push(Arc::new(ctx));
        c.published.push(Arc::default());
        if !c.errors.is_empty() {
            // As in Orquesta, a run whose input or vars do not render has no output.
            c.failing = true;
            c.no_output = true;
        } else {
            for name in plan.wf.start_tasks() {
                c.stage(name, 0, 0, None);
            }
        }
        c.finish_if_done();
        c
    }

    /// The context a run starts with: the inputs (given, else their default rendered; a
    /// missing required input is an error of the run), the inputs the definition does not
    /// list, then the vars rendered in order.
    fn initial_context(&mut self, mut input: Map<String, Value>) -> Map<String, Value> {
        let plan = self.plan.clone();
        let mut ctx = Map::new();
        for (name, default) in &plan.input {
            let v = match (input.remove(name), default) {
                (Some(v), _) => Ok(v),
                (None, Some(d)) => self.render(d, &ctx, None),
                (None, None) => Err(Error::invalid(
                    format!("workflow input '{name}'"),
                    "it is required and was not given",
                )),
            };
            match v {
                Ok(v) => {
                    ctx.insert(name.clone(), v);
                }
                Err(e) => self.error(e.to_string(), None, None, None),
            }
        }
        // Inputs the definition does not list are kept (Orquesta passes them through).
        ctx.extend(input);
        for (name, v) in &plan.vars {
            match self.render(v, &ctx, None) {
                Ok(v) => {
                    ctx.insert(name.clone(), v);
                }
                Err(e) => self.error(e.to_string(), None, None, None),
            }
        }
        ctx
    }

    /// Records an error of the run.
    fn error(
        &mut self,
        message: String,
        task: Option<&str>,
        route: Option<usize>,
        result: Option<Value>,
    ) {
        self.errors.push(RunError {
            message,
            task_id: task.map(str::to_string),
            route,
            result,
            task_transition_id: None,
        });
    }

    /// The latest entry of `task` on `route` (NotFound when it never started).
    fn entry_of(&self, task: &str, route: usize) -> Result<usize> {
        self.entry_index(task, route)
            .ok_or_else(|| Error::not_found("running workflow task", task))
    }

    /// The latest entry of `task` on `route`, if it started.
    fn entry_index(&self, task: &str, route: usize) -> Option<usize> {
        self.seq
            .iter()
            .rposition(|e| e.task == task && e.route == route)
    }

    /// The tasks ready to start (or with items left to start), ordered as Orquesta orders
    /// them: by task name as a string, then route.
    pub fn next_tasks(&self) -> Vec<(String, usize)> {
        if self.status != RunStatus::Running {
            return Vec::new();
        }
        let mut out: Vec<(String, usize)> = self
            .staged
            .iter()
            .filter(|s| s.ready && !self.failing)
            .map(|s| (s.task.clone(), s.route))
            .collect();
        out.extend(self.items_to_start());
        out.sort();
        out.dedup();
        out
    }

    /// Replaces the keys `st2kv(…)` reads from now on.
    pub fn set_kv(&mut self, kv: KvSnapshot) {
        self.kv = Arc::new(kv);
    }

    /// The run's status (`Running` until it ends).
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The entries in the order they entered the run (commands included).
    pub fn sequence(&self) -> &[Entry] {
        &self.seq
    }

    /// The tasks that ended the run so far — the latest run of each task and route that
    /// ended without staging a task that could start (no transition to one fired, no retry;
    /// or the run was failing, so what it staged waits for a re-run) — as labels, sorted
    /// (Orquesta's terminal tasks).
    pub fn terminal_tasks(&self) -> Vec<String> {
        let mut latest: std::collections::BTreeMap<(&str, usize), &Entry> = Default::default();
        for e in &self.seq {
            if Command::parse(&e.task).is_none() {
                latest.insert((e.task.as_str(), e.route), e);
            }
        }
        let mut out: Vec<String> = latest
            .values()
            .filter(|e| e.status != RunStatus::Running && !e.led)
            .map(|e| e.label())
            .collect();
        out.sort();
        out
    }

    /// The routes: route 0 is `[]`; each other is the list of transition ids that split it.
    pub fn routes(&self) -> &[Vec<String>] {
        &self.routes
    }

    /// The errors so far.
    pub fn errors(&self) -> &[RunError] {
        &self.errors
    }

    /// The output, once the run ended (when the definition has one).
    pub fn output(&self) -> Option<&Map<String, Value>> {
        self.output.as_ref()
    }
}
