//! Inquiries (human in the loop): executions of the `inquirer` runtime (`core.ask`) that
//! wait `pending` for a response. A response must fit the inquiry's schema and come from
//! one of its users or roles (when it names any); it is accepted once, and the execution
//! ends `succeeded` with the response in its result. One left unanswered past its ttl ends
//! `timeout`. A workflow whose task asks is paused while it waits, and resumed when the
//! inquiry ends.

use super::{Engine, Shared};
use crate::model::{Execution, ExecutionId, ExecutionStatus};
use crate::runtime::Asked;
use crate::store::{ExecutionChange, ExecutionFilter, StoreExt};
use crate::transport::{Message, StatusChange, Topic};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// An inquiry: a question an execution waits on.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Inquiry {
    /// The execution that asks (its id is the inquiry's).
    pub id: ExecutionId,
    /// The action (`core.ask`, or a pack's action of the inquirer runner).
    pub action: String,
    /// The JSON Schema a response must fit.
    pub schema: Value,
    /// Users who may respond (with `roles`: anyone when both are empty).
    pub users: Vec<String>,
    /// Roles whose members may respond.
    pub roles: Vec<String>,
    /// Where it is announced.
    pub route: String,
    /// Minutes it waits for a response.
    pub ttl_minutes: u64,
    /// When it started waiting.
    pub asked: DateTime<Utc>,
    /// When it ends `timeout` unless answered.
    pub expires: DateTime<Utc>,
    /// The workflow it belongs to, when a task asked.
    pub parent: Option<ExecutionId>,
}

/// Who responds to an inquiry: checked against its `users` and `roles`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Responder {
    /// The user's name, if known.
    pub user: Option<String>,
    /// The user's roles.
    pub roles: Vec<String>,
}

impl Responder {
    /// Anyone: accepted by an inquiry that names no users and no roles only.
    pub fn anyone() -> Self {
        Responder::default()
    }

    /// The user `name` with `roles`.
    pub fn user(name: impl Into<String>, roles: Vec<String>) -> Self {
        Responder {
            user: Some(name.into()),
            roles,
        }
    }
}

fn inquiry_of(e: &Execution) -> Result<Inquiry> {
    let what = format!("inquiry '{}'", e.id);
    let params = e
        .result
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid(&what, "its execution holds no inquiry (no result)"))?;
    let asked = Asked::from_params(params, &what)?;
    let at = e.started.unwrap_or(e.created);
    let ttl = std::time::Duration::from_secs(asked.ttl_minutes.saturating_mul(60));
    Ok(Inquiry {
        id: e.id,
        action: e.action.to_string(),
        schema: asked.schema,
        users: asked.users,
        roles: asked.roles,
        route: asked.route,
        ttl_minutes: asked.ttl_minutes,
        asked: at,
        expires: crate::clock::saturating_add(at, ttl),
        parent: e.parent,
    })
}

/// The route of the inquiry an execution holds (empty when it holds none).
pub(crate) fn route_of(e: &Execution) -> String {
    inquiry_of(e).map(|i| i.route).unwrap_or_default()
}

/// The running stage's part: these executions now wait for a response. Announced, and the
/// workflow runs waiting for them are told (they pause). Waiting for a person is not work
/// in flight: [`Engine::settle`] does not wait for it (the response makes it so again).
pub(crate) async fn now_pending(shared: &Shared, ids: &[ExecutionId]) {
    shared
        .publish_status(ids.iter().map(|id| (*id, ExecutionStatus::Pending)))
        .await;
    for id in ids {
        shared.pending.execution_done(*id);
    }
    {
        let children = shared.lock_children();
        for id in ids {
            if let Some(tx) = children.get(id) {
                let _ = tx.send((*id, ExecutionStatus::Pending));
            }
        }
    }
    super::system_triggers::inquiries_created(shared, ids).await;
}

/// Ends inquiries whose ttl passed (`timeout`); returns how many. Run by the recovery
/// sweep, and by a read or response that finds one expired.
pub(crate) async fn expire(shared: &Arc<Shared>, limit: usize) -> Result<usize> {
    let now = shared.now();
    let mut expired = Vec::new();
    shared
        .store
        .each_execution(&waiting(), &mut |e| {
            if waiting_inquiry(e).is_ok_and(|q| q.expires <= now) {
                expired.push(e.clone());
            }
        })
        .await?;
    let mut ended = 0;
    for e in expired.iter().take(limit) {
        if end(shared, e, ExecutionStatus::Timeout, None).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// The executions that may be inquiries waiting for a response.
fn waiting() -> ExecutionFilter {
    ExecutionFilter::new().status(ExecutionStatus::Pending)
}

/// Ends the inquiry `e` (`pending`) in `to` — with the response, when answered — and
/// resumes its workflow. Whether it was still pending.
async fn end(
    shared: &Arc<Shared>,
    e: &Execution,
    to: ExecutionStatus,
    response: Option<Value>,
) -> Result<bool> {
    let now = shared.now();
    let mut result = e.result.clone().unwrap_or(Value::Null);
    let change = match response {
        Some(r) => {
            if let Value::Object(m) = &mut result {
                m.insert("response".into(), r);
            }
            ExecutionChange::to(to, now).result(result)
        }
        None => ExecutionChange::to(to, now)
            .result(result)
            .error("the inquiry was not answered within its ttl"),
    };
    match shared
        .store
        .transition_execution(e.id, ExecutionStatus::Pending, change)
        .await
    {
        Ok(_) => {}
        Err(Error::Conflict(_)) => return Ok(false),
        Err(err) => return Err(err),
    }
    shared.pending.add_execution(e.id);
    let done = Message::Finished(StatusChange {
        execution: e.id,
        status: to,
    });
    if let Err(err) = shared.hand_on(Topic::Finished, &[done]).await {
        shared.pending.execution_done(e.id);
        return Err(err);
    }
    if let Some(parent) = e.parent {
        // Orquesta resumes the workflow once its inquiry is answered (or expired).
        if let Err(err) = Engine::internal(shared.clone()).resume(parent).await {
            tracing::debug!(execution.id = %parent, error = %err, "workflow not resumed after its inquiry");
        }
    }
    Ok(true)
}

/// The inquiry `e` holds, when it is one waiting for a response: Invalid when it is not
/// an inquiry, Conflict (naming its status) when it waits no more.
fn waiting_inquiry(e: &Execution) -> Result<Inquiry> {
    let id = e.id;
    if e.runner != "inquirer" {
        return Err(Error::invalid(
            format!("execution '{id}'"),
            format!(
                "is not an inquiry (action '{}', runner '{}')",
                e.action, e.runner
            ),
        ));
    }
    if e.status != ExecutionStatus::Pending {
        return Err(Error::Conflict(format!(
            "inquiry '{id}' is not waiting for a response: it is {}",
            e.status
        )));
    }
    inquiry_of(e)
}

/// # Inquiries
///
/// Questions actions ask (`core.ask`, the `inquirer` runner), and their responses.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
/// use attune_core::{Engine, Responder};
/// use attune_core::model::ExecutionStatus;
/// use serde_json::json;
///
/// let engine = Engine::builder().build().await?;
/// let id = engine.execute("core.ask", json!({})).await?;
/// engine.settle(std::time::Duration::from_secs(5)).await?; // asked: it waits, pending
/// assert_eq!(engine.execution(id).await?.status, ExecutionStatus::Pending);
/// let asked = engine.inquiry(id).await?;
/// assert_eq!(asked.schema["properties"]["continue"]["type"], "boolean");
/// let done = engine.respond(id, json!({"continue": true}), &Responder::anyone()).await?;
/// assert_eq!(done.status, ExecutionStatus::Succeeded);
/// assert_eq!(done.result.unwrap()["response"], json!({"continue": true}));
/// # Ok(()) }
/// ```
impl Engine {
    /// Every inquiry waiting for a response, oldest first.
    pub async fn inquiries(&self) -> Result<Vec<Inquiry>> {
        let mut out = Vec::new();
        self.shared
            .store
            .each_execution(&waiting(), &mut |e| {
                if let Ok(q) = waiting_inquiry(e) {
                    out.push(q);
                }
            })
            .await?;
        Ok(out)
    }

    /// The inquiry `id`. NotFound when no execution has that id; Conflict when it is not
    /// (or no longer) waiting — answered, expired, canceled — naming its status.
    pub async fn inquiry(&self, id: ExecutionId) -> Result<Inquiry> {
        waiting_inquiry(&self.shared.store.get_execution(id).await?)
    }

    /// Answers the inquiry `id` with `response`, as `who`. Refused, with nothing changed:
    /// a response that does not fit the schema (Invalid, naming each failing path); a
    /// responder who is neither one of its users nor has one of its roles, when it names
    /// any (Invalid); an inquiry already answered, expired or canceled (Conflict, naming
    /// its status; one found expired is ended `timeout` first). On success the execution
    /// ends `succeeded` with the response in its result (`result.response`), and its
    /// workflow, if a task asked, resumes.
    pub async fn respond(
        &self,
        id: ExecutionId,
        response: Value,
        who: &Responder,
    ) -> Result<Execution> {
        let s = &self.shared;
        let response =
            crate::input::within_depth(response, || format!("response to inquiry '{id}'"))?;
        let e = s.store.get_execution(id).await?;
        let q = waiting_inquiry(&e)?;
        if q.expires <= s.now() {
            end(s, &e, ExecutionStatus::Timeout, None).await?;
            return Err(Error::Conflict(format!(
                "inquiry '{id}' expired at {} (its ttl is {} minutes): it ended timeout",
                q.expires.to_rfc3339(),
                q.ttl_minutes
            )));
        }
        if !q.users.is_empty() || !q.roles.is_empty() {
            let by_user = who.user.as_ref().is_some_and(|u| q.users.contains(u));
            let by_role = who.roles.iter().any(|r| q.roles.contains(r));
            if !by_user && !by_role {
                return Err(Error::invalid(
                    format!("response to inquiry '{id}'"),
                    format!(
                        "{} may not respond: the inquiry accepts users [{}] and roles [{}]",
                        who.user
                            .as_deref()
                            .map_or("an unnamed responder".to_string(), |u| format!(
                                "user '{u}'"
                            )),
                        q.users.join(", "),
                        q.roles.join(", ")
                    ),
                ));
            }
        }
        let schema = crate::params::draft3_required(&q.schema);
        if let Some(compiled) = crate::params::CompiledSchema::compile(&schema).map_err(|err| {
            Error::invalid(format!("inquiry '{id}'"), format!("its schema: {err}"))
        })? && let Some(problems) = compiled.problems(&response)
        {
            return Err(Error::invalid(
                format!("response to inquiry '{id}'"),
                problems.join("; "),
            ));
        }
        if !end(s, &e, ExecutionStatus::Succeeded, Some(response)).await? {
            let now = s.store.get_execution(id).await?;
            return Err(Error::Conflict(format!(
                "inquiry '{id}' is not waiting for a response: it is {}",
                now.status
            )));
        }
        s.store.get_execution(id).await
    }
}
