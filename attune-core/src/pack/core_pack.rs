//! The built-in `core` pack, compiled into the library: `core.noop`, `core.echo`,
//! `core.error`, `core.sleep`, `core.pause`, `core.local` and `core.local_sudo` (with a
//! `shell` runtime), `core.http_request` and its StackStorm name `core.http` (feature
//! `http`), the timer and webhook trigger types, and StackStorm's system trigger types.

use super::{Located, PackBundle, Source};
use crate::Error;
use crate::model::{Action, Pack, TriggerType};
use crate::params::{ParamSchema, ParamSpec};
use crate::runtime::{ActionContext, LogStream, NativeRuntime};
use serde_json::{Value, json};
use std::time::Duration;

/// The core pack's ref.
pub(crate) const CORE_PACK: &str = "core";

fn located<T>(def: T) -> Located<T> {
    Located {
        def,
        src: Source {
            file: "<built-in core pack>".into(),
            locs: Default::default(),
        },
        paths: Vec::new(),
    }
}

/// The `core` pack's definitions (what [`Engine::builder`](crate::Engine::builder) installs
/// in every engine). An action whose runtime the engine does not have is left out there:
/// `core.local` needs a `shell` runtime (crate attune-runtime-shell), `core.http_request` the
/// `http` one (feature `http`).
pub fn core_pack() -> PackBundle {
    let mut pack = Pack::new(CORE_PACK);
    pack.label = "Core".into();
    pack.description = "Actions and trigger types every Attune engine has".into();
    pack.version = env!("CARGO_PKG_VERSION").into();
    #[allow(unused_mut)]
    let mut actions = vec![
        Action::new("core.noop", "noop").description("Does nothing and succeeds with {}."),
        Action::new("core.echo", "native")
            .description(
                "Succeeds with {\"stdout\": message} and writes message to the log stream.",
            )
            .param(
                "message",
                ParamSpec::string()
                    .required()
                    .description("The text to echo."),
            ),
        Action::new("core.error", "native")
            .description("Fails with the given message (for testing failure paths).")
            .param(
                "message",
                ParamSpec::string()
                    .default("core.error")
                    .description("The error message."),
            ),
        Action::new("core.sleep", "native")
            .description("Waits `delay` seconds (cancelable), then succeeds.")
            .param(
                "delay",
                ParamSpec::number()
                    .default(1)
                    .min(0.0)
                    .description("Seconds to wait."),
            ),
    ];
    let mut ask = Action::new("core.ask", "inquirer").description(
        "Asks a question and waits (pending) for a response that fits `schema` (StackStorm's \
         core.ask): Engine::respond answers it; unanswered, it ends timeout after `ttl` minutes.",
    );
    ask.parameters = super::stackstorm_runner_parameters("inquirer").unwrap_or_default();
    actions.push(ask);
    actions.push(local_action("core.local", false));
    actions.push(local_action("core.local_sudo", true));
    actions.push(
        Action::new("core.pause", "native")
            .description(
                "Waits `max_pause` seconds (a random whole number from 1 to it when `random`), \
                 cancelable, and succeeds with the delay (StackStorm's core.pause).",
            )
            .param(
                "max_pause",
                ParamSpec::integer()
                    .default(5)
                    .min(0.0)
                    .description("Seconds to wait (the most, when `random`)."),
            )
            .param(
                "random",
                ParamSpec::boolean()
                    .default(false)
                    .description("Wait a random whole number of seconds from 1 to `max_pause`."),
            ),
    );
    #[cfg(feature = "http")]
    {
        actions.push(crate::runtime::http_request_action());
        // StackStorm's name for it.
        let mut http = crate::runtime::http_request_action();
        http.action_ref = "core.http".into();
        actions.push(http);
    }
    let timer_payload = json!({
        "type": "object",
        "properties": {
            "executed_at": {"type": "string", "format": "date-time"},
            "schedule": {"type": "object"}
        }
    });
    let triggers = vec![
        trigger(
            "core.intervaltimer",
            "Fires every `delta` `unit`s (`interval` is accepted for `delta`).",
            json!({
                "type": "object",
                "properties": {
                    "unit": {"type": "string", "enum": ["weeks", "days", "hours", "minutes", "seconds"], "default": "seconds"},
                    "delta": {"type": "integer", "minimum": 1},
                    "interval": {"type": "integer", "minimum": 1},
                    "catch_up": {"type": "boolean"}
                },
                "additionalProperties": false
            }),
            timer_payload.clone(),
        ),
        trigger(
            "core.crontimer",
            "Fires on a cron schedule: `expression` (5 or 6 fields, seconds first when 6) or the StackStorm fields, in `timezone`.",
            json!({
                "type": "object",
                "properties": {
                    "expression": {"type": "string"},
                    "timezone": {"type": "string", "default": "UTC"},
                    "year": {"type": ["integer", "string"]},
                    "month": {"type": ["integer", "string"]},
                    "day": {"type": ["integer", "string"]},
                    "week": {"type": ["integer", "string"]},
                    "day_of_week": {"type": ["integer", "string"]},
                    "hour": {"type": ["integer", "string"]},
                    "minute": {"type": ["integer", "string"]},
                    "second": {"type": ["integer", "string"]},
                    "catch_up": {"type": "boolean"}
                },
                "additionalProperties": false
            }),
            timer_payload.clone(),
        ),
        trigger(
            "core.datetimetimer",
            "Fires once at `fire_at` (`date` is accepted too) in `timezone`.",
            json!({
                "type": "object",
                "properties": {
                    "fire_at": {"type": "string", "format": "date-time"},
                    "date": {"type": "string", "format": "date-time"},
                    "timezone": {"type": "string", "default": "UTC"}
                },
                "additionalProperties": false
            }),
            timer_payload,
        ),
        trigger(
            "core.webhook",
            "Fires when the server receives POST /webhooks/<path> (StackStorm's name for \
             `path` is `url`, accepted too). With `secret_key`, the name of a system key \
             holding a shared secret, a call must be signed with it (GitHub's \
             X-Hub-Signature-256: HMAC-SHA256 of the body).",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "url": {"type": "string"},
                    "secret_key": {"type": "string"}
                },
                "anyOf": [{"required": ["path"]}, {"required": ["url"]}],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "method": {"type": "string"},
                    "headers": {"type": "object"},
                    "query": {"type": "object"},
                    "body": {}
                }
            }),
        ),
    ];
    let mut triggers = triggers;
    triggers.extend(stackstorm_system_triggers());
    PackBundle {
        pack,
        config_schema: ParamSchema::default(),
        actions: actions.into_iter().map(located).collect(),
        triggers: triggers.into_iter().map(located).collect(),
        sensors: Vec::new(),
        rules: Vec::new(),
        policies: Vec::new(),
        unsupported: Vec::new(),
        warnings: Vec::new(),
        left_out: Vec::new(),
        left_out_refs: Vec::new(),
        exhausted: false,
    }
}

/// StackStorm's names of the trigger types the core pack has under Attune's names: a rule
/// or an event may use either; the engine stores Attune's.
const TRIGGER_ALIASES: &[(&str, &str)] = &[
    ("core.st2.IntervalTimer", "core.intervaltimer"),
    ("core.st2.CronTimer", "core.crontimer"),
    ("core.st2.DateTimer", "core.datetimetimer"),
    ("core.st2.webhook", "core.webhook"),
];

/// The trigger type `r` names: Attune's name for StackStorm's name of a core trigger type
/// (`core.st2.IntervalTimer` → `core.intervaltimer`), else `r`.
///
/// ```
/// use attune_core::pack::canonical_trigger;
/// assert_eq!(canonical_trigger("core.st2.webhook"), "core.webhook");
/// assert_eq!(canonical_trigger("mypack.alert"), "mypack.alert");
/// ```
pub fn canonical_trigger(r: &str) -> &str {
    TRIGGER_ALIASES
        .iter()
        .find(|(st2, _)| *st2 == r)
        .map_or(r, |(_, ours)| ours)
}

/// StackStorm's system trigger types that the engine does not emit yet: rules on them load
/// (so StackStorm packs that use them install) with a warning that they do not fire.
pub(crate) const NOT_EMITTED: &[&str] = &["core.st2.action.file_written"];

/// StackStorm's system trigger types with their payloads as StackStorm documents them.
fn stackstorm_system_triggers() -> Vec<TriggerType> {
    let obj = |props: Value| json!({"type": "object", "properties": props});
    let kv = || obj(json!({"object": {"type": "object"}}));
    let none = Value::Null;
    vec![
        trigger(
            "core.st2.generic.actiontrigger",
            "StackStorm: an execution ended.",
            none.clone(),
            obj(json!({
                "execution_id": {"type": "string"},
                "status": {"type": "string"},
                "start_timestamp": {"type": "string"},
                "action_name": {"type": "string"},
                "action_ref": {"type": "string"},
                "runner_ref": {"type": "string"},
                "parameters": {"type": "object"},
                "result": {"type": ["object", "array", "string", "number", "boolean", "null"]}
            })),
        ),
        trigger(
            "core.st2.generic.notifytrigger",
            "StackStorm: a notification of an execution's end (`notify`).",
            none.clone(),
            obj(json!({
                "execution_id": {"type": "string"},
                "status": {"type": "string"},
                "start_timestamp": {"type": "string"},
                "end_timestamp": {"type": "string"},
                "action_ref": {"type": "string"},
                "runner_ref": {"type": "string"},
                "channel": {"type": "string"},
                "route": {"type": "string"},
                "message": {"type": "string"},
                "data": {"type": "object"}
            })),
        ),
        trigger(
            "core.st2.generic.inquiry",
            "StackStorm: an inquiry was created.",
            none.clone(),
            obj(json!({"id": {"type": "string"}, "route": {"type": "string"}})),
        ),
        trigger(
            "core.st2.action.file_written",
            "StackStorm: an action file was written through the API.",
            none.clone(),
            obj(json!({
                "ref": {"type": "string"},
                "file_path": {"type": "string"},
                "host_info": {"type": "object"}
            })),
        ),
        trigger(
            "core.st2.key_value_pair.create",
            "StackStorm: a key was created.",
            none.clone(),
            kv(),
        ),
        trigger(
            "core.st2.key_value_pair.update",
            "StackStorm: a key was updated.",
            none.clone(),
            kv(),
        ),
        trigger(
            "core.st2.key_value_pair.value_change",
            "StackStorm: a key's value changed.",
            none.clone(),
            obj(json!({"old_object": {"type": "object"}, "new_object": {"type": "object"}})),
        ),
        trigger(
            "core.st2.key_value_pair.delete",
            "StackStorm: a key was deleted.",
            none.clone(),
            kv(),
        ),
        trigger(
            "core.st2.sensor.process_spawn",
            "StackStorm: a sensor process started (`id`: the sensor's ref).",
            none.clone(),
            obj(json!({
                "id": {"type": "string"},
                "timestamp": {"type": "integer"},
                "pid": {"type": "integer"},
                "cmd": {"type": "string"}
            })),
        ),
        trigger(
            "core.st2.sensor.process_exit",
            "StackStorm: a sensor process exited (`id`: the sensor's ref).",
            none,
            obj(json!({
                "id": {"type": "string"},
                "timestamp": {"type": "integer"},
                "exit_code": {"type": "integer"}
            })),
        ),
    ]
}

/// `core.local` (and `core.local_sudo`, with `sudo` fixed to true): StackStorm's
/// local-shell-cmd runner on the `shell` runtime, with that runner's parameters.
fn local_action(r: &str, sudo: bool) -> Action {
    let mut a = Action::new(r, "shell")
        .description(if sudo {
            "Runs `cmd` as root (sudo -n) with /bin/sh, as core.local does."
        } else {
            "Runs `cmd` with /bin/sh in the working directory `cwd` (default: the system's \
             temporary directory); succeeds when it exits 0. Params are also in the \
             environment as ATTUNE_PARAM_<NAME>."
        })
        .timeout_secs(60.0);
    a.runner_type = Some("local-shell-cmd".into());
    a.parameters = super::stackstorm_runner_parameters("local-shell-cmd").unwrap_or_default();
    a.parameters.0.insert(
        "cmd".into(),
        ParamSpec::string()
            .required()
            .description("The command line, run by /bin/sh -c."),
    );
    if let Some(t) = a.parameters.0.get_mut("timeout") {
        t.minimum = Some(0.001);
    }
    if sudo {
        a.parameters.0.insert(
            "sudo".into(),
            ParamSpec::boolean()
                .default(true)
                .immutable()
                .description("Always true: the command runs with sudo."),
        );
    }
    a
}

fn trigger(r: &str, description: &str, params: Value, payload: Value) -> TriggerType {
    let mut t = TriggerType::new(r);
    t.description = description.into();
    t.parameters_schema = params;
    t.payload_schema = payload;
    t
}

/// Registers the native bodies of core.echo, core.error and core.sleep.
pub(crate) fn install_core_handlers(native: &NativeRuntime) {
    native.register("core.echo", |ctx: ActionContext| async move {
        let message = ctx
            .param("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for line in message.lines() {
            ctx.log.line(LogStream::Stdout, line);
        }
        Ok(json!({ "stdout": message }))
    });
    native.register("core.error", |ctx: ActionContext| async move {
        let message = ctx
            .param("message")
            .and_then(Value::as_str)
            .unwrap_or("core.error");
        Err::<Value, _>(Error::Action(message.to_string()))
    });
    native.register("core.pause", |ctx: ActionContext| async move {
        let max = ctx.param("max_pause").and_then(Value::as_u64).unwrap_or(5);
        let random = ctx
            .param("random")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let delay = if random && max > 1 {
            // Whole seconds from 1 to max, as StackStorm's core.pause.
            1 + uuid::Uuid::new_v4().as_u128() as u64 % max
        } else {
            max
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(delay)) => Ok::<Value, Error>(json!(delay)),
            () = ctx.cancel.cancelled() => Err(Error::Canceled("core.pause".into())),
        }
    });
    native.register("core.sleep", |ctx: ActionContext| async move {
        let delay = ctx.param("delay").and_then(Value::as_f64).unwrap_or(1.0);
        let d = Duration::try_from_secs_f64(delay)
            .map_err(|e| Error::invalid("params of action 'core.sleep'", format!("delay: {e}")))?;
        tokio::select! {
            () = tokio::time::sleep(d) => Ok::<Value, Error>(json!({ "delay": delay })),
            () = ctx.cancel.cancelled() => Err(Error::Canceled("core.sleep".into())),
        }
    });
}
