//! Rows ↔ model: how ids, times, statuses and bodies are stored.
//!
//! * ids: `uuid` (the UUIDv7 of the record; byte order is creation order);
//! * `created`: integer microseconds since the Unix epoch (what filters compare);
//! * an execution's times that change after insert: integer nanoseconds (exact);
//! * statuses and kinds: their lower-case names;
//! * `body`: the record's JSON as `serde_json` writes the model type; for an execution, as
//!   inserted, with the columns of what changed since laid over it ([`EXEC_COLS`]).

use crate::error::{Res, corrupt};
use attune_core::model::{Execution, ExecutionStatus, KeyScope};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// The stored form of `created` and of other times filters compare.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The stored form of an execution's changing times.
pub(crate) fn nanos(t: DateTime<Utc>) -> Res<i64> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        corrupt(
            "execution time",
            format!("time {t} is out of range (years 1677 to 2262)"),
        )
    })
}

/// An optional time as nanoseconds.
pub(crate) fn opt_nanos(t: Option<DateTime<Utc>>) -> Res<Option<i64>> {
    t.map(nanos).transpose()
}

fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// The JSON body of a record.
pub(crate) fn to_body<T: Serialize>(what: &str, value: &T) -> Res<String> {
    serde_json::to_string(value).map_err(|e| corrupt(what, e))
}

/// Parses a JSON body.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, what: &str) -> Res<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// Parses the JSON body in column `idx` of `row`.
pub(crate) fn body_at<T: DeserializeOwned>(row: &PgRow, idx: usize, what: &str) -> Res<T> {
    let text: &str = row.try_get(idx)?;
    parse(text, what)
}

/// The columns an execution is read from, in the order [`exec_at`] expects.
pub(crate) const EXEC_COLS: &str = "body, status, attempt, worker, lease_ns, updated_ns, \
    started_ns, finished_ns, result, error, stdout, stderr";

/// [`EXEC_COLS`] qualified with the table alias `x`.
pub(crate) const EXEC_COLS_X: &str = "x.body, x.status, x.attempt, x.worker, x.lease_ns, \
    x.updated_ns, x.started_ns, x.finished_ns, x.result, x.error, x.stdout, x.stderr";

/// Parses the execution in the [`EXEC_COLS`] of `row`, starting at column `at`.
pub(crate) fn exec_at(row: &PgRow, at: usize) -> Res<Execution> {
    let mut x: Execution = body_at(row, at, "execution")?;
    let status: &str = row.try_get(at + 1)?;
    x.status = ExecutionStatus::parse(status).map_err(|e| corrupt("execution status", e))?;
    let attempt: i32 = row.try_get(at + 2)?;
    x.attempt = u32::try_from(attempt).map_err(|e| corrupt("execution attempt", e))?;
    x.worker = row.try_get::<Option<String>, _>(at + 3)?.map(Into::into);
    x.lease_expires = row.try_get::<Option<i64>, _>(at + 4)?.map(from_nanos);
    x.updated = from_nanos(row.try_get(at + 5)?);
    x.started = row.try_get::<Option<i64>, _>(at + 6)?.map(from_nanos);
    x.finished = row.try_get::<Option<i64>, _>(at + 7)?.map(from_nanos);
    x.result = match row.try_get::<Option<&str>, _>(at + 8)? {
        Some(text) => Some(parse(text, "execution result")?),
        None => None,
    };
    x.error = row.try_get(at + 9)?;
    x.stdout = row.try_get(at + 10)?;
    x.stderr = row.try_get(at + 11)?;
    Ok(x)
}

/// The JSON text of an execution's result column.
pub(crate) fn result_text(x: &Option<serde_json::Value>) -> Res<Option<String>> {
    x.as_ref()
        .map(|r| to_body("execution result", r))
        .transpose()
}

/// The stored names of the statuses a claim holds.
pub(crate) fn claim_statuses() -> Vec<&'static str> {
    ExecutionStatus::ALL
        .into_iter()
        .filter(|s| s.holds_claim())
        .map(ExecutionStatus::as_str)
        .collect()
}

/// The stored names of the terminal statuses.
pub(crate) fn terminal_statuses() -> Vec<&'static str> {
    ExecutionStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .map(ExecutionStatus::as_str)
        .collect()
}

/// The `(scope_kind, scope_owner)` columns of a key scope ([`KeyScope::sort_key`]).
pub(crate) fn scope_cols(scope: &KeyScope) -> (i16, &str) {
    let (rank, owner) = scope.sort_key();
    (i16::from(rank), owner)
}

/// A LIMIT value from a `usize`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The rows `sql` selects for `ids` (bound as `$1`, an array of ids; each row's id first,
/// then what `parse` reads): one result per id, in order, NotFound naming `what` for an id
/// without a row. One query however many ids.
pub(crate) async fn by_ids<I, T>(
    pool: &sqlx::PgPool,
    sql: String,
    ids: &[I],
    what: &'static str,
    parse: impl Fn(&PgRow) -> Res<T>,
) -> Res<Vec<attune_core::Result<T>>>
where
    I: Copy + std::fmt::Display + Into<uuid::Uuid>,
    T: Clone,
{
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|i| (*i).into()).collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&uuids)
        .fetch_all(pool)
        .await?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: uuid::Uuid = r.try_get(0)?;
        found.insert(id, parse(r)?);
    }
    Ok(ids
        .iter()
        .map(|id| match found.get(&(*id).into()) {
            Some(x) => Ok(x.clone()),
            None => Err(attune_core::Error::not_found(what, id)),
        })
        .collect())
}
