//! `GET /stream/v1/stream`: StackStorm's event stream (server-sent events), what
//! `st2 execution tail` follows.
//!
//! Events: `st2.execution__create` (an execution is requested) and `st2.execution__update`
//! (each later status) with the ActionExecutionAPI body, the same as
//! `st2.liveaction__create|update`, and `st2.execution.output__create` for each line an
//! action prints (only for executions running in this process: output is not shared
//! between processes). Query: `events` (comma-separated globs; default StackStorm's:
//! every execution and liveaction event, no output), `action_refs`, `execution_ids`, and
//! `end_event` with `end_execution_id`: the stream ends after that event for that
//! execution once it finished. A bare newline opens the stream and is repeated every
//! [`HEARTBEAT`]. A stopping server ends every stream. Credentials: `?x-auth-token=` as the client sends them (or a header).

use super::Api;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::models::{self, timestamp};
use super::query::known_params;
use super::schemas::*;
use attune_core::model::{ExecutionId, ExecutionStatus};
use attune_core::runtime::LogStream;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a newline keeps an idle stream open.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(10);

/// Executions whose action and runner a stream keeps at hand for their output lines.
const RUNS_KEPT: usize = 1024;

/// StackStorm's events when `events` is not given.
const DEFAULT_EVENTS: &[&str] = &[
    "st2.announcement__*",
    "st2.execution__*",
    "st2.liveaction__*",
];

/// Whether `name` matches the glob `pattern` (`*` any run, `?` one character).
pub(super) fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// What a stream sends.
struct Filter {
    events: Vec<String>,
    actions: Option<Vec<String>>,
    executions: Option<Vec<String>>,
    end: Option<(String, String)>,
}

impl Filter {
    fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|g| glob(g, event))
    }

    /// Whether the stream is about `execution` (known before it is read).
    fn of_execution(&self, execution: &str) -> bool {
        self.executions
            .as_ref()
            .is_none_or(|l| l.iter().any(|x| x == execution))
    }

    fn of_action(&self, action: &str) -> bool {
        self.actions
            .as_ref()
            .is_none_or(|l| l.iter().any(|a| a == action))
    }

    /// Whether sending `event` for `execution`, `done`, ends the stream.
    fn ends(&self, event: &str, execution: &str, done: bool) -> bool {
        done && self
            .end
            .as_ref()
            .is_some_and(|(e, x)| e == event && x == execution)
    }
}

fn list(q: &HashMap<String, String>, name: &str) -> Option<Vec<String>> {
    q.get(name).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// One event in the wire format.
fn frame(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// What to send.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct StreamParams {
    /// Event names, comma-separated; `*` globs (all when absent)
    events: Option<String>,
    /// Only these actions' executions, comma-separated
    action_refs: Option<String>,
    /// Only these executions, comma-separated
    execution_ids: Option<String>,
    /// End the stream after this event for `end_execution_id`
    end_event: Option<String>,
    /// The execution whose `end_event` ends the stream
    end_execution_id: Option<String>,
}

/// The stream (see the module doc).
#[utoipa::path(get, path = "/stream/v1/stream", tag = "stream", params(StreamParams),
    responses((status = 200, description = "Server-sent events until the client leaves (or the end event)", body = String, content_type = "text/event-stream"), (status = 400, description = "Bad input", body = Fault), (status = 401, description = "No or bad credentials", body = Fault)))]
pub(super) async fn stream(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    known_params::<StreamParams>(&q)?;
    let end = match (q.get("end_event"), q.get("end_execution_id")) {
        (Some(e), Some(x)) => Some((e.clone(), x.clone())),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "end_event and end_execution_id go together",
            ));
        }
    };
    let filter = Filter {
        events: list(&q, "events")
            .unwrap_or_else(|| DEFAULT_EVENTS.iter().map(|s| s.to_string()).collect()),
        actions: list(&q, "action_refs"),
        executions: list(&q, "execution_ids"),
        end,
    };
    // Subscribed before the reply, so that nothing after it is missed.
    let mut statuses = api.engine.subscribe().await?;
    let mut logs = api.engine.subscribe_logs();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut stopping = api.stopping.subscribe();
    tokio::spawn(async move {
        if tx.send(Bytes::from_static(b"\n")).await.is_err() {
            return;
        }
        // The execution the stream ends with may have finished before it opened.
        if let Some((event, id)) = &filter.end
            && let Ok(xid) = id.parse::<ExecutionId>()
            && let Ok(x) = api.engine.execution(xid).await
            && x.status.is_terminal()
        {
            let body = models::execution(&x, api.engine.action(&x.action).as_ref());
            let _ = tx.send(frame(event, &body)).await;
            return;
        }
        let mut runs: HashMap<ExecutionId, (String, String)> = HashMap::new();
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.tick().await;
        loop {
            if *stopping.borrow_and_update() {
                // The server stops: the stream ends (the client may reconnect elsewhere).
                return;
            }
            tokio::select! {
                _ = stopping.changed() => {}
                _ = beat.tick() => {
                    if tx.send(Bytes::from_static(b"\n")).await.is_err() {
                        return;
                    }
                }
                change = statuses.next() => {
                    let Ok(Some(change)) = change else { return };
                    let kind = if change.status == ExecutionStatus::Requested { "create" } else { "update" };
                    let events = [format!("st2.execution__{kind}"), format!("st2.liveaction__{kind}")];
                    let id = change.execution.to_string();
                    // Read from the store only what the stream sends.
                    if !events.iter().any(|e| filter.wants(e)) || !filter.of_execution(&id) {
                        continue;
                    }
                    let Ok(x) = api.engine.execution(change.execution).await else { continue };
                    if !filter.of_action(&x.action) {
                        continue;
                    }
                    let body = models::execution(&x, api.engine.action(&x.action).as_ref());
                    let done = change.status.is_terminal();
                    for event in events {
                        if !filter.wants(&event) {
                            continue;
                        }
                        let data = if event.starts_with("st2.liveaction") { &body["liveaction"] } else { &body };
                        if tx.send(frame(&event, data)).await.is_err() {
                            return;
                        }
                        if filter.ends(&event, &id, done) {
                            return;
                        }
                    }
                }
                line = logs.recv() => {
                    let line = match line {
                        Ok(l) => l,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    };
                    let event = "st2.execution.output__create";
                    let id = line.execution.to_string();
                    if !filter.wants(event) || !filter.of_execution(&id) {
                        continue;
                    }
                    // The action and runner of each execution, read once per stream.
                    if !runs.contains_key(&line.execution) {
                        let Ok(x) = api.engine.execution(line.execution).await else { continue };
                        if runs.len() >= RUNS_KEPT {
                            runs.clear();
                        }
                        runs.insert(line.execution, (x.action.to_string(), x.runner.to_string()));
                    }
                    let (action, runner) = &runs[&line.execution];
                    if !filter.of_action(action) {
                        continue;
                    }
                    let output_type = match line.stream {
                        LogStream::Stdout => "stdout",
                        LogStream::Stderr => "stderr",
                        LogStream::Log => "log",
                    };
                    let data = json!({
                        "id": format!("{id}:{}", chrono::Utc::now().timestamp_micros()),
                        "execution_id": id,
                        "action_ref": action,
                        "runner_ref": runner,
                        "timestamp": timestamp(chrono::Utc::now()),
                        "output_type": output_type,
                        "data": format!("{}\n", line.line),
                    });
                    if tx.send(frame(event, &data)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=UTF-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_as_fnmatch_does() {
        assert!(glob("st2.execution__*", "st2.execution__update"));
        assert!(glob("*", "anything"));
        assert!(glob("st2.?iveaction__create", "st2.liveaction__create"));
        assert!(!glob("st2.execution__*", "st2.execution.output__create"));
        assert!(!glob("st2.execution__update", "st2.execution__create"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
    }
}
