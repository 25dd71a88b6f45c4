//! Traces (`st2 trace list/get`): what one cause set going. A trace starts at an event
//! (StackStorm's trigger instance: the trace holds it, the rules it matched and every
//! execution they started, workflow tasks at any depth included) or at an execution a
//! caller started (it, its retries and their tasks). The trace's id is its root's id.

use super::Api;
use super::auth::Caller;
use super::error::ApiResult;
use super::models::timestamp;
use super::openapi::{Attributes, ItemFaults, ListFaults, Paging};
use super::query::{counted, id_param, known_params, no_id, oldest_first, ordered_page, paging};
use super::schemas::*;
use attune_core::TraceRoot;
use attune_core::model::{EventId, Execution, ExecutionId};
use attune_core::store::{EnforcementFilter, EventFilter, ExecutionFilter, Page};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The filters of `st2 trace list`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built: the route reads its query as a map
pub(super) struct TraceFilters {
    /// The trace tag the event's emitter gave
    trace_tag: Option<String>,
    /// An execution's id: the trace it belongs to
    execution: Option<String>,
    /// A rule's ref: the traces in which it matched
    rule: Option<String>,
    /// An event's id: its trace
    trigger_instance: Option<String>,
    /// `true`: newest first (the default)
    sort_desc: Option<bool>,
    /// `true`: oldest first
    sort_asc: Option<bool>,
}

/// One item of a trace's lists: `{object_id, ref, updated_at, caused_by}`.
fn component(id: String, r: &str, at: chrono::DateTime<chrono::Utc>, caused_by: Value) -> Value {
    json!({ "object_id": id, "ref": r, "updated_at": timestamp(at), "caused_by": caused_by })
}

/// What caused an execution, as StackStorm names it (`st2 trace get -e` walks these up to
/// the event: a rule's cause is `rule:event`, the rule's own is the event).
fn execution_cause(x: &Execution) -> Value {
    match (x.parent.or(x.retry_of), &x.rule, x.event) {
        (Some(up), _, _) => json!({"type": "action_execution", "id": up.to_string()}),
        (None, Some(rule), Some(ev)) => json!({"type": "rule", "id": format!("{rule}:{ev}")}),
        _ => json!({}),
    }
}

fn executions(xs: &[Execution]) -> Vec<Value> {
    xs.iter()
        .map(|x| component(x.id.to_string(), &x.action, x.updated, execution_cause(x)))
        .collect()
}

/// `TraceAPI` of the trace starting at `root`; None when the root is not stored (any
/// more).
async fn trace(api: &Api, root: TraceRoot) -> ApiResult<Option<Value>> {
    let found = match root {
        TraceRoot::Event(id) => api.engine.trace_event(id).await.map(|t| {
            let ev = &t.event;
            let rules: Vec<Value> = t
                .enforcements
                .iter()
                .map(|f| {
                    let cause = json!({"type": "trigger_instance", "id": ev.id.to_string()});
                    component(f.rule.to_string(), &f.rule, f.created, cause)
                })
                .collect();
            json!({
                "id": ev.id.to_string(),
                "uid": format!("trace:{}", ev.id),
                "trace_tag": ev.trace_tag,
                "start_timestamp": timestamp(ev.created),
                "trigger_instances": [component(ev.id.to_string(), &ev.trigger, ev.created, json!({}))],
                "rules": rules,
                "action_executions": executions(&t.executions),
            })
        }),
        TraceRoot::Execution(id) => api.engine.trace_started(id).await.map(|xs| {
            let start = xs.iter().find(|x| x.id == id).map(|x| timestamp(x.created));
            json!({
                "id": id.to_string(),
                "uid": format!("trace:{id}"),
                "trace_tag": null,
                "start_timestamp": start,
                "trigger_instances": [],
                "rules": [],
                "action_executions": executions(&xs),
            })
        }),
    };
    match found {
        Ok(v) => Ok(Some(v)),
        Err(attune_core::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The trace whose id is `id` (an event's, or that of an execution a caller started).
async fn root_of(api: &Api, id: &str) -> ApiResult<Option<TraceRoot>> {
    let Ok(uuid) = id.parse::<uuid::Uuid>() else {
        return Ok(None);
    };
    match api.engine.event(EventId(uuid)).await {
        Ok(_) => return Ok(Some(TraceRoot::Event(EventId(uuid)))),
        Err(attune_core::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let x = ExecutionId(uuid);
    match api.engine.trace_root(x).await {
        Ok(TraceRoot::Execution(root)) if root == x => Ok(Some(TraceRoot::Execution(x))),
        Ok(_) | Err(attune_core::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How many events, and started executions, [`merged`] reads at a time.
const MERGE_PAGE: usize = 500;

/// The roots of every trace — events and executions a caller started — merged by creation
/// time (newest first unless `oldest_first`), those at `offset..offset + limit`. Reads a
/// page of each kind at a time: memory stays bounded whatever the offset.
async fn merged(
    api: &Api,
    oldest_first: bool,
    offset: usize,
    limit: Option<usize>,
) -> ApiResult<Vec<TraceRoot>> {
    use std::collections::VecDeque;
    type Queue = VecDeque<(chrono::DateTime<chrono::Utc>, TraceRoot)>;
    let page_after = |cursor: Option<uuid::Uuid>| match (oldest_first, cursor) {
        (false, None) => Page::newest(MERGE_PAGE),
        (false, Some(c)) => Page::before(c, MERGE_PAGE),
        (true, None) => Page::first(MERGE_PAGE),
        (true, Some(c)) => Page::after(c, MERGE_PAGE),
    };
    let (ef, xf) = (EventFilter::new(), ExecutionFilter::new().started_only());
    let (mut events, mut started) = (Queue::new(), Queue::new());
    let (mut event_cursor, mut started_cursor) = (None, None);
    let (mut events_done, mut started_done) = (false, false);
    let (mut skip, want) = (offset, limit.unwrap_or(usize::MAX));
    let mut out = Vec::new();
    while out.len() < want {
        if events.is_empty() && !events_done {
            let rows = api.engine.events(&ef, page_after(event_cursor)).await?;
            events_done = rows.len() < MERGE_PAGE;
            event_cursor = rows.last().map(|e| e.id.0);
            events.extend(rows.iter().map(|e| (e.created, TraceRoot::Event(e.id))));
        }
        if started.is_empty() && !started_done {
            let rows = api
                .engine
                .executions(&xf, page_after(started_cursor))
                .await?;
            started_done = rows.len() < MERGE_PAGE;
            started_cursor = rows.last().map(|x| x.id.0);
            started.extend(rows.iter().map(|x| (x.created, TraceRoot::Execution(x.id))));
        }
        let next = match (events.front(), started.front()) {
            (None, None) => break,
            (Some(_), None) => events.pop_front(),
            (None, Some(_)) => started.pop_front(),
            (Some(e), Some(x)) => {
                // Ties: the event first newest-first, last oldest-first (one order,
                // read both ways).
                let event_first = if oldest_first { e.0 < x.0 } else { e.0 >= x.0 };
                if event_first {
                    events.pop_front()
                } else {
                    started.pop_front()
                }
            }
        };
        let Some((_, root)) = next else { break };
        if skip > 0 {
            skip -= 1;
        } else {
            out.push(root);
        }
    }
    Ok(out)
}

/// `st2 trace list [--trace-tag T] [-e EXECUTION] [-r RULE] [-g TRIGGER_INSTANCE]`:
/// newest first; the filters combine (all must hold).
#[utoipa::path(get, path = "/api/v1/traces", tag = "traces", params(Paging, Attributes, TraceFilters),
    responses((status = 200, description = "One page", body = Vec<TraceApi>, headers(("X-Total-Count" = u64, description = "How many match"), ("X-Limit" = u64, description = "The limit applied"))), ListFaults))]
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, Json<Value>)> {
    known_params::<TraceFilters>(&q)?;
    let (limit, offset) = paging(&q, &caller)?;
    let oldest_first = oldest_first(&q);
    let tag = q.get("trace_tag");
    let rule = q.get("rule");
    let keep = |t: &Value| {
        tag.is_none_or(|tag| t["trace_tag"].as_str() == Some(tag))
            && rule.is_none_or(|r| {
                t["rules"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| x["ref"].as_str() == Some(r)))
            })
    };
    // The traces named by an id (at most one each), or every tagged event's when both a tag
    // and a rule are asked for: built, filtered and paged here.
    let mut named: Option<Vec<TraceRoot>> = None;
    if let Some(x) = q.get("execution") {
        let id: ExecutionId = id_param("execution", x)?;
        let roots = match api.engine.trace_root(id).await {
            Ok(r) => vec![r],
            Err(attune_core::Error::NotFound { .. }) => vec![],
            Err(e) => return Err(e.into()),
        };
        named = Some(roots);
    }
    if let Some(t) = q.get("trigger_instance") {
        let root = TraceRoot::Event(id_param("trigger_instance", t)?);
        named = Some(match named {
            Some(roots) => roots.into_iter().filter(|r| *r == root).collect(),
            None => vec![root],
        });
    }
    if named.is_none()
        && let (Some(tag), Some(_)) = (tag, rule)
    {
        let events = api
            .engine
            .events(&EventFilter::new().trace_tag(tag), Page::first(usize::MAX))
            .await?;
        named = Some(events.iter().map(|e| TraceRoot::Event(e.id)).collect());
    }
    if let Some(roots) = named {
        let mut all = Vec::new();
        for root in roots {
            if let Some(t) = trace(&api, root).await?
                && keep(&t)
            {
                all.push(t);
            }
        }
        let start = |t: &Value| {
            t["start_timestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        all.sort_by_key(start);
        if !oldest_first {
            all.reverse();
        }
        let total = all.len() as u64;
        let page = all
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        return Ok(counted(page, total, limit));
    }
    // One filter or none: the store pages.
    let (roots, total): (Vec<TraceRoot>, u64) = if let Some(r) = rule {
        let f = EnforcementFilter::new().rule(r);
        let total = api.engine.count_enforcements(&f).await?;
        let page = ordered_page(oldest_first, limit, offset);
        let rows = api.engine.enforcements(&f, page).await?;
        (
            rows.iter().map(|e| TraceRoot::Event(e.event)).collect(),
            total,
        )
    } else if let Some(tag) = tag {
        let f = EventFilter::new().trace_tag(tag);
        let total = api.engine.count_events(&f).await?;
        let page = ordered_page(oldest_first, limit, offset);
        let rows = api.engine.events(&f, page).await?;
        (rows.iter().map(|e| TraceRoot::Event(e.id)).collect(), total)
    } else {
        let ef = EventFilter::new();
        let xf = ExecutionFilter::new().started_only();
        let total = api.engine.count_events(&ef).await? + api.engine.count_executions(&xf).await?;
        (merged(&api, oldest_first, offset, limit).await?, total)
    };
    let mut items = Vec::new();
    for root in roots {
        // A root deleted (retention) between the listing and now is left out.
        if let Some(t) = trace(&api, root).await? {
            items.push(t);
        }
    }
    Ok(counted(items, total, limit))
}

/// `st2 trace get ID`.
#[utoipa::path(get, path = "/api/v1/traces/{id}", tag = "traces", params(("id" = String, Path, description = "The trace's id: its event's, or that of the execution a caller started")),
    responses((status = 200, description = "Done", body = TraceApi), ItemFaults))]
pub(super) async fn get(
    State(api): State<Arc<Api>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let Some(root) = root_of(&api, &id).await? else {
        return Err(no_id(&id));
    };
    trace(&api, root).await?.map(Json).ok_or_else(|| no_id(&id))
}
