//! `to_human_time_from_seconds(seconds)`.

use super::{Call, FilterResult, py_float};
use chrono::{Datelike, NaiveDate, TimeDelta, Timelike};
use minijinja::Value as JValue;
use minijinja::value::ValueKind;

/// `to_human_time_from_seconds(seconds)`: `0s`; below one second the number itself with
/// `μs` (as StackStorm writes it); else `[Ny][Nd][Nh][Nm]Ns` from the first unit that is not
/// zero, a float rounded (half to even) first. As in StackStorm, days are the day of the
/// month of 0001-01-01 plus the duration, so beyond a year the months are not counted.
pub(super) fn to_human_time_from_seconds(call: &Call) -> FilterResult {
    let v = call.value();
    if v.kind() != ValueKind::Number {
        return Err(call.wrong_type(0, "a number", v));
    }
    let (float, int) = match i64::try_from(v.clone()) {
        Ok(i) if v.is_integer() => (None, i),
        _ => {
            let x = f64::try_from(v.clone()).map_err(|_| call.wrong_type(0, "a number", v))?;
            (Some(x), 0)
        }
    };
    let number = float.map_or_else(|| int.to_string(), py_float);
    let below_one = float.map_or(int < 1, |x| x < 1.0);
    if float.map_or(int == 0, |x| x == 0.0) {
        return Ok(JValue::from("0s"));
    }
    if below_one {
        return Ok(JValue::from(format!("{number}μs")));
    }
    let seconds = match float {
        Some(x) => {
            let r = x.round_ties_even();
            if r >= i64::MAX as f64 {
                return Err(call.error("got a number of seconds too large for a date"));
            }
            r as i64
        }
        None => int,
    };
    let at = NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| TimeDelta::try_seconds(seconds).and_then(|t| d.checked_add_signed(t)))
        .filter(|d| d.year() <= 9999)
        .ok_or_else(|| call.error("got a number of seconds too large for a date"))?;
    let parts = [
        (i64::from(at.year() - 1), "y"),
        (i64::from(at.day() - 1), "d"),
        (i64::from(at.hour()), "h"),
        (i64::from(at.minute()), "m"),
        (i64::from(at.second()), "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n != 0).unwrap_or(4);
    let out: String = parts[first..]
        .iter()
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    Ok(JValue::from(out))
}
