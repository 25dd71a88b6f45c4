//! YAQL values: JSON's kinds plus what YAQL adds (sets, maps with any keys, date-times,
//! time spans, regular expressions), and JSON borrowed from the caller without copying.

use chrono::{DateTime, FixedOffset, TimeDelta};
use serde_json::{Map, Number, Value as Json};
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

/// A YAQL value. `'a` is the lifetime of JSON data borrowed from the caller ([`Val::Json`]),
/// which is read where it lies, never copied, until a result is built.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (YAQL's are unbounded; these are 64-bit, and overflow is an error).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// A JSON value borrowed from the data (any kind; read through the accessors).
    Json(&'a Json),
    /// A JSON object borrowed from the data (a map).
    JsonMap(&'a Map<String, Json>),
    /// A list (YAQL's lists and tuples).
    List(Arc<Vec<Val<'a>>>),
    /// A map, in insertion order; keys may be any value.
    Dict(Arc<Vec<(Val<'a>, Val<'a>)>>),
    /// A set, in insertion order, without duplicates.
    Set(Arc<Vec<Val<'a>>>),
    /// A date and time with its UTC offset.
    DateTime(DateTime<FixedOffset>),
    /// A time span (microsecond precision, as Python's `timedelta`).
    TimeSpan(TimeDelta),
    /// A compiled regular expression (`regex(...)`).
    Regex(Arc<regex::Regex>),
}

/// The kind of a value, with JSON resolved: what functions dispatch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
    Set,
    DateTime,
    TimeSpan,
    Regex,
}

impl Kind {
    /// The name used in error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Int => "integer",
            Kind::Float => "number",
            Kind::Str => "string",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::Set => "set",
            Kind::DateTime => "datetime",
            Kind::TimeSpan => "timespan",
            Kind::Regex => "regex",
        }
    }
}

/// A number, int or float.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub(crate) fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

impl<'a> Val<'a> {
    /// A string value.
    pub fn str(s: &str) -> Self {
        Val::Str(Arc::from(s))
    }

    /// A list value.
    pub fn list(items: Vec<Val<'a>>) -> Self {
        Val::List(Arc::new(items))
    }

    /// Converts owned JSON (copies it into YAQL values).
    pub fn from_json(v: &Json) -> Val<'static> {
        match v {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => num_val(n),
            Json::String(s) => Val::str(s),
            Json::Array(a) => Val::list(a.iter().map(Val::from_json).collect()),
            Json::Object(m) => Val::Dict(Arc::new(
                m.iter()
                    .map(|(k, v)| (Val::str(k), Val::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// The kind of value.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Val::Null => Kind::Null,
            Val::Bool(_) => Kind::Bool,
            Val::Int(_) => Kind::Int,
            Val::Float(_) => Kind::Float,
            Val::Str(_) => Kind::Str,
            Val::List(_) => Kind::List,
            Val::Dict(_) => Kind::Dict,
            Val::Set(_) => Kind::Set,
            Val::DateTime(_) => Kind::DateTime,
            Val::TimeSpan(_) => Kind::TimeSpan,
            Val::Regex(_) => Kind::Regex,
            Val::JsonMap(_) => Kind::Dict,
            Val::Json(j) => match j {
                Json::Null => Kind::Null,
                Json::Bool(_) => Kind::Bool,
                Json::Number(n) if n.is_i64() => Kind::Int,
                Json::Number(n) if n.is_u64() => Kind::Float,
                Json::Number(_) => Kind::Float,
                Json::String(_) => Kind::Str,
                Json::Array(_) => Kind::List,
                Json::Object(_) => Kind::Dict,
            },
        }
    }

    /// A scalar JSON value resolved to its own variant (lists and maps stay borrowed).
    pub(crate) fn resolved(self) -> Val<'a> {
        match self {
            Val::Json(j) => match j {
                Json::Null => Val::Null,
                Json::Bool(b) => Val::Bool(*b),
                Json::Number(n) => num_val(n),
                Json::String(s) => Val::str(s),
                _ => Val::Json(j),
            },
            v => v,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Val::Null | Val::Json(Json::Null))
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) | Val::Json(Json::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Json(Json::String(s)) => Some(s),
            _ => None,
        }
    }

    /// A number (not a boolean).
    pub(crate) fn as_num(&self) -> Option<Num> {
        match self {
            Val::Int(i) => Some(Num::Int(*i)),
            Val::Float(f) => Some(Num::Float(*f)),
            Val::Json(Json::Number(n)) => Some(match n.as_i64() {
                Some(i) => Num::Int(i),
                None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            _ => None,
        }
    }

    pub(crate) fn as_int(&self) -> Option<i64> {
        match self.as_num() {
            Some(Num::Int(i)) => Some(i),
            _ => None,
        }
    }

    /// The items of a list or set (JSON arrays included), borrowed JSON items as [`Val::Json`].
    pub(crate) fn items(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::List(l) | Val::Set(l) => Some(l.as_ref().clone()),
            Val::Json(Json::Array(a)) => Some(a.iter().map(Val::Json).collect()),
            _ => None,
        }
    }

    /// How many items a list, set, map or string has.
    pub(crate) fn len(&self) -> Option<usize> {
        match self {
            Val::List(l) | Val::Set(l) => Some(l.len()),
            Val::Dict(d) => Some(d.len()),
            Val::Str(s) => Some(s.chars().count()),
            Val::Json(Json::Array(a)) => Some(a.len()),
            Val::Json(Json::Object(m)) => Some(m.len()),
            Val::JsonMap(m) => Some(m.len()),
            Val::Json(Json::String(s)) => Some(s.chars().count()),
            _ => None,
        }
    }

    /// The entries of a map.
    pub(crate) fn entries(&self) -> Option<Vec<(Val<'a>, Val<'a>)>> {
        match self {
            Val::Dict(d) => Some(d.as_ref().clone()),
            Val::Json(Json::Object(m)) => {
                Some(m.iter().map(|(k, v)| (Val::str(k), Val::Json(v))).collect())
            }
            Val::JsonMap(m) => Some(m.iter().map(|(k, v)| (Val::str(k), Val::Json(v))).collect()),
            _ => None,
        }
    }

    /// The value of `key` in a map (`None`: no such key or not a map).
    pub(crate) fn get(&self, key: &Val<'_>) -> Option<Val<'a>> {
        match self {
            Val::Dict(d) => d
                .iter()
                .find(|(k, _)| equal(k, key))
                .map(|(_, v)| v.clone()),
            Val::Json(Json::Object(m)) => key.as_str().and_then(|k| m.get(k)).map(Val::Json),
            Val::JsonMap(m) => key.as_str().and_then(|k| m.get(k)).map(Val::Json),
            _ => None,
        }
    }

    /// The value of the string key `key` in a map.
    pub(crate) fn get_str(&self, key: &str) -> Option<Val<'a>> {
        match self {
            Val::Json(Json::Object(m)) => m.get(key).map(Val::Json),
            Val::JsonMap(m) => m.get(key).map(Val::Json),
            Val::Dict(d) => d
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// Whether a condition holds: YAQL (Python) truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) | Val::Set(l) => !l.is_empty(),
            Val::Dict(d) => !d.is_empty(),
            Val::DateTime(_) | Val::Regex(_) => true,
            Val::TimeSpan(t) => !t.is_zero(),
            Val::JsonMap(m) => !m.is_empty(),
            Val::Json(j) => match j {
                Json::Null => false,
                Json::Bool(b) => *b,
                Json::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
                Json::String(s) => !s.is_empty(),
                Json::Array(a) => !a.is_empty(),
                Json::Object(m) => !m.is_empty(),
            },
        }
    }

    /// The value as JSON: sets become lists, date-times ISO 8601 strings, time spans
    /// seconds; a map key that is not a string is an error (JSON has none).
    pub fn to_json(&self) -> Result<Json, String> {
        Ok(match self {
            Val::Null => Json::Null,
            Val::Bool(b) => Json::Bool(*b),
            Val::Int(i) => Json::from(*i),
            Val::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Val::Str(s) => Json::String(s.to_string()),
            Val::Json(j) => (*j).clone(),
            Val::JsonMap(m) => Json::Object((*m).clone()),
            Val::List(l) | Val::Set(l) => {
                Json::Array(l.iter().map(Val::to_json).collect::<Result<_, _>>()?)
            }
            Val::Dict(d) => {
                let mut m = Map::with_capacity(d.len());
                for (k, v) in d.iter() {
                    let Some(k) = k.as_str() else {
                        return Err(format!(
                            "a map key that is not a string ({}) has no JSON form",
                            display(k)
                        ));
                    };
                    m.insert(k.to_string(), v.to_json()?);
                }
                Json::Object(m)
            }
            Val::DateTime(d) => Json::String(d.to_rfc3339()),
            Val::TimeSpan(t) => Number::from_f64(seconds(t)).map_or(Json::Null, Json::Number),
            Val::Regex(r) => Json::String(r.as_str().to_string()),
        })
    }
}

/// The seconds of a time span, with its fraction.
pub(crate) fn seconds(t: &TimeDelta) -> f64 {
    t.num_microseconds()
        .map_or(t.num_seconds() as f64, |us| us as f64 / 1e6)
}

fn num_val(n: &Number) -> Val<'static> {
    match n.as_i64() {
        Some(i) => Val::Int(i),
        None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// YAQL's `=`: numbers by value (`1 = 1.0`, `true = 1`), collections item by item, maps by
/// their entries, sets without order.
pub(crate) fn equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    if let (Some(x), Some(y)) = (num_or_bool(a), num_or_bool(b)) {
        return match (x, y) {
            (Num::Int(i), Num::Int(j)) => i == j,
            _ => x.f() == y.f(),
        };
    }
    match (a.kind(), b.kind()) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Str, Kind::Str) => a.as_str() == b.as_str(),
        (Kind::List, Kind::List) => {
            let (x, y) = (a.items().unwrap_or_default(), b.items().unwrap_or_default());
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| equal(p, q))
        }
        (Kind::Set, Kind::Set) => {
            let (x, y) = (a.items().unwrap_or_default(), b.items().unwrap_or_default());
            x.len() == y.len() && x.iter().all(|p| y.iter().any(|q| equal(p, q)))
        }
        (Kind::Dict, Kind::Dict) => {
            let (x, y) = (
                a.entries().unwrap_or_default(),
                b.entries().unwrap_or_default(),
            );
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| equal(v, &w)))
        }
        (Kind::DateTime, Kind::DateTime) => match (a, b) {
            (Val::DateTime(x), Val::DateTime(y)) => x == y,
            _ => false,
        },
        (Kind::TimeSpan, Kind::TimeSpan) => match (a, b) {
            (Val::TimeSpan(x), Val::TimeSpan(y)) => x == y,
            _ => false,
        },
        (Kind::Regex, Kind::Regex) => match (a, b) {
            (Val::Regex(x), Val::Regex(y)) => x.as_str() == y.as_str(),
            _ => false,
        },
        _ => false,
    }
}

fn num_or_bool(v: &Val<'_>) -> Option<Num> {
    v.as_num()
        .or_else(|| v.as_bool().map(|b| Num::Int(i64::from(b))))
}

/// YAQL's ordering (`<`, `orderBy`, `max`): numbers, strings, date-times, time spans, each
/// among its kind; `null` is below everything. `None`: not comparable.
pub(crate) fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    match (a.is_null(), b.is_null()) {
        (true, true) => return Some(Ordering::Equal),
        (true, false) => return Some(Ordering::Less),
        (false, true) => return Some(Ordering::Greater),
        _ => {}
    }
    if let (Some(x), Some(y)) = (num_or_bool(a), num_or_bool(b)) {
        return match (x, y) {
            (Num::Int(i), Num::Int(j)) => Some(i.cmp(&j)),
            _ => x.f().partial_cmp(&y.f()),
        };
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Some(x.cmp(y));
    }
    match (a, b) {
        (Val::DateTime(x), Val::DateTime(y)) => Some(x.cmp(y)),
        (Val::TimeSpan(x), Val::TimeSpan(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// YAQL's `str()` of a value: `null`, `true`, numbers as Python writes them, strings as they
/// are, collections as YAQL prints them.
pub(crate) fn display(v: &Val<'_>) -> String {
    let mut out = String::new();
    write_display(&mut out, v, true);
    out
}

fn write_display(out: &mut String, v: &Val<'_>, top: bool) {
    match v.kind() {
        Kind::Null => out.push_str("null"),
        Kind::Bool => out.push_str(if v.truthy() { "true" } else { "false" }),
        Kind::Int | Kind::Float => match v.as_num() {
            Some(Num::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            Some(Num::Float(f)) => out.push_str(&float_str(f)),
            None => {}
        },
        Kind::Str => {
            let s = v.as_str().unwrap_or_default();
            if top {
                out.push_str(s);
            } else {
                out.push('\'');
                out.push_str(s);
                out.push('\'');
            }
        }
        Kind::List | Kind::Set => {
            out.push('[');
            for (i, x) in v.items().unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_display(out, x, false);
            }
            out.push(']');
        }
        Kind::Dict => {
            out.push('{');
            for (i, (k, x)) in v.entries().unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_display(out, k, false);
                out.push_str(": ");
                write_display(out, x, false);
            }
            out.push('}');
        }
        Kind::DateTime => {
            if let Val::DateTime(d) = v {
                out.push_str(&d.to_rfc3339());
            }
        }
        Kind::TimeSpan => {
            if let Val::TimeSpan(t) = v {
                out.push_str(&float_str(seconds(t)));
            }
        }
        Kind::Regex => {
            if let Val::Regex(r) = v {
                out.push_str(r.as_str());
            }
        }
    }
}

/// A float as Python's `str` writes it (`5.0`, `0.1`, `1e+20`).
pub(crate) fn float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f}");
    if f.abs() >= 1e16 {
        let e = format!("{f:e}");
        return match e.split_once('e') {
            Some((m, x)) if !x.starts_with('-') => format!("{m}e+{x:0>2}"),
            _ => e,
        };
    }
    s
}
