//! The key-value store from the host: set, read, list and delete keys of any scope, values
//! encrypted under the engine's [`EncryptionKey`] on request, and rotation of that key.

use super::Engine;
use crate::Result;
use crate::keystore::{EncryptionKey, KeyOptions, check_key_name, expiry};
use crate::model::{Key, KeyScope};
use serde_json::Value;
use std::sync::Arc;

/// # Keys
///
/// The key-value store (StackStorm's datastore): keys by scope (`system`, a pack's, a
/// user's), plain or encrypted, with an optional time to live. Expired keys read as absent.
///
/// ```
/// use attune_core::Engine;
/// use attune_core::keystore::{EncryptionKey, KeyOptions};
/// use attune_core::model::KeyScope;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
/// let engine = Engine::builder()
///     .encryption_key(EncryptionKey::generate()?)
///     .build()
///     .await?;
/// let secret = KeyOptions { encrypt: true, ..KeyOptions::default() };
/// engine.set_key(KeyScope::System, "db.password", json!("hunter2"), secret).await?;
/// let stored = engine.get_key(&KeyScope::System, "db.password", false).await?.unwrap();
/// assert!(stored.encrypted && stored.value != json!("hunter2"));
/// let plain = engine.get_key(&KeyScope::System, "db.password", true).await?.unwrap();
/// assert_eq!(plain.value, json!("hunter2"));
/// # Ok(()) }
/// ```
impl Engine {
    /// Sets key `name` of `scope` to `value`, replacing any, encrypted and expiring as
    /// `options` say; returns the key as stored (an encrypted value sealed). Refused: a bad
    /// name (empty, too long, control characters, a path), a zero ttl, encrypting without an
    /// encryption key.
    pub async fn set_key(
        &self,
        scope: KeyScope,
        name: &str,
        value: Value,
        options: KeyOptions,
    ) -> Result<Key> {
        let what = key_what(&scope, name);
        check_key_name(&what, name)?;
        let now = self.shared.clock.now();
        let mut key = Key::new(scope, name, value, now);
        if let Some(ttl) = options.ttl {
            key.expires = Some(expiry(&what, name, now, ttl)?);
        }
        if options.encrypt {
            key.value = self.encryption_key(&what)?.seal(&key.value)?;
            key.encrypted = true;
        }
        let watched = super::system_triggers::kv_used(&self.shared);
        let old = if watched {
            self.shared
                .store
                .get_key(&key.scope, name)
                .await?
                .filter(|k| !k.is_expired(now))
        } else {
            None
        };
        self.shared.store.put_key(&key).await?;
        if watched {
            super::system_triggers::key_changed(&self.shared, old.as_ref(), Some(&key)).await;
        }
        Ok(key)
    }

    /// Key `name` of `scope`, unless absent or expired. An encrypted value is returned as
    /// stored (sealed), or with `decrypt` as its value (`encrypted` stays true, saying what it
    /// is); decrypting without the key it was sealed under is an error naming both keys.
    pub async fn get_key(
        &self,
        scope: &KeyScope,
        name: &str,
        decrypt: bool,
    ) -> Result<Option<Key>> {
        check_key_name(&key_what(scope, name), name)?;
        let now = self.shared.clock.now();
        let Some(key) = self
            .shared
            .store
            .get_key(scope, name)
            .await?
            .filter(|k| !k.is_expired(now))
        else {
            return Ok(None);
        };
        self.opened(key, decrypt).map(Some)
    }

    /// The keys of `scope` (every scope when `None`) whose names start with `prefix`, expired
    /// ones left out, ordered by scope then name; encrypted values as [`Engine::get_key`]
    /// returns them.
    pub async fn list_keys(
        &self,
        scope: Option<&KeyScope>,
        prefix: &str,
        decrypt: bool,
    ) -> Result<Vec<Key>> {
        let now = self.shared.clock.now();
        let mut keys = Vec::new();
        for k in self.shared.store.list_keys(scope).await? {
            if k.name.starts_with(prefix) && !k.is_expired(now) {
                keys.push(self.opened(k, decrypt)?);
            }
        }
        keys.sort_by(|a, b| (&a.scope, &a.name).cmp(&(&b.scope, &b.name)));
        Ok(keys)
    }

    /// Deletes key `name` of `scope`; whether it was there.
    pub async fn delete_key(&self, scope: &KeyScope, name: &str) -> Result<bool> {
        check_key_name(&key_what(scope, name), name)?;
        if !super::system_triggers::kv_used(&self.shared) {
            return self.shared.store.delete_key(scope, name).await;
        }
        let now = self.shared.clock.now();
        let old = self
            .shared
            .store
            .get_key(scope, name)
            .await?
            .filter(|k| !k.is_expired(now));
        let existed = self.shared.store.delete_key(scope, name).await?;
        if existed && old.is_some() {
            super::system_triggers::key_changed(&self.shared, old.as_ref(), None).await;
        }
        Ok(existed)
    }

    /// Re-encrypts every encrypted key under `new`, then makes `new` the engine's key; returns
    /// how many keys were re-encrypted. Every encrypted value must open with the current key
    /// first: one that does not is an error naming it, and nothing changes. Keys set by
    /// another engine meanwhile are not covered: rotate with the engines that share the
    /// store stopped.
    pub async fn rotate_encryption_key(&self, new: EncryptionKey) -> Result<usize> {
        let old = self.encryption_key("key rotation")?;
        let mut rotated = Vec::new();
        for mut k in self.shared.store.list_keys(None).await? {
            if !k.encrypted {
                continue;
            }
            let plain = old.open(&k.value, &key_what(&k.scope, &k.name))?;
            k.value = new.seal(&plain)?;
            rotated.push(k);
        }
        for k in &rotated {
            self.shared.store.put_key(k).await?;
        }
        *self
            .shared
            .encryption
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(new));
        Ok(rotated.len())
    }

    /// The engine's encryption key, or an error for `what` saying there is none.
    pub(crate) fn encryption_key(&self, what: &str) -> Result<Arc<EncryptionKey>> {
        self.shared
            .cipher()
            .ok_or_else(|| crate::keystore::no_encryption_key(what))
    }

    /// `key` as returned: decrypted when asked and encrypted.
    fn opened(&self, mut key: Key, decrypt: bool) -> Result<Key> {
        if decrypt && key.encrypted {
            let what = key_what(&key.scope, &key.name);
            key.value = self.encryption_key(&what)?.open(&key.value, &what)?;
        }
        Ok(key)
    }
}

/// `key 'NAME' (SCOPE)`, for messages.
fn key_what(scope: &KeyScope, name: &str) -> String {
    format!("key '{name}' ({scope})")
}
