//! Retention: deleting old finished chains in bounded batches, then giving pages back.
//!
//! The semantics are [`PurgeRequest`]'s, as `MemoryStore` implements them. Rows are
//! visited in id (creation) order and a visit stops at the first row that is not due, so a
//! call costs what it deletes, not the size of the history: executions through the
//! `(status, id)` index of each terminal status, enforcements through `done_enforcements`
//! (not being applied, execution gone), events through `orphan_events` (matched, and no
//! enforcement refers to them) and `unmatched_events` (never matched, and none refers to
//! them). Retention never deletes a non-terminal execution, an enforcement still in
//! `created`, or an event at or after `keep_events_from`.
//!
//! Every call then gives up to [`VACUUM_PAGES`] free pages back to the file system
//! (`PRAGMA incremental_vacuum`), keeping [`KEEP_FREE_PAGES`] for new rows; the file shrinks
//! at the next checkpoint.

use crate::error::Res;
use crate::rows::{limit, micros, terminal_statuses};
use crate::writer::WriterConn;
use crate::{enforcements, events, executions};
use attune_core::store::{PurgeRequest, PurgeStats};
use rusqlite::{Connection, OptionalExtension, params};

/// Free pages kept for reuse by new rows; beyond, a purge shrinks the file.
const KEEP_FREE_PAGES: i64 = 1024;
/// Most pages one purge gives back to the file system.
const VACUUM_PAGES: i64 = 512;

type Id = [u8; 16];

/// What is old enough to go (see [`PurgeRequest`]).
struct Cutoff {
    /// Rows older than this id (the oldest execution `keep_executions` keeps).
    id: Option<Id>,
    /// Rows created before this time (µs).
    before: Option<i64>,
}

impl Cutoff {
    fn due(&self, id: &Id, created: i64) -> bool {
        self.id.is_some_and(|c| *id < c) || self.before.is_some_and(|b| created < b)
    }
}

fn cutoff(conn: &Connection, req: &PurgeRequest) -> Res<Option<Cutoff>> {
    let id = match req.keep_executions {
        None => None,
        Some(0) => Some(uuid::Uuid::max().into_bytes()),
        Some(keep) => conn
            .prepare_cached("SELECT id FROM executions ORDER BY id DESC LIMIT 1 OFFSET ?1")?
            .query_row([i64::try_from(keep - 1).unwrap_or(i64::MAX)], |r| r.get(0))
            .optional()?,
    };
    let before = req.before.map(micros);
    Ok((id.is_some() || before.is_some()).then_some(Cutoff { id, before }))
}

/// Up to `n` rows of `sql` (selecting id, created, …) in id order while they are due.
fn due_rows<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    n: usize,
    mut admit: impl FnMut(&Id, i64) -> bool,
    mut extra: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Res<Vec<(Id, T)>> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(args)?;
    let mut out = Vec::new();
    while out.len() < n {
        let Some(r) = rows.next()? else { break };
        let id: Id = r.get(0)?;
        let created: i64 = r.get(1)?;
        if !admit(&id, created) {
            break;
        }
        out.push((id, extra(r)?));
    }
    Ok(out)
}

/// Deletes one bounded batch of due rows of each kind (run inside a savepoint).
pub(crate) fn purge(w: &mut WriterConn, req: &PurgeRequest) -> Res<PurgeStats> {
    let mut stats = PurgeStats::default();
    let batch = req.batch.max(1);
    let Some(cut) = cutoff(w, req)? else {
        shrink(w)?;
        return Ok(stats);
    };
    let probe = limit(batch + 1);

    // Terminal executions: the oldest due ones over every terminal status.
    let mut doomed: Vec<Id> = Vec::new();
    for status in terminal_statuses() {
        let rows = due_rows(
            w,
            // A running workflow continues from its tasks' executions: they stay.
            "SELECT id, created FROM executions x WHERE status = ?1 \
             AND (parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM executions p \
                  WHERE p.id = x.parent_id AND p.status NOT IN \
                  ('succeeded', 'failed', 'timeout', 'canceled', 'abandoned'))) \
             ORDER BY id LIMIT ?2",
            params![status.as_str(), probe],
            batch + 1,
            |id, created| cut.due(id, created),
            |_| Ok(()),
        )?;
        doomed.extend(rows.into_iter().map(|(id, ())| id));
    }
    doomed.sort_unstable();
    stats.more |= doomed.len() > batch;
    for id in doomed.iter().take(batch) {
        executions::delete(w, id)?;
        stats.executions += 1;
    }

    // Enforcements no longer applied whose execution is gone.
    let doomed = due_rows(
        w,
        "SELECT id, created, event_id FROM done_enforcements ORDER BY id LIMIT ?1",
        [probe],
        batch + 1,
        |id, created| cut.due(id, created),
        |r| r.get::<_, Id>(2),
    )?;
    stats.more |= doomed.len() > batch;
    for (id, event) in doomed.iter().take(batch) {
        enforcements::delete(w, id, event)?;
        stats.enforcements += 1;
    }

    // Events no enforcement refers to, before `keep_events_from`.
    let keep_from = req.keep_events_from.map(|e| e.0.into_bytes());
    let due = |id: &Id, created: i64| cut.due(id, created) && keep_from.is_none_or(|k| *id < k);
    let mut doomed = due_rows(
        w,
        "SELECT id, created FROM orphan_events ORDER BY id LIMIT ?1",
        [probe],
        batch + 1,
        due,
        |_| Ok(()),
    )?;
    // Events never matched that no enforcement refers to (an engine matches events within
    // moments, so this list is short).
    doomed.extend(due_rows(
        w,
        "SELECT u.id, e.created FROM unmatched_events u JOIN events e ON e.id = u.id \
         WHERE NOT EXISTS (SELECT 1 FROM enforcements f WHERE f.event_id = u.id) \
         ORDER BY u.id LIMIT ?1",
        [probe],
        batch + 1,
        due,
        |_| Ok(()),
    )?);
    doomed.sort_unstable_by_key(|d| d.0);
    doomed.dedup_by(|a, b| a.0 == b.0);
    stats.more |= doomed.len() > batch;
    for (id, ()) in doomed.iter().take(batch) {
        events::delete(w, id)?;
        stats.events += 1;
    }

    shrink(w)?;
    Ok(stats)
}

/// Gives free pages beyond [`KEEP_FREE_PAGES`] back to the file system, at most
/// [`VACUUM_PAGES`] per call, whether or not this call deleted anything: the periodic purges
/// shrink the file step by step after a large deletion. Needs `auto_vacuum = INCREMENTAL`,
/// set when the file was created; otherwise this does nothing.
fn shrink(conn: &Connection) -> Res<()> {
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let excess = free - KEEP_FREE_PAGES;
    if excess > 0 {
        let n = excess.min(VACUUM_PAGES);
        let mut st = conn.prepare(&format!("PRAGMA incremental_vacuum({n})"))?;
        let mut rows = st.query([])?;
        while rows.next()?.is_some() {}
    }
    Ok(())
}
