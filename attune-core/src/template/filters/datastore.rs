//! `decrypt_kv`.

use super::{Call, FilterResult};

/// `decrypt_kv(value)`: not supported yet. Encrypted keys arrive with key encryption
/// (AES-256-GCM under an engine key); until then encrypted keys are not in the template
/// context and this filter is an error, never the ciphertext or a wrong value.
/// StackStorm's own ciphertexts (keyczar-compatible AES-CBC with HMAC-SHA1, hex) are not
/// read either.
pub(super) fn decrypt_kv(call: &Call) -> FilterResult {
    Err(call.error(
        "is not supported yet: encrypted key values arrive with key encryption, and until \
         then encrypted keys are left out of the template context",
    ))
}
