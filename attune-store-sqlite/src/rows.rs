//! Rows ↔ model: how ids, times, statuses and bodies are stored.
//!
//! * ids: the 16 bytes of the UUIDv7 (big-endian), so byte order — SQLite's order for
//!   BLOBs — is id order, which is creation order;
//! * times: integer microseconds since the Unix epoch;
//! * statuses and kinds: their lower-case names;
//! * `body`: the record's whole JSON, as `serde_json` writes the model type; for an
//!   execution, as inserted, with its `state` (what changed since, [`ExecState`]) laid over.

use crate::error::{Res, corrupt};
use attune_core::model::{Execution, ExecutionStatus, KeyScope};
use chrono::{DateTime, Utc};
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    // Sized for a typical record, so that it is not grown three times on the way.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, value).map_err(|e| corrupt(what, e))?;
    // serde_json writes UTF-8 only.
    String::from_utf8(out).map_err(|e| corrupt(what, e))
}

/// A record with its JSON body, serialized by the caller's task before the change is queued,
/// so that the writer thread — which every change waits for — does not.
pub(crate) struct Bodied<T> {
    /// The record.
    pub value: T,
    /// Its JSON.
    pub body: String,
}

impl<T: Serialize> Bodied<T> {
    /// Serializes `value` (`what` names it in an error).
    pub(crate) fn new(what: &str, value: T) -> Res<Bodied<T>> {
        let body = to_body(what, &value)?;
        Ok(Bodied { value, body })
    }
}

/// Parses the JSON body in column `idx` of `row`.
pub(crate) fn body_at<T: DeserializeOwned>(row: &Row<'_>, idx: usize, what: &str) -> Res<T> {
    let text = row.get_ref(idx)?.as_str().map_err(|e| corrupt(what, e))?;
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// The fields of an execution that change after insert, stored in its `state` column (times
/// as integer nanoseconds: exact, and cheaper to write than RFC 3339 text).
#[derive(Serialize, Deserialize)]
struct ExecState<'a> {
    status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    result: Option<std::borrow::Cow<'a, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    stdout: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    stderr: std::borrow::Cow<'a, str>,
    attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    worker: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<i64>,
    updated: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished: Option<i64>,
}

fn nanos(t: DateTime<Utc>, what: &str) -> Res<i64> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        corrupt(
            what,
            format!("time {t} is out of range (years 1677 to 2262)"),
        )
    })
}

fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// The `state` column of `x`.
pub(crate) fn exec_state(x: &Execution) -> Res<String> {
    let what = "execution state";
    let state = ExecState {
        status: x.status,
        result: x.result.as_ref().map(std::borrow::Cow::Borrowed),
        error: x.error.as_deref().map(std::borrow::Cow::Borrowed),
        stdout: std::borrow::Cow::Borrowed(&x.stdout),
        stderr: std::borrow::Cow::Borrowed(&x.stderr),
        attempt: x.attempt,
        worker: x.worker.as_deref().map(std::borrow::Cow::Borrowed),
        lease: x.lease_expires.map(|t| nanos(t, what)).transpose()?,
        updated: nanos(x.updated, what)?,
        started: x.started.map(|t| nanos(t, what)).transpose()?,
        finished: x.finished.map(|t| nanos(t, what)).transpose()?,
    };
    to_body(what, &state)
}

/// Parses the execution in columns `body` and `state` (NULL: none) of `row`.
pub(crate) fn exec_at(row: &Row<'_>, body: usize, state: usize) -> Res<Execution> {
    let mut x: Execution = body_at(row, body, "execution")?;
    let what = "execution state";
    let Some(text) = row
        .get_ref(state)?
        .as_str_or_null()
        .map_err(|e| corrupt(what, e))?
    else {
        return Ok(x);
    };
    let s: ExecState<'_> = serde_json::from_str(text).map_err(|e| corrupt(what, e))?;
    x.status = s.status;
    x.result = s.result.map(std::borrow::Cow::into_owned);
    x.error = s.error.map(std::borrow::Cow::into_owned);
    x.stdout = s.stdout.into_owned();
    x.stderr = s.stderr.into_owned();
    x.attempt = s.attempt;
    x.worker = s.worker.map(|w| w.as_ref().into());
    x.lease_expires = s.lease.map(from_nanos);
    x.updated = from_nanos(s.updated);
    x.started = s.started.map(from_nanos);
    x.finished = s.finished.map(from_nanos);
    Ok(x)
}

/// The statuses no transition leaves: what retention may delete.
pub(crate) fn terminal_statuses() -> impl Iterator<Item = ExecutionStatus> {
    ExecutionStatus::ALL.into_iter().filter(|s| s.is_terminal())
}

/// The `(scope_kind, scope_owner)` columns of a key scope ([`KeyScope::sort_key`]).
pub(crate) fn scope_cols(scope: &KeyScope) -> (i64, &str) {
    let (rank, owner) = scope.sort_key();
    (i64::from(rank), owner)
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
