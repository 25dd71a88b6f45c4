//! Timer schedules: when StackStorm's timer trigger types fire, read from a rule's trigger
//! parameters. Pure: no clock, no I/O — the caller says what "now" is.
//!
//! * `core.intervaltimer` (`core.st2.IntervalTimer`): every `delta` (StackStorm's name;
//!   `interval` is accepted too) `unit`s (`weeks`, `days`, `hours`, `minutes`, `seconds`,
//!   default `seconds`), counted from when the timer started, as APScheduler's interval
//!   trigger does.
//! * `core.crontimer` (`core.st2.CronTimer`): a cron `expression` (5 fields, or 6 with
//!   seconds first; `L`, `#`, `W` and names allowed), or StackStorm's fields (APScheduler's
//!   `CronTrigger`: `year`, `month`, `day`, `day_of_week`, `hour`, `minute`, `second`; a field
//!   left out is `*` when it is more significant than the least significant one given, else
//!   its minimum; `day_of_week` counts from Monday = 0), in `timezone` (an IANA name, default
//!   `UTC`), DST-correct: a time that does not exist that day fires once the clocks jumped
//!   past it (at 03:00 for 02:30 in Paris on the spring change), one that exists twice fires
//!   once. `week` (ISO week number) is refused, naming it.
//! * `core.datetimetimer` (`core.st2.DateTimer`): once at `date` (StackStorm's name;
//!   `fire_at` is accepted too), an RFC 3339 time, or a local `YYYY-MM-DD HH:MM[:SS]` in
//!   `timezone`.
//!
//! A parameter these do not know, a bad value, or a schedule that never fires is an error
//! naming the parameter.
//!
//! ```
//! use attune_core::timer::Schedule;
//! use serde_json::json;
//!
//! let s = Schedule::of_trigger(
//!     "core.st2.CronTimer",
//!     &json!({"hour": 2, "timezone": "Europe/Paris"}),
//! )?
//! .expect("a timer");
//! let now = "2026-03-28T12:00:00Z".parse().unwrap();
//! // 02:00 does not exist in Paris on 29 March 2026 (the clocks go from 02:00 to 03:00):
//! // it fires at 03:00 summer time, 01:00 UTC.
//! let first = s.next_after(now, now).unwrap();
//! assert_eq!(first.to_rfc3339(), "2026-03-29T01:00:00+00:00");
//! assert_eq!(s.next_after(first, now).unwrap().to_rfc3339(), "2026-03-30T00:00:00+00:00");
//! # Ok::<(), attune_core::Error>(())
//! ```

use crate::{Error, Result};
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::{Map, Value};

/// When a timer fires.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every `every`, counted from the timer's start.
    Interval {
        /// The period (at least one second).
        every: TimeDelta,
    },
    /// On a cron schedule in a time zone.
    Cron {
        /// The schedule.
        cron: Box<Cron>,
        /// The time zone its fields are read in.
        tz: Tz,
        /// The expression (6 or 7 fields: seconds first, the year last when given).
        expression: String,
    },
    /// Once.
    Once {
        /// The time.
        at: DateTime<Utc>,
    },
}

/// The trigger types that are timers, by Attune's names.
pub const TIMER_TRIGGERS: &[&str] = &["core.intervaltimer", "core.crontimer", "core.datetimetimer"];

impl Schedule {
    /// The schedule of a timer trigger type (Attune's or StackStorm's name) with `params`
    /// (its rule's trigger parameters); `None` when `trigger` is not a timer. Errors name
    /// the parameter and what is wrong.
    pub fn of_trigger(trigger: &str, params: &Value) -> Result<Option<Schedule>> {
        let trigger = crate::pack::canonical_trigger(trigger);
        if !TIMER_TRIGGERS.contains(&trigger) {
            return Ok(None);
        }
        let empty = Map::new();
        let p = match params {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                return Err(bad(
                    trigger,
                    "parameters",
                    format!("must be a mapping, got {other}"),
                ));
            }
        };
        let s = match trigger {
            "core.intervaltimer" => interval(trigger, p)?,
            "core.crontimer" => cron(trigger, p)?,
            _ => once(trigger, p)?,
        };
        Ok(Some(s))
    }

    /// The first fire strictly after `after`, for a timer started at `started` (intervals
    /// count from it); `None` when it fires no more (a one-shot time passed).
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        started: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Interval { every } => {
                let step = every.num_milliseconds().max(1);
                let since = (after - started).num_milliseconds();
                let k = if since < 0 { 1 } else { since / step + 1 };
                started.checked_add_signed(TimeDelta::milliseconds(step.checked_mul(k)?))
            }
            Schedule::Cron { cron, tz, .. } => cron
                .find_next_occurrence(&after.with_timezone(tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            Schedule::Once { at } => (*at > after).then_some(*at),
        }
    }

    /// The cron expression this schedule follows (6 or 7 fields, seconds first), for a
    /// cron timer: what StackStorm's fields became.
    pub fn cron_expression(&self) -> Option<&str> {
        match self {
            Schedule::Cron { expression, .. } => Some(expression),
            _ => None,
        }
    }
}

fn bad(trigger: &str, param: &str, why: impl Into<String>) -> Error {
    Error::invalid(format!("{trigger} parameter '{param}'"), why.into())
}

/// Attune's `catch_up` parameter of interval and cron timers: whether the fires missed
/// while no engine ran come as one event each at the next start (else one event with
/// `missed: N`).
pub fn catch_up(trigger: &str, p: &Map<String, Value>) -> Result<bool> {
    match p.get("catch_up") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(
            trigger,
            "catch_up",
            format!("must be true or false, got {other}"),
        )),
    }
}

/// Refuses the parameters `p` has beyond `known`.
fn only(trigger: &str, p: &Map<String, Value>, known: &[&str]) -> Result<()> {
    match p.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(bad(
            trigger,
            k,
            format!(
                "is not a parameter of this timer (it has: {})",
                known.join(", ")
            ),
        )),
    }
}

fn interval(trigger: &str, p: &Map<String, Value>) -> Result<Schedule> {
    only(trigger, p, &["unit", "delta", "interval", "catch_up"])?;
    catch_up(trigger, p)?;
    let unit = match p.get("unit") {
        None | Some(Value::Null) => "seconds",
        Some(Value::String(u)) => u.as_str(),
        Some(other) => {
            return Err(bad(
                trigger,
                "unit",
                format!("must be a string, got {other}"),
            ));
        }
    };
    let secs_per: i64 = match unit {
        "weeks" => 7 * 86_400,
        "days" => 86_400,
        "hours" => 3_600,
        "minutes" => 60,
        "seconds" => 1,
        other => {
            return Err(bad(
                trigger,
                "unit",
                format!("'{other}' is not one of weeks, days, hours, minutes, seconds"),
            ));
        }
    };
    let (name, delta) = one_of(trigger, p, "delta", "interval")?;
    let n = delta.as_i64().filter(|n| *n >= 1).ok_or_else(|| {
        bad(
            trigger,
            name,
            format!("must be a whole number of at least 1, got {delta}"),
        )
    })?;
    let secs = n
        .checked_mul(secs_per)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .ok_or_else(|| bad(trigger, name, "is longer than 100 years"))?;
    Ok(Schedule::Interval {
        every: TimeDelta::seconds(secs),
    })
}

/// The value of the required parameter `name`, which may be given as `alias` instead (not
/// both), with the name it was given as.
fn one_of<'a>(
    trigger: &str,
    p: &'a Map<String, Value>,
    name: &'static str,
    alias: &'static str,
) -> Result<(&'static str, &'a Value)> {
    match (p.get(name), p.get(alias)) {
        (Some(v), None) => Ok((name, v)),
        (None, Some(v)) => Ok((alias, v)),
        (None, None) => Err(bad(trigger, name, "is required")),
        (Some(_), Some(_)) => Err(bad(
            trigger,
            alias,
            format!("give {name} or {alias}, not both"),
        )),
    }
}

fn zone(trigger: &str, p: &Map<String, Value>) -> Result<Tz> {
    match p.get("timezone") {
        None | Some(Value::Null) => Ok(Tz::UTC),
        Some(Value::String(name)) => name.parse::<Tz>().map_err(|_| {
            bad(
                trigger,
                "timezone",
                format!(
                    "'{name}' is not a time zone name (an IANA name such as UTC or Europe/Paris)"
                ),
            )
        }),
        Some(other) => Err(bad(
            trigger,
            "timezone",
            format!("must be a string, got {other}"),
        )),
    }
}

/// APScheduler's cron fields, most significant first, with their minimum.
const FIELDS: &[(&str, &str)] = &[
    ("year", "*"),
    ("month", "1"),
    ("day", "1"),
    ("day_of_week", "*"),
    ("hour", "0"),
    ("minute", "0"),
    ("second", "0"),
];

fn cron(trigger: &str, p: &Map<String, Value>) -> Result<Schedule> {
    let mut known: Vec<&str> = FIELDS.iter().map(|(f, _)| *f).collect();
    known.extend(["expression", "timezone", "week", "catch_up"]);
    only(trigger, p, &known)?;
    catch_up(trigger, p)?;
    let tz = zone(trigger, p)?;
    if p.get("week").is_some_and(|w| !w.is_null() && w != "*") {
        return Err(bad(
            trigger,
            "week",
            "ISO week numbers are not supported: use day, day_of_week or an expression",
        ));
    }
    let given = |f: &str| p.get(f).filter(|v| !v.is_null());
    let (expression, from) = match given("expression") {
        Some(Value::String(e)) => {
            if let Some(f) = FIELDS.iter().find(|(f, _)| given(f).is_some()) {
                return Err(bad(
                    trigger,
                    f.0,
                    "give an expression or the cron fields, not both",
                ));
            }
            let fields = e.split_whitespace().count();
            let e = match fields {
                5 => format!("0 {e}"),
                6 => e.clone(),
                n => {
                    return Err(bad(
                        trigger,
                        "expression",
                        format!("'{e}' has {n} fields: give 5 (minute first) or 6 (second first)"),
                    ));
                }
            };
            (e, "expression")
        }
        Some(other) => {
            return Err(bad(
                trigger,
                "expression",
                format!("must be a string, got {other}"),
            ));
        }
        None => (fields_expression(trigger, p)?, "the cron fields"),
    };
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Optional)
        .build();
    let cron = parser.parse(&expression).map_err(|e| {
        bad(
            trigger,
            if from == "expression" {
                "expression"
            } else {
                "second"
            },
            format!("{from} make '{expression}', which is not a cron schedule: {e}"),
        )
    })?;
    let s = Schedule::Cron {
        cron: Box::new(cron),
        tz,
        expression,
    };
    // A schedule that never fires (30 February) is an error, not a silent timer.
    let probe = Utc::now();
    if s.next_after(probe, probe).is_none() {
        return Err(bad(trigger, from, "never fires"));
    }
    Ok(s)
}

/// The 6- or 7-field expression of StackStorm's (APScheduler's) cron fields.
fn fields_expression(trigger: &str, p: &Map<String, Value>) -> Result<String> {
    let text = |f: &str| -> Result<Option<String>> {
        match p.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
            Some(Value::String(s)) if !s.trim().is_empty() && !s.contains(char::is_whitespace) => {
                Ok(Some(s.clone()))
            }
            Some(other) => Err(bad(
                trigger,
                f,
                format!("must be a number or one cron field (such as */5 or mon-fri), got {other}"),
            )),
        }
    };
    let least = FIELDS
        .iter()
        .rposition(|(f, _)| p.get(*f).is_some_and(|v| !v.is_null()));
    let Some(least) = least else {
        return Err(bad(
            trigger,
            "expression",
            "give an expression or at least one cron field",
        ));
    };
    let mut out = std::collections::HashMap::new();
    for (i, (f, min)) in FIELDS.iter().enumerate() {
        let v = match text(f)? {
            Some(v) if *f == "day_of_week" => monday_first(trigger, &v)?,
            Some(v) => v,
            None if i < least => "*".to_string(),
            None => (*min).to_string(),
        };
        out.insert(*f, v);
    }
    let mut e = format!(
        "{} {} {} {} {} {}",
        out["second"], out["minute"], out["hour"], out["day"], out["month"], out["day_of_week"]
    );
    if out["year"] != "*" {
        e.push(' ');
        e.push_str(&out["year"]);
    }
    Ok(e)
}

/// APScheduler's `day_of_week` numbers (Monday = 0 … Sunday = 6) as cron's (Monday = 1 …
/// Sunday = 7); names are the same in both.
fn monday_first(trigger: &str, v: &str) -> Result<String> {
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| -> Result<()> {
        if digits.is_empty() {
            return Ok(());
        }
        let n: u32 = digits.parse().map_err(|_| {
            bad(
                trigger,
                "day_of_week",
                format!("'{digits}' is not a day number"),
            )
        })?;
        if n > 6 {
            return Err(bad(
                trigger,
                "day_of_week",
                format!("{n} is not a day (0 = Monday … 6 = Sunday, as StackStorm counts)"),
            ));
        }
        out.push_str(&(n + 1).to_string());
        digits.clear();
        Ok(())
    };
    let mut after_slash = false;
    for c in v.chars() {
        if c.is_ascii_digit() {
            if after_slash {
                out.push(c); // a step, not a day
            } else {
                digits.push(c);
            }
            continue;
        }
        flush(&mut digits, &mut out)?;
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut digits, &mut out)?;
    Ok(out)
}

fn once(trigger: &str, p: &Map<String, Value>) -> Result<Schedule> {
    only(trigger, p, &["date", "fire_at", "timezone"])?;
    let tz = zone(trigger, p)?;
    let (name, v) = one_of(trigger, p, "date", "fire_at")?;
    let Value::String(text) = v else {
        return Err(bad(trigger, name, format!("must be a string, got {v}")));
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Schedule::Once {
            at: t.with_timezone(&Utc),
        });
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(|| {
        bad(
            trigger,
            name,
            format!("'{text}' is not a time (RFC 3339, or YYYY-MM-DD HH:MM[:SS] in the timezone)"),
        )
    })?;
    let local = tz.from_local_datetime(&naive);
    let at = local.earliest().ok_or_else(|| {
        bad(
            trigger,
            name,
            format!(
                "{text} does not exist in {} (the clocks skip it)",
                tz.name()
            ),
        )
    })?;
    Ok(Schedule::Once {
        at: at.with_timezone(&Utc),
    })
}

#[cfg(test)]
mod tests;
