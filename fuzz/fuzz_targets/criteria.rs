//! Rule criteria and their operators: `criteria JSON \0 payload JSON`. Compiles the
//! criteria, evaluates them against the payload three ways (`matches`, `check`,
//! `explain`) which must agree, and applies each operator with a negation directly to
//! (payload, criteria) as (value, pattern): the two must disagree (every other operator is
//! applied so too).
#![no_main]

use attune_core::rules::operators::{self, Operator};
use attune_core::rules::{Criteria, PatternRenderer};
use attune_core::template::{Templates, to_jinja};
use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Renders templated patterns as the engine does, against `{trigger, payload}`.
struct Renderer {
    ctx: minijinja::Value,
}

impl PatternRenderer for Renderer {
    fn render(&self, template: &str) -> Result<Value, String> {
        static T: OnceLock<Templates> = OnceLock::new();
        T.get_or_init(Templates::new)
            .render_pattern("criteria pattern", template, &self.ctx)
            .map_err(|e| e.to_string())
    }
}

/// Operators and their negations.
const PAIRS: &[(Operator, Operator)] = &[
    (Operator::Equals, Operator::NEquals),
    (Operator::Exists, Operator::NExists),
    (Operator::Contains, Operator::NContains),
    (Operator::Inside, Operator::NInside),
    (Operator::IContains, Operator::INContains),
];

fuzz_target!(|data: &[u8]| {
    let Some((spec, payload)) = attune_fuzz::two_texts(data) else {
        return;
    };
    let Ok(spec) = serde_json::from_str::<Value>(spec) else {
        return;
    };
    let payload: Value =
        serde_json::from_str(payload).unwrap_or_else(|_| Value::String(payload.to_string()));
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();

    for op in Operator::ALL {
        let _ = operators::apply(op, Some(&payload), &spec, now);
    }
    for &(op, neg) in PAIRS {
        if spec.is_null() {
            break;
        }
        let a = operators::apply(op, Some(&payload), &spec, now);
        let b = operators::apply(neg, Some(&payload), &spec, now);
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_ne!(a, b, "{op} and {neg} agree");
        }
    }

    let Ok(criteria) = Criteria::compile(&spec) else {
        return;
    };
    let mut scope = Map::new();
    scope.insert("trigger".into(), payload.clone());
    scope.insert("payload".into(), payload.clone());
    let renderer = Renderer {
        ctx: to_jinja(&scope),
    };
    let r: Option<&dyn PatternRenderer> = Some(&renderer);
    let matched = criteria.matches(&scope, r, now);
    let explained = criteria.explain(&scope, r, now);
    assert_eq!(matched, explained.matched, "matches and explain disagree");
    match criteria.check(&scope, r, now) {
        Ok(b) => assert_eq!(b, matched, "check and matches disagree"),
        Err(_) => assert!(!matched, "check failed but matches held"),
    }
    let _ = criteria.templates();
});
