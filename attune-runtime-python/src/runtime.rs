//! The `python` runtime.

use crate::config::{Mode, PythonConfig};
use crate::interpreter::{self, Interpreter};
use crate::outcome::{self, Ended};
use crate::pool::{Pool, WarmEnd, WarmRun};
use crate::venv::Venvs;
use crate::wrapper;
use async_trait::async_trait;
use attune_core::model::Action;
use attune_core::runtime::{RunOutput, RunRequest, Runtime};
use attune_core::{Error, Result};
use attune_process::{Limits, ProcessSpec, Stopped, StreamLimits};
use serde_json::{Map, Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Runs Python actions (see the crate documentation). Add it to an engine with
/// `Engine::builder().runtime(Arc::new(PythonRuntime::default()))`.
#[derive(Debug)]
pub struct PythonRuntime {
    config: PythonConfig,
    interpreter: OnceCell<Interpreter>,
    runner: OnceCell<PathBuf>,
    venvs: Venvs,
    pool: Pool,
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
            pool: Pool::default(),
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

    /// How many warm interpreters (persistent mode) this runtime started: one per worker,
    /// plus one per recycling (after `recycle_after` runs, a crash, a timeout or a cancel).
    pub fn workers_started(&self) -> u64 {
        self.pool.started()
    }

    /// The interpreter, resolved on first use (a failure is not kept: the next run tries
    /// again, so installing Python fixes a running engine).
    pub async fn interpreter(&self) -> Result<&Interpreter> {
        self.interpreter
            .get_or_try_init(|| interpreter::resolve(&self.config))
            .await
    }

    async fn runner(&self, python: &Path) -> Result<&PathBuf> {
        let dir = self.config.env_dir.clone();
        let python = python.to_path_buf();
        self.runner
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || wrapper::install(&dir, &python))
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
    let path = attune_core::runtime::pack_file(action, pack_dir, ep)?;
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
        let entry = entry_point(action, req.pack_dir.as_deref())?;
        check_runner_params(action, &req.params)?;
        let mode = mode_of(action, &req.params, self.config.mode)?;
        let (program, args) = self.command_line(&req).await?;
        let launch = Launch {
            program,
            args,
            env: self.base_env(),
            request: request_of(&req, &entry),
            timeout: attune_process::timeout_param(action, &req.params),
            streams: StreamLimits {
                max_bytes: self.config.max_output_bytes,
                ..StreamLimits::default()
            },
        };
        if mode == Mode::Persistent {
            self.run_warm(&req, launch).await
        } else {
            self.run_oneshot(&req, launch).await
        }
    }
}

/// What a run starts from, in either mode: the interpreter's command line, the environment
/// every run gets, the request the wrapper reads, and the run's limits.
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// A JSON object.
    request: Value,
    timeout: Option<Duration>,
    streams: StreamLimits,
}

impl PythonRuntime {
    /// The interpreter (the pack's virtualenv's when it has one) and its arguments up to
    /// the wrapper's. No PYTHON* variables, no bytecode written into the pack; without a
    /// virtualenv no site either (a faster start: no site-packages scan). A virtualenv
    /// needs site to find its packages.
    async fn command_line(&self, req: &RunRequest) -> Result<(PathBuf, Vec<OsString>)> {
        let (program, mut args) = self
            .interpreter_for(req.action.pack(), req.pack_dir.as_deref())
            .await?;
        args.extend(wrapper::args(self.wrapper_dir().await?));
        Ok((program, args))
    }

    /// The interpreter for code of `pack` (its virtualenv's when it has one) and its
    /// arguments before the wrapper's.
    pub(crate) async fn interpreter_for(
        &self,
        pack: &str,
        pack_dir: Option<&Path>,
    ) -> Result<(PathBuf, Vec<OsString>)> {
        let python = self.interpreter().await?;
        let venv = match pack_dir {
            Some(dir) => {
                self.venvs
                    .python_for(&self.config, python, pack, dir)
                    .await?
            }
            None => None,
        };
        Ok(match venv {
            Some(p) => (p, vec!["-E".into(), "-B".into()]),
            None => (
                python.path.clone(),
                vec!["-S".into(), "-E".into(), "-B".into()],
            ),
        })
    }

    /// The installed wrapper's directory.
    pub(crate) async fn wrapper_dir(&self) -> Result<&PathBuf> {
        let python = self.interpreter().await?;
        self.runner(&python.path).await
    }

    /// The environment of every run: `PATH`, `HOME` and `LANG` from the settings.
    pub(crate) fn base_env(&self) -> Vec<(OsString, OsString)> {
        vec![
            ("PATH".into(), self.config.path.clone().into()),
            ("HOME".into(), self.config.home.clone().into()),
            ("LANG".into(), self.config.lang.clone().into()),
        ]
    }

    /// The error of a run of `action` stopped by a cancel.
    fn canceled(&self, action: &Action) -> Error {
        Error::Canceled(format!(
            "action '{}' stopped (SIGTERM to its process group, SIGKILL after {:?})",
            action.action_ref, self.config.grace
        ))
    }

    /// Runs on a warm interpreter of the pool (persistent mode).
    async fn run_warm(&self, req: &RunRequest, launch: Launch) -> Result<RunOutput> {
        let Launch {
            program,
            mut args,
            env,
            request,
            timeout,
            streams,
        } = launch;
        args.push("--serve".into());
        let warm = WarmRun {
            pack: req.action.pack(),
            spec: ProcessSpec {
                program,
                args,
                env,
                cwd: std::env::temp_dir(),
                stdin: Vec::new(),
            },
            request,
            timeout,
            cancel: &req.cancel,
            log: &req.log,
            keys: req.keys.clone(),
            limits: streams,
            grace: self.config.grace,
            recycle_after: self.config.recycle_after.max(1),
            max_idle: self.config.slots,
        };
        match self.pool.run(warm).await? {
            WarmEnd::Done(ended) => Ok(outcome::output(ended, self.config.grace)),
            WarmEnd::Canceled => Err(self.canceled(&req.action)),
        }
    }

    /// Runs a fresh interpreter (oneshot mode): the request on its stdin, the report in a
    /// result file of a scratch directory removed afterwards.
    async fn run_oneshot(&self, req: &RunRequest, launch: Launch) -> Result<RunOutput> {
        let what = format!("action '{}'", req.action.action_ref);
        let scratch = self.scratch_dir(&what)?;
        let result_file = scratch.path().join("result.json");
        let Launch {
            program,
            args,
            mut env,
            mut request,
            timeout,
            streams,
        } = launch;
        request["result_file"] = json!(result_file);
        // The action's key-value requests come on a socket of the scratch directory (private
        // to this user), from a connection that first sends the token given on stdin.
        // A socket path has at most ~107 bytes: under a long `env_dir`, in a private
        // directory of the system's temporary one instead.
        let mut socket = scratch.path().join("keys.sock");
        let _short_dir = if socket.as_os_str().len() > 100 {
            let d = tempfile::Builder::new()
                .prefix("attune-keys-")
                .tempdir()
                .map_err(|e| Error::Action(format!("{what}: no key-value socket: {e}")))?;
            socket = d.path().join("keys.sock");
            Some(d)
        } else {
            None
        };
        let listener = crate::keys::bind(&socket)
            .map_err(|e| Error::Action(format!("{what}: no key-value socket: {e}")))?;
        let token = crate::protocol::token();
        request["keys"] = json!({ "socket": socket, "token": token });
        let serving = crate::keys::serve(listener, req.keys.clone(), token);
        let mut stdin = serde_json::to_vec(&request)
            .map_err(|e| Error::Action(format!("params are not JSON: {e}")))?;
        stdin.push(b'\n');
        env.extend(run_env(req));
        let spec = ProcessSpec {
            program,
            args,
            env,
            cwd: req.pack_dir.clone().unwrap_or_else(std::env::temp_dir),
            stdin,
        };
        let limits = Limits {
            timeout,
            grace: self.config.grace,
            streams,
        };
        let run = tokio::select! {
            run = attune_process::run(spec, &limits, &req.cancel, &req.log) => run,
            () = serving => unreachable!("the key-value server runs until dropped"),
        }
        .map_err(|e| Error::Action(format!("{what}: {e}")))?;
        if run.stopped == Some(Stopped::Canceled) {
            return Err(self.canceled(&req.action));
        }
        Ok(outcome::output(
            ended_of(run, &result_file),
            self.config.grace,
        ))
    }

    /// A new scratch directory under `<env_dir>/runs` (removed when dropped).
    fn scratch_dir(&self, what: &str) -> Result<tempfile::TempDir> {
        let runs = self.config.env_dir.join("runs");
        std::fs::create_dir_all(&runs)
            .and_then(|()| tempfile::Builder::new().prefix("run-").tempdir_in(&runs))
            .map_err(|e| Error::Action(format!("{what}: no scratch directory: {e}")))
    }
}

/// What the wrapper reads: the entry point, the params (runner params the action declares
/// left out: they are the runtime's; for a StackStorm `python-script` action, every other
/// declared param, null when not given), the secret params apart, and who runs.
fn request_of(req: &RunRequest, entry: &Path) -> Value {
    let action = &req.action;
    let stackstorm = action.runner_type.as_deref() == Some("python-script");
    // The runner's own parameters are the runtime's, not run()'s.
    let runner_param = |k: &str| {
        (RUNNER_PARAMS.contains(&k) && action.parameters.get(k).is_some())
            || (stackstorm && ST2_RUNNER_PARAMS.contains(&k))
    };
    let mut params: Map<String, Value> = req
        .params
        .iter()
        .filter(|(k, _)| !runner_param(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if stackstorm {
        // As StackStorm's Python runner: every parameter the action declares reaches
        // run(), null when it has no value (its actions often take them all positionally).
        for (name, _) in action.parameters.iter() {
            if !runner_param(name) && !params.contains_key(name) {
                params.insert(name.clone(), Value::Null);
            }
        }
    }
    let secrets: Map<String, Value> = action
        .parameters
        .secret_names()
        .filter_map(|n| req.params.get(n).map(|v| (n.to_string(), v.clone())))
        .collect();
    json!({
        "entry": entry,
        "params": params,
        "env": req.params.get("env").filter(|_| stackstorm),
        "log_level": log_level(&req.params, stackstorm),
        "secrets": secrets,
        "execution_id": req.execution_id.to_string(),
        "action": action.action_ref,
        "pack": action.pack(),
        "pack_dir": req.pack_dir,
        "config": req.config.as_deref().unwrap_or(&Value::Null),
    })
}

/// The environment a oneshot run adds: which execution, action and pack it is.
fn run_env(req: &RunRequest) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        (
            "ATTUNE_EXECUTION_ID".into(),
            req.execution_id.to_string().into(),
        ),
        ("ATTUNE_ACTION".into(), req.action.action_ref.clone().into()),
        ("ATTUNE_PACK".into(), req.action.pack().into()),
    ];
    if let Some(d) = &req.pack_dir {
        env.push(("ATTUNE_PACK_DIR".into(), d.clone().into_os_string()));
    }
    env
}

/// How a oneshot run ended: the report the wrapper wrote to `result_file`, if it did.
fn ended_of(run: attune_process::Outcome, result_file: &Path) -> Ended {
    let reported = std::fs::read(result_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ended {
        reported,
        timed_out: outcome::timeout_of(run.stopped),
        exit_code: run.ended.return_code(),
        why_no_report: match run.ended {
            attune_process::Ended::Signaled(s) => format!("killed by signal {s}"),
            attune_process::Ended::Exited(c) => format!("exit code {c}"),
        },
        stdout: run.stdout,
        stderr: run.stderr,
    }
}

/// Params that configure the runtime, not the action: not passed to `run()` when the action
/// declares them (as StackStorm's runner parameters).
const RUNNER_PARAMS: [&str; 2] = ["timeout", "python_mode"];

/// StackStorm's `python-script` runner parameters (declared on such actions, see
/// `attune_core::pack::stackstorm_runner_parameters`), and Attune's `python_mode`.
const ST2_RUNNER_PARAMS: [&str; 6] = [
    "env",
    "log_level",
    "debug",
    "content_version",
    "timeout",
    "python_mode",
];

/// The level of the action's loggers: DEBUG with `debug`, else `log_level` (StackStorm's
/// runner parameters), DEBUG for actions that are not StackStorm's.
fn log_level(params: &Map<String, Value>, stackstorm: bool) -> &str {
    if !stackstorm || params.get("debug") == Some(&Value::Bool(true)) {
        return "DEBUG";
    }
    params
        .get("log_level")
        .and_then(Value::as_str)
        .unwrap_or("DEBUG")
}

/// What the runtime refuses of StackStorm's runner parameters: `content_version` (the pack
/// runs as it is on disk), and `env` values that are not strings.
fn check_runner_params(action: &Action, params: &Map<String, Value>) -> Result<()> {
    if action.runner_type.as_deref() != Some("python-script") {
        return Ok(());
    }
    if params.get("content_version").is_some_and(|v| !v.is_null()) {
        return Err(Error::Action(
            "runner parameter 'content_version' is not supported: Attune runs the pack as it \
             is on disk"
                .into(),
        ));
    }
    if let Some(Value::Object(env)) = params.get("env")
        && let Some((k, v)) = env.iter().find(|(_, v)| !v.is_string())
    {
        return Err(Error::Action(format!(
            "runner parameter 'env': the value of '{k}' must be a string, got {v}"
        )));
    }
    Ok(())
}

/// The mode of a run: the action's `python_mode` param when it declares one, else the
/// runtime's default.
fn mode_of(action: &Action, params: &Map<String, Value>, default: Mode) -> Result<Mode> {
    if action.parameters.get("python_mode").is_none() {
        return Ok(default);
    }
    match params.get("python_mode") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) if s == "oneshot" => Ok(Mode::Oneshot),
        Some(Value::String(s)) if s == "persistent" => Ok(Mode::Persistent),
        Some(other) => Err(Error::invalid(
            format!("action '{}'", action.action_ref),
            format!("python_mode must be 'oneshot' or 'persistent', got {other}"),
        )),
    }
}
