//! What the engine adds to a run of an action chain (a workflow action whose text is a
//! chain, see [`ActionChain`](crate::workflow::ActionChain)): `action_context` in its
//! template context, and a result in the shape of StackStorm's `action-chain` runner.

use super::Shared;
use super::workflow_driver::each_task_execution;
use crate::model::ExecutionId;
use crate::runtime::{RunOutput, RunRequest};
use crate::workflow::{Conductor, EXECUTION_FAILED, Plan};
use serde_json::{Map, Value, json};

/// The input a run starts with: the execution's params, and for a chain `action_context`
/// (`action_context.parent.execution_id`: the chain's execution, as StackStorm gives it).
pub(super) fn run_input(plan: &Plan, req: &RunRequest) -> Map<String, Value> {
    let mut input = req.params.clone();
    if plan.is_chain() {
        input.insert(
            "action_context".into(),
            json!({"parent": {"execution_id": req.execution_id.to_string()}}),
        );
    }
    input
}

/// A chain's outcome: `out` (the workflow's: status and error) with StackStorm's result —
/// `tasks` (each node run, in the order run: `id` and `name` the node's, `execution_id`,
/// `workflow` null, `created_at`, `updated_at`, `state`, `result`), `published` (what its
/// nodes published), and `error` when the chain failed for a reason other than a node's
/// failure (a param or a publish that did not render).
pub(super) async fn outcome(
    shared: &Shared,
    id: ExecutionId,
    run: &Conductor,
    mut out: RunOutput,
) -> RunOutput {
    let mut tasks = Vec::new();
    let listed = each_task_execution(shared, id, |x| {
        let Some(t) = &x.task else { return };
        let result = match (&x.result, &x.error) {
            (Some(r), _) => r.clone(),
            (None, Some(e)) => json!({ "error": e }),
            (None, None) => Value::Null,
        };
        tasks.push(json!({
            "id": t.name,
            "name": t.name,
            "execution_id": x.id.to_string(),
            "workflow": null,
            "created_at": x.created.to_rfc3339(),
            "updated_at": x.updated.to_rfc3339(),
            "state": x.status,
            "result": result,
        }));
    })
    .await;
    let mut result = json!({ "tasks": tasks, "published": run.chain_published() });
    let mut errors: Vec<String> = run
        .errors()
        .iter()
        .filter(|e| e.message != EXECUTION_FAILED)
        .map(|e| match &e.task_id {
            Some(t) => format!("{t}: {}", e.message),
            None => e.message.clone(),
        })
        .collect();
    if let Err(e) = listed {
        errors.push(format!(
            "the chain's task executions could not be listed: {e}"
        ));
    }
    if !errors.is_empty() {
        result["error"] = Value::String(errors.join("; "));
    }
    out.result = result;
    out
}
