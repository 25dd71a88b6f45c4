//! `decrypt_kv`: an encrypted key value read in a template (`st2kv.system.NAME` gives the
//! sealed text, as StackStorm gives the ciphertext) opened with the engine's encryption key.
//!
//! The key reaches the filter through a [`Keyring`] the engine puts in the template
//! context (as [`KEYRING_VAR`]) where decrypting is allowed — rule criteria and params.
//! Everything it opens is kept, so that the engine treats those values as secrets: masked
//! in the stored params and in the outputs of the execution they went into.

use crate::keystore::EncryptionKey;
use minijinja::value::{Object, Value as JValue};
use minijinja::{Error, ErrorKind, State};
use std::sync::{Arc, Mutex};

/// The context variable holding the [`Keyring`].
pub(crate) const KEYRING_VAR: &str = "__attune_keyring";

/// The engine's encryption key (if it has one) for one rendering, and what it opened.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    key: Option<Arc<EncryptionKey>>,
    opened: Mutex<Vec<String>>,
}

impl Keyring {
    pub(crate) fn new(key: Option<Arc<EncryptionKey>>) -> Self {
        Keyring {
            key,
            opened: Mutex::new(Vec::new()),
        }
    }

    /// The text of every value opened so far (strings as they are, other values as JSON
    /// and each of their strings), to be masked wherever they could show.
    pub(crate) fn opened(&self) -> Vec<String> {
        self.opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, v: &serde_json::Value) {
        let mut out = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            other => {
                out.push(other.to_string());
                collect_strings(other, &mut out);
            }
        }
        out.retain(|s| !s.is_empty());
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

impl Object for Keyring {
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<keyring>")
    }
}

/// `decrypt_kv(value)`: the value an encrypted key holds.
pub(crate) fn decrypt_kv(state: &State<'_, '_>, value: JValue) -> Result<JValue, Error> {
    let err = |m: String| Error::new(ErrorKind::InvalidOperation, format!("decrypt_kv: {m}"));
    if value.is_undefined() {
        // A key that does not exist: the render error names the variable.
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "decrypt_kv: its value is undefined",
        ));
    }
    let ring = state.lookup(KEYRING_VAR);
    let Some(ring) = ring
        .as_ref()
        .and_then(|r| r.downcast_object_ref::<Keyring>())
    else {
        return Err(err(
            "encrypted key values cannot be read here (only in rule criteria and params)".into(),
        ));
    };
    let Some(key) = &ring.key else {
        return Err(err(
            "this engine has no encryption key (EngineBuilder::encryption_key)".into(),
        ));
    };
    let sealed = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
    if !sealed
        .as_str()
        .is_some_and(|s| s.starts_with(crate::keystore::SEALED_PREFIX))
    {
        return Err(err(
            "the value is not an encrypted key value (read one as st2kv.system.NAME)".into(),
        ));
    }
    let opened = key
        .open(&sealed, "the encrypted key value")
        .map_err(|e| err(e.to_string()))?;
    ring.remember(&opened);
    Ok(crate::template::to_jinja(&opened))
}
