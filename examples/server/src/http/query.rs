//! Query parameters and list answers shared by the routes: paging (`limit`, `offset`),
//! refusing what a route does not know, field filters, flags, times, and the
//! `X-Total-Count` / `X-Limit` headers.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::openapi::{Attributes, Paging, param_names};
use attune_core::store::Page;
use axum::Json;
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::IntoParams;

/// Query parameters every route accepts and that do not filter: paging, attribute
/// selection ([`Paging`], [`Attributes`]), and credentials (StackStorm takes them in the
/// query too; the document describes them as security schemes).
fn not_filters() -> Vec<String> {
    let mut names = param_names::<Paging>();
    names.extend(param_names::<Attributes>());
    names.extend(["x-auth-token".to_string(), "st2-api-key".to_string()]);
    names
}

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

/// Refuses query parameters that are neither paging nor a field of `P`, the route's
/// documented filters (400 naming it): a filter this server does not apply must not be
/// taken as applied.
pub(super) fn known_params<P: IntoParams>(q: &HashMap<String, String>) -> ApiResult<()> {
    known(q, &param_names::<P>())
}

fn known(q: &HashMap<String, String>, filters: &[String]) -> ApiResult<()> {
    let others = not_filters();
    for k in q.keys() {
        if !others.contains(k) && !filters.contains(k) {
            let mut names: Vec<&str> = filters.iter().map(String::as_str).collect();
            names.extend(others.iter().map(String::as_str));
            return Err(ApiError::bad_request(format!(
                "unknown query parameter '{k}' (known here: {})",
                names.join(", ")
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

/// Whether `v` has, at each of `keys` the query names, the string the query gives.
pub(super) fn fields_match(v: &Value, q: &HashMap<String, String>, keys: &[String]) -> bool {
    keys.iter().all(|k| {
        q.get(k)
            .is_none_or(|want| v[k.as_str()].as_str() == Some(want))
    })
}

/// `true`/`false` of a query parameter (StackStorm's client sends `decrypt=false`).
pub(super) fn flag(q: &HashMap<String, String>, name: &str) -> ApiResult<bool> {
    match q.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name}: '{v}' is not true or false"
        ))),
    }
}

/// A time query parameter (ISO-8601).
pub(super) fn time_param(name: &str, v: &str) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| ApiError::bad_request(format!("{name}: '{v}' is not an ISO-8601 time: {e}")))
}

/// A page newest first (StackStorm's default for these lists), from `?limit=&offset=`.
pub(super) fn newest_page(limit: Option<usize>, offset: usize) -> Page {
    ordered_page(false, limit, offset)
}

/// Whether the query asks for the oldest first (StackStorm's `sort_asc=True`; newest first
/// otherwise).
pub(super) fn oldest_first(q: &HashMap<String, String>) -> bool {
    q.get("sort_asc")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A page from `?limit=&offset=`, oldest or newest first.
pub(super) fn ordered_page(oldest_first: bool, limit: Option<usize>, offset: usize) -> Page {
    let n = limit.unwrap_or(usize::MAX);
    if oldest_first {
        Page::first(n).skip(offset)
    } else {
        Page::newest(n).skip(offset)
    }
}

/// One page with `X-Total-Count` (the store counts) and `X-Limit`.
pub(super) fn counted(
    items: Vec<Value>,
    total: u64,
    limit: Option<usize>,
) -> (HeaderMap, Json<Value>) {
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", total.into());
    if let Some(l) = limit {
        headers.insert("x-limit", l.into());
    }
    (headers, Json(Value::Array(items)))
}

/// A list route's answer: `items` filtered by the query's parameters of `P` (each an exact
/// string field of the items), paged; query parameters other than those and paging are
/// refused.
pub(super) fn listed<P: IntoParams>(
    q: &HashMap<String, String>,
    caller: &Caller,
    items: impl IntoIterator<Item = Value>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    let keys = param_names::<P>();
    known(q, &keys)?;
    let paging = paging(q, caller)?;
    let items = items
        .into_iter()
        .filter(|v| fields_match(v, q, &keys))
        .collect();
    Ok(page(items, paging))
}

/// 404 for a resource looked up by ref (StackStorm's message).
pub(super) fn no_ref(r: &str) -> ApiError {
    ApiError::not_found(format!("Resource with a reference or id \"{r}\" not found"))
}

/// 404 for a resource looked up by id.
pub(super) fn no_id(id: &str) -> ApiError {
    ApiError::not_found(format!("Resource with id \"{id}\" not found"))
}

/// What the path's `id` names, read by `read`; 404 naming the id when it is not an id of
/// that kind or nothing has it.
pub(super) async fn by_id<I, T, F>(id: &str, read: impl FnOnce(I) -> F) -> ApiResult<T>
where
    I: std::str::FromStr,
    F: std::future::Future<Output = attune_core::Result<T>>,
{
    let parsed = id.parse().map_err(|_| no_id(id))?;
    match read(parsed).await {
        Err(attune_core::Error::NotFound { .. }) => Err(no_id(id)),
        other => Ok(other?),
    }
}

/// An id given as the query parameter `name`; 400 naming it otherwise.
pub(super) fn id_param<T: std::str::FromStr>(name: &str, v: &str) -> ApiResult<T> {
    v.parse()
        .map_err(|_| ApiError::bad_request(format!("{name}: '{v}' is not an id")))
}
