//! PyYAML's `safe_dump(value, default_flow_style=False)`: block style, keys sorted, lists in
//! a mapping not indented, a plain top-level scalar followed by `...`.
//!
//! Differences kept small and safe: a string is written plain only when it cannot read back
//! as anything else (PyYAML is a little more liberal), else single-quoted, else (control
//! characters, line breaks) double-quoted; long lines are not folded at 80 columns. The text
//! always reads back as the same value.

use super::py_float;
use serde_json::Value;

/// `v` as PyYAML's `safe_dump` writes it, `indent` spaces per level.
pub(super) fn safe_dump(v: &Value, indent: usize, allow_unicode: bool) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, v, indent, 0, allow_unicode),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, indent, 0, allow_unicode),
        _ => {
            let (text, plain) = scalar(v, allow_unicode);
            out.push_str(&text);
            out.push('\n');
            if plain && !matches!(v, Value::Object(_) | Value::Array(_)) {
                out.push_str("...\n");
            }
        }
    }
    out
}

/// A mapping at column `col`; the first line starts where the cursor is.
fn write_map(out: &mut String, v: &Value, indent: usize, col: usize, u: bool) {
    let Value::Object(m) = v else { return };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(col));
        }
        out.push_str(&scalar(&Value::String(k.clone()), u).0);
        out.push(':');
        write_child(out, &m[k], indent, col, u);
    }
}

/// A sequence at column `col`; the first line starts where the cursor is.
fn write_seq(out: &mut String, a: &[Value], indent: usize, col: usize, u: bool) {
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(col));
        }
        out.push('-');
        match x {
            Value::Object(m) if !m.is_empty() => {
                out.push_str(&" ".repeat(indent - 1));
                write_map(out, x, indent, col + indent, u);
            }
            Value::Array(b) if !b.is_empty() => {
                out.push_str(&" ".repeat(indent - 1));
                write_seq(out, b, indent, col + indent, u);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(x, u).0);
                out.push('\n');
            }
        }
    }
}

/// The value of a mapping key at column `col`, after its `:`.
fn write_child(out: &mut String, x: &Value, indent: usize, col: usize, u: bool) {
    match x {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(col + indent));
            write_map(out, x, indent, col + indent, u);
        }
        Value::Array(a) if !a.is_empty() => {
            // PyYAML does not indent a sequence inside a mapping.
            out.push('\n');
            out.push_str(&" ".repeat(col));
            write_seq(out, a, indent, col, u);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(x, u).0);
            out.push('\n');
        }
    }
}

/// A scalar (or an empty collection) and whether it was written plain.
fn scalar(v: &Value, allow_unicode: bool) -> (String, bool) {
    match v {
        Value::Null => ("null".into(), true),
        Value::Bool(b) => (if *b { "true" } else { "false" }.into(), true),
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(x) => (yaml_float(x), true),
            None => (n.to_string(), true),
        },
        Value::String(s) => string(s, allow_unicode),
        Value::Array(_) => ("[]".into(), false),
        Value::Object(_) => ("{}".into(), false),
    }
}

/// A float as PyYAML writes it (`.inf`, `.nan`, a `.` always in the mantissa).
fn yaml_float(x: f64) -> String {
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let r = py_float(x);
    match r.split_once('e') {
        Some((m, e)) if !m.contains('.') => format!("{m}.0e{e}"),
        _ => r,
    }
}

/// A string: plain when it reads back as this string, else quoted.
fn string(s: &str, allow_unicode: bool) -> (String, bool) {
    let printable = s
        .chars()
        .all(|c| !c.is_control() && (allow_unicode || c.is_ascii()));
    if printable && plain_ok(s) {
        return (s.to_string(), true);
    }
    if printable {
        return (format!("'{}'", s.replace('\'', "''")), false);
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || (!allow_unicode && !c.is_ascii()) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    (out, false)
}

/// Whether `s` may be written plain: it starts with a letter, `_` or `/`, has no `: ` or
/// ` #`, does not end in a space or `:`, and is not a YAML 1.1 boolean or null.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(['\'', '"', '\n', '\t']) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "yes" | "no" | "true" | "false" | "on" | "off" | "null" | "~"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dumps_as_pyyaml() {
        assert_eq!(
            safe_dump(
                &json!({"c": {"d": "e", "f": 1, "g": true}, "a": "b"}),
                2,
                true
            ),
            "a: b\nc:\n  d: e\n  f: 1\n  g: true\n"
        );
        assert_eq!(
            safe_dump(&json!({"l": [1, {"x": "y", "z": [2, 3]}, [4, 5]]}), 2, true),
            "l:\n- 1\n- x: y\n  z:\n  - 2\n  - 3\n- - 4\n  - 5\n"
        );
        assert_eq!(safe_dump(&json!("abc"), 2, true), "abc\n...\n");
        assert_eq!(safe_dump(&json!("true"), 2, true), "'true'\n");
        assert_eq!(safe_dump(&json!({}), 2, true), "{}\n");
        assert_eq!(
            safe_dump(
                &json!({"s": "it's", "n": "1.5", "e": "", "x": 1.5, "m": "a\nb"}),
                2,
                true
            ),
            "e: ''\nm: \"a\\nb\"\nn: '1.5'\ns: 'it''s'\nx: 1.5\n"
        );
        assert_eq!(
            safe_dump(&json!({"a": {"b": 1}}), 4, true),
            "a:\n    b: 1\n"
        );
    }
}
