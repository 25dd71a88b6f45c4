//! Enforcements: at most one per `(rule, event)`, updated by compare-and-set.
//!
//! `done_enforcements` holds the ones retention may delete: no longer being applied
//! (`processed` or `failed`) and whose execution, if they name one, does not exist. It is
//! kept up to date here, when executions are inserted ([`execution_inserted`]) and when
//! retention deletes them ([`execution_deleted`]).

use crate::error::{Res, is_constraint};
use crate::events;
use crate::executions;
use crate::query::Where;
use crate::rows::{Bodied, blob, body_at, micros, opt_blob, to_body};
use crate::writer::WriterConn;
use attune_core::Error;
use attune_core::model::{Enforcement, EnforcementId, EnforcementStatus, Execution, ExecutionId};
use attune_core::store::{Enforced, EnforcementFilter, EnforcementUpdate, Inserted, Page};
use rusqlite::{Connection, OptionalExtension, params};

/// Adds `e` to `done_enforcements` when it is done, removes it otherwise (`listed`: it may
/// be there now).
fn set_done(conn: &Connection, e: &Enforcement, listed: bool) -> Res<()> {
    let id = blob(e.id);
    let done = e.status != EnforcementStatus::Created
        && match e.execution {
            None => true,
            Some(x) => !conn
                .prepare_cached("SELECT 1 FROM executions WHERE id = ?1")?
                .exists([blob(x)])?,
        };
    if done {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO done_enforcements (id, created, event_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, micros(e.created), blob(e.event)])?;
    } else if listed {
        conn.prepare_cached("DELETE FROM done_enforcements WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// Inserts an enforcement unless one exists for its `(rule, event)`.
pub(crate) fn insert(conn: &Connection, e: &Bodied<Enforcement>) -> Res<Inserted<Enforcement>> {
    insert_row(conn, e, true)
}

/// An enforcement with the execution it names, serialized (see [`Bodied`]).
pub(crate) struct EnforcedRow {
    pub enforcement: Bodied<Enforcement>,
    pub execution: Option<Bodied<Execution>>,
}

impl EnforcedRow {
    /// Checks `item` (see [`Enforced::check`]) and serializes it.
    pub(crate) fn new(item: &Enforced) -> Res<EnforcedRow> {
        item.check()?;
        Ok(EnforcedRow {
            enforcement: Bodied::new("enforcement", item.enforcement.clone())?,
            execution: item
                .execution
                .as_ref()
                .map(|x| Bodied::new("execution", x.clone()))
                .transpose()?,
        })
    }
}

/// Inserts an enforcement with the execution it names, both or neither, unless one exists
/// for its `(rule, event)`. No SAVEPOINT (whose sub-journal copies every page it touches):
/// a failed statement writes nothing, and when the execution's insert fails the enforcement
/// just inserted is deleted again.
pub(crate) fn insert_enforced(w: &mut WriterConn, item: EnforcedRow) -> Res<Inserted<Enforcement>> {
    let EnforcedRow {
        enforcement: e,
        execution,
    } = item;
    let outcome = match execution {
        None => insert_row(w, &e, true),
        // The execution is inserted next, so the enforcement is not done: no bookkeeping.
        Some(x) => insert_row(w, &e, false).and_then(|inserted| {
            if let Inserted::New = inserted
                && let Err(failed) = executions::insert_row(w, x)
            {
                delete(w, &blob(e.value.id), &blob(e.value.event))?;
                return Err(failed);
            }
            Ok(inserted)
        }),
    };
    w.trash.enforcement(e.value);
    w.trash.text(e.body);
    outcome
}

/// Inserts an enforcement unless one exists for its `(rule, event)`; `track_done`: list it
/// in `done_enforcements` when it is done.
fn insert_row(
    conn: &Connection,
    e: &Bodied<Enforcement>,
    track_done: bool,
) -> Res<Inserted<Enforcement>> {
    let (e, body) = (&e.value, &e.body);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO enforcements (id, rule_ref, event_id, status, execution_id, created, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            blob(e.id),
            e.rule.as_str(),
            blob(e.event),
            e.status.as_str(),
            opt_blob(e.execution),
            micros(e.created),
            body
        ]);
    match inserted {
        Ok(_) => {
            events::enforcement_inserted(conn, e.event)?;
            if track_done && e.status != EnforcementStatus::Created {
                set_done(conn, e, false)?;
            }
            Ok(Inserted::New)
        }
        Err(err) if is_constraint(&err) => {
            let existing = conn
                .prepare_cached(
                    "SELECT body FROM enforcements WHERE event_id = ?1 AND rule_ref = ?2",
                )?
                .query_row(params![blob(e.event), e.rule.as_str()], |r| {
                    Ok(body_at::<Enforcement>(r, 0, "enforcement"))
                })
                .optional()?
                .transpose()?;
            match existing {
                Some(x) => Ok(Inserted::Existing(x)),
                None => Err(Error::Conflict(format!("enforcement '{}' exists", e.id)).into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Compare-and-set update: applies `u` only if the status is still `from`.
pub(crate) fn update(
    conn: &Connection,
    id: EnforcementId,
    from: EnforcementStatus,
    u: EnforcementUpdate,
) -> Res<Enforcement> {
    let found = conn
        .prepare_cached("SELECT rowid, status, body FROM enforcements WHERE id = ?1")?
        .query_row([blob(id)], |r| {
            let rowid: i64 = r.get(0)?;
            let status: String = r.get(1)?;
            let body =
                (status == from.as_str()).then(|| body_at::<Enforcement>(r, 2, "enforcement"));
            Ok((rowid, status, body))
        })
        .optional()?;
    let Some((rowid, status, body)) = found else {
        return Err(Error::not_found("enforcement", id).into());
    };
    let Some(body) = body else {
        return Err(
            Error::Conflict(format!("enforcement '{id}' is {status} (expected {from})")).into(),
        );
    };
    let mut e = body?;
    u.apply_to(&mut e);
    let body = to_body("enforcement", &e)?;
    conn.prepare_cached(
        "UPDATE enforcements SET status = ?2, execution_id = ?3, body = ?4 WHERE rowid = ?1",
    )?
    .execute(params![
        rowid,
        e.status.as_str(),
        opt_blob(e.execution),
        body
    ])?;
    set_done(conn, &e, from != EnforcementStatus::Created)?;
    Ok(e)
}

/// An execution was inserted: enforcements that name it are not done any more.
pub(crate) fn execution_inserted(conn: &Connection, x: ExecutionId) -> Res<()> {
    // Usually none: the engine names the execution in its enforcement only after inserting.
    let named: Vec<[u8; 16]> = {
        let mut st = conn.prepare_cached("SELECT id FROM enforcements WHERE execution_id = ?1")?;
        let rows = st.query_map([blob(x)], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in named {
        conn.prepare_cached("DELETE FROM done_enforcements WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// An execution was deleted: enforcements that name it and are not being applied are done.
pub(crate) fn execution_deleted(conn: &Connection, x: &[u8; 16]) -> Res<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO done_enforcements (id, created, event_id) \
         SELECT id, created, event_id FROM enforcements \
         WHERE execution_id = ?1 AND status != 'created'",
    )?
    .execute([x])?;
    Ok(())
}

/// Deletes an enforcement (retention); its event may become an orphan.
pub(crate) fn delete(conn: &Connection, id: &[u8; 16], event: &[u8; 16]) -> Res<()> {
    conn.prepare_cached("DELETE FROM enforcements WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM done_enforcements WHERE id = ?1")?
        .execute([id])?;
    events::enforcement_deleted(conn, event)
}

/// Reads an enforcement.
pub(crate) fn get(conn: &Connection, id: EnforcementId) -> Res<Enforcement> {
    conn.prepare_cached("SELECT body FROM enforcements WHERE id = ?1")?
        .query_row([blob(id)], |r| {
            Ok(body_at::<Enforcement>(r, 0, "enforcement"))
        })
        .optional()?
        .ok_or_else(|| Error::not_found("enforcement", id))?
}

/// The WHERE clause of `filter`.
fn filter_where(filter: &EnforcementFilter) -> Where {
    let mut w = Where::default();
    if let Some(r) = &filter.rule {
        w.eq("rule_ref", r.clone());
    }
    if let Some(ev) = filter.event {
        w.eq("event_id", blob(ev).to_vec());
    }
    if let Some(s) = filter.status {
        w.eq("status", s.as_str().to_string());
    }
    if let Some(s) = filter.since {
        w.cmp("created", ">=", micros(s));
    }
    if let Some(u) = filter.until {
        w.cmp("created", "<", micros(u));
    }
    w
}

/// Lists enforcements in id order.
pub(crate) fn list(
    conn: &Connection,
    filter: &EnforcementFilter,
    page: &Page,
) -> Res<Vec<Enforcement>> {
    filter_where(filter).page(conn, "SELECT body FROM enforcements", "id", page, |r| {
        body_at(r, 0, "enforcement")
    })
}

/// Counts enforcements.
pub(crate) fn count(conn: &Connection, filter: &EnforcementFilter) -> Res<u64> {
    filter_where(filter).count(conn, "enforcements")
}
