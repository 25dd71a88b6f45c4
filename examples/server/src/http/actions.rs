//! `GET /api/v1/actions[/{ref}]` and `GET /api/v1/runnertypes[/{name}]`.

use super::Api;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::models;
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
use super::query::{listed, no_ref};
use super::schemas::*;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The filters of `st2 action list` (each an exact match).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built
pub(super) struct ActionFilters {
    pack: Option<String>,
    name: Option<String>,
    r#ref: Option<String>,
    runner_type: Option<String>,
}

/// The filter of the runner types' list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built
pub(super) struct RunnerFilters {
    name: Option<String>,
}

/// `st2 action list [-p PACK]`: the registered actions, by ref.
#[utoipa::path(get, path = "/api/v1/actions", tag = "actions", params(Paging, Attributes, ActionFilters),
    responses((status = 200, description = "One page", body = Vec<ActionApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed::<ActionFilters>(
        &q,
        &caller,
        api.engine
            .action_refs()
            .iter()
            .filter_map(|r| api.engine.action(r))
            .map(|a| models::action(&a)),
    )
}

/// `st2 action get REF`.
#[utoipa::path(get, path = "/api/v1/actions/{ref}", tag = "actions", params(("ref" = String, Path, description = "The action's ref, pack.name")),
    responses((status = 200, description = "Done", body = ActionApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Value>> {
    match api.engine.action(&r) {
        Some(a) => Ok(Json(models::action(&a))),
        None => Err(no_ref(&r)),
    }
}

/// The runner type names of the registered actions.
fn runner_names(api: &Api) -> BTreeSet<String> {
    api.engine
        .action_refs()
        .iter()
        .filter_map(|r| api.engine.action(r))
        .map(|a| models::runner_type(&a).to_string())
        .collect()
}

/// `GET /runnertypes?name=…` (what `st2 run` asks before it runs).
#[utoipa::path(get, path = "/api/v1/runnertypes", tag = "actions", params(Paging, Attributes, RunnerFilters),
    responses((status = 200, description = "One page", body = Vec<RunnerTypeApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn runners(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed::<RunnerFilters>(
        &q,
        &caller,
        runner_names(&api).iter().map(|n| models::runner(n)),
    )
}

/// `GET /runnertypes/{name}`.
#[utoipa::path(get, path = "/api/v1/runnertypes/{name}", tag = "actions", params(("name" = String, Path, description = "The runner type")),
    responses((status = 200, description = "Done", body = RunnerTypeApi), ItemFaults))]
pub(super) async fn runner(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if runner_names(&api).contains(&name) {
        Ok(Json(models::runner(&name)))
    } else {
        Err(ApiError::not_found(format!(
            "Resource with a name or id \"{name}\" not found"
        )))
    }
}
