//! Python's `json.dumps` (`ensure_ascii=True`): the separators, indent and key sorting it
//! takes, floats as Python writes them.

use super::py_float;
use serde_json::Value;
use std::fmt::Write;

/// The options of one dump.
pub(super) struct Options<'a> {
    /// Newlines and this many spaces per level (None: one line).
    pub indent: Option<usize>,
    /// Keys in sorted order (else as they are).
    pub sort_keys: bool,
    /// Between items (`,` or `, `); trailing spaces are dropped at line ends when indenting.
    pub item_sep: &'a str,
    /// Between a key and its value.
    pub key_sep: &'a str,
}

/// `v` as `json.dumps` writes it.
pub(super) fn dumps(v: &Value, o: &Options<'_>) -> String {
    let mut out = String::new();
    write_value(&mut out, v, o, 0);
    out
}

fn write_value(out: &mut String, v: &Value, o: &Options<'_>, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => write!(out, "{i}").unwrap_or_default(),
            (_, Some(u)) => write!(out, "{u}").unwrap_or_default(),
            _ => out.push_str(&json_float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                separate(out, o, i, level + 1);
                write_value(out, x, o, level + 1);
            }
            close(out, o, level);
            out.push(']');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut items: Vec<(&String, &Value)> = m.iter().collect();
            if o.sort_keys {
                items.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, x)) in items.into_iter().enumerate() {
                separate(out, o, i, level + 1);
                write_str(out, k);
                out.push_str(o.key_sep);
                write_value(out, x, o, level + 1);
            }
            close(out, o, level);
            out.push('}');
        }
    }
}

/// What goes before item `i` of a container at `level`.
fn separate(out: &mut String, o: &Options<'_>, i: usize, level: usize) {
    match o.indent {
        Some(n) => {
            if i > 0 {
                out.push_str(o.item_sep);
            }
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
        None => {
            if i > 0 {
                out.push_str(o.item_sep);
            }
        }
    }
}

/// What goes before the closing bracket of a container at `level`.
fn close(out: &mut String, o: &Options<'_>, level: usize) {
    if let Some(n) = o.indent {
        out.push('\n');
        out.push_str(&" ".repeat(n * level));
    }
}

/// A float as `json.dumps` writes it (`Infinity`, `NaN` for what JSON lacks).
fn json_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        py_float(x)
    }
}

/// A string with `ensure_ascii`: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control
/// characters and everything beyond ASCII as `\uXXXX` (surrogate pairs above U+FFFF).
pub(super) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    write!(out, "\\u{unit:04x}").unwrap_or_default();
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(indent: Option<usize>, item_sep: &str) -> Options<'_> {
        Options {
            indent,
            sort_keys: false,
            item_sep,
            key_sep: ": ",
        }
    }

    #[test]
    fn dumps_as_python() {
        let v = json!({"b": [1, 2.5, null], "a": "é\"\n"});
        assert_eq!(
            dumps(&v, &opts(None, ", ")),
            r#"{"b": [1, 2.5, null], "a": "\u00e9\"\n"}"#
        );
        assert_eq!(
            dumps(&v, &opts(Some(2), ",")),
            "{\n  \"b\": [\n    1,\n    2.5,\n    null\n  ],\n  \"a\": \"\\u00e9\\\"\\n\"\n}"
        );
        let sorted = Options {
            sort_keys: true,
            ..opts(None, ",")
        };
        assert_eq!(
            dumps(&v, &sorted),
            r#"{"a": "\u00e9\"\n","b": [1,2.5,null]}"#
        );
        assert_eq!(dumps(&json!("😀"), &opts(None, ",")), r#""\ud83d\ude00""#);
        assert_eq!(
            dumps(&json!({"x": []}), &opts(Some(2), ",")),
            "{\n  \"x\": []\n}"
        );
    }
}
