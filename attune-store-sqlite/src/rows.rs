//! Rows ↔ model: how ids, times, statuses and bodies are stored.
//!
//! * ids: the 16 bytes of the UUIDv7 (big-endian), so byte order — SQLite's order for
//!   BLOBs — is id order, which is creation order;
//! * times: integer microseconds since the Unix epoch;
//! * statuses and kinds: their lower-case names;
//! * `body`: the record's whole JSON, as `serde_json` writes the model type.

use crate::error::{Res, corrupt};
use attune_core::model::{ExecutionStatus, KeyScope};
use chrono::{DateTime, Utc};
use rusqlite::Row;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The stored form of an id.
pub(crate) fn blob(id: impl Into<Uuid>) -> [u8; 16] {
    id.into().into_bytes()
}

/// The stored form of an optional id.
pub(crate) fn opt_blob<I: Into<Uuid>>(id: Option<I>) -> Option<[u8; 16]> {
    id.map(blob)
}

/// The stored form of a time.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The JSON body of a record.
pub(crate) fn to_body<T: Serialize>(what: &str, value: &T) -> Res<String> {
    serde_json::to_string(value).map_err(|e| corrupt(what, e))
}

/// Parses the JSON body in column `idx` of `row`.
pub(crate) fn body_at<T: DeserializeOwned>(row: &Row<'_>, idx: usize, what: &str) -> Res<T> {
    let text = row.get_ref(idx)?.as_str().map_err(|e| corrupt(what, e))?;
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// The statuses no transition leaves: what retention may delete.
pub(crate) fn terminal_statuses() -> impl Iterator<Item = ExecutionStatus> {
    ExecutionStatus::ALL.into_iter().filter(|s| s.is_terminal())
}

/// The `(scope_kind, scope_owner)` columns of a key scope, ordered as [`KeyScope`] orders.
pub(crate) fn scope_cols(scope: &KeyScope) -> (i64, &str) {
    match scope {
        KeyScope::System => (0, ""),
        KeyScope::Pack(p) => (1, p),
        KeyScope::User(u) => (2, u),
    }
}

/// A LIMIT value from a `usize`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_core::model::ExecutionId;

    #[test]
    fn ids_sort_as_bytes() {
        let a = ExecutionId::new();
        let b = ExecutionId::new();
        assert!(a < b);
        assert!(blob(a) < blob(b), "byte order must be id order");
        assert!(blob(ExecutionId::nil()) < blob(a));
    }

    #[test]
    fn scopes_order_like_key_scope() {
        let mut scopes = [
            KeyScope::User("a".into()),
            KeyScope::Pack("b".into()),
            KeyScope::System,
            KeyScope::Pack("a".into()),
        ];
        let mut cols: Vec<(i64, String)> = scopes
            .iter()
            .map(|s| {
                let (k, o) = scope_cols(s);
                (k, o.to_string())
            })
            .collect();
        scopes.sort();
        cols.sort();
        let want: Vec<(i64, String)> = scopes
            .iter()
            .map(|s| {
                let (k, o) = scope_cols(s);
                (k, o.to_string())
            })
            .collect();
        assert_eq!(cols, want);
    }
}
