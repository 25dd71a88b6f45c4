//! The workflow definition: what a workflow file (or Rust code) says, checked by
//! [`Workflow::validate`](super::Workflow::validate).

use serde_json::Value;

/// A workflow: an Orquesta-like task graph.
///
/// Build one in code or read one with [`parse`](super::parse):
///
/// ```
/// use attune_core::workflow::{Task, Transition, Workflow};
/// use serde_json::json;
///
/// let wf = Workflow::new()
///     .input("host", None)
///     .task(Task::new("check").action("core.noop").next(Transition::on_success().to("notify")))
///     .task(Task::new("notify").action("core.echo").param("message", json!("{{ ctx('host') }} ok")))
///     .output("host", json!("{{ ctx('host') }}"));
/// assert!(wf.validate().is_ok());
/// assert_eq!(wf.start_tasks(), vec!["check"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workflow {
    /// `version` as written (informative).
    pub version: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Inputs, in order: a name and its default (a value or a template over earlier inputs);
    /// no default means the input is required.
    pub input: Vec<(String, Option<Value>)>,
    /// Variables, in order, rendered after the inputs (later ones may use earlier ones).
    pub vars: Vec<(String, Value)>,
    /// The tasks, in the order written.
    pub tasks: Vec<Task>,
    /// Output values, rendered in order when the workflow ends.
    pub output: Vec<(String, Value)>,
}

impl Workflow {
    /// An empty workflow.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an input (`default` None: required).
    pub fn input(mut self, name: impl Into<String>, default: Option<Value>) -> Self {
        self.input.push((name.into(), default));
        self
    }

    /// Adds a variable.
    pub fn var(mut self, name: impl Into<String>, value: Value) -> Self {
        self.vars.push((name.into(), value));
        self
    }

    /// Adds a task.
    pub fn task(mut self, task: Task) -> Self {
        self.tasks.push(task);
        self
    }

    /// Adds an output value.
    pub fn output(mut self, name: impl Into<String>, value: Value) -> Self {
        self.output.push((name.into(), value));
        self
    }

    /// The task named `name`.
    pub fn get(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The tasks no transition leads to, in the order written: where a run starts.
    pub fn start_tasks(&self) -> Vec<&str> {
        self.tasks
            .iter()
            .filter(|t| !self.tasks.iter().any(|s| s.targets().any(|n| n == t.name)))
            .map(|t| t.name.as_str())
            .collect()
    }
}

/// One task: an action run (or a no-op when there is none) and where to go after it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Task {
    /// Its name, unique in the workflow.
    pub name: String,
    /// The action's ref; `None` for a task that only transitions.
    pub action: Option<String>,
    /// The action's params (values may be templates); `key=value` pairs written after the
    /// action ref in a file land here too.
    pub input: serde_json::Map<String, Value>,
    /// Transitions, evaluated in order when the task ends; each that matches fires.
    pub next: Vec<Transition>,
    /// Wait for inbound transitions before running (else: one run per arrival).
    pub join: Option<Join>,
    /// Run once per item.
    pub with: Option<WithItems>,
    /// Run again when it fails (or when `retry.when` holds).
    pub retry: Option<Retry>,
    /// Seconds the action may run (its execution's timeout).
    pub timeout: Option<f64>,
    /// Seconds to wait before running.
    pub delay: Option<f64>,
    /// A template (Jinja or YAQL) giving the seconds to wait, rendered when the task starts
    /// (`delay: <% ctx(delay) %>`), instead of a fixed `delay`. A value that is not a number
    /// of 0 or more fails the task, naming it.
    pub delay_expr: Option<String>,
}

impl Task {
    /// A task named `name`, with no action yet.
    pub fn new(name: impl Into<String>) -> Self {
        Task {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the action.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets one param of the action.
    pub fn param(mut self, name: impl Into<String>, value: Value) -> Self {
        self.input.insert(name.into(), value);
        self
    }

    /// Adds a transition.
    pub fn next(mut self, t: Transition) -> Self {
        self.next.push(t);
        self
    }

    /// Sets the join.
    pub fn join(mut self, join: Join) -> Self {
        self.join = Some(join);
        self
    }

    /// Runs the task once per item of `items` (a template), `concurrency` at a time.
    pub fn with_items(mut self, items: impl Into<String>, concurrency: Option<u32>) -> Self {
        self.with = Some(WithItems {
            items: items.into(),
            name: None,
            concurrency: concurrency.map(Value::from),
        });
        self
    }

    /// Sets the retry.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The names of the tasks its transitions lead to (commands left out), in order.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.next.iter().flat_map(|t| {
            t.targets.iter().filter_map(|x| match x {
                Target::Task(n) => Some(n.as_str()),
                Target::Command(_) => None,
            })
        })
    }
}

/// Waiting for inbound transitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Every inbound transition.
    All,
    /// This many of them.
    Count(u32),
}

/// Running a task once per item.
#[derive(Clone, Debug, PartialEq)]
pub struct WithItems {
    /// The template giving the list of items.
    pub items: String,
    /// The name items have in templates (`x in {{ ... }}`: `item('x')`); `item()` always works.
    pub name: Option<String>,
    /// How many items run at once (a number, or a template giving one); all when absent.
    pub concurrency: Option<Value>,
}

/// Running a failed task again.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    /// Retry only when this holds (a template); default: when the task failed.
    pub when: Option<String>,
    /// Retries at most.
    pub count: u32,
    /// Seconds before the first retry.
    pub delay: f64,
    /// How the delay grows.
    pub backoff: Backoff,
    /// The delay never exceeds this many seconds.
    pub max_delay: Option<f64>,
}

impl Retry {
    /// `count` retries, no delay.
    pub fn times(count: u32) -> Self {
        Retry {
            when: None,
            count,
            delay: 0.0,
            backoff: Backoff::Constant,
            max_delay: None,
        }
    }

    /// The delay before retry `n` (from 1), in seconds.
    pub fn delay_before(&self, n: u32) -> f64 {
        let n = f64::from(n.max(1));
        let d = match self.backoff {
            Backoff::Constant => self.delay,
            Backoff::Linear => self.delay * n,
            Backoff::Exponential => self.delay * 2f64.powf(n - 1.0),
        };
        match self.max_delay {
            Some(m) => d.min(m),
            None => d,
        }
    }
}

/// How a retry delay grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// The same delay each time.
    Constant,
    /// `delay × n` before retry n.
    Linear,
    /// `delay × 2^(n-1)` before retry n.
    Exponential,
}

impl Backoff {
    /// Its name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Constant => "constant",
            Backoff::Linear => "linear",
            Backoff::Exponential => "exponential",
        }
    }
}

/// What a transition does when it fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Run this task.
    Task(String),
    /// An engine command.
    Command(Command),
}

/// Engine commands a transition may name instead of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Fail the workflow.
    Fail,
    /// Do nothing (the failure is handled; nothing follows).
    Noop,
    /// Go on as if the task had succeeded (nothing follows from this transition).
    Continue,
}

impl Command {
    /// The command named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Command> {
        match s {
            "fail" => Some(Command::Fail),
            "noop" => Some(Command::Noop),
            "continue" => Some(Command::Continue),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Fail => "fail",
            Command::Noop => "noop",
            Command::Continue => "continue",
        }
    }
}

/// One entry of a task's `next`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transition {
    /// Fires when this template is true (absent: always).
    pub when: Option<String>,
    /// Values published into the workflow context when it fires, in order.
    pub publish: Vec<(String, Value)>,
    /// Tasks to run, or commands.
    pub targets: Vec<Target>,
}

impl Transition {
    /// A transition that always fires.
    pub fn always() -> Self {
        Self::default()
    }

    /// Fires when the task succeeded (`on_success`).
    pub fn on_success() -> Self {
        Self::when("{{ succeeded() }}")
    }

    /// Fires when the task failed (`on_failure`).
    pub fn on_failure() -> Self {
        Self::when("{{ failed() }}")
    }

    /// Fires when the task timed out (`on_timeout`).
    pub fn on_timeout() -> Self {
        Self::when("{{ timed_out() }}")
    }

    /// Fires when `when` (a template) is true.
    pub fn when(when: impl Into<String>) -> Self {
        Transition {
            when: Some(when.into()),
            ..Self::default()
        }
    }

    /// Runs `task` when it fires.
    pub fn to(mut self, task: impl Into<String>) -> Self {
        self.targets.push(Target::Task(task.into()));
        self
    }

    /// Runs an engine command when it fires.
    pub fn command(mut self, c: Command) -> Self {
        self.targets.push(Target::Command(c));
        self
    }

    /// Publishes `name` when it fires.
    pub fn publish(mut self, name: impl Into<String>, value: Value) -> Self {
        self.publish.push((name.into(), value));
        self
    }
}
