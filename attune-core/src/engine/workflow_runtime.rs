//! Workflows as executions: the `workflow` runtime drives a run's [`Conductor`], each task
//! (each with-items item) an execution of its own whose parent is the workflow execution, so
//! that trace, logs, timeouts and policies apply to tasks unchanged.
//!
//! A run is journaled through the store as it goes ([`workflow_run`](super::workflow_run)):
//! an engine restarted on a durable store takes the run over and continues it. Pause,
//! resume, cancel and re-run are here too.

use super::executions::{Child, create_execution};
use super::workflow_driver::{Control, Driver, PauseRequest, Step};
use super::{Engine, Shared};
use crate::model::WORKFLOW_RUNNER;
use crate::model::{Action, ExecutionId, ExecutionStatus};
use crate::params::ParamSpec;
use crate::runtime::{RunOutput, RunRequest, Runtime};
use crate::store::ExecutionChange;
use crate::workflow::{Plan, Workflow};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

/// The `workflow` runtime: the compiled workflow of each workflow action, and the engine it
/// creates task executions in.
///
/// A workflow action either was registered with [`Engine::register_workflow`] (its plan is
/// kept here), or carries its workflow file's text in `code` (a pack's `runner_type:
/// orquesta` action, or an `action-chain` one: the chain runs as the workflow it translates
/// to, see [`ActionChain`](crate::workflow::ActionChain)): that text is compiled when first run and kept with it, so that the
/// action as registered — not a newer file still being checked — decides what runs.
#[derive(Debug, Default)]
pub(crate) struct WorkflowRuntime {
    plans: RwLock<HashMap<String, Compiled>>,
    shared: OnceLock<Weak<Shared>>,
    /// The runs driven in this process, and how to reach each (pause, resume).
    controls: Mutex<HashMap<ExecutionId, Arc<Control>>>,
}

impl WorkflowRuntime {
    /// Ties the runtime to its engine (once, when the engine is built).
    pub(crate) fn attach(&self, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
    }

    /// The plan of `action`: from its workflow text when it has one (compiled once per
    /// text), else the one registered in code.
    fn plan(&self, action: &Action) -> Result<Arc<Plan>> {
        let key = &action.action_ref;
        if let Some((code, plan)) = self
            .plans
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            && *code == action.code
        {
            return Ok(plan.clone());
        }
        let Some(text) = &action.code else {
            return Err(Error::not_found("workflow", key));
        };
        let file = action.entry_point.as_deref().unwrap_or("workflow");
        let plan = crate::workflow::Definition::parse(text, file)
            .map_err(|e| Error::invalid(format!("workflow of action '{key}'"), e.to_string()))?
            .plan()?;
        self.put(key, action.code.clone(), plan.clone());
        Ok(plan)
    }

    fn put(&self, action: &str, code: Option<String>, plan: Arc<Plan>) {
        self.plans
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(action.to_string(), (code, plan));
    }
}

#[async_trait]
impl Runtime for WorkflowRuntime {
    fn name(&self) -> &str {
        WORKFLOW_RUNNER
    }

    fn validate_action(&self, action: &Action) -> Result<()> {
        if let Some(text) = &action.code {
            let file = action.entry_point.as_deref().unwrap_or("workflow");
            return crate::workflow::Definition::parse(text, file)
                .map(|_| ())
                .map_err(|e| {
                    Error::invalid(
                        format!("workflow of action '{}'", action.action_ref),
                        e.to_string(),
                    )
                });
        }
        let known = self
            .plans
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&action.action_ref);
        if known {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("action '{}'", action.action_ref),
                "no workflow is registered for it (Engine::register_workflow, or a pack's \
                 workflow file as its entry_point)",
            ))
        }
    }

    fn uses_worker_slot(&self) -> bool {
        false
    }

    async fn run(&self, request: RunRequest) -> Result<RunOutput> {
        let shared = self
            .shared
            .get()
            .and_then(Weak::upgrade)
            .ok_or(Error::ShutDown)?;
        let plan = self.plan(&request.action)?;
        let id = request.execution_id;
        let control = Arc::new(Control::default());
        self.lock_controls().insert(id, control.clone());
        let out = Driver::new(shared, plan, &request, control)
            .drive(&request)
            .await;
        self.lock_controls().remove(&id);
        out
    }
}

impl WorkflowRuntime {
    fn lock_controls(&self) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, Arc<Control>>> {
        self.controls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The control of the run of `id`, when this process drives it.
    pub(super) fn control(&self, id: ExecutionId) -> Option<Arc<Control>> {
        self.lock_controls().get(&id).cloned()
    }

    /// Wakes every run driven here to re-read its status: a pause or resume recorded by
    /// another engine sharing the store reaches it this way (the lease renewal calls it).
    pub(super) fn poke_all(&self) {
        for control in self.lock_controls().values() {
            control.poke.notify_one();
        }
    }

    /// At shutdown: releases the claims of the runs paused here with nothing running (their
    /// leases end now), so that any engine on the store resumes them at once; they stay
    /// `paused`. Returns how many.
    pub(super) async fn release_idle(&self, shared: &Shared) -> usize {
        let idle: Vec<ExecutionId> = self
            .lock_controls()
            .iter()
            .filter(|(_, c)| c.idle())
            .map(|(id, _)| *id)
            .collect();
        let now = shared.now();
        let release = crate::store::Claim {
            worker: shared.config.worker_id.clone(),
            now,
            lease_until: now,
        };
        let mut n = 0;
        for id in idle {
            match shared.store.renew_lease(id, &release).await {
                Ok(()) => n += 1,
                Err(e) => {
                    tracing::debug!(execution.id = %id, error = %e, "paused run not released")
                }
            }
        }
        n
    }
}

/// A workflow action's plan, with the workflow text it was compiled from (`None`: built in
/// code).
type Compiled = (Option<String>, Arc<Plan>);

/// # Workflows
///
/// Register workflows, draw a run, pause and resume it, re-run it from its failed tasks.
impl Engine {
    /// A workflow execution's definition and the status of each of its tasks so far (the
    /// latest run of each), for drawing it ([`to_dot`](crate::workflow::to_dot),
    /// [`to_mermaid`](crate::workflow::to_mermaid)). Errors: NotFound; Invalid when the
    /// execution is not a workflow's, or its workflow is not known to this engine.
    pub async fn workflow_run(
        &self,
        id: ExecutionId,
    ) -> Result<(Workflow, crate::workflow::TaskStatuses)> {
        let exec = self.shared.store.get_execution(id).await?;
        let what = format!("execution '{id}'");
        if exec.runner != WORKFLOW_RUNNER {
            return Err(Error::invalid(
                &what,
                format!("it runs '{}', which is not a workflow", exec.action),
            ));
        }
        let action = self.shared.catalog.action(&exec.action).ok_or_else(|| {
            Error::invalid(
                &what,
                format!("its workflow '{}' is not registered", exec.action),
            )
        })?;
        let runtime = self
            .shared
            .workflows
            .as_ref()
            .ok_or_else(|| Error::invalid(&what, "this engine has no workflow runtime"))?;
        let workflow = runtime.plan(&action)?.workflow().clone();
        let mut statuses = crate::workflow::TaskStatuses::new();
        super::workflow_driver::each_task_execution(&self.shared, id, |x| {
            if let Some(t) = &x.task {
                // In id order: the latest run of a task wins.
                statuses.insert(t.name.clone(), x.status);
            }
        })
        .await?;
        Ok((workflow, statuses))
    }

    /// Registers (or replaces) `workflow` as the action `action_ref` (runner `workflow`): it
    /// is checked ([`Workflow::validate`], and every task's action must be registered), its
    /// templates compiled, and its inputs become the action's parameters (required when they
    /// have no default). Running the action runs the workflow; each task is an execution
    /// whose parent is the workflow's.
    pub async fn register_workflow(&self, action_ref: &str, workflow: Workflow) -> Result<()> {
        let what = format!("workflow '{action_ref}'");
        if let Err(e) = workflow.validate() {
            let msgs: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
            return Err(Error::invalid(&what, msgs.join("; ")));
        }
        let missing: Vec<String> = workflow
            .actions()
            .into_iter()
            .filter(|a| *a != action_ref && self.shared.catalog.action(a).is_none())
            .map(|a| format!("action '{a}' is not registered"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(&what, missing.join("; ")));
        }
        let mut action = Action::new(action_ref, WORKFLOW_RUNNER);
        action.description = workflow.description.clone().unwrap_or_default();
        for (name, default) in &workflow.input {
            let spec = match default {
                None => ParamSpec::any().required(),
                Some(v) if crate::template::any_workflow_template(v, &|_| true) => ParamSpec::any(),
                Some(v) => ParamSpec::any().default(v.clone()),
            };
            action = action.param(name.clone(), spec);
        }
        let plan = Plan::new(workflow)?;
        let runtime = self
            .shared
            .workflows
            .as_ref()
            .ok_or_else(|| Error::invalid(&what, "this engine has no workflow runtime"))?;
        runtime.put(action_ref, None, plan);
        self.register_action(action).await
    }
}

/// A status change of a workflow execution asked by a caller ([`Engine::change_status`]).
struct StatusChange<'a> {
    /// The status it moves to.
    to: ExecutionStatus,
    /// Statuses in which there is nothing to do.
    already: &'a [ExecutionStatus],
    /// Statuses it moves from.
    from: &'a [ExecutionStatus],
    /// Why any other status refuses it.
    refused: &'a str,
    /// The change, in the error when the status kept changing.
    verb: &'a str,
}

/// # Workflows: control
impl Engine {
    /// Pauses a running workflow execution: it becomes `pausing` — nothing new starts, its
    /// running tasks finish (their transitions are followed) and workflow tasks pause too —
    /// then `paused` once none runs. Pausing a run already pausing or paused returns it as
    /// it is. A run driven by another engine on the same store follows the recorded pause
    /// at that engine's next lease renewal. Errors: NotFound; Invalid when it is not a
    /// workflow's execution; Conflict when it is not running (not started yet, or finished).
    pub async fn pause(&self, id: ExecutionId) -> Result<crate::model::Execution> {
        let control = self.workflow_control(id);
        let change = StatusChange {
            to: ExecutionStatus::Pausing,
            already: &[ExecutionStatus::Pausing, ExecutionStatus::Paused],
            from: &[ExecutionStatus::Running],
            refused: "only a running workflow can be paused",
            verb: "pause",
        };
        // The run here hears of it before the store records it (nothing starts after),
        // until the transition returned: by then the store holds it, or it failed.
        let (e, _) = self
            .change_status(id, change, || control.clone().map(PauseRequest::new))
            .await?;
        Ok(e)
    }

    /// Resumes a paused (or pausing) workflow execution: it is `running` again, what was
    /// held starts, and its paused workflow tasks resume. Resuming a running one returns it
    /// as it is. After a restart, a paused run no engine drives any more is taken over here;
    /// while its former worker's lease is still live, the recovery sweep takes it over once
    /// the lease expired. Errors: NotFound; Invalid when it is not a workflow's execution;
    /// Conflict when it finished.
    pub async fn resume(&self, id: ExecutionId) -> Result<crate::model::Execution> {
        let change = StatusChange {
            to: ExecutionStatus::Running,
            already: &[ExecutionStatus::Running],
            from: &[ExecutionStatus::Pausing, ExecutionStatus::Paused],
            refused: "only a paused workflow can be resumed",
            verb: "resume",
        };
        let (e, changed) = self.change_status(id, change, || ()).await?;
        if changed {
            match self.workflow_control(id) {
                Some(c) => c.poke.notify_one(),
                None => {
                    if let Err(err) = super::recovery::take_over(&self.shared, id).await {
                        // Its former worker's lease is still live: the recovery sweep
                        // takes the run over once it expired.
                        tracing::info!(execution.id = %id, error = %err, "resumed; continued once the lease expired");
                    }
                }
            }
        }
        Ok(e)
    }

    /// Moves workflow execution `id` as `change` says, compare-and-set: the status it finds
    /// is read again when it changed meanwhile (a few times, then Conflict). `guard` is made
    /// just before each transition and dropped once it returned. Returns the execution and
    /// whether this call changed it (false: it was already there); the new status is
    /// published.
    async fn change_status<G>(
        &self,
        id: ExecutionId,
        change: StatusChange<'_>,
        guard: impl Fn() -> G,
    ) -> Result<(crate::model::Execution, bool)> {
        let s = &self.shared;
        for _ in 0..8 {
            let e = workflow_execution(s, id).await?;
            if change.already.contains(&e.status) {
                return Ok((e, false));
            }
            if !change.from.contains(&e.status) {
                return Err(Error::Conflict(format!(
                    "execution '{id}' is {}: {}",
                    e.status, change.refused
                )));
            }
            let _guard = guard();
            let to = ExecutionChange::to(change.to, s.now());
            match s.store.transition_execution(id, e.status, to).await {
                Ok(updated) => {
                    s.publish_status([(id, change.to)]).await;
                    return Ok((updated, true));
                }
                Err(Error::Conflict(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(Error::Conflict(format!(
            "execution '{id}' kept changing; {} not applied",
            change.verb
        )))
    }

    /// Re-runs a failed workflow execution from its failed tasks — `tasks` by name (each
    /// failed route of each), or, when empty, every failed task no transition handled —
    /// keeping what its run published: a new workflow execution of the same action and
    /// params continues the old run's state (the tasks that succeeded are not run again).
    /// Returns the new execution's id. Errors: NotFound; Invalid when it is not a
    /// workflow's execution, did not fail, names a task its workflow does not have or that
    /// did not fail, or held secret params (secrets are never stored: run it again);
    /// Conflict when it has not finished.
    pub async fn rerun(&self, id: ExecutionId, tasks: &[&str]) -> Result<ExecutionId> {
        let s = &self.shared;
        let e = workflow_execution(s, id).await?;
        let what = format!("re-run of execution '{id}'");
        if !e.status.is_terminal() {
            return Err(Error::Conflict(format!(
                "execution '{id}' is {}: only a finished workflow can be re-run",
                e.status
            )));
        }
        if !matches!(e.status, ExecutionStatus::Failed | ExecutionStatus::Timeout) {
            return Err(Error::invalid(
                &what,
                format!(
                    "it {}; only a failed workflow is re-run (run it again instead)",
                    e.status
                ),
            ));
        }
        let action = s.catalog.action(&e.action).ok_or_else(|| {
            Error::invalid(
                &what,
                format!("its workflow '{}' is not registered", e.action),
            )
        })?;
        if crate::params::holds_redacted(&e.params) {
            return Err(Error::invalid(
                &what,
                "its params held secrets, which are never stored: run the workflow again",
            ));
        }
        let runtime = s
            .workflows
            .as_ref()
            .ok_or_else(|| Error::invalid(&what, "this engine has no workflow runtime"))?;
        let workflow = runtime.plan(&action)?.workflow().clone();
        for t in tasks {
            if workflow.get(t).is_none() {
                return Err(Error::invalid(
                    &what,
                    format!("workflow '{}' has no task '{t}'", e.action),
                ));
            }
        }
        let step = Step::Rerun {
            of: id,
            tasks: (!tasks.is_empty()).then(|| tasks.iter().map(|t| t.to_string()).collect()),
        };
        // A re-run stands alone: a workflow that ran the original as a task has ended.
        let child = Child {
            parent: None,
            timeout_secs: e.timeout_secs,
            task: None,
            notify: None,
            user: e.user.clone(),
            first_step: Some(
                serde_json::to_string(&step)
                    .map_err(|err| Error::invalid(&what, err.to_string()))?,
            ),
        };
        create_execution(s, &e.action, e.params.clone(), child).await
    }

    /// The control of this process's run of `id`, if it drives it.
    pub(super) fn workflow_control(&self, id: ExecutionId) -> Option<Arc<Control>> {
        self.shared.workflows.as_ref().and_then(|w| w.control(id))
    }
}

/// The execution `id`, which must be a workflow's.
async fn workflow_execution(shared: &Shared, id: ExecutionId) -> Result<crate::model::Execution> {
    let e = shared.store.get_execution(id).await?;
    if e.runner != WORKFLOW_RUNNER {
        return Err(Error::invalid(
            format!("execution '{id}'"),
            format!("it runs '{}', which is not a workflow", e.action),
        ));
    }
    Ok(e)
}
