//! Trigger types, trigger instances (events) and rule enforcements:
//! `st2 trigger list`, `st2 trigger-instance list/get`, `st2 rule-enforcement list/get`.

use super::Api;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::models::timestamp;
use super::query::{
    by_id, counted, id_param, known_params, listed, newest_page, no_ref, paging, time_param,
};
use attune_core::model::{Enforcement, EnforcementStatus, Event, EventId, TriggerType};
use attune_core::store::{EnforcementFilter, EventFilter};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// `TriggerTypeAPI`.
fn trigger_type_api(t: &TriggerType) -> Value {
    let (pack, name) = t
        .trigger_ref
        .split_once('.')
        .unwrap_or(("", &t.trigger_ref));
    json!({
        "id": t.trigger_ref,
        "ref": t.trigger_ref,
        "uid": format!("trigger_type:{pack}:{name}"),
        "name": name,
        "pack": pack,
        "description": t.description,
        "parameters_schema": t.parameters_schema,
        "payload_schema": t.payload_schema,
        "tags": [],
    })
}

/// `st2 trigger list [-p PACK]`.
pub(super) async fn types(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed(
        &q,
        &caller,
        &["pack", "name"],
        api.engine
            .trigger_type_refs()
            .iter()
            .filter_map(|r| api.engine.trigger_type(r))
            .map(|t| trigger_type_api(&t)),
    )
}

/// `st2 trigger get REF`.
pub(super) async fn r#type(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Value>> {
    let canonical = attune_core::pack::canonical_trigger(&r);
    api.engine
        .trigger_type(canonical)
        .map(|t| Json(trigger_type_api(&t)))
        .ok_or_else(|| no_ref(&r))
}

/// `TriggerInstanceAPI` of an event, `processed` once matched, else `pending`.
fn instance_api(e: &Event, unmatched: &HashSet<EventId>) -> Value {
    let status = if unmatched.contains(&e.id) {
        "pending"
    } else {
        "processed"
    };
    json!({
        "id": e.id.to_string(),
        "trigger": e.trigger,
        "occurrence_time": timestamp(e.created),
        "payload": e.payload,
        "status": status,
    })
}

/// Which of `events` are not matched yet.
async fn unmatched(api: &Api, events: &[Event]) -> ApiResult<HashSet<EventId>> {
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    Ok(api
        .engine
        .store()
        .unmatched_events(&ids)
        .await?
        .into_iter()
        .collect())
}

/// `st2 trigger-instance list [--trigger T] [-tg/-tl TS]`: newest first.
pub(super) async fn instances(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params(&q, &["trigger", "timestamp_gt", "timestamp_lt", "status"])?;
    let (limit, offset) = paging(&q, &caller)?;
    let mut f = EventFilter::new();
    if let Some(t) = q.get("trigger") {
        f = f.trigger(attune_core::pack::canonical_trigger(t));
    }
    if let Some(t) = q.get("timestamp_gt") {
        f = f.since(time_param("timestamp_gt", t)? + chrono::TimeDelta::microseconds(1));
    }
    if let Some(t) = q.get("timestamp_lt") {
        f.until = Some(time_param("timestamp_lt", t)?);
    }
    match q.get("status").map(String::as_str) {
        None => {}
        Some("pending") => f.unmatched_only = true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status: '{other}' cannot be filtered on here (only pending)"
            )));
        }
    }
    let total = api.engine.count_events(&f).await?;
    let rows = api.engine.events(&f, newest_page(limit, offset)).await?;
    let open = unmatched(&api, &rows).await?;
    let items = rows.iter().map(|e| instance_api(e, &open)).collect();
    Ok(counted(items, total, limit))
}

/// `st2 trigger-instance get ID`.
pub(super) async fn instance(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let e = by_id(&id, |x: EventId| api.engine.event(x)).await?;
    let open = unmatched(&api, std::slice::from_ref(&e)).await?;
    Ok(Json(instance_api(&e, &open)))
}

/// `RuleEnforcementAPI`: StackStorm has `succeeded` and `failed`.
fn enforcement_api(e: &Enforcement) -> Value {
    let (pack, name) = e.rule.split_once('.').unwrap_or(("", &e.rule));
    let status = match e.status {
        EnforcementStatus::Failed => "failed",
        _ => "succeeded",
    };
    json!({
        "id": e.id.to_string(),
        "rule": { "ref": e.rule, "id": e.rule, "uid": format!("rule:{pack}:{name}") },
        "trigger_instance_id": e.event.to_string(),
        "execution_id": e.execution.map(|x| x.to_string()),
        "failure_reason": e.failure,
        "enforced_at": timestamp(e.created),
        "status": status,
    })
}

/// `st2 rule-enforcement list [--rule R] [--trigger-instance T] [-tg/-tl TS]`.
pub(super) async fn enforcements(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params(
        &q,
        &[
            "rule_ref",
            "rule_id",
            "trigger_instance",
            "enforced_at_gt",
            "enforced_at_lt",
        ],
    )?;
    let (limit, offset) = paging(&q, &caller)?;
    let mut f = EnforcementFilter::new();
    if let Some(r) = q.get("rule_ref").or_else(|| q.get("rule_id")) {
        f = f.rule(r);
    }
    if let Some(t) = q.get("trigger_instance") {
        f.event = Some(id_param("trigger_instance", t)?);
    }
    if let Some(t) = q.get("enforced_at_gt") {
        f.since = Some(time_param("enforced_at_gt", t)? + chrono::TimeDelta::microseconds(1));
    }
    if let Some(t) = q.get("enforced_at_lt") {
        f.until = Some(time_param("enforced_at_lt", t)?);
    }
    let total = api.engine.count_enforcements(&f).await?;
    let rows = api
        .engine
        .enforcements(&f, newest_page(limit, offset))
        .await?;
    let items = rows.iter().map(enforcement_api).collect();
    Ok(counted(items, total, limit))
}

/// `st2 rule-enforcement get ID`.
pub(super) async fn enforcement(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let e = by_id(&id, |x| api.engine.enforcement(x)).await?;
    Ok(Json(enforcement_api(&e)))
}
