//! `attune serve --http ADDR`: StackStorm's REST API v1, so that its `st2` client works.
//!
//! The routes live under `/api/v1`, `/auth/v1` and `/stream/v1`, and every other form
//! StackStorm accepts is rewritten to those before routing ([`paths`]). Every route but
//! `POST /auth/v1/tokens`, `/health`, `/ready` and `/metrics` needs credentials ([`auth`]);
//! a signed webhook is authenticated by its signature. Errors are `{"faultstring": ...}`
//! with StackStorm's statuses ([`error`]).

mod actions;
mod apikeys;
pub(crate) mod auth;
mod error;
mod executions;
mod inquiries;
mod keys;
pub(crate) mod metrics;
mod models;
mod openapi;
mod packs;
mod paths;
mod query;
mod rules;
mod schemas;
mod stream;
mod tokens;
mod traces;
mod triggers;
mod ui;
mod webhooks;

use attune_core::Engine;
use auth::{Auth, Caller};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::get;
use error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Api {
    pub engine: Engine,
    pub auth: Auth,
    pub metrics: metrics::Metrics,
    /// Set when the server stops: long-lived answers (event streams) end, so that the
    /// graceful shutdown does not wait for their clients.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Asks the server to read its pack directories again (`POST /api/v1/packs/register`);
    /// None when it serves none.
    pub reloads: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
}

/// A request to reload the packs: answered with the refs of the packs installed, or the
/// problems that kept the running ones.
pub(crate) type ReloadRequest = tokio::sync::oneshot::Sender<Result<Vec<String>, Vec<String>>>;

/// The routes, before the path rewriting of [`serve`], with the OpenAPI document built
/// from the same handlers ([`openapi`]).
pub(crate) fn router(api: Arc<Api>) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics::scrape))
        .routes(routes!(tokens::create))
        .routes(routes!(tokens::validate))
        .routes(routes!(tokens::version))
        .routes(routes!(tokens::whoami))
        .routes(routes!(actions::list))
        .routes(routes!(actions::get))
        .routes(routes!(actions::runners))
        .routes(routes!(actions::runner))
        .routes(routes!(executions::list, executions::create))
        .routes(routes!(
            executions::get,
            executions::cancel,
            executions::change
        ))
        .routes(routes!(executions::re_run))
        .routes(routes!(executions::output))
        .routes(routes!(executions::children))
        .routes(routes!(executions::graph))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::get, rules::update, rules::delete))
        .routes(routes!(webhooks::list))
        .routes(routes!(triggers::types))
        .routes(routes!(triggers::r#type))
        .routes(routes!(triggers::instances))
        .routes(routes!(triggers::instance))
        .routes(routes!(triggers::enforcements))
        .routes(routes!(triggers::enforcement))
        .routes(routes!(traces::list))
        .routes(routes!(traces::get))
        .routes(routes!(packs::list))
        .routes(routes!(packs::get))
        .routes(routes!(packs::register))
        .routes(routes!(packs::sensors))
        .routes(routes!(packs::policies))
        .routes(routes!(inquiries::list))
        .routes(routes!(inquiries::get, inquiries::respond))
        .routes(routes!(stream::stream))
        .routes(routes!(apikeys::list, apikeys::create))
        .routes(routes!(apikeys::get, apikeys::update, apikeys::delete))
        .routes(routes!(keys::list))
        .routes(routes!(keys::get, keys::set, keys::delete))
        .split_for_parts();
    // A webhook's path may hold slashes: axum's catch-all, which OpenAPI cannot name; the
    // document describes it as one parameter.
    let mut doc = doc;
    doc.merge(openapi::WebhookDoc::openapi());
    let docs: Router<Arc<Api>> = SwaggerUi::new("/docs").url("/openapi.json", doc).into();
    router
        .route(
            "/api/v1/webhooks/{*path}",
            get(webhooks::get).post(webhooks::call),
        )
        .merge(docs)
        .route("/ui", get(ui::page))
        .fallback(no_route)
        .method_not_allowed_fallback(|req: Request| async move {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not allowed on \"{}\"",
                    req.method(),
                    req.uri().path()
                ),
            )
        })
        .layer(axum::middleware::map_response(faultstring_errors))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            metrics::track,
        ))
        .with_state(api)
}

/// Errors made below the handlers (axum's own rejections: a body over the limit, a
/// missing content type, a path that does not parse) in StackStorm's form too.
async fn faultstring_errors(res: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let status = res.status();
    let json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || json {
        return res;
    }
    let text = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, text).into_response()
}

/// Serves `api` on `listener` until `stop` completes; requests in flight then finish.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<Api>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::ServiceExt as _;
    let flag = api.clone();
    let stop = async move {
        stop.await;
        let _ = flag.stopping.send(true);
    };
    let app = router(api).map_request(|mut req: Request| {
        let path = req.uri().path();
        let canonical = paths::canonical(path);
        if canonical != path {
            let pq = match req.uri().query() {
                Some(q) => format!("{canonical}?{q}"),
                None => canonical,
            };
            if let Ok(uri) = pq.parse() {
                *req.uri_mut() = uri;
            }
        }
        req
    });
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(stop)
    .await
}

/// Whether the process is up.
#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "Up", body = String, content_type = "text/plain")))]
async fn health() -> &'static str {
    "ok"
}

/// Whether the engine accepts work (503 while it shuts down).
#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses((status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 503, description = "Shutting down", body = schemas::Fault)))]
async fn ready(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
) -> ApiResult<&'static str> {
    if api.engine.is_accepting() {
        Ok("ready")
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the engine is shutting down",
        ))
    }
}

async fn no_route(req: Request) -> ApiError {
    ApiError::not_found(format!("No route matches \"{}\" path", req.uri().path()))
}

/// The credentials a request carries, as StackStorm's clients send them: a token in the
/// `X-Auth-Token` header, the `x-auth-token` query parameter (the event stream) or the
/// `auth-token` cookie; else an API key in the `St2-Api-Key` header or the `st2-api-key`
/// query parameter.
enum Credentials {
    Token(String),
    ApiKey(String),
}

fn credentials(parts: &Parts) -> Option<Credentials> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let query = |name: &str| {
        parts.uri.query().and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.eq_ignore_ascii_case(name)).then(|| v.to_string())
            })
        })
    };
    let cookie = || {
        header("cookie").and_then(|c| {
            c.split(';')
                .find_map(|kv| kv.trim().strip_prefix("auth-token=").map(str::to_string))
        })
    };
    if let Some(t) = header("x-auth-token")
        .or_else(|| query("x-auth-token"))
        .or_else(cookie)
    {
        return Some(Credentials::Token(t));
    }
    header("st2-api-key")
        .or_else(|| query("st2-api-key"))
        .map(Credentials::ApiKey)
}

/// The caller credentials stand for; 401 when they are not valid.
async fn caller_of(api: &Api, c: Credentials) -> Result<Caller, ApiError> {
    match c {
        Credentials::Token(t) => api.auth.verify(&t, chrono::Utc::now()),
        Credentials::ApiKey(k) => apikeys::caller_of(api, &k).await,
    }
}

/// The caller when the request carries credentials; `None` without any. Bad ones are
/// refused (401).
pub(crate) async fn optional_caller(parts: &Parts, api: &Api) -> ApiResult<Option<Caller>> {
    match credentials(parts) {
        Some(c) => caller_of(api, c).await.map(Some),
        None => Ok(None),
    }
}

impl FromRequestParts<Arc<Api>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, ApiError> {
        match credentials(parts) {
            Some(c) => caller_of(api, c).await,
            None => Err(ApiError::unauthorized(
                "Unauthorized - One of Token or API key required.",
            )),
        }
    }
}

/// The JSON body of a request as `T`; 400 naming what is wrong (unknown fields included,
/// where `T` denies them).
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes, what: &str) -> ApiResult<T> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}
