//! What a runtime may offer its action of the key-value store: a [`KeyAccess`] handle on
//! [`RunRequest::keys`](super::RunRequest::keys), scoped to the action's pack and the
//! execution's user. Runtimes never hold the store itself; the engine hands them this.

use crate::clock::Clock;
use crate::model::{Key, KeyScope};
use crate::store::Store;
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::Value;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// Which keys a [`KeyAccess`] call addresses, relative to the run it was given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAccessScope {
    /// [`KeyScope::System`]: the keys every rule and action sees (StackStorm's `system`).
    System,
    /// [`KeyScope::Pack`] of the action's own pack.
    Pack,
    /// [`KeyScope::User`] of the execution's user (StackStorm's `user`): an error when the
    /// run has no user.
    User,
}

impl KeyAccessScope {
    /// The scope's name: `system`, `pack`, `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAccessScope::System => "system",
            KeyAccessScope::Pack => "pack",
            KeyAccessScope::User => "user",
        }
    }
}

pub use crate::keystore::MAX_KEY_NAME_BYTES;

/// The key-value store as one run sees it.
///
/// The contract, which [`StoreKeyAccess`] implements over a [`Store`]:
///
/// * Names are non-empty and at most [`MAX_KEY_NAME_BYTES`] bytes; another name is an
///   [`Error::Invalid`] naming it.
/// * [`KeyAccessScope::Pack`] and [`KeyAccessScope::User`] resolve to the run's own pack and
///   user only: a handle never reaches another pack's or user's keys. A run without a user
///   gets an error for every `User` call, saying that no user is known.
/// * Expired keys read as absent and are not listed. Encrypted keys are returned as stored
///   (`encrypted: true`, the ciphertext as value): deciding what to do with them is the
///   caller's.
/// * `set` writes a plain (not encrypted) value, replacing any; with a `ttl` it expires that
///   long after now.
/// * Each call is one store call: no caching, so a value set by one execution is read by
///   the next.
#[async_trait]
pub trait KeyAccess: Send + Sync + Debug {
    /// The key `name` of `scope`, if it is there and not expired.
    async fn get(&self, scope: KeyAccessScope, name: &str) -> Result<Option<Key>>;
    /// Sets `name` of `scope` to `value` (plain), expiring after `ttl` when given.
    async fn set(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<()>;
    /// Deletes `name` of `scope`; whether it was there.
    async fn delete(&self, scope: KeyAccessScope, name: &str) -> Result<bool>;
    /// The keys of `scope` whose names start with `prefix`, ordered by name, expired ones
    /// left out.
    async fn list(&self, scope: KeyAccessScope, prefix: &str) -> Result<Vec<Key>>;
    /// [`KeyAccess::get`] with an encrypted value decrypted (`encrypted` stays true). The
    /// default: an error saying this handle cannot decrypt.
    async fn get_decrypted(&self, scope: KeyAccessScope, name: &str) -> Result<Option<Key>> {
        let _ = (scope, name);
        Err(Error::invalid(
            "key-value store",
            "this run's key-value handle cannot decrypt values",
        ))
    }
    /// [`KeyAccess::set`] with the value encrypted. The default: an error saying this handle
    /// cannot encrypt.
    async fn set_encrypted(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let _ = (scope, name, value, ttl);
        Err(Error::invalid(
            "key-value store",
            "this run's key-value handle cannot encrypt values",
        ))
    }
}

/// Told of key changes made through a [`StoreKeyAccess`] (the engine's key-value triggers).
#[async_trait]
pub(crate) trait KeyWatch: Send + Sync + std::fmt::Debug {
    /// Whether it wants changes now (when not, no key is read before a write).
    fn watching(&self) -> bool;
    /// A key was written (`old`: what it was, if it existed) or deleted (`new` is None).
    async fn changed(&self, old: Option<Key>, new: Option<Key>);
}

/// [`KeyAccess`] over a [`Store`], for the runs of one pack (and user, when known). What the
/// engine puts on every run request; a host or a test may build one too.
#[derive(Debug, Clone)]
pub struct StoreKeyAccess {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pack: String,
    user: Option<crate::model::Name>,
    /// Who asks, for error messages (`execution '…'`).
    what: String,
    /// The engine's encryption key, for encrypted values.
    cipher: Option<Arc<crate::keystore::EncryptionKey>>,
    /// Told of changes, when the engine watches them.
    watch: Option<Arc<dyn KeyWatch>>,
}

impl StoreKeyAccess {
    /// Access for a run of an action of `pack`, on behalf of `user` when there is one;
    /// `what` names the run in error messages (`execution '…'`).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        pack: impl Into<String>,
        user: Option<crate::model::Name>,
        what: impl Into<String>,
    ) -> Self {
        StoreKeyAccess {
            store,
            clock,
            pack: pack.into(),
            user,
            what: what.into(),
            cipher: None,
            watch: None,
        }
    }

    /// The same, telling `watch` of its changes.
    pub(crate) fn with_watch(mut self, watch: Arc<dyn KeyWatch>) -> Self {
        self.watch = Some(watch);
        self
    }

    /// What `scope`/`name` holds now, when a watch wants to know (before a change).
    async fn before_change(&self, scope: &KeyScope, name: &str) -> Result<Option<Option<Key>>> {
        match &self.watch {
            Some(w) if w.watching() => {
                let now = self.clock.now();
                let old = self.store.get_key(scope, name).await?;
                Ok(Some(old.filter(|k| !k.is_expired(now))))
            }
            _ => Ok(None),
        }
    }

    /// The same, encrypting and decrypting values under `key` when asked
    /// ([`KeyAccess::set_encrypted`], [`KeyAccess::get_decrypted`]); without it those are
    /// errors saying the engine has no encryption key.
    pub fn with_encryption(mut self, key: Option<Arc<crate::keystore::EncryptionKey>>) -> Self {
        self.cipher = key;
        self
    }

    fn cipher(&self) -> Result<&crate::keystore::EncryptionKey> {
        self.cipher
            .as_deref()
            .ok_or_else(|| crate::keystore::no_encryption_key(&self.what))
    }

    /// The store scope `scope` stands for in this run.
    pub fn resolve(&self, scope: KeyAccessScope) -> Result<KeyScope> {
        match scope {
            KeyAccessScope::System => Ok(KeyScope::System),
            KeyAccessScope::Pack => Ok(KeyScope::Pack(self.pack.clone())),
            KeyAccessScope::User => match &self.user {
                Some(u) => Ok(KeyScope::User(u.to_string())),
                None => Err(Error::invalid(
                    &self.what,
                    "the 'user' scope of the key-value store needs a user, and no user is \
                     known for this execution",
                )),
            },
        }
    }

    fn check_name(&self, name: &str) -> Result<()> {
        crate::keystore::check_key_name(&self.what, name)
    }

    /// Writes `name` of `scope`, encrypted when `encrypt`.
    async fn put(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
        encrypt: bool,
    ) -> Result<()> {
        self.check_name(name)?;
        let scope = self.resolve(scope)?;
        let now = self.clock.now();
        let mut key = Key::new(scope, name, value, now);
        if let Some(ttl) = ttl {
            key.expires = Some(crate::keystore::expiry(&self.what, name, now, ttl)?);
        }
        if encrypt {
            key.value = self.cipher()?.seal(&key.value)?;
            key.encrypted = true;
        }
        let old = self.before_change(&key.scope, name).await?;
        self.store.put_key(&key).await?;
        if let (Some(old), Some(w)) = (old, &self.watch) {
            w.changed(old, Some(key)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl KeyAccess for StoreKeyAccess {
    async fn get(&self, scope: KeyAccessScope, name: &str) -> Result<Option<Key>> {
        self.check_name(name)?;
        let scope = self.resolve(scope)?;
        let key = self.store.get_key(&scope, name).await?;
        Ok(key.filter(|k| !k.is_expired(self.clock.now())))
    }

    async fn set(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.put(scope, name, value, ttl, false).await
    }

    async fn get_decrypted(&self, scope: KeyAccessScope, name: &str) -> Result<Option<Key>> {
        let Some(mut key) = self.get(scope, name).await? else {
            return Ok(None);
        };
        if key.encrypted {
            let what = format!("{}: key '{name}' ({})", self.what, key.scope);
            key.value = self.cipher()?.open(&key.value, &what)?;
        }
        Ok(Some(key))
    }

    async fn set_encrypted(
        &self,
        scope: KeyAccessScope,
        name: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.put(scope, name, value, ttl, true).await
    }

    async fn delete(&self, scope: KeyAccessScope, name: &str) -> Result<bool> {
        self.check_name(name)?;
        let scope = self.resolve(scope)?;
        let old = self.before_change(&scope, name).await?;
        let existed = self.store.delete_key(&scope, name).await?;
        if let (Some(Some(old)), Some(w)) = (old, &self.watch)
            && existed
        {
            w.changed(Some(old), None).await;
        }
        Ok(existed)
    }

    async fn list(&self, scope: KeyAccessScope, prefix: &str) -> Result<Vec<Key>> {
        let scope = self.resolve(scope)?;
        let now = self.clock.now();
        let mut keys: Vec<Key> = self
            .store
            .list_keys(Some(&scope))
            .await?
            .into_iter()
            .filter(|k| k.name.starts_with(prefix) && !k.is_expired(now))
            .collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;
    use serde_json::json;

    fn access(user: Option<&str>) -> (StoreKeyAccess, Arc<MemoryStore>, Arc<ManualClock>) {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let a = StoreKeyAccess::new(
            store.clone(),
            clock.clone(),
            "mypack",
            user.map(Into::into),
            "execution 'x'",
        );
        (a, store, clock)
    }

    #[tokio::test]
    async fn keys_are_set_read_listed_and_deleted_in_their_scope() {
        let (a, store, _) = access(None);
        a.set(KeyAccessScope::System, "p.A:n", json!("v"), None)
            .await
            .unwrap();
        a.set(KeyAccessScope::System, "other", json!(1), None)
            .await
            .unwrap();
        a.set(KeyAccessScope::Pack, "p.A:n", json!("in pack"), None)
            .await
            .unwrap();
        let got = a.get(KeyAccessScope::System, "p.A:n").await.unwrap();
        assert_eq!(got.map(|k| k.value), Some(json!("v")));
        let stored = store
            .get_key(&KeyScope::Pack("mypack".into()), "p.A:n")
            .await
            .unwrap();
        assert_eq!(stored.map(|k| k.value), Some(json!("in pack")));
        let names: Vec<String> = a
            .list(KeyAccessScope::System, "p.")
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(names, ["p.A:n"]);
        assert!(a.delete(KeyAccessScope::System, "p.A:n").await.unwrap());
        assert!(!a.delete(KeyAccessScope::System, "p.A:n").await.unwrap());
        assert_eq!(a.get(KeyAccessScope::System, "p.A:n").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_ttl_expires_the_key() {
        let (a, _, clock) = access(None);
        a.set(
            KeyAccessScope::System,
            "t",
            json!("soon gone"),
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap();
        assert!(a.get(KeyAccessScope::System, "t").await.unwrap().is_some());
        clock.advance(chrono::TimeDelta::seconds(11));
        assert_eq!(a.get(KeyAccessScope::System, "t").await.unwrap(), None);
        assert!(a.list(KeyAccessScope::System, "").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_user_scope_needs_a_user_and_is_that_users() {
        let (a, _, _) = access(None);
        let err = a
            .get(KeyAccessScope::User, "k")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no user is known") && err.contains("execution 'x'"),
            "{err}"
        );
        let (a, store, _) = access(Some("ann"));
        a.set(KeyAccessScope::User, "k", json!(true), None)
            .await
            .unwrap();
        let stored = store
            .get_key(&KeyScope::User("ann".into()), "k")
            .await
            .unwrap();
        assert_eq!(stored.map(|k| k.value), Some(json!(true)));
    }

    #[tokio::test]
    async fn encrypted_values_need_the_engines_key() {
        let (a, store, _) = access(None);
        let err = a
            .set_encrypted(KeyAccessScope::System, "s", json!("v"), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has none") && err.contains("execution 'x'"),
            "{err}"
        );
        let key = Arc::new(crate::keystore::EncryptionKey::generate().unwrap());
        let a = a.with_encryption(Some(key));
        a.set_encrypted(KeyAccessScope::Pack, "s", json!("v"), None)
            .await
            .unwrap();
        let stored = store
            .get_key(&KeyScope::Pack("mypack".into()), "s")
            .await
            .unwrap()
            .unwrap();
        assert!(stored.encrypted && stored.value != json!("v"));
        let got = a.get_decrypted(KeyAccessScope::Pack, "s").await.unwrap();
        assert_eq!(
            got.map(|k| (k.value, k.encrypted)),
            Some((json!("v"), true))
        );
        let plain = a.get(KeyAccessScope::Pack, "s").await.unwrap().unwrap();
        assert_eq!(plain.value, stored.value, "get returns it as stored");
    }

    #[tokio::test]
    async fn bad_names_are_errors_naming_them() {
        let (a, _, _) = access(None);
        let err = a
            .get(KeyAccessScope::System, "")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not be empty"), "{err}");
        let long = "n".repeat(MAX_KEY_NAME_BYTES + 1);
        let err = a
            .set(KeyAccessScope::System, &long, json!(1), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than the 1024"), "{err}");
        a.set(
            KeyAccessScope::System,
            &"n".repeat(MAX_KEY_NAME_BYTES),
            json!(1),
            None,
        )
        .await
        .unwrap();
    }
}
