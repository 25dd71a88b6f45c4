//! Workflow journals: the steps of each run, at most one per `(execution, seq)`.

use crate::error::{Res, is_unique_violation};
use attune_core::Error;
use attune_core::model::ExecutionId;
use attune_core::store::JournalEntry;
use sqlx::Row;
use sqlx::postgres::PgPool;
use uuid::Uuid;

/// Appends entries, all or none (one statement): an existing `(execution, seq)` is a
/// Conflict naming the first such entry.
pub(crate) async fn append(pool: &PgPool, entries: &[JournalEntry]) -> Res<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(entries.len());
    let mut seqs = Vec::with_capacity(entries.len());
    let mut steps = Vec::with_capacity(entries.len());
    for e in entries {
        let seq = e.stored_seq()?;
        ids.push(Uuid::from(e.execution));
        seqs.push(seq);
        steps.push(e.step.as_str());
    }
    let inserted = sqlx::query(
        "INSERT INTO workflow_journal (exec_id, seq, step) \
         SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[])",
    )
    .bind(&ids)
    .bind(&seqs)
    .bind(&steps)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            let taken = sqlx::query(
                "SELECT j.exec_id, j.seq FROM workflow_journal j \
                 JOIN unnest($1::uuid[], $2::int8[]) AS n(exec_id, seq) \
                 ON j.exec_id = n.exec_id AND j.seq = n.seq LIMIT 1",
            )
            .bind(&ids)
            .bind(&seqs)
            .fetch_optional(pool)
            .await?;
            Err(Error::Conflict(match taken {
                Some(r) => format!(
                    "journal entry {} of execution '{}' exists",
                    r.try_get::<i64, _>(1)?,
                    r.try_get::<Uuid, _>(0)?
                ),
                // Two entries of the call share an `(execution, seq)`.
                None => "journal entries repeat an (execution, seq) pair".to_string(),
            })
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// A run's journal in `seq` order.
pub(crate) async fn read(pool: &PgPool, execution: ExecutionId) -> Res<Vec<JournalEntry>> {
    let rows =
        sqlx::query("SELECT seq, step FROM workflow_journal WHERE exec_id = $1 ORDER BY seq")
            .bind(Uuid::from(execution))
            .fetch_all(pool)
            .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.try_get(0)?;
        out.push(JournalEntry {
            execution,
            seq: seq as u64,
            step: r.try_get(1)?,
        });
    }
    Ok(out)
}
