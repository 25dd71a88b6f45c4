//! `POST /api/v1/executions` (`st2 run`) and `GET /api/v1/executions/{id}`.

use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::{Api, json_body, models};
use attune_core::model::ExecutionId;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// StackStorm's `LiveActionCreateAPI`, as the client sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    action: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    /// Run as this user (admins only, when another than the caller).
    #[serde(default)]
    user: Option<String>,
    /// Milliseconds to wait before scheduling (`st2 run --delay`).
    #[serde(default)]
    delay: Option<u64>,
    #[serde(default)]
    context: Map<String, Value>,
}

/// Creates an execution (201, the execution as created).
pub(super) async fn create(
    State(api): State<Arc<Api>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Role::Operator, "run actions")?;
    let req: Create = json_body(&body, "execution")?;
    if req.delay.is_some_and(|d| d > 0) {
        return Err(ApiError::bad_request(
            "delay: delayed executions are not supported by this server",
        ));
    }
    if let Some(k) = req.context.keys().next() {
        return Err(ApiError::bad_request(format!(
            "context.{k}: execution context given by the caller is not supported by this server"
        )));
    }
    let user = match req.user.as_deref() {
        None | Some("") => caller.user.clone(),
        Some(u) if u == caller.user => caller.user.clone(),
        Some(u) => {
            caller.require(Role::Admin, "run actions as another user")?;
            u.to_string()
        }
    };
    if api.engine.action(&req.action).is_none() {
        return Err(ApiError::bad_request(format!(
            "Action \"{}\" cannot be found.",
            req.action
        )));
    }
    let id = api
        .engine
        .execute_as(&user, &req.action, Value::Object(req.parameters))
        .await?;
    tracing::info!(user = %caller.user, action = %req.action, execution = %id, "execution created");
    let x = api.engine.execution(id).await?;
    let a = api.engine.action(&x.action);
    Ok((StatusCode::CREATED, Json(models::execution(&x, a.as_ref()))))
}

/// Parses an execution id of a path; 404 when it is not one (no execution has it).
pub(super) fn execution_id(id: &str) -> ApiResult<ExecutionId> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("Resource with id \"{id}\" not found")))
}

/// `st2 execution get ID`.
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let x = match api.engine.execution(execution_id(&id)?).await {
        Err(attune_core::Error::NotFound { .. }) => {
            return Err(ApiError::not_found(format!(
                "Resource with id \"{id}\" not found"
            )));
        }
        other => other?,
    };
    let a = api.engine.action(&x.action);
    Ok(Json(models::execution(&x, a.as_ref())))
}
