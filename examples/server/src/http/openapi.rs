//! The OpenAPI document of the API (`GET /openapi.json`) and its docs page (`GET /docs`,
//! Swagger UI served from the binary: it works offline).
//!
//! The document is built from the handlers themselves: each carries a `#[utoipa::path]`
//! attribute, and the router is assembled from those ([`super::router`]), so a route without
//! its description cannot be added. The query parameters a list route accepts are the
//! fields of its parameter type ([`param_names`]): the route refuses any other, and the
//! document lists exactly those. Both pages are public (they describe, they hold no data).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};

/// The document's frame: title, security schemes, tags. The paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Attune API",
        description = "StackStorm's REST API v1, served by `attune serve --http`: the `st2` client works against it unchanged. Errors are `{\"faultstring\": ...}`.",
    ),
    modifiers(&Security),
    security(("token" = []), ("api_key" = [])),
    components(schemas(super::schemas::Fault)),
    tags(
        (name = "auth", description = "Tokens and the caller"),
        (name = "actions", description = "Actions and runner types"),
        (name = "executions", description = "Running actions and following them"),
        (name = "rules", description = "Rules: a trigger, criteria, an action"),
        (name = "triggers", description = "Trigger types, trigger instances (events), rule enforcements"),
        (name = "traces", description = "What an event, or an execution a caller started, set going"),
        (name = "packs", description = "Packs, sensors, policies"),
        (name = "inquiries", description = "Questions a workflow asks"),
        (name = "keys", description = "The key-value store and its secrets"),
        (name = "apikeys", description = "API keys"),
        (name = "webhooks", description = "Webhooks that fire rules"),
        (name = "stream", description = "Live events (server-sent events)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub(crate) struct ApiDoc;

/// The webhook routes, whose axum path (a catch-all) is not an OpenAPI path.
#[derive(OpenApi)]
#[openapi(paths(super::webhooks::get, super::webhooks::call))]
pub(crate) struct WebhookDoc;

/// The ways a caller authenticates (see [`super::auth`]).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let header = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what)))
        };
        c.add_security_scheme(
            "token",
            header(
                "X-Auth-Token",
                "A token from POST /auth/v1/tokens (also as the query parameter x-auth-token or the cookie auth-token)",
            ),
        );
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("A user's name and password (to get a token)"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "signature",
            header(
                "X-Hub-Signature-256",
                "sha256=HMAC-SHA256 of the body (GitHub's form), for webhooks whose rules name a secret_key",
            ),
        );
        c.add_security_scheme(
            "api_key",
            header(
                "St2-Api-Key",
                "An API key from POST /api/v1/apikeys (also as the query parameter st2-api-key)",
            ),
        );
    }
}

/// The paging parameters every list route accepts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the routes read their query as a map
pub(crate) struct Paging {
    /// How many to return (default 100); -1 for all (admins only).
    #[param(minimum = -1)]
    limit: Option<i64>,
    /// How many to skip first.
    #[param(minimum = 0)]
    offset: Option<u64>,
}

/// The attribute selection every route that answers with records accepts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built
pub(crate) struct Attributes {
    /// Accepted for StackStorm's client; every attribute is returned.
    include_attributes: Option<String>,
    /// Attributes to leave out, comma-separated (executions only; accepted elsewhere).
    exclude_attributes: Option<String>,
}

/// No query parameters (a route that takes none but credentials).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NoParams {}

/// The names of the query parameters of `P`: what a route documented with `P` accepts.
pub(crate) fn param_names<P: IntoParams>() -> Vec<String> {
    P::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// The faults of a list route, each a [`Fault`](super::schemas::Fault): 400 (bad input),
/// 401 (no or bad credentials), 403 (the caller's role does not allow it).
pub(crate) struct ListFaults;

impl utoipa::IntoResponses for ListFaults {
    fn responses() -> Responses {
        faults(&[400, 401, 403])
    }
}

/// The faults of a route on one resource: those of [`ListFaults`] and 404 (not found).
pub(crate) struct ItemFaults;

impl utoipa::IntoResponses for ItemFaults {
    fn responses() -> Responses {
        faults(&[400, 401, 403, 404])
    }
}

type Responses =
    std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>>;

/// A `Fault` answer for each of `statuses`.
fn faults(statuses: &[u16]) -> Responses {
    use utoipa::openapi::response::ResponseBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr};
    statuses
        .iter()
        .map(|s| {
            let what = match s {
                400 => "Bad input",
                401 => "No or bad credentials",
                403 => "The caller's role does not allow it",
                _ => "Not found",
            };
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Fault")))
                .build();
            let answer = ResponseBuilder::new()
                .description(what)
                .content("application/json", content)
                .build();
            (s.to_string(), RefOr::T(answer))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_names_are_the_fields_as_sent() {
        assert_eq!(param_names::<Paging>(), ["limit", "offset"]);
        assert_eq!(
            param_names::<Attributes>(),
            ["include_attributes", "exclude_attributes"]
        );
        assert!(param_names::<NoParams>().is_empty());
    }
}
