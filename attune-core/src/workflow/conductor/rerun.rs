//! Re-running an ended run from its failed tasks.

use super::routes::Staged;
use super::{Conductor, Entry, RunStatus};
use crate::workflow::model::Command;
use crate::{Error, Result};

impl Conductor {
    /// Re-runs an ended run from its failed tasks — `tasks` as `(name, route)`, or every
    /// failed task no transition handled — keeping the context each had and what the rest
    /// of the run published; tasks that were staged when the run stopped scheduling start
    /// too. Errors: the run is still running, a named task has no failed run, or nothing
    /// failed.
    pub fn rerun(&mut self, tasks: Option<&[(String, usize)]>) -> Result<()> {
        if self.status == RunStatus::Running {
            return Err(Error::Conflict("the workflow run is still running".into()));
        }
        let picked = self.failed_runs(tasks)?;
        if picked.is_empty() {
            return Err(Error::invalid(
                "re-run of the workflow run",
                "no task failed in it (a run that failed before any task, e.g. on its input, \
                 is started again instead)",
            ));
        }
        self.reopen(&picked);
        self.finish_if_done();
        Ok(())
    }

    /// The entries to re-run: the latest failed run of each task named, or every failed
    /// run no transition handled (commands left out).
    fn failed_runs(&self, tasks: Option<&[(String, usize)]>) -> Result<Vec<usize>> {
        let failed = |e: &Entry| e.status.is_failure() && Command::parse(&e.task).is_none();
        let Some(list) = tasks else {
            return Ok((0..self.seq.len())
                .filter(|i| failed(&self.seq[*i]) && !self.seq[*i].handled)
                .collect());
        };
        list.iter()
            .map(|(name, route)| {
                self.seq
                    .iter()
                    .rposition(|e| e.task == *name && e.route == *route && failed(e))
                    .ok_or_else(|| {
                        Error::invalid(
                            format!("re-run of task '{name}' (route {route})"),
                            "it has no failed run in this workflow run",
                        )
                    })
            })
            .collect()
    }

    /// Runs again: the `picked` entries are staged (their failures superseded), what was
    /// staged while the run failed may start, and their errors and the run's end are
    /// forgotten.
    fn reopen(&mut self, picked: &[usize]) {
        let names: Vec<String> = picked.iter().map(|i| self.seq[*i].task.clone()).collect();
        for e in &mut self.seq {
            if e.led_if_rerun {
                e.led = true;
            }
        }
        for i in picked {
            let e = &mut self.seq[*i];
            // Superseded by the re-run: no longer an unhandled failure.
            e.handled = true;
            let again = Staged::again(e.task.clone(), e.route, e.ctx, 0);
            self.staged.push(again);
        }
        self.errors.retain(|e| {
            e.task_id.as_ref().is_some_and(|t| !names.contains(t))
                && !e.message.starts_with("UnreachableJoinError")
        });
        self.failing = false;
        self.fail_requested = false;
        self.output = None;
        self.status = RunStatus::Running;
    }
}
