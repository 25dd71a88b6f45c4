//! Retention: deleting old finished chains in bounded batches.
//!
//! The semantics are [`PurgeRequest`]'s, as `MemoryStore` implements them. Rows are
//! visited in id (creation) order and a visit stops at the first row that is not due, so a
//! call costs what it deletes, not the size of the history: executions through the
//! `(status, id)` index, enforcements through `done_enforcements` (not being applied,
//! execution gone), events through `orphan_events` (matched, and no enforcement refers to
//! them) and `unmatched_events` (never matched, and none refers to them). Retention never
//! deletes a non-terminal execution, an enforcement still in `created`, or an event at or
//! after `keep_events_from`. One call is one transaction.

use crate::error::Res;
use crate::rows::{limit, micros, terminal_statuses};
use attune_core::store::{PurgeRequest, PurgeStats};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};
use uuid::Uuid;

/// What is old enough to go (see [`PurgeRequest`]).
struct Cutoff {
    /// Rows older than this id (the oldest execution `keep_executions` keeps).
    id: Option<Uuid>,
    /// Rows created before this time (µs).
    before: Option<i64>,
}

impl Cutoff {
    fn due(&self, id: &Uuid, created: i64) -> bool {
        self.id.is_some_and(|c| *id < c) || self.before.is_some_and(|b| created < b)
    }
}

async fn cutoff(conn: &mut PgConnection, req: &PurgeRequest) -> Res<Option<Cutoff>> {
    let id = match req.keep_executions {
        None => None,
        Some(0) => Some(Uuid::max()),
        Some(keep) => sqlx::query("SELECT id FROM executions ORDER BY id DESC LIMIT 1 OFFSET $1")
            .bind(i64::try_from(keep - 1).unwrap_or(i64::MAX))
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    };
    let before = req.before.map(micros);
    Ok((id.is_some() || before.is_some()).then_some(Cutoff { id, before }))
}

/// Rows of `q` (selecting id, created, …) in id order while `admit` holds, at most `n`.
async fn due_rows<'q>(
    conn: &mut PgConnection,
    q: Query<'q, Postgres, PgArguments>,
    n: usize,
    mut admit: impl FnMut(&Uuid, i64) -> bool,
) -> Res<Vec<PgRow>> {
    let rows = q.fetch_all(conn).await?;
    let mut out = Vec::new();
    for r in rows {
        if out.len() >= n {
            break;
        }
        let id: Uuid = r.try_get(0)?;
        let created: i64 = r.try_get(1)?;
        if !admit(&id, created) {
            break;
        }
        out.push(r);
    }
    Ok(out)
}

fn ids(rows: &[PgRow]) -> Res<Vec<Uuid>> {
    rows.iter()
        .map(|r| r.try_get::<Uuid, _>(0).map_err(Into::into))
        .collect()
}

/// Deletes one bounded batch of due rows of each kind, in one transaction.
pub(crate) async fn purge(pool: &sqlx::PgPool, req: &PurgeRequest) -> Res<PurgeStats> {
    let mut stats = PurgeStats::default();
    let batch = req.batch.max(1);
    let mut tx = pool.begin().await?;
    let Some(cut) = cutoff(&mut tx, req).await? else {
        return Ok(stats);
    };
    let probe = limit(batch + 1);
    let terminal = terminal_statuses();

    // Terminal executions: the oldest due ones over every terminal status. A running
    // workflow continues from its tasks' executions: they stay.
    let mut doomed: Vec<Uuid> = Vec::new();
    for status in &terminal {
        let q = sqlx::query(
            "SELECT id, created FROM executions x WHERE status = $1 \
             AND (parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM executions p \
                  WHERE p.id = x.parent_id AND p.status <> ALL($3))) \
             ORDER BY id LIMIT $2",
        )
        .bind(*status)
        .bind(probe)
        .bind(&terminal);
        let rows = due_rows(&mut tx, q, batch + 1, |id, c| cut.due(id, c)).await?;
        doomed.extend(ids(&rows)?);
    }
    doomed.sort_unstable();
    stats.more |= doomed.len() > batch;
    doomed.truncate(batch);
    if !doomed.is_empty() {
        sqlx::query(
            "WITH gone AS (DELETE FROM executions WHERE id = ANY($1)), \
             journal AS (DELETE FROM workflow_journal WHERE exec_id = ANY($1)) \
             INSERT INTO done_enforcements (id, created, event_id) \
             SELECT id, created, event_id FROM enforcements \
             WHERE execution_id = ANY($1) AND status <> 'created' ON CONFLICT DO NOTHING",
        )
        .bind(&doomed)
        .execute(&mut *tx)
        .await?;
        stats.executions = doomed.len() as u64;
    }

    // Enforcements no longer applied whose execution is gone.
    let q = sqlx::query("SELECT id, created, event_id FROM done_enforcements ORDER BY id LIMIT $1")
        .bind(probe);
    let rows = due_rows(&mut tx, q, batch + 1, |id, c| cut.due(id, c)).await?;
    stats.more |= rows.len() > batch;
    let rows = &rows[..rows.len().min(batch)];
    if !rows.is_empty() {
        let gone = ids(rows)?;
        let events: Vec<Uuid> = rows
            .iter()
            .map(|r| r.try_get::<Uuid, _>(2))
            .collect::<Result<_, _>>()?;
        sqlx::query(
            "WITH gone AS (DELETE FROM enforcements WHERE id = ANY($1)), \
             undone AS (DELETE FROM done_enforcements WHERE id = ANY($1)) \
             SELECT 1",
        )
        .bind(&gone)
        .execute(&mut *tx)
        .await?;
        // Their events may have become orphans (the deletes above are seen now).
        sqlx::query(
            "INSERT INTO orphan_events (id, created) SELECT e.id, e.created FROM events e \
             WHERE e.id = ANY($1) \
             AND NOT EXISTS (SELECT 1 FROM enforcements f WHERE f.event_id = e.id) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&events)
        .execute(&mut *tx)
        .await?;
        stats.enforcements = gone.len() as u64;
    }

    // Events no enforcement refers to, before `keep_events_from`.
    let keep_from = req.keep_events_from.map(Uuid::from);
    let due = |id: &Uuid, c: i64| cut.due(id, c) && keep_from.is_none_or(|k| *id < k);
    let q = sqlx::query("SELECT id, created FROM orphan_events ORDER BY id LIMIT $1").bind(probe);
    let mut doomed = ids(&due_rows(&mut tx, q, batch + 1, due).await?)?;
    // Events never matched that no enforcement refers to (an engine matches events within
    // moments, so this list is short).
    let q = sqlx::query(
        "SELECT u.id, e.created FROM unmatched_events u JOIN events e ON e.id = u.id \
         WHERE NOT EXISTS (SELECT 1 FROM enforcements f WHERE f.event_id = u.id) \
         ORDER BY u.id LIMIT $1",
    )
    .bind(probe);
    doomed.extend(ids(&due_rows(&mut tx, q, batch + 1, due).await?)?);
    doomed.sort_unstable();
    doomed.dedup();
    stats.more |= doomed.len() > batch;
    doomed.truncate(batch);
    if !doomed.is_empty() {
        sqlx::query(
            "WITH a AS (DELETE FROM events WHERE id = ANY($1)), \
             b AS (DELETE FROM unmatched_events WHERE id = ANY($1)), \
             c AS (DELETE FROM orphan_events WHERE id = ANY($1)) \
             SELECT 1",
        )
        .bind(&doomed)
        .execute(&mut *tx)
        .await?;
        stats.events = doomed.len() as u64;
    }
    tx.commit().await?;
    Ok(stats)
}
