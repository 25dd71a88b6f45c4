//! Trigger types, trigger instances (events) and rule enforcements:
//! `st2 trigger list`, `st2 trigger-instance list/get`, `st2 rule-enforcement list/get`.

use super::Api;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::models::timestamp;
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
use super::query::{
    by_id, counted, id_param, known_params, listed, newest_page, no_ref, paging, time_param,
};
use super::schemas::*;
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

/// The filters of `st2 trigger list` (exact matches).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct TriggerTypeFilters {
    pack: Option<String>,
    name: Option<String>,
}

/// `st2 trigger list [-p PACK]`.
#[utoipa::path(get, path = "/api/v1/triggertypes", tag = "triggers", params(Paging, Attributes, TriggerTypeFilters),
    responses((status = 200, description = "One page", body = Vec<TriggerTypeApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn types(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed::<TriggerTypeFilters>(
        &q,
        &caller,
        api.engine
            .trigger_type_refs()
            .iter()
            .filter_map(|r| api.engine.trigger_type(r))
            .map(|t| trigger_type_api(&t)),
    )
}

/// `st2 trigger get REF`.
#[utoipa::path(get, path = "/api/v1/triggertypes/{ref}", tag = "triggers", params(("ref" = String, Path, description = "The trigger type's ref")),
    responses((status = 200, description = "Done", body = TriggerTypeApi), ItemFaults))]
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

/// The filters of `st2 trigger-instance list`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct InstanceFilters {
    /// The trigger type's ref
    trigger: Option<String>,
    /// Emitted after this time (ISO-8601)
    timestamp_gt: Option<String>,
    /// Emitted before this time (ISO-8601)
    timestamp_lt: Option<String>,
    /// `pending`: not yet seen by the rules
    status: Option<String>,
}

/// `st2 trigger-instance list [--trigger T] [-tg/-tl TS]`: newest first.
#[utoipa::path(get, path = "/api/v1/triggerinstances", tag = "triggers", params(Paging, Attributes, InstanceFilters),
    responses((status = 200, description = "One page", body = Vec<TriggerInstanceApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn instances(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<InstanceFilters>(&q)?;
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
#[utoipa::path(get, path = "/api/v1/triggerinstances/{id}", tag = "triggers", params(("id" = String, Path, description = "The event id")),
    responses((status = 200, description = "Done", body = TriggerInstanceApi), ItemFaults))]
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

/// The filters of `st2 rule-enforcement list`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct EnforcementFilters {
    /// The rule's ref
    rule_ref: Option<String>,
    /// The rule's id (its ref here)
    rule_id: Option<String>,
    /// The event's id
    trigger_instance: Option<String>,
    /// After this time (ISO-8601)
    enforced_at_gt: Option<String>,
    /// Before this time (ISO-8601)
    enforced_at_lt: Option<String>,
}

/// `st2 rule-enforcement list [--rule R] [--trigger-instance T] [-tg/-tl TS]`.
#[utoipa::path(get, path = "/api/v1/ruleenforcements", tag = "triggers", params(Paging, Attributes, EnforcementFilters),
    responses((status = 200, description = "One page", body = Vec<RuleEnforcementApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn enforcements(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<EnforcementFilters>(&q)?;
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
#[utoipa::path(get, path = "/api/v1/ruleenforcements/{id}", tag = "triggers", params(("id" = String, Path, description = "The enforcement id")),
    responses((status = 200, description = "Done", body = RuleEnforcementApi), ItemFaults))]
pub(super) async fn enforcement(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let e = by_id(&id, |x| api.engine.enforcement(x)).await?;
    Ok(Json(enforcement_api(&e)))
}
