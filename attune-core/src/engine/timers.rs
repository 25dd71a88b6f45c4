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
}

/// The key of a timer: its trigger type and its parameters as canonical JSON (keys sorted),
/// so that rules writing the same parameters share it.
fn key(trigger: &str, params: &Value) -> String {
    format!("{trigger} {}", canonical(params))
}

/// `v` as JSON with object keys sorted (`{}` and `null` alike), for comparing parameters.
pub(crate) fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "null".into(),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

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
                wanted.insert(
                    k,
                    Timer {
                        trigger: trigger.to_string(),
                        params: params.clone(),
                        schedule,
                        started: now,
                        next,
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

/// Fires the due timers: one event each, with how many fires it slept through.
async fn fire_due(shared: &Arc<Shared>, timers: &mut HashMap<String, Timer>, now: DateTime<Utc>) {
    let engine = Engine::internal(shared.clone());
    for t in timers.values_mut() {
        let Some(due) = t.next.filter(|d| *d <= now) else {
            continue;
        };
        // Fires between the one due and now that were slept through; the first after now is
        // the next one.
        let mut missed = 0u64;
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
        let mut payload = json!({
            "executed_at": python_time(now),
            "schedule": schedule_of(&t.params),
        });
        if missed > 0 {
            payload["missed"] = json!(missed);
        }
        let fired = engine
            .emit_instance(
                &t.trigger,
                payload,
                Some("timer".into()),
                Some(t.params.clone()),
                None,
            )
            .await;
        if let Err(e) = fired {
            tracing::warn!(trigger = %t.trigger, error = %e, "timer event not emitted");
        }
        t.next = next;
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
