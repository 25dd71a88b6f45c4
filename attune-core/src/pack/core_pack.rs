//! The built-in `core` pack, compiled into the library: `core.noop`, `core.echo`,
//! `core.error`, `core.sleep`, `core.http_request` (feature `http`) and the timer and
//! webhook trigger types.

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
    actions.push(
        Action::new("core.local", "shell")
            .description(
                "Runs `cmd` with /bin/sh in the working directory `cwd` (default: the \
                 system's temporary directory); succeeds when it exits 0. Params are also in \
                 the environment as ATTUNE_PARAM_<NAME>.",
            )
            .param(
                "cmd",
                ParamSpec::string()
                    .required()
                    .description("The command line, run by /bin/sh -c."),
            )
            .param(
                "cwd",
                ParamSpec::string().description("Working directory of the command."),
            )
            .param(
                "env",
                ParamSpec::object()
                    .default(json!({}))
                    .description("Extra environment variables (name → string)."),
            )
            .param(
                "timeout",
                ParamSpec::number()
                    .default(60)
                    .min(0.001)
                    .description("Seconds before the command is stopped (status timeout)."),
            )
            .timeout_secs(60.0),
    );
    #[cfg(feature = "http")]
    actions.push(crate::runtime::http_request_action());
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
                    "interval": {"type": "integer", "minimum": 1}
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
                    "second": {"type": ["integer", "string"]}
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
            "Fires when the server receives POST /webhooks/<path>.",
            json!({
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
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
    PackBundle {
        pack,
        config_schema: ParamSchema::default(),
        actions: actions.into_iter().map(located).collect(),
        triggers: triggers.into_iter().map(located).collect(),
        sensors: Vec::new(),
        rules: Vec::new(),
        policies: Vec::new(),
    }
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
