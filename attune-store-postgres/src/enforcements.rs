//! Enforcements: at most one per `(rule, event)`, updated by compare-and-set.
//!
//! `done_enforcements` holds the ones retention may delete: no longer being applied
//! (`processed` or `failed`) and whose execution, if they name one, does not exist. It is
//! kept up to date here, when executions are inserted (`executions`) and when retention
//! deletes them (`purge`).

use crate::error::Res;
use crate::executions;
use crate::filter::{Arg, Where};
use crate::rows::{body_at, micros, to_body};
use attune_core::model::{Enforcement, EnforcementId, EnforcementStatus, EventId, Execution};
use attune_core::store::{Enforced, EnforcementFilter, EnforcementUpdate, Inserted, Page};
use attune_core::{Error, Result};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Lists the enforcements among `ids` that are done (see the module doc).
const MARK_DONE: &str = "INSERT INTO done_enforcements (id, created, event_id) \
     SELECT f.id, f.created, f.event_id FROM enforcements f \
     WHERE f.id = ANY($1) AND f.status <> 'created' AND (f.execution_id IS NULL \
       OR NOT EXISTS (SELECT 1 FROM executions x WHERE x.id = f.execution_id)) \
     ON CONFLICT DO NOTHING";

/// Inserts an enforcement unless one exists for its `(rule, event)`.
pub(crate) async fn insert(pool: &PgPool, e: &Enforcement) -> Res<Inserted<Enforcement>> {
    let item = Enforced {
        enforcement: e.clone(),
        execution: None,
    };
    let mut out = insert_enforced(pool, std::slice::from_ref(&item), false, false).await?;
    out.pop().expect("one result").map_err(Into::into)
}

/// Records enforcements with their executions in one transaction (see
/// `Store::insert_enforcements`): each item both or neither; one result per item.
/// `check`: refuse items whose enforcement and execution do not name each other. `outbox`:
/// queue a `Message::Requested` for each execution inserted in `requested`.
pub(crate) async fn insert_enforced(
    pool: &PgPool,
    items: &[Enforced],
    check: bool,
    outbox: bool,
) -> Res<Vec<Result<Inserted<Enforcement>>>> {
    let mut out: Vec<Option<Result<Inserted<Enforcement>>>> = Vec::with_capacity(items.len());
    let (mut ids, mut rules, mut events, mut statuses) = (vec![], vec![], vec![], vec![]);
    let (mut execs, mut created, mut bodies) = (vec![], vec![], vec![]);
    for item in items {
        let e = &item.enforcement;
        let body = if check {
            item.check().map_err(Into::into)
        } else {
            Ok(())
        }
        .and_then(|()| to_body("enforcement", e));
        match body {
            Ok(body) => {
                ids.push(Uuid::from(e.id));
                rules.push(e.rule.as_str());
                events.push(Uuid::from(e.event));
                statuses.push(e.status.as_str());
                execs.push(e.execution.map(Uuid::from));
                created.push(micros(e.created));
                bodies.push(body);
                out.push(None);
            }
            Err(f) => out.push(Some(Err(f.into()))),
        }
    }
    if ids.is_empty() {
        return Ok(out.into_iter().map(|r| r.expect("set")).collect());
    }
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "INSERT INTO enforcements (id, rule_ref, event_id, status, execution_id, created, body) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[], \
           $6::int8[], $7::text[]) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(&rules)
    .bind(&events)
    .bind(&statuses)
    .bind(&execs)
    .bind(&created)
    .bind(&bodies)
    .fetch_all(&mut *tx)
    .await?;
    let mut new: HashSet<Uuid> = rows
        .iter()
        .map(|r| r.try_get::<Uuid, _>(0))
        .collect::<std::result::Result<_, _>>()?;
    // Which item each new enforcement belongs to (the first with its id).
    let mut fresh: Vec<usize> = Vec::new();
    let mut existing: Vec<usize> = Vec::new();
    for (i, slot) in out.iter().enumerate() {
        if slot.is_none() {
            if new.remove(&Uuid::from(items[i].enforcement.id)) {
                fresh.push(i);
            } else {
                existing.push(i);
            }
        }
    }
    // Their executions, both or neither.
    let with_exec: Vec<(usize, &Execution)> = fresh
        .iter()
        .filter_map(|&i| items[i].execution.as_ref().map(|x| (i, x)))
        .collect();
    let xs: Vec<&Execution> = with_exec.iter().map(|(_, x)| *x).collect();
    let refused = executions::insert_many(&mut tx, &xs, outbox).await?;
    let mut undo = Vec::new();
    for ((i, _), err) in with_exec.iter().zip(refused) {
        if let Some(err) = err {
            undo.push(Uuid::from(items[*i].enforcement.id));
            out[*i] = Some(Err(err));
        }
    }
    if !undo.is_empty() {
        sqlx::query("DELETE FROM enforcements WHERE id = ANY($1)")
            .bind(&undo)
            .execute(&mut *tx)
            .await?;
    }
    let kept: Vec<usize> = fresh.into_iter().filter(|&i| out[i].is_none()).collect();
    if !kept.is_empty() {
        let kept_ids: Vec<Uuid> = kept
            .iter()
            .map(|&i| Uuid::from(items[i].enforcement.id))
            .collect();
        let kept_events: Vec<Uuid> = kept
            .iter()
            .map(|&i| Uuid::from(items[i].enforcement.event))
            .collect();
        sqlx::query("DELETE FROM orphan_events WHERE id = ANY($1)")
            .bind(&kept_events)
            .execute(&mut *tx)
            .await?;
        if kept
            .iter()
            .any(|&i| items[i].enforcement.status != EnforcementStatus::Created)
        {
            sqlx::query(MARK_DONE)
                .bind(&kept_ids)
                .execute(&mut *tx)
                .await?;
        }
        for i in kept {
            out[i] = Some(Ok(Inserted::New));
        }
    }
    if !existing.is_empty() {
        let keys: Vec<(EventId, &str)> = existing
            .iter()
            .map(|&i| {
                (
                    items[i].enforcement.event,
                    items[i].enforcement.rule.as_str(),
                )
            })
            .collect();
        let stored = by_event_rule(&mut tx, &keys).await?;
        for i in existing {
            let e = &items[i].enforcement;
            out[i] = Some(
                match stored.get(&(Uuid::from(e.event), e.rule.to_string())) {
                    Some(x) => Ok(Inserted::Existing(x.clone())),
                    None => Err(Error::Conflict(format!("enforcement '{}' exists", e.id))),
                },
            );
        }
    }
    tx.commit().await?;
    Ok(out.into_iter().map(|r| r.expect("set")).collect())
}

/// The stored enforcements of these `(event, rule)` pairs.
async fn by_event_rule(
    conn: &mut PgConnection,
    keys: &[(EventId, &str)],
) -> Res<HashMap<(Uuid, String), Enforcement>> {
    let events: Vec<Uuid> = keys.iter().map(|(e, _)| Uuid::from(*e)).collect();
    let rules: Vec<&str> = keys.iter().map(|(_, r)| *r).collect();
    let rows = sqlx::query(
        "SELECT f.event_id, f.rule_ref, f.body FROM enforcements f \
         JOIN unnest($1::uuid[], $2::text[]) AS k(event_id, rule_ref) \
         ON f.event_id = k.event_id AND f.rule_ref = k.rule_ref",
    )
    .bind(&events)
    .bind(&rules)
    .fetch_all(conn)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        out.insert(
            (r.try_get(0)?, r.try_get(1)?),
            body_at(r, 2, "enforcement")?,
        );
    }
    Ok(out)
}

/// Compare-and-set update: applies `u` only if the status is still `from`.
pub(crate) async fn update(
    pool: &PgPool,
    id: EnforcementId,
    from: EnforcementStatus,
    u: EnforcementUpdate,
) -> Res<Enforcement> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT status, body FROM enforcements WHERE id = $1 FOR UPDATE")
        .bind(Uuid::from(id))
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(Error::not_found("enforcement", id).into());
    };
    let status: &str = row.try_get(0)?;
    if status != from.as_str() {
        return Err(
            Error::Conflict(format!("enforcement '{id}' is {status} (expected {from})")).into(),
        );
    }
    let mut e: Enforcement = body_at(&row, 1, "enforcement")?;
    u.apply_to(&mut e);
    sqlx::query("UPDATE enforcements SET status = $2, execution_id = $3, body = $4 WHERE id = $1")
        .bind(Uuid::from(id))
        .bind(e.status.as_str())
        .bind(e.execution.map(Uuid::from))
        .bind(to_body("enforcement", &e)?)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM done_enforcements WHERE id = $1")
        .bind(Uuid::from(id))
        .execute(&mut *tx)
        .await?;
    sqlx::query(MARK_DONE)
        .bind(vec![Uuid::from(id)])
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(e)
}

/// Reads an enforcement.
pub(crate) async fn get(pool: &PgPool, id: EnforcementId) -> Res<Enforcement> {
    let row = sqlx::query("SELECT body FROM enforcements WHERE id = $1")
        .bind(Uuid::from(id))
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => body_at(&r, 0, "enforcement"),
        None => Err(Error::not_found("enforcement", id).into()),
    }
}

/// The WHERE clause of `filter`.
fn filter_where(filter: &EnforcementFilter) -> Where {
    let mut w = Where::default();
    if let Some(r) = &filter.rule {
        w.eq("rule_ref", Arg::Text(r.clone()));
    }
    if let Some(ev) = filter.event {
        w.eq("event_id", Arg::Id(ev.into()));
    }
    if let Some(s) = filter.status {
        w.eq("status", Arg::Text(s.as_str().to_string()));
    }
    if let Some(s) = filter.since {
        w.cmp("created", ">=", Arg::Int(micros(s)));
    }
    if let Some(u) = filter.until {
        w.cmp("created", "<", Arg::Int(micros(u)));
    }
    w
}

/// Lists enforcements in id order.
pub(crate) async fn list(
    pool: &PgPool,
    filter: &EnforcementFilter,
    page: &Page,
) -> Res<Vec<Enforcement>> {
    filter_where(filter)
        .page(pool, "SELECT body FROM enforcements", "id", page, |r| {
            body_at(r, 0, "enforcement")
        })
        .await
}

/// Counts enforcements.
pub(crate) async fn count(pool: &PgPool, filter: &EnforcementFilter) -> Res<u64> {
    filter_where(filter).count(pool, "enforcements").await
}
