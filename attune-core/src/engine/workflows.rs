//! Workflows as executions: the `workflow` runtime drives a run's [`Conductor`], each task
//! (each with-items item) an execution of its own whose parent is the workflow execution, so
//! that trace, logs, timeouts and policies apply to tasks unchanged.
//!
//! The run lives in the workflow execution's task: it is not persisted between task
//! transitions yet, so a restarted engine does not continue it (the execution ends
//! `abandoned` as any run whose worker was lost).

use super::matching::{Child, create_execution};
use super::{Engine, Shared};
use crate::model::{Action, ExecutionId, ExecutionStatus};
use crate::params::ParamSpec;
use crate::runtime::{RunOutput, RunRequest, Runtime};
use crate::workflow::{Conductor, Plan, RunStatus, TaskRun, Workflow};
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use tokio::sync::mpsc;

/// The runner name of workflow actions (`runner_type: workflow` or `orquesta` in packs).
pub const WORKFLOW_RUNNER: &str = "workflow";

/// The `workflow` runtime: the compiled workflow of each workflow action, and the engine it
/// creates task executions in.
///
/// A workflow action either was registered with [`Engine::register_workflow`] (its plan is
/// kept here), or carries its workflow file's text in `code` (a pack's `runner_type:
/// orquesta` action): that text is compiled when first run and kept with it, so that the
/// action as registered — not a newer file still being checked — decides what runs.
#[derive(Debug, Default)]
pub(crate) struct WorkflowRuntime {
    plans: RwLock<HashMap<String, Compiled>>,
    shared: OnceLock<Weak<Shared>>,
}

impl WorkflowRuntime {
    /// Ties the runtime to its engine (once, when the engine is built).
    pub fn attach(&self, shared: &Arc<Shared>) {
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
        let wf = crate::workflow::parse(text, file)
            .map_err(|e| Error::invalid(format!("workflow of action '{key}'"), e.to_string()))?;
        let plan = Plan::new(wf)?;
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
            return crate::workflow::parse(text, file).map(|_| ()).map_err(|e| {
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
        drive(&shared, plan, request).await
    }
}

/// A workflow action's plan, with the workflow text it was compiled from (`None`: built in
/// code).
type Compiled = (Option<String>, Arc<Plan>);

/// A task execution the run waits for: its task, route and item.
type Waiting = HashMap<ExecutionId, (String, usize, Option<usize>)>;

/// A run's task executions: those it waits for, and the task runs waiting out a delay.
struct Tasks {
    waiting: Waiting,
    done: mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>,
    delayed: usize,
    due: mpsc::UnboundedSender<TaskRun>,
}

/// Runs the workflow: starts what is ready as task executions (after its delay, if any),
/// feeds their ends to the conductor, until the run ends; cancel cascades to the tasks.
async fn drive(shared: &Arc<Shared>, plan: Arc<Plan>, req: RunRequest) -> Result<RunOutput> {
    let mut run = Conductor::start(plan.clone(), req.params.clone());
    let (done, mut done_rx) = mpsc::unbounded_channel();
    let (due, mut due_rx) = mpsc::unbounded_channel();
    let mut tasks = Tasks {
        waiting: HashMap::new(),
        done,
        delayed: 0,
        due,
    };
    let parent = req.execution_id;
    loop {
        start_ready(shared, &plan, &mut run, parent, &mut tasks).await;
        if run.status() != RunStatus::Running || (tasks.waiting.is_empty() && tasks.delayed == 0) {
            break;
        }
        let (id, status) = tokio::select! {
            m = done_rx.recv() => match m { Some(m) => m, None => break },
            d = due_rx.recv() => {
                if let Some(started) = d {
                    tasks.delayed -= 1;
                    launch(shared, &plan, &mut run, parent, &mut tasks, started).await;
                }
                continue;
            }
            () = req.cancel.cancelled() => {
                cancel_tasks(shared, &tasks.waiting).await;
                return Err(Error::Canceled("the workflow was canceled; its running tasks too".into()));
            }
        };
        let Some((task, route, item)) = tasks.waiting.remove(&id) else {
            continue;
        };
        let result = shared
            .store
            .get_execution(id)
            .await
            .ok()
            .and_then(|x| x.result);
        let status = match status {
            ExecutionStatus::Succeeded => RunStatus::Succeeded,
            ExecutionStatus::Timeout => RunStatus::Timeout,
            ExecutionStatus::Canceled => RunStatus::Canceled,
            _ => RunStatus::Failed,
        };
        let ended = match item {
            Some(i) => run.finish_item(&task, route, i, status, result),
            None => run.finish_task(&task, route, status, result),
        };
        if let Err(e) = ended {
            tracing::error!(execution.id = %parent, task = %task, error = %e, "workflow task end not applied");
        }
        if run.status() != RunStatus::Running && !tasks.waiting.is_empty() {
            // A with-items task ended on a failed item: its other items are not needed.
            cancel_tasks(shared, &tasks.waiting).await;
        }
    }
    Ok(outcome(&run))
}

/// Starts every ready task; a task with a delay (its own, or a retry's) is launched when the
/// delay is over.
async fn start_ready(
    shared: &Arc<Shared>,
    plan: &Plan,
    run: &mut Conductor,
    parent: ExecutionId,
    tasks: &mut Tasks,
) {
    // A task with no action ends at once, which may make others ready: go round again.
    loop {
        let ready = run.next_tasks();
        if ready.is_empty() {
            return;
        }
        for (task, route) in ready {
            let Ok(started) = run.start_task(&task, route) else {
                continue; // its params did not render: it ended failed
            };
            match started.delay {
                Some(secs) => {
                    tasks.delayed += 1;
                    let due = tasks.due.clone();
                    let wait = std::time::Duration::try_from_secs_f64(secs).unwrap_or_default();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = due.send(started);
                    });
                }
                None => launch(shared, plan, run, parent, tasks, started).await,
            }
        }
        if run.status() != RunStatus::Running {
            return;
        }
    }
}

/// Creates the executions of a started task (one per with-items item); a task with no
/// action ends at once.
async fn launch(
    shared: &Arc<Shared>,
    plan: &Plan,
    run: &mut Conductor,
    parent: ExecutionId,
    tasks: &mut Tasks,
    started: TaskRun,
) {
    let (task, route) = (started.task, started.route);
    let timeout = plan.workflow().get(&task).and_then(|t| t.timeout);
    for (k, params) in started.params.into_iter().enumerate() {
        let item = started.first_item.map(|f| f + k);
        let Some(action) = &started.action else {
            let _ = match item {
                Some(i) => run.finish_item(&task, route, i, RunStatus::Succeeded, None),
                None => run.finish_task(&task, route, RunStatus::Succeeded, None),
            };
            continue;
        };
        let child = Child {
            parent: Some(parent),
            timeout_secs: timeout,
            task: Some(crate::model::TaskRef {
                name: task.clone(),
                route,
                item,
            }),
            notify: Some(tasks.done.clone()),
        };
        match create_execution(shared, action, Value::Object(params), child).await {
            Ok(id) => {
                tasks.waiting.insert(id, (task.clone(), route, item));
            }
            Err(e) => {
                let failed = Some(json!({"error": e.to_string()}));
                let _ = match item {
                    Some(i) => run.finish_item(&task, route, i, RunStatus::Failed, failed),
                    None => run.finish_task(&task, route, RunStatus::Failed, failed),
                };
            }
        }
    }
}

/// Cancels the task executions still running (the cancel of a workflow cascades).
async fn cancel_tasks(shared: &Arc<Shared>, waiting: &Waiting) {
    let engine = Engine {
        shared: shared.clone(),
    };
    for id in waiting.keys() {
        if let Err(e) = engine.cancel(*id).await {
            tracing::debug!(execution.id = %id, error = %e, "workflow task not canceled");
        }
    }
}

/// The workflow execution's outcome: its output as the result; on failure the errors.
fn outcome(run: &Conductor) -> RunOutput {
    let output = run.output().cloned().map_or(Value::Null, Value::Object);
    let errors = serde_json::to_value(run.errors()).unwrap_or(Value::Null);
    let tasks: Vec<String> = run.sequence().iter().map(|e| e.label()).collect();
    let result = json!({"output": output, "errors": errors, "tasks": tasks});
    if run.status() == RunStatus::Succeeded {
        return RunOutput::success(result);
    }
    let msg: Vec<String> = run
        .errors()
        .iter()
        .map(|e| match &e.task_id {
            Some(t) => format!("{t}: {}", e.message),
            None => e.message.clone(),
        })
        .collect();
    let mut out = RunOutput::success(result);
    out.succeeded = false;
    out.error = Some(if msg.is_empty() {
        "the workflow failed".into()
    } else {
        msg.join("; ")
    });
    out
}

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
        let action = self.shared.registry.action(&exec.action).ok_or_else(|| {
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
        let filter = crate::store::ExecutionFilter {
            parent: Some(id),
            ..Default::default()
        };
        let mut statuses = crate::workflow::TaskStatuses::new();
        let mut page = crate::store::Page::first(1000);
        loop {
            let rows = self.shared.store.list_executions(&filter, &page).await?;
            for x in &rows {
                if let Some(t) = &x.task {
                    // In id order: the latest run of a task wins.
                    statuses.insert(t.name.clone(), x.status);
                }
            }
            match rows.last() {
                Some(last) if rows.len() == 1000 => page = crate::store::Page::after(last.id, 1000),
                _ => break,
            }
        }
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
            .filter(|a| *a != action_ref && self.shared.registry.action(a).is_none())
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
                Some(v) if crate::template::any_template(v, &|_| true) => ParamSpec::any(),
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
