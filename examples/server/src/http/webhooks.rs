//! Webhooks: `POST /api/v1/webhooks/<path>` fires the rules of `core.st2.webhook` that
//! name the path (StackStorm's `url`), `POST /api/v1/webhooks/st2` emits an event of any
//! trigger type (`{"trigger", "payload"}`), `GET /api/v1/webhooks[/<path>]` lists them.
//!
//! A hook whose rules name a `secret_key` (a system key holding a shared secret) takes
//! only calls signed with it — GitHub's `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the
//! body, hex>` — and the signature is then the authentication (no token needed, as a
//! GitHub or GitLab hook cannot send one). Any other call needs a token of an operator.
//! Bodies are JSON (any other body is kept as text) up to [`MAX_BODY_BYTES`].

use super::Api;
use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::openapi::ItemFaults;
use super::schemas::*;
use attune_core::model::KeyScope;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest webhook body taken (the engine's largest event payload).
pub(super) const MAX_BODY_BYTES: usize = attune_core::input::MAX_PAYLOAD_BYTES;

/// The body of a request, at most [`MAX_BODY_BYTES`] (413 naming the limit otherwise).
async fn read_body(body: Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            )
        })
}

/// `{"url", "type", "parameters": {"url"}, "description"}` (what `st2 webhook list` reads).
fn hook_api(h: &attune_core::Webhook) -> Value {
    json!({
        "url": h.path,
        "type": "webhook",
        "parameters": { "url": h.path },
        "description": format!("rules: {}", h.rules.join(", ")),
        "rules": h.rules,
        "signed": !h.secret_keys.is_empty(),
    })
}

/// `st2 webhook list`.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "The webhooks the enabled rules listen on", body = Vec<WebhookApi>), (status = 401, description = "No or bad credentials", body = Fault)))]
pub(super) async fn list(State(api): State<Arc<Api>>, _caller: Caller) -> Json<Value> {
    Json(Value::Array(
        api.engine.webhooks().iter().map(hook_api).collect(),
    ))
}

/// 404 for a webhook path no enabled rule names.
fn no_hook(path: &str) -> ApiError {
    ApiError::not_found(format!(
        "Webhook with url \"{}\" not found",
        path.trim_start_matches('/')
    ))
}

/// One webhook.
#[utoipa::path(get, path = "/api/v1/webhooks/{path}", tag = "webhooks", params(("path" = String, Path, description = "The webhook's path (it may hold slashes)")),
    responses((status = 200, description = "Done", body = WebhookApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(path): Path<String>,
) -> ApiResult<Json<Value>> {
    api.engine
        .webhook(&path)
        .map(|h| Json(hook_api(&h)))
        .ok_or_else(|| no_hook(&path))
}

/// Checks `X-Hub-Signature-256` against each secret (all must verify).
async fn verify_signature(
    api: &Api,
    headers: &HeaderMap,
    body: &[u8],
    secret_keys: &[String],
    path: &str,
) -> ApiResult<()> {
    let refused = || {
        ApiError::unauthorized(format!(
            "webhook '{path}': the signature (X-Hub-Signature-256) does not verify"
        ))
    };
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(super::auth::unhex)
        .ok_or_else(refused)?;
    for k in secret_keys {
        let secret = match api.engine.get_key(&KeyScope::System, k, true).await {
            Ok(Some(key)) => match key.value {
                Value::String(s) => s,
                other => other.to_string(),
            },
            Ok(None) | Err(_) => {
                tracing::error!(webhook = %path, key = %k, "the webhook's secret key is not set (or cannot be read): calls are refused");
                return Err(refused());
            }
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| refused())?;
        mac.update(body);
        mac.verify_slice(&sig).map_err(|_| refused())?;
    }
    Ok(())
}

/// The body as an event's `body`: JSON, else text; empty is `{}`.
fn body_value(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    std::str::from_utf8(body)
        .map(|t| Value::String(t.to_string()))
        .map_err(|_| ApiError::bad_request("the body is neither JSON nor UTF-8 text"))
}

/// StackStorm's `St2-Trace-Tag` header: the events' trace tag (`st2 trace list -c`).
fn trace_tag(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("st2-trace-tag") {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(t) if !t.trim().is_empty() => Ok(Some(t.to_string())),
            _ => Err(ApiError::bad_request(
                "St2-Trace-Tag: not a non-empty text header",
            )),
        },
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generic {
    trigger: String,
    #[serde(default)]
    payload: Value,
}

/// A call: 202 with the body echoed, as StackStorm answers.
#[utoipa::path(post, path = "/api/v1/webhooks/{path}", tag = "webhooks",
    params(("path" = String, Path, description = "The webhook's path (it may hold slashes); `st2` takes StackStorm's {trigger, payload}")),
    security(("token" = []), ("api_key" = []), ("signature" = [])),
    request_body(content = Value, description = "Any JSON (or text): the payload's body", content_type = "application/json"),
    responses((status = 202, description = "Accepted: an event for each rule's trigger; the body echoed", body = Value), ItemFaults, (status = 413, description = "Body over 4 MiB", body = Fault)))]
pub(super) async fn call(
    State(api): State<Arc<Api>>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (parts, body) = req.into_parts();
    let caller = super::optional_caller(&parts, &api).await?;
    let body = read_body(body).await?;
    let path = path.trim_start_matches('/').to_string();
    if path == "st2" {
        let caller = caller.ok_or_else(|| {
            ApiError::unauthorized("Unauthorized - One of Token or API key required.")
        })?;
        caller.require(Role::Operator, "emit events")?;
        let g: Generic = super::json_body(&body, "webhook st2")?;
        let id = match trace_tag(&parts.headers)? {
            Some(tag) => {
                api.engine
                    .emit_tagged(&g.trigger, g.payload.clone(), tag)
                    .await?
            }
            None => api.engine.emit(&g.trigger, g.payload.clone()).await?,
        };
        tracing::info!(target: "audit", user = %caller.user, trigger = %g.trigger, event = %id, "event emitted by webhook st2");
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"trigger": g.trigger, "payload": g.payload})),
        ));
    }
    let hook = api.engine.webhook(&path).ok_or_else(|| no_hook(&path))?;
    if hook.secret_keys.is_empty() {
        let caller = caller.ok_or_else(|| {
            ApiError::unauthorized("Unauthorized - One of Token or API key required.")
        })?;
        caller.require(Role::Operator, "call webhooks")?;
    } else {
        verify_signature(&api, &parts.headers, &body, &hook.secret_keys, &path).await?;
    }
    let value = body_value(&body)?;
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k != "x-auth-token" && k != "st2-api-key" && k != "authorization" && k != "cookie"
        })
        .filter_map(|(k, v)| Some((k.as_str().to_string(), json!(v.to_str().ok()?))))
        .collect();
    let query: Map<String, Value> = query
        .into_iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k != "x-auth-token" && k != "st2-api-key"
        })
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let payload = json!({
        "method": parts.method.as_str(),
        "headers": headers,
        "query": query,
        "body": value,
    });
    let tag = trace_tag(&parts.headers)?;
    let ids = api.engine.emit_webhook_tagged(&path, payload, tag).await?;
    tracing::debug!(webhook = %path, events = ids.len(), "webhook called");
    Ok((StatusCode::ACCEPTED, Json(value)))
}
