//! Workflow journals: `workflow_journal` rows, one per step of a run.

use crate::error::Res;
use crate::rows::blob;
use crate::writer::WriterConn;
use attune_core::Error;
use attune_core::model::ExecutionId;
use attune_core::store::JournalEntry;
use rusqlite::{Connection, params};

/// Appends the entries (run inside a savepoint: all or none); an existing `(execution,
/// seq)` is a Conflict.
pub(crate) fn append(w: &mut WriterConn, entries: &[JournalEntry]) -> Res<()> {
    let mut st = w.prepare_cached(
        "INSERT INTO workflow_journal (exec_id, seq, step) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
    )?;
    for e in entries {
        let seq = e.stored_seq()?;
        if st.execute(params![blob(e.execution), seq, e.step])? == 0 {
            return Err(Error::Conflict(format!(
                "journal entry {} of execution '{}' exists",
                e.seq, e.execution
            ))
            .into());
        }
    }
    Ok(())
}

/// The journal of `execution`, in `seq` order.
pub(crate) fn read(conn: &Connection, execution: ExecutionId) -> Res<Vec<JournalEntry>> {
    let mut st = conn
        .prepare_cached("SELECT seq, step FROM workflow_journal WHERE exec_id = ?1 ORDER BY seq")?;
    let mut rows = st.query([blob(execution)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let step: String = r.get(1)?;
        out.push(JournalEntry {
            execution,
            seq: seq as u64,
            step,
        });
    }
    Ok(out)
}

/// Deletes the journal of an execution (retention).
pub(crate) fn delete(w: &mut WriterConn, id: &[u8; 16]) -> Res<()> {
    w.prepare_cached("DELETE FROM workflow_journal WHERE exec_id = ?1")?
        .execute([id])?;
    Ok(())
}
