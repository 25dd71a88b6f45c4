//! Typed helpers over [`Store`].

use super::{ExecutionFilter, Page, Store};
use crate::model::{Action, Definition, DefinitionKind, Execution, Pack, Rule, TriggerType};
use crate::{Error, Result};
use async_trait::async_trait;

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
        const PAGE: usize = 1000;
        let mut page = Page::first(PAGE);
        loop {
            let rows = self.list_executions(filter, &page).await?;
            rows.iter().for_each(&mut *each);
            match rows.last() {
                Some(last) if rows.len() == PAGE => page = Page::after(last.id, PAGE),
                _ => return Ok(()),
            }
        }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
