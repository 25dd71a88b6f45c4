//! The `python` runtime.

use crate::config::PythonConfig;
use crate::interpreter::{self, Interpreter};
use crate::venv::Venvs;
use crate::wrapper;
use async_trait::async_trait;
use attune_core::model::Action;
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use attune_core::{Error, Result};
use attune_process::{Limits, ProcessSpec, Stopped, StreamLimits, tail};
use serde_json::{Map, Value, json};
use std::ffi::OsString;
use std::path::PathBuf;
use tokio::sync::OnceCell;

/// Runs Python actions (see the crate documentation). Add it to an engine with
/// `Engine::builder().runtime(Arc::new(PythonRuntime::default()))`.
#[derive(Debug)]
pub struct PythonRuntime {
    config: PythonConfig,
    interpreter: OnceCell<Interpreter>,
    runner: OnceCell<PathBuf>,
    venvs: Venvs,
}

impl Default for PythonRuntime {
    fn default() -> Self {
        Self::new(PythonConfig::default())
    }
}

impl PythonRuntime {
    /// A runtime with these settings.
    pub fn new(config: PythonConfig) -> Self {
        if let Err(e) = attune_process::reap_orphans() {
            tracing::warn!(error = %e, "cannot become the subreaper of child processes");
        }
        PythonRuntime {
            config,
            interpreter: OnceCell::new(),
            runner: OnceCell::new(),
            venvs: Venvs::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &PythonConfig {
        &self.config
    }

    /// How many virtualenv builds this runtime attempted (successful or not): one per pack
    /// and content of its `requirements.txt`, plus one per retry after a failure.
    pub fn venv_builds(&self) -> u64 {
        self.venvs.builds()
    }

    /// The interpreter, resolved on first use (a failure is not kept: the next run tries
    /// again, so installing Python fixes a running engine).
    pub async fn interpreter(&self) -> Result<&Interpreter> {
        self.interpreter
            .get_or_try_init(|| interpreter::resolve(&self.config))
            .await
    }

    async fn runner(&self) -> Result<&PathBuf> {
        let dir = self.config.env_dir.clone();
        self.runner
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || wrapper::install(&dir))
                    .await
                    .map_err(|e| Error::Action(format!("the wrapper install stopped: {e}")))?
            })
            .await
    }
}

/// The entry point's path in the pack.
fn entry_point(action: &Action, pack_dir: Option<&std::path::Path>) -> Result<PathBuf> {
    let what = format!("action '{}'", action.action_ref);
    let ep = action
        .entry_point
        .as_deref()
        .ok_or_else(|| Error::invalid(&what, "a Python action needs an 'entry_point' .py file"))?;
    let dir = pack_dir.ok_or_else(|| {
        Error::invalid(
            &what,
            format!("entry point '{ep}' needs the pack's directory (load the pack from disk)"),
        )
    })?;
    let path = dir.join(ep);
    if !path.is_file() {
        return Err(Error::invalid(
            &what,
            format!("entry point '{}' is not a file", path.display()),
        ));
    }
    Ok(path)
}

#[async_trait]
impl Runtime for PythonRuntime {
    fn name(&self) -> &str {
        "python"
    }

    fn validate_action(&self, action: &Action) -> Result<()> {
        match action.entry_point.as_deref() {
            Some(ep) if ep.ends_with(".py") => Ok(()),
            Some(ep) => Err(Error::invalid(
                format!("action '{}'", action.action_ref),
                format!("entry point '{ep}' is not a .py file"),
            )),
            None => Err(Error::invalid(
                format!("action '{}'", action.action_ref),
                "a Python action needs an 'entry_point' .py file defining run(**params)",
            )),
        }
    }

    fn max_concurrency(&self) -> Option<usize> {
        Some(self.config.slots)
    }

    async fn run(&self, req: RunRequest) -> Result<RunOutput> {
        let action = &req.action;
        let what = format!("action '{}'", action.action_ref);
        let entry = entry_point(action, req.pack_dir.as_deref())?;
        let python = self.interpreter().await?;
        let runner = self.runner().await?;
        let scratch = std::fs::create_dir_all(self.config.env_dir.join("runs"))
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix("run-")
                    .tempdir_in(self.config.env_dir.join("runs"))
            })
            .map_err(|e| Error::Action(format!("{what}: no scratch directory: {e}")))?;
        let result_file = scratch.path().join("result.json");
        let secrets: Map<String, Value> = action
            .parameters
            .secret_names()
            .filter_map(|n| req.params.get(n).map(|v| (n.to_string(), v.clone())))
            .collect();
        let request = json!({
            "entry": entry,
            "params": req.params,
            "secrets": secrets,
            "execution_id": req.execution_id.to_string(),
            "action": action.action_ref,
            "pack": action.pack(),
            "result_file": result_file,
        });
        let mut stdin = serde_json::to_vec(&request)
            .map_err(|e| Error::Action(format!("params are not JSON: {e}")))?;
        stdin.push(b'\n');
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), self.config.path.clone().into()),
            ("HOME".into(), self.config.home.clone().into()),
            ("LANG".into(), self.config.lang.clone().into()),
            (
                "ATTUNE_EXECUTION_ID".into(),
                req.execution_id.to_string().into(),
            ),
            ("ATTUNE_ACTION".into(), action.action_ref.clone().into()),
            ("ATTUNE_PACK".into(), action.pack().into()),
        ];
        if let Some(d) = &req.pack_dir {
            env.push(("ATTUNE_PACK_DIR".into(), d.clone().into_os_string()));
        }
        let venv = match &req.pack_dir {
            Some(dir) => {
                self.venvs
                    .python_for(&self.config, python, action.pack(), dir)
                    .await?
            }
            None => None,
        };
        // No PYTHON* variables, no bytecode written into the pack; without a virtualenv no
        // site either (a faster start: no site-packages scan). A virtualenv needs site to
        // find its packages.
        let (program, mut args): (PathBuf, Vec<OsString>) = match venv {
            Some(p) => (p, vec!["-E".into(), "-B".into()]),
            None => (
                python.path.clone(),
                vec!["-S".into(), "-E".into(), "-B".into()],
            ),
        };
        args.push(runner.into());
        let spec = ProcessSpec {
            program,
            args,
            env,
            cwd: req.pack_dir.clone().unwrap_or_else(std::env::temp_dir),
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
        let written = std::fs::read(&result_file).ok();
        let reported: Option<Value> = written.and_then(|b| serde_json::from_slice(&b).ok());
        let mut result = json!({
            "exit_code": rc,
            "stdout": outcome.stdout.text,
            "stderr": outcome.stderr.text,
            "stdout_truncated": outcome.stdout.truncated,
            "stderr_truncated": outcome.stderr.truncated,
        });
        let stderr_tail = tail(&outcome.stderr.text, 20, 2048);
        let (succeeded, error) = match (&outcome.stopped, reported) {
            (Some(Stopped::Timeout(t)), _) => (
                false,
                Some(format!(
                    "timed out after {:.3} s (SIGTERM to its process group, SIGKILL after {:?})",
                    t.as_secs_f64(),
                    self.config.grace
                )),
            ),
            (_, Some(r)) => match r.get("status").and_then(Value::as_str) {
                Some("succeeded") => {
                    result["result"] = r.get("result").cloned().unwrap_or(Value::Null);
                    (true, None)
                }
                Some("failed") => {
                    let v = r.get("result").cloned().unwrap_or(Value::Null);
                    let msg = format!("the action returned failure: {}", short(&v));
                    result["result"] = v;
                    (false, Some(msg))
                }
                _ => {
                    let e = r.get("error").cloned().unwrap_or(Value::Null);
                    let msg = format!(
                        "{}: {}",
                        e.get("type").and_then(Value::as_str).unwrap_or("Error"),
                        e.get("message").and_then(Value::as_str).unwrap_or_default()
                    );
                    result["error"] = e;
                    (false, Some(msg))
                }
            },
            (_, None) => {
                let why = match outcome.ended {
                    attune_process::Ended::Signaled(s) => format!("killed by signal {s}"),
                    attune_process::Ended::Exited(c) => format!("exit code {c}"),
                };
                let msg = format!("the Python interpreter ended without a result ({why})");
                (
                    false,
                    Some(if stderr_tail.is_empty() {
                        msg
                    } else {
                        format!("{msg}: {stderr_tail}")
                    }),
                )
            }
        };
        let mut out = if succeeded {
            RunOutput::success(result)
        } else {
            let mut o = RunOutput::failure(result);
            o.error = error;
            o.timed_out = matches!(outcome.stopped, Some(Stopped::Timeout(_)));
            o
        };
        out.stdout = outcome.stdout.text;
        out.stderr = outcome.stderr.text;
        Ok(out)
    }
}

/// A value for an error message: its JSON, cut at 200 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}
