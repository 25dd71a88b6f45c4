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

use super::model::{Command, Join, Target, Workflow};
use crate::template::{CompiledValue, Templates};
use crate::{Error, Result};
use minijinja::Value as JValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
}

/// A workflow definition with its templates compiled, shared by its runs.
#[derive(Debug)]
pub struct Plan {
    wf: Workflow,
    templates: Templates,
    input: Vec<(String, Option<CompiledValue>)>,
    vars: Vec<(String, CompiledValue)>,
    output: Vec<(String, CompiledValue)>,
    tasks: HashMap<String, TaskPlan>,
    /// Commands that more than one transition leads to.
    command_splits: Vec<Command>,
    /// Whether any template calls `task(…)` (else its table of task results is not built).
    uses_task_fn: bool,
}

#[derive(Debug)]
struct TaskPlan {
    input: CompiledValue,
    items: Option<CompiledValue>,
    concurrency: Option<CompiledValue>,
    /// `retry.when`, compiled.
    retry_when: Option<CompiledValue>,
    /// Per transition: its condition, its publish entries, and its targets with the id of
    /// each edge (`<task>__t<K>`).
    next: Vec<TransitionPlan>,
    /// How many tasks lead here (join: all waits for each of them).
    inbound_tasks: usize,
    /// Whether more than one transition leads here and the task is in no cycle (a non-join
    /// task is then a split).
    split: bool,
}

#[derive(Debug)]
struct TransitionPlan {
    when: Option<CompiledValue>,
    publish: Vec<(String, CompiledValue)>,
    targets: Vec<(Target, String)>,
}

impl Plan {
    /// Compiles `wf` (check it first: [`Workflow::validate`]).
    pub fn new(wf: Workflow) -> Result<Arc<Plan>> {
        let templates = Templates::new();
        let c = |loc: &str, v: &Value| templates.compile(loc, v);
        let input = wf
            .input
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_ref()
                        .map(|v| c(&format!("input '{k}'"), v))
                        .transpose()?,
                ))
            })
            .collect::<Result<_>>()?;
        let vars = wf
            .vars
            .iter()
            .map(|(k, v)| Ok((k.clone(), c(&format!("var '{k}'"), v)?)))
            .collect::<Result<_>>()?;
        let output = wf
            .output
            .iter()
            .map(|(k, v)| Ok((k.clone(), c(&format!("output '{k}'"), v)?)))
            .collect::<Result<_>>()?;
        // Inbound transitions per target (tasks and commands), and their distinct sources.
        let mut inbound: HashMap<String, (usize, Vec<&str>)> = HashMap::new();
        for t in &wf.tasks {
            for tr in &t.next {
                let targets = implicit_targets(&tr.targets);
                for x in &targets {
                    let e = inbound.entry(target_name(x).to_string()).or_default();
                    e.0 += 1;
                    if !e.1.contains(&t.name.as_str()) {
                        e.1.push(&t.name);
                    }
                }
            }
        }
        // Tasks on a cycle are never splits: going round again is not a new path.
        let (g, _) = super::validate::graph(&wf);
        let cyclic: std::collections::HashSet<&str> = petgraph::algo::tarjan_scc(&g)
            .into_iter()
            .filter(|scc| scc.len() > 1 || g.contains_edge(scc[0], scc[0]))
            .flatten()
            .map(|n| g[n])
            .collect();
        let mut tasks = HashMap::new();
        for t in &wf.tasks {
            let loc = format!("task '{}'", t.name);
            let mut ordinals: HashMap<String, usize> = HashMap::new();
            let mut next = Vec::new();
            for (i, tr) in t.next.iter().enumerate() {
                let tl = format!("{loc} next[{i}]");
                let targets = implicit_targets(&tr.targets)
                    .into_iter()
                    .map(|x| {
                        let k = ordinals.entry(target_name(&x).to_string()).or_insert(0);
                        let id = format!("{}__t{k}", t.name);
                        *k += 1;
                        (x, id)
                    })
                    .collect();
                next.push(TransitionPlan {
                    when: tr
                        .when
                        .as_ref()
                        .map(|w| c(&format!("{tl} when"), &Value::String(w.clone())))
                        .transpose()?,
                    publish: tr
                        .publish
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), c(&format!("{tl} publish '{k}'"), v)?)))
                        .collect::<Result<_>>()?,
                    targets,
                });
            }
            let (edges, sources) = inbound.get(&t.name).cloned().unwrap_or_default();
            let split = edges > 1 && !cyclic.contains(t.name.as_str());
            tasks.insert(
                t.name.clone(),
                TaskPlan {
                    input: templates.compile_map(&format!("{loc} input"), &t.input)?,
                    items: t
                        .with
                        .as_ref()
                        .map(|w| {
                            c(
                                &format!("{loc} with items"),
                                &Value::String(w.items.clone()),
                            )
                        })
                        .transpose()?,
                    concurrency: t
                        .with
                        .as_ref()
                        .and_then(|w| w.concurrency.as_ref())
                        .map(|v| c(&format!("{loc} with concurrency"), v))
                        .transpose()?,
                    retry_when: t
                        .retry
                        .as_ref()
                        .and_then(|r| r.when.as_ref())
                        .map(|w| c(&format!("{loc} retry when"), &Value::String(w.clone())))
                        .transpose()?,
                    next,
                    inbound_tasks: sources.len(),
                    split,
                },
            );
        }
        let command_splits = inbound
            .iter()
            .filter(|(_, (edges, _))| *edges > 1)
            .filter_map(|(k, _)| Command::parse(k))
            .collect();
        let uses_task_fn = mentions(&wf, "task(");
        Ok(Arc::new(Plan {
            uses_task_fn,
            wf,
            templates,
            input,
            vars,
            output,
            tasks,
            command_splits,
        }))
    }

    /// The definition.
    pub fn workflow(&self) -> &Workflow {
        &self.wf
    }
}

/// Whether a template anywhere in `wf` contains `needle`.
fn mentions(wf: &Workflow, needle: &str) -> bool {
    let has = |v: &Value| crate::template::any_template(v, &|s| s.contains(needle));
    let text = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(needle));
    wf.input.iter().any(|(_, v)| v.as_ref().is_some_and(has))
        || wf.vars.iter().any(|(_, v)| has(v))
        || wf.output.iter().any(|(_, v)| has(v))
        || wf.tasks.iter().any(|t| {
            t.input.values().any(has)
                || t.with.as_ref().is_some_and(|w| w.items.contains(needle))
                || t.next
                    .iter()
                    .any(|tr| text(&tr.when) || tr.publish.iter().any(|(_, v)| has(v)))
        })
}

/// `do` targets, with the implicit `continue` of a transition that names none.
fn implicit_targets(targets: &[Target]) -> Vec<Target> {
    if targets.is_empty() {
        vec![Target::Command(Command::Continue)]
    } else {
        targets.to_vec()
    }
}

fn target_name(t: &Target) -> &str {
    match t {
        Target::Task(n) => n,
        Target::Command(c) => c.as_str(),
    }
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
    /// `name`, or `name__rN` off route 0.
    pub fn label(&self) -> String {
        if self.route == 0 {
            self.task.clone()
        } else {
            format!("{}__r{}", self.task, self.route)
        }
    }
}

/// The items of a with-items task. Counters, not scans: starting and ending an item costs
/// O(1) whatever the number of items.
#[derive(Clone, Debug, PartialEq)]
struct Items {
    values: Vec<Value>,
    concurrency: usize,
    /// Per item: `None` not ended (running when below `next`), else how it ended.
    ended: Vec<Option<RunStatus>>,
    results: Vec<Value>,
    /// Items below this one were started (items start in order).
    next: usize,
    running: usize,
    done: usize,
    failed: bool,
    /// The highest index that ended.
    last_done: Option<usize>,
}

impl Items {
    /// Whether more items may start now.
    fn can_start(&self) -> bool {
        !self.failed && self.next < self.values.len() && self.running < self.concurrency
    }
}

/// A task waiting to run (a join waiting for its inbound transitions).
#[derive(Clone, Debug)]
struct Staged {
    task: String,
    route: usize,
    /// Contexts arriving, in order.
    ctxs: Vec<usize>,
    /// Tasks whose transitions arrived (each once).
    arrived: Vec<String>,
    ready: bool,
    /// Which retry it is (0: not a retry).
    retry: u32,
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
    published: Vec<Arc<std::collections::BTreeSet<String>>>,
    routes: Vec<Vec<String>>,
    seq: Vec<Entry>,
    /// Entries running now (counted, so that a long run costs no rescans).
    running: usize,
    /// The entries of with-items tasks running now.
    items_active: Vec<usize>,
    staged: Vec<Staged>,
    failing: bool,
    /// A `fail` command ran: the run ends failed.
    fail_requested: bool,
    /// A task was canceled: the run ends canceled.
    canceled: bool,
    errors: Vec<RunError>,
    output: Option<Map<String, Value>>,
    status: RunStatus,
}

impl Conductor {
    /// Starts a run with `input`: renders the inputs' defaults and the vars (each seeing the
    /// earlier ones) and stages the start tasks. A missing required input or a rendering
    /// error fails the run at once.
    pub fn start(plan: Arc<Plan>, mut input: Map<String, Value>) -> Conductor {
        let mut c = Conductor {
            plan: plan.clone(),
            ctxs: Vec::new(),
            published: Vec::new(),
            routes: vec![Vec::new()],
            seq: Vec::new(),
            running: 0,
            items_active: Vec::new(),
            staged: Vec::new(),
            failing: false,
            fail_requested: false,
            canceled: false,
            errors: Vec::new(),
            output: None,
            status: RunStatus::Running,
        };
        let mut ctx = Map::new();
        for (name, default) in &plan.input {
            let v = match (input.remove(name), default) {
                (Some(v), _) => Ok(v),
                (None, Some(d)) => c.render(d, &ctx, None),
                (None, None) => Err(Error::invalid(
                    format!("workflow input '{name}'"),
                    "it is required and was not given",
                )),
            };
            match v {
                Ok(v) => {
                    ctx.insert(name.clone(), v);
                }
                Err(e) => c.error(e.to_string(), None, None, None),
            }
        }
        // Inputs the definition does not list are kept (Orquesta passes them through).
        ctx.extend(input);
        for (name, v) in &plan.vars {
            match c.render(v, &ctx, None) {
                Ok(v) => {
                    ctx.insert(name.clone(), v);
                }
                Err(e) => c.error(e.to_string(), None, None, None),
            }
        }
        c.ctxs.push(Arc::new(ctx));
        c.published.push(Arc::default());
        if !c.errors.is_empty() {
            c.failing = true;
            c.finish_if_done();
            return c;
        }
        for name in plan.wf.start_tasks() {
            c.stage(name, 0, 0, None);
        }
        c.finish_if_done();
        c
    }

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
        });
    }

    /// The template context: `ctx()`, and for a task its status and result, the item.
    fn jctx(
        &self,
        ctx: &Arc<Map<String, Value>>,
        task: Option<(&Entry, Option<(usize, &Value)>)>,
    ) -> JValue {
        let c = ctx.clone();
        let ctx_fn = JValue::from_function(
            move |key: Option<String>| -> std::result::Result<JValue, minijinja::Error> {
                match key {
                    None => Ok(crate::template::to_jinja(&*c)),
                    Some(k) => match c.get(&k) {
                        Some(v) => Ok(crate::template::to_jinja(v)),
                        None => Err(minijinja::Error::new(
                            minijinja::ErrorKind::UndefinedError,
                            format!("the variable \"{k}\" is undefined"),
                        )),
                    },
                }
            },
        );
        let mut m: BTreeMap<&str, JValue> = BTreeMap::new();
        m.insert("ctx", ctx_fn);
        let status = task.map(|(e, _)| e.status);
        let flag = |ok: bool| {
            JValue::from_function(move || -> std::result::Result<bool, minijinja::Error> { Ok(ok) })
        };
        m.insert("succeeded", flag(status == Some(RunStatus::Succeeded)));
        m.insert("failed", flag(status.is_some_and(RunStatus::is_failure)));
        m.insert("timed_out", flag(status == Some(RunStatus::Timeout)));
        m.insert(
            "completed",
            flag(status.is_some_and(|s| s != RunStatus::Running)),
        );
        let result = task
            .and_then(|(e, _)| e.result.clone())
            .unwrap_or(Value::Null);
        let result = crate::template::to_jinja(&result);
        m.insert(
            "result",
            JValue::from_function(move || -> std::result::Result<JValue, minijinja::Error> {
                Ok(result.clone())
            }),
        );
        if let Some((_, Some((index, item)))) = task {
            let item = crate::template::to_jinja(item);
            m.insert(
                "item",
                JValue::from_function(
                    move |_name: Option<String>| -> std::result::Result<JValue, minijinja::Error> {
                        Ok(item.clone())
                    },
                ),
            );
            m.insert(
                "index",
                JValue::from_function(move || -> std::result::Result<usize, minijinja::Error> {
                    Ok(index)
                }),
            );
        }
        if !self.plan.uses_task_fn {
            return JValue::from(m);
        }
        let tasks: BTreeMap<String, Value> = self
            .seq
            .iter()
            .map(|e| {
                (
                    e.task.clone(),
                    serde_json::json!({"status": e.status, "result": e.result}),
                )
            })
            .collect();
        let tasks = Arc::new(tasks);
        m.insert(
            "task",
            JValue::from_function(
                move |name: String| -> std::result::Result<JValue, minijinja::Error> {
                    tasks
                        .get(&name)
                        .map(crate::template::to_jinja)
                        .ok_or_else(|| {
                            minijinja::Error::new(
                                minijinja::ErrorKind::UndefinedError,
                                format!("task '{name}' has not run"),
                            )
                        })
                },
            ),
        );
        JValue::from(m)
    }

    fn render(
        &self,
        v: &CompiledValue,
        ctx: &Map<String, Value>,
        task: Option<(&Entry, Option<(usize, &Value)>)>,
    ) -> Result<Value> {
        let jctx = self.jctx(&Arc::new(ctx.clone()), task);
        self.plan.templates.render(v, &jctx)
    }

    fn render_in(
        &self,
        v: &CompiledValue,
        ctx: usize,
        task: Option<(&Entry, Option<(usize, &Value)>)>,
    ) -> Result<Value> {
        let jctx = self.jctx(&self.ctxs[ctx], task);
        self.plan.templates.render(v, &jctx)
    }

    /// Stages `task` on `route` with context `ctx`, arriving from task `from`.
    fn stage(&mut self, task: &str, route: usize, ctx: usize, from: Option<&str>) {
        let join = self.plan.wf.get(task).and_then(|t| t.join);
        let existing = self
            .staged
            .iter_mut()
            .find(|s| s.task == task && s.route == route && join.is_some());
        match existing {
            Some(s) => {
                s.ctxs.push(ctx);
                if let Some(f) = from
                    && !s.arrived.iter().any(|a| a == f)
                {
                    s.arrived.push(f.to_string());
                }
            }
            None => self.staged.push(Staged {
                task: task.to_string(),
                route,
                ctxs: vec![ctx],
                arrived: from.map(str::to_string).into_iter().collect(),
                ready: false,
                retry: 0,
            }),
        }
        let needed = match join {
            None => 1,
            Some(Join::All) => self.plan.tasks[task].inbound_tasks,
            Some(Join::Count(n)) => n as usize,
        };
        for s in &mut self.staged {
            if s.task == task && s.route == route && (join.is_none() || s.arrived.len() >= needed) {
                s.ready = true;
            }
        }
    }

    /// The route a target reached through `edge` from a task on `route` runs on.
    fn route_for(&mut self, target: &Target, route: usize, edge: &str) -> usize {
        let split = match target {
            Target::Task(n) => {
                self.plan.wf.get(n).is_some_and(|t| t.join.is_none())
                    && self.plan.tasks[n.as_str()].split
            }
            Target::Command(c) => self.plan.command_splits.contains(c),
        };
        if !split {
            return route;
        }
        let mut r = self.routes[route].clone();
        r.push(edge.to_string());
        match self.routes.iter().position(|x| *x == r) {
            Some(i) => i,
            None => {
                self.routes.push(r);
                self.routes.len() - 1
            }
        }
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
        for e in self.items_active.iter().map(|i| &self.seq[*i]) {
            if let Some(items) = &e.items
                && e.status == RunStatus::Running
                && items.can_start()
            {
                out.push((e.task.clone(), e.route));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether a failed run of a task is to be retried: retries are left, and `retry.when`
    /// holds (default: it failed). A `when` that does not render is an error of the run,
    /// and no retry.
    fn retry_due(&mut self, entry: &Entry, tp: &TaskPlan) -> bool {
        let Some(retry) = self.plan.wf.get(&entry.task).and_then(|t| t.retry.clone()) else {
            return false;
        };
        if entry.retries >= retry.count || self.failing {
            return false;
        }
        match &tp.retry_when {
            None => true,
            Some(w) => match self.render_in(w, entry.ctx, Some((entry, None))) {
                Ok(v) => truthy(&v),
                Err(e) => {
                    self.error(e.to_string(), Some(&entry.task), None, None);
                    false
                }
            },
        }
    }

    /// A task whose start could not be prepared (its items or params did not render) enters
    /// the sequence and ends failed with `why` as its result.
    fn fail_start(&mut self, entry: Entry, why: String) -> Result<()> {
        let (task, route) = (entry.task.clone(), entry.route);
        self.enter(entry);
        self.finish_task(&task, route, RunStatus::Failed, Some(Value::String(why)))
    }

    /// A task run enters the sequence, running.
    fn enter(&mut self, entry: Entry) {
        debug_assert_eq!(entry.status, RunStatus::Running);
        if entry.items.is_some() {
            self.items_active.push(self.seq.len());
        }
        self.running += 1;
        self.seq.push(entry);
    }

    /// The latest entry of `task` on `route` (NotFound when it never started).
    fn entry_of(&self, task: &str, route: usize) -> Result<usize> {
        self.entry_index(task, route)
            .ok_or_else(|| Error::not_found("running workflow task", task))
    }

    fn entry_index(&self, task: &str, route: usize) -> Option<usize> {
        self.seq
            .iter()
            .rposition(|e| e.task == task && e.route == route)
    }

    /// Starts a ready task: it enters the sequence, and its action's params are rendered
    /// (for with-items, the items too). For a with-items task already running, starts its
    /// next items (up to its concurrency) and returns their params. An error rendering
    /// them fails the task.
    pub fn start_task(&mut self, task: &str, route: usize) -> Result<TaskRun> {
        let def = self
            .plan
            .wf
            .get(task)
            .ok_or_else(|| Error::not_found("workflow task", task))?
            .clone();
        let tp = &self.plan.tasks[task];
        if let Some(i) = self.entry_index(task, route)
            && self.seq[i].items.is_some()
            && self.seq[i].status == RunStatus::Running
        {
            return self.start_items(i, &def.action);
        }
        let pos = self
            .staged
            .iter()
            .position(|s| s.task == task && s.route == route && s.ready)
            .ok_or_else(|| {
                Error::Conflict(format!("task '{task}' (route {route}) is not ready"))
            })?;
        let staged = self.staged.remove(pos);
        let ctx = if staged.ctxs.len() == 1 {
            staged.ctxs[0]
        } else {
            // A join merges its inbound paths: the first one's context, then what each
            // other path published, in arrival order.
            let first = staged.ctxs[0];
            let mut merged = (*self.ctxs[first]).clone();
            let mut keys = (*self.published[first]).clone();
            for c in &staged.ctxs[1..] {
                for k in self.published[*c].iter() {
                    if let Some(v) = self.ctxs[*c].get(k) {
                        merged.insert(k.clone(), v.clone());
                    }
                    keys.insert(k.clone());
                }
            }
            self.ctxs.push(Arc::new(merged));
            self.published.push(Arc::new(keys));
            self.ctxs.len() - 1
        };
        let mut entry = Entry {
            task: task.to_string(),
            route,
            status: RunStatus::Running,
            result: None,
            ctx,
            items: None,
            handled: false,
            led: false,
            led_if_rerun: false,
            retries: staged.retry,
        };
        // A first run waits the task's `delay`; a retry, the retry's delay.
        let delay = match (&def.retry, staged.retry) {
            (Some(r), n) if n > 0 => Some(r.delay_before(n)),
            _ => def.delay,
        }
        .filter(|d| *d > 0.0);
        if let Some(items_tpl) = &tp.items {
            let values = match self.render_in(items_tpl, ctx, None) {
                Ok(Value::Array(v)) => v,
                Ok(other) => {
                    let msg = format!("task '{task}' with items: expected a list, got {other}");
                    self.fail_start(entry, msg.clone())?;
                    return Err(Error::invalid(format!("task '{task}'"), msg));
                }
                Err(e) => {
                    self.fail_start(entry, e.to_string())?;
                    return Err(e);
                }
            };
            let concurrency = match &tp.concurrency {
                Some(c) => self
                    .render_in(c, ctx, None)?
                    .as_u64()
                    .map_or(values.len(), |n| n as usize),
                None => values.len(),
            }
            .max(1);
            let n = values.len();
            entry.items = Some(Items {
                values,
                concurrency,
                ended: vec![None; n],
                results: vec![Value::Null; n],
                next: 0,
                running: 0,
                done: 0,
                failed: false,
                last_done: None,
            });
            self.enter(entry);
            let i = self.seq.len() - 1;
            if n == 0 {
                self.finish_task(
                    task,
                    route,
                    RunStatus::Succeeded,
                    Some(Value::Array(Vec::new())),
                )?;
                return Ok(TaskRun {
                    task: task.to_string(),
                    route,
                    action: def.action.clone(),
                    params: Vec::new(),
                    first_item: Some(0),
                    delay: None,
                });
            }
            let mut run = self.start_items(i, &def.action)?;
            run.delay = delay;
            return Ok(run);
        }
        let params = match self.render_in(&tp.input, ctx, None) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => {
                self.fail_start(entry, e.to_string())?;
                return Err(e);
            }
        };
        self.enter(entry);
        Ok(TaskRun {
            task: task.to_string(),
            route,
            action: def.action.clone(),
            params: vec![params],
            first_item: None,
            delay,
        })
    }

    fn start_items(&mut self, i: usize, action: &Option<String>) -> Result<TaskRun> {
        let (task, route, ctx) = (self.seq[i].task.clone(), self.seq[i].route, self.seq[i].ctx);
        let items = self.seq[i].items.as_ref().expect("a with-items task");
        let (from, count) = if items.can_start() {
            let room = items.concurrency - items.running;
            (items.next, room.min(items.values.len() - items.next))
        } else {
            (items.next, 0)
        };
        let tp = &self.plan.tasks[task.as_str()];
        let mut params = Vec::with_capacity(count);
        for idx in from..from + count {
            let item = &items.values[idx];
            let v = self.render_in(&tp.input, ctx, Some((&self.seq[i], Some((idx, item)))))?;
            params.push(match v {
                Value::Object(m) => m,
                _ => Map::new(),
            });
        }
        if let Some(it) = &mut self.seq[i].items {
            it.next += count;
            it.running += count;
        }
        Ok(TaskRun {
            task,
            route,
            action: action.clone(),
            params,
            first_item: Some(from),
            delay: None,
        })
    }

    /// The items of a with-items task started and not ended, in item order.
    pub fn running_items(&self, task: &str, route: usize) -> Vec<usize> {
        self.entry_index(task, route)
            .and_then(|i| self.seq[i].items.as_ref())
            .map(|it| (0..it.next).filter(|i| it.ended[*i].is_none()).collect())
            .unwrap_or_default()
    }

    /// Reports how item `index` of a with-items task ended. When the last item ends, or an
    /// item fails, the task ends (failed if an item failed; items still running are left
    /// to the caller to cancel), with the item results in item order as its result (after
    /// a failure, those of the items processed so far). An item that is not running is an
    /// error.
    pub fn finish_item(
        &mut self,
        task: &str,
        route: usize,
        index: usize,
        status: RunStatus,
        result: Option<Value>,
    ) -> Result<()> {
        let i = self.entry_of(task, route)?;
        if self.seq[i].status != RunStatus::Running {
            return Err(Error::Conflict(format!("task '{task}' has ended")));
        }
        let Some(items) = &mut self.seq[i].items else {
            return Err(Error::invalid(format!("task '{task}'"), "it has no items"));
        };
        if index >= items.next || items.ended[index].is_some() {
            return Err(Error::invalid(
                format!("task '{task}'"),
                format!("its item {index} is not running"),
            ));
        }
        items.ended[index] = Some(status);
        items.running -= 1;
        items.done += 1;
        items.last_done = Some(items.last_done.map_or(index, |l| l.max(index)));
        if status == RunStatus::Canceled {
            // A canceled item cancels its task (and so the run).
            items.failed = true;
            let mut results = std::mem::take(&mut items.results);
            results.truncate(items.last_done.map_or(0, |l| l + 1));
            return self.finish_task(task, route, status, Some(Value::Array(results)));
        }
        if status.is_failure() {
            items.failed = true;
        } else {
            items.results[index] = result.unwrap_or(Value::Null);
        }
        let all_done = items.done == items.values.len();
        if all_done || items.failed {
            // After a failure, the results of the items processed so far.
            let kept = if all_done {
                items.results.len()
            } else {
                items.last_done.map_or(0, |l| l + 1)
            };
            let mut results = std::mem::take(&mut items.results);
            results.truncate(kept);
            let st = if items.failed {
                RunStatus::Failed
            } else {
                RunStatus::Succeeded
            };
            self.finish_task(task, route, st, Some(Value::Array(results)))?;
        }
        Ok(())
    }

    /// Reports how a task ended: evaluates its transitions, publishes, stages what follows.
    pub fn finish_task(
        &mut self,
        task: &str,
        route: usize,
        status: RunStatus,
        result: Option<Value>,
    ) -> Result<()> {
        let i = self.entry_of(task, route)?;
        if self.seq[i].status == RunStatus::Running {
            self.running -= 1;
            self.items_active.retain(|x| *x != i);
        }
        self.seq[i].status = status;
        self.seq[i].result = result;
        let entry = self.seq[i].clone();
        let plan = self.plan.clone();
        let tp = &plan.tasks[task];
        if status == RunStatus::Canceled {
            // A canceled task cancels the run: nothing new starts, no transition fires.
            self.canceled = true;
            self.failing = true;
            self.finish_if_done();
            return Ok(());
        }
        if status.is_failure() && self.retry_due(&entry, tp) {
            // Run it again (after the retry delay) instead of following its transitions.
            self.seq[i].handled = true;
            self.seq[i].led = true;
            self.staged.push(Staged {
                task: task.to_string(),
                route,
                ctxs: vec![entry.ctx],
                arrived: Vec::new(),
                ready: true,
                retry: entry.retries + 1,
            });
            self.finish_if_done();
            return Ok(());
        }
        let mut handled = false;
        for tr in &tp.next {
            let holds = match &tr.when {
                None => Ok(Value::Bool(true)),
                Some(w) => self.render_in(w, entry.ctx, Some((&entry, None))),
            };
            let holds = match holds {
                Ok(v) => truthy(&v),
                Err(e) => {
                    self.error(e.to_string(), Some(task), None, None);
                    self.failing = true;
                    continue;
                }
            };
            if !holds {
                continue;
            }
            // Publish into a new context, each entry seeing the earlier ones.
            let mut ctx = entry.ctx;
            if !tr.publish.is_empty() {
                let mut m = (*self.ctxs[entry.ctx]).clone();
                let mut keys = (*self.published[entry.ctx]).clone();
                keys.extend(tr.publish.iter().map(|(k, _)| k.clone()));
                for (k, v) in &tr.publish {
                    match self.render(v, &m, Some((&entry, None))) {
                        Ok(v) => {
                            m.insert(k.clone(), v);
                        }
                        Err(e) => {
                            self.error(e.to_string(), Some(task), None, None);
                            self.failing = true;
                        }
                    }
                }
                self.ctxs.push(Arc::new(m));
                self.published.push(Arc::new(keys));
                ctx = self.ctxs.len() - 1;
            }
            for (target, edge) in &tr.targets {
                let r = self.route_for(target, route, edge);
                match target {
                    Target::Task(n) => {
                        handled = true;
                        if self.failing {
                            self.seq[i].led_if_rerun = true;
                        } else {
                            self.seq[i].led = true;
                        }
                        // Staged even while failing: it does not start, but a re-run
                        // continues from it.
                        self.stage(n, r, ctx, Some(task));
                    }
                    Target::Command(c) => {
                        if *c == Command::Noop {
                            handled = true;
                        }
                        self.seq.push(Entry {
                            task: c.as_str().to_string(),
                            route: r,
                            status: RunStatus::Succeeded,
                            result: None,
                            ctx,
                            items: None,
                            handled: false,
                            led: false,
                            led_if_rerun: false,
                            retries: 0,
                        });
                        if *c == Command::Fail {
                            // The workflow ends failed; what this transition staged still runs.
                            self.fail_requested = true;
                            self.error(
                                "Execution failed. See result for details.".into(),
                                Some("fail"),
                                None,
                                None,
                            );
                        }
                    }
                }
            }
        }
        if status.is_failure() {
            let r = self.seq[i].result.clone();
            self.error(
                "Execution failed. See result for details.".into(),
                Some(task),
                None,
                r.filter(|v| !v.is_null() && !v.is_array()),
            );
            self.seq[i].handled = handled;
            if !handled {
                // Fail-fast: nothing new starts; what runs finishes.
                self.failing = true;
            }
        }
        self.finish_if_done();
        Ok(())
    }

    /// Ends the run when nothing is running and nothing can start.
    fn finish_if_done(&mut self) {
        if self.status != RunStatus::Running {
            return;
        }
        let running = self.running > 0;
        let ready = !self.failing && self.staged.iter().any(|s| s.ready);
        if running || ready {
            return;
        }
        // Joins left waiting with some arrivals can never run.
        let waiting: Vec<(String, usize, usize)> = self
            .staged
            .iter()
            .filter(|s| !s.ready && !s.arrived.is_empty())
            .map(|s| (s.task.clone(), s.route, s.arrived.len()))
            .collect();
        if !self.failing {
            for (task, route, _) in &waiting {
                self.error(
                    format!("UnreachableJoinError: The join task|route \"{task}|{route}\" is partially satisfied but unreachable."),
                    Some(task),
                    Some(*route),
                    None,
                );
                self.failing = true;
            }
        }
        let unhandled = self.seq.iter().any(|e| e.status.is_failure() && !e.handled);
        let failed = self.failing || self.fail_requested || unhandled;
        // The output is rendered also when the run failed.
        let final_ctx = self.final_context();
        let mut out = Map::new();
        let mut ctx = (*final_ctx).clone();
        let mut errors = Vec::new();
        for (k, v) in &self.plan.output {
            match self.render(v, &ctx, None) {
                Ok(v) => {
                    ctx.insert(k.clone(), v.clone());
                    out.insert(k.clone(), v);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        for e in errors {
            self.error(e, None, None, None);
        }
        let output_failed = !self.plan.output.is_empty() && out.len() < self.plan.output.len();
        self.output = (!self.plan.output.is_empty()).then_some(out);
        self.status = if self.canceled {
            RunStatus::Canceled
        } else if failed || output_failed {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
    }

    /// The context the output sees: the initial one with everything published laid over
    /// it, in the order it was published.
    fn final_context(&self) -> Arc<Map<String, Value>> {
        let mut merged = (*self.ctxs[0]).clone();
        for (c, keys) in self.ctxs.iter().zip(&self.published).skip(1) {
            for k in keys.iter() {
                if let Some(v) = c.get(k) {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        Arc::new(merged)
    }

    /// Re-runs an ended run from its failed tasks — `tasks` as `(name, route)`, or every
    /// failed task no transition handled — keeping the context each had and what the rest
    /// of the run published; tasks that were staged when the run stopped scheduling start
    /// too. Errors: the run is still running, a named task has no failed run, or nothing
    /// failed.
    pub fn rerun(&mut self, tasks: Option<&[(String, usize)]>) -> Result<()> {
        if self.status == RunStatus::Running {
            return Err(Error::Conflict("the workflow run is still running".into()));
        }
        let failed = |e: &Entry| e.status.is_failure() && Command::parse(&e.task).is_none();
        let picked: Vec<usize> = match tasks {
            None => (0..self.seq.len())
                .filter(|i| failed(&self.seq[*i]) && !self.seq[*i].handled)
                .collect(),
            Some(list) => {
                let mut out = Vec::new();
                for (name, route) in list {
                    let i = self
                        .seq
                        .iter()
                        .rposition(|e| e.task == *name && e.route == *route && failed(e))
                        .ok_or_else(|| {
                            Error::invalid(
                                format!("re-run of task '{name}' (route {route})"),
                                "it has no failed run in this workflow run",
                            )
                        })?;
                    out.push(i);
                }
                out
            }
        };
        if picked.is_empty() {
            return Err(Error::invalid(
                "re-run of the workflow run",
                "no task failed in it (a run that failed before any task, e.g. on its input, \
                 is started again instead)",
            ));
        }
        let names: Vec<String> = picked.iter().map(|i| self.seq[*i].task.clone()).collect();
        // What was staged while the run failed starts now.
        for e in &mut self.seq {
            if e.led_if_rerun {
                e.led = true;
            }
        }
        for i in &picked {
            let e = &mut self.seq[*i];
            // Superseded by the re-run: no longer an unhandled failure.
            e.handled = true;
            self.staged.push(Staged {
                task: e.task.clone(),
                route: e.route,
                ctxs: vec![e.ctx],
                arrived: Vec::new(),
                ready: true,
                retry: 0,
            });
        }
        self.errors.retain(|e| {
            e.task_id.as_ref().is_some_and(|t| !names.contains(t))
                && !e.message.starts_with("UnreachableJoinError")
        });
        self.failing = false;
        self.fail_requested = false;
        self.output = None;
        self.status = RunStatus::Running;
        self.finish_if_done();
        Ok(())
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

/// Jinja truthiness of a rendered condition.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty() && s != "False" && s != "false",
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}
