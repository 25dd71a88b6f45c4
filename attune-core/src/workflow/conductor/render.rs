//! Rendering a run's templates: the functions they see (`ctx()`, `succeeded()`, `failed()`,
//! `timed_out()`, `completed()`, `result()`, `item()`, `index()`, `task()`, `st2kv()` — the
//! latter in `kv.rs`) and Jinja truthiness of conditions.

use super::plan::ChainScope;
use super::{Conductor, Entry, RunStatus};
use crate::Result;
use crate::template::{CompiledValue, WORKFLOW_VARS, WorkflowVars, to_jinja};
use crate::workflow::chain::{FAILED_FN, RESULT_FN, SUCCEEDED_FN};
use minijinja::Value as JValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The task a template is rendered for, if any: its entry, and for a with-items item its
/// index and value.
pub(super) type TaskScope<'a> = Option<(&'a Entry, Option<(usize, &'a Value)>)>;

/// The functions of one template context, by name.
type Functions = BTreeMap<&'static str, JValue>;

impl Conductor {
    /// Renders `v` over the context `ctx`.
    pub(super) fn render(
        &self,
        v: &CompiledValue,
        ctx: &Map<String, Value>,
        task: TaskScope<'_>,
    ) -> Result<Value> {
        let jctx = self.jctx(&Arc::new(ctx.clone()), task);
        self.plan.templates.render(v, &jctx)
    }

    /// Renders `v` over the run's context number `ctx`.
    pub(super) fn render_in(
        &self,
        v: &CompiledValue,
        ctx: usize,
        task: TaskScope<'_>,
    ) -> Result<Value> {
        let jctx = self.jctx(&self.ctxs[ctx], task);
        self.plan.templates.render(v, &jctx)
    }

    /// The template context: `ctx()`, and for a task its status and result, the item.
    fn jctx(&self, ctx: &Arc<Map<String, Value>>, task: TaskScope<'_>) -> JValue {
        if let Some(scope) = &self.plan.chain {
            let kv = self.plan.uses_st2kv.then(|| self.kv.namespace());
            return chain_context(scope, ctx, task.map(|(e, _)| e), kv);
        }
        let mut m = Functions::new();
        m.insert("ctx", ctx_function(ctx.clone()));
        m.insert(WORKFLOW_VARS, WorkflowVars::value(ctx.clone()));
        insert_task_functions(&mut m, task.map(|(e, _)| e));
        if let Some((_, Some((index, item)))) = task {
            insert_item_functions(&mut m, index, item);
        }
        if self.plan.uses_task_fn {
            m.insert("task", self.task_function(task.map(|(e, _)| e)));
        }
        if self.plan.uses_st2kv {
            m.insert("st2kv", self.kv.function());
        }
        JValue::from(m)
    }

    /// `task(name, route=None)`: the latest run of a task — on `route`; without one, on the
    /// route of the task rendered for when it ran there, else on any route — as
    /// StackStorm's Orquesta gives it: `task_id` (also `task_name`), `route`, `status`,
    /// `result` (for a with-items task, `{"items": [{"status", "result"}, ...]}` as
    /// StackStorm shows it); an error for a task that has not run. `task()`: the task the
    /// template is rendered for (an error outside a task).
    fn task_function(&self, current: Option<&Entry>) -> JValue {
        let describe = |e: &Entry| {
            let result = match &e.items {
                Some(items) => items.task_view(e.result.as_ref()),
                None => serde_json::json!(e.result),
            };
            serde_json::json!({
                "task_id": e.task, "task_name": e.task, "route": e.route,
                "status": e.status, "result": result,
            })
        };
        let mut tasks: BTreeMap<(String, Option<usize>), Value> = BTreeMap::new();
        for e in &self.seq {
            tasks.insert((e.task.clone(), None), describe(e));
            tasks.insert((e.task.clone(), Some(e.route)), describe(e));
        }
        let here = current.map(|e| e.route);
        let current = current.map(describe);
        let tasks = Arc::new(tasks);
        JValue::from_function(
            move |name: Option<String>,
                  route: Option<usize>,
                  kw: minijinja::value::Kwargs|
                  -> std::result::Result<JValue, minijinja::Error> {
                // `task(name, route=N)` (YAQL: `task(name, route => N)`) as well.
                let route = match route {
                    Some(r) => Some(r),
                    None => kw.get::<Option<usize>>("route")?,
                };
                kw.assert_all_used()?;
                let Some(name) = name else {
                    return current.as_ref().map(to_jinja).ok_or_else(|| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            "task() without a name is the current task, and this template \
                             belongs to no task",
                        )
                    });
                };
                // Without a route: the run on the route of the task rendered for (as
                // Orquesta's), else the latest of any route.
                let found = match (route, here) {
                    (None, Some(r)) => tasks
                        .get(&(name.clone(), Some(r)))
                        .or_else(|| tasks.get(&(name.clone(), None))),
                    _ => tasks.get(&(name.clone(), route)),
                };
                found.map(to_jinja).ok_or_else(|| {
                    let on = route.map(|r| format!(" on route {r}")).unwrap_or_default();
                    minijinja::Error::new(
                        minijinja::ErrorKind::UndefinedError,
                        format!("task '{name}' has not run{on}"),
                    )
                })
            },
        )
    }
}

/// An action chain's template context: every value of the run by its name (the action's
/// params, `action_context`, the vars, what was published, each node's result by the node's
/// name), `__results` (the nodes' results), and for the translated transitions
/// `__succeeded()`, `__failed()`, `__result()` of the node that ended.
fn chain_context(
    scope: &ChainScope,
    ctx: &Map<String, Value>,
    entry: Option<&Entry>,
    kv: Option<JValue>,
) -> JValue {
    let mut m: BTreeMap<String, JValue> =
        ctx.iter().map(|(k, v)| (k.clone(), to_jinja(v))).collect();
    if let Some(kv) = kv {
        m.insert("st2kv".into(), kv);
    }
    let results: Map<String, Value> = scope
        .nodes
        .iter()
        .filter_map(|n| ctx.get(n).map(|v| (n.clone(), v.clone())))
        .collect();
    m.insert("__results".into(), to_jinja(&results));
    let mut f = Functions::new();
    insert_task_functions(&mut f, entry);
    for (name, alias) in [
        ("succeeded", SUCCEEDED_FN),
        ("failed", FAILED_FN),
        ("result", RESULT_FN),
    ] {
        if let Some(v) = f.remove(name) {
            m.insert(alias.into(), v);
        }
    }
    JValue::from(m)
}

/// `ctx()`: the whole context; `ctx(key)`: one variable (an error when it is undefined).
fn ctx_function(c: Arc<Map<String, Value>>) -> JValue {
    JValue::from_function(
        move |key: Option<String>| -> std::result::Result<JValue, minijinja::Error> {
            match key {
                None => Ok(to_jinja(&*c)),
                Some(k) => match c.get(&k) {
                    Some(v) => Ok(to_jinja(v)),
                    None => Err(minijinja::Error::new(
                        minijinja::ErrorKind::UndefinedError,
                        format!("the variable \"{k}\" is undefined"),
                    )),
                },
            }
        },
    )
}

/// The status functions and `result()` of the task `entry` (all false and null without
/// one).
fn insert_task_functions(m: &mut Functions, entry: Option<&Entry>) {
    let status = entry.map(|e| e.status);
    let flag = |ok: bool| {
        JValue::from_function(move || -> std::result::Result<bool, minijinja::Error> { Ok(ok) })
    };
    m.insert("succeeded", flag(status == Some(RunStatus::Succeeded)));
    m.insert("failed", flag(status.is_some_and(RunStatus::is_failure)));
    m.insert("timed_out", flag(status == Some(RunStatus::Timeout)));
    m.insert(
        "completed",
        flag(status.is_some_and(|s| s != RunStatus::Running)),
    );
    let result = entry.and_then(|e| e.result.clone()).unwrap_or(Value::Null);
    let result = to_jinja(&result);
    m.insert(
        "result",
        JValue::from_function(move || -> std::result::Result<JValue, minijinja::Error> {
            Ok(result.clone())
        }),
    );
}

/// `item()` (also `item(name)`) and `index()` of a with-items item.
fn insert_item_functions(m: &mut Functions, index: usize, item: &Value) {
    let item = to_jinja(item);
    m.insert(
        "item",
        JValue::from_function(
            move |_name: Option<String>| -> std::result::Result<JValue, minijinja::Error> {
                Ok(item.clone())
            },
        ),
    );
    m.insert(
        "index",
        JValue::from_function(move || -> std::result::Result<usize, minijinja::Error> {
            Ok(index)
        }),
    );
}

/// Jinja truthiness of a rendered condition.
pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty() && s != "False" && s != "false",
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}
