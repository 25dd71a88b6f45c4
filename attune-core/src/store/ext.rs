//! Typed helpers over [`Store`].

use super::{EnforcementFilter, EventFilter, ExecutionFilter, Page, Store};
use crate::model::{
    Action, Definition, DefinitionKind, Enforcement, Event, Execution, Pack, Rule, TriggerType,
};
use crate::{Error, Result};
use async_trait::async_trait;
use std::future::Future;
use uuid::Uuid;

/// Rows read per page by the `each_*` helpers of [`StoreExt`].
const EACH_PAGE: usize = 1000;

/// Typed helpers for every [`Store`]; implemented for all of them.
#[async_trait]
pub trait StoreExt: Store {
    /// Reads an action; NotFound when absent.
    async fn action(&self, action_ref: &str) -> Result<Action> {
        match self
            .get_definition(DefinitionKind::Action, action_ref)
            .await?
        {
            Some(Definition::Action(a)) => Ok(a),
            _ => Err(Error::not_found("action", action_ref)),
        }
    }

    /// Reads a rule; NotFound when absent.
    async fn rule(&self, rule_ref: &str) -> Result<Rule> {
        match self.get_definition(DefinitionKind::Rule, rule_ref).await? {
            Some(Definition::Rule(r)) => Ok(r),
            _ => Err(Error::not_found("rule", rule_ref)),
        }
    }

    /// Reads a trigger type; NotFound when absent.
    async fn trigger_type(&self, trigger_ref: &str) -> Result<TriggerType> {
        match self
            .get_definition(DefinitionKind::TriggerType, trigger_ref)
            .await?
        {
            Some(Definition::TriggerType(t)) => Ok(t),
            _ => Err(Error::not_found("trigger type", trigger_ref)),
        }
    }

    /// Reads a pack; NotFound when absent.
    async fn pack(&self, pack_ref: &str) -> Result<Pack> {
        match self.get_definition(DefinitionKind::Pack, pack_ref).await? {
            Some(Definition::Pack(p)) => Ok(p),
            _ => Err(Error::not_found("pack", pack_ref)),
        }
    }

    /// Calls `each` with every execution `filter` selects, in creation order, reading a
    /// page of 1,000 at a time (memory stays bounded however many there are).
    ///
    /// ```
    /// use attune_core::model::Execution;
    /// use attune_core::store::{ExecutionFilter, MemoryStore, Store, StoreExt};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// let store = MemoryStore::new();
    /// for n in 0..2500 {
    ///     let x = Execution::new("demo.act", "native", serde_json::json!({"n": n}), chrono::Utc::now());
    ///     store.insert_execution(&x).await?;
    /// }
    /// let mut seen = Vec::new();
    /// store
    ///     .each_execution(&ExecutionFilter::default(), &mut |x| seen.push(x.params["n"].clone()))
    ///     .await?;
    /// assert_eq!(seen.len(), 2500);
    /// assert_eq!((seen[0].clone(), seen[2499].clone()), (serde_json::json!(0), serde_json::json!(2499)));
    /// # Ok(()) }
    /// ```
    async fn each_execution(
        &self,
        filter: &ExecutionFilter,
        each: &mut (dyn for<'x> FnMut(&'x Execution) + Send),
    ) -> Result<()> {
        each_row(
            |page| async move { self.list_executions(filter, &page).await },
            |x: &Execution| x.id.into(),
            each,
        )
        .await
    }

    /// Calls `each` with every event `filter` selects, in creation order, reading a page of
    /// 1,000 at a time (memory stays bounded however many there are).
    ///
    /// ```
    /// use attune_core::model::Event;
    /// use attune_core::store::{EventFilter, MemoryStore, Store, StoreExt};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// let store = MemoryStore::new();
    /// for n in 0..2100 {
    ///     let trigger = if n % 3 == 0 { "demo.tick" } else { "demo.other" };
    ///     store.insert_event(&Event::new(trigger, serde_json::json!({"n": n}), chrono::Utc::now())).await?;
    /// }
    /// let mut ticks = 0;
    /// store.each_event(&EventFilter::new().trigger("demo.tick"), &mut |_| ticks += 1).await?;
    /// assert_eq!(ticks, 700);
    /// # Ok(()) }
    /// ```
    async fn each_event(
        &self,
        filter: &EventFilter,
        each: &mut (dyn for<'x> FnMut(&'x Event) + Send),
    ) -> Result<()> {
        each_row(
            |page| async move { self.list_events(filter, &page).await },
            |x: &Event| x.id.into(),
            each,
        )
        .await
    }

    /// Calls `each` with every enforcement `filter` selects, in creation order, reading a
    /// page of 1,000 at a time (memory stays bounded however many there are).
    async fn each_enforcement(
        &self,
        filter: &EnforcementFilter,
        each: &mut (dyn for<'x> FnMut(&'x Enforcement) + Send),
    ) -> Result<()> {
        each_row(
            |page| async move { self.list_enforcements(filter, &page).await },
            |x: &Enforcement| x.id.into(),
            each,
        )
        .await
    }
}

/// Reads the pages `list` returns, [`EACH_PAGE`] rows each, until one comes back short,
/// calling `each` with every row; `id` gives the keyset cursor of a row.
async fn each_row<T, L, Fut>(
    mut list: L,
    id: impl Fn(&T) -> Uuid,
    each: &mut (dyn for<'x> FnMut(&'x T) + Send),
) -> Result<()>
where
    L: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut page = Page::first(EACH_PAGE);
    loop {
        let rows = list(page).await?;
        rows.iter().for_each(&mut *each);
        match rows.last() {
            Some(last) if rows.len() == EACH_PAGE => page = Page::after(id(last), EACH_PAGE),
            _ => return Ok(()),
        }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
