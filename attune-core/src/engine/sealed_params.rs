//! Secret parameter values for another process: sealed into the execution.
//!
//! Secret values are never stored in clear: the process that creates an execution keeps the
//! real params for the run. On a store several processes share, another process may run it;
//! when the engine has an encryption key, the real params and the values to mask are also
//! sealed with it into [`Execution::sealed_params`](crate::model::Execution), and a process
//! with the same key opens them. Without a key, or with another one, the run fails saying
//! so.

use super::Shared;
use crate::model::Execution;
use crate::{Error, Result};
use serde_json::{Map, Value, json};

/// Seals `real` (the params before redaction) and `masks` into `exec` when the store is
/// shared and the engine has an encryption key.
pub(crate) fn seal(
    shared: &Shared,
    exec: &mut Execution,
    real: &Map<String, Value>,
    masks: &[String],
) {
    if !shared.store.capabilities().shared {
        return;
    }
    let Some(cipher) = shared.cipher() else {
        return;
    };
    match cipher.seal(&json!({ "params": real, "masks": masks })) {
        Ok(sealed) => exec.sealed_params = Some(sealed),
        // Not expected (the values are JSON); the run then stays in this process.
        Err(e) => tracing::warn!(execution.id = %exec.id, error = %e, "secret params not sealed"),
    }
}

/// What an execution's sealed params hold.
pub(crate) struct Opened {
    /// The params before redaction.
    pub params: Map<String, Value>,
    /// The values to mask in the run's output.
    pub masks: Vec<String>,
}

/// The real params and the values to mask of `exec`, from its sealed params; `None` when it
/// has none. An error names the execution when this engine has no key, or another one.
pub(crate) fn open(shared: &Shared, exec: &Execution) -> Result<Option<Opened>> {
    let Some(sealed) = &exec.sealed_params else {
        return Ok(None);
    };
    let what = format!("execution '{}'", exec.id);
    let Some(cipher) = shared.cipher() else {
        return Err(Error::invalid(
            &what,
            "its secret parameter values were sealed with an encryption key, and this engine \
             has none: give every process of the cluster the same key",
        ));
    };
    let opened = cipher.open(sealed, &format!("sealed params of {what}"))?;
    let params = match opened.get("params") {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            return Err(Error::invalid(
                &what,
                "its sealed params hold no params object",
            ));
        }
    };
    let masks = opened
        .get("masks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Opened { params, masks }))
}
