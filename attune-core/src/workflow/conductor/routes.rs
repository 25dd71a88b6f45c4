//! Staging: the tasks waiting to run, the route each runs on (a split gives each arriving
//! path its own), and joins waiting for their inbound transitions and merging the contexts
//! of the paths that arrived.

use super::Conductor;
use crate::workflow::model::{Join, Target};
use crate::{Error, Result};
use std::sync::Arc;

/// A task waiting to run (a join waiting for its inbound transitions).
#[derive(Clone, Debug)]
pub(super) struct Staged {
    pub(super) task: String,
    pub(super) route: usize,
    /// Contexts arriving, in order.
    pub(super) ctxs: Vec<usize>,
    /// Tasks whose transitions arrived (each once).
    pub(super) arrived: Vec<String>,
    pub(super) ready: bool,
    /// Which retry it is (0: not a retry).
    pub(super) retry: u32,
}

impl Staged {
    /// `task` on `route`, ready to run again with context `ctx` as retry `retry` (0: a
    /// re-run).
    pub(super) fn again(task: String, route: usize, ctx: usize, retry: u32) -> Staged {
        Staged {
            task,
            route,
            ctxs: vec![ctx],
            arrived: Vec::new(),
            ready: true,
            retry,
        }
    }
}

impl Conductor {
    /// Stages `task` on `route` with context `ctx`, arriving from task `from`.
    pub(super) fn stage(&mut self, task: &str, route: usize, ctx: usize, from: Option<&str>) {
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
    pub(super) fn route_for(&mut self, target: &Target, route: usize, edge: &str) -> usize {
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

    /// Takes `task` on `route` off the staged list (Conflict when it is not ready).
    pub(super) fn take_ready(&mut self, task: &str, route: usize) -> Result<Staged> {
        let pos = self
            .staged
            .iter()
            .position(|s| s.task == task && s.route == route && s.ready)
            .ok_or_else(|| {
                Error::Conflict(format!("task '{task}' (route {route}) is not ready"))
            })?;
        Ok(self.staged.remove(pos))
    }

    /// The context a staged task starts with: the one that arrived, or for a join a new
    /// one merging its inbound paths — the first one's context, then what each other path
    /// published, in arrival order.
    pub(super) fn arrival_context(&mut self, staged: &Staged) -> usize {
        if staged.ctxs.len() == 1 {
            return staged.ctxs[0];
        }
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
    }
}
