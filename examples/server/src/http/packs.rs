//! Packs, sensor types and policies: `st2 pack list/get/register`, `st2 sensor list`,
//! `st2 policy list`. Packs are installed from the directories `attune serve --pack`
//! names; `st2 pack register` reads them again, as SIGHUP does.

use super::Api;
use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
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
    responses((status = 200, description = "One page", body = Vec<PackApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
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
    responses((status = 200, description = "Done", body = PackApi), ItemFaults))]
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
    responses((status = 200, description = "One page", body = Vec<SensorTypeApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
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
    responses((status = 200, description = "One page", body = Vec<PolicyApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
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

/// StackStorm's `PackRegisterRequestAPI`, as `st2 pack register [PACK…]` sends it.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Register {
    /// Packs that must be among those registered (every pack directory is read again).
    #[serde(default)]
    packs: Vec<String>,
    /// Refused when given: a pack's content is registered whole.
    #[serde(default)]
    types: Vec<String>,
    /// Accepted; a pack with problems always fails the registration.
    #[serde(default)]
    fail_on_failure: Option<bool>,
}

/// `st2 pack register [PACK…]`: reads the server's pack directories again and installs
/// them when all check clean (as SIGHUP does; a pack with problems keeps the running ones
/// and is a 400 naming each problem). Answers StackStorm's counts of what the packs hold.
/// Admins only.
#[utoipa::path(post, path = "/api/v1/packs/register", tag = "packs",
    request_body(content = Register, content_type = "application/json"),
    responses((status = 200, description = "What the registered packs hold, by kind", body = Object),
        (status = 400, description = "Bad input, or a pack with problems", body = Fault),
        (status = 401, description = "No or bad credentials", body = Fault),
        (status = 403, description = "The caller's role does not allow it", body = Fault)))]
pub(super) async fn register(
    State(api): State<Arc<Api>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Admin, "register packs")?;
    let req: Register = super::json_body(&body, "pack register")?;
    if !req.types.is_empty() {
        return Err(ApiError::bad_request(format!(
            "types: registering only some kinds of content ({}) is not supported: a pack is registered whole",
            req.types.join(", ")
        )));
    }
    let _ = req.fail_on_failure;
    let Some(reloads) = &api.reloads else {
        return Err(ApiError::bad_request(
            "this server reads no pack directories (start it with --pack DIR)",
        ));
    };
    // Checked before anything is read: the packs installed are those of the directories.
    let installed = api.engine.pack_refs();
    if let Some(p) = req.packs.iter().find(|p| !installed.contains(p)) {
        return Err(ApiError::bad_request(format!(
            "packs: '{p}' is not an installed pack (installed: {})",
            installed.join(", ")
        )));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stopped = || {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
        )
    };
    reloads.send(tx).await.map_err(|_| stopped())?;
    let loaded = rx.await.map_err(|_| stopped())?.map_err(|problems| {
        ApiError::bad_request(format!("packs not registered: {}", problems.join("; ")))
    })?;
    tracing::info!(target: "audit", user = %caller.user, packs = %loaded.join(","), "packs registered");
    let of = |refs: Vec<String>| {
        refs.iter()
            .filter(|r| {
                loaded
                    .iter()
                    .any(|p| r.split_once('.').is_some_and(|(pk, _)| pk == p))
            })
            .count()
    };
    let e = &api.engine;
    Ok(Json(json!({
        "actions": of(e.action_refs()),
        "rules": of(e.rule_refs()),
        "triggers": of(e.trigger_type_refs()),
        "sensors": of(e.sensors().iter().map(|s| s.sensor_ref.clone()).collect()),
        "policies": of(e.policies(None).iter().map(|p| p.policy_ref.clone()).collect()),
    })))
}
