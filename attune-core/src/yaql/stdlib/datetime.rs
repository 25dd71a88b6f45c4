//! Dates and times: `datetime(...)`, `timespan(...)`, `now()`, `localtz()`, `utctz()`,
//! their properties (`$.year`, `$.days`, …) and arithmetic, `isDatetime`, `isTimespan`.
//! `datetime(string, format)` reads strftime formats as chrono does.

use super::{Args, Builtin, values};
use crate::yaql::ErrorKind;
use crate::yaql::ast::{BinOp, Call};
use crate::yaql::eval::{Machine, R, Scope, err};
use crate::yaql::value::{Kind, Num, Val, seconds};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeDelta, Timelike};

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "datetime" => datetime,
        "timespan" => timespan,
        "now" => now,
        "localtz" | "utctz" => tz,
        "isDatetime" | "isTimespan" => is_kind,
        _ => return None,
    })
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset")
}

fn micros(f: f64) -> TimeDelta {
    TimeDelta::microseconds((f * 1e6).round() as i64)
}

/// Parses the date-time strings YAQL accepts most often (ISO 8601 forms, `YYYY-M-D`,
/// `YYYYMMDD`); a string without an offset is UTC.
fn parse(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d);
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%:z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d);
        }
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().fixed_offset());
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d.and_hms_opt(0, 0, 0).map(|x| x.and_utc().fixed_offset());
        }
    }
    None
}

fn datetime<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let a = Args::of(c);
    let mut parts: Vec<(String, Val<'a>)> = Vec::new();
    let names = [
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "microsecond",
        "offset",
    ];
    let mut pos = Vec::new();
    pos.extend(r);
    for x in &a.pos {
        pos.push(m.eval(x, sc)?);
    }
    if a.named.is_empty() {
        match pos.as_slice() {
            [s] if s.kind() == Kind::Str => {
                let s = s.as_str().unwrap_or("");
                return parse(s).map(Val::DateTime).ok_or_else(|| {
                    err(
                        ErrorKind::Value,
                        format!("datetime(): cannot read '{s}' as a date and time"),
                    )
                });
            }
            [ts] if matches!(ts.kind(), Kind::Int | Kind::Float) => {
                let f = ts.as_num().map_or(0.0, Num::f);
                return DateTime::from_timestamp_micros((f * 1e6).round() as i64)
                    .map(|d| Val::DateTime(d.fixed_offset()))
                    .ok_or_else(|| err(ErrorKind::Value, "datetime(): timestamp out of range"));
            }
            [t, f] if f.kind() == Kind::Str && t.kind() == Kind::Str => {
                let (t, f) = (t.as_str().unwrap_or(""), f.as_str().unwrap_or(""));
                if let Ok(d) = DateTime::parse_from_str(t, f) {
                    return Ok(Val::DateTime(d));
                }
                return NaiveDateTime::parse_from_str(t, f)
                    .map(|d| Val::DateTime(d.and_utc().fixed_offset()))
                    .map_err(|e| {
                        err(
                            ErrorKind::Value,
                            format!("datetime(): '{t}' does not match '{f}': {e}"),
                        )
                    });
            }
            _ => {}
        }
    }
    for (i, v) in pos.into_iter().enumerate() {
        let n = names.get(i).ok_or_else(|| {
            a.bad("(year, month, day, hour?, minute?, second?, microsecond?, offset?)")
        })?;
        parts.push(((*n).to_string(), v));
    }
    for (k, x) in &a.named {
        if !names.contains(&&**k) {
            return Err(err(
                ErrorKind::NoMatchingFunction,
                format!("datetime() has no argument '{k}'"),
            ));
        }
        parts.push((k.to_string(), m.eval(x, sc)?));
    }
    let get = |n: &str, d: i64| -> R<i64> {
        match parts.iter().find(|(k, _)| k == n) {
            Some((_, v)) => v.as_int().ok_or_else(|| {
                err(
                    ErrorKind::NoMatchingFunction,
                    format!("datetime(): '{n}' must be an integer"),
                )
            }),
            None => Ok(d),
        }
    };
    let offset = match parts.iter().find(|(k, _)| k == "offset") {
        Some((_, Val::TimeSpan(t))) => {
            FixedOffset::east_opt(t.num_seconds() as i32).unwrap_or_else(utc)
        }
        Some(_) => {
            return Err(err(
                ErrorKind::NoMatchingFunction,
                "datetime(): 'offset' must be a timespan",
            ));
        }
        None => utc(),
    };
    let bad = || err(ErrorKind::Value, "datetime(): not a valid date and time");
    let date = NaiveDate::from_ymd_opt(
        get("year", 1)? as i32,
        get("month", 1)? as u32,
        get("day", 1)? as u32,
    )
    .ok_or_else(bad)?;
    let t = date
        .and_hms_micro_opt(
            get("hour", 0)? as u32,
            get("minute", 0)? as u32,
            get("second", 0)? as u32,
            get("microsecond", 0)? as u32,
        )
        .ok_or_else(bad)?;
    t.and_local_timezone(offset)
        .single()
        .map(Val::DateTime)
        .ok_or_else(bad)
}

fn timespan<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let a = Args::of(c);
    if r.is_some() || !a.pos.is_empty() {
        return Err(a.bad("named parts: days, hours, minutes, seconds, milliseconds, microseconds"));
    }
    let mut total = 0f64;
    for (k, x) in &a.named {
        let unit = match &**k {
            "days" => 86400.0,
            "hours" => 3600.0,
            "minutes" => 60.0,
            "seconds" => 1.0,
            "milliseconds" => 1e-3,
            "microseconds" => 1e-6,
            other => {
                return Err(err(
                    ErrorKind::NoMatchingFunction,
                    format!("timespan() has no argument '{other}'"),
                ));
            }
        };
        let v = m.eval(x, sc)?;
        let n = v.as_num().ok_or_else(|| a.bad("numbers"))?;
        total += n.f() * unit;
    }
    Ok(Val::TimeSpan(micros(total)))
}

fn now<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 0, 1, "(offset?)")?;
    let off = match v.first() {
        Some(Val::TimeSpan(t)) => FixedOffset::east_opt(t.num_seconds() as i32).unwrap_or_else(utc),
        Some(_) => return Err(Args::of(c).bad("a timespan offset")),
        None => utc(),
    };
    Ok(Val::DateTime(chrono::Utc::now().with_timezone(&off)))
}

/// `localtz()`: the local offset (this engine runs in UTC: zero); `utctz()`: zero.
fn tz<'a>(m: &mut Machine<'_, 'a>, sc: &Scope<'_, 'a>, c: &Call, r: Option<Val<'a>>) -> R<Val<'a>> {
    values(m, sc, c, r, 0, 0, "no arguments")?;
    Ok(Val::TimeSpan(TimeDelta::zero()))
}

fn is_kind<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(
        v[0].kind()
            == if &*c.name == "isDatetime" {
                Kind::DateTime
            } else {
                Kind::TimeSpan
            },
    ))
}

/// A property of a date-time or time span (`$.year`, `$.days`).
pub(crate) fn property<'a>(v: &Val<'a>, name: &str) -> R<Val<'a>> {
    let unknown = || {
        err(
            ErrorKind::NoFunction,
            format!("unknown property '{name}' of a {}", v.kind().name()),
        )
    };
    match v {
        Val::DateTime(d) => Ok(match name {
            "year" => Val::Int(i64::from(d.year())),
            "month" => Val::Int(i64::from(d.month())),
            "day" => Val::Int(i64::from(d.day())),
            "hour" => Val::Int(i64::from(d.hour())),
            "minute" => Val::Int(i64::from(d.minute())),
            "second" => Val::Int(i64::from(d.second())),
            "microsecond" => Val::Int(i64::from(d.nanosecond() / 1000)),
            "timestamp" => Val::Float(d.timestamp_micros() as f64 / 1e6),
            "weekday" => Val::Int(i64::from(d.weekday().num_days_from_monday())),
            "offset" => Val::TimeSpan(TimeDelta::seconds(i64::from(d.offset().local_minus_utc()))),
            "time" => Val::TimeSpan(d.time() - chrono::NaiveTime::MIN),
            "date" => Val::DateTime(
                d.date_naive()
                    .and_hms_opt(0, 0, 0)
                    .and_then(|x| x.and_local_timezone(*d.offset()).single())
                    .ok_or_else(unknown)?,
            ),
            "utc" => Val::DateTime(d.with_timezone(&utc())),
            _ => return Err(unknown()),
        }),
        Val::TimeSpan(t) => {
            let s = seconds(t);
            Ok(match name {
                "days" => Val::Float(s / 86400.0),
                "hours" => Val::Float(s / 3600.0),
                "minutes" => Val::Float(s / 60.0),
                "seconds" => Val::Float(s),
                "milliseconds" => Val::Float(s * 1e3),
                "microseconds" => Val::Int(t.num_microseconds().unwrap_or(i64::MAX)),
                _ => return Err(unknown()),
            })
        }
        _ => Err(unknown()),
    }
}

/// Arithmetic with dates, time spans and sets; `None` when `op` does not apply to them.
pub(crate) fn arith<'a>(op: BinOp, l: &Val<'a>, r: &Val<'a>) -> Option<R<Val<'a>>> {
    use BinOp::*;
    let range = || err(ErrorKind::Value, "date arithmetic out of range");
    Some(match (op, l, r) {
        (Add, Val::DateTime(d), Val::TimeSpan(t)) | (Add, Val::TimeSpan(t), Val::DateTime(d)) => d
            .checked_add_signed(*t)
            .map(Val::DateTime)
            .ok_or_else(range),
        (Sub, Val::DateTime(d), Val::TimeSpan(t)) => d
            .checked_sub_signed(*t)
            .map(Val::DateTime)
            .ok_or_else(range),
        (Sub, Val::DateTime(a), Val::DateTime(b)) => Ok(Val::TimeSpan(*a - *b)),
        (Add, Val::TimeSpan(a), Val::TimeSpan(b)) => Ok(Val::TimeSpan(*a + *b)),
        (Sub, Val::TimeSpan(a), Val::TimeSpan(b)) => Ok(Val::TimeSpan(*a - *b)),
        (Div, Val::TimeSpan(a), Val::TimeSpan(b)) => {
            if b.is_zero() {
                Err(err(ErrorKind::Value, "division by zero"))
            } else {
                Ok(Val::Float(seconds(a) / seconds(b)))
            }
        }
        (Mul, Val::TimeSpan(t), n) | (Mul, n, Val::TimeSpan(t)) if n.as_num().is_some() => Ok(
            Val::TimeSpan(micros(seconds(t) * n.as_num().map_or(0.0, Num::f))),
        ),
        (Div, Val::TimeSpan(t), n) if n.as_num().is_some() => {
            let n = n.as_num().map_or(0.0, Num::f);
            if n == 0.0 {
                Err(err(ErrorKind::Value, "division by zero"))
            } else {
                Ok(Val::TimeSpan(micros(seconds(t) / n)))
            }
        }
        (Add | Sub, Val::Set(_), Val::Set(_)) => {
            let (a, b) = (l.items().unwrap_or_default(), r.items().unwrap_or_default());
            Ok(super::collections::set_op(
                if op == Add { "union" } else { "difference" },
                a,
                b,
            ))
        }
        (Mul, Val::List(_) | Val::Json(serde_json::Value::Array(_)), n)
        | (Mul, n, Val::List(_) | Val::Json(serde_json::Value::Array(_)))
            if n.as_int().is_some() =>
        {
            let list = if n.as_int().is_some() && l.as_int().is_some() {
                r
            } else {
                l
            };
            let items = list.items().unwrap_or_default();
            let times = n.as_int().unwrap_or(0).max(0) as usize;
            if items.len().saturating_mul(times) > 1_000_000 {
                return Some(Err(err(ErrorKind::Limit, "list repetition too large")));
            }
            Ok(Val::list(
                items
                    .iter()
                    .cloned()
                    .cycle()
                    .take(items.len() * times)
                    .collect(),
            ))
        }
        _ => return None,
    })
}

/// `date.replace(year => …, month => …, …)`: the date with those parts changed.
pub(super) fn replace<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    d: Val<'a>,
) -> R<Val<'a>> {
    let Val::DateTime(mut d) = d else {
        return Err(Args::of(c).bad("a datetime"));
    };
    let a = Args::of(c);
    if !a.pos.is_empty() {
        return Err(a.bad("named parts: year, month, day, hour, minute, second, microsecond"));
    }
    let bad = |k: &str| err(ErrorKind::Value, format!("replace(): '{k}' out of range"));
    for (k, x) in &a.named {
        let v = m
            .eval(x, sc)?
            .as_int()
            .ok_or_else(|| a.bad("integer parts"))?;
        let n = u32::try_from(v).map_err(|_| bad(k))?;
        d = match &**k {
            "year" => d.with_year(v as i32),
            "month" => d.with_month(n),
            "day" => d.with_day(n),
            "hour" => d.with_hour(n),
            "minute" => d.with_minute(n),
            "second" => d.with_second(n),
            "microsecond" => d.with_nanosecond(n.saturating_mul(1000)),
            other => {
                return Err(err(
                    ErrorKind::NoMatchingFunction,
                    format!("replace() has no part '{other}'"),
                ));
            }
        }
        .ok_or_else(|| bad(k))?;
    }
    Ok(Val::DateTime(d))
}
