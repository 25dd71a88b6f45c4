//! YAQL: `expression \0 data JSON`. Parses the expression and evaluates it with `$` bound
//! to the data (the step budget and depth limit must end every evaluation); also the same
//! text as a workflow's `<% %>` template.
#![no_main]

use attune_core::template::{Templates, to_jinja};
use attune_core::yaql::Expression;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let Some((source, root)) = attune_fuzz::two_texts(data) else {
        return;
    };
    let root: Value = serde_json::from_str(root).unwrap_or(Value::Null);
    if let Ok(expr) = Expression::parse(source) {
        assert_eq!(expr.source(), source);
        let _ = expr.unknown_functions();
        let _ = expr.evaluate_json(&root);
    }
    static T: OnceLock<Templates> = OnceLock::new();
    let t = T.get_or_init(Templates::for_workflows);
    let wrapped = Value::String(format!("<% {source} %>"));
    if let Ok(compiled) = t.compile("fuzz", &wrapped) {
        let _ = t.render(&compiled, &to_jinja(&root));
    }
});
