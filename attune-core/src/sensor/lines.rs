//! The lines a process sensor writes on its stdout, one JSON object a line.

use super::SensorEvent;
use serde_json::{Map, Value};

/// The longest line read from a sensor, in bytes (payloads are capped by the engine's
/// `max_payload_bytes` as well); a longer line is rejected and the sensor kept.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What one line of a sensor says.
#[derive(Clone, Debug, PartialEq)]
pub enum SensorLine {
    /// An event to dispatch: `{"trigger": REF, "payload": {...}, "trace_tag": "..."}`.
    /// `trigger` may also be StackStorm's dict form: `{"ref": …}` or `{"type": …}`, or
    /// `{"pack": …, "name": …}`, with optional `parameters` (the trigger instance's).
    Event(SensorEvent),
    /// A request to the key-value store: `{"key": {"op": …}}`, answered on the sensor's
    /// stdin with one line ([`answer_key_request`](crate::runtime::answer_key_request)).
    Key(Value),
    /// An empty line: nothing.
    Empty,
}

/// Reads one line (without its newline). `Err` says what is wrong with it, for the log and
/// the sensor's rejected count.
///
/// ```
/// use attune_core::sensor::{SensorLine, parse_line};
/// let line = br#"{"trigger": "shop.order", "payload": {"total": 3}, "trace_tag": "o-1"}"#;
/// let SensorLine::Event(e) = parse_line(line).unwrap() else { panic!() };
/// assert_eq!((e.trigger.as_str(), e.trace_tag.as_deref()), ("shop.order", Some("o-1")));
/// assert!(parse_line(b"hello").unwrap_err().contains("not JSON"));
/// ```
pub fn parse_line(line: &[u8]) -> Result<SensorLine, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(SensorLine::Empty);
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(format!(
            "the line is {} bytes, more than the {MAX_LINE_BYTES} allowed",
            line.len()
        ));
    }
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut m) = v else {
        return Err("not a JSON object (expected {\"trigger\": …, \"payload\": …})".into());
    };
    if let Some(req) = m.remove("key") {
        if let Some(extra) = m.keys().next() {
            return Err(format!("a key request has only 'key', got '{extra}' too"));
        }
        return Ok(SensorLine::Key(req));
    }
    let Some(trigger) = m.remove("trigger") else {
        return Err("no 'trigger' (expected {\"trigger\": …, \"payload\": …})".into());
    };
    let (trigger, mut trigger_params) = trigger_of(trigger)?;
    let payload = m.remove("payload").unwrap_or(Value::Object(Map::new()));
    let trace_tag = match m.remove("trace_tag") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(format!("'trace_tag' must be a string, got {other}")),
    };
    if let Some(p) = m.remove("trigger_params").filter(|p| !p.is_null()) {
        trigger_params = Some(p);
    }
    if let Some(extra) = m.keys().next() {
        return Err(format!(
            "unknown field '{extra}' (expected trigger, payload, trace_tag, trigger_params)"
        ));
    }
    Ok(SensorLine::Event(SensorEvent {
        trigger,
        payload,
        trace_tag,
        trigger_params,
    }))
}

/// The trigger type's ref and the instance's parameters of a `trigger` field.
fn trigger_of(v: Value) -> Result<(String, Option<Value>), String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok((s, None)),
        Value::Object(mut t) => {
            let params = t.remove("parameters").filter(|p| !p.is_null());
            fn text<'a>(t: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
                t.get(k).and_then(Value::as_str)
            }
            let r = match (text(&t, "ref"), text(&t, "type")) {
                (Some(r), _) | (None, Some(r)) => r.to_string(),
                (None, None) => match (text(&t, "pack"), text(&t, "name")) {
                    (Some(p), Some(n)) => format!("{p}.{n}"),
                    _ => {
                        return Err(
                            "'trigger' as a mapping needs 'ref', 'type', or 'pack' and 'name'"
                                .into(),
                        );
                    }
                },
            };
            Ok((r, params))
        }
        other => Err(format!(
            "'trigger' must be a trigger type's ref, got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_in_every_form_stackstorm_accepts() {
        let ev = |l: &str| match parse_line(l.as_bytes()).unwrap() {
            SensorLine::Event(e) => e,
            other => panic!("{other:?}"),
        };
        let e = ev(r#"{"trigger":"p.t","payload":{"a":1}}"#);
        assert_eq!((e.trigger.as_str(), e.payload), ("p.t", json!({"a": 1})));
        assert_eq!(ev(r#"{"trigger":{"ref":"p.t"}}"#).trigger, "p.t");
        assert_eq!(ev(r#"{"trigger":{"type":"p.t"}}"#).trigger, "p.t");
        let e = ev(r#"{"trigger":{"pack":"p","name":"t","parameters":{"u":"/x"}}}"#);
        assert_eq!(e.trigger, "p.t");
        assert_eq!(e.trigger_params, Some(json!({"u": "/x"})));
        assert_eq!(ev(r#"{"trigger":"p.t"}"#).payload, json!({}));
        assert_eq!(ev("{\"trigger\":\"p.t\"}\r").trigger, "p.t");
    }

    #[test]
    fn key_requests_and_empty_lines() {
        assert_eq!(
            parse_line(br#"{"key":{"op":"get"}}"#).unwrap(),
            SensorLine::Key(json!({"op": "get"}))
        );
        assert_eq!(parse_line(b"  ").unwrap(), SensorLine::Empty);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (line, says) in [
            ("garbage", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"payload":{}}"#, "no 'trigger'"),
            (r#"{"trigger":7}"#, "must be a trigger type's ref"),
            (r#"{"trigger":""}"#, "must be a trigger type's ref"),
            (r#"{"trigger":{"x":1}}"#, "needs 'ref'"),
            (
                r#"{"trigger":"p.t","trace_tag":1}"#,
                "'trace_tag' must be a string",
            ),
            (r#"{"trigger":"p.t","paylod":{}}"#, "unknown field 'paylod'"),
            (r#"{"key":{},"x":1}"#, "only 'key'"),
        ] {
            let e = parse_line(line.as_bytes()).unwrap_err();
            assert!(e.contains(says), "{line}: {e}");
        }
        let huge = vec![b'x'; MAX_LINE_BYTES + 1];
        assert!(parse_line(&huge).unwrap_err().contains("more than"));
    }
}
