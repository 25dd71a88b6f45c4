use super::Schedule;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn schedule(trigger: &str, params: Value) -> Schedule {
    Schedule::of_trigger(trigger, &params)
        .unwrap_or_else(|e| panic!("{params}: {e}"))
        .expect("a timer")
}

/// The next `n` fires after `from`, for a timer started then.
fn fires(s: &Schedule, from: &str, n: usize) -> Vec<String> {
    let start = t(from);
    let mut at = start;
    let mut out = Vec::new();
    for _ in 0..n {
        match s.next_after(at, start) {
            Some(next) => {
                out.push(next.to_rfc3339());
                at = next;
            }
            None => break,
        }
    }
    out
}

#[test]
fn intervals_count_from_the_start_in_their_unit() {
    let s = schedule(
        "core.st2.IntervalTimer",
        json!({"unit": "minutes", "delta": 5}),
    );
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00"]
    );
    // A late look skips to the next tick of the grid, not a burst.
    assert_eq!(
        s.next_after(t("2026-01-01T01:02:03Z"), t("2026-01-01T00:00:00Z"))
            .unwrap()
            .to_rfc3339(),
        "2026-01-01T01:05:00+00:00"
    );
    let s = schedule("core.intervaltimer", json!({"interval": 2}));
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-01-01T00:00:02+00:00"]
    );
}

#[test]
fn cron_expressions_have_5_or_6_fields_and_a_time_zone() {
    let s = schedule("core.crontimer", json!({"expression": "30 9 * * mon-fri"}));
    // 2026-01-02 is a Friday.
    assert_eq!(
        fires(&s, "2026-01-02T10:00:00Z", 2),
        ["2026-01-05T09:30:00+00:00", "2026-01-06T09:30:00+00:00"]
    );
    let s = schedule(
        "core.st2.CronTimer",
        json!({"expression": "*/20 * * * * *", "timezone": "America/New_York"}),
    );
    assert_eq!(
        fires(&s, "2026-01-01T00:00:01Z", 2),
        ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00"]
    );
    let s = schedule(
        "core.crontimer",
        json!({"expression": "0 9 * * *", "timezone": "America/New_York"}),
    );
    // 09:00 in New York is 14:00 UTC in winter, 13:00 in summer.
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-01-01T14:00:00+00:00"]
    );
    assert_eq!(
        fires(&s, "2026-07-01T00:00:00Z", 1),
        ["2026-07-01T13:00:00+00:00"]
    );
    assert_eq!(s.cron_expression(), Some("0 0 9 * * *"));
}

#[test]
fn stackstorm_cron_fields_follow_apscheduler() {
    // Fields below the least significant one given are their minimum, above it `*`.
    let s = schedule("core.st2.CronTimer", json!({"hour": 2}));
    assert_eq!(
        fires(&s, "2026-01-01T03:00:00Z", 2),
        ["2026-01-02T02:00:00+00:00", "2026-01-03T02:00:00+00:00"]
    );
    let s = schedule("core.st2.CronTimer", json!({"minute": "*/15"}));
    assert_eq!(
        fires(&s, "2026-01-01T00:01:00Z", 2),
        ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]
    );
    // day_of_week counts from Monday = 0, as APScheduler does: 0 is Monday, 6 Sunday.
    let s = schedule("core.st2.CronTimer", json!({"day_of_week": 0, "hour": 8}));
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-01-05T08:00:00+00:00"]
    );
    let s = schedule(
        "core.st2.CronTimer",
        json!({"day_of_week": "5-6", "hour": 8}),
    );
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-01-03T08:00:00+00:00", "2026-01-04T08:00:00+00:00"]
    );
    let s = schedule(
        "core.st2.CronTimer",
        json!({"day_of_week": "sun", "hour": 8}),
    );
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-01-04T08:00:00+00:00"]
    );
    let s = schedule(
        "core.st2.CronTimer",
        json!({"year": 2027, "month": 3, "day": 1}),
    );
    assert_eq!(
        fires(&s, "2026-01-01T00:00:00Z", 2),
        ["2027-03-01T00:00:00+00:00"]
    );
}

#[test]
fn cron_is_dst_correct() {
    // Paris skips 02:00–03:00 on 29 March 2026 and repeats 02:00–03:00 on 25 October.
    let s = schedule(
        "core.crontimer",
        json!({"expression": "30 2 * * *", "timezone": "Europe/Paris"}),
    );
    // 02:30 does not exist on the 29th: it fires once, when the clocks jumped past it
    // (03:00 summer time), and at 02:30 again the next day.
    assert_eq!(
        fires(&s, "2026-03-28T12:00:00Z", 3),
        [
            "2026-03-29T01:00:00+00:00",
            "2026-03-30T00:30:00+00:00",
            "2026-03-31T00:30:00+00:00"
        ]
    );
    let autumn = fires(&s, "2026-10-24T12:00:00Z", 3);
    let on_the_25th = autumn
        .iter()
        .filter(|f| f.starts_with("2026-10-25"))
        .count();
    assert_eq!(on_the_25th, 1, "{autumn:?}");
}

#[test]
fn one_shot_times_fire_once() {
    let s = schedule(
        "core.st2.DateTimer",
        json!({"date": "2026-12-24 18:00:00", "timezone": "Europe/Paris"}),
    );
    assert_eq!(
        fires(&s, "2026-12-01T00:00:00Z", 3),
        ["2026-12-24T17:00:00+00:00"]
    );
    let s = schedule(
        "core.datetimetimer",
        json!({"fire_at": "2026-12-24T18:00:00+01:00"}),
    );
    assert_eq!(
        fires(&s, "2026-12-01T00:00:00Z", 1),
        ["2026-12-24T17:00:00+00:00"]
    );
    assert_eq!(fires(&s, "2026-12-25T00:00:00Z", 1), Vec::<String>::new());
}

#[test]
fn not_a_timer_is_none() {
    assert!(
        Schedule::of_trigger("p.alert", &json!({"x": 1}))
            .unwrap()
            .is_none()
    );
}

#[test]
fn bad_parameters_are_errors_naming_them() {
    for (trigger, params, want) in [
        ("core.intervaltimer", json!({}), "parameter 'delta'"),
        ("core.intervaltimer", json!({"delta": 0}), "at least 1"),
        (
            "core.intervaltimer",
            json!({"delta": 5, "unit": "fortnights"}),
            "'fortnights' is not one of",
        ),
        (
            "core.intervaltimer",
            json!({"delta": 5, "every": 1}),
            "parameter 'every'",
        ),
        (
            "core.crontimer",
            json!({"expression": "* * *"}),
            "has 3 fields",
        ),
        (
            "core.crontimer",
            json!({"expression": "61 * * * *"}),
            "not a cron schedule",
        ),
        (
            "core.crontimer",
            json!({"expression": "0 0 30 2 *"}),
            "never fires",
        ),
        (
            "core.crontimer",
            json!({"expression": "0 * * * *", "hour": 1}),
            "not both",
        ),
        (
            "core.crontimer",
            json!({"hour": 1, "timezone": "Mars/Olympus"}),
            "'Mars/Olympus' is not a time zone",
        ),
        ("core.crontimer", json!({"week": 3}), "parameter 'week'"),
        (
            "core.crontimer",
            json!({"day_of_week": 7}),
            "7 is not a day",
        ),
        ("core.crontimer", json!({}), "at least one cron field"),
        (
            "core.datetimetimer",
            json!({"date": "next tuesday"}),
            "is not a time",
        ),
        (
            "core.datetimetimer",
            json!({"date": "2026-03-29 02:30", "timezone": "Europe/Paris"}),
            "does not exist in Europe/Paris",
        ),
        ("core.datetimetimer", json!([1]), "must be a mapping"),
    ] {
        let err = Schedule::of_trigger(trigger, &params)
            .err()
            .unwrap_or_else(|| panic!("{trigger} {params} accepted"))
            .to_string();
        assert!(err.contains(want), "{trigger} {params}: {err}");
    }
}
