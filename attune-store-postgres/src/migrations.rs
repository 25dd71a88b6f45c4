//! Versioned schema migrations, tracked in the schema's `attune_schema_version` table.
//!
//! Migration `n` brings the schema from version `n - 1` to `n`. At open, all pending ones run
//! in one transaction under an advisory lock (so that processes starting together migrate
//! once, and a crash mid-way leaves the schema at its old version: PostgreSQL's DDL is
//! transactional). Refused, before anything is written:
//!
//! * a schema whose version is newer than the last migration here (written by a newer
//!   release);
//! * a schema that holds tables but no version table: another application's.

use crate::error::Res;
use attune_core::Error;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

/// The migrations, in order: entry `i` produces schema version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_cluster.sql"),
    include_str!("../migrations/0003_queue.sql"),
];

/// The schema version this crate writes.
pub(crate) const LATEST: i32 = MIGRATIONS.len() as i32;

/// The advisory lock key migrations hold (with the schema name hashed beside it).
const LOCK_CLASS: i32 = 0x4154_554e; // "ATUN"

/// Applies every pending migration to `schema` in one transaction.
pub(crate) async fn migrate(pool: &PgPool, schema: &str, server: &str) -> attune_core::Result<()> {
    run(pool, schema, server).await.map_err(Into::into)
}

async fn run(pool: &PgPool, schema: &str, server: &str) -> Res<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    let current = version(&mut tx, schema, server).await?;
    if current > LATEST {
        return Err(Error::Unsupported(format!(
            "the Attune schema '{schema}' at {server} is at version {current}, newer than this \
             attune-store-postgres knows ({LATEST}): it was written by a newer release; run \
             that release"
        ))
        .into());
    }
    if current == LATEST {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut *tx)
    .await?;
    // The pool's connections name the schema in their search_path; this one may have been
    // opened before the schema existed, so name it again for the transaction.
    sqlx::query(AssertSqlSafe(format!("SET LOCAL search_path TO {schema}")))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS attune_schema_version (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .execute(&mut *tx)
    .await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        sqlx::raw_sql(AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                Error::backend(
                    format!("migration {} of schema '{schema}' failed: {e}", i + 1),
                    false,
                )
            })?;
        sqlx::query("INSERT INTO attune_schema_version (version) VALUES ($1)")
            .bind(i as i32 + 1)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(
        target: "attune::postgres",
        schema, server, from = current, to = LATEST,
        "schema migrated"
    );
    Ok(())
}

/// The schema's version: 0 when the schema is new or empty; refused when it holds tables
/// without a version table.
async fn version(tx: &mut sqlx::PgConnection, schema: &str, server: &str) -> Res<i32> {
    let has_versions: bool = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 \
         AND tablename = 'attune_schema_version')",
    )
    .bind(schema)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    if has_versions {
        let v: Option<i32> = sqlx::query(AssertSqlSafe(format!(
            "SELECT max(version) FROM {schema}.attune_schema_version"
        )))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        return Ok(v.unwrap_or(0));
    }
    let foreign: Vec<String> = sqlx::query(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename LIMIT 6",
    )
    .bind(schema)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    if !foreign.is_empty() {
        let more = if foreign.len() > 5 { ", ..." } else { "" };
        return Err(Error::Unsupported(format!(
            "schema '{schema}' at {server} holds tables that are not Attune's ({}{more}): it \
             belongs to another application; give Attune its own schema or its own database",
            foreign[..foreign.len().min(5)].join(", ")
        ))
        .into());
    }
    Ok(0)
}
