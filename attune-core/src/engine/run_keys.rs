//! The key-value store handle the engine puts on every run request, made only when the run
//! uses it: most actions never touch the key store, and a run should not pay for one.

use super::Shared;
use crate::Result;
use crate::model::{Action, ExecutionId, Key};
use crate::runtime::{KeyAccess, KeyAccessScope, StoreKeyAccess};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The key store as the run of `execution` (an action of `action`'s pack, on behalf of
/// `user`) sees it: each call goes through a [`StoreKeyAccess`] built for it, with the
/// engine's encryption key and its key-value triggers watching.
pub(crate) struct RunKeys {
    pub shared: Arc<Shared>,
    pub action: Arc<Action>,
    pub execution: ExecutionId,
    pub user: Option<crate::model::Name>,
}

impl std::fmt::Debug for RunKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunKeys")
            .field("pack", &self.action.pack())
            .field("execution", &self.execution)
            .field("user", &self.user)
            .finish()
    }
}

impl RunKeys {
    fn access(&self) -> StoreKeyAccess {
        StoreKeyAccess::new(
            self.shared.store.clone(),
            self.shared.clock.clone(),
            self.action.pack(),
            self.user.clone(),
            format!("execution '{}'", self.execution),
        )
        .with_encryption(self.shared.cipher())
        .with_watch(Arc::new(super::system_triggers::EngineKeyWatch(
            self.shared.clone(),
        )))
    }
}

#[async_trait]
impl KeyAccess for RunKeys {
    async fn get(&self, scope: KeyAccessScope, name: &str) -> Result<Option<Key>> {
        self.access().get(scope, name).await
    }

    async fn set(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.access().set(scope, name, value, ttl).await
    }

    async fn delete(&self, scope: KeyAccessScope, name: &str) -> Result<bool> {
        self.access().delete(scope, name).await
    }

    async fn list(&self, scope: KeyAccessScope, prefix: &str) -> Result<Vec<Key>> {
        self.access().list(scope, prefix).await
    }

    async fn get_decrypted(&self, scope: KeyAccessScope, name: &str) -> Result<Option<Key>> {
        self.access().get_decrypted(scope, name).await
    }

    async fn set_encrypted(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.access().set_encrypted(scope, name, value, ttl).await
    }
}
