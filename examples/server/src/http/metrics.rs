//! `GET /metrics`: Prometheus text exposition, and the per-request bookkeeping behind it.
//!
//! - `attune_http_requests_total{method, route, status}` and
//!   `attune_http_request_seconds{route}` (histogram): every request this process served,
//!   by its route pattern (`/api/v1/executions/{id}`, not the id).
//! - `attune_execution_status_changes_total{status}` and `attune_execution_seconds`
//!   (histogram, from creation to the end): every status change announced since start (on
//!   PostgreSQL, those of every process).
//! - `attune_executions{status}`: executions now in each unfinished status (the queue
//!   depth is `requested`, `delayed` and `scheduled`), read from the store at each scrape.
//! - `attune_events_unmatched`: events stored and not matched yet; `attune_in_flight`:
//!   what this process accepted and has not finished.
//!
//! Each request also runs in a `request` span with an `id` (the `X-Request-Id` it came
//! with, or a new one, sent back): JSON log lines carry it.

use super::Api;
use attune_core::model::ExecutionStatus;
use attune_core::store::{EventFilter, ExecutionFilter};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument as _;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// A histogram: counts per bucket, sum and count.
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    /// Writes its lines for `name` with `labels` (`a="b",` form, possibly empty).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}le=\"{b}\"}} {}",
                self.buckets[i]
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let trimmed = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{trimmed}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{trimmed}}} {}", self.count);
    }
}

/// What this process counted.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    inner: Mutex<Counted>,
}

#[derive(Debug, Default)]
struct Counted {
    requests: BTreeMap<(String, String, u16), u64>,
    request_seconds: BTreeMap<String, Histogram>,
    status_changes: BTreeMap<&'static str, u64>,
    execution_seconds: Histogram,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counted> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn request(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut c = self.lock();
        *c.requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        c.request_seconds
            .entry(route.to_string())
            .or_default()
            .observe(secs);
    }

    /// An announced status change; `secs` since creation when it is an end.
    fn status(&self, status: ExecutionStatus, secs: Option<f64>) {
        let mut c = self.lock();
        *c.status_changes.entry(status.as_str()).or_default() += 1;
        if let Some(s) = secs {
            c.execution_seconds.observe(s);
        }
    }
}

/// Follows the status changes of every execution into `api.metrics` until the engine's
/// transport closes.
pub(crate) async fn follow_statuses(api: Arc<Api>) {
    let mut sub = match api.engine.subscribe().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot follow execution statuses");
            return;
        }
    };
    while let Ok(Some(change)) = sub.next().await {
        // Ids are UUIDv7: their time is the creation's (to the millisecond).
        let secs = change
            .status
            .is_terminal()
            .then(|| change.execution.0.get_timestamp())
            .flatten()
            .map(|t| {
                let (s, n) = t.to_unix();
                let created = s as f64 + f64::from(n) / 1e9;
                let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
                (now - created).max(0.0)
            });
        api.metrics.status(change.status, secs);
    }
}

/// Records each request (route, status, duration) and runs it in a span with its id.
pub(crate) async fn track(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let mut res = next.run(req).instrument(span).await;
    api.metrics.request(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition (public, like `/health`: it names no secret).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub(crate) async fn scrape(State(api): State<Arc<Api>>) -> Response {
    let mut out = String::new();
    let c = {
        let c = api.metrics.lock();
        (
            c.requests.clone(),
            c.request_seconds.clone(),
            c.status_changes.clone(),
            c.execution_seconds.clone(),
        )
    };
    let _ = writeln!(
        out,
        "# HELP attune_http_requests_total Requests served, by route and status."
    );
    let _ = writeln!(out, "# TYPE attune_http_requests_total counter");
    for ((m, r, s), n) in &c.0 {
        let _ = writeln!(
            out,
            "attune_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{s}\"}} {n}",
            label(m),
            label(r)
        );
    }
    let _ = writeln!(
        out,
        "# HELP attune_http_request_seconds Time to answer a request."
    );
    let _ = writeln!(out, "# TYPE attune_http_request_seconds histogram");
    for (r, h) in &c.1 {
        h.write(
            &mut out,
            "attune_http_request_seconds",
            &format!("route=\"{}\",", label(r)),
        );
    }
    let _ = writeln!(
        out,
        "# HELP attune_execution_status_changes_total Execution status changes announced since start."
    );
    let _ = writeln!(out, "# TYPE attune_execution_status_changes_total counter");
    for (s, n) in &c.2 {
        let _ = writeln!(
            out,
            "attune_execution_status_changes_total{{status=\"{s}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP attune_execution_seconds From an execution's creation to its end."
    );
    let _ = writeln!(out, "# TYPE attune_execution_seconds histogram");
    c.3.write(&mut out, "attune_execution_seconds", "");
    let _ = writeln!(
        out,
        "# HELP attune_executions Executions now in each unfinished status."
    );
    let _ = writeln!(out, "# TYPE attune_executions gauge");
    for s in ExecutionStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
    {
        match api
            .engine
            .count_executions(&ExecutionFilter::new().status(s))
            .await
        {
            Ok(n) => {
                let _ = writeln!(out, "attune_executions{{status=\"{}\"}} {n}", s.as_str());
            }
            Err(e) => tracing::warn!(error = %e, "metrics: executions not counted"),
        }
    }
    let mut unmatched = EventFilter::new();
    unmatched.unmatched_only = true;
    if let Ok(n) = api.engine.count_events(&unmatched).await {
        let _ = writeln!(
            out,
            "# HELP attune_events_unmatched Events stored and not matched yet."
        );
        let _ = writeln!(out, "# TYPE attune_events_unmatched gauge");
        let _ = writeln!(out, "attune_events_unmatched {n}");
    }
    let _ = writeln!(
        out,
        "# HELP attune_in_flight Events and executions this process accepted and has not finished."
    );
    let _ = writeln!(out, "# TYPE attune_in_flight gauge");
    let _ = writeln!(out, "attune_in_flight {}", api.engine.in_flight());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
