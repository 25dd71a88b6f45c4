//! Trace: from an execution back to its cause, from an event forward to its effects.

use super::Engine;
use crate::Result;
use crate::model::{Enforcement, Event, EventId, Execution, ExecutionId, Rule};
use crate::store::{EnforcementFilter, ExecutionFilter, Page, Store, StoreExt};
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
    /// The executions those enforcements created, and their descendants, in creation order.
    pub executions: Vec<Execution>,
}

const PAGE: usize = 1000;

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
        let enforcements = all_pages(
            |page| {
                let f = &filter;
                async move { store.list_enforcements(f, &page).await }
            },
            |e| e.id.0,
        )
        .await?;
        let filter = ExecutionFilter {
            event: Some(id),
            ..Default::default()
        };
        let executions = all_pages(
            |page| {
                let f = &filter;
                async move { store.list_executions(f, &page).await }
            },
            |e| e.id.0,
        )
        .await?;
        Ok(EventTrace {
            event,
            enforcements,
            executions,
        })
    }
}

/// Collects every page of a keyset-paginated listing.
async fn all_pages<T, F, Fut>(mut list: F, id: fn(&T) -> uuid::Uuid) -> Result<Vec<T>>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>>>,
{
    let mut out = Vec::new();
    let mut page = Page::first(PAGE);
    loop {
        let batch = list(page).await?;
        let done = batch.len() < PAGE;
        if let Some(last) = batch.last() {
            page = Page::after(id(last), PAGE);
        }
        out.extend(batch);
        if done {
            return Ok(out);
        }
    }
}
