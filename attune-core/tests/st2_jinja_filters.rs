//! StackStorm's Jinja filter vectors (tests/data/st2_jinja_filters.json).
//!
//! Every case is rendered as text, as StackStorm renders templates
//! (`Templates::render_text_once`: values that are not strings print as Python's `str()`),
//! and its output must equal `expected` byte for byte. A case whose template is a single
//! `{{ expr }}` is also rendered the way Attune renders params (`Templates::render_once`,
//! the JSON type kept) and must give the same value: `expected_value` where the case has
//! one, else a value that prints as `expected` (`True` for true, `-1` for -1), and null
//! for `use_none`'s marker.
//!
//! Two kinds of cases differ from StackStorm on purpose, and are checked to give Attune's
//! answer instead (the `differences` count):
//! * `decrypt_kv` of an encrypted value: StackStorm's ciphertexts are not Attune's, and a
//!   template rendered outside an engine's rule has no key: an error saying where encrypted
//!   values can be read (never the ciphertext or a wrong value);
//! * a missing key (`st2kv.system.doesnt_exist`): strict undefined, so the error names the
//!   undefined variable before `decrypt_kv` runs (StackStorm: "Referenced datastore item
//!   ... doesn't exist").
//!
//! Error messages of other error cases are Attune's: a case's `expect_error` must appear in
//! them, or its Attune equivalent listed in `ATTUNE_ERRORS`.

use attune_core::template::{Templates, to_jinja};
use serde_json::{Map, Value, json};

const EXPECTED_CASES: usize = 86;

/// StackStorm's error text → the text Attune's error holds instead.
const ATTUNE_ERRORS: &[(&str, &str)] = &[("'c' is undefined", "undefined variable 'c'")];

fn load() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/st2_jinja_filters.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The context with each datastore lookup `{"$kv": scope, ...}` replaced by what Attune's
/// template context holds: the map of that scope's keys (a user's keys without their
/// `user:` prefix), or for a lookup of one key its value.
fn context(case: &Value) -> Value {
    let store = case["datastore"].as_array().cloned().unwrap_or_default();
    fn walk(v: &Value, store: &[Value]) -> Value {
        match v {
            Value::Object(m) if m.contains_key("$kv") => {
                let scope = m["$kv"].as_str().expect("a scope");
                let prefix = m
                    .get("user")
                    .and_then(Value::as_str)
                    .map(|u| format!("{u}:"))
                    .unwrap_or_default();
                let keys: Map<String, Value> = store
                    .iter()
                    .filter(|k| k["scope"] == scope)
                    .filter_map(|k| {
                        let name = k["name"].as_str()?.strip_prefix(prefix.as_str())?;
                        Some((name.to_string(), k["value"].clone()))
                    })
                    .collect();
                match m.get("key").and_then(Value::as_str) {
                    Some(key) => keys.get(key).cloned().unwrap_or(json!("")),
                    None => Value::Object(keys),
                }
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| (k.clone(), walk(x, store))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, store)).collect()),
            other => other.clone(),
        }
    }
    walk(&case["context"], &store)
}

/// How a value Attune kept typed prints in Python (`str()`) for the scalars the vectors
/// hold.
fn python_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether the template is exactly one `{{ expr }}`.
fn single_expression(t: &str) -> bool {
    let t = t.trim();
    t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1
}

enum Outcome {
    Same,
    Different,
}

fn check(i: usize, case: &Value) -> Result<Outcome, String> {
    let template = case["template"].as_str().expect("a template");
    let lenient = case["env"]["allow_undefined"] == json!(true);
    let t = if lenient {
        Templates::allowing_undefined()
    } else {
        Templates::new()
    };
    let ctx = to_jinja(context(case));
    let location = format!("case {i}");
    let text = t.render_text_once(&location, template, &ctx);
    let is_crypto = case["group"] == "crypto";
    if is_crypto {
        let err = text
            .err()
            .ok_or_else(|| format!("{template}: decrypt_kv must be an error"))?
            .to_string();
        let want = if case.get("expect_error").is_some() {
            // The missing key is an undefined variable, named.
            let key = template
                .trim_matches(|c| c == '{' || c == '}' || c == ' ')
                .split('|')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            format!("undefined variable '{key}'")
        } else {
            "decrypt_kv: encrypted key values cannot be read here".to_string()
        };
        return if err.contains(&want) && err.contains(&location) {
            Ok(Outcome::Different)
        } else {
            Err(format!("{template}: error {err:?} lacks {want:?}"))
        };
    }
    if let Some(want) = case.get("expect_error").and_then(Value::as_str) {
        let err = match text {
            Ok(out) => return Err(format!("{template}: rendered {out:?}, wanted an error")),
            Err(e) => e.to_string(),
        };
        let want = ATTUNE_ERRORS
            .iter()
            .find(|(st2, _)| *st2 == want)
            .map_or(want, |(_, ours)| ours);
        if !err.contains(want) || !err.contains(&location) {
            return Err(format!("{template}: error {err:?} lacks {want:?}"));
        }
        return Ok(Outcome::Same);
    }
    let expected = case["expected"].as_str().expect("an expected string");
    let out = text.map_err(|e| format!("{template}: {e}"))?;
    if out != expected {
        return Err(format!("{template}: rendered {out:?}, wanted {expected:?}"));
    }
    if single_expression(template) && !lenient {
        let typed = t
            .render_once(&location, template, &ctx)
            .map_err(|e| format!("{template} (typed): {e}"))?;
        let ok = match case.get("expected_value") {
            Some(v) => &typed == v || typed.as_str() == Some(expected),
            None if expected == attune_core::template::USE_NONE_MAGIC => typed.is_null(),
            None => python_str(&typed) == expected,
        };
        if !ok {
            return Err(format!(
                "{template} (typed): gave {typed}, wanted {expected:?}"
            ));
        }
    }
    Ok(Outcome::Same)
}

#[test]
fn st2_jinja_filter_vectors() {
    let data = load();
    let cases = data["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), EXPECTED_CASES);
    let (mut same, mut different, mut failures) = (0, 0, Vec::new());
    for (i, case) in cases.iter().enumerate() {
        match check(i, case) {
            Ok(Outcome::Same) => same += 1,
            Ok(Outcome::Different) => different += 1,
            Err(e) => failures.push(format!("case {i} ({}): {e}", case["source"])),
        }
    }
    println!(
        "st2 Jinja filter vectors: {same}/{} as StackStorm, {different} documented \
         differences (decrypt_kv), {} failures",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(same + different, EXPECTED_CASES);
    assert_eq!(different, 5, "the crypto cases only");
}

#[test]
fn every_filter_st2_registers_is_registered() {
    let data = load();
    let names: Vec<&str> = attune_core::template::st2_filter_names().collect();
    let st2 = data["filters"]["st2"].as_object().expect("filters.st2");
    for name in st2.keys() {
        assert!(names.contains(&name.as_str()), "{name} is not registered");
    }
    assert_eq!(names.len(), st2.len());
    // Each is a filter and a function; Orquesta's aliases are functions.
    let t = Templates::new();
    let ctx = to_jinja(json!({"d": {"b": [1, 2], "a": "x"}}));
    let cases = [
        (
            "{{ d | to_json_string(sort_keys=True) }}",
            json!(r#"{"a": "x","b": [1,2]}"#),
        ),
        (
            "{{ to_json_string(d, indent=2) }}",
            json!("{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": \"x\"\n}"),
        ),
        ("{{ json_dump(d.b) }}", json!("[1,2]")),
        ("{{ json_parse('[1]') }}", json!([1])),
        ("{{ yaml_dump(d) }}", json!("a: x\nb:\n- 1\n- 2\n")),
        ("{{ yaml_parse('a: [1]') }}", json!({"a": [1]})),
        ("{{ d | to_complex }}", json!(r#"{"b": [1, 2], "a": "x"}"#)),
        ("{{ 'x' is in ['x', 'y'] }}", json!(true)),
        ("{{ 'z' is in d.b }}", json!(false)),
        (
            "{{ 'ab12cd' | regex_replace('(?P<n>[0-9]+)', '<\\\\g<n>>') }}",
            json!("ab<12>cd"),
        ),
        (
            "{{ 'a1b2' | regex_substring('([a-z])([0-9])', 1) }}",
            json!(["b", "2"]),
        ),
        (
            "{{ 'ABC' | regex_match('abc', ignorecase=True) }}",
            json!(true),
        ),
        ("{{ '1.2.3-rc.1' | version_match('<1.2.3') }}", json!(true)),
        ("{{ d | jsonpath_query('$..b[*]') }}", json!([1, 2])),
        ("{{ '/' | dirname }}", json!("/")),
        ("{{ none | use_none }}", Value::Null),
        ("{{ 'a\"b' | json_escape }}", json!("a\\\"b")),
    ];
    for (source, want) in cases {
        assert_eq!(t.render_once("x", source, &ctx).unwrap(), want, "{source}");
    }
    // In a text, a none marker inside other text stays text; alone it is null.
    assert_eq!(
        t.render_once("x", "a{{ none | use_none }}", &ctx).unwrap(),
        json!("a%*****__%NONE%__*****%")
    );
}

#[test]
fn bad_arguments_name_the_filter_what_it_expects_and_where() {
    let t = Templates::new();
    let ctx = to_jinja(json!({"v": "1.2.3", "n": 5, "d": {"a": 1}}));
    let cases = [
        (
            "{{ v | regex_replace('x') }}",
            "regex_replace is missing its argument 'replacement' (expects regex_replace(value, pattern, replacement, ignorecase=False))",
        ),
        (
            "{{ v | version_compare('1.0.0', 'x') }}",
            "version_compare takes at most 2 arguments, got 3",
        ),
        (
            "{{ v | regex_match(5) }}",
            "regex_match needs a string as 'pattern', got number 5",
        ),
        (
            "{{ v | to_json_string(indnt=2) }}",
            "to_json_string has no argument 'indnt'",
        ),
        (
            "{{ n | version_bump_major }}",
            "version_bump_major needs a version string as 'value', got number 5",
        ),
        (
            "{{ '1.2' | version_equal('1.2.0') }}",
            "version_equal got '1.2', which is not a semantic version",
        ),
        (
            "{{ v | regex_search('(') }}",
            "regex_search cannot compile the pattern '('",
        ),
        (
            "{{ d | jsonpath_query('a[?(@.x)]') }}",
            "jsonpath_query cannot read the query 'a[?(@.x)]'",
        ),
        (
            "{{ 'x' | to_human_time_from_seconds }}",
            "to_human_time_from_seconds needs a number as 'seconds', got string 'x'",
        ),
        (
            "{{ '{' | from_json_string }}",
            "from_json_string cannot parse",
        ),
        (
            "{{ v | regex_match('a', ignorecase='yes') }}",
            "regex_match needs a boolean as 'ignorecase'",
        ),
        (
            "{{ 'x' | decrypt_kv }}",
            "decrypt_kv: encrypted key values cannot be read here",
        ),
        ("{{ nope | basename }}", "undefined variable 'nope'"),
    ];
    for (source, want) in cases {
        let err = t
            .render_once("rule 'p.r' param 'x'", source, &ctx)
            .expect_err(source)
            .to_string();
        assert!(err.contains(want), "{source}: {err}");
        assert!(err.contains("rule 'p.r' param 'x'"), "{source}: {err}");
    }
    // In a multi-line template the line is named.
    let err = t
        .render_once("loc", "a\n{{ v | version_bump_minor(1) }}", &ctx)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("version_bump_minor takes at most 1 argument"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
}
