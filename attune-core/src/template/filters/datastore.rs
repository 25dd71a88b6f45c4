//! `decrypt_kv`: listed here with StackStorm's filters; the engine registers the working
//! filter from `template/keyring.rs`, which reads the engine's key from the template context.

use super::{Call, FilterResult};

/// Never called: `template/keyring.rs` replaces it when the filters are registered.
pub(super) fn decrypt_kv(call: &Call) -> FilterResult {
    Err(call.error("needs the engine's key store (see template/keyring.rs)"))
}
