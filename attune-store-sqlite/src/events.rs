//! Events: immutable once inserted. What changes about an event lives beside it: whether
//! it is matched yet (`unmatched_events`) and, once matched, whether an enforcement refers
//! to it (`orphan_events`). Retention may delete the events of both lists that no
//! enforcement refers to: an event matched without enforcements, or never matched.

use crate::error::{Res, is_constraint};
use crate::query::Where;
use crate::rows::{blob, body_at, micros, to_body};
use attune_core::Error;
use attune_core::model::{Event, EventId, Name};
use attune_core::store::{EventFilter, Page};
use rusqlite::{Connection, OptionalExtension, params};

/// What an event's insert writes, made by the caller's task: its columns and its JSON body
/// (not a copy of the event: the payload is serialized, not cloned).
pub(crate) struct EventRow {
    id: EventId,
    trigger: Name,
    created: i64,
    body: String,
}

impl EventRow {
    /// Serializes `event`.
    pub(crate) fn new(event: &Event) -> Res<EventRow> {
        Ok(EventRow {
            id: event.id,
            trigger: event.trigger.clone(),
            created: micros(event.created),
            body: to_body("event", event)?,
        })
    }
}

/// Persists an event; Conflict if its id exists.
pub(crate) fn insert(conn: &Connection, event: &EventRow) -> Res<()> {
    let id = blob(event.id);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO events (id, trigger_ref, created, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            id,
            event.trigger.as_str(),
            event.created,
            event.body
        ]);
    match inserted {
        Ok(_) => {}
        Err(e) if is_constraint(&e) => {
            return Err(Error::Conflict(format!("event '{}' exists", event.id)).into());
        }
        Err(e) => return Err(e.into()),
    }
    // Unmatched until marked; listed as an orphan only once matched without enforcements
    // (retention finds unmatched events without enforcements through `unmatched_events`).
    conn.prepare_cached("INSERT INTO unmatched_events (id) VALUES (?1)")?
        .execute([id])?;
    Ok(())
}

/// An enforcement of `event` was inserted: the event is no longer an orphan.
pub(crate) fn enforcement_inserted(conn: &Connection, event: EventId) -> Res<()> {
    conn.prepare_cached("DELETE FROM orphan_events WHERE id = ?1")?
        .execute([blob(event)])?;
    Ok(())
}

/// An enforcement of `event` was deleted: the event is an orphan if it has no other.
pub(crate) fn enforcement_deleted(conn: &Connection, event: &[u8; 16]) -> Res<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO orphan_events (id, created) \
         SELECT id, created FROM events WHERE id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM enforcements WHERE event_id = ?1)",
    )?
    .execute([event])?;
    Ok(())
}

/// Marks events matched; unknown ids are ignored.
pub(crate) fn mark_matched(conn: &Connection, ids: &[EventId]) -> Res<()> {
    let mut unmark = conn.prepare_cached("DELETE FROM unmatched_events WHERE id = ?1")?;
    let mut orphan = conn.prepare_cached(
        "INSERT OR IGNORE INTO orphan_events (id, created) SELECT id, created FROM events \
         WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM enforcements WHERE event_id = ?1)",
    )?;
    for id in ids {
        unmark.execute([blob(*id)])?;
        orphan.execute([blob(*id)])?;
    }
    Ok(())
}

/// Deletes an event (retention).
pub(crate) fn delete(conn: &Connection, id: &[u8; 16]) -> Res<()> {
    conn.prepare_cached("DELETE FROM events WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM unmatched_events WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM orphan_events WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Reads an event.
pub(crate) fn get(conn: &Connection, id: EventId) -> Res<Event> {
    conn.prepare_cached("SELECT body FROM events WHERE id = ?1")?
        .query_row([blob(id)], |r| Ok(body_at::<Event>(r, 0, "event")))
        .optional()?
        .ok_or_else(|| Error::not_found("event", id))?
}

/// The WHERE clause of `filter` over `events e` (`unmatched_only` is the caller's: it
/// changes the table driving the query).
fn filter_where(filter: &EventFilter) -> Where {
    let mut w = Where::default();
    if let Some(t) = &filter.trigger {
        w.eq("e.trigger_ref", t.clone());
    }
    if let Some(t) = &filter.trace_tag {
        // Kept in the body only: a scan (an interactive filter, StackStorm's `trace_tag`).
        w.eq("json_extract(e.body, '$.trace_tag')", t.clone());
    }
    if let Some(s) = filter.since {
        w.cmp("e.created", ">=", micros(s));
    }
    if let Some(u) = filter.until {
        w.cmp("e.created", "<", micros(u));
    }
    w
}

/// Lists events in id order.
pub(crate) fn list(conn: &Connection, filter: &EventFilter, page: &Page) -> Res<Vec<Event>> {
    let w = filter_where(filter);
    let parse = |r: &rusqlite::Row<'_>| body_at(r, 0, "event");
    if filter.unmatched_only {
        // Driven by the (small) set of unmatched events, in id order.
        w.page(
            conn,
            "SELECT e.body FROM unmatched_events u CROSS JOIN events e ON e.id = u.id",
            "u.id",
            page,
            parse,
        )
    } else {
        w.page(conn, "SELECT e.body FROM events e", "e.id", page, parse)
    }
}

/// Counts events.
pub(crate) fn count(conn: &Connection, filter: &EventFilter) -> Res<u64> {
    let w = filter_where(filter);
    if filter.unmatched_only {
        w.count(
            conn,
            "unmatched_events u CROSS JOIN events e ON e.id = u.id",
        )
    } else {
        w.count(conn, "events e")
    }
}
