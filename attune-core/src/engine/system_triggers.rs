//! StackStorm's internal triggers, emitted by the engine itself: at every execution's end
//! (`core.st2.generic.actiontrigger`), for each route of an action's or rule's `notify`
//! (`core.st2.generic.notifytrigger`), when a sensor process starts or exits
//! (`core.st2.sensor.process_spawn` / `process_exit`), and when a key changes
//! (`core.st2.key_value_pair.*`). Each is emitted only while an enabled rule uses its
//! trigger type: otherwise it costs one index lookup. Payloads are StackStorm's.

use super::{Emission, Shared};
use crate::model::{Execution, ExecutionStatus, Key, KeyScope, NotifyOn};
use crate::transport::StatusChange;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub(crate) const ACTION_TRIGGER: &str = "core.st2.generic.actiontrigger";
pub(crate) const NOTIFY_TRIGGER: &str = "core.st2.generic.notifytrigger";
pub(crate) const INQUIRY_TRIGGER: &str = "core.st2.generic.inquiry";
pub(crate) const PROCESS_SPAWN: &str = "core.st2.sensor.process_spawn";
pub(crate) const PROCESS_EXIT: &str = "core.st2.sensor.process_exit";
pub(crate) const KV_CREATE: &str = "core.st2.key_value_pair.create";
pub(crate) const KV_UPDATE: &str = "core.st2.key_value_pair.update";
pub(crate) const KV_VALUE_CHANGE: &str = "core.st2.key_value_pair.value_change";
pub(crate) const KV_DELETE: &str = "core.st2.key_value_pair.delete";

/// Whether an enabled rule uses `trigger`.
pub(crate) fn used(shared: &Shared, trigger: &str) -> bool {
    shared.catalog.rules_for(trigger).is_some()
}

fn emission(trigger: &str, payload: Value) -> Emission {
    Emission {
        trigger: trigger.into(),
        payload,
        source: Some("engine".into()),
        trigger_params: None,
        trace_tag: None,
        checked: true,
    }
}

/// StackStorm's time format in these payloads (ISO 8601, microseconds, UTC offset).
fn iso(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
    })
}

/// The completion stage's hook: the actiontrigger and notifytrigger events of executions
/// that ended.
pub(crate) async fn executions_ended(shared: &Shared, done: &[StatusChange]) {
    let want_action = used(shared, ACTION_TRIGGER);
    let want_notify = used(shared, NOTIFY_TRIGGER);
    if !want_action && !want_notify {
        return;
    }
    let mut out = Vec::new();
    for c in done.iter().filter(|c| c.status.is_terminal()) {
        let exec = match shared.store.get_execution(c.execution).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(execution = %c.execution, error = %e, "ended execution not read");
                continue;
            }
        };
        let action = shared.catalog.action(&exec.action);
        let runner_ref = action.as_ref().map_or_else(
            || exec.runner.to_string(),
            |a| a.runner_type.clone().unwrap_or_else(|| a.runner.clone()),
        );
        if want_action {
            out.push(emission(
                ACTION_TRIGGER,
                json!({
                    "execution_id": exec.id.to_string(),
                    "status": exec.status,
                    "start_timestamp": iso(exec.started.or(Some(exec.created))),
                    // StackStorm writes the ref here too.
                    "action_name": exec.action,
                    "action_ref": exec.action,
                    "runner_ref": runner_ref,
                    "parameters": exec.params,
                    "result": exec.result,
                }),
            ));
        }
        if want_notify {
            let mut entries: Vec<NotifyOn> = Vec::new();
            let mut add = |n: &crate::model::Notify| {
                let ok = exec.status == ExecutionStatus::Succeeded;
                for (on, applies) in [
                    (&n.on_complete, true),
                    (&n.on_success, ok),
                    (&n.on_failure, !ok),
                ] {
                    if let Some(on) = on.as_ref().filter(|_| applies) {
                        entries.push(on.clone());
                    }
                }
            };
            // An action's notify is for its top-level executions (a workflow's tasks carry
            // their own, as in StackStorm); a rule's for the executions it made.
            if exec.parent.is_none()
                && let Some(a) = &action
            {
                add(&a.notify);
            }
            if let Some(r) = exec.rule.as_deref().and_then(|r| shared.catalog.rule(r)) {
                add(&r.rule.notify);
            }
            for on in entries {
                out.extend(notifications(shared, &exec, &runner_ref, &on));
            }
        }
    }
    super::emit::emit_logged(shared, out).await;
}

/// One notifytrigger event per route of `on`, its message and data rendered with the
/// execution (a template that fails is logged, and the text sent as it is written).
fn notifications(
    shared: &Shared,
    exec: &Execution,
    runner_ref: &str,
    on: &NotifyOn,
) -> Vec<Emission> {
    let mut ctx = match &exec.params {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    ctx.insert("action_parameters".into(), exec.params.clone());
    ctx.insert(
        "action_results".into(),
        exec.result.clone().unwrap_or(Value::Null),
    );
    ctx.insert(
        "action_context".into(),
        json!({
            "user": exec.user,
            "execution_id": exec.id.to_string(),
            "action": exec.action,
            "pack": exec.action.split_once('.').map_or("", |(p, _)| p),
            "parent": exec.parent.map(|p| p.to_string()),
            "rule": exec.rule,
        }),
    );
    let jctx = crate::template::to_jinja(Value::Object(ctx));
    let what = format!("notify of execution '{}'", exec.id);
    let message = on.message.as_deref().map(|m| {
        shared
            .templates
            .render_text_once(&what, m, &jctx)
            .unwrap_or_else(|e| {
                tracing::warn!(execution = %exec.id, error = %e, "notify message not rendered");
                m.to_string()
            })
    });
    let data = if on.data.is_empty() {
        Value::Object(Map::new())
    } else {
        render_data(shared, &what, &on.data, &jctx, exec)
    };
    on.routes
        .iter()
        .map(|route| {
            emission(
                NOTIFY_TRIGGER,
                json!({
                    "execution_id": exec.id.to_string(),
                    "status": exec.status,
                    "start_timestamp": iso(exec.started.or(Some(exec.created))),
                    "end_timestamp": iso(exec.finished.or(Some(exec.updated))),
                    "action_ref": exec.action,
                    "runner_ref": runner_ref,
                    "channel": route,
                    "route": route,
                    "message": message,
                    "data": data,
                }),
            )
        })
        .collect()
}

/// `data` with each string value rendered (a failure logged, the text kept).
fn render_data(
    shared: &Shared,
    what: &str,
    data: &Map<String, Value>,
    ctx: &minijinja::Value,
    exec: &Execution,
) -> Value {
    let mut out = Map::new();
    for (k, v) in data {
        let rendered = match v {
            Value::String(s) if crate::template::is_template(s) => shared
                .templates
                .render_once(what, s, ctx)
                .unwrap_or_else(|e| {
                    tracing::warn!(execution = %exec.id, key = %k, error = %e, "notify data not rendered");
                    v.clone()
                }),
            other => other.clone(),
        };
        out.insert(k.clone(), rendered);
    }
    Value::Object(out)
}

/// The running stage's hook: executions that now wait for a response (inquiries) fire
/// `core.st2.generic.inquiry` with StackStorm's payload: `id` (the inquiry, which is its
/// execution) and `route`.
pub(crate) async fn inquiries_created(shared: &Shared, ids: &[crate::model::ExecutionId]) {
    if !used(shared, INQUIRY_TRIGGER) {
        return;
    }
    let mut out = Vec::new();
    for id in ids {
        match shared.store.get_execution(*id).await {
            Ok(e) => {
                let route = super::inquiries::route_of(&e);
                out.push(emission(
                    INQUIRY_TRIGGER,
                    json!({"id": e.id.to_string(), "route": route}),
                ));
            }
            Err(err) => {
                tracing::warn!(execution = %id, error = %err, "inquiry not read");
            }
        }
    }
    super::emit::emit_logged(shared, out).await;
}

/// A sensor process started (`pid`, its command line) or exited (`exit_code`).
pub(crate) async fn sensor_process(
    shared: &Shared,
    sensor: &str,
    pid: Option<u32>,
    cmd: Option<&str>,
    exit_code: Option<i32>,
) {
    let trigger = if exit_code.is_some() {
        PROCESS_EXIT
    } else {
        PROCESS_SPAWN
    };
    if !used(shared, trigger) {
        return;
    }
    let mut payload = json!({"id": sensor, "timestamp": shared.now().timestamp()});
    if let Some(pid) = pid {
        payload["pid"] = json!(pid);
    }
    if let Some(cmd) = cmd {
        payload["cmd"] = json!(cmd);
    }
    if let Some(code) = exit_code {
        payload["exit_code"] = json!(code);
    }
    super::emit::emit_logged(shared, vec![emission(trigger, payload)]).await;
}

/// A key as StackStorm's key-value pair objects show it.
fn kv_object(k: &Key) -> Value {
    let (scope, user) = match &k.scope {
        KeyScope::System => ("st2kv.system", None),
        KeyScope::Pack(_) => ("st2kv.system", None),
        KeyScope::User(u) => ("st2kv.user", Some(u.clone())),
    };
    json!({
        "id": k.name,
        "name": k.name,
        "value": k.value,
        "secret": k.encrypted,
        "encrypted": k.encrypted,
        "scope": scope,
        "user": user,
        "expire_timestamp": iso(k.expires),
    })
}

/// The engine watching the key changes of runs and sensors ([`crate::runtime::KeyWatch`]).
#[derive(Clone)]
pub(crate) struct EngineKeyWatch(pub Arc<Shared>);

impl std::fmt::Debug for EngineKeyWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineKeyWatch")
    }
}

#[async_trait::async_trait]
impl crate::runtime::KeyWatch for EngineKeyWatch {
    fn watching(&self) -> bool {
        kv_used(&self.0)
    }

    async fn changed(&self, old: Option<Key>, new: Option<Key>) {
        key_changed(&self.0, old.as_ref(), new.as_ref()).await;
    }
}

/// Whether a rule uses any key-value trigger (the key store then reads a key before it
/// changes it, to tell create from update).
pub(crate) fn kv_used(shared: &Shared) -> bool {
    [KV_CREATE, KV_UPDATE, KV_VALUE_CHANGE, KV_DELETE]
        .iter()
        .any(|t| used(shared, t))
}

/// A key was written (`old`: what it was before, if it existed) or deleted (`new` is None).
pub(crate) async fn key_changed(shared: &Shared, old: Option<&Key>, new: Option<&Key>) {
    let mut out = Vec::new();
    match (old, new) {
        (None, Some(n)) => {
            if used(shared, KV_CREATE) {
                out.push(emission(KV_CREATE, json!({"object": kv_object(n)})));
            }
        }
        (Some(o), Some(n)) => {
            if used(shared, KV_UPDATE) {
                out.push(emission(KV_UPDATE, json!({"object": kv_object(n)})));
            }
            if o.value != n.value && used(shared, KV_VALUE_CHANGE) {
                out.push(emission(
                    KV_VALUE_CHANGE,
                    json!({"old_object": kv_object(o), "new_object": kv_object(n)}),
                ));
            }
        }
        (Some(o), None) => {
            if used(shared, KV_DELETE) {
                out.push(emission(KV_DELETE, json!({"object": kv_object(o)})));
            }
        }
        (None, None) => {}
    }
    super::emit::emit_logged(shared, out).await;
}
