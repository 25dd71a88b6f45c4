//! YAQL in workflow templates (`<% expr %>`): compiled into the same [`super::CompiledValue`]
//! as Jinja, rendered against the same context. `$` is the workflow's variables (what
//! `ctx()` gives), and a function YAQL's standard library does not have is looked up in the
//! context's functions — the conductor's `ctx()`, `succeeded()`, `result()`, `item()`,
//! `task()`, … — so each Orquesta function is written once and reached from both
//! languages; StackStorm's functions (`to_json_string`, `regex_match`, … — the Jinja
//! filters, also global functions of the environment) are reached the same way. Added
//! here: `task_status(name)`, `json(text)` and Orquesta's function form of
//! `zip(a, b, …, pad => x)` (padded to the longest; the method `a.zip(b)` stays YAQL's).
//!
//! As in Orquesta, an expression whose value is a string holding `<% %>` is evaluated again
//! (at most 8 times).
//!
//! A string that is exactly one `<% expr %>` keeps the value's type; text with expressions
//! inside renders each as Python's `str` would (Orquesta's way: `True`, `None`,
//! `{'a': 1}`). A string mixing `{{ }}` and `<% %>` is refused, as Orquesta does.

use crate::yaql::{Expression, Host, Val};
use crate::{Error, Result};
use minijinja::{Environment, Value as JValue};
use serde_json::{Map, Value};
use std::sync::Arc;

/// How many times a value that is itself YAQL text is evaluated again (Orquesta evaluates
/// a string result that holds `<% %>`).
const MAX_REEVALUATION: usize = 8;

/// The key under which a template context carries the workflow's variables for YAQL's `$`
/// ([`WorkflowVars`]).
pub const WORKFLOW_VARS: &str = "__vars";

/// A workflow's variables in a template context (under [`WORKFLOW_VARS`]): YAQL's `$` reads
/// them where they lie; Jinja sees a map.
#[derive(Debug)]
pub struct WorkflowVars(pub Arc<Map<String, Value>>);

impl WorkflowVars {
    /// The template value holding `vars`.
    pub fn value(vars: Arc<Map<String, Value>>) -> JValue {
        JValue::from_object(WorkflowVars(vars))
    }
}

impl minijinja::value::Object for WorkflowVars {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        key.as_str()
            .and_then(|k| self.0.get(k))
            .map(super::to_jinja)
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(
            self.0.keys().map(|k| JValue::from(k.as_str())).collect(),
        )
    }
}

/// The empty template whose state host calls run in.
pub(super) const HOST_TEMPLATE: &str = "__attune_yaql_host";

/// The functions Orquesta adds to YAQL (reached through the template context), and those
/// of StackStorm the engine may add (`st2kv`).
pub(crate) const ORQUESTA_FUNCTIONS: &[&str] = &[
    "ctx",
    "task_status",
    "succeeded",
    "failed",
    "completed",
    "timed_out",
    "result",
    "item",
    "index",
    "task",
    "json",
    "st2kv",
];

/// One piece of a YAQL template.
#[derive(Debug, Clone)]
pub(super) enum Part {
    Text(String),
    Expr(Arc<Expression>),
}

/// A compiled YAQL template: one expression (`single`, type kept) or text with expressions.
#[derive(Debug, Clone)]
pub(super) struct YaqlNode {
    pub(super) parts: Vec<Part>,
    pub(super) single: bool,
    /// Whether `$` appears (else the context's variables are not converted for it).
    uses_dollar: bool,
}

/// Whether `s` holds YAQL: a `<%` closed by a later `%>` (Orquesta's `<%.*?%>`).
pub(crate) fn is_yaql(s: &str) -> bool {
    s.find("<%").is_some_and(|i| s[i + 2..].contains("%>"))
}

/// The pieces of `s`: text, and the source of each `<% … %>` (a `<%` never closed is
/// text).
fn split(s: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("<%") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("%>") else {
            break;
        };
        if i > 0 {
            out.push((false, &rest[..i]));
        }
        out.push((true, after[..j].trim()));
        rest = &after[j + 2..];
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

/// Parses every expression of `s` (mixing with Jinja refused); the message names the
/// expression and the column where it broke.
fn parse(s: &str) -> std::result::Result<YaqlNode, String> {
    if super::is_template(s) {
        return Err(format!(
            "'{s}' mixes Jinja ('{{{{ }}}}') and YAQL ('<% %>'); a value uses one language"
        ));
    }
    let pieces = split(s);
    let single = matches!(pieces.as_slice(), [(true, _)])
        || (pieces.iter().filter(|(e, _)| *e).count() == 1
            && pieces.iter().all(|(e, t)| *e || t.trim().is_empty()));
    let mut parts = Vec::new();
    for (is_expr, text) in pieces {
        if !is_expr {
            if !single {
                parts.push(Part::Text(text.to_string()));
            }
            continue;
        }
        if text.is_empty() {
            return Err(format!("empty YAQL expression in '{s}'"));
        }
        let e = Expression::parse(text)
            .map_err(|e| format!("YAQL syntax error in '<% {text} %>' at {e}"))?;
        parts.push(Part::Expr(Arc::new(e)));
    }
    let uses_dollar = s.contains('$');
    Ok(YaqlNode {
        parts,
        single,
        uses_dollar,
    })
}

/// Compiles the YAQL template `s`; `location` names it in errors.
pub(super) fn compile(location: &str, s: &str) -> Result<YaqlNode> {
    parse(s).map_err(|message| Error::Template {
        location: location.to_string(),
        message,
    })
}

/// Checks the syntax of `s` and that every function it calls exists (YAQL's standard
/// library or Orquesta's).
pub(crate) fn check(s: &str) -> std::result::Result<(), String> {
    let node = parse(s)?;
    for p in &node.parts {
        if let Part::Expr(e) = p {
            let unknown: Vec<String> = e
                .unknown_functions()
                .into_iter()
                .filter(|f| !ORQUESTA_FUNCTIONS.contains(&f.as_str()))
                .filter(|f| !super::filters::st2_function_names().any(|n| n == f))
                .collect();
            if let Some(f) = unknown.first() {
                return Err(format!(
                    "unknown YAQL function '{f}' in '<% {} %>'",
                    e.source()
                ));
            }
        }
    }
    Ok(())
}

/// Renders a YAQL template against the template context `ctx`.
pub(super) fn render(
    env: &Environment<'static>,
    node: &YaqlNode,
    location: &str,
    ctx: &JValue,
) -> Result<Value> {
    let fail = |message: String| Error::Template {
        location: location.to_string(),
        message,
    };
    // `$`: the workflow's variables where they lie when the context carries them
    // (`WorkflowVars`), else a JSON copy of what `ctx()` gives (or of the context).
    let holder = ctx
        .get_attr(WORKFLOW_VARS)
        .ok()
        .filter(|v| !v.is_undefined());
    let borrowed = holder
        .as_ref()
        .and_then(|h| h.downcast_object_ref::<WorkflowVars>());
    let copied = match borrowed {
        None if node.uses_dollar => variables(env, ctx).map_err(&fail)?,
        _ => Value::Null,
    };
    let root = match borrowed {
        Some(v) => Val::JsonMap(&v.0),
        None => Val::Json(&copied),
    };
    render_node(env, node, ctx, &root, 0).map_err(fail)
}

fn render_node<'a>(
    env: &Environment<'static>,
    node: &YaqlNode,
    ctx: &JValue,
    root: &Val<'a>,
    depth: usize,
) -> std::result::Result<Value, String> {
    let host = ContextHost { env, ctx };
    let mut text = String::new();
    for p in &node.parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Expr(e) => {
                let v = e
                    .evaluate(root.clone(), Vec::new(), &host)
                    .map_err(|err| format!("in '<% {} %>': {err}", e.source()))?;
                let mut v = v
                    .to_json()
                    .map_err(|m| format!("in '<% {} %>': {m}", e.source()))?;
                if let Value::String(s) = &v
                    && is_yaql(s)
                {
                    if depth >= MAX_REEVALUATION {
                        return Err(format!(
                            "in '<% {} %>': a value that is YAQL again more than \
                             {MAX_REEVALUATION} times",
                            e.source()
                        ));
                    }
                    let inner = parse(s)?;
                    v = render_node(env, &inner, ctx, root, depth + 1)?;
                }
                if node.single {
                    return Ok(v);
                }
                python_json(&mut text, &v, true);
            }
        }
    }
    Ok(Value::String(text))
}

/// The workflow's variables: what `ctx()` gives, or the whole context when it has no
/// `ctx`.
fn variables(env: &Environment<'static>, ctx: &JValue) -> std::result::Result<Value, String> {
    let f = ctx.get_attr("ctx").unwrap_or(JValue::UNDEFINED);
    let v = if f.is_undefined() {
        ctx.clone()
    } else {
        call(env, &f, &[])?
    };
    serde_json::to_value(&v).map_err(|e| e.to_string())
}

fn call(
    env: &Environment<'static>,
    f: &JValue,
    args: &[JValue],
) -> std::result::Result<JValue, String> {
    let t = env.get_template(HOST_TEMPLATE).map_err(|e| e.to_string())?;
    let mut state = t.new_state();
    f.call(&mut state, args)
        .map_err(|e| e.detail().map_or_else(|| e.to_string(), str::to_string))
}

/// The context's functions, offered to YAQL.
struct ContextHost<'c> {
    env: &'c Environment<'static>,
    ctx: &'c JValue,
}

impl<'a> Host<'a> for ContextHost<'_> {
    fn overrides(&self, name: &str) -> bool {
        name == "zip"
    }

    fn call(
        &self,
        name: &str,
        args: Vec<Val<'a>>,
        named: Vec<(String, Val<'a>)>,
    ) -> Option<std::result::Result<Val<'a>, String>> {
        match name {
            "json" if named.is_empty() => return Some(json_fn(&args)),
            "zip" => return Some(zip_fn(args, named)),
            "task_status" => return Some(self.task_status(args, named)),
            "item" => return Some(self.item(args, named)),
            _ => {}
        }
        // The context's functions (the conductor's), then the environment's (StackStorm's:
        // `to_json_string`, `regex_match`, `version_compare`, …).
        let f = match self.ctx.get_attr(name).ok().filter(|f| !f.is_undefined()) {
            Some(f) => f,
            None => {
                let t = self.env.get_template(HOST_TEMPLATE).ok()?;
                t.new_state().lookup(name)?
            }
        };
        Some((|| {
            let mut jargs = Vec::with_capacity(args.len() + 1);
            for a in &args {
                jargs.push(super::to_jinja(a.to_json()?));
            }
            // Named arguments (`f(key => a)`) reach the function as Jinja's keyword
            // arguments; one it does not take is its error.
            if !named.is_empty() {
                let mut kw = Vec::with_capacity(named.len());
                for (k, v) in &named {
                    kw.push((k.clone(), super::to_jinja(v.to_json()?)));
                }
                jargs.push(JValue::from(minijinja::value::Kwargs::from_iter(kw)));
            }
            let out = call(self.env, &f, &jargs)?;
            let v: Value = serde_json::to_value(&out).map_err(|e| e.to_string())?;
            Ok(Val::from_json(&v))
        })())
    }
}

/// Arguments given by position or by name (`f(a)` or `f(key => a)`), in order of `names`.
fn arguments<'a>(
    names: &[&str],
    args: Vec<Val<'a>>,
    named: Vec<(String, Val<'a>)>,
) -> std::result::Result<Vec<Option<Val<'a>>>, String> {
    if args.len() > names.len() {
        return Err(format!(
            "expects at most {} arguments ({})",
            names.len(),
            names.join(", ")
        ));
    }
    let mut out: Vec<Option<Val<'a>>> = args.into_iter().map(Some).collect();
    out.resize(names.len(), None);
    for (k, v) in named {
        let i = names
            .iter()
            .position(|n| *n == k)
            .ok_or_else(|| format!("has no argument '{k}' (only {})", names.join(", ")))?;
        out[i] = Some(v);
    }
    Ok(out)
}

impl ContextHost<'_> {
    /// The value the context's function `name` gives without arguments.
    fn value_of(&self, name: &str) -> std::result::Result<Value, String> {
        let f = self.ctx.get_attr(name).unwrap_or(JValue::UNDEFINED);
        if f.is_undefined() {
            return Err("is not available here".into());
        }
        let v = call(self.env, &f, &[])?;
        serde_json::to_value(&v).map_err(|e| e.to_string())
    }

    /// `item()`: the current with-items item; `item(key)`: when the item is a map holding
    /// `key`, that value, else the item (the name a task gave its items: `x in …`).
    fn item<'a>(
        &self,
        args: Vec<Val<'a>>,
        named: Vec<(String, Val<'a>)>,
    ) -> std::result::Result<Val<'a>, String> {
        let [key] = arguments(&["key"], args, named)?
            .try_into()
            .map_err(|_| "bad arguments")?;
        let item = self.value_of("item")?;
        let Some(key) = key else {
            return Ok(Val::from_json(&item));
        };
        let key = key.to_json()?;
        let Some(key) = key.as_str() else {
            return Err("expects the key, a string".into());
        };
        Ok(Val::from_json(item.get(key).unwrap_or(&item)))
    }

    /// `task_status(name, route?)`: the status of the latest run of task `name`, `'null'`
    /// when it has not run (Orquesta's unset status). A route other than 0 is refused.
    fn task_status<'a>(
        &self,
        args: Vec<Val<'a>>,
        named: Vec<(String, Val<'a>)>,
    ) -> std::result::Result<Val<'a>, String> {
        let [name, route] = arguments(&["task_name", "route"], args, named)?
            .try_into()
            .map_err(|_| "bad arguments")?;
        let Some(name) = name.map(|n| n.to_json()).transpose()? else {
            return Err("expects the task's name".into());
        };
        let Some(name) = name.as_str().map(str::to_string) else {
            return Err("expects the task's name, a string".into());
        };
        let unset = Val::str("null");
        let f = self.ctx.get_attr("task").unwrap_or(JValue::UNDEFINED);
        if f.is_undefined() {
            return Ok(unset);
        }
        let Ok(t) = call(self.env, &f, &[JValue::from(name)]) else {
            return Ok(unset);
        };
        let v: Value = serde_json::to_value(&t).map_err(|e| e.to_string())?;
        if let Some(route) = route.map(|r| r.to_json()).transpose()?
            && route.as_u64() != Some(0)
        {
            return Err(format!(
                "route {route}: only route 0 is supported (the latest run of the task)"
            ));
        }
        Ok(Val::from_json(&v["status"]))
    }
}

/// `json(text)`: the JSON value `text` holds.
fn json_fn<'a>(args: &[Val<'a>]) -> std::result::Result<Val<'a>, String> {
    let [s] = args else {
        return Err("expects one argument, a JSON string".into());
    };
    let s = s.to_json()?;
    let Some(s) = s.as_str() else {
        return Err("expects a JSON string".into());
    };
    serde_json::from_str::<Value>(s)
        .map(|v| Val::from_json(&v))
        .map_err(|e| format!("not JSON: {e}"))
}

/// Orquesta's `zip(a, b, …, pad => x)`: lists of the n-th items, padded to the longest
/// with `pad` (null); one list alone is itself; null is empty.
fn zip_fn<'a>(
    args: Vec<Val<'a>>,
    named: Vec<(String, Val<'a>)>,
) -> std::result::Result<Val<'a>, String> {
    let mut pad = Value::Null;
    for (k, v) in named {
        match k.as_str() {
            "pad" => pad = v.to_json()?,
            other => return Err(format!("has no argument '{other}' (only 'pad')")),
        }
    }
    let mut lists = Vec::new();
    for a in &args {
        match a.to_json()? {
            Value::Null => {}
            Value::Array(items) => lists.push(items),
            other => return Err(format!("expects lists, got {other}")),
        }
    }
    if lists.len() == 1 {
        return Ok(Val::from_json(&Value::Array(lists.remove(0))));
    }
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    let rows = (0..n)
        .map(|i| {
            Value::Array(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| pad.clone()))
                    .collect(),
            )
        })
        .collect();
    Ok(Val::from_json(&Value::Array(rows)))
}

fn python_json(out: &mut String, v: &Value, top: bool) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&crate::yaql::float_str(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) if top => out.push_str(s),
        Value::String(s) => {
            out.push('\'');
            out.push_str(&s.replace('\\', "\\\\").replace('\'', "\\'"));
            out.push('\'');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(out, x, false);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(out, &Value::String(k.clone()), false);
                out.push_str(": ");
                python_json(out, x, false);
            }
            out.push('}');
        }
    }
}
