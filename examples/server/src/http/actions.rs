//! `GET /api/v1/actions[/{ref}]` and `GET /api/v1/runnertypes[/{name}]`.

use super::Api;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::models;
use super::query::{listed, no_ref};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// `st2 action list [-p PACK]`: the registered actions, by ref.
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed(
        &q,
        &caller,
        &["pack", "name", "ref", "runner_type"],
        api.engine
            .action_refs()
            .iter()
            .filter_map(|r| api.engine.action(r))
            .map(|a| models::action(&a)),
    )
}

/// `st2 action get REF`.
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
pub(super) async fn runners(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    listed(
        &q,
        &caller,
        &["name"],
        runner_names(&api).iter().map(|n| models::runner(n)),
    )
}

/// `GET /runnertypes/{name}`.
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
