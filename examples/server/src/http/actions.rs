//! `GET /api/v1/actions[/{ref}]` and `GET /api/v1/runnertypes[/{name}]`.

use super::Api;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::models;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Query parameters every route accepts and that do not filter: paging, attribute
/// selection, and credentials (StackStorm takes them in the query too).
const NOT_FILTERS: &[&str] = &[
    "include_attributes",
    "exclude_attributes",
    "limit",
    "offset",
    "x-auth-token",
    "st2-api-key",
];

/// `?limit=&offset=` (StackStorm: default 100; `limit=-1` for all, admin only; 0 or < -1
/// refused). Returns `(limit, offset)`, `limit` None for all.
pub(super) fn paging(
    q: &HashMap<String, String>,
    caller: &Caller,
) -> ApiResult<(Option<usize>, usize)> {
    let limit = match q.get("limit").map(|s| s.parse::<i64>()) {
        None => Some(100),
        Some(Ok(-1)) => {
            caller.require(super::auth::Role::Admin, "list without a limit (limit=-1)")?;
            None
        }
        Some(Ok(n)) if n >= 1 => Some(n as usize),
        Some(_) => {
            return Err(ApiError::bad_request(
                "limit: a whole number of at least 1, or -1 for all",
            ));
        }
    };
    let offset = match q.get("offset").map(|s| s.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "offset: a whole number of at least 0",
            ));
        }
    };
    Ok((limit, offset))
}

/// Refuses query parameters that are neither paging nor one of `filters` (400 naming it):
/// a filter this server does not apply must not be taken as applied.
pub(super) fn known_params(q: &HashMap<String, String>, filters: &[&str]) -> ApiResult<()> {
    for k in q.keys() {
        if !NOT_FILTERS.contains(&k.as_str()) && !filters.contains(&k.as_str()) {
            let mut known: Vec<&str> = filters.to_vec();
            known.extend_from_slice(NOT_FILTERS);
            return Err(ApiError::bad_request(format!(
                "unknown query parameter '{k}' (known here: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// One page of `items` with StackStorm's `X-Total-Count` and `X-Limit` headers.
pub(super) fn page(
    items: Vec<Value>,
    (limit, offset): (Option<usize>, usize),
) -> (HeaderMap, Json<Value>) {
    let total = items.len();
    let shown: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", total.into());
    if let Some(l) = limit {
        headers.insert("x-limit", l.into());
    }
    (headers, Json(Value::Array(shown)))
}

/// `st2 action list [-p PACK]`: the registered actions, by ref.
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params(&q, &["pack", "name", "ref", "runner_type"])?;
    let paging = paging(&q, &caller)?;
    let items = api
        .engine
        .action_refs()
        .iter()
        .filter_map(|r| api.engine.action(r))
        .map(|a| models::action(&a))
        .filter(|v| {
            ["pack", "name", "ref", "runner_type"]
                .iter()
                .all(|k| q.get(*k).is_none_or(|want| v[*k].as_str() == Some(want)))
        })
        .collect();
    Ok(page(items, paging))
}

/// `st2 action get REF`.
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Value>> {
    match api.engine.action(&r) {
        Some(a) => Ok(Json(models::action(&a))),
        None => Err(ApiError::not_found(format!(
            "Resource with a reference or id \"{r}\" not found"
        ))),
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
    known_params(&q, &["name"])?;
    let paging = paging(&q, &caller)?;
    let items = runner_names(&api)
        .iter()
        .filter(|n| q.get("name").is_none_or(|want| want == *n))
        .map(|n| models::runner(n))
        .collect();
    Ok(page(items, paging))
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
