//! Starting a task: it leaves the staged list, gets its context (a join's merged), enters
//! the sequence running, and its action's params are rendered (per item for with-items).

use super::{Conductor, Entry, RunStatus, TaskRun};
use crate::workflow::model::Task;
use crate::{Error, Result};
use serde_json::{Map, Value};

impl Conductor {
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
        if let Some(i) = self.running_with_items(task, route) {
            return self.start_items(i, &def.action);
        }
        let staged = self.take_ready(task, route)?;
        let ctx = self.arrival_context(&staged);
        let entry = Entry::new(task, route, RunStatus::Running, ctx, staged.retry);
        let mut delay = delay_of(&def, staged.retry);
        if let (Some(d), 0) = (&self.plan.tasks[task].delay, staged.retry) {
            // A templated delay, rendered in the task's context.
            match self.render_in(d, entry.ctx, Some((&entry, None))) {
                Ok(v) => match v.as_f64().filter(|s| s.is_finite() && *s >= 0.0) {
                    Some(s) => delay = Some(s).filter(|s| *s > 0.0),
                    None => {
                        let why = format!(
                            "task '{task}' delay: must be a number of 0 or more seconds, got {v}"
                        );
                        self.fail_start(entry, why.clone())?;
                        return Err(Error::invalid(format!("task '{task}' delay"), why));
                    }
                },
                Err(e) => {
                    self.fail_start(entry, e.to_string())?;
                    return Err(e);
                }
            }
        }
        if self.plan.tasks[task].items.is_some() {
            return self.start_with_items(entry, &def.action, delay);
        }
        self.start_action(entry, &def.action, delay)
    }

    /// Starts a task without items as `entry`: renders its params and enters it.
    fn start_action(
        &mut self,
        entry: Entry,
        action: &Option<String>,
        delay: Option<f64>,
    ) -> Result<TaskRun> {
        let input = &self.plan.tasks[entry.task.as_str()].input;
        let params = match self.render_in(input, entry.ctx, Some((&entry, None))) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => {
                self.fail_start(entry, e.to_string())?;
                return Err(e);
            }
        };
        let (task, route) = (entry.task.clone(), entry.route);
        self.enter(entry);
        Ok(TaskRun {
            task,
            route,
            action: action.clone(),
            params: vec![params],
            first_item: None,
            delay,
        })
    }

    /// A task whose start could not be prepared (its items, params or delay did not render)
    /// fails the run, with `why` as an error of the task, whatever its transitions say. As in
    /// Orquesta, it never runs: it does not enter the sequence. (An action chain's node enters
    /// it, ended failed with `why` as its result, as StackStorm's chain runner records it.)
    pub(super) fn fail_start(&mut self, entry: Entry, why: String) -> Result<()> {
        let (task, route) = (entry.task.clone(), entry.route);
        self.error(why.clone(), Some(&task), Some(route), None);
        self.failing = true;
        if self.plan.chain.is_none() {
            self.finish_if_done();
            return Ok(());
        }
        self.enter(entry);
        self.finish_task(&task, route, RunStatus::Failed, Some(Value::String(why)))
    }

    /// A task run enters the sequence, running.
    pub(super) fn enter(&mut self, entry: Entry) {
        debug_assert_eq!(entry.status, RunStatus::Running);
        if entry.items.is_some() {
            self.items_active.push(self.seq.len());
        }
        self.running += 1;
        self.seq.push(entry);
    }
}

/// Seconds to wait before running `def` as retry `retry`: a first run waits the task's
/// `delay`, a retry the retry's delay (`None` for no wait).
fn delay_of(def: &Task, retry: u32) -> Option<f64> {
    match (&def.retry, retry) {
        (Some(r), n) if n > 0 => Some(r.delay_before(n)),
        _ => def.delay,
    }
    .filter(|d| *d > 0.0)
}
