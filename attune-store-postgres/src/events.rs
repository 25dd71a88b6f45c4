//! Events: immutable once inserted. What changes about an event lives beside it: whether
//! it is matched yet (`unmatched_events`) and, once matched, whether an enforcement refers
//! to it (`orphan_events`). Retention may delete the events of both lists that no
//! enforcement refers to: an event matched without enforcements, or never matched.

use crate::error::Res;
use crate::filter::{Arg, Where};
use crate::rows::{body_at, micros, to_body};
use attune_core::model::{Event, EventId};
use attune_core::store::{EventFilter, Page};
use attune_core::{Error, Result};
use sqlx::Row;
use sqlx::postgres::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

/// Persists events in one statement, each unmatched until marked; one result per event, in
/// order: Conflict for an id that exists (or repeats in `events`). With the `outbox` on,
/// the statement also queues a `Message::Event` for each event inserted.
pub(crate) async fn insert(pool: &PgPool, events: &[Event], outbox: bool) -> Res<Vec<Result<()>>> {
    let mut out: Vec<Result<()>> = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    let mut triggers = Vec::with_capacity(events.len());
    let mut created = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    for e in events {
        match to_body("event", e) {
            Ok(body) => {
                ids.push(Uuid::from(e.id));
                triggers.push(e.trigger.as_str());
                created.push(micros(e.created));
                bodies.push(body);
                out.push(Ok(()));
            }
            Err(f) => out.push(Err(f.into())),
        }
    }
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH ins AS ( \
             INSERT INTO events (id, trigger_ref, created, body) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[]) \
             ON CONFLICT DO NOTHING RETURNING id), \
         un AS (INSERT INTO unmatched_events (id) SELECT id FROM ins){} \
         SELECT id FROM ins",
        crate::outbox::events(outbox, "ins")
    )))
    .bind(&ids)
    .bind(&triggers)
    .bind(&created)
    .bind(&bodies)
    .fetch_all(pool)
    .await?;
    let mut new: HashSet<Uuid> = rows
        .iter()
        .map(|r| r.try_get::<Uuid, _>(0))
        .collect::<std::result::Result<_, _>>()?;
    for (e, slot) in events.iter().zip(out.iter_mut()) {
        if slot.is_ok() && !new.remove(&Uuid::from(e.id)) {
            *slot = Err(Error::Conflict(format!("event '{}' exists", e.id)));
        }
    }
    Ok(out)
}

/// Marks events matched; unknown ids are ignored. A matched event no enforcement refers
/// to is listed as an orphan (retention may delete it).
pub(crate) async fn mark_matched(pool: &PgPool, ids: &[EventId]) -> Res<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = ids.iter().map(|i| Uuid::from(*i)).collect();
    sqlx::query(
        "WITH gone AS (DELETE FROM unmatched_events WHERE id = ANY($1)) \
         INSERT INTO orphan_events (id, created) SELECT e.id, e.created FROM events e \
         WHERE e.id = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM enforcements f WHERE f.event_id = e.id) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Reads an event.
pub(crate) async fn get(pool: &PgPool, id: EventId) -> Res<Event> {
    let row = sqlx::query("SELECT body FROM events WHERE id = $1")
        .bind(Uuid::from(id))
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => body_at(&r, 0, "event"),
        None => Err(Error::not_found("event", id).into()),
    }
}

/// Reads events with one query: one result per id, in order.
pub(crate) async fn get_many(pool: &PgPool, ids: &[EventId]) -> Res<Vec<Result<Event>>> {
    let sql = "SELECT id, body FROM events WHERE id = ANY($1)".to_string();
    crate::rows::by_ids(pool, sql, ids, "event", |r| body_at::<Event>(r, 1, "event")).await
}

/// Of `ids`, those not marked matched, in the order given, each once.
pub(crate) async fn unmatched_of(pool: &PgPool, ids: &[EventId]) -> Res<Vec<EventId>> {
    let uuids: Vec<Uuid> = ids.iter().map(|i| Uuid::from(*i)).collect();
    let rows: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM unmatched_events WHERE id = ANY($1)")
        .bind(&uuids)
        .fetch_all(pool)
        .await?;
    let mut found: std::collections::HashSet<Uuid> = rows.into_iter().collect();
    Ok(ids
        .iter()
        .copied()
        .filter(|id| found.remove(&Uuid::from(*id)))
        .collect())
}

/// The WHERE clause of `filter` over `events e` (`unmatched_only` is the caller's: it
/// changes the tables).
fn filter_where(filter: &EventFilter) -> Where {
    let mut w = Where::default();
    if let Some(t) = &filter.trigger {
        w.eq("e.trigger_ref", Arg::Text(t.clone()));
    }
    if let Some(t) = &filter.trace_tag {
        // Kept in the body only: a scan (an interactive filter, StackStorm's `trace_tag`).
        w.eq("(e.body::jsonb ->> 'trace_tag')", Arg::Text(t.clone()));
    }
    if let Some(s) = filter.since {
        w.cmp("e.created", ">=", Arg::Int(micros(s)));
    }
    if let Some(u) = filter.until {
        w.cmp("e.created", "<", Arg::Int(micros(u)));
    }
    w
}

const UNMATCHED: &str = "unmatched_events u JOIN events e ON e.id = u.id";

/// Lists events in id order.
pub(crate) async fn list(pool: &PgPool, filter: &EventFilter, page: &Page) -> Res<Vec<Event>> {
    let w = filter_where(filter);
    let parse = |r: &sqlx::postgres::PgRow| body_at(r, 0, "event");
    if filter.unmatched_only {
        w.page(
            pool,
            &format!("SELECT e.body FROM {UNMATCHED}"),
            "u.id",
            page,
            parse,
        )
        .await
    } else {
        w.page(pool, "SELECT e.body FROM events e", "e.id", page, parse)
            .await
    }
}

/// Counts events.
pub(crate) async fn count(pool: &PgPool, filter: &EventFilter) -> Res<u64> {
    let w = filter_where(filter);
    if filter.unmatched_only {
        w.count(pool, UNMATCHED).await
    } else {
        w.count(pool, "events e").await
    }
}
