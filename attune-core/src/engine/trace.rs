//! Trace: from an execution back to its cause, from an event forward to its effects.

use super::Engine;
use crate::Result;
use crate::model::{Enforcement, Event, EventId, Execution, ExecutionId, Rule};
use crate::store::{EnforcementFilter, ExecutionFilter, Store, StoreExt};
use std::sync::Arc;

/// An execution with what caused it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionTrace {
    /// The execution.
    pub execution: Execution,
    /// The enforcement that created it, if a rule did.
    pub enforcement: Option<Enforcement>,
    /// The rule (its current definition), if a rule did and it still exists.
    pub rule: Option<Rule>,
    /// The event, if one caused it and it is still retained.
    pub event: Option<Event>,
    /// The parent execution (workflow), if any.
    pub parent: Option<Execution>,
    /// Every attempt of the same first execution (the first and its retries, this one
    /// among them), by attempt; just this one when it was never retried.
    pub attempts: Vec<Execution>,
}

/// An event with everything it caused.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTrace {
    /// The event.
    pub event: Event,
    /// One enforcement per rule that matched (or failed), in creation order.
    pub enforcements: Vec<Enforcement>,
    /// The executions those enforcements created, their retries, and the workflow tasks
    /// under any of them at any depth, in creation order.
    pub executions: Vec<Execution>,
}

/// Where a trace starts: every execution belongs to exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceRoot {
    /// An event: the trace holds what its rules did ([`Engine::trace_event`]).
    Event(EventId),
    /// An execution a caller started (no event, parent or earlier attempt): the trace
    /// holds it, its retries and their tasks ([`Engine::trace_started`]).
    Execution(ExecutionId),
}

/// # Inspection
///
/// The store, and traces from a cause to its effects and back.
impl Engine {
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The execution `id` with its enforcement, rule, event and parent.
    pub async fn trace_execution(&self, id: ExecutionId) -> Result<ExecutionTrace> {
        let store = &self.shared.store;
        let execution = store.get_execution(id).await?;
        let enforcement = match execution.enforcement {
            Some(e) => store.get_enforcement(e).await.ok(),
            None => None,
        };
        let rule = match &execution.rule {
            Some(r) => store.rule(r).await.ok(),
            None => None,
        };
        let event = match execution.event {
            Some(e) => store.get_event(e).await.ok(),
            None => None,
        };
        let parent = match execution.parent {
            Some(p) => store.get_execution(p).await.ok(),
            None => None,
        };
        let attempts = match self.attempts(id).await {
            Ok(a) => a,
            // The first attempt was deleted by retention.
            Err(_) => vec![execution.clone()],
        };
        Ok(ExecutionTrace {
            execution,
            enforcement,
            rule,
            event,
            parent,
            attempts,
        })
    }

    /// The event `id` with every enforcement and execution it caused.
    pub async fn trace_event(&self, id: EventId) -> Result<EventTrace> {
        let store = &self.shared.store;
        let event = store.get_event(id).await?;
        let filter = EnforcementFilter {
            event: Some(id),
            ..Default::default()
        };
        let mut enforcements = Vec::new();
        store
            .each_enforcement(&filter, &mut |e| enforcements.push(e.clone()))
            .await?;
        let filter = ExecutionFilter {
            event: Some(id),
            ..Default::default()
        };
        let top = executions_where(store.as_ref(), &filter).await?;
        let executions = with_descendants(store.as_ref(), top).await?;
        Ok(EventTrace {
            event,
            enforcements,
            executions,
        })
    }

    /// The trace `id` belongs to: the event that caused it (through its workflow parents
    /// and earlier attempts), or else the execution a caller started that it descends
    /// from. NotFound when `id`, or an execution on the way up, is not stored.
    pub async fn trace_root(&self, id: ExecutionId) -> Result<TraceRoot> {
        let store = &self.shared.store;
        let mut x = store.get_execution(id).await?;
        // Each step goes to an older execution; the bound only stops a corrupt cycle.
        for _ in 0..10_000 {
            if let Some(e) = x.event {
                return Ok(TraceRoot::Event(e));
            }
            match x.parent.or(x.retry_of) {
                Some(up) => x = store.get_execution(up).await?,
                None => return Ok(TraceRoot::Execution(x.id)),
            }
        }
        Err(crate::Error::invalid(
            format!("execution {id}"),
            "its parents and earlier attempts do not end",
        ))
    }

    /// An execution a caller started with everything under it: itself, its retries and
    /// the workflow tasks under any of them at any depth, in creation order. For an
    /// execution that is not such a root, its [`Engine::trace_root`] names the trace.
    pub async fn trace_started(&self, id: ExecutionId) -> Result<Vec<Execution>> {
        let store = &self.shared.store;
        let first = store.get_execution(id).await?;
        let filter = ExecutionFilter::new().retry_of(id);
        let mut top = vec![first];
        top.extend(executions_where(store.as_ref(), &filter).await?);
        with_descendants(store.as_ref(), top).await
    }
}

/// `top` with the workflow tasks under each at any depth, in creation order (then id).
async fn with_descendants(store: &dyn Store, top: Vec<Execution>) -> Result<Vec<Execution>> {
    let mut seen: std::collections::HashSet<ExecutionId> = top.iter().map(|x| x.id).collect();
    let mut level: Vec<ExecutionId> = top.iter().map(|x| x.id).collect();
    let mut out = top;
    while !level.is_empty() {
        let mut next = Vec::new();
        for parent in level {
            let filter = ExecutionFilter::new().parent(parent);
            let children = executions_where(store, &filter).await?;
            for x in children {
                if seen.insert(x.id) {
                    next.push(x.id);
                    out.push(x);
                }
            }
        }
        level = next;
    }
    out.sort_by_key(|x| (x.created, x.id.0));
    Ok(out)
}

/// Every execution `filter` selects, in creation order.
async fn executions_where(store: &dyn Store, filter: &ExecutionFilter) -> Result<Vec<Execution>> {
    let mut out = Vec::new();
    store
        .each_execution(filter, &mut |x| out.push(x.clone()))
        .await?;
    Ok(out)
}
