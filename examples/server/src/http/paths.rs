//! The path forms StackStorm's services accept, rewritten to the one the router knows.
//!
//! StackStorm serves its API under `/api/v1/x`, and also as `/v1/x` and `/x`; its auth
//! service `/auth/v1/tokens` also as `/v1/tokens` and `/tokens` (the client's default auth
//! URL has no `/v1`); its stream `/stream/v1/stream` also as `/v1/stream` and `/stream`;
//! `/v1/actionexecutions` is another name of `/v1/executions`; and one trailing `/` is
//! dropped before matching (the client sends `/api/v1/rules/?…`). The server's own routes
//! (`/health`, `/ready`, `/metrics`, the web page) are left as they are.

/// Paths of the server itself, outside StackStorm's API.
const OWN: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/ui",
    "/openapi.json",
    "/docs",
];

/// The canonical form of `path` (without its query).
pub(crate) fn canonical(path: &str) -> String {
    // The docs page's own paths (`/docs/`, `/docs/swagger-ui.css`) are its business.
    if path == "/docs/" || path.starts_with("/docs/") {
        return path.to_string();
    }
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    if OWN
        .iter()
        .any(|o| path == *o || path.strip_prefix(o).is_some_and(|r| r.starts_with('/')))
    {
        return path.to_string();
    }
    let api = if let Some(rest) = path.strip_prefix("/api/v1") {
        rest
    } else if path.starts_with("/auth/v1") || path.starts_with("/stream/v1") {
        return path.to_string();
    } else {
        let rest = path.strip_prefix("/v1").unwrap_or(path);
        if rest == "/tokens" || rest.starts_with("/tokens/") {
            return format!("/auth/v1{rest}");
        }
        if rest == "/stream" {
            return "/stream/v1/stream".to_string();
        }
        rest
    };
    let api = if api == "/" { "" } else { api };
    let api = match api.strip_prefix("/actionexecutions") {
        Some(tail) if tail.is_empty() || tail.starts_with('/') => format!("/executions{tail}"),
        _ => api.to_string(),
    };
    format!("/api/v1{api}")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn every_form_stackstorm_accepts_has_one_canonical_path() {
        for (given, want) in [
            ("/api/v1/actions", "/api/v1/actions"),
            ("/api/v1/rules/", "/api/v1/rules"),
            ("/v1/actions/core.local", "/api/v1/actions/core.local"),
            ("/actions", "/api/v1/actions"),
            ("/executions/", "/api/v1/executions"),
            ("/v1/actionexecutions/abc", "/api/v1/executions/abc"),
            ("/api/v1/actionexecutions", "/api/v1/executions"),
            ("/api/v1/actionexecutionsx", "/api/v1/actionexecutionsx"),
            ("/auth/v1/tokens", "/auth/v1/tokens"),
            ("/tokens", "/auth/v1/tokens"),
            ("/v1/tokens/validate", "/auth/v1/tokens/validate"),
            ("/stream/v1/stream", "/stream/v1/stream"),
            ("/stream", "/stream/v1/stream"),
            ("/v1/stream", "/stream/v1/stream"),
            ("/health", "/health"),
            ("/ui/", "/ui"),
            ("/ui/app.js", "/ui/app.js"),
            ("/docs", "/docs"),
            ("/docs/", "/docs/"),
            ("/docs/swagger-ui.css", "/docs/swagger-ui.css"),
            ("/openapi.json", "/openapi.json"),
            ("/", "/api/v1"),
            ("/api/v1/", "/api/v1"),
            ("/api/v1", "/api/v1"),
            ("/healthz", "/api/v1/healthz"),
        ] {
            assert_eq!(canonical(given), want, "{given}");
        }
    }
}
