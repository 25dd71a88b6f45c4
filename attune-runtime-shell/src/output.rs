//! The result of a shell action: stdout parsed per `output_format`.

use serde_json::Value;

/// Parses stdout: `text` keeps it as is; `json` parses the whole of it, else its last
/// non-empty line, else keeps the text (as StackStorm does); `jsonl` is the list of the lines
/// that parse.
pub(crate) fn parse(format: Option<&str>, stdout: &str) -> Value {
    match format.unwrap_or("text") {
        "json" => serde_json::from_str(stdout.trim())
            .ok()
            .or_else(|| {
                stdout
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .and_then(|l| serde_json::from_str(l.trim()).ok())
            })
            .unwrap_or_else(|| Value::String(stdout.to_string())),
        "jsonl" => Value::Array(
            stdout
                .lines()
                .filter_map(|l| serde_json::from_str(l.trim()).ok())
                .collect(),
        ),
        _ => Value::String(stdout.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats() {
        assert_eq!(parse(None, "hi\n"), json!("hi\n"));
        assert_eq!(parse(Some("json"), "{\"a\": 1}\n"), json!({"a": 1}));
        assert_eq!(
            parse(Some("json"), "log line\n{\"a\": 2}\n\n"),
            json!({"a": 2})
        );
        assert_eq!(parse(Some("json"), "not json"), json!("not json"));
        assert_eq!(
            parse(Some("jsonl"), "1\nx\n{\"b\":true}\n"),
            json!([1, {"b": true}])
        );
    }
}
