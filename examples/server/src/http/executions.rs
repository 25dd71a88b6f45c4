//! Executions: `st2 run`, `execution list/get/cancel/re-run/pause/resume/tail`.

use super::auth::{Caller, Role};
use super::error::{ApiError, ApiResult};
use super::openapi::{Attributes, ItemFaults, ListFaults, NoParams, Paging};
use super::query::{
    by_id, counted, id_param, known_params, oldest_first, ordered_page, paging, time_param,
};
use super::schemas::*;
use super::{Api, json_body, models};
use attune_core::model::{Execution, ExecutionStatus};
use attune_core::store::{ExecutionFilter, Page};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// StackStorm's `LiveActionCreateAPI`, as the client sends it.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ExecutionCreate)]
#[serde(deny_unknown_fields)]
struct Create {
    action: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
    /// Run as this user (admins only, when another than the caller).
    #[serde(default)]
    user: Option<String>,
    /// Milliseconds to wait before scheduling (`st2 run --delay`).
    #[serde(default)]
    delay: Option<u64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

/// Creates an execution (201, the execution as created).
#[utoipa::path(post, path = "/api/v1/executions", tag = "executions", request_body(content = Create, content_type = "application/json"),
    responses((status = 201, description = "Done", body = ExecutionApi), ItemFaults))]
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
    tracing::info!(target: "audit", user = %caller.user, action = %req.action, execution = %id, "execution created");
    let x = api.engine.execution(id).await?;
    let a = api.engine.action(&x.action);
    Ok((StatusCode::CREATED, Json(models::execution(&x, a.as_ref()))))
}

/// The execution of a path's id; 404 naming it when there is none.
async fn stored(api: &Api, id: &str) -> ApiResult<Execution> {
    by_id(id, |x| api.engine.execution(x)).await
}

/// The API form of `x`, without the top-level attributes `?exclude_attributes=` names.
fn shown(api: &Api, x: &Execution, q: &HashMap<String, String>) -> Value {
    let a = api.engine.action(&x.action);
    let mut v = models::execution(x, a.as_ref());
    if let (Some(ex), Value::Object(m)) = (q.get("exclude_attributes"), &mut v) {
        for k in ex.split(',') {
            m.remove(k.trim());
        }
    }
    v
}

/// `st2 execution get ID`.
#[utoipa::path(get, path = "/api/v1/executions/{id}", tag = "executions", params(("id" = String, Path, description = "The execution id"), Attributes),
    responses((status = 200, description = "Done", body = ExecutionApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    known_params::<NoParams>(&q)?;
    let x = stored(&api, &id).await?;
    Ok(Json(shown(&api, &x, &q)))
}

/// The filters of `st2 execution list`, as StackStorm names them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct ExecutionFilters {
    /// The action's ref.
    action: Option<String>,
    /// Statuses, comma-separated.
    status: Option<String>,
    /// The parent execution's id; `null` for top-level executions only.
    parent: Option<String>,
    /// The rule's ref.
    rule: Option<String>,
    /// Who started it (`st2 execution list --user`).
    user: Option<String>,
    /// The event's id.
    trigger_instance: Option<String>,
    /// Created after this time (ISO-8601).
    timestamp_gt: Option<String>,
    /// Created before this time (ISO-8601).
    timestamp_lt: Option<String>,
    /// `true`: newest first (the default).
    sort_desc: Option<bool>,
    /// `true`: oldest first.
    sort_asc: Option<bool>,
}

/// `st2 execution list`: newest first (StackStorm's default order), filtered.
#[utoipa::path(get, path = "/api/v1/executions", tag = "executions", params(Paging, Attributes, ExecutionFilters),
    responses((status = 200, description = "One page", body = Vec<ExecutionApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<ExecutionFilters>(&q)?;
    let (limit, offset) = paging(&q, &caller)?;
    let mut f = ExecutionFilter::new();
    if let Some(a) = q.get("action") {
        f = f.action(a);
    }
    if let Some(s) = q.get("status") {
        for one in s.split(',') {
            let st = ExecutionStatus::parse(one.trim())
                .map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
            f = f.status(st);
        }
    }
    match q.get("parent").map(String::as_str) {
        None => {}
        Some("null") => f = f.top_level(),
        Some(p) => f.parent = Some(id_param("parent", p)?),
    }
    if let Some(r) = q.get("rule") {
        f.rule = Some(r.clone());
    }
    if let Some(u) = q.get("user") {
        f = f.user(u);
    }
    if let Some(t) = q.get("trigger_instance") {
        f.event = Some(id_param("trigger_instance", t)?);
    }
    if let Some(t) = q.get("timestamp_gt") {
        // Strictly after: `since` is inclusive, the next microsecond is not.
        f.since = Some(time_param("timestamp_gt", t)? + chrono::TimeDelta::microseconds(1));
    }
    if let Some(t) = q.get("timestamp_lt") {
        f.until = Some(time_param("timestamp_lt", t)?);
    }
    let page = ordered_page(oldest_first(&q), limit, offset);
    let total = api.engine.count_executions(&f).await?;
    let rows = api.engine.executions(&f, page).await?;
    let items: Vec<Value> = rows.iter().map(|x| shown(&api, x, &q)).collect();
    Ok(counted(items, total, limit))
}

/// `st2 execution cancel ID`: 200 with the execution; for a finished one, 200 with
/// StackStorm's faultstring (`Action cannot be canceled. State = <status>.`).
#[utoipa::path(delete, path = "/api/v1/executions/{id}", tag = "executions", params(("id" = String, Path, description = "The execution id")),
    responses((status = 200, description = "Done", body = ExecutionApi), ItemFaults))]
pub(super) async fn cancel(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator, "cancel executions")?;
    let x = stored(&api, &id).await?;
    if x.status.is_terminal() {
        return Ok(Json(json!({
            "faultstring": format!("Action cannot be canceled. State = {}.", x.status.as_str())
        })));
    }
    let x = match api.engine.cancel(x.id).await {
        Ok(x) => x,
        Err(attune_core::Error::Conflict(_)) => {
            let now = api.engine.execution(x.id).await?;
            return Ok(Json(json!({
                "faultstring": format!("Action cannot be canceled. State = {}.", now.status.as_str())
            })));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(target: "audit", user = %caller.user, execution = %x.id, "execution canceled");
    Ok(Json(shown(&api, &x, &HashMap::new())))
}

/// A status to move to: `pausing`/`paused` or `resuming`/`running`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
}

/// `st2 execution pause|resume ID`: `{"status": "pausing" | "resuming"}` (workflows only:
/// 400 for another action, as StackStorm answers for runners that cannot pause).
#[utoipa::path(put, path = "/api/v1/executions/{id}", tag = "executions", params(("id" = String, Path, description = "The execution id")), request_body(content = StatusChange, content_type = "application/json"),
    responses((status = 200, description = "Done", body = ExecutionApi), ItemFaults, (status = 409, description = "Not in a status that allows it", body = Fault)))]
pub(super) async fn change(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator, "pause or resume executions")?;
    let req: StatusChange = json_body(&body, "status change")?;
    let x = stored(&api, &id).await?;
    let changed = match req.status.as_str() {
        "pausing" | "paused" => api.engine.pause(x.id).await,
        "resuming" | "running" => api.engine.resume(x.id).await,
        other => {
            return Err(ApiError::bad_request(format!(
                "status: '{other}' cannot be asked for (pausing or resuming)"
            )));
        }
    }
    .map_err(|e| match e {
        attune_core::Error::Invalid { message, .. } => ApiError::bad_request(message),
        other => other.into(),
    })?;
    tracing::info!(target: "audit", user = %caller.user, execution = %x.id, to = %req.status, "execution status asked");
    Ok(Json(shown(&api, &changed, &HashMap::new())))
}

/// A re-run: parameters laid over the old ones, or workflow tasks to run again from.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReRun {
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
    #[serde(default)]
    tasks: Vec<String>,
    #[serde(default)]
    reset: Vec<String>,
    #[serde(default)]
    delay: Option<u64>,
}

/// `st2 execution re-run ID [k=v] [--tasks …]`: a new execution (201) of the same action
/// with the same parameters, `parameters` laid over them; with `tasks`, a failed
/// workflow run again from those tasks.
#[utoipa::path(post, path = "/api/v1/executions/{id}/re_run", tag = "executions", params(("id" = String, Path, description = "The execution id")), request_body(content = ReRun, content_type = "application/json"),
    responses((status = 201, description = "Done", body = ExecutionApi), ItemFaults))]
pub(super) async fn re_run(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Role::Operator, "re-run executions")?;
    let req: ReRun = json_body(&body, "re-run")?;
    if req.delay.is_some_and(|d| d > 0) {
        return Err(ApiError::bad_request(
            "delay: delayed executions are not supported by this server",
        ));
    }
    if !req.reset.is_empty() {
        return Err(ApiError::bad_request(
            "reset: re-running with tasks reset is not supported by this server",
        ));
    }
    let old = stored(&api, &id).await?;
    let new = if req.tasks.is_empty() {
        let action = api.engine.action(&old.action).ok_or_else(|| {
            ApiError::bad_request(format!("Action \"{}\" cannot be found.", old.action))
        })?;
        let mut params = match &old.params {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        // Secret values are never stored: they must be given again.
        for (name, spec) in action.parameters.iter() {
            if spec.secret && params.contains_key(name) && !req.parameters.contains_key(name) {
                return Err(ApiError::bad_request(format!(
                    "parameters.{name}: a secret parameter is not stored; give it again to re-run"
                )));
            }
        }
        params.extend(req.parameters);
        api.engine
            .execute_as(&caller.user, &old.action, Value::Object(params))
            .await?
    } else {
        if !req.parameters.is_empty() {
            return Err(ApiError::bad_request(
                "parameters: a workflow re-run from tasks keeps its parameters",
            ));
        }
        let tasks: Vec<&str> = req.tasks.iter().map(String::as_str).collect();
        api.engine
            .rerun(old.id, &tasks)
            .await
            .map_err(|e| match e {
                attune_core::Error::Invalid { message, .. } => ApiError::bad_request(message),
                other => other.into(),
            })?
    };
    tracing::info!(target: "audit", user = %caller.user, execution = %old.id, new = %new, "execution re-run");
    let x = api.engine.execution(new).await?;
    Ok((StatusCode::CREATED, Json(shown(&api, &x, &HashMap::new()))))
}

/// Which output to return.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct OutputParams {
    /// `stdout` or `stderr`; both (standard output first) when absent
    output_type: Option<String>,
}

/// `GET /executions/{id}/output[?output_type=stdout|stderr]`: the output as text
/// (standard output, then standard error).
#[utoipa::path(get, path = "/api/v1/executions/{id}/output", tag = "executions",
    params(("id" = String, Path, description = "The execution id"), OutputParams),
    responses((status = 200, description = "The output so far", body = String, content_type = "text/plain"), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "No or bad credentials", body = Fault), (status = 404, description = "Not found", body = Fault)))]
pub(super) async fn output(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    known_params::<OutputParams>(&q)?;
    let x = stored(&api, &id).await?;
    let text = match q.get("output_type").map(String::as_str) {
        None => format!("{}{}", x.stdout, x.stderr),
        Some("stdout") => x.stdout,
        Some("stderr") => x.stderr,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "output_type: '{other}' is not stdout or stderr"
            )));
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// How deep to go.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct ChildrenParams {
    /// Levels down; -1 (the default) for all
    depth: Option<i64>,
}

/// `GET /executions/{id}/children[?depth=N]`: the tasks of a workflow execution, oldest
/// first, `depth` levels down (`-1`: all, the default).
#[utoipa::path(get, path = "/api/v1/executions/{id}/children", tag = "executions", params(("id" = String, Path, description = "The execution id"), ChildrenParams),
    responses((status = 200, description = "Done", body = Vec<ExecutionApi>), ItemFaults))]
pub(super) async fn children(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    known_params::<ChildrenParams>(&q)?;
    let depth = match q.get("depth").map(|d| d.parse::<i64>()) {
        None => -1,
        Some(Ok(d)) if d >= -1 => d,
        Some(_) => return Err(ApiError::bad_request("depth: a whole number, -1 for all")),
    };
    let root = stored(&api, &id).await?;
    let mut out = Vec::new();
    let mut level = vec![root.id];
    let mut d = 0;
    while !level.is_empty() && (depth < 0 || d < depth) {
        let mut next = Vec::new();
        for parent in level {
            let mut f = ExecutionFilter::new();
            f.parent = Some(parent);
            for x in api.engine.executions(&f, Page::first(usize::MAX)).await? {
                next.push(x.id);
                out.push(shown(&api, &x, &HashMap::new()));
            }
        }
        level = next;
        d += 1;
    }
    Ok(Json(Value::Array(out)))
}

/// Which drawing of the graph to return.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct GraphParams {
    /// `mermaid` (the default) or `dot`.
    format: Option<String>,
}

/// `GET /executions/{id}/graph[?format=mermaid|dot]` (Attune's; what the web page draws):
/// a workflow execution's task graph, each task coloured by the status of its latest run.
/// 400 when the execution is not a workflow's.
#[utoipa::path(get, path = "/api/v1/executions/{id}/graph", tag = "executions",
    params(("id" = String, Path, description = "A workflow execution's id"), GraphParams),
    responses((status = 200, description = "The graph", body = GraphApi), (status = 400, description = "Bad input, or not a workflow execution", body = Fault),
        (status = 401, description = "No or bad credentials", body = Fault), (status = 404, description = "Not found", body = Fault)))]
pub(super) async fn graph(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    use attune_core::workflow::{to_dot, to_mermaid};
    known_params::<GraphParams>(&q)?;
    let format = q.get("format").map_or("mermaid", String::as_str);
    if format != "mermaid" && format != "dot" {
        return Err(ApiError::bad_request(format!(
            "format: '{format}' is not mermaid or dot"
        )));
    }
    let x = stored(&api, &id).await?;
    let (wf, tasks) = api.engine.workflow_run(x.id).await.map_err(|e| match e {
        attune_core::Error::Invalid { what, message } => {
            ApiError::bad_request(format!("{what}: {message}"))
        }
        other => other.into(),
    })?;
    let graph = match format {
        "dot" => to_dot(&wf, &format!("run {}", x.id), Some(&tasks)),
        _ => to_mermaid(&wf, Some(&tasks)),
    };
    let tasks: Map<String, Value> = tasks
        .into_iter()
        .map(|(k, v)| (k, json!(v.as_str())))
        .collect();
    Ok(Json(
        json!({ "format": format, "graph": graph, "tasks": tasks }),
    ))
}
