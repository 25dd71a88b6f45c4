//! Execution creation: a `requested` execution of an action with validated params, stored
//! with its secrets redacted and announced to the scheduling stage — for a rule's match (the
//! matching stage), a direct `execute`, and a workflow's task.

use super::Shared;
use crate::model::{Action, Execution, ExecutionId, ExecutionStatus};
use crate::transport::{Message, Topic};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A `requested` execution of `action` with `validated` params stored redacted (secret
/// params, and the secret config values of its pack wherever they appear); the second value
/// is the unredacted params when anything was redacted.
pub(crate) fn new_execution(
    shared: &Shared,
    action: &Action,
    validated: Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
    rule_pack: Option<&str>,
) -> (Execution, Option<Map<String, Value>>) {
    let pack_secrets = secrets_of_packs(shared, action.pack(), rule_pack);
    let (stored, secrets) = if action.parameters.has_secrets() || pack_secrets.is_some() {
        let mut stored = action.parameters.redact(&validated);
        if let Some(ps) = &pack_secrets {
            for v in stored.values_mut() {
                crate::params::mask_value(v, ps);
            }
        }
        // Runners expect the unredacted copy of every action with secret params.
        if stored == validated && !action.parameters.has_secrets() {
            (validated, None)
        } else {
            (stored, Some(validated))
        }
    } else {
        (validated, None)
    };
    let mut exec = Execution::new(
        &action.action_ref,
        &action.runner,
        Value::Object(stored),
        now,
    );
    // As in StackStorm runners, a `timeout` param sets the run's timeout. The runtime applies
    // it itself (and reports a timeout); the engine's deadline is one second later, a backstop.
    let param_timeout = action
        .parameters
        .get("timeout")
        .and_then(|_| exec.params.get("timeout"))
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0);
    exec.timeout_secs = match param_timeout {
        Some(t) => Some(t + 1.0),
        None => action
            .timeout_secs
            .or_else(|| shared.config.default_timeout.map(|d| d.as_secs_f64())),
    };
    (exec, secrets)
}

/// Inserts a `requested` execution; secret param values stay in this process only.
pub(crate) async fn insert_execution(
    shared: &Shared,
    exec: &Execution,
    secrets: Option<Map<String, Value>>,
) -> Result<()> {
    if let Some(s) = secrets {
        shared.lock_secrets().insert(exec.id, s);
    }
    match shared.store.insert_execution(exec).await {
        Ok(()) => {
            shared.pending.add_execution(exec.id);
            Ok(())
        }
        Err(e) => {
            shared.lock_secrets().remove(&exec.id);
            Err(e)
        }
    }
}

/// `Engine::execute`: validates and creates a `requested` execution without a rule.
pub(crate) async fn create_direct(
    shared: &Arc<Shared>,
    action_ref: &str,
    params: Value,
) -> Result<ExecutionId> {
    create_execution(shared, action_ref, params, Child::default()).await
}

/// What a workflow sets on the executions of its tasks.
#[derive(Debug, Default)]
pub(crate) struct Child {
    /// The workflow execution.
    pub parent: Option<ExecutionId>,
    /// The task's timeout (seconds), over the action's.
    pub timeout_secs: Option<f64>,
    /// The task it runs.
    pub task: Option<crate::model::TaskRef>,
    /// Told when the execution finishes (registered before it can).
    pub notify: Option<tokio::sync::mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>>,
    /// The first entry of its workflow journal, written before it exists (a re-run).
    pub first_step: Option<String>,
}

/// Validates and creates a `requested` execution without a rule, as `child` says.
pub(crate) async fn create_execution(
    shared: &Arc<Shared>,
    action_ref: &str,
    params: Value,
    child: Child,
) -> Result<ExecutionId> {
    let action = shared
        .catalog
        .action(action_ref)
        .ok_or_else(|| Error::not_found("action", action_ref))?;
    if !action.enabled {
        return Err(Error::invalid(
            format!("action '{action_ref}'"),
            "it is disabled",
        ));
    }
    let params = match params {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(Error::invalid(
                format!("params of action '{action_ref}'"),
                format!("must be an object, got {other}"),
            ));
        }
    };
    let validated = action
        .parameters
        .validate(&params)
        .map_err(|e| Error::invalid(format!("params of action '{action_ref}'"), e.to_string()))?;
    let (mut exec, secrets) = new_execution(shared, &action, validated, shared.now(), None);
    exec.parent = child.parent;
    exec.task = child.task;
    if child.timeout_secs.is_some() {
        exec.timeout_secs = child.timeout_secs;
    }
    if let Some(step) = child.first_step {
        let entry = crate::store::JournalEntry {
            execution: exec.id,
            seq: 0,
            step,
        };
        shared.store.append_journal(&[entry]).await?;
    }
    if let Some(tx) = child.notify {
        shared.lock_children().insert(exec.id, tx);
    }
    if let Err(e) = insert_execution(shared, &exec, secrets).await {
        shared.lock_children().remove(&exec.id);
        return Err(e);
    }
    publish_requested(shared, vec![exec.id]).await;
    Ok(exec.id)
}

/// The secret config values of the action's pack and of the pack of the rule that rendered
/// its params (a rule may pass `{{ pack.config.token }}` to another pack's action).
pub(crate) fn secrets_of_packs(
    shared: &Shared,
    action_pack: &str,
    rule_pack: Option<&str>,
) -> Option<std::sync::Arc<[String]>> {
    shared.catalog.run_info(action_pack, rule_pack).0
}

pub(crate) async fn publish_requested(shared: &Shared, ids: Vec<ExecutionId>) {
    if ids.is_empty() {
        return;
    }
    // Announce before the hand-off, so that no later status of these executions is
    // announced before this one.
    shared
        .publish_status(ids.iter().map(|id| (*id, ExecutionStatus::Requested)))
        .await;
    let msgs = ids.iter().map(|id| Message::Requested(*id)).collect();
    if let Err(e) = shared.transport.publish(Topic::Requested, msgs).await {
        tracing::error!(error = %e, "requested executions not published; the recovery sweep hands them on later");
    }
}
