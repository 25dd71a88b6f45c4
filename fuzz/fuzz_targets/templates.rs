//! Jinja templates as the engine renders them: `template \0 context JSON`. The source goes
//! through the syntax check and every render entry point (each applies the Python `%`
//! rewrite and rejects loading statements) of the three environments: strict, allowing
//! undefined, and workflows (where `<% %>` is YAQL). Text without template syntax must
//! render to itself.
#![no_main]

use attune_core::template::{Templates, check_syntax, is_template, to_jinja};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

struct Envs {
    strict: Templates,
    lenient: Templates,
    workflows: Templates,
}

fn envs() -> &'static Envs {
    static E: OnceLock<Envs> = OnceLock::new();
    E.get_or_init(|| Envs {
        strict: Templates::new(),
        lenient: Templates::allowing_undefined(),
        workflows: Templates::for_workflows(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((source, ctx)) = attune_fuzz::two_texts(data) else {
        return;
    };
    let ctx: Value = serde_json::from_str(ctx).unwrap_or(Value::Null);
    let ctx = to_jinja(&ctx);
    let e = envs();
    let syntax = check_syntax(source);

    let text = e.strict.render_text_once("fuzz", source, &ctx);
    if !is_template(source) {
        assert!(syntax.is_ok());
        // Comments (`{# #}`) and one trailing line break (`\n`, `\r\n` or `\r`, as in
        // Jinja) are Jinja's even in plain text.
        if !source.contains("{#") && !source.ends_with(['\n', '\r']) {
            assert_eq!(text.as_deref().ok(), Some(source), "plain text changed");
        }
        let compiled = e
            .strict
            .compile("fuzz", &Value::String(source.into()))
            .unwrap();
        assert!(compiled.is_literal());
    }
    let _ = e.strict.render_once("fuzz", source, &ctx);
    let _ = e.strict.render_pattern("fuzz", source, &ctx);
    let _ = e.lenient.render_once("fuzz", source, &ctx);
    let value = Value::String(source.to_string());
    for t in [&e.strict, &e.workflows] {
        if let Ok(compiled) = t.compile("fuzz", &value) {
            let _ = t.render(&compiled, &ctx);
        }
    }
});
