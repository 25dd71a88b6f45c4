//! The key-value store's keys, by `(scope, name)`; expired keys read as absent.

use crate::error::Res;
use crate::rows::{body_at, micros, scope_cols, to_body};
use attune_core::model::{Key, KeyScope};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;

/// Inserts or replaces a key.
pub(crate) async fn put(pool: &PgPool, key: &Key) -> Res<()> {
    let (kind, owner) = scope_cols(&key.scope);
    let body = to_body("key", key)?;
    sqlx::query(
        "INSERT INTO keys (scope_kind, scope_owner, name, expires, body) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope_kind, scope_owner, name) \
         DO UPDATE SET expires = excluded.expires, body = excluded.body",
    )
    .bind(kind)
    .bind(owner)
    .bind(&key.name)
    .bind(key.expires.map(micros))
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes a key; whether it existed.
pub(crate) async fn delete(pool: &PgPool, scope: &KeyScope, name: &str) -> Res<bool> {
    let (kind, owner) = scope_cols(scope);
    let n =
        sqlx::query("DELETE FROM keys WHERE scope_kind = $1 AND scope_owner = $2 AND name = $3")
            .bind(kind)
            .bind(owner)
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected();
    Ok(n > 0)
}

/// Reads a key unless it expired by `now`.
pub(crate) async fn get(
    pool: &PgPool,
    scope: &KeyScope,
    name: &str,
    now: DateTime<Utc>,
) -> Res<Option<Key>> {
    let (kind, owner) = scope_cols(scope);
    let row = sqlx::query(
        "SELECT body FROM keys WHERE scope_kind = $1 AND scope_owner = $2 AND name = $3",
    )
    .bind(kind)
    .bind(owner)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let key: Option<Key> = row.map(|r| body_at(&r, 0, "key")).transpose()?;
    Ok(key.filter(|k| !k.is_expired(now)))
}

/// Lists the keys (of `scope`) not expired by `now`, by (scope, name).
pub(crate) async fn list(
    pool: &PgPool,
    scope: Option<&KeyScope>,
    now: DateTime<Utc>,
) -> Res<Vec<Key>> {
    let now_us = micros(now);
    let rows = match scope {
        None => {
            sqlx::query(
                "SELECT body FROM keys WHERE expires IS NULL OR expires >= $1 \
                 ORDER BY scope_kind, scope_owner, name",
            )
            .bind(now_us)
            .fetch_all(pool)
            .await?
        }
        Some(scope) => {
            let (kind, owner) = scope_cols(scope);
            sqlx::query(
                "SELECT body FROM keys WHERE scope_kind = $1 AND scope_owner = $2 \
                 AND (expires IS NULL OR expires >= $3) ORDER BY name",
            )
            .bind(kind)
            .bind(owner)
            .bind(now_us)
            .fetch_all(pool)
            .await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let k: Key = body_at(r, 0, "key")?;
        if !k.is_expired(now) {
            out.push(k);
        }
    }
    Ok(out)
}
