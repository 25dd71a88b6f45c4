//! Definitions: packs, actions, triggers, rules, ... by `(kind, ref)`.

use crate::error::Res;
use crate::rows::{body_at, to_body};
use attune_core::model::{Definition, DefinitionKind};
use sqlx::PgConnection;
use sqlx::postgres::PgPool;

const UPSERT: &str = "INSERT INTO definitions (kind, def_ref, pack, body) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
     ON CONFLICT (kind, def_ref) DO UPDATE SET pack = excluded.pack, body = excluded.body \
     WHERE (definitions.pack, definitions.body) IS DISTINCT FROM (excluded.pack, excluded.body)";

/// Inserts or replaces definitions in one statement.
async fn upsert(conn: &mut PgConnection, defs: &[Definition]) -> Res<()> {
    let mut kinds = Vec::with_capacity(defs.len());
    let mut refs = Vec::with_capacity(defs.len());
    let mut packs = Vec::with_capacity(defs.len());
    let mut bodies = Vec::with_capacity(defs.len());
    for d in defs {
        kinds.push(d.kind().as_str());
        refs.push(d.def_ref());
        packs.push(d.pack());
        bodies.push(to_body("definition", d)?);
    }
    sqlx::query(UPSERT)
        .bind(kinds)
        .bind(refs)
        .bind(packs)
        .bind(bodies)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks the definitions' generation row for the transaction. Every write of definitions
/// takes it first: the row trigger that bumps it would otherwise take it after the
/// definition rows, in an order that deadlocks two writers (a `replace_pack` holding it and
/// wanting a row a `put` holds).
async fn lock_generation(conn: &mut PgConnection) -> Res<()> {
    sqlx::query("SELECT generation FROM definitions_generation FOR UPDATE")
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces a definition.
pub(crate) async fn put(pool: &PgPool, def: &Definition) -> Res<()> {
    let mut tx = pool.begin().await?;
    lock_generation(&mut tx).await?;
    upsert(&mut tx, std::slice::from_ref(def)).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a definition; whether it existed.
pub(crate) async fn delete(pool: &PgPool, kind: DefinitionKind, def_ref: &str) -> Res<bool> {
    let mut tx = pool.begin().await?;
    lock_generation(&mut tx).await?;
    let n = sqlx::query("DELETE FROM definitions WHERE kind = $1 AND def_ref = $2")
        .bind(kind.as_str())
        .bind(def_ref)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}

/// Replaces every definition of `pack` in one transaction, serialized per pack by an
/// advisory lock (two concurrent replacements of one pack must not interleave their delete
/// and insert). Readers see the old set or the new one: each read is one statement.
pub(crate) async fn replace_pack(pool: &PgPool, pack: &str, defs: &[Definition]) -> Res<()> {
    attune_core::store::check_pack_definitions(pack, defs)?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('attune.pack'), hashtext($1))")
        .bind(pack)
        .execute(&mut *tx)
        .await?;
    lock_generation(&mut tx).await?;
    // Only what changes is written, so that a replacement by the same set leaves the
    // definitions' generation alone.
    let kinds: Vec<&str> = defs.iter().map(|d| d.kind().as_str()).collect();
    let refs: Vec<&str> = defs.iter().map(|d| d.def_ref()).collect();
    sqlx::query(
        "DELETE FROM definitions WHERE pack = $1 AND (kind, def_ref) NOT IN \
         (SELECT * FROM unnest($2::text[], $3::text[]))",
    )
    .bind(pack)
    .bind(kinds)
    .bind(refs)
    .execute(&mut *tx)
    .await?;
    if !defs.is_empty() {
        upsert(&mut tx, defs).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The definitions' generation (schema version 2).
pub(crate) async fn generation(pool: &PgPool) -> Res<u64> {
    let g: i64 = sqlx::query_scalar("SELECT generation FROM definitions_generation")
        .fetch_one(pool)
        .await?;
    Ok(g as u64)
}

/// Reads a definition.
pub(crate) async fn get(
    pool: &PgPool,
    kind: DefinitionKind,
    def_ref: &str,
) -> Res<Option<Definition>> {
    let row = sqlx::query("SELECT body FROM definitions WHERE kind = $1 AND def_ref = $2")
        .bind(kind.as_str())
        .bind(def_ref)
        .fetch_optional(pool)
        .await?;
    row.map(|r| body_at(&r, 0, "definition")).transpose()
}

/// Lists the definitions of `kind` (of `pack`), by ref.
pub(crate) async fn list(
    pool: &PgPool,
    kind: DefinitionKind,
    pack: Option<&str>,
) -> Res<Vec<Definition>> {
    let rows = match pack {
        None => {
            sqlx::query("SELECT body FROM definitions WHERE kind = $1 ORDER BY def_ref")
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?
        }
        Some(pack) => {
            sqlx::query(
                "SELECT body FROM definitions WHERE kind = $1 AND pack = $2 ORDER BY def_ref",
            )
            .bind(kind.as_str())
            .bind(pack)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(|r| body_at(r, 0, "definition")).collect()
}
