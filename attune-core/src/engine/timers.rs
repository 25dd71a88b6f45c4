//! The timer task: fires the timer trigger types (`core.intervaltimer`, `core.crontimer`,
//! `core.datetimetimer`) of the enabled rules, as StackStorm's timers do.
//!
//! As in StackStorm, a timer is one instance of its trigger type made by a rule's trigger
//! parameters: rules with the same type and parameters share one timer, and its events
//! carry those parameters, so only those rules match them (`Event::trigger_params`). The
//! payload is StackStorm's: `executed_at` (Python's `str` of a UTC time, as StackStorm
//! writes it) and `schedule` (the timer's parameters).
//!
//! Time is the engine's clock: the task sleeps on tokio's timer until the clock reads the
//! next fire time, so a test on paused tokio time with a [`TokioClock`] moves both together.
//! When the task wakes later than a fire time (the host was suspended, the runtime was
//! starved), the fires it slept through are not replayed in a burst: one event carries
//! `missed: N`. A timer added while the engine runs starts counting then (intervals count
//! from it). The task costs nothing while no enabled rule uses a timer: it waits for the
//! rules to change.
//!
//! On a durable store, a restart continues the timers: each timer's last fire is found
//! among the stored events (the timer's own, [`RESTORE_WINDOWS`] back at most), intervals
//! keep their phase, and the fires missed while no engine ran come as one event at start
//! with `missed: N`, or, with the timer parameter `catch_up: true`, as one event each
//! (`executed_at` the time each was due; [`MAX_CATCH_UP`] at most). A one-shot timer that
//! fired does not fire again; one whose time passed while no engine ran does not fire (as
//! a date in the past never does). A timer event's `trace_tag` is `timer:<due time>`: the
//! fire it stands for, which a restart continues from.
//!
//! [`TokioClock`]: crate::clock::TokioClock

use super::Shared;
use crate::rules::canonical_params;
use crate::timer::{Schedule, TIMER_TRIGGERS};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One timer: the rules' trigger type and parameters, its schedule, when it started and
/// fires next.
struct Timer {
    trigger: String,
    params: Value,
    schedule: Schedule,
    started: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    /// Whether missed fires come as one event each after a restart (`catch_up: true`).
    catch_up: bool,
    /// The fire after `next`, found ahead of time: when the timer fires on time, the event
    /// goes out before any schedule is computed (10,000 cron schedules in time zones take
    /// tens of milliseconds).
    after_next: Option<DateTime<Utc>>,
}

impl Timer {
    /// The event of a fire: StackStorm's payload (`executed_at`, `schedule`, `missed` when
    /// it stands for more fires), its parameters selecting its rules, `due` as trace tag.
    fn emission(&self, executed_at: Value, due: DateTime<Utc>, missed: u64) -> super::Emission {
        let mut payload = serde_json::Map::with_capacity(3);
        payload.insert("executed_at".into(), executed_at);
        payload.insert("schedule".into(), schedule_of(&self.params));
        if missed > 0 {
            payload.insert("missed".into(), json!(missed));
        }
        super::Emission {
            trigger: self.trigger.as_str().into(),
            payload: Value::Object(payload),
            source: Some("timer".into()),
            trigger_params: Some(self.params.clone()),
            trace_tag: Some(due_tag(due)),
            // Made here from checked parameters: the payload schema holds.
            checked: true,
        }
    }
}

/// The key of a timer: its trigger type and its parameters as canonical JSON (keys sorted),
/// so that rules writing the same parameters share it.
fn key(trigger: &str, params: &Value) -> String {
    format!("{trigger} {}", canonical_params(params))
}

/// The timers the enabled rules ask for now, keeping the state of those that exist already.
fn follow_rules(shared: &Shared, timers: &mut HashMap<String, Timer>, now: DateTime<Utc>) {
    let mut wanted: HashMap<String, Timer> = HashMap::new();
    let instances = shared
        .catalog
        .trigger_instances(|t| TIMER_TRIGGERS.contains(&t));
    for instance in instances.into_values().flatten() {
        let trigger = instance.trigger_type.as_str();
        let params = &instance.parameters;
        let k = key(trigger, params);
        if let Some(t) = timers.remove(&k) {
            wanted.insert(k, t);
            continue;
        }
        // Rules are checked when registered; one that slipped through is logged, not fired.
        match Schedule::of_trigger(trigger, params) {
            Ok(Some(schedule)) => {
                let next = schedule.next_after(now, now);
                let after_next = next.and_then(|n| schedule.next_after(n, now));
                let catch_up = params
                    .as_object()
                    .and_then(|p| crate::timer::catch_up(trigger, p).ok())
                    .unwrap_or(false);
                wanted.insert(
                    k,
                    Timer {
                        trigger: trigger.to_string(),
                        params: params.clone(),
                        catch_up,
                        schedule,
                        started: now,
                        next,
                        after_next,
                    },
                );
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(trigger = %trigger, params = %params, error = %e, "timer not started");
            }
        }
    }
    *timers = wanted;
}

/// The payload's `schedule`: the timer's parameters (an object, as the payload schema of
/// StackStorm's timers has it).
fn schedule_of(params: &Value) -> Value {
    match params {
        Value::Object(_) => params.clone(),
        _ => json!({}),
    }
}

/// A timer event's trace tag: the time the fire it stands for was due (what a restart
/// continues from, whatever the time it was emitted).
fn due_tag(due: DateTime<Utc>) -> String {
    format!(
        "timer:{}",
        due.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// The due time of a timer event: its trace tag's, else when it was created.
fn due_of(ev: &crate::model::Event) -> DateTime<Utc> {
    ev.trace_tag
        .as_deref()
        .and_then(|t| t.strip_prefix("timer:"))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(ev.created, |t| t.with_timezone(&Utc))
}

/// StackStorm's `executed_at`: Python's `str()` of an aware UTC datetime.
fn python_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// Fires the due timers: one event each, with how many fires it slept through, all in
/// one batch; then finds their next fires.
async fn fire_due(shared: &Arc<Shared>, timers: &mut HashMap<String, Timer>, now: DateTime<Utc>) {
    let executed_at = Value::String(python_time(now));
    let mut due_now = Vec::new();
    let mut fired = Vec::new();
    for (k, t) in timers.iter_mut() {
        let Some(due) = t.next.filter(|d| *d <= now) else {
            continue;
        };
        let mut missed = 0u64;
        // The fire this event stands for (the last one due).
        let mut latest = due;
        // On time (the usual case): the next fire is known already.
        let next = if t.after_next.is_none_or(|a| a > now) {
            t.after_next
        } else {
            // Late: the fires between the one due and now were slept through; the first
            // after now is the next one.
            let mut next = t.schedule.next_after(due, t.started);
            while let Some(n) = next.filter(|n| *n <= now) {
                missed += 1;
                latest = n;
                next = if missed < 1_000_000 {
                    t.schedule.next_after(n, t.started)
                } else {
                    // Counting stops there: the next fire is found from now.
                    t.schedule.next_after(now, t.started)
                };
            }
            next
        };
        due_now.push(t.emission(executed_at.clone(), latest, missed));
        t.next = next;
        t.after_next = None;
        fired.push(k.clone());
    }
    // Every timer due now fires in one batch: one store call, one hand-off.
    super::emit::emit_logged(shared, due_now).await;
    // Then the fire after the next of each, for the next wake.
    for k in fired {
        if let Some(t) = timers.get_mut(&k) {
            t.after_next = t.next.and_then(|n| t.schedule.next_after(n, t.started));
        }
    }
    // A one-shot timer that fired is done.
    timers.retain(|_, t| t.next.is_some());
}

/// How far back a restart looks for the timers' last fires, widening while some are not
/// found; [`RESTORE_SCAN`] events read at most.
pub(crate) const RESTORE_WINDOWS: [i64; 5] = [60, 3_600, 86_400, 7 * 86_400, 31 * 86_400];
/// The most stored timer events a restart reads.
const RESTORE_SCAN: usize = 200_000;
/// The most events one timer's catch-up emits; the fires beyond are counted in the last
/// one's `missed`.
pub(crate) const MAX_CATCH_UP: u64 = 1_000;

/// The last fire of each timer, from the events it stored (keyed as the timers are).
async fn last_fires(
    shared: &Shared,
    timers: &HashMap<String, Timer>,
    now: DateTime<Utc>,
) -> HashMap<String, DateTime<Utc>> {
    use crate::store::{EventFilter, Page};
    let mut found: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut scanned = 0usize;
    for secs in RESTORE_WINDOWS {
        let mut types: Vec<&str> = timers
            .iter()
            .filter(|(k, _)| !found.contains_key(*k))
            .map(|(_, t)| t.trigger.as_str())
            .collect();
        types.sort_unstable();
        types.dedup();
        if types.is_empty() {
            break;
        }
        let since = now - chrono::Duration::seconds(secs);
        for t in types {
            let filter = EventFilter::new().trigger(t).since(since);
            let mut page = Page::first(1_000);
            loop {
                let batch = match shared.store.list_events(&filter, &page).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "timers' last fires not read: they start anew");
                        return found;
                    }
                };
                scanned += batch.len();
                for ev in batch
                    .iter()
                    .filter(|e| e.source.as_deref() == Some("timer"))
                {
                    let params = ev.trigger_params.clone().unwrap_or(Value::Null);
                    let k = key(&ev.trigger, &params);
                    if timers.contains_key(&k) {
                        let due = due_of(ev);
                        let at = found.entry(k).or_insert(due);
                        *at = (*at).max(due);
                    }
                }
                if scanned >= RESTORE_SCAN {
                    tracing::warn!(
                        scanned,
                        "too many stored timer events to find every timer's last fire: \
                         the others start anew"
                    );
                    return found;
                }
                match batch.last() {
                    Some(last) if batch.len() == page.limit => {
                        page = Page::after(last.id, page.limit)
                    }
                    _ => break,
                }
            }
        }
    }
    found
}

/// After a restart on a durable store: each timer continues from its last fire, and what
/// it missed while no engine ran fires now (see the module's doc).
async fn restore(shared: &Arc<Shared>, timers: &mut HashMap<String, Timer>, now: DateTime<Utc>) {
    let last = last_fires(shared, timers, now).await;
    let mut out = Vec::new();
    let mut done = Vec::new();
    for (k, t) in timers.iter_mut() {
        let Some(&fired) = last.get(k) else { continue };
        if matches!(t.schedule, Schedule::Once { .. }) {
            done.push(k.clone());
            continue;
        }
        // Intervals keep their phase: counted from the last fire.
        t.started = fired;
        let mut due = Vec::new();
        let mut count = 0u64;
        let mut last_due = fired;
        let mut at = t.schedule.next_after(fired, t.started);
        while let Some(d) = at.filter(|d| *d <= now) {
            count += 1;
            last_due = d;
            if t.catch_up && due.len() < MAX_CATCH_UP as usize {
                due.push(d);
            }
            if count >= 1_000_000 {
                break;
            }
            at = t.schedule.next_after(d, t.started);
        }
        t.next = t.schedule.next_after(now, t.started);
        t.after_next = t.next.and_then(|n| t.schedule.next_after(n, t.started));
        if count == 0 {
            continue;
        }
        let at = |t: DateTime<Utc>| json!(python_time(t));
        if t.catch_up {
            let n = due.len() as u64;
            for (i, d) in due.iter().enumerate() {
                let rest = if i as u64 + 1 == n { count - n } else { 0 };
                out.push(t.emission(at(*d), *d, rest));
            }
        } else {
            out.push(t.emission(at(now), last_due, count - 1));
        }
        tracing::info!(trigger = %t.trigger, missed = count, "timer missed fires while no engine ran");
    }
    for k in done {
        timers.remove(&k);
    }
    super::emit::emit_logged(shared, out).await;
}

/// The timer task (see the module's doc); ends when `term` is canceled (the engine stops,
/// or its leadership of the timers ends).
pub(crate) async fn run(shared: Arc<Shared>, term: tokio_util::sync::CancellationToken) {
    let mut timers: HashMap<String, Timer> = HashMap::new();
    let mut changes = shared.catalog.changes();
    follow_rules(&shared, &mut timers, shared.now());
    if shared.store.capabilities().durable && !timers.is_empty() {
        restore(&shared, &mut timers, shared.now()).await;
    }
    loop {
        let next = timers.values().filter_map(|t| t.next).min();
        let wait = match next {
            Some(at) => (at - shared.now()).to_std().unwrap_or_default(),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = term.cancelled() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                follow_rules(&shared, &mut timers, shared.now());
                continue;
            }
            () = tokio::time::sleep(wait) => {}
        }
        let now = shared.now();
        fire_due(&shared, &mut timers, now).await;
    }
}

#[cfg(test)]
mod tests {
    use super::python_time;

    #[test]
    fn executed_at_is_written_as_stackstorm_writes_it() {
        let t = "2026-01-02T03:04:05.5Z".parse().unwrap();
        assert_eq!(python_time(t), "2026-01-02 03:04:05.500000+00:00");
    }
}
