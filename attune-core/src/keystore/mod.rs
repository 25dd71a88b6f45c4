//! The key-value store's rules, shared by the engine's key API ([`Engine::set_key`] and the
//! rest, in `engine/keys.rs`) and the handles runs get ([`crate::runtime::KeyAccess`]):
//! key names, times to live, and the encryption of values ([`EncryptionKey`]).
//!
//! [`Engine::set_key`]: crate::Engine::set_key

mod cipher;

pub use cipher::EncryptionKey;
pub(crate) use cipher::PREFIX as SEALED_PREFIX;

use crate::{Error, Result};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The longest key name, in bytes.
pub const MAX_KEY_NAME_BYTES: usize = 1024;

/// How [`Engine::set_key`](crate::Engine::set_key) stores a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// Encrypt the value under the engine's [`EncryptionKey`] (an error when it has none).
    pub encrypt: bool,
    /// Expire the key this long after it is set (more than zero).
    pub ttl: Option<Duration>,
}

/// The error for `what` when encrypted values are asked of an engine without an
/// [`EncryptionKey`].
pub(crate) fn no_encryption_key(what: &str) -> Error {
    Error::invalid(
        what,
        "encrypted values need an encryption key, and this engine has none \
         (EngineBuilder::encryption_key)",
    )
}

/// Checks a key name: not empty, at most [`MAX_KEY_NAME_BYTES`] bytes, no control
/// characters, and no path tricks (`..` between separators, a leading `/`), so that a name
/// stays a name wherever a store or a tool writes it. `what` names the caller in the error.
pub fn check_key_name(what: &str, name: &str) -> Result<()> {
    let bad = |why: String| Err(Error::invalid(what, why));
    if name.is_empty() {
        return bad("a key name must not be empty".into());
    }
    let shown: String = name.chars().take(40).collect();
    if name.len() > MAX_KEY_NAME_BYTES {
        return bad(format!(
            "key name '{shown}…' is {} bytes, more than the {MAX_KEY_NAME_BYTES} allowed",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return bad(format!(
            "key name '{}' holds a control character",
            shown.escape_default()
        ));
    }
    if name.starts_with('/') || name.split(['/', '\\']).any(|part| part == "..") {
        return bad(format!(
            "key name '{shown}' is a path ('..' or a leading '/'), not a name"
        ));
    }
    Ok(())
}

/// When a key set `now` with `ttl` expires; an error for a zero or too long `ttl`.
pub fn expiry(what: &str, name: &str, now: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>> {
    if ttl.is_zero() {
        return Err(Error::invalid(
            what,
            format!("key '{name}': a ttl must be more than zero"),
        ));
    }
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Error::invalid(what, format!("key '{name}': ttl {ttl:?} is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["a", "db.password", "pack.Class:n", "a/b", "x..y"] {
            check_key_name("t", ok).unwrap();
        }
        for (bad, why) in [
            ("", "must not be empty"),
            ("a\nb", "control character"),
            ("../etc", "is a path"),
            ("a/../b", "is a path"),
            ("/abs", "is a path"),
        ] {
            let e = check_key_name("t", bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = "n".repeat(MAX_KEY_NAME_BYTES + 1);
        assert!(check_key_name("t", &long).is_err());
    }

    #[test]
    fn a_ttl_must_be_positive_and_representable() {
        let now = Utc::now();
        assert!(expiry("t", "k", now, Duration::ZERO).is_err());
        assert!(expiry("t", "k", now, Duration::MAX).is_err());
        assert_eq!(
            expiry("t", "k", now, Duration::from_secs(5)).unwrap(),
            now + chrono::Duration::seconds(5)
        );
    }
}
