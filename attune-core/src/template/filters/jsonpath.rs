//! `jsonpath_query(value, query)`: a small JSONPath evaluator for the subset StackStorm
//! content uses (jsonpath-rw's syntax):
//!
//! * `$` (the root, optional at the start), `name` / `.name`, `'quoted name'`,
//!   `"quoted name"`;
//! * `*` / `.*` (every value of a mapping), `[*]` (every item of a list), `[N]` (one item),
//!   `[N:M]` (a slice, either end optional), `..name` (`name` at any depth below).
//!
//! As in jsonpath-rw, `[*]` and slices treat a mapping, a string or a number as a list of
//! that one value, and a name, index or `*` that does not apply matches nothing. Anything
//! else (filters `[?(…)]`, unions, `@`, arithmetic) is an error naming the query.

use super::{Call, FilterResult, to_json};
use crate::template::to_jinja;
use minijinja::Value as JValue;
use serde_json::Value;

/// One step of a path.
#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    AllValues,
    AllItems,
    Index(usize),
    Slice(Option<usize>, Option<usize>),
    Descend(String),
}

/// `jsonpath_query(value, query)`: the list of matched values, or none when nothing
/// matched.
pub(super) fn jsonpath_query(call: &Call) -> FilterResult {
    let query = call.str(1)?;
    let steps =
        parse(query).map_err(|e| call.error(format!("cannot read the query '{query}': {e}")))?;
    let root = to_json(call, call.value())?;
    let mut current: Vec<&Value> = vec![&root];
    for step in &steps {
        let mut next = Vec::new();
        for v in current {
            apply(step, v, &mut next);
        }
        current = next;
    }
    if current.is_empty() {
        return Ok(JValue::from(()));
    }
    Ok(to_jinja(current))
}

fn apply<'a>(step: &Step, v: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.as_object().and_then(|m| m.get(name)) {
                out.push(x);
            }
        }
        Step::AllValues => {
            if let Some(m) = v.as_object() {
                out.extend(m.values());
            }
        }
        Step::AllItems => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Null | Value::Bool(_) => {}
            other => out.push(other),
        },
        Step::Index(i) => {
            if let Some(x) = v.as_array().and_then(|a| a.get(*i)) {
                out.push(x);
            }
        }
        Step::Slice(from, to) => match v {
            Value::Array(a) => {
                let end = to.unwrap_or(a.len()).min(a.len());
                let start = from.unwrap_or(0).min(end);
                out.extend(a[start..end].iter());
            }
            Value::Null | Value::Bool(_) => {}
            other => {
                if from.unwrap_or(0) == 0 && to.is_none_or(|t| t > 0) {
                    out.push(other);
                }
            }
        },
        Step::Descend(name) => descend(name, v, out),
    }
}

/// `..name`: `name` of `v` and of everything below it, depth first.
fn descend<'a>(name: &str, v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(name) {
                out.push(x);
            }
            for x in m.values() {
                descend(name, x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                descend(name, x, out);
            }
        }
        _ => {}
    }
}

/// Parses a query into steps.
fn parse(q: &str) -> Result<Vec<Step>, String> {
    let b = q.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if b.get(i) == Some(&b'$') {
        i += 1;
    }
    let mut expect_name = b.get(i).is_some_and(|c| *c != b'.' && *c != b'[');
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        if expect_name {
            let (step, end) = name(q, i, false)?;
            steps.push(step);
            i = end;
            expect_name = false;
            continue;
        }
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'.') => {
                let (step, end) = name(q, i + 2, true)?;
                steps.push(step);
                i = end;
            }
            b'.' => {
                i += 1;
                expect_name = true;
            }
            b'[' => {
                let close = q[i..]
                    .find(']')
                    .map(|k| i + k)
                    .ok_or("a '[' without its ']'")?;
                steps.push(bracket(q[i + 1..close].trim())?);
                i = close + 1;
            }
            c => return Err(format!("unexpected '{}' at {}", c as char, i + 1)),
        }
    }
    if expect_name {
        return Err("it ends after a '.'".into());
    }
    if steps.is_empty() && q.trim() != "$" {
        return Err("it is empty".into());
    }
    Ok(steps)
}

/// A name (or `*`) starting at `i`; `descend` for `..name`.
fn name(q: &str, i: usize, descend: bool) -> Result<(Step, usize), String> {
    let b = q.as_bytes();
    match b.get(i) {
        Some(b'*') if !descend => Ok((Step::AllValues, i + 1)),
        Some(&quote @ (b'\'' | b'"')) => {
            let end = q[i + 1..]
                .find(quote as char)
                .map(|k| i + 1 + k)
                .ok_or("a quoted name without its closing quote")?;
            let n = q[i + 1..end].to_string();
            Ok((field(n, descend), end + 1))
        }
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c >= 0x80 => {
            let end = q[i..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .map_or(q.len(), |k| i + k);
            Ok((field(q[i..end].to_string(), descend), end))
        }
        Some(c) => Err(format!(
            "'{}' at {} is not supported (supported: names, *, [*], [N], [N:M], ..name)",
            *c as char,
            i + 1
        )),
        None => Err("a name is missing at its end".into()),
    }
}

fn field(n: String, descend: bool) -> Step {
    if descend {
        Step::Descend(n)
    } else {
        Step::Field(n)
    }
}

/// What is inside `[...]`.
fn bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::AllItems);
    }
    if let Some(n) = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        return Ok(Step::Field(n.to_string()));
    }
    let num = |s: &str| -> Result<Option<usize>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<usize>()
            .map(Some)
            .map_err(|_| format!("'[{inner}]' is not supported (supported: [*], [N], [N:M])"))
    };
    match inner.split_once(':') {
        Some((a, c)) => Ok(Step::Slice(num(a)?, num(c)?)),
        None => num(inner)?
            .map(Step::Index)
            .ok_or_else(|| "'[]' is empty".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset_and_refuses_the_rest() {
        assert_eq!(
            parse("people[*].first").unwrap(),
            vec![
                Step::Field("people".into()),
                Step::AllItems,
                Step::Field("first".into())
            ]
        );
        assert_eq!(
            parse("$.a..b[1:]").unwrap(),
            vec![
                Step::Field("a".into()),
                Step::Descend("b".into()),
                Step::Slice(Some(1), None)
            ]
        );
        assert_eq!(parse("$.*").unwrap(), vec![Step::AllValues]);
        for bad in ["a[?(@.x)]", "a.", "a[", "", "a[-1]", "a b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn evaluates_like_jsonpath_rw() {
        let v = serde_json::json!({"a": {"b": 1, "c": [{"b": 2}, {"b": 3}]}, "s": "x"});
        let run = |q: &str| {
            let mut cur = vec![&v];
            for step in parse(q).unwrap() {
                let mut next = Vec::new();
                for x in cur {
                    apply(&step, x, &mut next);
                }
                cur = next;
            }
            cur.into_iter().cloned().collect::<Vec<_>>()
        };
        assert_eq!(run("$..b"), vec![serde_json::json!(1), 2.into(), 3.into()]);
        assert_eq!(run("a.c[1].b"), vec![serde_json::json!(3)]);
        assert_eq!(run("s[*]"), vec![serde_json::json!("x")]);
        assert_eq!(run("a.nope"), Vec::<Value>::new());
    }
}
