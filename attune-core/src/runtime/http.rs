//! The `http` runtime (feature `http`): one HTTP request per execution, the body of the
//! `core.http_request` action ([`http_request_action`]), in the manner of StackStorm's
//! `core.http`.
//!
//! The params, the result, the failures and the timeouts are documented on [`HttpRuntime`]
//! (this module is private; its items are re-exported from [`crate::runtime`]). In short:
//! `url`, `method`, `headers`, `query`, `body` | `json`, `timeout`, `follow_redirects`,
//! `max_redirects`, `username` + `password` | `bearer_token` (secrets), `verify_ssl_cert`,
//! `max_response_bytes` in; `status_code`, `headers`, `body`, `body_truncated`, `json`,
//! `elapsed_ms`, `url` out; a status of 400 or more fails the run with that result.

use super::{LogStream, RunOutput, RunRequest, Runtime};
use crate::model::Action;
use crate::params::{ParamSpec, REDACTED, json_type_name};
use crate::{Error, Result};
use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use reqwest::{Client, Method, Url};
use serde_json::{Map, Value, json};
use std::fmt;
use std::time::Duration;

/// The ref of the action this runtime runs.
const ACTION_REF: &str = "core.http_request";
/// The redirect limit of the cached clients (and the default of `max_redirects`).
const DEFAULT_MAX_REDIRECTS: u64 = 10;
/// Default of `timeout`, in seconds.
const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// Default of `max_response_bytes` (10 MiB).
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
/// The methods `method` accepts.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The `core.http_request` action: runner `http`, with the parameter schema described on
/// [`HttpRuntime`]. `timeout_secs` is left unset: the `timeout` param governs,
/// bounded by the engine's default timeout.
///
/// ```
/// let action = attune_core::runtime::http_request_action();
/// assert_eq!(action.action_ref, "core.http_request");
/// assert_eq!(action.runner, "http");
/// assert!(action.parameters.get("password").unwrap().secret);
/// ```
pub fn http_request_action() -> Action {
    let methods = METHODS.iter().map(|m| Value::from(*m)).collect();
    Action::new(ACTION_REF, "http")
        .description(
            "Sends one HTTP request and returns the response (status_code, headers, body, \
             json, elapsed_ms, url); fails on a 4xx or 5xx status.",
        )
        .param(
            "url",
            ParamSpec::string()
                .required()
                .description("URL to request (http or https)."),
        )
        .param(
            "method",
            ParamSpec::string()
                .default("GET")
                .enum_values(methods)
                .description("HTTP method."),
        )
        .param(
            "headers",
            ParamSpec::object()
                .default(json!({}))
                .description("Request headers; values must be strings."),
        )
        .param(
            "query",
            ParamSpec::object().default(json!({})).description(
                "Query params appended to the URL (strings raw, other values as JSON text).",
            ),
        )
        .param(
            "body",
            ParamSpec::string().description("Raw request body (exclusive with `json`)."),
        )
        .param(
            "json",
            ParamSpec::any().description(
                "Request body sent as JSON with content-type application/json (exclusive with \
                 `body`).",
            ),
        )
        .param(
            "timeout",
            ParamSpec::number()
                .default(DEFAULT_TIMEOUT_SECS)
                .min(0.001)
                .description("Seconds for the whole request, response body included."),
        )
        .param(
            "follow_redirects",
            ParamSpec::boolean()
                .default(true)
                .description("Follow redirects."),
        )
        .param(
            "max_redirects",
            ParamSpec::integer()
                .default(DEFAULT_MAX_REDIRECTS)
                .min(0.0)
                .description("Most redirects followed; more fail the run."),
        )
        .param(
            "username",
            ParamSpec::string().description("User name for HTTP basic auth."),
        )
        .param(
            "password",
            ParamSpec::string()
                .secret()
                .description("Password for HTTP basic auth (with `username`)."),
        )
        .param(
            "bearer_token",
            ParamSpec::string()
                .secret()
                .description("Token sent as `Authorization: Bearer` (exclusive with basic auth)."),
        )
        .param(
            "verify_ssl_cert",
            ParamSpec::boolean()
                .default(true)
                .description("Verify the server's TLS certificate."),
        )
        .param(
            "max_response_bytes",
            ParamSpec::integer()
                .default(DEFAULT_MAX_RESPONSE_BYTES)
                .min(0.0)
                .description("The response body is read up to this many bytes."),
        )
}

/// Runs `core.http_request` ([`http_request_action`]): one HTTP request per execution, on
/// reqwest with rustls. The clients (and their connection pools) are built once, one per
/// combination of `follow_redirects` and `verify_ssl_cert` with the default redirect limit;
/// a request with another `max_redirects` gets a client of its own.
///
/// # Params
///
/// | param | type | default | meaning |
/// | --- | --- | --- | --- |
/// | `url` | string | required | `http://` or `https://` URL |
/// | `method` | string | `GET` | `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD` or `OPTIONS` |
/// | `headers` | object | `{}` | request headers; every value must be a string |
/// | `query` | object | `{}` | query params appended to the URL's own (strings raw, other values as JSON text) |
/// | `body` | string | — | raw request body |
/// | `json` | any | — | request body serialized as JSON, `Content-Type: application/json` unless `headers` sets one; exclusive with `body` (`null` counts as not given) |
/// | `timeout` | number | `60` | seconds for the whole request, response body included |
/// | `follow_redirects` | boolean | `true` | follow 3xx responses |
/// | `max_redirects` | integer | `10` | more redirects than this fail the run |
/// | `username` / `password` | string / secret string | — | HTTP basic auth (only with `username`) |
/// | `bearer_token` | secret string | — | `Authorization: Bearer ...`; exclusive with `username` |
/// | `verify_ssl_cert` | boolean | `true` | `false` accepts any TLS certificate |
/// | `max_response_bytes` | integer | `10485760` | the response body is read up to this many bytes |
///
/// Auth params conflict with an `Authorization` entry in `headers`. Every problem with the
/// params is reported at once as [`Error::Invalid`].
///
/// # Result
///
/// ```json
/// {
///   "status_code": 200,
///   "headers": {"content-type": "application/json", "set-cookie": "a=1, b=2"},
///   "body": "{\"ok\": true}",
///   "body_truncated": false,
///   "json": {"ok": true},
///   "elapsed_ms": 12.5,
///   "url": "https://example.com/final"
/// }
/// ```
///
/// Header names are lower-case and repeated headers are joined with `", "`. `body` is the
/// response body as lossy UTF-8, cut at `max_response_bytes` (then `body_truncated` is
/// `true`); `json` is the body parsed as JSON, or `null` when it does not parse or was cut.
/// `url` is the final URL after redirects (a password in it shown as `********`).
///
/// The run succeeds when the status is below 400; a 4xx or 5xx response fails the execution
/// with the same result (as StackStorm's `http` runner does). No response at all (connection,
/// DNS, TLS failure, too many redirects) is an [`Error::Action`] naming the method and URL;
/// the `timeout` param running out is an [`Error::Timeout`] naming the URL and the timeout;
/// a cancel is an [`Error::Canceled`]. Error messages never contain `password` or
/// `bearer_token`.
///
/// # Timeouts
///
/// The action leaves `timeout_secs` unset, so the engine's default timeout (600 s unless
/// the host changes it) is the outer bound and the `timeout` param governs below it. A host
/// that needs calls longer than its default registers the action with
/// [`Action::timeout_secs()`] raised.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> attune_core::Result<()> {
/// use attune_core::Engine;
/// use attune_core::runtime::{HttpRuntime, http_request_action};
/// use std::sync::Arc;
/// let engine = Engine::builder()
///     .runtime(Arc::new(HttpRuntime::new()?))
///     .build()
///     .await?;
/// engine.register_action(http_request_action()).await?;
/// let done = engine
///     .run("core.http_request", serde_json::json!({"url": "https://example.com/"}))
///     .await?;
/// println!("{:?}", done.result);
/// # Ok(())
/// # }
/// ```
pub struct HttpRuntime {
    /// Indexed by `HttpRuntime::slot`: (follow redirects, verify certificates).
    clients: [Client; 4],
}

impl fmt::Debug for HttpRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRuntime")
            .field("cached_clients", &self.clients.len())
            .field("default_max_redirects", &DEFAULT_MAX_REDIRECTS)
            .finish()
    }
}

impl HttpRuntime {
    /// A runtime with its clients built; [`Error::Unsupported`] when the TLS setup fails.
    pub fn new() -> Result<Self> {
        let build = |follow: bool, verify: bool| {
            let policy = if follow {
                Policy::limited(DEFAULT_MAX_REDIRECTS as usize)
            } else {
                Policy::none()
            };
            build_client(policy, verify)
        };
        Ok(HttpRuntime {
            clients: [
                build(false, false)?,
                build(false, true)?,
                build(true, false)?,
                build(true, true)?,
            ],
        })
    }

    fn slot(follow: bool, verify: bool) -> usize {
        usize::from(follow) * 2 + usize::from(verify)
    }

    /// The client for these redirect and certificate settings.
    fn client(&self, follow: bool, max_redirects: u64, verify: bool) -> Result<Client> {
        if !follow || max_redirects == DEFAULT_MAX_REDIRECTS {
            return Ok(self.clients[Self::slot(follow, verify)].clone());
        }
        let max = usize::try_from(max_redirects).unwrap_or(usize::MAX);
        build_client(Policy::limited(max), verify)
    }
}

fn build_client(policy: Policy, verify: bool) -> Result<Client> {
    Client::builder()
        .redirect(policy)
        .danger_accept_invalid_certs(!verify)
        .user_agent(concat!("attune/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Unsupported(format!("HTTP client: {}", error_chain(&e))))
}

/// How the request authenticates.
enum Auth {
    None,
    Basic(String, Option<String>),
    Bearer(String),
}

/// The request body.
enum Body {
    None,
    Text(String),
    Json(Vec<u8>),
}

/// The params of one request, checked.
struct Request {
    url: Url,
    method: Method,
    headers: HeaderMap,
    body: Body,
    auth: Auth,
    timeout: Duration,
    timeout_secs: f64,
    follow_redirects: bool,
    max_redirects: u64,
    verify: bool,
    max_response_bytes: u64,
}

/// Reads params, collecting every problem.
struct Reader<'a> {
    params: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// The param, `None` when absent or `null`.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.params.get(name).filter(|v| !v.is_null())
    }

    fn wrong_type(&mut self, name: &str, wanted: &str, got: &Value) {
        self.problems.push(format!(
            "parameter '{name}' must be {wanted}, got {}",
            json_type_name(got)
        ));
    }

    fn string(&mut self, name: &str) -> Option<&'a str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(name, "a string", other);
                None
            }
        }
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.get(name) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.wrong_type(name, "a boolean", other);
                default
            }
        }
    }

    fn count(&mut self, name: &str, default: u64) -> u64 {
        match self.get(name) {
            None => default,
            Some(v) => v.as_u64().unwrap_or_else(|| {
                self.wrong_type(name, "a non-negative integer", v);
                default
            }),
        }
    }

    fn object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        match self.get(name)? {
            Value::Object(m) => Some(m),
            other => {
                self.wrong_type(name, "an object", other);
                None
            }
        }
    }
}

impl Request {
    /// Checks `params`; every problem in one [`Error::Invalid`].
    fn parse(action_ref: &str, params: &Map<String, Value>) -> Result<Request> {
        let mut r = Reader {
            params,
            problems: Vec::new(),
        };
        let url = r.url();
        let method = r.method();
        let mut headers = r.headers();
        let url = r.with_query(url);
        let body = r.body(&mut headers);
        let auth = r.auth(&headers);
        let (timeout, timeout_secs) = r.timeout();
        let follow_redirects = r.boolean("follow_redirects", true);
        let max_redirects = r.count("max_redirects", DEFAULT_MAX_REDIRECTS);
        let verify = r.boolean("verify_ssl_cert", true);
        let max_response_bytes = r.count("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES);
        match url {
            Some(url) if r.problems.is_empty() => Ok(Request {
                url,
                method,
                headers,
                body,
                auth,
                timeout,
                timeout_secs,
                follow_redirects,
                max_redirects,
                verify,
                max_response_bytes,
            }),
            _ => Err(Error::invalid(
                format!("params of action '{action_ref}'"),
                r.problems.join("; "),
            )),
        }
    }
}

/// The request's parts, read from params in the order [`Request::parse`] reads them (the
/// order of the problems reported).
impl Reader<'_> {
    /// `url`: required, an http or https URL.
    fn url(&mut self) -> Option<Url> {
        match self.string("url") {
            None if self.get("url").is_none() => {
                self.problems.push("parameter 'url' is required".into());
                None
            }
            None => None,
            Some(text) => match Url::parse(text) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                Ok(u) => {
                    self.problems.push(format!(
                        "parameter 'url' must be an http or https URL, got scheme '{}'",
                        u.scheme()
                    ));
                    None
                }
                Err(e) => {
                    self.problems
                        .push(format!("parameter 'url' is not a valid URL: {e}"));
                    None
                }
            },
        }
    }

    /// `method`: one of [`METHODS`], any case; GET by default.
    fn method(&mut self) -> Method {
        let Some(m) = self.string("method") else {
            return Method::GET;
        };
        let upper = m.to_ascii_uppercase();
        if METHODS.contains(&upper.as_str()) {
            Method::from_bytes(upper.as_bytes()).unwrap_or(Method::GET)
        } else {
            self.problems.push(format!(
                "parameter 'method' must be one of {}, got '{m}'",
                METHODS.join(", ")
            ));
            Method::GET
        }
    }

    /// `headers`: an object of valid header names to string values.
    fn headers(&mut self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let Some(map) = self.object("headers") else {
            return headers;
        };
        for (name, value) in map {
            let Value::String(text) = value else {
                self.problems.push(format!(
                    "header '{name}' must be a string, got {}",
                    json_type_name(value)
                ));
                continue;
            };
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                self.problems
                    .push(format!("header '{name}' is not a valid header name"));
                continue;
            };
            // The value is not shown: it may hold a credential.
            let Ok(value) = HeaderValue::from_str(text) else {
                self.problems.push(format!(
                    "header '{name}' has a value that is not a valid header value"
                ));
                continue;
            };
            headers.append(header, value);
        }
        headers
    }

    /// `url` with the pairs of `query` (an object; values not strings as JSON text) added.
    fn with_query(&mut self, url: Option<Url>) -> Option<Url> {
        let mut query = Vec::new();
        if let Some(map) = self.object("query") {
            for (name, value) in map {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                query.push((name.clone(), text));
            }
        }
        url.map(|mut u| {
            if !query.is_empty() {
                u.query_pairs_mut().extend_pairs(&query);
            }
            u
        })
    }

    /// The body: `body` (text) or `json` (any value, sent as JSON with a JSON content type
    /// unless `headers` has one), not both.
    fn body(&mut self, headers: &mut HeaderMap) -> Body {
        let text_body = self.string("body");
        match (text_body, self.get("json")) {
            (Some(_), Some(_)) => {
                self.problems.push(
                    "parameters 'body' and 'json' are exclusive: give one request body".into(),
                );
                Body::None
            }
            (Some(text), None) => Body::Text(text.to_owned()),
            (None, Some(value)) => match serde_json::to_vec(value) {
                Ok(bytes) => {
                    if !headers.contains_key(CONTENT_TYPE) {
                        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    }
                    Body::Json(bytes)
                }
                Err(e) => {
                    self.problems
                        .push(format!("parameter 'json' cannot be serialized: {e}"));
                    Body::None
                }
            },
            (None, None) => Body::None,
        }
    }

    /// Authentication: basic (`username`, `password`) or `bearer_token`, not both, and not
    /// beside an `Authorization` header in `headers`.
    fn auth(&mut self, headers: &HeaderMap) -> Auth {
        let username = self.string("username");
        let password = self.string("password");
        let bearer = self.string("bearer_token");
        let auth = match (username, password, bearer) {
            (Some(_), _, Some(_)) => {
                self.problems.push(
                    "parameters 'username' (basic auth) and 'bearer_token' are exclusive".into(),
                );
                Auth::None
            }
            (None, Some(_), _) => {
                self.problems
                    .push("parameter 'password' is given without 'username'".into());
                Auth::None
            }
            (Some(user), password, None) => Auth::Basic(user.to_owned(), password.map(Into::into)),
            (None, None, Some(token)) => Auth::Bearer(token.to_owned()),
            (None, None, None) => Auth::None,
        };
        if !matches!(auth, Auth::None) && headers.contains_key(AUTHORIZATION) {
            self.problems.push(
                "header 'Authorization' conflicts with 'username' / 'bearer_token': give one"
                    .into(),
            );
        }
        auth
    }

    /// `timeout`: a positive number of seconds ([`DEFAULT_TIMEOUT_SECS`] by default), as a
    /// duration and as given.
    fn timeout(&mut self) -> (Duration, f64) {
        let timeout_secs = match self.get("timeout") {
            None => DEFAULT_TIMEOUT_SECS,
            Some(v) => v.as_f64().unwrap_or_else(|| {
                self.wrong_type("timeout", "a number", v);
                DEFAULT_TIMEOUT_SECS
            }),
        };
        let timeout = match Duration::try_from_secs_f64(timeout_secs) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                self.problems.push(format!(
                    "parameter 'timeout' must be a positive number of seconds, got {timeout_secs}"
                ));
                Duration::from_secs(1)
            }
        };
        (timeout, timeout_secs)
    }
}

/// `url` with a password in it replaced by [`REDACTED`].
fn shown(url: &Url) -> String {
    if url.password().is_some() {
        let mut u = url.clone();
        if u.set_password(Some(REDACTED)).is_ok() {
            return u.to_string();
        }
    }
    url.to_string()
}

/// The message of `e` and its causes, `: `-separated, without the URL.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// What came back.
struct Response {
    status: u16,
    url: String,
    headers: Map<String, Value>,
    body: Vec<u8>,
    truncated: bool,
}

/// The response headers as an object: lower-case names, repeated headers joined with `", "`.
fn header_object(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(name.as_str().to_owned(), Value::String(joined));
    }
    out
}

/// Reads the body of `resp` up to `cap` bytes.
async fn read(mut resp: reqwest::Response, cap: u64) -> reqwest::Result<Response> {
    let status = resp.status().as_u16();
    let url = shown(resp.url());
    let headers = header_object(resp.headers());
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        url,
        headers,
        body,
        truncated,
    })
}

/// The body as text (lossy UTF-8); a character cut by truncation is dropped.
fn body_text(body: &[u8], truncated: bool) -> String {
    let bytes = match std::str::from_utf8(body) {
        Err(e) if truncated && e.error_len().is_none() => &body[..e.valid_up_to()],
        _ => body,
    };
    String::from_utf8_lossy(bytes).into_owned()
}

#[async_trait]
impl Runtime for HttpRuntime {
    fn name(&self) -> &str {
        "http"
    }

    async fn run(&self, req: RunRequest) -> Result<RunOutput> {
        let r = Request::parse(&req.action.action_ref, &req.params)?;
        let client = self.client(r.follow_redirects, r.max_redirects, r.verify)?;
        let target = format!("{} {}", r.method, shown(&r.url));
        let mut builder = client.request(r.method, r.url).headers(r.headers);
        builder = match r.auth {
            Auth::None => builder,
            Auth::Basic(user, password) => builder.basic_auth(user, password),
            Auth::Bearer(token) => builder.bearer_auth(token),
        };
        builder = match r.body {
            Body::None => builder,
            Body::Text(text) => builder.body(text),
            Body::Json(bytes) => builder.body(bytes),
        };
        let cap = r.max_response_bytes;
        let started = tokio::time::Instant::now();
        let exchange = async move { read(builder.send().await?, cap).await };
        let outcome = tokio::select! {
            o = tokio::time::timeout(r.timeout, exchange) => o,
            _ = req.cancel.cancelled() => {
                return Err(Error::Canceled(format!("{target}: canceled by request")));
            }
        };
        let timed_out = || {
            Error::Timeout(format!(
                "{target} did not complete within the timeout of {} s (param 'timeout')",
                r.timeout_secs
            ))
        };
        let resp = match outcome {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) if e.is_timeout() => return Err(timed_out()),
            Ok(Err(e)) if e.is_redirect() => {
                return Err(Error::Action(format!(
                    "{target}: more than {} redirects (param 'max_redirects')",
                    r.max_redirects
                )));
            }
            Ok(Err(e)) => {
                let e = e.without_url();
                return Err(Error::Action(format!(
                    "{target} failed: {}",
                    error_chain(&e)
                )));
            }
            Ok(Ok(resp)) => resp,
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        req.log.line(
            LogStream::Log,
            format!("{target} -> {} in {elapsed_ms:.1} ms", resp.status),
        );
        let parsed = if resp.truncated {
            Value::Null
        } else {
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
        };
        let result = json!({
            "status_code": resp.status,
            "headers": resp.headers,
            "body": body_text(&resp.body, resp.truncated),
            "body_truncated": resp.truncated,
            "json": parsed,
            "elapsed_ms": elapsed_ms,
            "url": resp.url,
        });
        Ok(if resp.status < 400 {
            RunOutput::success(result)
        } else {
            RunOutput::failure(result)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Request::parse(
            ACTION_REF,
            &params(json!({
                "url": "ftp://x",
                "headers": {"X-N": 3},
                "body": "a",
                "json": {"b": 1},
                "username": "u",
                "bearer_token": "tok-secret",
                "timeout": 0,
            })),
        )
        .err()
        .unwrap()
        .to_string();
        for part in [
            "scheme 'ftp'",
            "header 'X-N' must be a string, got integer",
            "'body' and 'json' are exclusive",
            "'bearer_token' are exclusive",
            "'timeout' must be a positive",
        ] {
            assert!(err.contains(part), "{part} missing in {err}");
        }
        assert!(!err.contains("tok-secret"), "{err}");
    }

    #[test]
    fn truncated_text_drops_a_cut_character() {
        let bytes = "aé".as_bytes();
        assert_eq!(body_text(&bytes[..2], true), "a");
        assert_eq!(body_text(&bytes[..2], false), "a\u{fffd}");
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        let u = Url::parse("http://ada:pw@h/p").unwrap();
        assert_eq!(shown(&u), "http://ada:********@h/p");
    }

    #[test]
    fn the_action_schema_is_consistent() {
        let a = http_request_action();
        assert!(a.parameters.validate_schema().is_empty());
        let secrets: Vec<&str> = a.parameters.secret_names().collect();
        assert_eq!(secrets, ["bearer_token", "password"]);
    }
}
