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
//! [`TokioClock`]: crate::clock::TokioClock

use super::{Engine, Shared};
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
    /// The fire after `next`, found ahead of time: when the timer fires on time, the event
    /// goes out before any schedule is computed (10,000 cron schedules in time zones take
    /// tens of milliseconds).
    after_next: Option<DateTime<Utc>>,
}

/// The key of a timer: its trigger type and its parameters as canonical JSON (keys sorted),
/// so that rules writing the same parameters share it.
fn key(trigger: &str, params: &Value) -> String {
    format!("{trigger} {}", canonical(params))
}

pub(crate) use crate::rules::canonical_params as canonical;

/// The timers the enabled rules ask for now, keeping the state of those that exist already.
fn follow_rules(shared: &Shared, timers: &mut HashMap<String, Timer>, now: DateTime<Utc>) {
    let mut wanted: HashMap<String, Timer> = HashMap::new();
    for rule in shared.catalog.enabled_rules() {
        let trigger = crate::pack::canonical_trigger(&rule.rule.trigger);
        if !TIMER_TRIGGERS.contains(&trigger) {
            continue;
        }
        let params = &rule.rule.trigger_params;
        let k = key(trigger, params);
        if wanted.contains_key(&k) {
            continue;
        }
        if let Some(t) = timers.remove(&k) {
            wanted.insert(k, t);
            continue;
        }
        // Rules are checked when registered; one that slipped through is logged, not fired.
        match Schedule::of_trigger(trigger, params) {
            Ok(Some(schedule)) => {
                let next = schedule.next_after(now, now);
                let after_next = next.and_then(|n| schedule.next_after(n, now));
                wanted.insert(
                    k,
                    Timer {
                        trigger: trigger.to_string(),
                        params: params.clone(),
                        schedule,
                        started: now,
                        next,
                        after_next,
                    },
                );
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(rule = %rule.rule.rule_ref, error = %e, "timer not started");
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

/// StackStorm's `executed_at`: Python's `str()` of an aware UTC datetime.
fn python_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// Fires the due timers: one event each, with how many fires it slept through, all in
/// one batch; then finds their next fires.
async fn fire_due(shared: &Arc<Shared>, timers: &mut HashMap<String, Timer>, now: DateTime<Utc>) {
    let engine = Engine::internal(shared.clone());
    let executed_at = Value::String(python_time(now));
    let mut due_now = Vec::new();
    let mut fired = Vec::new();
    for (k, t) in timers.iter_mut() {
        let Some(due) = t.next.filter(|d| *d <= now) else {
            continue;
        };
        let mut missed = 0u64;
        // On time (the usual case): the next fire is known already.
        let next = if t.after_next.is_none_or(|a| a > now) {
            t.after_next
        } else {
            // Late: the fires between the one due and now were slept through; the first
            // after now is the next one.
            let mut next = t.schedule.next_after(due, t.started);
            while let Some(n) = next.filter(|n| *n <= now) {
                missed += 1;
                next = if missed < 1_000_000 {
                    t.schedule.next_after(n, t.started)
                } else {
                    // Counting stops there: the next fire is found from now.
                    t.schedule.next_after(now, t.started)
                };
            }
            next
        };
        let mut payload = serde_json::Map::with_capacity(3);
        payload.insert("executed_at".into(), executed_at.clone());
        payload.insert("schedule".into(), schedule_of(&t.params));
        if missed > 0 {
            payload.insert("missed".into(), json!(missed));
        }
        due_now.push(super::Emission {
            trigger: t.trigger.clone(),
            payload: Value::Object(payload),
            source: Some("timer".into()),
            trigger_params: Some(t.params.clone()),
            trace_tag: None,
            // Made here from checked parameters: the payload schema holds.
            checked: true,
        });
        t.next = next;
        t.after_next = None;
        fired.push(k.clone());
    }
    // Every timer due now fires in one batch: one store call, one hand-off.
    if !due_now.is_empty() {
        let triggers: Vec<String> = due_now.iter().map(|e| e.trigger.clone()).collect();
        for (t, r) in triggers.iter().zip(engine.emit_instances(due_now).await) {
            if let Err(e) = r {
                tracing::warn!(trigger = %t, error = %e, "timer event not emitted");
            }
        }
    }
    // Then the fire after the next of each, for the next wake.
    for k in fired {
        if let Some(t) = timers.get_mut(&k) {
            t.after_next = t.next.and_then(|n| t.schedule.next_after(n, t.started));
        }
    }
    // A one-shot timer that fired is done.
    timers.retain(|_, t| t.next.is_some());
}

/// The timer task (see the module's doc); ends when the engine stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut timers: HashMap<String, Timer> = HashMap::new();
    let mut changes = shared.catalog.changes();
    follow_rules(&shared, &mut timers, shared.now());
    loop {
        let next = timers.values().filter_map(|t| t.next).min();
        let wait = match next {
            Some(at) => (at - shared.now()).to_std().unwrap_or_default(),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = shared.stop.cancelled() => return,
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
    use super::{canonical, python_time};
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_empty_is_none() {
        assert_eq!(
            canonical(&json!({"unit": "seconds", "delta": 5})),
            canonical(&json!({"delta": 5, "unit": "seconds"}))
        );
        assert_eq!(canonical(&json!({})), canonical(&json!(null)));
        assert_ne!(
            canonical(&json!({"delta": 5})),
            canonical(&json!({"delta": 6}))
        );
    }

    #[test]
    fn executed_at_is_written_as_stackstorm_writes_it() {
        let t = "2026-01-02T03:04:05.5Z".parse().unwrap();
        assert_eq!(python_time(t), "2026-01-02 03:04:05.500000+00:00");
    }
}
