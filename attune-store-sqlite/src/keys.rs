//! Keys of the key-value store, by `(scope, name)`, with expiry.

use crate::error::Res;
use crate::rows::{body_at, micros, scope_cols, to_body};
use attune_core::model::{Key, KeyScope};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// Inserts or replaces a key.
pub(crate) fn put(conn: &Connection, key: &Key) -> Res<()> {
    let (kind, owner) = scope_cols(&key.scope);
    let body = to_body("key", key)?;
    conn.prepare_cached(
        "INSERT INTO keys (scope_kind, scope_owner, name, expires, body) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (scope_kind, scope_owner, name) \
         DO UPDATE SET expires = excluded.expires, body = excluded.body",
    )?
    .execute(params![kind, owner, key.name, key.expires.map(micros), body])?;
    Ok(())
}

/// Deletes a key; whether it existed (expired or not).
pub(crate) fn delete(conn: &Connection, scope: &KeyScope, name: &str) -> Res<bool> {
    let (kind, owner) = scope_cols(scope);
    let n = conn
        .prepare_cached(
            "DELETE FROM keys WHERE scope_kind = ?1 AND scope_owner = ?2 AND name = ?3",
        )?
        .execute(params![kind, owner, name])?;
    Ok(n > 0)
}

/// Reads a key that has not expired at `now`.
pub(crate) fn get(
    conn: &Connection,
    scope: &KeyScope,
    name: &str,
    now: DateTime<Utc>,
) -> Res<Option<Key>> {
    let (kind, owner) = scope_cols(scope);
    let mut st = conn.prepare_cached(
        "SELECT body FROM keys WHERE scope_kind = ?1 AND scope_owner = ?2 AND name = ?3",
    )?;
    let key = st
        .query_row(params![kind, owner, name], |r| {
            Ok(body_at::<Key>(r, 0, "key"))
        })
        .optional()?
        .transpose()?;
    Ok(key.filter(|k| !k.is_expired(now)))
}

/// Lists the keys (of `scope` only, if given) that have not expired at `now`, by
/// `(scope, name)`.
pub(crate) fn list(
    conn: &Connection,
    scope: Option<&KeyScope>,
    now: DateTime<Utc>,
) -> Res<Vec<Key>> {
    // The SQL filter drops what expired before this microsecond; `is_expired` decides the
    // rest exactly.
    let now_us = micros(now);
    let mut out = Vec::new();
    let mut push = |r: &rusqlite::Row<'_>| -> Res<()> {
        let k: Key = body_at(r, 0, "key")?;
        if !k.is_expired(now) {
            out.push(k);
        }
        Ok(())
    };
    match scope {
        None => {
            let mut st = conn.prepare_cached(
                "SELECT body FROM keys WHERE expires IS NULL OR expires >= ?1 \
                 ORDER BY scope_kind, scope_owner, name",
            )?;
            let mut rows = st.query([now_us])?;
            while let Some(r) = rows.next()? {
                push(r)?;
            }
        }
        Some(scope) => {
            let (kind, owner) = scope_cols(scope);
            let mut st = conn.prepare_cached(
                "SELECT body FROM keys WHERE scope_kind = ?1 AND scope_owner = ?2 \
                 AND (expires IS NULL OR expires >= ?3) ORDER BY name",
            )?;
            let mut rows = st.query(params![kind, owner, now_us])?;
            while let Some(r) = rows.next()? {
                push(r)?;
            }
        }
    }
    Ok(out)
}
