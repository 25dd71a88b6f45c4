//! `attune execution pause|resume|rerun`: the control of work in a `--db` file.
//!
//! Pause records the request in the store; the process that drives the workflow follows it
//! at its next lease renewal. Resume and re-run follow their run to its end in this
//! process, as `attune run` does (output echoed, `--wait`, a first signal cancels).

use super::run::{follow, params};
use super::store::{id, need_db};
use super::{Failure, Setup, wait_for, work};
use crate::Report;
use crate::output::Style;
use attune_core::model::{Execution, ExecutionId};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Whether `e` has not finished and another process holds it (this one does not drive it).
pub(super) fn driven_elsewhere(e: &Execution, setup: &Setup) -> bool {
    !e.status.is_terminal() && e.worker.as_deref() != Some(setup.worker_id.as_str())
}

fn status_line(style: Style, verb: &str, e: &Execution) -> String {
    format!("{} {} {} {}\n", style.good(verb), e.id, e.action, e.status)
}

/// `attune execution pause ID`: records the pause and returns (`pausing`, or `paused`
/// once nothing runs).
pub(super) async fn pause(packs: &[PathBuf], x: &str, setup: &Setup) -> Result<Report, Failure> {
    need_db(setup, "attune execution pause")?;
    let engine = super::engine_with(packs, setup).await?;
    let done = engine.pause(id(x)?).await;
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    let e = done?;
    Ok(Report {
        text: status_line(setup.style, "pause requested:", &e),
        json: json!({"execution": e}),
        code: 0,
    })
}

/// `attune execution resume ID`: resumes the workflow, and follows it when this process
/// drives it now (no other live process held it); else says which process does.
pub(super) async fn resume(
    packs: &[PathBuf],
    x: &str,
    wait_secs: f64,
    setup: &Setup,
    json_out: bool,
) -> Result<Report, Failure> {
    need_db(setup, "attune execution resume")?;
    let wait = wait_for(wait_secs)?;
    let deadline = tokio::time::Instant::now() + wait;
    let id = id(x)?;
    let mut work = work::start(packs, setup).await?;
    // Recovery left it paused; this command is what continues it.
    work.recovery.held.retain(|(e, _)| e.id != id);
    let logs = work.engine.subscribe_logs();
    let e = match work.engine.resume(id).await {
        Ok(e) => e,
        Err(err) => {
            work::stop(work.engine, Vec::new()).await;
            return Err(err.into());
        }
    };
    let now = work.engine.execution(id).await?;
    if driven_elsewhere(&now, setup) {
        // Another live process drives it: it continues there.
        work.engine
            .shutdown(std::time::Duration::from_secs(1))
            .await;
        let by = now.worker.as_deref().unwrap_or("another process");
        return Ok(Report {
            text: format!(
                "{}  driven by {by}, which continues it\n",
                status_line(setup.style, "resumed", &e)
            ),
            json: json!({"execution": now, "note": format!("driven by {by}")}),
            code: 0,
        });
    }
    follow(work, logs, id, wait_secs, deadline, setup, json_out).await
}

/// What `attune execution rerun` was given.
pub(super) struct Rerun<'a> {
    pub packs: &'a [PathBuf],
    pub id: &'a str,
    pub wait: f64,
    pub tasks: &'a [String],
    pub params: &'a [String],
    pub params_from: &'a Option<String>,
}

/// `attune execution rerun ID`: a workflow from its failed tasks (`Engine::rerun`), another
/// action again with its stored params and the overrides; then follows the new execution.
/// An action with secret params needs them given again (secrets are never stored).
pub(super) async fn rerun(r: Rerun<'_>, setup: &Setup, json_out: bool) -> Result<Report, Failure> {
    need_db(setup, "attune execution rerun")?;
    let overrides = params(r.params_from, r.params, &setup.interrupt).await?;
    let wait = wait_for(r.wait)?;
    let deadline = tokio::time::Instant::now() + wait;
    let old_id = id(r.id)?;
    let work = work::start(r.packs, setup).await?;
    let logs = work.engine.subscribe_logs();
    match start_again(&work.engine, old_id, r.tasks, overrides).await {
        Ok(new_id) => follow(work, logs, new_id, r.wait, deadline, setup, json_out).await,
        Err(f) => {
            work::stop(work.engine, Vec::new()).await;
            Err(f)
        }
    }
}

async fn start_again(
    engine: &attune_core::Engine,
    old_id: ExecutionId,
    tasks: &[String],
    overrides: serde_json::Map<String, Value>,
) -> Result<ExecutionId, Failure> {
    let old = engine.execution(old_id).await?;
    if old.runner == attune_core::model::WORKFLOW_RUNNER {
        if !overrides.is_empty() {
            return Err(Failure::Other(format!(
                "execution '{old_id}' is a workflow: a re-run continues its run with the \
                 same input, so params cannot be overridden (run it anew with attune run)"
            )));
        }
        let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
        return Ok(engine.rerun(old_id, &tasks).await?);
    }
    if !tasks.is_empty() {
        return Err(Failure::Other(format!(
            "--task: execution '{old_id}' runs '{}', which is not a workflow",
            old.action
        )));
    }
    let Value::Object(mut params) = old.params else {
        return Err(Failure::Other(format!(
            "execution '{old_id}' has no params object to run again"
        )));
    };
    let action = engine
        .action(&old.action)
        .ok_or_else(|| Failure::Other(format!("action '{}' is not loaded (--pack)", old.action)))?;
    // Secret params are stored redacted, and so are secret values inside others (pack
    // config secrets, decrypted keys): such a param must be given again.
    let mut missing: Vec<&str> = params
        .iter()
        .filter(|(n, v)| {
            !overrides.contains_key(*n)
                && (action.parameters.get(n).is_some_and(|s| s.secret) || holds_redacted(v))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        return Err(Failure::Other(format!(
            "execution '{old_id}' had secret values in params {}, which are never stored: \
             give them again (KEY=VALUE or --params @FILE)",
            missing.join(", ")
        )));
    }
    // A param whose default is a template renders again from the params of this run (the
    // stored value is the first run's rendering).
    params.retain(|name, _| {
        overrides.contains_key(name)
            || !action
                .parameters
                .get(name)
                .and_then(|s| s.default.as_ref())
                .is_some_and(attune_core::template::contains_template)
    });
    params.extend(overrides);
    let new_id = match &old.user {
        Some(u) => {
            engine
                .execute_as(u, &old.action, Value::Object(params))
                .await?
        }
        None => engine.execute(&old.action, Value::Object(params)).await?,
    };
    Ok(new_id)
}

/// Whether `v` holds the redaction mark where a secret value was.
fn holds_redacted(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(attune_core::params::REDACTED),
        Value::Array(a) => a.iter().any(holds_redacted),
        Value::Object(m) => m.values().any(holds_redacted),
        _ => false,
    }
}
