//! Action parameter defaults that are templates, rendered when an execution is created, as
//! StackStorm renders them: `default: "{{ config_context.region }}"`,
//! `"lsof {{ args }}"`, `"{{ st2kv.system.api_key | decrypt_kv }}"`.
//!
//! A default is rendered only when the param was not given; a value given is taken as it
//! is. The context of a default:
//!
//! * every other param by name, with its final value (given, default, or rendered default:
//!   defaults that name each other render in dependency order, and a cycle is an error
//!   naming the params);
//! * `config_context` (and `pack.config`): the config of the action's pack;
//! * `st2kv.system.NAME`, `st2kv.pack.NAME`, `st2kv.user.NAME` (the execution's user's keys,
//!   when it has a user): encrypted values sealed, opened with `decrypt_kv` — the action
//!   declares it, so it may;
//! * `action_context`: `user`, `pack`, `action`, `parent` (the workflow execution, for a task).
//!
//! A rendered value is checked against the param's schema. Every value `decrypt_kv` opened
//! is returned, so that the engine masks it wherever the execution could show it.

use super::Shared;
use crate::model::{Action, ExecutionId};
use crate::template::{is_template, to_jinja, variables};
use crate::{Error, Result};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The params of `action` whose defaults are templates and were not given.
fn templated<'a>(action: &'a Action, given: &Map<String, Value>) -> Vec<(&'a str, &'a Value)> {
    action
        .parameters
        .iter()
        .filter(|(name, _)| given.get(*name).is_none_or(Value::is_null))
        .filter_map(|(name, spec)| {
            let d = spec.default.as_ref()?;
            crate::template::contains_template(d).then_some((name.as_str(), d))
        })
        .collect()
}

/// Who an execution is for: what `action_context` says.
pub(crate) struct For<'a> {
    /// Its user.
    pub user: Option<&'a str>,
    /// Its workflow execution, for a task.
    pub parent: Option<ExecutionId>,
}

/// Renders the templated defaults of `action` that `given` (the params supplied) left out,
/// into `validated` (the params with defaults filled in, as [`ParamSchema::validate`]
/// returned them). Returns the values `decrypt_kv` opened. An error names the param and
/// why: a render error, a cycle, a rendered value its schema refuses.
///
/// [`ParamSchema::validate`]: crate::params::ParamSchema::validate
pub(crate) async fn render(
    shared: &Shared,
    action: &Action,
    given: &Map<String, Value>,
    validated: &mut Map<String, Value>,
    who: For<'_>,
) -> Result<Vec<String>> {
    let todo = templated(action, given);
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let what = format!("params of action '{}'", action.action_ref);
    let pending_names: BTreeSet<&str> = todo.iter().map(|(n, _)| *n).collect();
    // What each default reads (once): the defaults it names order the rendering.
    let mut left: Vec<(&str, &Value, BTreeSet<String>)> = todo
        .iter()
        .map(|(n, d)| {
            let mut srcs = Vec::new();
            crate::template::template_strings(d, &mut srcs);
            (*n, *d, srcs.iter().flat_map(|s| variables(s)).collect())
        })
        .collect();
    let reads_kv = left
        .iter()
        .any(|(_, _, vars)| vars.contains("st2kv") || vars.contains("kv"));

    let mut ctx: BTreeMap<String, minijinja::Value> = validated
        .iter()
        .filter(|(k, _)| !pending_names.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), to_jinja(v)))
        .collect();
    let config = shared
        .catalog
        .run_info(action.pack(), None)
        .config
        .map_or(Value::Object(Map::new()), |c| (*c).clone());
    ctx.insert(
        "pack".into(),
        to_jinja(json!({"ref": action.pack(), "config": config})),
    );
    ctx.insert("config_context".into(), to_jinja(config));
    ctx.insert(
        "action_context".into(),
        to_jinja(json!({
            "user": who.user,
            "pack": action.pack(),
            "action": action.action_ref,
            "parent": who.parent.map(|p| p.to_string()),
        })),
    );
    if reads_kv {
        let kv = to_jinja(super::context::kv_namespace(shared, action.pack(), who.user).await?);
        ctx.insert("st2kv".into(), kv.clone());
        ctx.insert("kv".into(), kv);
    }
    let ring = std::sync::Arc::new(crate::template::keyring::Keyring::new(shared.cipher()));
    ctx.insert(
        crate::template::keyring::KEYRING_VAR.into(),
        minijinja::Value::from_dyn_object(ring.clone()),
    );

    while !left.is_empty() {
        // Ready: every default it names has rendered.
        let ready = left.iter().position(|(n, _, vars)| {
            vars.iter()
                .all(|v| v == n || !pending_names.contains(v.as_str()) || ctx.contains_key(v))
        });
        let Some(i) = ready else {
            let names: Vec<&str> = left.iter().map(|(n, _, _)| *n).collect();
            return Err(Error::invalid(
                &what,
                format!(
                    "the defaults of {} name each other in a cycle",
                    names.join(", ")
                ),
            ));
        };
        let (name, default, _) = left.remove(i);
        let jctx = minijinja::Value::from(ctx.clone());
        let location = format!("action '{}' param '{name}' default", action.action_ref);
        let value = render_value(shared, &location, default, &jctx)?;
        let required = action.parameters.get(name).is_some_and(|s| s.required);
        if value.is_null() && !required {
            // Rendered to nothing: the param is unset, as StackStorm leaves it None.
            validated.remove(name);
            ctx.insert(name.to_string(), minijinja::Value::from(()));
            continue;
        }
        action
            .parameters
            .check_param(name, &value)
            .map_err(|e| Error::invalid(&what, format!("{e} (its default, once rendered)")))?;
        ctx.insert(name.to_string(), to_jinja(&value));
        validated.insert(name.to_string(), value);
    }
    Ok(ring.opened())
}

/// Renders every template string inside `v` (a whole-expression string keeps its type).
fn render_value(
    shared: &Shared,
    location: &str,
    v: &Value,
    ctx: &minijinja::Value,
) -> Result<Value> {
    Ok(match v {
        Value::String(s) if is_template(s) => shared.templates.render_once(location, s, ctx)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| render_value(shared, &format!("{location}[{i}]"), x, ctx))
                .collect::<Result<_>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    Ok((
                        k.clone(),
                        render_value(shared, &format!("{location}.{k}"), x, ctx)?,
                    ))
                })
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}
