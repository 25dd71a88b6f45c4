//! Errors of the HTTP API, in StackStorm's form: a status and `{"faultstring": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failed request: the HTTP status and the message the client prints.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub faultstring: String,
    /// With a 409: the id of the resource in the way (StackStorm's `conflict-id`).
    pub conflict_id: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, faultstring: impl Into<String>) -> Self {
        ApiError {
            status,
            faultstring: faultstring.into(),
            conflict_id: None,
        }
    }

    /// 400: the request is malformed or its values are refused.
    pub(crate) fn bad_request(faultstring: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, faultstring)
    }

    /// 401: no credentials, or ones that are not valid (any more).
    pub(crate) fn unauthorized(faultstring: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, faultstring)
    }

    /// 403: valid credentials whose role does not allow the request.
    pub(crate) fn forbidden(faultstring: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, faultstring)
    }

    /// 404 for a resource that does not exist.
    pub(crate) fn not_found(faultstring: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, faultstring)
    }
}

impl From<attune_core::Error> for ApiError {
    fn from(e: attune_core::Error) -> Self {
        use attune_core::Error as E;
        let status = match &e {
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::Conflict(_) | E::IllegalTransition { .. } => StatusCode::CONFLICT,
            E::Invalid { .. }
            | E::Pack(_)
            | E::Unsupported(_)
            | E::Template { .. }
            | E::Script { .. } => StatusCode::BAD_REQUEST,
            E::ShutDown => StatusCode::SERVICE_UNAVAILABLE,
            E::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            E::Backend {
                transient: true, ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "request failed");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "faultstring": self.faultstring });
        if let Some(id) = self.conflict_id {
            body["conflict-id"] = json!(id);
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// What a handler returns.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
