//! The evaluator's own contract: precedence, lambdas, errors with their place, limits.

use super::*;
use serde_json::{Value, json};

fn eval(src: &str, data: Value) -> Result<Value, String> {
    let e = Expression::parse(src).map_err(|e| format!("syntax: {e}"))?;
    e.evaluate_json(&data).map_err(|e| e.to_string())
}

#[test]
fn operators_bind_as_in_yaql() {
    let cases = [
        ("2 + 3 * 4 mod 3", json!(2)),
        ("not 1 = 2", json!(true)),
        ("not true and false", json!(false)),
        ("-2 * 3", json!(-6)),
        ("-7 / 2", json!(-4)),
        ("-7 mod 3", json!(2)),
        ("1.0 / 2", json!(0.5)),
        ("1 = 1.0 and true = 1", json!(true)),
        ("null or 5", json!(5)),
        ("0 and x", json!(0)),
        ("'a' + \"b\" + `c\\d`", json!("abc\\d")),
        ("[1, 2] + [3]", json!([1, 2, 3])),
        ("{a => 1} + {b => 2}", json!({"a": 1, "b": 2})),
        ("let(x => 2) -> $x * $x", json!(4)),
        ("B in ABC and 2 in [1, 2]", json!(true)),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, Value::Null), Ok(want), "{src}");
    }
}

#[test]
fn queries_take_lambdas_over_borrowed_data() {
    let data = json!({"items": [{"a": 1, "n": "x"}, {"a": 3, "n": "y"}, {"a": 2, "n": "z"}]});
    let cases = [
        ("$.items.where($.a > 1).select($.n)", json!(["y", "z"])),
        ("$.items.orderBy($.a).n", json!(["x", "z", "y"])),
        ("$.items.len()", json!(3)),
        ("$.items[-1].n", json!("z")),
        ("$.items.select($.a).sum()", json!(6)),
        (
            "dict($.items.select([$.n, $.a]))",
            json!({"x": 1, "y": 3, "z": 2}),
        ),
        ("$.items.any($.a = 3)", json!(true)),
        ("$.get(nope)?.x", Value::Null),
        ("$.get(nope, 5)", json!(5)),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, data.clone()), Ok(want), "{src}");
    }
}

#[test]
fn then_by_orders_ties_of_every_earlier_key() {
    let data = json!([[1, 2, 3], [1, 2, 1], [1, 1, 9], [0, 5, 5], [1, 2, 7]]);
    let got = eval(
        "$.orderBy($[0]).thenBy($[1]).thenByDescending($[2])",
        data.clone(),
    );
    assert_eq!(
        got,
        Ok(json!([
            [0, 5, 5],
            [1, 1, 9],
            [1, 2, 7],
            [1, 2, 3],
            [1, 2, 1]
        ]))
    );
    let err = eval("$.thenBy($[0])", data).unwrap_err();
    assert!(err.contains("follows orderBy()"), "{err}");
}

#[test]
fn syntax_errors_give_the_column_and_what_was_expected() {
    let e = Expression::parse("$.a + (1").unwrap_err();
    assert_eq!(e.column, 8);
    assert!(e.message.contains("expected ')'"), "{e}");
    let e = Expression::parse("1 +/ 2").unwrap_err();
    assert_eq!(
        (e.column, e.message.as_str()),
        (3, "expected a value, found '/'")
    );
    let e = Expression::parse("'open").unwrap_err();
    assert!(e.message.contains("unterminated string"), "{e}");
    let e = Expression::parse("$.__d").unwrap_err();
    assert!(e.message.contains("'__'"), "{e}");
    let e = Expression::parse("len (x)").unwrap_err();
    assert_eq!(e.column, 4, "{e}");
    assert!(Expression::parse("{\"a\": 1}").is_err());
}

#[test]
fn run_time_errors_name_the_function_and_what_it_expected() {
    let err = eval("nope(1)", Value::Null).unwrap_err();
    assert!(err.contains("unknown function 'nope'"), "{err}");
    let err = eval("len(1, 2)", Value::Null).unwrap_err();
    assert!(err.contains("len() expects"), "{err}");
    let err = eval("$.where(1)", json!(5)).unwrap_err();
    assert!(err.contains("where() expects a collection"), "{err}");
    let err = eval("$.b", json!({"a": 1})).unwrap_err();
    assert!(err.contains("no key 'b'"), "{err}");
    let err = eval("[1][3]", Value::Null).unwrap_err();
    assert!(err.contains("out of range"), "{err}");
    let err = eval("1 / 0", Value::Null).unwrap_err();
    assert!(err.contains("division by zero"), "{err}");
    let err = eval("9223372036854775807 + 1", Value::Null).unwrap_err();
    assert!(err.contains("overflow"), "{err}");
    let err = eval("[1] < [2]", Value::Null).unwrap_err();
    assert!(err.contains("operator '<'"), "{err}");
    let err = eval("regex('(?<=a)b')", Value::Null).unwrap_err();
    assert!(err.contains("bad regular expression"), "{err}");
}

#[test]
fn hostile_expressions_end_with_an_error() {
    let err = eval("range(100000000).len()", Value::Null).unwrap_err();
    assert!(err.contains("steps"), "{err}");
    let err = eval("range(3000).select(range(3000).len()).len()", Value::Null).unwrap_err();
    assert!(err.contains("steps"), "{err}");
    let err = eval("def(f, f($)) -> f(1)", Value::Null).unwrap_err();
    assert!(err.contains("deeper than"), "{err}");
    let err = eval("x * 5000000", Value::Null).unwrap_err();
    assert!(err.contains("bytes"), "{err}");
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_PARSE_DEPTH + 1),
        ")".repeat(MAX_PARSE_DEPTH + 1)
    );
    assert!(
        Expression::parse(&deep)
            .unwrap_err()
            .message
            .contains("nested deeper")
    );
    let ok = format!(
        "{}1{}",
        "(".repeat(MAX_PARSE_DEPTH - 2),
        ")".repeat(MAX_PARSE_DEPTH - 2)
    );
    assert_eq!(eval(&ok, Value::Null), Ok(json!(1)));
    assert!(
        eval("1.repeat()", Value::Null)
            .unwrap_err()
            .contains("endless")
    );
}

#[test]
fn garbage_never_panics() {
    let pieces = [
        "$", ".", "(", ")", "[", "]", "{", "}", ",", "=>", "->", "a", "1", "'s'", "+", "-", "not",
        "and", "?.", "where", "select", "$x", "=", "<", "1.5", "`", "\"", "\\", "mod",
    ];
    let mut seed = 7u64;
    for _ in 0..4000 {
        let mut src = String::new();
        for _ in 0..(seed % 9) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            src.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            src.push(' ');
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        if let Ok(e) = Expression::parse(&src) {
            let _ = e.evaluate_json(&json!({"a": [1, 2], "x": "s"}));
        }
    }
}

#[test]
fn unknown_functions_are_listed_without_defined_ones() {
    let e = Expression::parse("def(f, $) -> f(ctx().x).where(foo($)).len()").unwrap();
    assert_eq!(e.unknown_functions(), vec!["ctx", "foo"]);
}
