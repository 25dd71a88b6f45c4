//! What a shell action runs: its script with positional arguments, or a `cmd` by the shell.

use crate::config::ShellConfig;
use crate::env::{env_text, holds_secret};
use attune_core::model::Action;
use attune_core::template::{Templates, is_template, to_jinja};
use attune_core::{Error, Result};
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Program and arguments of one run.
#[derive(Debug)]
pub(crate) struct Command {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// The command of `action`: its `entry_point` script (run directly when executable, else by
/// the shell), with its positional params as arguments; else the `cmd` param (or the
/// action's inline `code`) run by `shell -c`, with `{{ name }}` replaced by non-secret params.
/// Secret values never reach the command line (/proc/<pid>/cmdline is readable by others).
pub(crate) fn command(
    config: &ShellConfig,
    action: &Action,
    pack_dir: Option<&Path>,
    params: &Map<String, Value>,
    secrets: &[String],
    templates: &Templates,
) -> Result<Command> {
    let c = unprivileged(config, action, pack_dir, params, secrets, templates)?;
    with_sudo(action, params, c)
}

/// StackStorm's `sudo` runner parameter: the command runs as root through `sudo -n -E --`
/// (non-interactive: passwordless sudo must be set up; a password prompt is a failure, not a
/// hang). `sudo_password` is refused: it would have to be given to sudo on stdin, which
/// carries the params.
fn with_sudo(action: &Action, params: &Map<String, Value>, c: Command) -> Result<Command> {
    let what = format!("action '{}'", action.action_ref);
    if params
        .get("sudo_password")
        .is_some_and(|p| !p.is_null() && p != &Value::String(String::new()))
    {
        return Err(Error::invalid(
            &what,
            "param 'sudo_password' is not supported: configure passwordless sudo for the \
             engine's user (sudo -n is used)",
        ));
    }
    if params.get("sudo") != Some(&Value::Bool(true)) {
        return Ok(c);
    }
    let mut args: Vec<OsString> = vec!["-n".into(), "-E".into(), "--".into()];
    args.push(c.program.into_os_string());
    args.extend(c.args);
    Ok(Command {
        program: PathBuf::from("sudo"),
        args,
    })
}

/// StackStorm's local-shell-script passes the params that are neither positional nor the
/// runner's own as named arguments before the positional ones: `<kwarg_op>name=value`,
/// a true boolean as `<kwarg_op>name`, false, null and empty strings left out (and secret
/// params, by the caller: they are on stdin only).
fn named_args(action: &Action, params: &Map<String, Value>) -> Vec<(String, String)> {
    let Some(runner) = action
        .runner_type
        .as_deref()
        .filter(|r| *r == "local-shell-script")
    else {
        return Vec::new();
    };
    let op = params
        .get("kwarg_op")
        .and_then(Value::as_str)
        .unwrap_or("--");
    let own = attune_core::pack::stackstorm_runner_parameters(runner).unwrap_or_default();
    let mut out = Vec::new();
    for (name, value) in params {
        let positional = action
            .parameters
            .get(name)
            .is_some_and(|s| s.position.is_some());
        if positional || own.get(name).is_some() {
            continue;
        }
        match value {
            Value::Null | Value::Bool(false) => {}
            Value::String(s) if s.is_empty() => {}
            Value::Bool(true) => out.push((name.clone(), format!("{op}{name}"))),
            v => out.push((name.clone(), format!("{op}{name}={}", env_text(v)))),
        }
    }
    out
}

/// The error for a secret that would be a command-line argument.
fn secret_argument(what: &str, name: &str) -> Error {
    Error::invalid(
        what,
        format!(
            "param '{name}' is secret and cannot be a command-line argument \
             (read it from the JSON on stdin)"
        ),
    )
}

fn unprivileged(
    config: &ShellConfig,
    action: &Action,
    pack_dir: Option<&Path>,
    params: &Map<String, Value>,
    secrets: &[String],
    templates: &Templates,
) -> Result<Command> {
    let what = format!("action '{}'", action.action_ref);
    if let Some(ep) = &action.entry_point {
        let script = attune_core::runtime::pack_file(action, pack_dir, ep)?;
        let meta = std::fs::metadata(&script).map_err(|e| {
            Error::invalid(&what, format!("entry point '{}': {e}", script.display()))
        })?;
        let mut args = Vec::new();
        for (name, arg) in named_args(action, params) {
            // A secret param is never an argument (the process list is readable by every
            // user): it is on stdin only, as documented.
            if action.parameters.get(&name).is_some_and(|s| s.secret) {
                continue;
            }
            if holds_secret(&arg, secrets) {
                return Err(secret_argument(&what, &name));
            }
            args.push(OsString::from(arg));
        }
        for name in action.parameters.positional_names() {
            let spec = action.parameters.get(name);
            let value = params.get(name).unwrap_or(&Value::Null);
            let text = match value {
                Value::Null => String::new(),
                v => env_text(v),
            };
            if spec.is_some_and(|s| s.secret) || holds_secret(&text, secrets) {
                return Err(secret_argument(&what, name));
            }
            args.push(OsString::from(text));
        }
        return Ok(if meta.permissions().mode() & 0o111 != 0 {
            Command {
                program: script,
                args,
            }
        } else {
            let mut all = vec![script.into_os_string()];
            all.extend(args);
            Command {
                program: config.shell.clone(),
                args: all,
            }
        });
    }
    let cmd = match (params.get("cmd"), &action.code) {
        (Some(Value::String(c)), _) => c.clone(),
        (Some(other), _) => {
            return Err(Error::invalid(
                &what,
                format!("param 'cmd' must be a string, got {other}"),
            ));
        }
        (None, Some(code)) => code.clone(),
        (None, None) => {
            return Err(Error::invalid(
                &what,
                "a shell action needs an 'entry_point' script or a 'cmd' param",
            ));
        }
    };
    let cmd = if is_template(&cmd) {
        let visible: Map<String, Value> = params
            .iter()
            .filter(|(k, _)| !action.parameters.get(k).is_some_and(|s| s.secret))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rendered = templates
            .render_once(&format!("{what} cmd"), &cmd, &to_jinja(&visible))
            .map_err(|e| {
                Error::invalid(
                    &what,
                    format!("{e} (secret params are not available to cmd: read them from the JSON on stdin)"),
                )
            })?;
        env_text(&rendered)
    } else {
        cmd
    };
    if holds_secret(&cmd, secrets) {
        return Err(Error::invalid(
            &what,
            "cmd holds a secret value, which would be visible in the process list; \
             read secrets from the JSON on stdin",
        ));
    }
    if cmd.contains('\0') {
        return Err(Error::invalid(&what, "cmd contains a NUL byte"));
    }
    Ok(Command {
        program: config.shell.clone(),
        args: vec!["-c".into(), cmd.into()],
    })
}
