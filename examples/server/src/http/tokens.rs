//! `POST /auth/v1/tokens` (log in), `POST /auth/v1/tokens/validate`, `GET /api/v1/user`
//! (`st2 whoami`) and `GET /api/v1` (the version).

use super::auth::{Caller, Method, basic_credentials};
use super::error::{ApiError, ApiResult};
use super::models::timestamp;
use super::schemas::*;
use super::{Api, json_body};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// How long the token should live, in seconds (24 hours at most, the default).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    ttl: Option<u64>,
}

/// Basic credentials in, a token out (201), as StackStorm's auth service answers.
#[utoipa::path(post, path = "/auth/v1/tokens", tag = "auth", security(("basic" = [])),
    request_body(content = TokenRequest, content_type = "application/json"),
    responses((status = 201, description = "A token", body = TokenApi), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "Wrong user or password", body = Fault)))]
pub(super) async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req: TokenRequest = json_body(&body, "token request")?;
    let (user, password) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(basic_credentials)
        .ok_or_else(|| ApiError::unauthorized("Invalid or missing credentials"))?;
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let api2 = api.clone();
    let (u2, issued) = tokio::task::spawn_blocking(move || {
        let r = api2
            .auth
            .login(&user, &password, req.ttl, chrono::Utc::now());
        (user, r)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let issued = issued?;
    tracing::info!(target: "audit", user = %u2, "token issued");
    let ttl = (issued.expiry - chrono::Utc::now()).num_seconds().max(0);
    let body = json!({
        "id": issued.token,
        "user": u2,
        "token": issued.token,
        "ttl": ttl,
        "expiry": timestamp(issued.expiry),
        "metadata": {},
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A token to check.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidateRequest {
    token: String,
}

/// Whether a token is valid (StackStorm answers `{"valid": bool}`).
#[utoipa::path(post, path = "/auth/v1/tokens/validate", tag = "auth", security(()),
    request_body(content = ValidateRequest, content_type = "application/json"),
    responses((status = 200, description = "Whether it is valid", body = TokenValidity), (status = 400, description = "Bad input", body = Fault)))]
pub(super) async fn validate(State(api): State<Arc<Api>>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ValidateRequest = json_body(&body, "token validation")?;
    let valid = api.auth.verify(&req.token, chrono::Utc::now()).is_ok();
    Ok(Json(json!({ "valid": valid })))
}

/// `st2 whoami`.
#[utoipa::path(get, path = "/api/v1/user", tag = "auth",
    responses((status = 200, description = "The caller", body = UserApi), (status = 401, description = "No or bad credentials", body = Fault)))]
pub(super) async fn whoami(caller: Caller) -> Json<Value> {
    let authentication = match &caller.method {
        Method::Token(expiry) => json!({
            "method": "authentication token",
            "token_expire": timestamp(*expiry),
        }),
        Method::ApiKey(id) => json!({ "method": "API key", "api_key_id": id }),
    };
    Json(json!({
        "username": caller.user,
        "authentication": authentication,
        "rbac": { "enabled": true, "roles": [caller.role.as_str()], "is_admin":
            caller.role == super::auth::Role::Admin },
    }))
}

/// The version (the API root).
#[utoipa::path(get, path = "/api/v1", tag = "auth",
    responses((status = 200, description = "The server's version", body = VersionApi), (status = 401, description = "No or bad credentials", body = Fault)))]
pub(super) async fn version(_caller: Caller) -> Json<Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION"), "server": "attune" }))
}
