//! A task's end: a retry when one is due, else its transitions in order — each that holds
//! publishes into a new context and stages its tasks or runs its commands — and fail-fast
//! when no transition handles a failure.

use super::plan::{TaskPlan, TransitionPlan};
use super::render::truthy;
use super::routes::Staged;
use super::{Conductor, Entry, RunStatus};
use crate::Result;
use crate::workflow::model::{Command, Target};
use serde_json::Value;
use std::sync::Arc;

/// The error of a failed task (and of the `fail` command), as Orquesta words it.
pub(crate) const EXECUTION_FAILED: &str = "Execution failed. See result for details.";

impl Conductor {
    /// Reports how a task ended: evaluates its transitions, publishes, stages what follows.
    pub fn finish_task(
        &mut self,
        task: &str,
        route: usize,
        status: RunStatus,
        result: Option<Value>,
    ) -> Result<()> {
        let i = self.record_end(task, route, status, result)?;
        let entry = self.seq[i].clone();
        let plan = self.plan.clone();
        let tp = &plan.tasks[task];
        if status == RunStatus::Canceled {
            // A canceled task cancels the run: nothing new starts, no transition fires.
            self.canceled = true;
            self.failing = true;
        } else if status.is_failure() && self.retry_due(&entry, tp) {
            // Run it again (after the retry delay) instead of following its transitions.
            self.stage_retry(i);
        } else {
            // Its error comes before those of what its transitions do (a `fail`).
            if status.is_failure() {
                self.failure_error(i);
            }
            let handled = self.follow_transitions(i, &entry, tp);
            if status.is_failure() {
                self.seq[i].handled = handled;
                if !handled {
                    self.failing = true; // fail-fast: nothing new starts, what runs finishes
                }
            }
        }
        self.finish_if_done();
        Ok(())
    }

    /// Records the end of the latest run of `task` on `route`; returns its entry.
    fn record_end(
        &mut self,
        task: &str,
        route: usize,
        status: RunStatus,
        result: Option<Value>,
    ) -> Result<usize> {
        let i = self.entry_of(task, route)?;
        if self.seq[i].status == RunStatus::Running {
            self.running -= 1;
            self.items_active.retain(|x| *x != i);
        }
        self.seq[i].status = status;
        self.seq[i].result = result;
        Ok(i)
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

    /// Stages the run at `seq[i]` again, as its next retry; its failure is handled.
    fn stage_retry(&mut self, i: usize) {
        let e = &mut self.seq[i];
        e.handled = true;
        e.led = true;
        let again = Staged::again(e.task.clone(), e.route, e.ctx, e.retries + 1);
        self.staged.push(again);
    }

    /// Fires the transitions of the ended run `entry` (at `seq[i]`) that hold, in order;
    /// returns whether one handled its end (led to a task, or to `noop`).
    fn follow_transitions(&mut self, i: usize, entry: &Entry, tp: &TaskPlan) -> bool {
        let mut handled = false;
        for (n, tr) in tp.next.iter().enumerate() {
            if self.holds(tr, n, entry) {
                let ctx = self.publish(tr, n, entry);
                handled |= self.follow_targets(i, entry, tr, ctx);
            }
        }
        handled
    }

    /// Whether the condition of `tr` holds after `entry` ended. One that does not render is
    /// an error of the run, which then fails.
    fn holds(&mut self, tr: &TransitionPlan, n: usize, entry: &Entry) -> bool {
        let holds = match &tr.when {
            None => Ok(Value::Bool(true)),
            Some(w) => self.render_in(w, entry.ctx, Some((entry, None))),
        };
        match holds {
            Ok(v) => truthy(&v),
            Err(e) => {
                self.transition_error(e.to_string(), tr, n, entry);
                false
            }
        }
    }

    /// An error of transition number `n` (`tr`) of the ended run `entry`: the run fails. The
    /// error names the transition as Orquesta does, `<first target>__t<n>` (`continue` when
    /// it has none).
    fn transition_error(&mut self, message: String, tr: &TransitionPlan, n: usize, entry: &Entry) {
        let target = match tr.targets.first() {
            Some((Target::Task(t), _)) => t.as_str(),
            Some((Target::Command(c), _)) => c.as_str(),
            None => "continue",
        };
        self.error(message, Some(&entry.task), Some(entry.route), None);
        if let Some(last) = self.errors.last_mut() {
            last.task_transition_id = Some(format!("{target}__t{n}"));
        }
        self.failing = true;
    }

    /// Publishes the entries of `tr` into a new context, each seeing the earlier ones; returns
    /// it (the context of `entry` when `tr` publishes nothing). An entry that does not render
    /// is left out, and is an error of the run, which then fails.
    fn publish(&mut self, tr: &TransitionPlan, n: usize, entry: &Entry) -> usize {
        if tr.publish.is_empty() {
            return entry.ctx;
        }
        let mut m = (*self.ctxs[entry.ctx]).clone();
        let mut keys = (*self.published[entry.ctx]).clone();
        keys.extend(tr.publish.iter().map(|(k, _)| k.clone()));
        for (k, v) in &tr.publish {
            match self.render(v, &m, Some((entry, None))) {
                Ok(v) => {
                    m.insert(k.clone(), v);
                }
                Err(e) => self.transition_error(e.to_string(), tr, n, entry),
            }
        }
        self.ctxs.push(Arc::new(m));
        self.published.push(Arc::new(keys));
        self.ctxs.len() - 1
    }

    /// Stages the tasks and runs the commands `tr` leads to, with context `ctx`; returns
    /// whether it handled the end of `entry` (at `seq[i]`).
    fn follow_targets(&mut self, i: usize, entry: &Entry, tr: &TransitionPlan, ctx: usize) -> bool {
        let mut handled = false;
        for (target, edge) in &tr.targets {
            let r = self.route_for(target, entry.route, edge);
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
                    self.stage(n, r, ctx, Some(&entry.task));
                }
                Target::Command(c) => {
                    handled |= *c == Command::Noop;
                    self.run_command(*c, r, ctx);
                }
            }
        }
        handled
    }

    /// A command enters the sequence, ended; `fail` fails the workflow (what the same
    /// transition staged still runs).
    fn run_command(&mut self, c: Command, route: usize, ctx: usize) {
        self.seq
            .push(Entry::new(c.as_str(), route, RunStatus::Succeeded, ctx, 0));
        if c == Command::Fail {
            self.fail_requested = true;
            self.error(EXECUTION_FAILED.into(), Some("fail"), None, None);
        }
    }

    /// The failure of the run at `seq[i]` is an error of the run (shown when the run fails).
    fn failure_error(&mut self, i: usize) {
        let e = &self.seq[i];
        let (task, result) = (e.task.clone(), e.result.clone());
        self.error(
            EXECUTION_FAILED.into(),
            Some(&task),
            None,
            result.filter(|v| !v.is_null() && !v.is_array()),
        );
    }
}
