//! API keys: `st2 apikey create/list/get/delete/enable/disable`, and the `St2-Api-Key`
//! header (or `?st2-api-key=`) that authenticates with one.
//!
//! A key is 32 random bytes (hex), shown once, at its creation. The store keeps only its
//! SHA-256 — as a key-value pair of the reserved scope `pack:_attune_apikeys` (no pack can
//! be named so), named by the hash, so that every API process of a shared database finds
//! it with one read — and the record `{id, user, metadata, enabled, created_at}`. A key
//! stands for its user with the user's current role, and stops working when it is
//! deleted or disabled, or its user is no longer configured.

use super::Api;
use super::auth::{Caller, Role, hex};
use super::error::{ApiError, ApiResult};
use super::models::timestamp;
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
use super::query::{known_params, no_id, page, paging};
use super::schemas::*;
use attune_core::keystore::KeyOptions;
use attune_core::model::{Key, KeyScope};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Where the keys' records live.
fn scope() -> KeyScope {
    KeyScope::Pack("_attune_apikeys".into())
}

/// The SHA-256 of a key, hex: the name of its record.
fn hash_of(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// The caller a presented API key stands for; 401 when it is unknown or disabled.
pub(super) async fn caller_of(api: &Api, key: &str) -> Result<Caller, ApiError> {
    let refused = || ApiError::unauthorized("Invalid or disabled API key");
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refused());
    }
    let record = api
        .engine
        .get_key(&scope(), &hash_of(key), false)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(refused)?;
    let v = &record.value;
    if v["enabled"] != json!(true) {
        return Err(refused());
    }
    let user = v["user"].as_str().ok_or_else(refused)?;
    api.auth
        .key_caller(user, v["id"].as_str().unwrap_or_default())
}

/// `ApiKeyAPI` of a record (never the key itself).
fn key_api(k: &Key) -> Value {
    let mut v = k.value.clone();
    if let Value::Object(m) = &mut v {
        m.insert("key_hash".into(), json!(k.name));
        m.insert("uid".into(), json!(format!("api_key:{}", k.name)));
    }
    v
}

/// Every record, and those `caller` may see (its own; an admin's: all).
async fn visible(api: &Api, caller: &Caller) -> ApiResult<Vec<Key>> {
    Ok(api
        .engine
        .list_keys(Some(&scope()), "", false)
        .await?
        .into_iter()
        .filter(|k| caller.role == Role::Admin || k.value["user"] == caller.user.as_str())
        .collect())
}

/// The record of `id` (the id or the key's hash) that `caller` may see; 404 otherwise.
async fn find(api: &Api, caller: &Caller, id: &str) -> ApiResult<Key> {
    visible(api, caller)
        .await?
        .into_iter()
        .find(|k| k.value["id"] == id || k.name == id)
        .ok_or_else(|| no_id(id))
}

/// StackStorm's `ApiKeyCreateAPI`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ApiKeyCreate)]
#[serde(deny_unknown_fields)]
struct Create {
    /// The owner (another user than the caller: admins only).
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    metadata: Map<String, Value>,
}

/// What an update may change (a read's other fields may be sent back unchanged).
#[derive(utoipa::ToSchema)]
#[schema(as = ApiKeyUpdate)]
#[allow(dead_code)] // described, never built: the route reads its body as a map
struct Update {
    enabled: Option<bool>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// `st2 apikey create [-u USER] [-m JSON]`: 201 with the key, shown this once.
#[utoipa::path(post, path = "/api/v1/apikeys", tag = "apikeys", request_body(content = Create, content_type = "application/json"),
    responses((status = 201, description = "Done", body = ApiKeyApi), ItemFaults))]
pub(super) async fn create(
    State(api): State<Arc<Api>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: Create = super::json_body(&body, "API key")?;
    let user = match req.user.as_deref() {
        None | Some("") => caller.user.clone(),
        Some(u) if u == caller.user => caller.user.clone(),
        Some(u) => {
            caller.require(Role::Admin, "create API keys of another user")?;
            if !api.auth.has_user(u) {
                return Err(ApiError::bad_request(format!("user: '{u}' is not a user")));
            }
            u.to_string()
        }
    };
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let key = hex(&raw);
    let hash = hash_of(&key);
    let record = json!({
        "id": hash[..24].to_string(),
        "user": user,
        "metadata": req.metadata,
        "enabled": true,
        "created_at": timestamp(chrono::Utc::now()),
    });
    let stored = api
        .engine
        .set_key(scope(), &hash, record, KeyOptions::default())
        .await?;
    tracing::info!(target: "audit", user = %caller.user, api_key = %stored.value["id"], owner = %user, "API key created");
    let mut out = key_api(&stored);
    out["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(out)))
}

/// The filter of `st2 apikey list`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct ApiKeyFilters {
    /// The owner (admins see every user's keys)
    user: Option<String>,
}

/// `st2 apikey list`.
#[utoipa::path(get, path = "/api/v1/apikeys", tag = "apikeys", params(Paging, Attributes, ApiKeyFilters),
    responses((status = 200, description = "One page", body = Vec<ApiKeyApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<ApiKeyFilters>(&q)?;
    let paging = paging(&q, &caller)?;
    let items = visible(&api, &caller)
        .await?
        .iter()
        .filter(|k| q.get("user").is_none_or(|u| k.value["user"] == u.as_str()))
        .map(key_api)
        .collect();
    Ok(page(items, paging))
}

/// `st2 apikey get ID`.
#[utoipa::path(get, path = "/api/v1/apikeys/{id}", tag = "apikeys", params(("id" = String, Path, description = "The API key id (or its hash)")),
    responses((status = 200, description = "Done", body = ApiKeyApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(key_api(&find(&api, &caller, &id).await?)))
}

/// `st2 apikey enable/disable ID`: the record with `enabled` changed (other fields as
/// they are; `metadata` may change).
#[utoipa::path(put, path = "/api/v1/apikeys/{id}", tag = "apikeys", params(("id" = String, Path, description = "The API key id (or its hash)")), request_body(content = Update, content_type = "application/json"),
    responses((status = 200, description = "Done", body = ApiKeyApi), ItemFaults))]
pub(super) async fn update(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: Map<String, Value> = super::json_body(&body, "API key")?;
    let mut k = find(&api, &caller, &id).await?;
    for (field, v) in req {
        match field.as_str() {
            "enabled" => match v {
                Value::Bool(_) => k.value["enabled"] = v,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "enabled: true or false, got {other}"
                    )));
                }
            },
            "metadata" => k.value["metadata"] = v,
            // What a read gave back, unchanged.
            "id" | "uid" | "user" | "key_hash" | "created_at" => {
                if field != "uid" && field != "key_hash" && v != k.value[field.as_str()] {
                    return Err(ApiError::bad_request(format!("{field}: cannot change")));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!("unknown field `{other}`")));
            }
        }
    }
    let stored = api
        .engine
        .set_key(scope(), &k.name, k.value, KeyOptions::default())
        .await?;
    tracing::info!(target: "audit", user = %caller.user, api_key = %stored.value["id"], enabled = %stored.value["enabled"], "API key changed");
    Ok(Json(key_api(&stored)))
}

/// `st2 apikey delete ID`: 204, or 404.
#[utoipa::path(delete, path = "/api/v1/apikeys/{id}", tag = "apikeys", params(("id" = String, Path, description = "The API key id (or its hash)")),
    responses((status = 204, description = "Deleted"), ItemFaults))]
pub(super) async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let k = find(&api, &caller, &id).await?;
    api.engine.delete_key(&scope(), &k.name).await?;
    tracing::info!(target: "audit", user = %caller.user, api_key = %k.value["id"], "API key deleted");
    Ok(StatusCode::NO_CONTENT)
}
