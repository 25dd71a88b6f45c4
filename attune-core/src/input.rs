//! Bounded input: reading a file, stdin or a body with its size limit checked before (and
//! while) reading, and parsing JSON with a bound on how many values it holds, so that memory
//! stays within a small multiple of the limit whatever arrives.
//!
//! Every place that takes a document from outside (the `attune` command's payload, event and
//! params files, stdin, and request bodies) goes through [`read_file`] or [`read_to_limit`]
//! and then [`parse_json`].
//!
//! Why the value bound: a JSON text of tiny values costs 72 to 120 bytes per value once
//! parsed into [`serde_json::Value`] (a `Vec` slot per array element, more per object
//! member), that is 25 to 40 times its text: 4 MiB of `[[],[],...]` or `[{},{},...]` took
//! 106 MB parsed, 4 MiB of `[0,0,...]` 150 MB. [`max_json_values`] caps the count at one
//! value per [`BYTES_PER_VALUE`] bytes of the limit (524,288 for 4 MiB), which keeps a
//! parsed document under about 40 MB of array elements (60 MB of object members), and
//! admits realistic documents: records of short keys, strings and numbers average 10 to 15
//! bytes per value (3.8 MB of such records: 280,000 values, 23 MB parsed).

use crate::{Error, Result};
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// The largest event payload the engine accepts by default, serialized (4 MiB;
/// [`EngineBuilder::max_payload_bytes`](crate::EngineBuilder::max_payload_bytes) changes an
/// engine's). Documents that become payloads or params are read against it.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;

/// Bytes of limit per JSON value admitted by [`max_json_values`].
pub const BYTES_PER_VALUE: usize = 8;

/// How many JSON values (array elements and object members, plus the top value) a document
/// read against `limit_bytes` may hold: one per [`BYTES_PER_VALUE`] bytes (524,288 for
/// [`MAX_PAYLOAD_BYTES`]), at least 1,024.
pub fn max_json_values(limit_bytes: usize) -> usize {
    (limit_bytes / BYTES_PER_VALUE).max(1024)
}

/// Reads the file at `path`, at most `limit` bytes. A regular file's size is checked from its
/// metadata before anything is read; anything else (a FIFO, `/dev/stdin`) and a file that
/// grows while it is read are read through a bound of `limit + 1` bytes. `what` names the
/// document in errors (`payload file 'p.json'`), which are [`Error::Invalid`] and say the
/// size and the limit.
pub fn read_file(path: &Path, what: &str, limit: usize) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid(what, format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::invalid(what, format!("cannot read its metadata: {e}")))?;
    if meta.is_dir() {
        return Err(Error::invalid(what, "it is a directory"));
    }
    if meta.is_file() && meta.len() > limit as u64 {
        return Err(Error::invalid(
            what,
            format!(
                "it is {}, over the limit of {}; nothing was read",
                bytes(meta.len()),
                bytes(limit as u64)
            ),
        ));
    }
    read_to_limit(file, what, limit)
}

/// Reads `reader` to its end, at most `limit` bytes: reading stops at `limit + 1` bytes and
/// that is an [`Error::Invalid`] naming `what` and the limit. Memory used: at most
/// `limit + 1` bytes (plus the `Vec`'s growth).
pub fn read_to_limit(reader: impl Read, what: &str, limit: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::invalid(what, format!("cannot read it: {e}")))?;
    if buf.len() > limit {
        return Err(Error::invalid(
            what,
            format!(
                "it is larger than the limit of {}; reading stopped there",
                bytes(limit as u64)
            ),
        ));
    }
    Ok(buf)
}

/// Parses `text` as one JSON document holding at most `max_values` values (see
/// [`count_json_values`]); the count is taken before parsing, so a document over it costs
/// nothing. Errors are [`Error::Invalid`] naming `what`, with the line and column of a
/// syntax error (`... at line 2 column 8`).
pub fn parse_json(text: &[u8], what: &str, max_values: usize) -> Result<Value> {
    let n = count_json_values(text);
    if n > max_values {
        return Err(Error::invalid(
            what,
            format!(
                "it holds {n} JSON values (array elements and object members), over the limit \
                 of {max_values} (one per {BYTES_PER_VALUE} bytes of the size limit, which \
                 bounds the memory it takes once parsed)"
            ),
        ));
    }
    // serde_json's message ends with the line and column.
    serde_json::from_slice(text)
        .map_err(|e| Error::invalid(what, format!("it is not valid JSON: {e}")))
}

/// [`read_file`] then [`parse_json`] with [`max_json_values`] of `limit`.
pub fn read_json_file(path: &Path, what: &str, limit: usize) -> Result<Value> {
    parse_json(&read_file(path, what, limit)?, what, max_json_values(limit))
}

/// [`read_to_limit`] then [`parse_json`] with [`max_json_values`] of `limit`.
pub fn read_json(reader: impl Read, what: &str, limit: usize) -> Result<Value> {
    parse_json(
        &read_to_limit(reader, what, limit)?,
        what,
        max_json_values(limit),
    )
}

/// Counts the values of a JSON text without parsing it: the top value, plus one per array
/// element and per object member, found from the structural characters outside strings
/// (`,` and the first element after `[` or `{`). Exact for valid JSON; for invalid text it is
/// some count, and the parser reports the syntax error.
pub fn count_json_values(text: &[u8]) -> usize {
    let mut n: usize = 1;
    let (mut in_string, mut escaped, mut opened) = (false, false, false);
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if opened && !b.is_ascii_whitespace() {
            opened = false;
            if b != b']' && b != b'}' {
                n = n.saturating_add(1);
            }
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => opened = true,
            b',' => n = n.saturating_add(1),
            _ => {}
        }
    }
    n
}

/// `n bytes (x.y MiB)` for messages.
fn bytes(n: u64) -> String {
    // Display only: the rounding is fine.
    #[allow(clippy::cast_precision_loss)]
    let mib = n as f64 / (1024.0 * 1024.0);
    if mib >= 0.1 {
        format!("{n} bytes ({mib:.1} MiB)")
    } else {
        format!("{n} bytes")
    }
}

/// The deepest nesting of arrays and objects the engine takes in a value that arrives from
/// outside: an event payload, the params of [`Engine::execute`](crate::Engine::execute),
/// an action's result. JSON text parsing stops at 127 levels (serde_json's own bound); the
/// engine's bound is lower so that a stored record that wraps such a value (an execution
/// body around its params, a workflow context around a task result) still parses back
/// whole, and so that every recursive walk of a value (templates, masking, validation,
/// serialization, drop) stays far within a 2 MiB thread stack.
pub const MAX_JSON_DEPTH: usize = 100;

/// How deep `value` nests (a scalar is 0, `[]` and `[1]` are 1), counting no further than
/// `max + 1`: it never descends more than `max + 1` levels, so it is safe on any value however
/// deep a host built it (and allocates nothing).
pub fn json_depth(value: &Value, max: usize) -> usize {
    fn walk(v: &Value, level: usize, max: usize) -> usize {
        let children: &mut dyn Iterator<Item = &Value> = match v {
            Value::Array(a) => &mut a.iter(),
            Value::Object(m) => &mut m.values(),
            _ => return level,
        };
        let level = level + 1;
        if level > max {
            return level;
        }
        let mut deepest = level;
        for c in children {
            deepest = deepest.max(walk(c, level, max));
            if deepest > max {
                break;
            }
        }
        deepest
    }
    walk(value, 0, max)
}

/// Refuses `value` when it nests deeper than `max` levels: an [`Error::Invalid`] naming
/// `what` and the limit. The walk descends at most `max + 1` levels (see [`json_depth`]), so
/// it is safe on any value; a refused value should be dropped with [`dispose`].
///
/// # Errors
/// [`Error::Invalid`] when the value nests deeper than `max`.
pub fn check_depth(value: &Value, what: &str, max: usize) -> Result<()> {
    if json_depth(value, max) > max {
        return Err(too_deep(what, max));
    }
    Ok(())
}

fn too_deep(what: &str, max: usize) -> Error {
    Error::invalid(
        what,
        format!("it nests arrays and objects more than {max} levels deep (the limit)"),
    )
}

/// `value` when it nests at most [`MAX_JSON_DEPTH`] levels; else an [`Error::Invalid`]
/// naming `what()` and the limit, the value dropped without recursion ([`dispose`]). What
/// the engine's entry points (`emit`, `execute`) and action results go through first, since
/// every later step walks the value recursively.
///
/// # Errors
/// [`Error::Invalid`] when the value nests deeper than [`MAX_JSON_DEPTH`].
pub fn within_depth(value: Value, what: impl FnOnce() -> String) -> Result<Value> {
    if json_depth(&value, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH {
        return Ok(value);
    }
    dispose(value);
    Err(too_deep(&what(), MAX_JSON_DEPTH))
}

/// Drops `value` without recursion. Dropping a [`Value`] recurses once per level, so a
/// value nested thousands of levels deep (which only a program can build: parsed text
/// stops at 127) would exhaust the stack of the thread that drops it.
pub fn dispose(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    #[test]
    fn counts_values_outside_strings() {
        assert_eq!(count_json_values(b"1"), 1);
        assert_eq!(count_json_values(b"[]"), 1);
        assert_eq!(count_json_values(b"[ ]"), 1);
        assert_eq!(count_json_values(b"[1,2,3]"), 4);
        assert_eq!(count_json_values(b"[[],[],[]]"), 4);
        assert_eq!(count_json_values(b"[{}, {} ,{}]"), 4);
        assert_eq!(count_json_values(br#"{"a": 1, "b": [true, null]}"#), 5);
        assert_eq!(
            count_json_values(br#"{"a,[{": "x\",y", "b": "\\"}"#),
            3,
            "commas and brackets inside strings (and escaped quotes) are not structure"
        );
        let tiny = format!("[{}]", vec!["[]"; 1000].join(","));
        let parsed: Value = serde_json::from_str(&tiny).unwrap();
        assert_eq!(
            count_json_values(tiny.as_bytes()),
            1 + parsed.as_array().unwrap().len()
        );
    }

    #[test]
    fn parse_refuses_too_many_values_before_parsing() {
        let text = format!("[{}]", vec!["0"; 2000].join(","));
        let e = parse_json(text.as_bytes(), "payload file 'p.json'", 1000).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("payload file 'p.json'"), "{msg}");
        assert!(msg.contains("2001 JSON values"), "{msg}");
        assert!(msg.contains("limit of 1000"), "{msg}");
        assert_eq!(
            parse_json(text.as_bytes(), "x", 2001)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2000
        );
    }

    #[test]
    fn parse_errors_say_where() {
        let e = parse_json(b"{\n  \"a\": }", "event file 'e.json'", 100).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("event file 'e.json'"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn a_large_file_is_refused_from_its_size_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        // Sparse: 50 MB that cost nothing to write.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(50 << 20)
            .unwrap();
        let e = read_file(&path, "payload file 'big.json'", MAX_PAYLOAD_BYTES).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("payload file 'big.json'"), "{msg}");
        assert!(msg.contains("52428800 bytes"), "{msg}");
        assert!(msg.contains("4194304 bytes"), "{msg}");
        assert!(msg.contains("nothing was read"), "{msg}");
    }

    #[test]
    fn files_and_readers_up_to_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.json");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(br#"{"a": [1, 2]}"#)
            .unwrap();
        assert_eq!(
            read_json_file(&path, "f", 13).unwrap(),
            serde_json::json!({"a": [1, 2]})
        );
        assert!(read_json_file(&path, "f", 12).is_err());
        assert!(
            read_file(dir.path(), "dir", 100)
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
        assert!(
            read_file(&dir.path().join("nope"), "missing 'nope'", 100)
                .unwrap_err()
                .to_string()
                .contains("missing 'nope'")
        );
    }

    #[test]
    fn a_stream_is_read_through_the_bound() {
        // An endless reader stops at limit + 1 bytes.
        let endless = std::io::repeat(b' ');
        let e = read_to_limit(endless, "payload from stdin", 1000).unwrap_err();
        assert!(e.to_string().contains("payload from stdin"), "{e}");
        assert!(e.to_string().contains("limit of 1000 bytes"), "{e}");
        let v = read_json(&b"[1]"[..], "x", 3).unwrap();
        assert_eq!(v, serde_json::json!([1]));
    }

    #[test]
    fn the_value_bound_follows_the_limit() {
        assert_eq!(max_json_values(MAX_PAYLOAD_BYTES), 524_288);
        assert_eq!(max_json_values(10), 1024);
    }

    fn nested(levels: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..levels {
            v = json!([v]);
        }
        v
    }

    #[test]
    fn depth_counts_containers_and_stops_past_the_limit() {
        assert_eq!(json_depth(&json!(1), 10), 0);
        assert_eq!(json_depth(&json!([]), 10), 1);
        assert_eq!(json_depth(&json!({"a": [1, {"b": {}}], "c": 2}), 10), 4);
        assert_eq!(json_depth(&nested(5), 10), 5);
        assert_eq!(json_depth(&nested(50), 10), 11);
        assert!(check_depth(&nested(MAX_JSON_DEPTH), "payload", MAX_JSON_DEPTH).is_ok());
        let e = check_depth(&nested(MAX_JSON_DEPTH + 1), "payload", MAX_JSON_DEPTH)
            .unwrap_err()
            .to_string();
        assert!(e.contains("payload") && e.contains("100 levels"), "{e}");
    }

    #[test]
    fn a_value_far_deeper_than_any_stack_is_checked_and_dropped_on_a_small_stack() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut v = json!(1);
                for _ in 0..200_000 {
                    v = Value::Array(vec![v]);
                }
                assert!(check_depth(&v, "payload", MAX_JSON_DEPTH).is_err());
                dispose(v);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
