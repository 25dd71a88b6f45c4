//! Property tests of the parsers the fuzz targets (`fuzz/`) cover: rule criteria and their
//! operators, templates (with the Python `%` rewrite), YAQL, pack YAML, workflow YAML and
//! rehearsal files. Each parser must give a result or an error on any input — never panic
//! — and keep the properties below. Case counts are bounded so the suite stays fast.

use attune_core::pack::{PackOptions, read_pack, read_rule};
use attune_core::rules::Criteria;
use attune_core::rules::operators::{self, Operator};
use attune_core::template::{Templates, check_syntax, is_template, to_jinja};
use attune_core::workflow::{self, Plan, RehearsalSpec, RunStatus};
use attune_core::yaql::Expression;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Cases per property (the pack directory ones do file I/O: fewer).
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-zA-Z0-9 *.?\\-]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text made of a language's tokens and bits of anything, so that generated inputs reach
/// past the first syntax check.
fn soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(tokens).prop_map(str::to_string),
        1 => ".{0,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

#[rustfmt::skip]
const JINJA: &[&str] = &[
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "x", "n", "'%s'", "'%d'", "'%(k)s'", "%", "(", ")",
    ",", "|", "upper", "format", "default(1)", "for i in x", "endfor", "if n", "endif", "raw",
    "endraw", "set y = 1", "'a'", "1", "+", "*", "~", "[", "]", ".", "{'k': 1}", "<%", "%>",
];

#[rustfmt::skip]
const YAQL: &[&str] = &[
    "$", ".", "$.a", "1", "2.5", "'s'", "true", "null", "+", "-", "*", "/", "mod", "=", "!=",
    "<", ">", "and", "or", "not", "(", ")", "[", "]", "{", "}", ",", ":", "len(", "sum(",
    "select(", "where(", "$.x", "->", "=>", "let(", "range(", "#", " ", "str(", "dict(",
    "list(", "max(", "concat(", "?",
];

#[rustfmt::skip]
const YAML: &[&str] = &[
    "\n", "  ", "- ", ": ", "tasks", "task1", "action", "core.noop", "next", "do", "when",
    "publish", "input", "output", "version", "1.0", "with", "items", "retry", "join", "all",
    "{{ ctx('x') }}", "<% $.x %>", "chain", "name", "ref", "on-success", "on-failure",
    "default", "[", "]", "{", "}", ",", "'", "\"", "&a", "*a", "!!str", "#", "~", "null",
    "inputs", "mock_action_executions", "task_id", "status", "failed", "expected_task_sequence",
    "trigger", "type", "criteria", "pattern", "equals", "pack", "enabled", "true",
];

// ----- criteria and operators -------------------------------------------------------------

/// The operators with a negation, by pair.
const NEGATIONS: &[(Operator, Operator)] = &[
    (Operator::Equals, Operator::NEquals),
    (Operator::Exists, Operator::NExists),
    (Operator::Contains, Operator::NContains),
    (Operator::Inside, Operator::NInside),
    (Operator::IContains, Operator::INContains),
];

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// Criteria of 1–3 criteria on `trigger.<key>`, each with an operator (search left out),
/// and a pattern.
fn criteria_spec() -> impl Strategy<Value = Value> {
    let ops: Vec<Operator> = Operator::ALL
        .into_iter()
        .filter(|op| *op != Operator::Search)
        .collect();
    let op = prop::sample::select(ops);
    let one = ("[a-c]{1,2}", op, json_value());
    prop::collection::vec(one, 1..4).prop_map(|cs| {
        let mut m = Map::new();
        for (i, (key, op, pattern)) in cs.into_iter().enumerate() {
            m.insert(
                format!("trigger.{key}#{i}"),
                json!({"type": op.name(), "pattern": pattern}),
            );
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any JSON as criteria compiles or gives errors; what compiles evaluates the same
    /// through `matches`, `check` and `explain`.
    #[test]
    fn criteria_evaluations_agree(spec in prop_oneof![json_value(), criteria_spec()],
                                  payload in json_value()) {
        let Ok(criteria) = Criteria::compile(&spec) else {
            return Ok(());
        };
        let scope = json!({"trigger": payload});
        let matched = criteria.matches(&scope, None, now());
        let explained = criteria.explain(&scope, None, now());
        prop_assert_eq!(matched, explained.matched);
        prop_assert_eq!(explained.checks.len(), criteria.len());
        match criteria.check(&scope, None, now()) {
            Ok(b) => prop_assert_eq!(b, matched),
            Err(_) => prop_assert!(!matched),
        }
    }

    /// An operator and its negation disagree on any value and any pattern but null (a null
    /// pattern is false for both, as in StackStorm).
    #[test]
    fn operator_and_negation_disagree(value in json_value(), pattern in json_value()) {
        prop_assume!(!pattern.is_null());
        for &(op, neg) in NEGATIONS {
            let a = operators::apply(op, Some(&value), &pattern, now());
            let b = operators::apply(neg, Some(&value), &pattern, now());
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{} / {}", op, neg);
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_ne!(a, b, "{} and {} agree", op, neg);
            }
        }
    }

    /// `equals` holds of a value and itself; every operator gives a result or an error.
    #[test]
    fn equals_is_reflexive(value in json_value()) {
        prop_assume!(!value.is_null());
        prop_assert_eq!(operators::apply(Operator::Equals, Some(&value), &value, now()), Ok(true));
        for op in Operator::ALL {
            let _ = operators::apply(op, Some(&value), &value, now());
        }
    }
}

// ----- templates ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Any text gives a result or an error through every entry point; text that passes the
    /// syntax check also compiles.
    #[test]
    fn templates_never_panic(source in soup(JINJA), ctx in json_value()) {
        let t = Templates::new();
        let ctx = json!({"x": ctx, "n": 3, "k": "v"});
        let ctx = to_jinja(&ctx);
        let syntax = check_syntax(&source);
        let _ = t.render_once("p", &source, &ctx);
        let _ = t.render_text_once("p", &source, &ctx);
        let _ = t.render_pattern("p", &source, &ctx);
        let _ = Templates::allowing_undefined().render_once("p", &source, &ctx);
        let compiled = t.compile("p", &Value::String(source.clone()));
        if syntax.is_ok() {
            prop_assert!(compiled.is_ok(), "{:?} checks but does not compile: {:?}", source,
                         compiled.err());
        }
        let wf = Templates::for_workflows();
        if let Ok(c) = wf.compile("p", &Value::String(source)) {
            let _ = wf.render(&c, &ctx);
        }
    }

    /// Text without template syntax renders to itself and compiles to a literal.
    #[test]
    fn plain_text_renders_to_itself(source in "[^{}\r\n]{0,40}") {
        prop_assert!(!is_template(&source));
        let t = Templates::new();
        let ctx = to_jinja(json!({}));
        prop_assert_eq!(t.render_text_once("p", &source, &ctx).unwrap(), source.clone());
        prop_assert!(t.compile("p", &Value::String(source)).unwrap().is_literal());
    }

    /// A single expression keeps its JSON type.
    #[test]
    fn single_expression_keeps_its_value(v in json_value()) {
        let t = Templates::new();
        let ctx = to_jinja(json!({"v": v}));
        prop_assert_eq!(t.render_once("p", "{{ v }}", &ctx).unwrap(), v);
    }

    /// Python `%` formatting of a string literal renders as Rust's `format!` would.
    #[test]
    fn percent_format_matches_rust(a in "[a-z0-9]{0,8}", n in any::<i32>(), k in "[a-z]{1,4}") {
        let t = Templates::new();
        let ctx = to_jinja(json!({"a": a, "n": n, "d": {k.clone(): n}}));
        let two = t.render_text_once("p", "{{ '%s-%d' % (a, n) }}", &ctx).unwrap();
        prop_assert_eq!(two, format!("{a}-{n}"));
        let nested = t.render_text_once("p", "{{ '<%s>' % ('%d' % n) }}", &ctx).unwrap();
        prop_assert_eq!(nested, format!("<{n}>"));
        let named = t.render_text_once("p", &format!("{{{{ '%({k})s!' % d }}}}"), &ctx).unwrap();
        prop_assert_eq!(named, format!("{n}!"));
    }
}

// ----- YAQL ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Any text parses or gives a syntax error; what parses evaluates or gives an error.
    #[test]
    fn yaql_never_panics(source in soup(YAQL), data in json_value()) {
        if let Ok(e) = Expression::parse(&source) {
            prop_assert_eq!(e.source(), source.as_str());
            let _ = e.unknown_functions();
            let _ = e.evaluate_json(&data);
        }
    }

    /// Integer arithmetic and comparison agree with Rust's.
    #[test]
    fn yaql_arithmetic_agrees_with_rust(a in -1_000_000i64..1_000_000,
                                        b in -1_000_000i64..1_000_000,
                                        c in -1000i64..1000) {
        let eval = |src: &str, data: &Value| {
            Expression::parse(src).unwrap().evaluate_json(data).unwrap()
        };
        let data = json!({"a": a, "b": b, "c": c});
        prop_assert_eq!(eval("$.a + $.b * $.c", &data), json!(a + b * c));
        prop_assert_eq!(eval(&format!("({a}) - ({b})"), &Value::Null), json!(a - b));
        prop_assert_eq!(eval("$.a < $.b", &data), json!(a < b));
        prop_assert_eq!(eval("$.a = $.b or $.a > $.b", &data), json!(a >= b));
    }
}

// ----- pack YAML ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Any text as a rule file reads or gives problems, each naming the file.
    #[test]
    fn rule_file_never_panics(text in soup(YAML)) {
        if let Err(e) = read_rule("r.yaml", &text, "demo") {
            prop_assert!(!e.problems.is_empty());
            prop_assert!(e.problems.iter().all(|p| p.file.contains("r.yaml")), "{}", e);
        }
    }

    /// A rule written in StackStorm's shape reads back as written.
    #[test]
    fn rule_reads_back(name in "[a-z][a-z0-9_]{0,12}", trigger in "[a-z]{1,6}\\.[a-z]{1,6}",
                       action in "[a-z]{1,6}\\.[a-z]{1,6}", enabled in any::<bool>()) {
        let text = format!(
            "name: '{name}'\npack: demo\ntrigger:\n  type: {trigger}\naction:\n  ref: {action}\n\
             enabled: {enabled}\ncriteria:\n  trigger.x:\n    type: equals\n    pattern: 1\n"
        );
        let rule = read_rule("r.yaml", &text, "demo").unwrap();
        prop_assert_eq!(rule.rule_ref, format!("demo.{name}"));
        prop_assert_eq!(rule.enabled, enabled);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A pack directory whose pack.yaml and one action file hold any text reads or gives
    /// problems.
    #[test]
    fn pack_dir_never_panics(manifest in soup(YAML), action in soup(YAML)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pack.yaml"), format!("ref: demo\nname: demo\n{manifest}"))
            .unwrap();
        std::fs::create_dir(dir.path().join("actions")).unwrap();
        std::fs::write(dir.path().join("actions/a.yaml"), action).unwrap();
        if let Err(e) = read_pack(dir.path(), &PackOptions::default()) {
            prop_assert!(!e.problems.is_empty());
        }
    }
}

// ----- workflow YAML and rehearsal files ----------------------------------------------------

/// A workflow running `names` one after the other.
fn sequence_workflow(names: &[String]) -> String {
    let mut text = String::from("version: 1.0\ntasks:\n");
    for (i, n) in names.iter().enumerate() {
        text.push_str(&format!("  {n}:\n    action: core.noop\n"));
        if let Some(next) = names.get(i + 1) {
            text.push_str(&format!("    next:\n      - do: {next}\n"));
        }
    }
    text
}

/// 1–6 distinct task names (prefixed: never a YAML keyword or an Orquesta command).
fn task_names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("t_[a-z0-9_]{0,8}", 1..7)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

proptest! {
    #![proptest_config(config())]

    /// Any text is read as a workflow and as a chain without a panic; what reads re-checks
    /// clean and compiles to a plan.
    #[test]
    fn workflow_never_panics(text in soup(YAML)) {
        match workflow::parse(&text, "w.yaml") {
            Ok(wf) => {
                prop_assert_eq!(wf.validate(), Ok(()));
                prop_assert!(Plan::new(wf).is_ok());
            }
            Err(e) => prop_assert!(!e.problems.is_empty()),
        }
        match workflow::parse_chain(&text, "c.yaml") {
            Ok(chain) => prop_assert_eq!(chain.validate(), Ok(())),
            Err(e) => prop_assert!(!e.problems.is_empty()),
        }
    }

    /// A generated sequence reads, re-checks the same, starts at its first task and runs
    /// its tasks in order in a rehearsal.
    #[test]
    fn sequence_workflow_reads_and_rehearses(names in task_names()) {
        let wf = workflow::parse(&sequence_workflow(&names), "w.yaml").unwrap();
        prop_assert_eq!(wf.validate(), Ok(()));
        prop_assert_eq!(wf.start_tasks(), vec![names[0].as_str()]);
        prop_assert_eq!(wf.tasks.len(), names.len());
        let spec = RehearsalSpec::parse(
            &format!("expected_task_sequence: {}", serde_json::to_string(&names).unwrap()),
            "r.yaml",
        )
        .unwrap();
        let got = spec.run(Plan::new(wf).unwrap()).unwrap();
        prop_assert_eq!(&got.tasks, &names);
        prop_assert_eq!(got.status, RunStatus::Succeeded);
        prop_assert_eq!(spec.first_difference(&got), None);
    }

    /// Any text as a rehearsal file reads or gives an error naming the file; a read file
    /// rehearses a fixed workflow without a panic.
    #[test]
    fn rehearsal_file_never_panics(text in soup(YAML)) {
        match RehearsalSpec::parse(&text, "r.yaml") {
            Ok(spec) => {
                let wf = workflow::parse(&sequence_workflow(&["task1".into(), "b".into()]), "w")
                    .unwrap();
                if let Ok(got) = spec.run(Plan::new(wf).unwrap()) {
                    let _ = spec.first_difference(&got);
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("r.yaml"), "{}", e),
        }
    }
}
