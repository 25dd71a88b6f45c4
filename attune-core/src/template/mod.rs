//! Templates (minijinja, Jinja syntax) for action params, criteria patterns and workflow
//! expressions.
//!
//! A string value containing `{{` or `{%` is a template. A value that is exactly one
//! `{{ expr }}` keeps the JSON type of the expression; a mixed string renders as a string
//! (criteria patterns go one step further: [`Templates::render_pattern`]). Undefined
//! variables are errors naming the template's location and the variable. Python's `%`
//! string formatting (`'%s' % x`), which StackStorm's templates use, works: it is rewritten
//! into the `format` filter before compiling (`rewrite.rs`); so do Python's common methods of
//! strings, maps and lists (`s.split(',')`, `d.items()`: minijinja-contrib's `pycompat`).
//! StackStorm's own filters (`to_json_string`, `regex_replace`, `version_compare`, …) are in
//! `filters/`.
//!
//! A text renders values that are not strings as Python's `str()` does, as StackStorm's
//! Jinja does: `True`, `None`, `{'a': 1}`, `['x']`. A single expression keeps the JSON type
//! instead. A whole value that renders to [`USE_NONE_MAGIC`] (the `use_none` filter of a
//! none) is null, as StackStorm's parameter casting makes it — except in workflows, where
//! Orquesta keeps the marker as a string.
//!
//! Workflows ([`Templates::for_workflows`]) also take YAQL, `<% expr %>` (`yaql.rs`).

mod filters;
pub(crate) mod keyring;
pub(crate) mod kv_refs;
mod rewrite;
mod yaql;

pub use yaql::{WORKFLOW_VARS, WorkflowVars};

pub use filters::{USE_NONE_MAGIC, st2_filter_names};
pub use rewrite::PERCENT_FORMAT_MAX_DEPTH;

use crate::{Error, Result};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value as JValue};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Fuel (minijinja instructions) one render may spend; stops runaway loops.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// How deep one render may recurse, in minijinja's units: the template itself, each loop,
/// `with` block or macro body counts 1, a macro call 4 more, an include 10 (so about 20
/// levels of a recursive macro, 99 nested loops, or 9 nested includes). Deeper renders fail with an error naming
/// the template and this limit, instead of exhausting the thread's stack: the worst case
/// measured (a recursive macro, a debug build, rendered by the engine's matching stage) uses
/// about 0.7 MiB of stack at this limit, well within the 2 MiB of a spawned thread or a
/// tokio worker; release builds use several times less. minijinja's own default (500)
/// overflows a 2 MiB stack in debug builds. Parsing has its own bound (minijinja nests
/// expressions and blocks at most 150 deep at compile time).
pub const TEMPLATE_RECURSION_LIMIT: usize = 100;

/// Converts a serializable value (JSON) into a template value.
pub fn to_jinja<T: serde::Serialize>(v: T) -> JValue {
    JValue::from(minijinja::value::Serde(v))
}

/// The internal filter that turns a single expression's value into JSON (type kept); unlike
/// `tojson`, an undefined value is an error.
const JSON_FILTER: &str = "__attune_json";

fn json_filter(v: JValue) -> std::result::Result<String, minijinja::Error> {
    if v.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "undefined value",
        ));
    }
    serde_json::to_string(&v)
        .map_err(|e| minijinja::Error::new(ErrorKind::BadSerialization, e.to_string()))
}

/// Jinja's `random` filter: a random item of a sequence (or character of a string).
fn random_filter(v: JValue) -> std::result::Result<JValue, minijinja::Error> {
    let n = v.len().unwrap_or(0);
    if n == 0 {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "random of an empty or non-sequence value",
        ));
    }
    let r = uuid::Uuid::new_v4().as_u128();
    let i = (r % n as u128) as usize;
    match v.as_str() {
        Some(s) => Ok(JValue::from(
            s.chars().nth(i).map(String::from).unwrap_or_default(),
        )),
        None => v.get_item(&JValue::from(i)),
    }
}

/// Whether `s` is a template.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The expression of a string that is exactly one `{{ expr }}`, if it is one.
fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || t.contains("{%") || t.contains("{#") {
        return None;
    }
    let inner = inner
        .trim_start_matches(['-', '+'])
        .trim_end_matches(['-', '+'])
        .trim();
    (!inner.is_empty()).then_some(inner)
}

/// The names of an expression that is a plain lookup (`trigger.body.n`: names joined by
/// dots, the first not a literal), if it is one.
fn plain_path(expr: &str) -> Option<Box<[String]>> {
    let names: Vec<String> = expr.split('.').map(str::to_string).collect();
    let identifier = |s: &String| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let literal = ["true", "false", "none", "True", "False", "None"];
    (names.iter().all(identifier) && !literal.contains(&names[0].as_str()))
        .then(|| names.into_boxed_slice())
}

/// The JSON of `path` looked up in `ctx` as the template would (attribute by attribute),
/// `None` when some name is not found or the value has no JSON (the template then renders
/// and says why). The same value as rendering through [`JSON_FILTER`] and parsing back.
fn look_up(ctx: &JValue, path: &[String]) -> Option<Value> {
    let mut v = ctx.get_attr(&path[0]).ok()?;
    for name in &path[1..] {
        if v.is_undefined() || v.is_none() {
            return None;
        }
        v = v.get_attr(name).ok()?;
    }
    if v.is_undefined() {
        return None;
    }
    serde_json::to_value(&v).ok()
}

/// What a template renders against: its context, which may be made only when a template
/// first needs it, and a quicker answer for plain lookups (`{{ trigger.n }}`) read from
/// what the context is made of.
pub(crate) trait RenderCtx {
    /// The template context.
    fn ctx(&self) -> &JValue;
    /// The JSON of the plain lookup `path` without the context, when this can tell it; it
    /// must then be what [`look_up`] finds in [`RenderCtx::ctx`]. `None`: ask the context.
    fn direct(&self, path: &[String]) -> Option<Value> {
        let _ = path;
        None
    }
}

impl RenderCtx for JValue {
    fn ctx(&self) -> &JValue {
        self
    }
}

/// The JSON at `names` inside `v`, object key by object key (what a template's attribute
/// lookups find in a context made from `v` by [`to_jinja`]); `None` when some step is not
/// an object holding that key.
pub(crate) fn json_path<'v>(v: &'v Value, names: &[String]) -> Option<&'v Value> {
    names.iter().try_fold(v, |v, name| v.as_object()?.get(name))
}

/// Checks a workflow value's template: YAQL (`<% %>`: syntax, and that every function it
/// calls exists; mixing it with Jinja is an error) or Jinja ([`check_syntax`]).
pub(crate) fn check_workflow_syntax(source: &str) -> std::result::Result<(), String> {
    if yaql::is_yaql(source) {
        return yaql::check(source);
    }
    check_syntax(source)
}

/// Whether `s` holds YAQL (`<%`); a workflow's map keys render only then.
pub(crate) fn is_yaql(s: &str) -> bool {
    yaql::is_yaql(s)
}

/// Whether `s` is a workflow template: Jinja or YAQL.
pub(crate) fn is_workflow_template(s: &str) -> bool {
    is_template(s) || yaql::is_yaql(s)
}

/// Whether some string inside `v` is a workflow template (Jinja or YAQL) for which `pred`
/// holds.
pub(crate) fn any_workflow_template(v: &Value, pred: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => is_workflow_template(s) && pred(s),
        Value::Array(a) => a.iter().any(|x| any_workflow_template(x, pred)),
        Value::Object(m) => m
            .iter()
            .any(|(k, x)| (yaql::is_yaql(k) && pred(k)) || any_workflow_template(x, pred)),
        _ => false,
    }
}

/// Checks the syntax of a template source without registering it anywhere; the error is
/// minijinja's description (with the line inside the template when it has several).
pub fn check_syntax(source: &str) -> std::result::Result<(), String> {
    if !is_template(source) {
        return Ok(());
    }
    if let Some(word) = rewrite::loading_statement(source) {
        return Err(loading_message(word));
    }
    let env = Environment::new();
    let source_rewritten = rewrite::percent_format(source)?;
    env.template_from_str(&source_rewritten)
        .map(|_| ())
        .map_err(|e| match e.line() {
            Some(l) if source.contains('\n') => format!(
                "{} (line {l} of the template)",
                e.detail().unwrap_or("syntax error")
            ),
            _ => e.detail().map_or_else(|| e.to_string(), str::to_string),
        })
}

/// The names a template reads from its context (variables it does not set itself); empty
/// for text that is not a template or does not compile (its syntax is checked apart).
pub(crate) fn variables(source: &str) -> std::collections::HashSet<String> {
    if !is_template(source) {
        return Default::default();
    }
    let env = Environment::new();
    let Ok(rewritten) = rewrite::percent_format(source) else {
        return Default::default();
    };
    env.template_from_str(&rewritten)
        .map(|t| t.undeclared_variables(false))
        .unwrap_or_default()
}

/// The template environment of one engine: compiled templates live here by name.
pub struct Templates {
    env: Arc<RwLock<Environment<'static>>>,
    next: AtomicU64,
    /// Whether `<% %>` is YAQL (workflows) rather than text.
    yaql: bool,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// A value whose templates are compiled; render it with [`Templates::render`].
#[derive(Debug, Clone)]
pub struct CompiledValue {
    node: Node,
    /// The templates registered for it; removed from the environment when the last clone
    /// of this value is dropped (so a rule replaced mid-match still renders).
    owned: Option<Arc<Owned>>,
}

/// Template names registered in an environment, removed when dropped.
struct Owned {
    env: Arc<RwLock<Environment<'static>>>,
    names: Vec<String>,
}

impl fmt::Debug for Owned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.names).finish()
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let mut env = self.env.write().unwrap_or_else(|p| p.into_inner());
        for n in &self.names {
            env.remove_template(n);
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Literal(Value),
    /// A single expression: rendered through `tojson` and parsed back, so its type is kept.
    /// `path` holds its names when it is a plain lookup (`trigger.body.n`): then the value is
    /// read directly (the template renders only when that lookup does not find it, to give
    /// the same error).
    Expr {
        name: String,
        location: String,
        path: Option<Box<[String]>>,
    },
    /// A text template: renders to a string.
    Text {
        name: String,
        location: String,
    },
    /// A criteria pattern with expressions in a text: `json` (each expression as JSON) when
    /// that renders to JSON, else `text` ([`Templates::render_pattern`]).
    Pattern {
        json: String,
        text: String,
        location: String,
    },
    /// A map whose keys hold YAQL too (workflows only): each key renders to a string (a
    /// value that is not one, to its JSON text).
    KeyedObject(Vec<(Node, Node)>),
    /// YAQL (`<% expr %>`, workflows only).
    Yaql {
        node: Arc<yaql::YaqlNode>,
        location: String,
    },
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
}

impl CompiledValue {
    /// Whether it contains no template at all.
    pub fn is_literal(&self) -> bool {
        self.owned.is_none() && matches!(self.node, Node::Literal(_))
    }
}

impl Templates {
    /// An environment with strict undefined variables, a fuel limit ([`TEMPLATE_FUEL`]) and
    /// a recursion limit ([`TEMPLATE_RECURSION_LIMIT`]). Every template the engine renders
    /// (rule params, criteria patterns, workflow expressions, pack config) goes through one.
    pub fn new() -> Self {
        Self::with_undefined(UndefinedBehavior::Strict)
    }

    /// An environment like [`Templates::new`] where an undefined name renders as nothing
    /// (StackStorm's `allow_undefined=True`); an attribute of it is still an error, and so is
    /// a single expression (`{{ nope }}`) whose type would be kept.
    pub fn allowing_undefined() -> Self {
        Self::with_undefined(UndefinedBehavior::Lenient)
    }

    fn with_undefined(undefined: UndefinedBehavior) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(undefined);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_recursion_limit(TEMPLATE_RECURSION_LIMIT);
        env.add_filter(JSON_FILTER, json_filter);
        env.add_filter("random", random_filter);
        filters::register(&mut env);
        // Python's methods of strings, maps and lists (`s.split(',')`, `d.items()`), which
        // StackStorm templates use.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        Templates {
            env: Arc::new(RwLock::new(env)),
            next: AtomicU64::new(0),
            yaql: false,
        }
    }

    /// An environment for workflows: as [`Templates::new`], and a string with `<% %>` is
    /// YAQL.
    pub fn for_workflows() -> Self {
        let mut t = Self::new();
        t.yaql = true;
        t.env
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add_template(yaql::HOST_TEMPLATE, "")
            .expect("the empty template compiles");
        t
    }

    /// Whether `v` holds a template this environment compiles.
    fn has_template(&self, v: &Value) -> bool {
        if self.yaql {
            any_workflow_template(v, &|_| true)
        } else {
            contains_template(v)
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Environment<'static>> {
        self.env.read().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, location: &str, source: String) -> Result<String> {
        no_loading(location, &source)?;
        let name = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        let source = match rewrite::percent_format(&source) {
            Ok(std::borrow::Cow::Owned(rewritten)) => rewritten,
            Ok(std::borrow::Cow::Borrowed(_)) => source,
            Err(message) => {
                return Err(Error::Template {
                    location: location.to_string(),
                    message,
                });
            }
        };
        self.env
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add_template_owned(name.clone(), source)
            .map_err(|e| template_error(location, &e))?;
        Ok(name)
    }

    /// Compiles every template inside `value`; `location` prefixes error messages
    /// (`rule 'a.b' param`), extended with the key path.
    pub fn compile(&self, location: &str, value: &Value) -> Result<CompiledValue> {
        let mut owned = Owned {
            env: self.env.clone(),
            names: Vec::new(),
        };
        // On error, dropping `owned` removes what was registered so far.
        let node = self.compile_node(location, value, &mut owned.names)?;
        let owned = (!owned.names.is_empty()).then(|| Arc::new(owned));
        Ok(CompiledValue { node, owned })
    }

    /// Compiles a criteria pattern (a template string) to render as
    /// [`Templates::render_pattern`] does.
    pub fn compile_pattern(&self, location: &str, source: &str) -> Result<CompiledValue> {
        if single_expression(source).is_some() || !source.contains("{{") {
            return self.compile(location, &Value::String(source.to_string()));
        }
        let mut owned = Owned {
            env: self.env.clone(),
            names: Vec::new(),
        };
        let text = self.add(location, source.to_string())?;
        owned.names.push(text.clone());
        let as_json = rewrite::json_expressions(source, JSON_FILTER).into_owned();
        let json = self.add(location, as_json)?;
        owned.names.push(json.clone());
        Ok(CompiledValue {
            node: Node::Pattern {
                json,
                text,
                location: location.to_string(),
            },
            owned: Some(Arc::new(owned)),
        })
    }

    /// Compiles a map of values (action params), each located as `location 'key'`.
    pub fn compile_map(&self, location: &str, map: &Map<String, Value>) -> Result<CompiledValue> {
        self.compile(location, &Value::Object(map.clone()))
    }

    fn compile_node(&self, location: &str, value: &Value, names: &mut Vec<String>) -> Result<Node> {
        Ok(match value {
            Value::String(s) if self.yaql && yaql::is_yaql(s) => Node::Yaql {
                node: Arc::new(yaql::compile(location, s)?),
                location: location.to_string(),
            },
            Value::String(s) if is_template(s) => {
                if let Some(expr) = single_expression(s) {
                    let name = self.add(location, json_source(location, expr)?)?;
                    names.push(name.clone());
                    Node::Expr {
                        name,
                        location: location.to_string(),
                        path: plain_path(expr),
                    }
                } else {
                    let name = self.add(location, s.clone())?;
                    names.push(name.clone());
                    Node::Text {
                        name,
                        location: location.to_string(),
                    }
                }
            }
            Value::Object(m) if self.yaql && m.keys().any(|k| yaql::is_yaql(k)) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let at = format!("{location} '{k}'");
                    let key = self.compile_node(
                        &format!("{at} (key)"),
                        &Value::String(k.clone()),
                        names,
                    )?;
                    out.push((key, self.compile_node(&at, v, names)?));
                }
                Node::KeyedObject(out)
            }
            Value::Object(m) if self.has_template(value) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    out.push((
                        k.clone(),
                        self.compile_node(&format!("{location} '{k}'"), v, names)?,
                    ));
                }
                Node::Object(out)
            }
            Value::Array(a) if self.has_template(value) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, v) in a.iter().enumerate() {
                    out.push(self.compile_node(&format!("{location}[{i}]"), v, names)?);
                }
                Node::Array(out)
            }
            other => Node::Literal(other.clone()),
        })
    }

    /// Renders a compiled value against `ctx`.
    pub fn render(&self, compiled: &CompiledValue, ctx: &JValue) -> Result<Value> {
        self.render_in(compiled, ctx)
    }

    /// [`Templates::render`] against a [`RenderCtx`]: plain lookups it answers directly
    /// do not make its context.
    pub(crate) fn render_in(&self, compiled: &CompiledValue, ctx: &dyn RenderCtx) -> Result<Value> {
        if let Node::Literal(v) = &compiled.node {
            return Ok(v.clone());
        }
        let env = self.read();
        render_node(&env, &compiled.node, ctx, self.yaql)
    }

    /// Number of compiled templates held by the environment.
    pub fn len(&self) -> usize {
        self.read().templates().count()
    }

    /// Whether the environment holds no compiled template.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compiles and renders a one-off template string (type kept for a single expression).
    pub fn render_once(&self, location: &str, source: &str, ctx: &JValue) -> Result<Value> {
        no_loading(location, source)?;
        let env = self.read();
        if let Some(expr) = single_expression(source) {
            return render_json(
                &env,
                location,
                &json_source(location, expr)?,
                ctx,
                source,
                self.yaql,
            );
        }
        let rewritten = rewrite::percent_format(source).map_err(|message| Error::Template {
            location: location.to_string(),
            message,
        })?;
        env.render_str(&rewritten, ctx)
            .map(|s| none_marker(Value::String(s), self.yaql))
            .map_err(|e| describe_error(&env, None, location, &e, ctx, source))
    }

    /// Renders a one-off template string to text, as StackStorm renders every template: a
    /// single expression is not kept as its JSON type but printed (a value that is not a
    /// string as Python's `str()`), and [`USE_NONE_MAGIC`] stays as it is.
    pub fn render_text_once(&self, location: &str, source: &str, ctx: &JValue) -> Result<String> {
        no_loading(location, source)?;
        let env = self.read();
        let rewritten = rewrite::percent_format(source).map_err(|message| Error::Template {
            location: location.to_string(),
            message,
        })?;
        env.render_str(&rewritten, ctx)
            .map_err(|e| describe_error(&env, None, location, &e, ctx, source))
    }

    /// Renders a criteria pattern as StackStorm does: a single expression keeps its type;
    /// text with expressions in it is first rendered with each expression written as the
    /// JSON of its value, and when the whole result is JSON the pattern is that value
    /// (`[{% for h in trigger.hosts %}{{ h }},{% endfor %}]` compares as a list); otherwise
    /// it is the text rendered as usual (`pre{{ x }}post` is a string).
    ///
    /// A pattern rendered for every event is better compiled once
    /// ([`Templates::compile_pattern`], which this calls and drops).
    pub fn render_pattern(&self, location: &str, source: &str, ctx: &JValue) -> Result<Value> {
        let compiled = self.compile_pattern(location, source)?;
        self.render(&compiled, ctx)
    }
}

/// The source that renders a single expression as JSON (its type kept); `location` names the
/// template in the error of a rewrite nested too deep.
fn json_source(location: &str, expr: &str) -> Result<String> {
    rewrite::percent_format(&format!("{{{{ ({expr}) | {JSON_FILTER} }}}}"))
        .map(std::borrow::Cow::into_owned)
        .map_err(|message| Error::Template {
            location: location.to_string(),
            message,
        })
}

/// Renders `src` (a [`json_source`]) and parses the JSON it gives; `source` is what the
/// user wrote, for error messages.
fn render_json(
    env: &Environment<'static>,
    location: &str,
    src: &str,
    ctx: &JValue,
    source: &str,
    keep_none: bool,
) -> Result<Value> {
    let out = env
        .render_str(src, ctx)
        .map_err(|e| describe_error(env, None, location, &e, ctx, source))?;
    serde_json::from_str(&out)
        .map(|v| none_marker(v, keep_none))
        .map_err(|e| Error::Template {
            location: location.to_string(),
            message: format!("expression did not give JSON: {e}"),
        })
}

/// Null for [`USE_NONE_MAGIC`] (what `use_none` gives for none), else `v` — unless
/// `keep_none`: in workflows, as in Orquesta, the marker stays a string.
fn none_marker(v: Value, keep_none: bool) -> Value {
    match v {
        Value::String(s) if s == USE_NONE_MAGIC && !keep_none => Value::Null,
        other => other,
    }
}

/// Whether some string inside `v` (at any depth) is a template.
pub fn contains_template(v: &Value) -> bool {
    any_template(v, &|_| true)
}

/// Every string inside `v` that is a template, appended to `out`.
pub(crate) fn template_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if is_template(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| template_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| template_strings(x, out)),
        _ => {}
    }
}

/// Whether some string inside `v` is a template for which `pred` holds.
pub(crate) fn any_template(v: &Value, pred: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => is_template(s) && pred(s),
        Value::Array(a) => a.iter().any(|x| any_template(x, pred)),
        Value::Object(m) => m.values().any(|x| any_template(x, pred)),
        _ => false,
    }
}

/// Renders `node`; `keep_none` keeps [`USE_NONE_MAGIC`] as it is (see [`none_marker`]).
fn render_node(
    env: &Environment<'static>,
    node: &Node,
    rc: &dyn RenderCtx,
    keep_none: bool,
) -> Result<Value> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::Expr {
            name,
            location,
            path,
        } => {
            if let Some(p) = path.as_deref()
                && let Some(v) = rc.direct(p).or_else(|| look_up(rc.ctx(), p))
            {
                return Ok(none_marker(v, keep_none));
            }
            let ctx = rc.ctx();
            let t = env
                .get_template(name)
                .map_err(|e| template_error(location, &e))?;
            let out = t
                .render(ctx)
                .map_err(|e| describe_error(env, Some(name), location, &e, ctx, ""))?;
            serde_json::from_str(&out)
                .map(|v| none_marker(v, keep_none))
                .map_err(|e| Error::Template {
                    location: location.clone(),
                    message: format!("expression did not give JSON: {e}"),
                })
        }
        Node::Text { name, location } => render_text(env, name, location, rc.ctx(), keep_none),
        Node::Yaql { node, location } => yaql::render(env, node, location, rc.ctx()),
        Node::Pattern {
            json,
            text,
            location,
        } => {
            let ctx = rc.ctx();
            if let Ok(t) = env.get_template(json)
                && let Ok(out) = t.render(ctx)
                && let Ok(value) = serde_json::from_str(&out)
            {
                return Ok(value);
            }
            render_text(env, text, location, ctx, keep_none)
        }
        Node::KeyedObject(items) => {
            let mut m = Map::with_capacity(items.len());
            for (k, n) in items {
                let key = match render_node(env, k, rc, keep_none)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(key, render_node(env, n, rc, keep_none)?);
            }
            Ok(Value::Object(m))
        }
        Node::Object(items) => {
            let mut m = Map::with_capacity(items.len());
            for (k, n) in items {
                m.insert(k.clone(), render_node(env, n, rc, keep_none)?);
            }
            Ok(Value::Object(m))
        }
        Node::Array(items) => items
            .iter()
            .map(|n| render_node(env, n, rc, keep_none))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
    }
}

/// Renders the text template `name` to a string.
fn render_text(
    env: &Environment<'static>,
    name: &String,
    location: &str,
    ctx: &JValue,
    keep_none: bool,
) -> Result<Value> {
    let t = env
        .get_template(name)
        .map_err(|e| template_error(location, &e))?;
    t.render(ctx)
        .map(|s| none_marker(Value::String(s), keep_none))
        .map_err(|e| describe_error(env, Some(name), location, &e, ctx, ""))
}

/// minijinja's detail of the error it raises past the recursion limit.
const RECURSION_DETAIL: &str = "recursion limit exceeded";

fn template_error(location: &str, e: &minijinja::Error) -> Error {
    // The errors `e` wraps (an include's render, a macro's call), innermost last.
    let mut chain = vec![e];
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        if let Some(inner) = next.downcast_ref::<minijinja::Error>() {
            chain.push(inner);
        }
        cur = next;
    }
    if chain.iter().any(|x| x.detail() == Some(RECURSION_DETAIL)) {
        let mut message = format!(
            "{RECURSION_DETAIL}: templates may recurse at most {TEMPLATE_RECURSION_LIMIT} \
             levels deep (each loop or macro frame counts 1, a macro call 4 more, an include \
             10)"
        );
        if let Some(line) = e.line() {
            message.push_str(&format!(" (line {line})"));
        }
        return Error::Template {
            location: location.to_string(),
            message,
        };
    }
    let mut message = e.kind().to_string();
    if let Some(d) = e.detail() {
        message.push_str(": ");
        message.push_str(d);
    }
    if let Some(line) = e.line() {
        message.push_str(&format!(" (line {line})"));
    }
    if let Some(root) = chain.last().filter(|_| chain.len() > 1) {
        message.push_str(&format!(": {}", root.kind()));
        if let Some(d) = root.detail() {
            message.push_str(&format!(": {d}"));
        }
    }
    Error::Template {
        location: location.to_string(),
        message,
    }
}

/// A template that would load another (`include`, `import`, `from`, `extends`) is refused:
/// templates are registered under generated names in one environment, so a name would
/// reach another rule's template. StackStorm's templates have no loader either.
fn no_loading(location: &str, source: &str) -> Result<()> {
    match rewrite::loading_statement(source) {
        Some(word) => Err(Error::Template {
            location: location.to_string(),
            message: loading_message(word),
        }),
        None => Ok(()),
    }
}

fn loading_message(word: &str) -> String {
    format!("'{{% {word} %}}' is not supported: a template cannot load another template")
}

/// Builds the error of a failed render; for an undefined variable, finds which one.
fn describe_error(
    env: &Environment<'static>,
    name: Option<&String>,
    location: &str,
    e: &minijinja::Error,
    ctx: &JValue,
    source: &str,
) -> Error {
    if e.kind() != ErrorKind::UndefinedError {
        return template_error(location, e);
    }
    let vars = match name.and_then(|n| env.get_template(n).ok()) {
        Some(t) => t.undeclared_variables(true),
        None => env
            .template_from_str(source)
            .map(|t| t.undeclared_variables(true))
            .unwrap_or_default(),
    };
    let mut vars: Vec<String> = vars.into_iter().collect();
    vars.sort();
    let missing = vars.into_iter().find(|path| {
        let mut cur = ctx.clone();
        for part in path.split('.') {
            match cur.get_attr(part) {
                Ok(v) if !v.is_undefined() => cur = v,
                _ => return true,
            }
        }
        false
    });
    Error::Template {
        location: location.to_string(),
        message: match missing {
            Some(var) => format!("undefined variable '{var}'"),
            None => "undefined value (an attribute or item that does not exist)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> JValue {
        to_jinja(&v)
    }

    /// A context that answers plain lookups from the JSON it was made of.
    struct Direct(JValue, Value);

    impl RenderCtx for Direct {
        fn ctx(&self) -> &JValue {
            &self.0
        }
        fn direct(&self, path: &[String]) -> Option<Value> {
            json_path(&self.1, path).cloned()
        }
    }

    /// A plain lookup (`{{ trigger.a.b }}`) is read directly; the same expression in
    /// parentheses goes through the template. Both must give the same value or error.
    #[test]
    fn plain_lookup_gives_what_the_template_gives() {
        assert!(plain_path("trigger.a.b").is_some());
        for not_plain in [
            "trigger.a[0]",
            "trigger.0",
            "none",
            "a.b()",
            "a + b",
            "a .b",
            "",
        ] {
            assert!(plain_path(not_plain).is_none(), "{not_plain}");
        }
        let payload = json!({"trigger": {
            "n": 41, "f": 2.5, "big": u64::MAX, "neg": -7, "s": "x\"y", "t": true, "z": null,
            "none": USE_NONE_MAGIC, "list": [1, "a", {"k": null}], "map": {"zz": 1, "b": {"c": [1.0]}, "a": [{"y": 1, "x": 2}]},
        }});
        for path in [
            "trigger",
            "trigger.n",
            "trigger.f",
            "trigger.big",
            "trigger.neg",
            "trigger.s",
            "trigger.t",
            "trigger.z",
            "trigger.none",
            "trigger.list",
            "trigger.map",
            "trigger.map.b.c",
            "trigger.missing",
            "trigger.z.x",
            "trigger.n.x",
            "nothing",
            "trigger.map.missing.deeper",
            "trigger.list.k",
            "trigger.s.len",
        ] {
            for workflow in [false, true] {
                let t = if workflow {
                    Templates::for_workflows()
                } else {
                    Templates::new()
                };
                let fast = t.compile("p", &json!(format!("{{{{ {path} }}}}"))).unwrap();
                let slow = t
                    .compile("p", &json!(format!("{{{{ ({path}) }}}}")))
                    .unwrap();
                let (a, b) = (
                    t.render(&fast, &ctx(payload.clone())),
                    t.render(&slow, &ctx(payload.clone())),
                );
                // Read from the JSON the context is made of, without the context.
                let direct = t.render_in(&fast, &Direct(ctx(payload.clone()), payload.clone()));
                match (&direct, &b) {
                    (Ok(d), Ok(b)) => {
                        assert_eq!(d, b, "{path}");
                        assert_eq!(d.to_string(), b.to_string(), "{path}: key order");
                    }
                    (Err(d), Err(b)) => assert_eq!(
                        d.to_string(),
                        b.to_string().replace(&format!("({path})"), path),
                        "{path}"
                    ),
                    (d, b) => panic!("{path}: direct {d:?}, template {b:?}"),
                }
                match (a, b) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{path}"),
                    (Err(a), Err(b)) => assert_eq!(
                        a.to_string().replace(&format!("({path})"), path),
                        b.to_string().replace(&format!("({path})"), path),
                        "{path}"
                    ),
                    (a, b) => panic!("{path}: fast {a:?}, template {b:?}"),
                }
            }
        }
    }

    #[test]
    fn single_expression_keeps_type_and_text_is_a_string() {
        let t = Templates::new();
        let c = t
            .compile(
                "p",
                &json!({"n": "{{ trigger.n }}", "s": "n={{ trigger.n }}", "l": "{{ trigger.list }}", "lit": 5, "deep": {"x": ["{{ trigger.n + 1 }}"]}}),
            )
            .unwrap();
        let out = t
            .render(&c, &ctx(json!({"trigger": {"n": 41, "list": [1, "a"]}})))
            .unwrap();
        assert_eq!(
            out,
            json!({"n": 41, "s": "n=41", "l": [1, "a"], "lit": 5, "deep": {"x": [42]}})
        );
    }

    #[test]
    fn undefined_variable_is_named_with_its_location() {
        let t = Templates::new();
        let c = t
            .compile("rule 'demo.r' param", &json!({"msg": "{{ trigger.nope }}"}))
            .unwrap();
        let err = t
            .render(&c, &ctx(json!({"trigger": {"n": 1}})))
            .unwrap_err();
        let s = err.to_string();
        assert!(s.contains("rule 'demo.r' param 'msg'"), "{s}");
        assert!(s.contains("trigger.nope"), "{s}");
        let c = t.compile("loc", &json!("hello {{ who }}")).unwrap();
        let s = t.render(&c, &ctx(json!({}))).unwrap_err().to_string();
        assert!(s.contains("undefined variable 'who'"), "{s}");
    }

    #[test]
    fn syntax_error_at_compile_time() {
        let t = Templates::new();
        let err = t
            .compile("rule 'x' param", &json!({"a": "{{ oops( }}"}))
            .unwrap_err();
        assert!(err.to_string().contains("rule 'x' param 'a'"), "{err}");
    }

    #[test]
    fn literal_values_skip_the_engine_and_the_last_drop_removes() {
        let t = Templates::new();
        let c = t.compile("p", &json!({"a": 1})).unwrap();
        assert!(c.is_literal());
        assert!(t.is_empty());
        assert_eq!(t.render(&c, &ctx(json!({}))).unwrap(), json!({"a": 1}));
        let c = t.compile("p", &json!(["{{ 1 + 1 }}", "x{{ 2 }}"])).unwrap();
        assert_eq!(t.len(), 2);
        let clone = c.clone();
        drop(c);
        // A clone still in use (a rule being matched while it is replaced) keeps rendering.
        assert_eq!(t.render(&clone, &ctx(json!({}))).unwrap(), json!([2, "x2"]));
        drop(clone);
        assert!(t.is_empty());
        // A compile error leaves nothing behind.
        assert!(t.compile("p", &json!(["{{ 1 }}", "{{ oops( }}"])).is_err());
        assert!(t.is_empty());
    }

    #[test]
    fn python_percent_formatting_renders() {
        let t = Templates::new();
        let c = ctx(json!({"p": "v1", "n": 7, "on": true, "d": {"k": "x"}}));
        let cases = [
            ("{{ '%s' % p }}", json!("v1")),
            ("{{ '%s' % p if on }}", json!("v1")),
            ("host-{{ '%s-%03d' % (p, n) }}", json!("host-v1-007")),
            ("{{ '%(k)s!' % d }}", json!("x!")),
            ("{% set m = '<%s>' % p %}{{ m }}", json!("<v1>")),
            ("{{ '%s' % 2 ** 3 }}", json!("8")),
            ("{{ '%.3f' % 1e-3 }}", json!("0.001")),
            ("{{ 'a=%s ' 'b=%d' % (p, n) }}", json!("a=v1 b=7")),
            ("{{ '%s' % nope is defined }}", json!("False")),
        ];
        for (source, want) in cases {
            assert_eq!(t.render_once("x", source, &c).unwrap(), want, "{source}");
        }
        // `%` binds left to right: ('%d' % n) % 4 is a string % a number, an error as in Python.
        let err = t.render_once("x", "{{ '%d' % n % 4 }}", &c).unwrap_err();
        assert!(err.to_string().contains('%'), "{err}");
        // Compiled templates (params, workflows) get the same rewrite; `%` of numbers stays.
        let compiled = t
            .compile(
                "p",
                &json!({"a": "{{ '%s' % p }}", "b": "{{ n % 4 }}", "c": "n={{ '%d' % n }}"}),
            )
            .unwrap();
        assert_eq!(
            t.render(&compiled, &c).unwrap(),
            json!({"a": "v1", "b": 3, "c": "n=7"})
        );
        assert!(check_syntax("{{ '%s' % (p }}").is_err());
    }

    #[test]
    fn python_methods_of_strings_maps_and_lists() {
        let t = Templates::new();
        let c = ctx(json!({"s": " a,b ", "d": {"k": 1}, "l": [1, 2, 1]}));
        let cases = [
            ("{{ s.strip().split(',') }}", json!(["a", "b"])),
            ("{{ s.upper() }}", json!(" A,B ")),
            ("{{ s.strip().startswith('a') }}", json!(true)),
            ("{{ d.items() | list }}", json!([["k", 1]])),
            ("{{ d.get('nope', 0) }}", json!(0)),
            ("{{ l.count(1) }}", json!(2)),
        ];
        for (source, want) in cases {
            assert_eq!(t.render_once("x", source, &c).unwrap(), want, "{source}");
        }
        let err = t.render_once("x", "{{ s.nope() }}", &c).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn criteria_patterns_that_render_to_json_are_that_value() {
        let t = Templates::new();
        let c = ctx(json!({"trigger": {"list": ["v1", true, 1], "n": 1, "s": "YYY"}}));
        let list = "\n [\n {% for item in trigger.list %}\n {{item}}{% if not loop.last %},{% endif %}\n {% endfor %}\n ]\n";
        assert_eq!(
            t.render_pattern("x", list, &c).unwrap(),
            json!(["v1", true, 1])
        );
        // Not JSON with expressions as JSON: the usual text.
        assert_eq!(
            t.render_pattern("x", "pre{{ trigger.s }}post", &c).unwrap(),
            json!("preYYYpost")
        );
        assert_eq!(
            t.render_pattern("x", "{{ trigger.n }}{{ trigger.n }}", &c)
                .unwrap(),
            json!(11)
        );
        assert_eq!(
            t.render_pattern("x", "{% if trigger.n %}[1]{% endif %}", &c)
                .unwrap(),
            json!("[1]")
        );
        assert_eq!(
            t.render_pattern("x", "{{ trigger.n }}", &c).unwrap(),
            json!(1)
        );
        let err = t
            .render_pattern("x", "a{{ trigger.nope }}b", &c)
            .unwrap_err()
            .to_string();
        assert!(err.contains("trigger.nope"), "{err}");
    }

    #[test]
    fn render_once_and_runaway_loops() {
        let t = Templates::new();
        assert_eq!(
            t.render_once("x", "{{ a }}", &ctx(json!({"a": true})))
                .unwrap(),
            json!(true)
        );
        let err = t
            .render_once(
                "x",
                "{% for i in range(100000000) %}{{ i }}{% endfor %}",
                &ctx(json!({})),
            )
            .unwrap_err();
        assert!(err.to_string().contains("x"), "{err}");
    }
}
