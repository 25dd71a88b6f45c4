//! What to run and within which limits.

use crate::capture::StreamLimits;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// A child process to run: program, arguments, the whole environment, working directory and
/// what to write to its stdin.
#[derive(Clone, Default)]
pub struct ProcessSpec {
    /// The program (a path, or a name looked up in the given `PATH`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The complete environment: nothing of the parent's is inherited. (Without cgroups, the
    /// owner adds the run's marker [`RUN_TOKEN_ENV`](crate::RUN_TOKEN_ENV).)
    pub env: Vec<(OsString, OsString)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Written to stdin, which is then closed.
    pub stdin: Vec<u8>,
}

impl std::fmt::Debug for ProcessSpec {
    // The environment and stdin may hold sensitive values: only their sizes are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessSpec")
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("stdin_bytes", &self.stdin.len())
            .finish()
    }
}

/// Limits of one run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Stop the child after this long (status: timed out).
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL when stopping (default 5 s).
    pub grace: Duration,
    /// Output caps.
    pub streams: StreamLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: None,
            grace: Duration::from_secs(5),
            streams: StreamLimits::default(),
        }
    }
}

/// The `timeout` param of a run, when the action declares one and it is a positive number of
/// seconds (StackStorm's process runners stop the action at it).
pub fn timeout_param(
    action: &attune_core::model::Action,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Option<Duration> {
    action.parameters.get("timeout")?;
    let secs = params.get("timeout")?.as_f64()?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
}
