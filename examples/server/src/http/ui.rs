//! `GET /ui`: the web page — executions live (the event stream), an execution's output
//! and result, a workflow run drawn from its Mermaid export with each task's status, and
//! the rules with how often each fired.
//!
//! One self-contained HTML file (`ui/index.html`: no script or style from elsewhere, so
//! it works offline) that talks to the same API as the `st2` client: it logs in with
//! `POST /auth/v1/tokens`, keeps the token in the tab's session storage, lists with
//! `GET /api/v1/executions`, follows `/stream/v1/stream`, draws
//! `GET /api/v1/executions/{id}/graph`, and counts each rule's enforcements from the
//! `X-Total-Count` of `GET /api/v1/ruleenforcements?rule_ref=…&limit=1`. The page itself is
//! public (it holds no data); everything it shows needs the login.

use axum::http::header;
use axum::response::IntoResponse;

/// The page.
const PAGE: &str = include_str!("ui/index.html");

/// Serves the page.
pub(super) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
            ),
        ],
        PAGE,
    )
}
