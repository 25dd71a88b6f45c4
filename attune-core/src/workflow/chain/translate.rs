//! A chain as a workflow: each node a task whose two transitions (succeeded, failed) publish
//! its result under its name, then its `publish` entries, and lead to `on-success` /
//! `on-failure` (none: the run goes on as the node ended — a failure then fails it).
//!
//! The conditions call functions that only a chain's template context has (`__succeeded()`,
//! `__failed()`, `__result()`): chain templates see the run's values as bare names, and a
//! node may well be called `failed` or `result`.

use super::ActionChain;
use crate::workflow::model::{Task, Transition, Workflow};
use serde_json::Value;

/// `__succeeded()`: whether the node that ended succeeded.
pub(crate) const SUCCEEDED_FN: &str = "__succeeded";
/// `__failed()`: whether it failed or timed out.
pub(crate) const FAILED_FN: &str = "__failed";
/// `__result()`: its result.
pub(crate) const RESULT_FN: &str = "__result";
/// The task a run starts with when the start node has inbound transitions (a loop back to
/// it): it runs no action.
pub(crate) const START_TASK: &str = "__start";

impl ActionChain {
    /// The workflow that runs this chain (check the chain first: a node or target that does
    /// not exist is left out). Only the nodes reachable from the start are tasks; when a
    /// transition leads back to the start node, a task `__start` without an action begins
    /// the run, since a workflow starts at the tasks nothing leads to.
    pub fn to_workflow(&self) -> Workflow {
        let reachable = self.reachable();
        let mut wf = Workflow::new();
        wf.vars = self.vars.clone();
        let Some(start) = self.start() else {
            return wf;
        };
        let looped = self
            .nodes
            .iter()
            .filter(|n| reachable.contains(&n.name.as_str()))
            .any(|n| {
                n.on_success.as_deref() == Some(start) || n.on_failure.as_deref() == Some(start)
            });
        if looped {
            wf.tasks
                .push(Task::new(START_TASK).next(Transition::always().to(start)));
        }
        let call = |f: &str| format!("{{{{ {f}() }}}}");
        for n in self
            .nodes
            .iter()
            .filter(|n| reachable.contains(&n.name.as_str()))
        {
            let mut publish = vec![(n.name.clone(), Value::String(call(RESULT_FN)))];
            publish.extend(n.publish.iter().cloned());
            let mut task = Task::new(&n.name).action(&n.action);
            task.input = n.params.clone();
            for (when, target) in [(SUCCEEDED_FN, &n.on_success), (FAILED_FN, &n.on_failure)] {
                let mut t = Transition::when(call(when));
                t.publish = publish.clone();
                if let Some(target) = target.as_deref().filter(|t| self.get(t).is_some()) {
                    t = t.to(target);
                }
                task = task.next(t);
            }
            wf.tasks.push(task);
        }
        wf
    }
}
