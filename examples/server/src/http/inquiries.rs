//! Inquiries: `st2 inquiry list/get/respond` (`/api/v1/inquiries`). An inquiry's id is
//! the id of the `core.ask` execution waiting for the response.

use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::models::timestamp;
use super::openapi::{Attributes, ItemFaults, ListFaults, NoParams, Paging};
use super::query::{by_id, known_params, page, paging};
use super::schemas::*;
use super::{Api, json_body};
use attune_core::{Inquiry, Responder};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `InquiryAPI`.
fn inquiry_api(q: &Inquiry) -> Value {
    json!({
        "id": q.id.to_string(),
        "route": q.route,
        "ttl": q.ttl_minutes,
        "users": q.users,
        "roles": q.roles,
        "schema": q.schema,
        "status": "pending",
        "parent": q.parent.map(|p| p.to_string()),
        "liveaction": { "id": q.id.to_string(), "action": q.action },
        "created": timestamp(q.asked),
        "expires": timestamp(q.expires),
    })
}

/// `st2 inquiry list`: those waiting, oldest first.
#[utoipa::path(get, path = "/api/v1/inquiries", tag = "inquiries", params(Paging, Attributes),
    responses((status = 200, description = "One page", body = Vec<InquiryApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<NoParams>(&q)?;
    let paging = paging(&q, &caller)?;
    let items = api
        .engine
        .inquiries()
        .await?
        .iter()
        .map(inquiry_api)
        .collect();
    Ok(page(items, paging))
}

/// The inquiry of a path's id; 404 when no execution has it, 409 when it is not waiting.
async fn waiting(api: &Api, id: &str) -> ApiResult<Inquiry> {
    by_id(id, |x| api.engine.inquiry(x)).await
}

/// `st2 inquiry get ID`.
#[utoipa::path(get, path = "/api/v1/inquiries/{id}", tag = "inquiries", params(("id" = String, Path, description = "The inquiry id")),
    responses((status = 200, description = "Done", body = InquiryApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(inquiry_api(&waiting(&api, &id).await?)))
}

/// A response to an inquiry: it must satisfy the inquiry's schema.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Respond {
    #[serde(default)]
    id: Option<String>,
    response: Value,
}

/// `st2 inquiry respond ID -r JSON`: `{"id", "response"}` back (the client needs `id`).
/// Refused, with nothing changed: a response outside the schema (400 naming each path), a
/// responder the inquiry does not name (400), an inquiry no longer waiting (409).
#[utoipa::path(put, path = "/api/v1/inquiries/{id}", tag = "inquiries", params(("id" = String, Path, description = "The inquiry id")), request_body(content = Respond, content_type = "application/json"),
    responses((status = 200, description = "Done", body = InquiryResponded), ItemFaults))]
pub(super) async fn respond(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator, "respond to inquiries")?;
    let req: Respond = json_body(&body, "inquiry response")?;
    if req.id.as_deref().is_some_and(|i| i != id) {
        return Err(ApiError::bad_request(format!(
            "id: '{}' in the body is not '{id}' of the path",
            req.id.unwrap_or_default()
        )));
    }
    let q = waiting(&api, &id).await?;
    let who = Responder::user(caller.user.clone(), vec![caller.role.as_str().to_string()]);
    api.engine.respond(q.id, req.response.clone(), &who).await?;
    tracing::info!(target: "audit", user = %caller.user, inquiry = %q.id, "inquiry answered");
    Ok(Json(json!({ "id": id, "response": req.response })))
}
