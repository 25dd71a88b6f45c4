//! The `shell` runtime.

use crate::builder::ShellRuntimeBuilder;
use crate::command::command;
use crate::config::ShellConfig;
use crate::env::{self, EnvInput};
use crate::output;
use async_trait::async_trait;
use attune_core::model::Action;
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use attune_core::template::Templates;
use attune_core::{Error, Result};
use attune_process::{Limits, ProcessSpec, Stopped, StreamLimits, tail};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Runs shell actions as child processes (see the crate documentation). Add it to an engine
/// with `Engine::builder().runtime(Arc::new(ShellRuntime::default()))`; the engine then also
/// has `core.local`.
#[derive(Debug)]
pub struct ShellRuntime {
    config: ShellConfig,
    templates: Templates,
}

impl Default for ShellRuntime {
    fn default() -> Self {
        Self::with_config(ShellConfig::default())
    }
}

impl ShellRuntime {
    /// A builder for a runtime with settings other than the defaults.
    pub fn builder() -> ShellRuntimeBuilder {
        ShellRuntimeBuilder::default()
    }

    pub(crate) fn with_config(config: ShellConfig) -> Self {
        if config.reap_orphans
            && let Err(e) = attune_process::reap_orphans()
        {
            tracing::warn!(error = %e, "cannot become the subreaper of child processes");
        }
        ShellRuntime {
            config,
            templates: Templates::new(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &ShellConfig {
        &self.config
    }
}

#[async_trait]
impl Runtime for ShellRuntime {
    fn name(&self) -> &str {
        "shell"
    }

    fn validate_action(&self, action: &Action) -> Result<()> {
        if action.entry_point.is_some()
            || action.code.is_some()
            || action.parameters.get("cmd").is_some()
        {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("action '{}'", action.action_ref),
                "a shell action needs an 'entry_point' script, a 'cmd' parameter or inline 'code'",
            ))
        }
    }

    fn max_concurrency(&self) -> Option<usize> {
        Some(self.config.slots)
    }

    async fn run(&self, req: RunRequest) -> Result<RunOutput> {
        let action = &req.action;
        let what = format!("action '{}'", action.action_ref);
        let cmd = command(
            &self.config,
            action,
            req.pack_dir.as_deref(),
            &req.params,
            &req.secrets,
            &self.templates,
        )?;
        // Working directory: the `cwd` param, else the pack's directory, else the system's
        // temporary directory (as StackStorm's local runners use /tmp).
        let cwd = match (req.params.get("cwd"), &req.pack_dir) {
            (Some(Value::String(d)), _) => {
                let d = PathBuf::from(d);
                if !d.is_dir() {
                    return Err(Error::invalid(
                        &what,
                        format!("cwd '{}' is not a directory", d.display()),
                    ));
                }
                d
            }
            (_, Some(dir)) => dir.clone(),
            _ => std::env::temp_dir(),
        };
        let secret_names: Vec<&str> = action.parameters.secret_names().collect();
        let environment = env::build(
            &self.config,
            &EnvInput {
                execution_id: req.execution_id.to_string(),
                action: &action.action_ref,
                pack: action.pack(),
                pack_dir: req.pack_dir.as_deref(),
                params: &req.params,
                secret_names: &secret_names,
                secrets: &req.secrets,
            },
        );
        let mut stdin = serde_json::to_vec(&req.params)
            .map_err(|e| Error::Action(format!("params are not JSON: {e}")))?;
        stdin.push(b'\n');
        let spec = ProcessSpec {
            program: cmd.program,
            args: cmd.args,
            env: environment,
            cwd,
            stdin,
        };
        let limits = Limits {
            timeout: attune_process::timeout_param(action, &req.params),
            grace: self.config.grace,
            streams: StreamLimits {
                max_bytes: self.config.max_output_bytes,
                ..StreamLimits::default()
            },
        };
        let outcome = attune_process::run(spec, &limits, &req.cancel, &req.log)
            .await
            .map_err(|e| Error::Action(format!("{what}: {e}")))?;
        if outcome.stopped == Some(Stopped::Canceled) {
            return Err(Error::Canceled(format!(
                "{what} stopped (SIGTERM to its process group, SIGKILL after {:?})",
                self.config.grace
            )));
        }
        let rc = outcome.ended.return_code();
        let succeeded = rc == 0 && outcome.stopped.is_none();
        let mut result = json!({
            "return_code": rc,
            "stdout": outcome.stdout.text,
            "stderr": outcome.stderr.text,
            "result": output::parse(action.output_format.as_deref(), &outcome.stdout.text),
            "stdout_truncated": outcome.stdout.truncated,
            "stderr_truncated": outcome.stderr.truncated,
        });
        if stackstorm_runner(action) {
            // As StackStorm's local runners: `succeeded`/`failed`, and stdout and stderr
            // without their last line end (what `result().stdout` is compared with).
            for stream in ["stdout", "stderr"] {
                if let Some(Value::String(text)) = result.get_mut(stream) {
                    strip_line_end(text);
                }
            }
            result["succeeded"] = Value::Bool(succeeded);
            result["failed"] = Value::Bool(!succeeded);
        }
        let mut out = if succeeded {
            RunOutput::success(result)
        } else {
            let why = match (outcome.stopped, outcome.ended) {
                (Some(Stopped::Timeout(t)), _) => format!(
                    "timed out after {:.3} s (SIGTERM to its process group, SIGKILL after {:?})",
                    t.as_secs_f64(),
                    self.config.grace
                ),
                (_, attune_process::Ended::Signaled(s)) => format!("killed by signal {s}"),
                (_, attune_process::Ended::Exited(c)) => format!("exit code {c}"),
            };
            let stderr_tail = tail(&outcome.stderr.text, 20, 2048);
            let error = if stderr_tail.is_empty() {
                why
            } else {
                format!("{why}: {stderr_tail}")
            };
            let mut o = RunOutput::failure(result).with_error(error);
            o.timed_out = matches!(outcome.stopped, Some(Stopped::Timeout(_)));
            o
        };
        out.stdout = outcome.stdout.text;
        out.stderr = outcome.stderr.text;
        Ok(out)
    }
}

/// Whether `action` was declared with one of StackStorm's local shell runners.
fn stackstorm_runner(action: &Action) -> bool {
    matches!(
        action.runner_type.as_deref(),
        Some("local-shell-cmd" | "local-shell-script")
    )
}

/// Drops one `\n` at the end of `text`, then one `\r` (StackStorm's local runners keep the
/// rest of a command's output as it is).
fn strip_line_end(text: &mut String) {
    for end in ['\n', '\r'] {
        if text.ends_with(end) {
            text.pop();
        }
    }
}
