//! Executions: inserts, compare-and-set transitions, claims and leases, queries.
//!
//! The writer keeps live executions parsed in its [`ExecCache`](crate::cache::ExecCache),
//! so a status change usually neither reads nor parses the row; otherwise the `status`
//! (and `worker`) columns are checked first and the body is parsed only when the
//! compare-and-set holds.

use crate::enforcements;
use crate::error::{Res, is_constraint};
use crate::query::Where;
use crate::rows::{Bodied, blob, exec_at, exec_state, limit, micros, opt_blob};
use crate::writer::WriterConn;
use attune_core::Error;
use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_core::store::{Claim, Claimed, ExecutionChange, ExecutionFilter, ExecutionHead, Page};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// Inserts an execution; Conflict if its id, or its `(enforcement, attempt)`, exists.
pub(crate) fn insert(w: &mut WriterConn, x: Bodied<Execution>) -> Res<()> {
    let id = x.value.id;
    insert_row(w, x)?;
    enforcements::execution_inserted(w, id)
}

/// Inserts an execution without looking for enforcements that name it (the caller knows
/// there is none listed as done).
pub(crate) fn insert_row(w: &mut WriterConn, x: Bodied<Execution>) -> Res<()> {
    let Bodied { value: x, body } = x;
    let inserted = w
        .prepare_cached(
            "INSERT INTO executions (id, status, action_ref, enforcement_id, event_id, rule_ref, \
             parent_id, attempt, worker, lease_expires, created, retry_of) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            blob(x.id),
            x.status.as_str(),
            x.action.as_str(),
            opt_blob(x.enforcement),
            opt_blob(x.event),
            x.rule.as_deref(),
            opt_blob(x.parent),
            x.attempt,
            x.worker.as_deref(),
            x.lease_expires.map(micros),
            micros(x.created),
            opt_blob(x.retry_of),
        ]);
    match inserted {
        Ok(_) => {
            let rowid = w.last_insert_rowid();
            w.prepare_cached("INSERT INTO execution_bodies (exec_id, body) VALUES (?1, ?2)")?
                .execute(params![blob(x.id), &body])?;
            w.trash.text(body);
            w.cache_put(rowid, x);
            Ok(())
        }
        Err(e) if is_constraint(&e) => Err(insert_conflict(w, &x)?.into()),
        Err(e) => Err(e.into()),
    }
}

/// Which unique key an insert hit.
fn insert_conflict(conn: &Connection, x: &Execution) -> Res<Error> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM executions WHERE id = ?1")?
        .exists([blob(x.id)])?;
    if exists {
        return Ok(Error::Conflict(format!("execution '{}' exists", x.id)));
    }
    let other = match x.enforcement {
        Some(enf) => conn
            .prepare_cached("SELECT id FROM executions WHERE enforcement_id = ?1 AND attempt = ?2")?
            .query_row(params![blob(enf), x.attempt], |r| r.get::<_, [u8; 16]>(0))
            .optional()?,
        None => None,
    };
    Ok(match (x.enforcement, other) {
        (Some(enf), Some(other)) => Error::Conflict(format!(
            "enforcement '{enf}' already has execution '{}' for attempt {}",
            Uuid::from_bytes(other),
            x.attempt
        )),
        _ => Error::Conflict(format!("execution '{}' conflicts with a stored one", x.id)),
    })
}

/// The outcome of looking a row up for a change.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived, moved once; boxing would allocate on every change"
)]
enum Lookup {
    /// No such execution.
    Missing,
    /// It exists, in this status, and the change does not apply to it.
    Refused(String),
    /// It exists and the change applies: rowid and content (taken out of the cache; put
    /// it back with [`save`] or [`keep`]).
    Found(i64, Execution),
}

/// Looks `id` up for a change that applies when `admit(status, worker)` holds.
fn lookup(
    w: &mut WriterConn,
    id: ExecutionId,
    admit: impl FnOnce(&str, Option<&str>) -> bool,
) -> Res<Lookup> {
    if let Some(c) = w.cache.take(id) {
        let x = &c.execution;
        if admit(x.status.as_str(), x.worker.as_deref()) {
            return Ok(Lookup::Found(c.rowid, c.execution));
        }
        let status = x.status.as_str().to_string();
        w.cache_put(c.rowid, c.execution);
        return Ok(Lookup::Refused(status));
    }
    let mut st = w.prepare_cached(
        "SELECT x.rowid, x.status, x.worker, b.body, x.state FROM executions x \
             JOIN execution_bodies b ON b.exec_id = x.id WHERE x.id = ?1",
    )?;
    let mut rows = st.query([blob(id)])?;
    let Some(r) = rows.next()? else {
        return Ok(Lookup::Missing);
    };
    let status = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
    let worker = r
        .get_ref(2)?
        .as_str_or_null()
        .map_err(rusqlite::Error::from)?;
    if !admit(status, worker) {
        return Ok(Lookup::Refused(status.to_string()));
    }
    Ok(Lookup::Found(r.get(0)?, exec_at(r, 3, 4)?))
}

/// Puts an unchanged row back into the cache.
fn keep(w: &mut WriterConn, rowid: i64, x: Execution) {
    w.cache_put(rowid, x);
}

/// Writes a changed execution (its columns and `state`; the body stays) and caches it.
fn save(w: &mut WriterConn, rowid: i64, x: Execution) -> Res<()> {
    let state = exec_state(&x)?;
    w.prepare_cached(
        "UPDATE executions SET status = ?2, worker = ?3, lease_expires = ?4, attempt = ?5, \
         state = ?6 WHERE rowid = ?1",
    )?
    .execute(params![
        rowid,
        x.status.as_str(),
        x.worker.as_deref(),
        x.lease_expires.map(micros),
        x.attempt,
        state
    ])?;
    w.cache_put(rowid, x);
    Ok(())
}

/// Applies a compare-and-set transition `from → change.to`; the new row when `want_row`.
pub(crate) fn transition(
    w: &mut WriterConn,
    id: ExecutionId,
    from: ExecutionStatus,
    change: ExecutionChange,
    want_row: bool,
) -> Res<Option<Execution>> {
    let (rowid, mut x) = match lookup(w, id, |s, _| s == from.as_str())? {
        Lookup::Missing => return Err(Error::not_found("execution", id).into()),
        Lookup::Refused(status) => {
            return Err(
                Error::Conflict(format!("execution '{id}' is {status} (expected {from})")).into(),
            );
        }
        Lookup::Found(rowid, x) => (rowid, x),
    };
    if let Err(e) = from.check_transition(change.to, id) {
        keep(w, rowid, x);
        return Err(e.into());
    }
    change.apply_to(&mut x);
    let row = want_row.then(|| x.clone());
    save(w, rowid, x)?;
    Ok(row)
}

/// Claims one `scheduled` execution.
pub(crate) fn claim(w: &mut WriterConn, id: ExecutionId, claim: &Claim) -> Res<Option<Execution>> {
    let scheduled = ExecutionStatus::Scheduled.as_str();
    match lookup(w, id, |s, _| s == scheduled)? {
        Lookup::Missing => Err(Error::not_found("execution", id).into()),
        Lookup::Refused(_) => Ok(None),
        Lookup::Found(rowid, mut x) => {
            claim.apply_to(&mut x);
            let row = x.clone();
            save(w, rowid, x)?;
            Ok(Some(row))
        }
    }
}

/// Rows `(rowid, id)` of a claim query, with the cached or parsed execution.
fn candidates(
    w: &mut WriterConn,
    sql: &str,
    args: impl rusqlite::Params,
) -> Res<Vec<(i64, Execution)>> {
    let mut out = Vec::new();
    let mut st = w.prepare_cached(sql)?;
    let mut rows = st.query(args)?;
    let mut misses = Vec::new();
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let id = ExecutionId(Uuid::from_bytes(r.get(1)?));
        if w.cache.contains(id) {
            misses.push((rowid, id, None));
        } else {
            misses.push((rowid, id, Some(exec_at(r, 2, 3)?)));
        }
    }
    drop(rows);
    drop(st);
    for (rowid, id, parsed) in misses {
        let x = match parsed {
            Some(x) => x,
            None => match w.cache.take(id) {
                Some(c) => c.execution,
                None => continue,
            },
        };
        out.push((rowid, x));
    }
    Ok(out)
}

/// Claims up to `n` executions, oldest first: `running` ones whose lease expired (reclaims,
/// attempt + 1), then `scheduled` ones. Run inside a savepoint.
pub(crate) fn claim_ready(w: &mut WriterConn, claim: &Claim, n: usize) -> Res<Vec<Claimed>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut picked: Vec<(i64, Execution, bool)> = Vec::new();
    let expired = candidates(
        w,
        "SELECT x.rowid, x.id, b.body, x.state FROM executions x \
         JOIN execution_bodies b ON b.exec_id = x.id \
         WHERE status = 'running' AND lease_expires <= ?1 ORDER BY id LIMIT ?2",
        params![micros(claim.now), limit(n)],
    )?;
    for (rowid, x) in expired {
        // The lease column is truncated to microseconds: the row's own claim decides. A
        // reclaim takes the next attempt; if that attempt exists already (a retry was
        // inserted), the execution is not reclaimable.
        if claim.can_claim(&x) == Some(true) && !next_attempt_taken(w, &x)? {
            picked.push((rowid, x, true));
        } else {
            keep(w, rowid, x);
        }
    }
    let room = n.saturating_sub(picked.len());
    if room > 0 {
        let scheduled = candidates(
            w,
            "SELECT x.rowid, x.id, b.body, x.state FROM executions x \
         JOIN execution_bodies b ON b.exec_id = x.id \
             WHERE status = 'scheduled' \
             ORDER BY id LIMIT ?1",
            [limit(room)],
        )?;
        picked.extend(scheduled.into_iter().map(|(rowid, x)| (rowid, x, false)));
    }
    let mut out = Vec::with_capacity(picked.len());
    for (rowid, mut x, reclaimed) in picked {
        if reclaimed {
            x.attempt += 1;
        }
        claim.apply_to(&mut x);
        out.push(Claimed {
            execution: x.clone(),
            reclaimed,
        });
        save(w, rowid, x)?;
    }
    out.sort_by_key(|c| c.execution.id);
    Ok(out)
}

/// Whether the next attempt of `x`'s enforcement exists already (a retry was inserted): a
/// reclaim or take-over, which takes that attempt, is then refused.
fn next_attempt_taken(w: &mut WriterConn, x: &Execution) -> Res<bool> {
    let Some(enf) = x.enforcement else {
        return Ok(false);
    };
    Ok(
        w.prepare_cached("SELECT 1 FROM executions WHERE enforcement_id = ?1 AND attempt = ?2")?
            .exists(params![blob(enf), x.attempt + 1])?,
    )
}

/// Whether a stored status name is one a claim holds.
fn holds_claim(status: &str) -> bool {
    ExecutionStatus::parse(status).is_ok_and(ExecutionStatus::holds_claim)
}

/// Takes over an execution whose worker was lost (see `Store::take_over_execution`).
pub(crate) fn take_over(
    w: &mut WriterConn,
    id: ExecutionId,
    claim: &Claim,
) -> Res<Option<Execution>> {
    match lookup(w, id, |s, _| holds_claim(s))? {
        Lookup::Missing => Err(Error::not_found("execution", id).into()),
        Lookup::Refused(_) => Ok(None),
        Lookup::Found(rowid, mut x) => {
            if !claim.can_take_over(&x) || next_attempt_taken(w, &x)? {
                keep(w, rowid, x);
                return Ok(None);
            }
            claim.take_over(&mut x);
            let row = x.clone();
            save(w, rowid, x)?;
            Ok(Some(row))
        }
    }
}

/// Extends the lease of an execution held by `claim.worker`.
pub(crate) fn renew_lease(w: &mut WriterConn, id: ExecutionId, claim: &Claim) -> Res<()> {
    match lookup(w, id, |s, worker| {
        holds_claim(s) && worker == Some(claim.worker.as_str())
    })? {
        Lookup::Missing => Err(Error::not_found("execution", id).into()),
        Lookup::Refused(_) => Err(Error::Conflict(format!(
            "execution '{id}' is not held by worker '{}'",
            claim.worker
        ))
        .into()),
        Lookup::Found(rowid, mut x) => {
            x.lease_expires = Some(claim.lease_until);
            save(w, rowid, x)
        }
    }
}

/// Deletes an execution (retention).
pub(crate) fn delete(w: &mut WriterConn, id: &[u8; 16]) -> Res<()> {
    w.prepare_cached("DELETE FROM executions WHERE id = ?1")?
        .execute([id])?;
    w.prepare_cached("DELETE FROM execution_bodies WHERE exec_id = ?1")?
        .execute([id])?;
    w.cache.remove(ExecutionId(Uuid::from_bytes(*id)));
    crate::journal::delete(w, id)?;
    enforcements::execution_deleted(w, id)
}

/// Reads an execution.
pub(crate) fn get(conn: &Connection, id: ExecutionId) -> Res<Execution> {
    conn.prepare_cached(
        "SELECT b.body, x.state FROM executions x \
         JOIN execution_bodies b ON b.exec_id = x.id WHERE x.id = ?1",
    )?
    .query_row([blob(id)], |r| Ok(exec_at(r, 0, 1)))
    .optional()?
    .ok_or_else(|| Error::not_found("execution", id))?
}

/// The runner and status of one execution, without reading the whole record.
pub(crate) fn head(conn: &Connection, id: ExecutionId) -> Res<ExecutionHead> {
    let row = conn
        .prepare_cached(
            "SELECT x.status, json_extract(b.body, '$.runner') FROM executions x \
             JOIN execution_bodies b ON b.exec_id = x.id WHERE x.id = ?1",
        )?
        .query_row([blob(id)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()?;
    let Some((status, runner)) = row else {
        return Err(Error::not_found("execution", id).into());
    };
    let status = ExecutionStatus::parse(&status)?;
    let runner = runner.ok_or_else(|| {
        Error::backend(
            format!("execution {id}: its stored body names no runner"),
            false,
        )
    })?;
    Ok(ExecutionHead::new(runner, status))
}

/// The WHERE clause of `filter`; `None` when it matches nothing (an empty status list).
fn filter_where(filter: &ExecutionFilter) -> Option<Where> {
    let mut w = Where::default();
    if let Some(a) = &filter.action {
        w.eq("action_ref", a.clone());
    }
    if let Some(statuses) = &filter.status {
        match statuses.as_slice() {
            [] => return None,
            [one] => {
                w.eq("status", one.as_str().to_string());
            }
            many => {
                w.any_of(
                    "status",
                    many.iter().map(|s| Value::Text(s.as_str().to_string())),
                );
            }
        }
    }
    if let Some(x) = filter.enforcement {
        w.eq("enforcement_id", blob(x).to_vec());
    }
    if let Some(x) = filter.event {
        w.eq("event_id", blob(x).to_vec());
    }
    if let Some(x) = filter.parent {
        w.eq("parent_id", blob(x).to_vec());
    }
    if filter.top_level {
        w.is_null("parent_id");
    }
    if let Some(u) = &filter.user {
        // Written once, with the body: a scan of the bodies (an interactive filter).
        w.with_value(
            "id IN (SELECT exec_id FROM execution_bodies WHERE json_extract(body, '$.user') = {})",
            u.clone(),
        );
    }
    if filter.started_only {
        w.is_null("parent_id")
            .is_null("event_id")
            .is_null("retry_of");
    }
    if let Some(r) = &filter.rule {
        w.eq("rule_ref", r.clone());
    }
    if let Some(x) = filter.retry_of {
        w.eq("retry_of", blob(x).to_vec());
    }
    if let Some(s) = filter.since {
        w.cmp("created", ">=", micros(s));
    }
    if let Some(u) = filter.until {
        w.cmp("created", "<", micros(u));
    }
    Some(w)
}

/// Lists executions in id order.
pub(crate) fn list(
    conn: &Connection,
    filter: &ExecutionFilter,
    page: &Page,
) -> Res<Vec<Execution>> {
    match filter_where(filter) {
        None => Ok(Vec::new()),
        Some(w) => w.page(
            conn,
            "SELECT b.body, x.state FROM executions x \
             JOIN execution_bodies b ON b.exec_id = x.id",
            "x.id",
            page,
            |r| exec_at(r, 0, 1),
        ),
    }
}

/// Counts executions.
pub(crate) fn count(conn: &Connection, filter: &ExecutionFilter) -> Res<u64> {
    match filter_where(filter) {
        None => Ok(0),
        Some(w) => w.count(conn, "executions"),
    }
}
