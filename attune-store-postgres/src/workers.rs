//! Workers: each engine's last heartbeat (`Store::put_worker`).

use crate::error::Res;
use crate::rows::{parse, to_body};
use attune_core::model::Worker;
use sqlx::Row;
use sqlx::postgres::PgPool;

/// Workers silent for longer than this are forgotten at the next heartbeat of any.
const FORGET_AFTER_US: i64 = 60_000_000;

/// Records `w`'s heartbeat, and forgets the workers silent for a minute. Silence is told
/// by the server's clock (`heartbeat_us`), not the engines': a process whose clock runs
/// ahead must not forget live workers.
pub(crate) async fn put(pool: &PgPool, w: &Worker) -> Res<()> {
    sqlx::query(
        "WITH now_us AS (SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint AS t), \
         up AS (INSERT INTO workers (id, heartbeat_us, body) \
           SELECT $1, t, $2 FROM now_us \
           ON CONFLICT (id) DO UPDATE SET heartbeat_us = excluded.heartbeat_us, \
           body = excluded.body) \
         DELETE FROM workers WHERE heartbeat_us < (SELECT t FROM now_us) - $3 AND id <> $1",
    )
    .bind(&w.id)
    .bind(to_body("worker", w)?)
    .bind(FORGET_AFTER_US)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every worker, by id.
pub(crate) async fn list(pool: &PgPool) -> Res<Vec<Worker>> {
    let rows = sqlx::query("SELECT body FROM workers ORDER BY id")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| parse(r.try_get::<&str, _>(0)?, "worker"))
        .collect()
}

/// Forgets a worker; whether it was there.
pub(crate) async fn delete(pool: &PgPool, id: &str) -> Res<bool> {
    let n = sqlx::query("DELETE FROM workers WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n > 0)
}
