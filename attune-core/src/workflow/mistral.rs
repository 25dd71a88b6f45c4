//! Mistral v2 workflows (`version: '2.0'`), which StackStorm ran before Orquesta and dropped
//! in 3.3: recognised, so that such a file is one clear problem instead of a list of
//! unknown keys.

use crate::document::fields::Source;
use crate::document::problem::Report;
use serde_json::Value;

/// When `value` (a parsed workflow or chain file) is a Mistral v2 workflow, reports it to `r`
/// (one problem at its `version`) and returns true.
pub(crate) fn refuse_mistral(src: &Source, value: &Value, r: &mut Report) -> bool {
    let Value::Object(m) = value else {
        return false;
    };
    let v2 = match m.get("version") {
        Some(Value::String(s)) => s.trim() == "2.0" || s.trim() == "2",
        Some(Value::Number(n)) => n.as_f64() == Some(2.0),
        _ => false,
    };
    if v2 {
        r.push(src.problem(
            "version",
            "a Mistral v2 workflow (version '2.0'), which Attune does not run (StackStorm \
             dropped Mistral in 3.3): rewrite it as an Orquesta workflow (version 1.0, \
             runner_type: orquesta)",
        ));
    }
    v2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn refused(v: Value) -> (bool, usize) {
        let src = Source {
            file: "wf.yaml".into(),
            locs: Arc::default(),
        };
        let mut r = Report::default();
        let out = refuse_mistral(&src, &v, &mut r);
        (out, r.problems.len())
    }

    #[test]
    fn only_version_2_is_mistral() {
        assert_eq!(refused(serde_json::json!({"version": "2.0"})), (true, 1));
        assert_eq!(refused(serde_json::json!({"version": 2.0})), (true, 1));
        assert_eq!(refused(serde_json::json!({"version": 1.0})), (false, 0));
        assert_eq!(refused(serde_json::json!({"chain": []})), (false, 0));
        assert_eq!(refused(serde_json::json!([1])), (false, 0));
    }
}
