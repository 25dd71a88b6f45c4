//! The key-value store: `st2 key set/get/list/delete` (`/api/v1/keys`).
//!
//! StackStorm's scopes: `system` (`st2kv.system`) and `user` (`st2kv.user`, the caller's
//! own unless an admin names another `user`); `all` for lists (the system keys and the
//! caller's). Values are strings; `secret` encrypts with the server's encryption key
//! (`--key-file`), and a secret is shown decrypted only with `decrypt=true` to an
//! operator (system scope) or its owner (user scope); otherwise its ciphertext is shown,
//! as StackStorm does.

use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::models::timestamp;
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
use super::query::{flag, known_params, page, paging};
use super::schemas::*;
use super::{Api, json_body};
use attune_core::keystore::KeyOptions;
use attune_core::model::{Key, KeyScope};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The scope a request names, for `caller`: `system` or a user's (`user` given or the
/// caller). Another user's scope needs the admin role.
fn scope_of(scope: Option<&str>, user: Option<&str>, caller: &Caller) -> ApiResult<KeyScope> {
    match scope.unwrap_or("system") {
        "system" | "st2kv.system" => {
            if user.is_some_and(|u| !u.is_empty()) {
                return Err(ApiError::bad_request(
                    "user: only a key of the user scope belongs to a user",
                ));
            }
            Ok(KeyScope::System)
        }
        "user" | "st2kv.user" => {
            let u = user.filter(|u| !u.is_empty()).unwrap_or(&caller.user);
            if u != caller.user {
                caller.require(Role::Admin, "use another user's keys")?;
            }
            Ok(KeyScope::User(u.to_string()))
        }
        other => Err(ApiError::bad_request(format!(
            "scope: '{other}' is not system or user"
        ))),
    }
}

/// Whether `caller` may see a secret of `scope` decrypted.
fn may_decrypt(scope: &KeyScope, caller: &Caller) -> ApiResult<()> {
    match scope {
        KeyScope::User(u) if *u == caller.user => Ok(()),
        _ => caller.require(Role::Operator, "decrypt secret keys"),
    }
}

/// `KeyValuePairAPI` of `k`.
fn key_api(k: &Key, secret: bool) -> Value {
    let (scope, user) = match &k.scope {
        KeyScope::System => ("st2kv.system", Value::Null),
        KeyScope::User(u) => ("st2kv.user", json!(u)),
        KeyScope::Pack(p) => ("st2kv.pack", json!(p)),
    };
    let value = match &k.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut v = json!({
        "id": format!("{scope}:{}", k.name),
        "uid": format!("key_value_pair:{scope}:{}", k.name),
        "name": k.name,
        "value": value,
        "secret": secret,
        "encrypted": k.encrypted && secret,
        "scope": scope,
        "user": user,
    });
    if let Some(e) = k.expires {
        v["expire_timestamp"] = json!(timestamp(e));
    }
    v
}

/// The key `name` of the request's scope, decrypted when asked and allowed.
async fn read(
    api: &Api,
    caller: &Caller,
    name: &str,
    q: &HashMap<String, String>,
) -> ApiResult<(KeyScope, Option<Key>, bool)> {
    let scope = scope_of(
        q.get("scope").map(String::as_str),
        q.get("user").map(String::as_str),
        caller,
    )?;
    let decrypt = flag(q, "decrypt")?;
    if decrypt {
        may_decrypt(&scope, caller)?;
    }
    let key = api.engine.get_key(&scope, name, decrypt).await?;
    Ok((scope, key, decrypt))
}

/// Where to read a key, and whether to decrypt a secret.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct KeyReadParams {
    /// `st2kv.system` (default) or `st2kv.user`
    scope: Option<String>,
    /// The user of a user-scoped key (admins only for another user)
    user: Option<String>,
    /// Show a secret's value (operators, or the owner of a user key)
    decrypt: Option<bool>,
}

/// `st2 key get NAME [--decrypt] [--scope user]`.
#[utoipa::path(get, path = "/api/v1/keys/{name}", tag = "keys", params(("name" = String, Path, description = "The key's name"), KeyReadParams),
    responses((status = 200, description = "Done", body = KeyApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    known_params::<KeyReadParams>(&q)?;
    match read(&api, &caller, &name, &q).await? {
        (_, Some(k), _) => Ok(Json(key_api(&k, k.encrypted))),
        (scope, None, _) => Err(ApiError::not_found(format!(
            "Resource with a name \"{name}\" not found in scope {scope}"
        ))),
    }
}

/// Which keys to list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct KeyListParams {
    /// `st2kv.system` (default), `st2kv.user` or `all`
    scope: Option<String>,
    /// The user of user-scoped keys
    user: Option<String>,
    /// Show secrets' values
    decrypt: Option<bool>,
    /// Names starting with this
    prefix: Option<String>,
}

/// `st2 key list [--prefix P] [--decrypt] [--scope S] [-u U]`.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(Paging, Attributes, KeyListParams),
    responses((status = 200, description = "One page", body = Vec<KeyApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<KeyListParams>(&q)?;
    let paging = paging(&q, &caller)?;
    let decrypt = flag(&q, "decrypt")?;
    let prefix = q.get("prefix").map(String::as_str).unwrap_or("");
    let user = q.get("user").map(String::as_str);
    let scopes = match q.get("scope").map(String::as_str).unwrap_or("all") {
        "all" | "st2kv.all" => vec![KeyScope::System, scope_of(Some("user"), user, &caller)?],
        s => vec![scope_of(Some(s), user, &caller)?],
    };
    let mut items = Vec::new();
    for scope in &scopes {
        // Secrets the caller may not decrypt: an error for the one scope asked for; in a
        // list of several scopes, those of the others are shown sealed.
        let open = decrypt
            && match may_decrypt(scope, &caller) {
                Ok(()) => true,
                Err(e) if scopes.len() == 1 => return Err(e),
                Err(_) => false,
            };
        for k in api.engine.list_keys(Some(scope), prefix, open).await? {
            items.push(key_api(&k, k.encrypted));
        }
    }
    Ok(page(items, paging))
}

/// StackStorm's `KeyValuePairSetAPI`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetKey {
    #[serde(default)]
    name: Option<String>,
    value: String,
    #[serde(default)]
    secret: bool,
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    description: Option<String>,
}

/// `st2 key set NAME VALUE [--encrypt] [--ttl N] [--scope user]`.
#[utoipa::path(put, path = "/api/v1/keys/{name}", tag = "keys", params(("name" = String, Path, description = "The key's name")), request_body(content = SetKey, content_type = "application/json"),
    responses((status = 200, description = "Done", body = KeyApi), ItemFaults))]
pub(super) async fn set(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: SetKey = json_body(&body, "key")?;
    if req.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "name: '{}' in the body is not '{name}' of the path",
            req.name.unwrap_or_default()
        )));
    }
    if req.encrypted {
        return Err(ApiError::bad_request(
            "encrypted: values encrypted by StackStorm cannot be read here; set the plain value with secret=true",
        ));
    }
    if req.description.as_deref().is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::bad_request(
            "description: key descriptions are not stored by this server",
        ));
    }
    let scope = scope_of(req.scope.as_deref(), req.user.as_deref(), &caller)?;
    if scope == KeyScope::System {
        caller.require(Role::Operator, "set system keys")?;
    }
    let options = KeyOptions {
        encrypt: req.secret,
        ttl: req.ttl.map(Duration::from_secs),
    };
    let k = api
        .engine
        .set_key(scope, &name, Value::String(req.value), options)
        .await?;
    tracing::info!(target: "audit", user = %caller.user, key = %name, scope = %k.scope, "key set");
    Ok(Json(key_api(&k, req.secret)))
}

/// Where the key is.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct KeyScopeParams {
    /// `st2kv.system` (default) or `st2kv.user`
    scope: Option<String>,
    /// The user of a user-scoped key
    user: Option<String>,
}

/// `st2 key delete NAME [--scope user]`: 204, or 404 when there is none.
#[utoipa::path(delete, path = "/api/v1/keys/{name}", tag = "keys", params(("name" = String, Path, description = "The key's name"), KeyScopeParams),
    responses((status = 204, description = "Deleted"), ItemFaults))]
pub(super) async fn delete(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    known_params::<KeyScopeParams>(&q)?;
    let scope = scope_of(
        q.get("scope").map(String::as_str),
        q.get("user").map(String::as_str),
        &caller,
    )?;
    if scope == KeyScope::System {
        caller.require(Role::Operator, "delete system keys")?;
    }
    if api.engine.delete_key(&scope, &name).await? {
        tracing::info!(target: "audit", user = %caller.user, key = %name, scope = %scope, "key deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "Resource with a name \"{name}\" not found in scope {scope}"
        )))
    }
}
