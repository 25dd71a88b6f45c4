//! Keys of the key-value store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The scope of a [`Key`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", content = "owner", rename_all = "snake_case")]
pub enum KeyScope {
    /// Visible to everything.
    System,
    /// Owned by a pack.
    Pack(String),
    /// Owned by a user.
    User(String),
}

impl KeyScope {
    /// The scope as `(rank, owner)`: ordered as `KeyScope` orders (system, packs, users;
    /// owners by name), `owner` empty for the system scope. What stores keep in two columns.
    pub fn sort_key(&self) -> (u8, &str) {
        match self {
            KeyScope::System => (0, ""),
            KeyScope::Pack(p) => (1, p),
            KeyScope::User(u) => (2, u),
        }
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyScope::System => f.write_str("system"),
            KeyScope::Pack(p) => write!(f, "pack:{p}"),
            KeyScope::User(u) => write!(f, "user:{u}"),
        }
    }
}

/// A value in the key-value store. When `encrypted`, `value` holds ciphertext (the
/// encryption itself arrives with the keys issue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// The name, unique within its scope.
    pub name: String,
    /// The scope.
    pub scope: KeyScope,
    /// The value.
    pub value: Value,
    /// Whether `value` is ciphertext.
    #[serde(default)]
    pub encrypted: bool,
    /// When it expires.
    #[serde(
        with = "super::time_text::opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expires: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(with = "super::time_text")]
    pub updated: DateTime<Utc>,
}

impl Key {
    /// A plain key in `scope` set at `now`.
    pub fn new(scope: KeyScope, name: impl Into<String>, value: Value, now: DateTime<Utc>) -> Self {
        Key {
            name: name.into(),
            scope,
            value,
            encrypted: false,
            expires: None,
            updated: now,
        }
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}
