//! With-items: a task that runs its action once per item, `concurrency` items at a time, in
//! item order. Its result is the list of item results in item order (null for a failed
//! item); after a failed (or canceled) item no further item starts and the task ends.

use super::{Conductor, Entry, RunStatus, TaskRun};
use crate::{Error, Result};
use serde_json::{Map, Value};

/// The items of a with-items task. Counters, not scans: starting and ending an item costs
/// O(1) whatever the number of items.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Items {
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
    /// `values`, none started, `concurrency` (at least 1) at a time.
    fn new(values: Vec<Value>, concurrency: usize) -> Items {
        let n = values.len();
        Items {
            values,
            concurrency,
            ended: vec![None; n],
            results: vec![Value::Null; n],
            next: 0,
            running: 0,
            done: 0,
            failed: false,
            last_done: None,
        }
    }

    /// The task's result as StackStorm's `task(name).result` shows a with-items task:
    /// `{"items": [{"status", "result"}, ...]}`, one per item in item order, from the item
    /// results `results` (the task's result) and how each item ended.
    pub(super) fn task_view(&self, results: Option<&Value>) -> Value {
        let results = results.and_then(Value::as_array);
        let items = self
            .ended
            .iter()
            .enumerate()
            .take_while(|(i, e)| e.is_some() || results.is_some_and(|r| *i < r.len()))
            .map(|(i, ended)| {
                serde_json::json!({
                    "status": ended,
                    "result": results.and_then(|r| r.get(i)).cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        serde_json::json!({ "items": Value::Array(items) })
    }

    /// Whether more items may start now.
    pub(super) fn can_start(&self) -> bool {
        !self.failed && self.next < self.values.len() && self.running < self.concurrency
    }

    /// Records how item `index` of `task` ended (an error when it is not running).
    fn record(
        &mut self,
        task: &str,
        index: usize,
        status: RunStatus,
        result: Option<Value>,
    ) -> Result<()> {
        if index >= self.next || self.ended[index].is_some() {
            return Err(Error::invalid(
                format!("task '{task}'"),
                format!("its item {index} is not running"),
            ));
        }
        self.ended[index] = Some(status);
        self.running -= 1;
        self.done += 1;
        self.last_done = Some(self.last_done.map_or(index, |l| l.max(index)));
        if status == RunStatus::Canceled || status.is_failure() {
            self.failed = true;
        } else {
            self.results[index] = result.unwrap_or(Value::Null);
        }
        Ok(())
    }

    /// How the task ends after an item ended `last` — canceled by a canceled item, failed
    /// after a failed one, succeeded when every item ended — with its result, the item
    /// results (after a cancel or a failure, those of the items processed so far); `None`
    /// while it goes on.
    fn task_end(&mut self, last: RunStatus) -> Option<(RunStatus, Value)> {
        let all_done = self.done == self.values.len();
        let status = if last == RunStatus::Canceled {
            RunStatus::Canceled
        } else if self.failed {
            RunStatus::Failed
        } else if all_done {
            RunStatus::Succeeded
        } else {
            return None;
        };
        let kept = if all_done && last != RunStatus::Canceled {
            self.results.len()
        } else {
            self.last_done.map_or(0, |l| l + 1)
        };
        let mut results = std::mem::take(&mut self.results);
        results.truncate(kept);
        Some((status, Value::Array(results)))
    }
}

impl Conductor {
    /// Starts a with-items task as `entry`: renders its items and concurrency, enters it and
    /// starts its first items. Items that are not a list fail the task; no items end it
    /// succeeded at once, with an empty list as its result.
    pub(super) fn start_with_items(
        &mut self,
        mut entry: Entry,
        action: &Option<String>,
        delay: Option<f64>,
    ) -> Result<TaskRun> {
        let values = match self.item_values(&entry) {
            Ok(values) => values,
            Err((why, e)) => {
                self.fail_start(entry, why)?;
                return Err(e);
            }
        };
        let (task, route) = (entry.task.clone(), entry.route);
        let n = values.len();
        let concurrency = match self.concurrency_of(&entry, n) {
            Ok(c) => c,
            Err(e) => {
                self.fail_start(entry, e.to_string())?;
                return Err(e);
            }
        };
        entry.items = Some(Items::new(values, concurrency));
        self.enter(entry);
        let i = self.seq.len() - 1;
        if n == 0 {
            self.finish_task(
                &task,
                route,
                RunStatus::Succeeded,
                Some(Value::Array(Vec::new())),
            )?;
            return Ok(TaskRun {
                task,
                route,
                action: action.clone(),
                params: Vec::new(),
                first_item: Some(0),
                delay: None,
            });
        }
        let mut run = self.start_items(i, action)?;
        run.delay = delay;
        Ok(run)
    }

    /// The items of the with-items task starting as `entry`; when they do not render as a
    /// list, why (the task's failed result) and the error to return.
    fn item_values(&self, entry: &Entry) -> std::result::Result<Vec<Value>, (String, Error)> {
        let task = &entry.task;
        let Some(items) = &self.plan.tasks[task.as_str()].items else {
            return Ok(Vec::new());
        };
        match self.render_in(items, entry.ctx, Some((entry, None))) {
            Ok(Value::Array(v)) => Ok(v),
            Ok(other) => {
                let msg = format!("task '{task}' with items: expected a list, got {other}");
                let e = Error::invalid(format!("task '{task}'"), msg.clone());
                Err((msg, e))
            }
            Err(e) => Err((e.to_string(), e)),
        }
    }

    /// How many of `n` items run at once: the task's `concurrency` (all when it has none),
    /// at least 1. A concurrency that does not render, or renders as something other than a
    /// whole number (or a text holding one), is an error naming the task and the value.
    fn concurrency_of(&self, entry: &Entry, n: usize) -> Result<usize> {
        let Some(c) = &self.plan.tasks[entry.task.as_str()].concurrency else {
            return Ok(n.max(1));
        };
        let value = self.render_in(c, entry.ctx, Some((entry, None)))?;
        let k = match &value {
            Value::Number(k) => k.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            Value::Null => return Ok(n.max(1)),
            _ => None,
        };
        let Some(k) = k else {
            let task = &entry.task;
            return Err(Error::invalid(
                format!("task '{task}'"),
                format!("with items: concurrency must be a whole number, got {value}"),
            ));
        };
        Ok(usize::try_from(k).unwrap_or(usize::MAX).max(1))
    }

    /// Starts the next items (up to the concurrency) of the with-items task at `seq[i]`
    /// and returns their params.
    pub(super) fn start_items(&mut self, i: usize, action: &Option<String>) -> Result<TaskRun> {
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
            let v = match self.render_in(&tp.input, ctx, Some((&self.seq[i], Some((idx, item))))) {
                Ok(v) => v,
                Err(e) => return Err(self.fail_item_start(i, from, idx, e)),
            };
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

    /// The with-items tasks running with items left to start now, as `(task, route)`.
    pub(super) fn items_to_start(&self) -> impl Iterator<Item = (String, usize)> + '_ {
        self.items_active
            .iter()
            .map(|i| &self.seq[*i])
            .filter(|e| {
                e.status == RunStatus::Running && e.items.as_ref().is_some_and(Items::can_start)
            })
            .map(|e| (e.task.clone(), e.route))
    }

    /// The entry of `task` on `route` when it is a with-items task running.
    pub(super) fn running_with_items(&self, task: &str, route: usize) -> Option<usize> {
        self.entry_index(task, route)
            .filter(|i| self.seq[*i].items.is_some() && self.seq[*i].status == RunStatus::Running)
    }

    /// The items of a with-items task started and not ended, in item order.
    pub fn running_items(&self, task: &str, route: usize) -> Vec<usize> {
        self.entry_index(task, route)
            .and_then(|i| self.seq[i].items.as_ref())
            .map(|it| (0..it.next).filter(|i| it.ended[*i].is_none()).collect())
            .unwrap_or_default()
    }

    /// Item `idx` of the with-items task at `seq[i]` (starting from item `from`) could not
    /// start, its params not rendering (`e`): it ends failed, which fails the task; the items
    /// rendered before it in this start are never launched. Returns `e`.
    fn fail_item_start(&mut self, i: usize, from: usize, idx: usize, e: Error) -> Error {
        let (task, route) = (self.seq[i].task.clone(), self.seq[i].route);
        if let Some(it) = &mut self.seq[i].items {
            // Rendered before it in this start, never launched: ended, without a result.
            for j in from..idx {
                it.ended[j] = Some(RunStatus::Canceled);
                it.done += 1;
            }
            it.next = idx + 1;
            it.running += 1;
        }
        let why = Value::String(e.to_string());
        if let Err(also) = self.finish_item(&task, route, idx, RunStatus::Failed, Some(why)) {
            return also;
        }
        e
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
        items.record(task, index, status, result)?;
        match items.task_end(status) {
            Some((end, results)) => self.finish_task(task, route, end, Some(results)),
            None => Ok(()),
        }
    }
}
