//! Packs, sensor types and policies: `st2 pack list/get`, `st2 sensor list`,
//! `st2 policy list` (read-only here; packs are installed by `attune serve --pack` and
//! reloaded on SIGHUP).

use super::Api;
use super::auth::Caller;
use super::error::ApiResult;
use super::openapi::{Attributes, Paging};
use super::query::{listed, no_ref};
use super::schemas::*;
use attune_core::model::{Pack, Policy};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `PackAPI`.
fn pack_api(p: &Pack) -> Value {
    json!({
        "id": p.pack_ref,
        "ref": p.pack_ref,
        "uid": format!("pack:{}", p.pack_ref),
        "name": if p.label.is_empty() { &p.pack_ref } else { &p.label },
        "description": p.description,
        "version": p.version,
        "author": p.author,
    })
}

/// The filters of `st2 pack list` (exact matches).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct PackFilters {
    name: Option<String>,
    r#ref: Option<String>,
}

/// `st2 pack list`.
#[utoipa::path(get, path = "/api/v1/packs", tag = "packs", params(Paging, Attributes, PackFilters),
    responses((status = 200, description = "One page", body = Vec<PackApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "No or bad credentials", body = Fault), (status = 403, description = "The caller's role does not allow it", body = Fault)))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed::<PackFilters>(
        &q,
        &caller,
        api.engine
            .pack_refs()
            .iter()
            .filter_map(|r| api.engine.pack(r))
            .map(|p| pack_api(&p)),
    )
}

/// `st2 pack get REF`.
#[utoipa::path(get, path = "/api/v1/packs/{ref}", tag = "packs", params(("ref" = String, Path, description = "The pack's ref")),
    responses((status = 200, description = "Done", body = PackApi), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "No or bad credentials", body = Fault), (status = 403, description = "The caller's role does not allow it", body = Fault), (status = 404, description = "Not found", body = Fault)))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Value>> {
    api.engine
        .pack(&r)
        .map(|p| Json(pack_api(&p)))
        .ok_or_else(|| no_ref(&r))
}

/// The filters of the sensors' list (exact matches).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct SensorFilters {
    pack: Option<String>,
    name: Option<String>,
}

/// `st2 sensor list`: the sensors, `enabled` when a rule uses one (then it runs).
#[utoipa::path(get, path = "/api/v1/sensortypes", tag = "packs", params(Paging, Attributes, SensorFilters),
    responses((status = 200, description = "One page", body = Vec<SensorTypeApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "No or bad credentials", body = Fault), (status = 403, description = "The caller's role does not allow it", body = Fault)))]
pub(super) async fn sensors(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed::<SensorFilters>(
        &q,
        &caller,
        api.engine.sensors().iter().map(|s| {
            let (pack, name) = s.sensor_ref.split_once('.').unwrap_or(("", &s.sensor_ref));
            json!({
                "id": s.sensor_ref,
                "ref": s.sensor_ref,
                "uid": format!("sensor_type:{pack}:{name}"),
                "name": name,
                "pack": pack,
                "runner": s.runner,
                "trigger_types": s.trigger_types,
                "enabled": s.used_by_rules,
                "state": format!("{:?}", s.state),
            })
        }),
    )
}

/// `PolicyAPI`: StackStorm's policy type names for Attune's kinds.
fn policy_api(p: &Policy) -> Value {
    let (pack, name) = p.policy_ref.split_once('.').unwrap_or(("", &p.policy_ref));
    let kind = serde_json::to_value(&p.kind).unwrap_or(Value::Null);
    let policy_type = match kind.get("type").and_then(Value::as_str) {
        Some("concurrency") => "action.concurrency",
        Some("rate_limit") => "action.rate_limit",
        Some("retry") => "action.retry",
        Some(other) => other,
        None => "",
    };
    let mut parameters = kind.clone();
    if let Value::Object(m) = &mut parameters {
        m.remove("type");
    }
    json!({
        "id": p.policy_ref,
        "ref": p.policy_ref,
        "uid": format!("policy:{pack}:{name}"),
        "name": name,
        "pack": pack,
        "resource_ref": p.action,
        "policy_type": policy_type,
        "parameters": parameters,
        "enabled": p.enabled,
    })
}

/// The filters of `st2 policy list` (exact matches).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct PolicyFilters {
    pack: Option<String>,
    /// The action governed
    resource_ref: Option<String>,
    policy_type: Option<String>,
}

/// `st2 policy list`.
#[utoipa::path(get, path = "/api/v1/policies", tag = "packs", params(Paging, Attributes, PolicyFilters),
    responses((status = 200, description = "One page", body = Vec<PolicyApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "No or bad credentials", body = Fault), (status = 403, description = "The caller's role does not allow it", body = Fault)))]
pub(super) async fn policies(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed::<PolicyFilters>(
        &q,
        &caller,
        api.engine.policies(None).iter().map(policy_api),
    )
}
