//! Data filters: JSON and YAML in and out, `json_escape`, `use_none`.

use super::{Call, FilterResult, py_str, pyjson, pyyaml, to_json};
use crate::template::to_jinja;
use minijinja::Value as JValue;

/// What `use_none` gives for a none value: StackStorm's marker that its parameter casting
/// turns back into null. Attune does the same when a whole rendered value is this string
/// (a single expression, or a text that renders to exactly it).
pub const USE_NONE_MAGIC: &str = "%*****__%NONE%__*****%";

/// How many JSON values `from_json_string` parses at most (as a 4 MiB payload may hold).
const MAX_PARSED_VALUES: usize = crate::input::MAX_PAYLOAD_BYTES / crate::input::BYTES_PER_VALUE;

/// `from_json_string(value)`: parses `str(value)` as JSON.
pub(super) fn from_json_string(call: &Call) -> FilterResult {
    let text = py_str(call.value());
    let v = crate::input::parse_json(text.as_bytes(), "its value", MAX_PARSED_VALUES)
        .map_err(|e| call.error(format!("cannot parse: {}", error_detail(&e))))?;
    Ok(to_jinja(&v))
}

/// `from_yaml_string(value)`: parses `str(value)` as one YAML document (YAML 1.2 booleans:
/// `yes`/`no` stay strings, where PyYAML's YAML 1.1 reads booleans).
pub(super) fn from_yaml_string(call: &Call) -> FilterResult {
    let text = py_str(call.value());
    let v: serde_json::Value = crate::document::yaml::from_str(&text)
        .map_err(|e| call.error(format!("cannot parse: {e}")))?;
    Ok(to_jinja(&v))
}

/// `to_json_string(value, indent=None, sort_keys=False, separators=(',', ': '))`:
/// Python's `json.dumps` with those options (non-ASCII written `\uXXXX`).
pub(super) fn to_json_string(call: &Call) -> FilterResult {
    let v = to_json(call, call.value())?;
    let indent = call.int_opt(1)?;
    if indent.is_some_and(|n| !(0..=64).contains(&n)) {
        return Err(call.error("needs 'indent' between 0 and 64"));
    }
    let sort_keys = call.bool_or(2, false)?;
    let (item, key) = match call.get(3) {
        None => (",".to_string(), ": ".to_string()),
        Some(s) if s.is_none() => (",".to_string(), ": ".to_string()),
        Some(s) => separators(call, s)?,
    };
    let opts = pyjson::Options {
        indent: indent.map(|n| n as usize),
        sort_keys,
        item_sep: &item,
        key_sep: &key,
    };
    Ok(JValue::from(pyjson::dumps(&v, &opts)))
}

/// A `separators` argument: a list of two strings.
fn separators(call: &Call, s: &JValue) -> Result<(String, String), minijinja::Error> {
    let items: Vec<JValue> = s
        .try_iter()
        .ok()
        .filter(|_| s.as_str().is_none())
        .map(Iterator::collect)
        .unwrap_or_default();
    match items.as_slice() {
        [a, b] if a.as_str().is_some() && b.as_str().is_some() => Ok((py_str(a), py_str(b))),
        _ => Err(call.wrong_type(3, "a pair of strings", s)),
    }
}

/// `to_complex(value)`: `json.dumps(value)` with Python's default separators (`, `, `: `).
pub(super) fn to_complex(call: &Call) -> FilterResult {
    let v = to_json(call, call.value())?;
    let opts = pyjson::Options {
        indent: None,
        sort_keys: false,
        item_sep: ", ",
        key_sep: ": ",
    };
    Ok(JValue::from(pyjson::dumps(&v, &opts)))
}

/// `to_yaml_string(value, indent=None, allow_unicode=True)`: PyYAML's
/// `safe_dump(value, default_flow_style=False)` (keys sorted, block style).
pub(super) fn to_yaml_string(call: &Call) -> FilterResult {
    let v = to_json(call, call.value())?;
    let indent = call.int_opt(1)?.unwrap_or(2);
    if !(2..=9).contains(&indent) {
        return Err(call.error("needs 'indent' between 2 and 9 (as PyYAML)"));
    }
    let allow_unicode = call.bool_or(2, true)?;
    Ok(JValue::from(pyyaml::safe_dump(
        &v,
        indent as usize,
        allow_unicode,
    )))
}

/// `json_escape(value)`: `json.dumps(value)` without its surrounding double quotes (Python's
/// `.strip('"')`, which takes every `"` at either end).
pub(super) fn json_escape(call: &Call) -> FilterResult {
    let v = to_json(call, call.value())?;
    let opts = pyjson::Options {
        indent: None,
        sort_keys: false,
        item_sep: ", ",
        key_sep: ": ",
    };
    let s = pyjson::dumps(&v, &opts);
    Ok(JValue::from(s.trim_matches('"')))
}

/// `use_none(value)`: [`USE_NONE_MAGIC`] for none, else the value.
pub(super) fn use_none(call: &Call) -> FilterResult {
    let v = call.value();
    Ok(if v.is_none() {
        JValue::from(USE_NONE_MAGIC)
    } else {
        v.clone()
    })
}

/// The message of an input error without its "invalid ..." prefix.
fn error_detail(e: &crate::Error) -> String {
    match e {
        crate::Error::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
