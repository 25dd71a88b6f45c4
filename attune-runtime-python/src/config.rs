//! Settings of the Python runtime.

use std::path::PathBuf;
use std::time::Duration;

/// How Python actions run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// One interpreter per execution (the default): nothing is shared between executions.
    #[default]
    Oneshot,
    /// Warm interpreters, one execution at a time each, each serving one pack (with its
    /// interpreter or virtualenv) only: modules stay imported between the executions of that
    /// pack; the action's own module is executed afresh for each one (unless it sets
    /// `ATTUNE_SHARE = True`), and its changes to the environment, `sys.path` and the
    /// working directory are undone after it. Output is streamed and capped as in
    /// [`Mode::Oneshot`].
    Persistent,
}

/// Settings of a [`PythonRuntime`](crate::PythonRuntime).
#[derive(Clone, Debug)]
pub struct PythonConfig {
    /// The interpreter to use: a path, or a name looked up in `path` (default `python3`).
    /// It is resolved once to the real interpreter (`sys.executable`), so that a pyenv shim
    /// is not run at every start.
    pub python: PathBuf,
    /// Where the runtime keeps its files: the wrapper, per-run scratch directories, and
    /// (later) the packs' virtualenvs (default `<tmp>/attune-python`).
    pub env_dir: PathBuf,
    /// Interpreters at once (default 4 × CPUs). In persistent mode also the most warm
    /// workers kept idle, over all packs: beyond, the least recently used idle one is
    /// stopped.
    pub slots: usize,
    /// Between SIGTERM and SIGKILL when a run is stopped (default 5 s).
    pub grace: Duration,
    /// Bytes of stdout and of stderr kept per run (default 10 MiB).
    pub max_output_bytes: usize,
    /// `PATH` of the actions (and where `python` is looked up).
    pub path: String,
    /// `HOME` of the actions (default: the host's `HOME`, else `/`).
    pub home: String,
    /// `LANG` of the actions (default `C.UTF-8`).
    pub lang: String,
    /// The mode of actions that do not choose one with a `python_mode` param (default
    /// [`Mode::Oneshot`]).
    pub mode: Mode,
    /// A warm interpreter is replaced after this many executions (default 500).
    pub recycle_after: u32,
    /// Extra arguments of `pip install` when a pack's virtualenv is built (default none;
    /// e.g. `--no-index --find-links DIR` for an offline mirror).
    pub pip_args: Vec<String>,
}

impl Default for PythonConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        PythonConfig {
            python: PathBuf::from("python3"),
            env_dir: std::env::temp_dir().join("attune-python"),
            slots: 4 * cpus,
            grace: Duration::from_secs(5),
            max_output_bytes: 10 << 20,
            path: std::env::var("PATH").unwrap_or_else(|_| {
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
            }),
            home: std::env::var("HOME").unwrap_or_else(|_| "/".into()),
            lang: "C.UTF-8".into(),
            pip_args: Vec::new(),
            mode: Mode::Oneshot,
            recycle_after: 500,
        }
    }
}
