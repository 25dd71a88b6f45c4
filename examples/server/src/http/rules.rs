//! Rules: `st2 rule list/get/create/enable/disable/delete` (`/api/v1/rules`).
//!
//! A rule sent to the API is read exactly as a pack's rule file is (StackStorm's shape;
//! unknown keys are errors naming them), then registered: the engine checks its trigger
//! type, action, parameters and criteria. A rule's `id` is its ref.

use super::Api;
use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
use super::query::{flag, known_params, page, paging};
use super::schemas::*;
use attune_core::model::Rule;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// StackStorm's `RuleAPI` of `r`.
pub(super) fn rule_api(r: &Rule) -> Value {
    let (pack, name) = r.rule_ref.split_once('.').unwrap_or(("", &r.rule_ref));
    let mut v = json!({
        "id": r.rule_ref,
        "ref": r.rule_ref,
        "uid": format!("rule:{pack}:{name}"),
        "name": name,
        "pack": pack,
        "description": r.description,
        "enabled": r.enabled,
        "type": { "ref": if r.backstop { "backstop" } else { "standard" }, "parameters": {} },
        "trigger": { "type": r.trigger, "parameters": r.trigger_params.as_object().cloned().unwrap_or_default() },
        "criteria": r.criteria,
        "action": { "ref": r.action, "parameters": r.action_params },
        "tags": [],
    });
    if let Some(e) = &r.expression {
        v["expression"] = json!(e);
    }
    v
}

fn missing(r: &str) -> ApiError {
    super::query::no_ref(r)
}

/// The rule of a request body (the pack named in it, or StackStorm's `default`).
fn read_body(body: &Bytes) -> ApiResult<Rule> {
    let v: Value = super::json_body(body, "rule")?;
    let Value::Object(m) = &v else {
        return Err(ApiError::bad_request("rule: a JSON object"));
    };
    let pack = match m.get("pack") {
        None | Some(Value::Null) => "default".to_string(),
        Some(Value::String(p)) => p.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "rule: pack must be a string, got {other}"
            )));
        }
    };
    attune_core::pack::read_rule("rule", &v.to_string(), &pack)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The filters of `st2 rule list`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct RuleFilters {
    pack: Option<String>,
    name: Option<String>,
    /// The action's ref
    action: Option<String>,
    /// The trigger type's ref
    trigger: Option<String>,
    enabled: Option<bool>,
}

/// `st2 rule list [--pack P] [--action A] [--trigger T] [--enabled/--disabled]`.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(Paging, Attributes, RuleFilters),
    responses((status = 200, description = "One page", body = Vec<RuleApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<RuleFilters>(&q)?;
    let paging = paging(&q, &caller)?;
    let enabled = match q.contains_key("enabled") {
        true => Some(flag(&q, "enabled")?),
        false => None,
    };
    let items = api
        .engine
        .rule_refs()
        .iter()
        .filter_map(|r| api.engine.rule(r))
        .filter(|r| {
            let v = rule_api(r);
            enabled.is_none_or(|e| r.enabled == e)
                && q.get("pack").is_none_or(|p| v["pack"] == p.as_str())
                && q.get("name").is_none_or(|n| v["name"] == n.as_str())
                && q.get("action").is_none_or(|a| r.action == *a)
                && q.get("trigger").is_none_or(|t| r.trigger == *t)
        })
        .map(|r| rule_api(&r))
        .collect();
    Ok(page(items, paging))
}

/// `st2 rule get REF`.
#[utoipa::path(get, path = "/api/v1/rules/{ref}", tag = "rules", params(("ref" = String, Path, description = "The rule's ref, pack.name")),
    responses((status = 200, description = "Done", body = RuleApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Value>> {
    api.engine
        .rule(&r)
        .map(|r| Json(rule_api(&r)))
        .ok_or_else(|| missing(&r))
}

/// `st2 rule create FILE`: 201, or 409 when the ref is taken.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body(content = RuleBody, content_type = "application/json"),
    responses((status = 201, description = "Done", body = RuleApi), ItemFaults, (status = 409, description = "A rule with that ref exists", body = Fault)))]
pub(super) async fn create(
    State(api): State<Arc<Api>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Role::Admin, "create rules")?;
    let rule = read_body(&body)?;
    if api.engine.rule(&rule.rule_ref).is_some() {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            format!("Rule \"{}\" already exists", rule.rule_ref),
        );
        e.conflict_id = Some(rule.rule_ref.clone());
        return Err(e);
    }
    let r = rule.rule_ref.clone();
    api.engine.register_rule(rule).await?;
    tracing::info!(target: "audit", user = %caller.user, rule = %r, "rule created");
    let stored = api.engine.rule(&r).ok_or_else(|| missing(&r))?;
    Ok((StatusCode::CREATED, Json(rule_api(&stored))))
}

/// `st2 rule enable/disable REF` (the whole rule, changed): 200.
#[utoipa::path(put, path = "/api/v1/rules/{ref}", tag = "rules", params(("ref" = String, Path, description = "The rule's ref, pack.name")), request_body(content = RuleBody, content_type = "application/json"),
    responses((status = 200, description = "Done", body = RuleApi), ItemFaults))]
pub(super) async fn update(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(r): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Admin, "change rules")?;
    if api.engine.rule(&r).is_none() {
        return Err(missing(&r));
    }
    let rule = read_body(&body)?;
    if rule.rule_ref != r {
        return Err(ApiError::bad_request(format!(
            "rule: the body is rule '{}', the path '{r}' (a rule is renamed by creating the new one)",
            rule.rule_ref
        )));
    }
    api.engine.register_rule(rule).await?;
    tracing::info!(target: "audit", user = %caller.user, rule = %r, "rule changed");
    let stored = api.engine.rule(&r).ok_or_else(|| missing(&r))?;
    Ok(Json(rule_api(&stored)))
}

/// `st2 rule delete REF`: 204, or 404.
#[utoipa::path(delete, path = "/api/v1/rules/{ref}", tag = "rules", params(("ref" = String, Path, description = "The rule's ref, pack.name")),
    responses((status = 204, description = "Deleted"), ItemFaults))]
pub(super) async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin, "delete rules")?;
    if api.engine.remove_rule(&r).await? {
        tracing::info!(target: "audit", user = %caller.user, rule = %r, "rule deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(missing(&r))
    }
}
