//! Reading a workflow file: Orquesta's shape (`next: [{when, publish, do}]`) and the
//! `on_success` / `on_failure` / `on_complete` / `on_timeout` shorthand, every problem with
//! its line, column and key path.

use super::model::{Backoff, Command, Join, Retry, Target, Task, Transition, WithItems, Workflow};
use crate::document::fields::{Field, Fields, Source, a_type};
use crate::document::problem::Report;
use crate::document::yaml::{child, item};
use serde_json::{Map, Value};

/// The workflow in `value` (a parsed file); problems go to `r`. `None` when it has no
/// tasks to check further (not a mapping, or no `tasks`).
pub(crate) fn read(src: &Source, value: &Value, r: &mut Report) -> Option<Workflow> {
    if super::mistral::refuse_mistral(src, value, r) {
        return None;
    }
    let mut wf = Workflow::default();
    let mut f = Fields::new(src, "", value, r)?;
    wf.version = f.any(&["version"]).map(|v| match v.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    wf.description = f.string(r, &["description"]).map(|d| d.value);
    if let Some(v) = f.any(&["input"]) {
        wf.input = named(src, &v, r, true);
    }
    if let Some(v) = f.any(&["vars"]) {
        wf.vars = named(src, &v, r, false)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(Value::Null)))
            .collect();
    }
    if let Some(v) = f.any(&["output"]) {
        wf.output = named(src, &v, r, false)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(Value::Null)))
            .collect();
    }
    match f.mapping(r, &["tasks"]) {
        Some(tasks) => {
            for (name, t) in tasks.value {
                let path = child(&tasks.path, name);
                wf.tasks.push(read_task(src, &path, name, t, r));
            }
        }
        None => {
            if !matches!(value.get("tasks"), Some(v) if !v.is_null()) {
                r.push(src.problem("", "missing required key 'tasks'"));
            }
            f.finish(r);
            return None;
        }
    }
    f.finish(r);
    Some(wf)
}

/// `input`, `vars`, `output`: a list of names (`bare` only) or one-key mappings, or a
/// mapping; in order.
fn named(
    src: &Source,
    f: &Field<&Value>,
    r: &mut Report,
    bare: bool,
) -> Vec<(String, Option<Value>)> {
    let mut out = Vec::new();
    match f.value {
        Value::Object(m) => out.extend(m.iter().map(|(k, v)| (k.clone(), Some(v.clone())))),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let path = item(&f.path, i);
                match v {
                    Value::String(name) if bare => out.push((name.clone(), None)),
                    Value::Object(m) if m.len() == 1 => {
                        let (k, v) = m.iter().next().expect("one entry");
                        out.push((k.clone(), Some(v.clone())));
                    }
                    other => {
                        let want = if bare {
                            "a name or a mapping of one name to its default"
                        } else {
                            "a mapping of one name to its value"
                        };
                        r.push(
                            src.problem(&path, format!("must be {want}, got {}", a_type(other))),
                        );
                    }
                }
            }
        }
        other => r.push(src.problem(
            &f.path,
            format!("must be a list or a mapping, got {}", a_type(other)),
        )),
    }
    out
}

const SHORTHAND: [&str; 4] = ["on_success", "on_failure", "on_complete", "on_timeout"];

fn read_task(src: &Source, path: &str, name: &str, value: &Value, r: &mut Report) -> Task {
    let mut task = Task::new(name);
    let Some(mut f) = Fields::new(src, path, value, r) else {
        return task;
    };
    f.accept(&["description"]);
    let mut inline = Map::new();
    if let Some(a) = f.string(r, &["action"]) {
        let text = a.value.trim();
        let (action, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        if action.is_empty() {
            r.push(src.problem(&a.path, "must name an action"));
        } else {
            task.action = Some(action.to_string());
        }
        match inline_params(rest) {
            Ok(m) => inline = m,
            Err(e) => r.push(src.problem(&a.path, format!("params after the action ref: {e}"))),
        }
    }
    if let Some(m) = f.mapping(r, &["input"]) {
        task.input = m.value.clone();
    }
    for (k, v) in inline {
        if task.input.contains_key(&k) {
            let msg = format!("param '{k}' is given both after the action ref and in 'input'");
            r.push(src.problem(&child(path, "input"), msg));
        } else {
            task.input.insert(k, v);
        }
    }
    task.join = f.any(&["join"]).and_then(|j| match j.value {
        Value::String(s) if s == "all" => Some(Join::All),
        Value::Number(n) if n.as_u64().is_some_and(|n| n >= 1) => {
            Some(Join::Count(u32::try_from(n.as_u64()?).unwrap_or(u32::MAX)))
        }
        other => {
            let msg = format!("must be 'all' or a count of at least 1, got {other}");
            r.push(src.problem(&j.path, msg));
            None
        }
    });
    if let Some(w) = f.any(&["with"]) {
        task.with = read_with(src, &w, r);
    }
    if let Some(w) = f.any(&["retry"]) {
        task.retry = read_retry(src, &w, r);
    }
    // A templated delay (`delay: <% ctx(delay) %>`) is rendered when the task starts.
    let mut templated_delay = false;
    if let Some(d) = f.any(&["delay"])
        && let Value::String(text) = d.value
    {
        templated_delay = true;
        if crate::template::is_template(text) || text.contains("<%") {
            task.delay_expr = Some(text.clone());
        } else {
            r.push(src.problem(
                &d.path,
                format!("must be a number of seconds or a template giving one, got '{text}'"),
            ));
        }
    }
    for (key, slot) in [("timeout", &mut task.timeout), ("delay", &mut task.delay)] {
        if key == "delay" && templated_delay {
            continue;
        }
        if let Some(n) = f.number(r, &[key]) {
            if n.value.is_finite() && n.value >= 0.0 && (key == "delay" || n.value > 0.0) {
                *slot = Some(n.value);
            } else {
                let want = if key == "timeout" {
                    "more than 0"
                } else {
                    "0 or more"
                };
                r.push(src.problem(&n.path, format!("must be {want} seconds, got {}", n.value)));
            }
        }
    }
    let next = f.any(&["next"]);
    if let Some(n) = &next {
        match n.value {
            Value::Array(items) => {
                for (i, t) in items.iter().enumerate() {
                    task.next
                        .push(read_transition(src, &item(&n.path, i), t, r));
                }
            }
            other => r.push(src.problem(&n.path, format!("must be a list, got {}", a_type(other)))),
        }
    }
    for key in SHORTHAND {
        let Some(s) = f.any(&[key]) else {
            continue;
        };
        if let Some(n) = &next {
            let msg = format!("'{key}' and 'next' cannot both be given: use one form");
            r.push(src.problem(&n.path, msg));
            continue;
        }
        let mut t = match key {
            "on_success" => Transition::on_success(),
            "on_failure" => Transition::on_failure(),
            "on_timeout" => Transition::on_timeout(),
            _ => Transition::always(),
        };
        t.targets = targets(src, &s.path, s.value, r);
        task.next.push(t);
    }
    f.finish(r);
    task
}

fn read_with(src: &Source, w: &Field<&Value>, r: &mut Report) -> Option<WithItems> {
    let (items, concurrency) = match w.value {
        Value::String(s) => (
            Field {
                path: w.path.clone(),
                value: s.clone(),
            },
            None,
        ),
        Value::Object(_) => {
            let mut f = Fields::new(src, &w.path, w.value, r)?;
            let items = f.required_string(r, &["items"]);
            let concurrency = f.any(&["concurrency"]).and_then(|c| match c.value {
                Value::Number(n) if n.as_u64().is_some_and(|n| n >= 1) => Some(c.value.clone()),
                Value::String(s) if crate::template::is_workflow_template(s) => {
                    Some(c.value.clone())
                }
                other => {
                    let msg = format!("must be a count of at least 1 or a template, got {other}");
                    r.push(src.problem(&c.path, msg));
                    None
                }
            });
            f.finish(r);
            (items?, concurrency)
        }
        other => {
            let msg = format!(
                "must be a template giving the items, or a mapping with 'items', got {}",
                a_type(other)
            );
            r.push(src.problem(&w.path, msg));
            return None;
        }
    };
    // `x in {{ ... }}` names the item.
    let (name, expr) = match items.value.split_once(" in ") {
        Some((n, e)) if is_name(n.trim()) => (Some(n.trim().to_string()), e.trim().to_string()),
        _ => (None, items.value.trim().to_string()),
    };
    if !crate::template::is_workflow_template(&expr) {
        let msg = format!(
            "must be a template giving the items (like '{{{{ ctx(\"xs\") }}}}'), got '{expr}'"
        );
        r.push(src.problem(&items.path, msg));
        return None;
    }
    Some(WithItems {
        items: expr,
        name,
        concurrency,
    })
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn read_retry(src: &Source, w: &Field<&Value>, r: &mut Report) -> Option<Retry> {
    let mut f = Fields::new(src, &w.path, w.value, r)?;
    let mut retry = Retry::times(0);
    let mut ok = true;
    retry.when = f.string(r, &["when"]).map(|w| w.value);
    match f.any(&["count"]) {
        Some(c) => match c.value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => retry.count = n,
            None => {
                r.push(src.problem(
                    &c.path,
                    format!("must be a count (0 or more), got {}", c.value),
                ));
                ok = false;
            }
        },
        None => {
            r.push(src.problem(&w.path, "missing required key 'count'"));
            ok = false;
        }
    }
    for key in ["delay", "max_delay"] {
        let Some(n) = f.number(r, &[key]) else {
            continue;
        };
        if !(n.value.is_finite() && n.value >= 0.0) {
            r.push(src.problem(
                &n.path,
                format!("must be 0 or more seconds, got {}", n.value),
            ));
            ok = false;
        } else if key == "delay" {
            retry.delay = n.value;
        } else {
            retry.max_delay = Some(n.value);
        }
    }
    if let Some(b) = f.string(r, &["backoff"]) {
        retry.backoff = match b.value.as_str() {
            "constant" => Backoff::Constant,
            "linear" => Backoff::Linear,
            "exponential" => Backoff::Exponential,
            other => {
                let hint = crate::text::nearest(other, ["constant", "linear", "exponential"])
                    .map(|k| format!("did you mean '{k}'?"));
                let msg = format!("must be constant, linear or exponential, got '{other}'");
                r.push(src.hinted(&b.path, msg, hint));
                ok = false;
                Backoff::Constant
            }
        };
    }
    if let Some(m) = retry.max_delay
        && m < retry.delay
    {
        let msg = format!(
            "max_delay ({m} s) is shorter than delay ({} s)",
            retry.delay
        );
        r.push(src.problem(&child(&w.path, "max_delay"), msg));
        ok = false;
    }
    f.finish(r);
    ok.then_some(retry)
}

fn read_transition(src: &Source, path: &str, value: &Value, r: &mut Report) -> Transition {
    let mut t = Transition::default();
    let Some(mut f) = Fields::new(src, path, value, r) else {
        return t;
    };
    t.when = f.string(r, &["when"]).map(|w| w.value);
    if let Some(p) = f.any(&["publish"]) {
        t.publish = match p.value {
            Value::String(s) => match inline_params(s) {
                Ok(m) => m.into_iter().collect(),
                Err(e) => {
                    r.push(src.problem(&p.path, e));
                    Vec::new()
                }
            },
            _ => named(src, &p, r, false)
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or(Value::Null)))
                .collect(),
        };
    }
    if let Some(d) = f.any(&["do"]) {
        t.targets = targets(src, &d.path, d.value, r);
    }
    f.finish(r);
    t
}

/// `do` (and the shorthand values): `a, b`, or a list of names; names of engine commands
/// are commands.
fn targets(src: &Source, path: &str, value: &Value, r: &mut Report) -> Vec<Target> {
    let names: Vec<String> = match value {
        Value::String(s) => s.split(',').map(|n| n.trim().to_string()).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v.as_str() {
                Some(s) => Some(s.trim().to_string()),
                None => {
                    let msg = format!("must be a task name, got {}", a_type(v));
                    r.push(src.problem(&item(path, i), msg));
                    None
                }
            })
            .collect(),
        other => {
            let msg = format!(
                "must be task names (a list, or separated by commas), got {}",
                a_type(other)
            );
            r.push(src.problem(path, msg));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for n in names {
        if n.is_empty() {
            r.push(src.problem(path, "holds an empty task name"));
            continue;
        }
        out.push(match Command::parse(&n) {
            Some(c) => Target::Command(c),
            None => Target::Task(n),
        });
    }
    out
}

/// `key=value` pairs separated by spaces, as Orquesta writes params after an action ref and
/// in a `publish` string. A value may be quoted ('…' or "…"), and `{{ … }}` and `<% … %>`
/// stay whole even with spaces inside. Unquoted values that read as JSON scalars (numbers, true, false,
/// null) are those; everything else is a string.
pub(crate) fn inline_params(text: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.peek().copied() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') || !is_name(&key) {
            return Err(format!("expected key=value, found '{key}'"));
        }
        let mut value = String::new();
        let quoted = match chars.peek() {
            Some('"') | Some('\'') => chars.next(),
            _ => None,
        };
        let mut depth = 0usize;
        let mut closed = quoted.is_none();
        for c in chars.by_ref() {
            if let Some(q) = quoted {
                if c == q {
                    closed = true;
                    break;
                }
                value.push(c);
                continue;
            }
            if c.is_whitespace() && depth == 0 {
                break;
            }
            value.push(c);
            if value.ends_with("{{") || value.ends_with("{%") || value.ends_with("<%") {
                depth += 1;
            } else if (value.ends_with("}}") || value.ends_with("%}") || value.ends_with("%>"))
                && depth > 0
            {
                depth -= 1;
            }
        }
        if !closed {
            return Err(format!("the value of '{key}' has no closing quote"));
        }
        let v = if quoted.is_none() {
            match serde_json::from_str::<Value>(&value) {
                Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
                _ => Value::String(value),
            }
        } else {
            Value::String(value)
        };
        out.insert(key, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_params_keep_templates_whole_and_read_quotes_and_scalars() {
        let m = inline_params(
            r#"message={{ item() }} cmd="rm -rf {{ ctx().file }}" n=3 b=true s='a b' x=y"#,
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"message": "{{ item() }}", "cmd": "rm -rf {{ ctx().file }}", "n": 3, "b": true, "s": "a b", "x": "y"})
        );
        let m = inline_params(r#"a4='{{ ctx("b3") }}' b4='{{ ctx("a4") }}'"#).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"a4": "{{ ctx(\"b3\") }}", "b4": "{{ ctx(\"a4\") }}"})
        );
        assert!(inline_params("").unwrap().is_empty());
        let m = inline_params("message=<% ctx().name %> g=<% ctx('a b') %>").unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"message": "<% ctx().name %>", "g": "<% ctx('a b') %>"})
        );
    }

    #[test]
    fn inline_params_errors_name_the_key() {
        assert_eq!(
            inline_params("novalue").unwrap_err(),
            "expected key=value, found 'novalue'"
        );
        assert_eq!(
            inline_params("a='open").unwrap_err(),
            "the value of 'a' has no closing quote"
        );
    }
}
