//! YAQL beside Jinja: simple compiled expressions evaluated over the same data, directly
//! (`yaql::Expression`) and through the workflow templates (`Templates::for_workflows`,
//! which is how the conductor renders `<% %>`), next to the equivalent compiled Jinja.

use attune_core::template::{Templates, WORKFLOW_VARS, WorkflowVars, to_jinja};
use attune_core::yaql::{Expression, NoHost, Val};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

fn data() -> Value {
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"a": i, "name": format!("n{i}")}))
        .collect();
    json!({"x": 41, "items": items, "host": "web-01"})
}

fn yaql(c: &mut Criterion) {
    let data = data();
    let jctx = to_jinja(&data);
    // What the conductor gives YAQL: the variables where they lie.
    let vars = Arc::new(data.as_object().cloned().expect("a map"));
    let wctx = minijinja::Value::from(BTreeMap::from([(WORKFLOW_VARS, WorkflowVars::value(vars))]));
    let jinja = Templates::new();
    let wf = Templates::for_workflows();
    let cases = [
        ("x_plus_1", "$.x + 1", "{{ x + 1 }}"),
        (
            "where_len",
            "$.items.where($.a > 2).len()",
            "{{ items | selectattr('a', 'gt', 2) | list | length }}",
        ),
        ("text", "$.host + '-' + str($.x)", "{{ host ~ '-' ~ x }}"),
    ];
    let mut g = c.benchmark_group("yaql");
    for (name, y, j) in cases {
        let e = Expression::parse(y).expect("parses");
        g.bench_function(format!("{name}/yaql"), |b| {
            b.iter(|| {
                let v = e
                    .evaluate(Val::Json(black_box(&data)), Vec::new(), &NoHost)
                    .expect("evaluates");
                black_box(v.to_json().expect("json"))
            })
        });
        let t = wf
            .compile("bench", &Value::String(format!("<% {y} %>")))
            .expect("compiles");
        g.bench_function(format!("{name}/yaql_template"), |b| {
            b.iter(|| black_box(wf.render(&t, black_box(&wctx)).expect("renders")))
        });
        let t = jinja
            .compile("bench", &Value::String(j.into()))
            .expect("compiles");
        g.bench_function(format!("{name}/jinja"), |b| {
            b.iter(|| black_box(jinja.render(&t, black_box(&jctx)).expect("renders")))
        });
    }
    g.bench_function("parse/where_len", |b| {
        b.iter(|| black_box(Expression::parse(black_box("$.items.where($.a > 2).len()"))))
    });
    g.finish();
}

criterion_group!(benches, yaql);
criterion_main!(benches);
