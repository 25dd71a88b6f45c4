//! Criterion micro-benchmarks: criteria evaluation per operator family, template rendering,
//! and rule matching with 10,000 rules over 1,000 triggers.

use attune_benches::{many_rules_engine, match_payload};
use attune_core::rules::Criteria;
use attune_core::template::{Templates, to_jinja};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

fn criteria(c: &mut Criterion) {
    let payload = json!({"trigger": {
        "host": "web-01.example.com", "level": "High", "value": 97, "message": "Disk almost full on /var",
        "items": [{"name": "a", "v": 1}, {"name": "b", "v": 5}, {"name": "c", "v": 9}],
        "at": chrono::Utc::now().to_rfc3339(),
    }});
    let now = chrono::Utc::now();
    let cases: &[(&str, Value)] = &[
        (
            "equals",
            json!({"trigger.host": {"type": "equals", "pattern": "web-01.example.com"}}),
        ),
        (
            "iequals",
            json!({"trigger.level": {"type": "iequals", "pattern": "high"}}),
        ),
        (
            "contains",
            json!({"trigger.message": {"type": "contains", "pattern": "full"}}),
        ),
        (
            "icontains",
            json!({"trigger.message": {"type": "icontains", "pattern": "DISK"}}),
        ),
        (
            "startswith",
            json!({"trigger.host": {"type": "startswith", "pattern": "web-"}}),
        ),
        (
            "greaterthan",
            json!({"trigger.value": {"type": "gt", "pattern": 90}}),
        ),
        (
            "regex",
            json!({"trigger.host": {"type": "regex", "pattern": "^web-\\d+\\."}}),
        ),
        (
            "matchwildcard",
            json!({"trigger.host": {"type": "matchwildcard", "pattern": "web-*.example.com"}}),
        ),
        (
            "inside",
            json!({"trigger.level": {"type": "inside", "pattern": ["Low", "High"]}}),
        ),
        ("exists", json!({"trigger.value": {"type": "exists"}})),
        (
            "timediff_lt",
            json!({"trigger.at": {"type": "timediff_lt", "pattern": 60}}),
        ),
        (
            "search_any",
            json!({"trigger.items": {"type": "search", "condition": "any", "pattern": {
                "item.name": {"type": "equals", "pattern": "c"}, "item.v": {"type": "gt", "pattern": 5}}}}),
        ),
    ];
    let mut g = c.benchmark_group("criteria");
    for (name, spec) in cases {
        let crit = Criteria::compile(spec).expect("valid criteria");
        assert!(crit.matches(&payload, None, now), "{name} should match");
        g.bench_function(*name, |b| {
            b.iter(|| black_box(crit.matches(black_box(&payload), None, now)))
        });
    }
    g.finish();
}

fn templates(c: &mut Criterion) {
    let t = Templates::new();
    let params = json!({"msg": "{{ trigger.message }}", "n": "{{ trigger.value }}",
        "text": "host {{ trigger.host }} is at {{ trigger.value }}%", "fixed": 3});
    let compiled = t.compile("bench", &params).expect("templates compile");
    let ctx = to_jinja(json!({"trigger": {"host": "web-01", "value": 97, "message": "disk full"}}));
    let mut g = c.benchmark_group("template");
    g.bench_function("render_params_3_templates", |b| {
        b.iter(|| black_box(t.render(&compiled, black_box(&ctx)).expect("renders")))
    });
    let one = t
        .compile("bench", &json!({"n": "{{ trigger.value }}"}))
        .expect("compiles");
    g.bench_function("render_single_expression", |b| {
        b.iter(|| black_box(t.render(&one, black_box(&ctx)).expect("renders")))
    });
    g.bench_function("context_from_payload", |b| {
        let p = json!({"host": "web-01", "value": 97, "message": "disk full"});
        b.iter(|| black_box(to_jinja(black_box(&p))))
    });
    g.finish();
}

fn rule_matching(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = rt.block_on(many_rules_engine(1000, 10)).expect("engine");
    let payload = match_payload();
    let mut g = c.benchmark_group("rule_match_10k_rules");
    g.bench_function("one_trigger_10_rules", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                engine
                    .dry_run("bench.t500", &payload)
                    .await
                    .expect("dry run"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, criteria, templates, rule_matching);
criterion_main!(benches);
