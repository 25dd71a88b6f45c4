//! The run's end: once nothing runs and nothing can start, joins left partly satisfied are
//! errors, the output is rendered (also when the run failed), and the status is decided.

use super::{Conductor, RunStatus};
use serde_json::{Map, Value};

impl Conductor {
    /// Ends the run when nothing is running and nothing can start.
    pub(super) fn finish_if_done(&mut self) {
        if self.status != RunStatus::Running {
            return;
        }
        let running = self.running > 0;
        let ready = !self.failing && self.staged.iter().any(|s| s.ready);
        if running || ready {
            return;
        }
        self.report_unreachable_joins();
        let unhandled = self.seq.iter().any(|e| e.status.is_failure() && !e.handled);
        let failed = self.failing || self.fail_requested || unhandled;
        let output_complete = self.render_output();
        self.status = if self.canceled {
            RunStatus::Canceled
        } else if failed || !output_complete {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
    }

    /// Joins left waiting with some arrivals can never run: each is an error, and the run
    /// fails (unless it already failed).
    fn report_unreachable_joins(&mut self) {
        if self.failing {
            return;
        }
        let waiting: Vec<(String, usize)> = self
            .staged
            .iter()
            .filter(|s| !s.ready && !s.arrived.is_empty())
            .map(|s| (s.task.clone(), s.route))
            .collect();
        for (task, route) in &waiting {
            self.error(
                format!("UnreachableJoinError: The join task|route \"{task}|{route}\" is partially satisfied but unreachable."),
                Some(task),
                Some(*route),
                None,
            );
            self.failing = true;
        }
    }

    /// Renders the output over the final context, each entry seeing the earlier ones; an
    /// entry that does not render is an error of the run. Returns whether every entry
    /// rendered.
    fn render_output(&mut self) -> bool {
        if self.no_output {
            return true;
        }
        let mut ctx = self.final_context();
        let mut out = Map::new();
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
        let complete = self.plan.output.is_empty() || out.len() == self.plan.output.len();
        // As Orquesta's: no output when no entry rendered.
        self.output = (!out.is_empty()).then_some(out);
        complete
    }

    /// The context the output sees: the initial one with everything published laid over
    /// it, in the order it was published; empty when no task ran (as Orquesta's terminal
    /// context, which comes from the tasks that ended).
    fn final_context(&self) -> Map<String, Value> {
        if self.seq.is_empty() {
            return Map::new();
        }
        let mut merged = (*self.ctxs[0]).clone();
        for (c, keys) in self.ctxs.iter().zip(&self.published).skip(1) {
            for k in keys.iter() {
                if let Some(v) = c.get(k) {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        merged
    }

    /// For an action chain: the latest value of each name its nodes published (the
    /// `published` part of its result); empty for a workflow.
    pub fn chain_published(&self) -> Map<String, Value> {
        let Some(scope) = &self.plan.chain else {
            return Map::new();
        };
        let mut out = Map::new();
        for (c, keys) in self.ctxs.iter().zip(&self.published).skip(1) {
            for k in keys.iter().filter(|k| scope.published.contains(k)) {
                if let Some(v) = c.get(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }
}
