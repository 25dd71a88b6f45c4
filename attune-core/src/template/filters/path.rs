//! Path filters, as Python's `posixpath`.

use super::{Call, FilterResult};
use minijinja::Value as JValue;

/// `basename(path)`: what follows the last `/` (empty after a trailing `/`).
pub(super) fn basename(call: &Call) -> FilterResult {
    let p = call.str(0)?;
    Ok(JValue::from(p.rsplit('/').next().unwrap_or(p)))
}

/// `dirname(path)`: what precedes the last `/`, without trailing slashes unless it is all
/// slashes (`/` stays `/`).
pub(super) fn dirname(call: &Call) -> FilterResult {
    let p = call.str(0)?;
    let head = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    let trimmed = head.trim_end_matches('/');
    Ok(JValue::from(if trimmed.is_empty() {
        head
    } else {
        trimmed
    }))
}
