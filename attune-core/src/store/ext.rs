//! Typed helpers over [`Store`].

use super::Store;
use crate::model::{Action, Definition, DefinitionKind, Pack, Rule, TriggerType};
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
}

impl<S: Store + ?Sized> StoreExt for S {}
