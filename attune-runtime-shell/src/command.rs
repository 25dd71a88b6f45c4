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
    let what = format!("action '{}'", action.action_ref);
    if let Some(ep) = &action.entry_point {
        let script = attune_core::runtime::pack_file(action, pack_dir, ep)?;
        let meta = std::fs::metadata(&script).map_err(|e| {
            Error::invalid(&what, format!("entry point '{}': {e}", script.display()))
        })?;
        let mut args = Vec::new();
        for name in action.parameters.positional_names() {
            let spec = action.parameters.get(name);
            let value = params.get(name).unwrap_or(&Value::Null);
            let text = match value {
                Value::Null => String::new(),
                v => env_text(v),
            };
            if spec.is_some_and(|s| s.secret) || holds_secret(&text, secrets) {
                return Err(Error::invalid(
                    &what,
                    format!(
                        "param '{name}' is secret and cannot be a command-line argument \
                         (read it from the JSON on stdin)"
                    ),
                ));
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
