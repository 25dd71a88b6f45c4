//! The [`Runtime`] trait — what runs one execution — and the runtimes of core:
//! [`NativeRuntime`] (async Rust closures), [`RhaiRuntime`] (sandboxed Rhai scripts),
//! [`NoopRuntime`] (`core.noop`, runner `noop`), [`AnnouncementRuntime`] (runner
//! `announcement`) and, with the `http` feature, `HttpRuntime` (`core.http_request`, runner
//! `http-request`). Every engine has them all.

mod announcement;
#[cfg(feature = "http")]
mod http;
mod inquirer;
mod key_requests;
mod keys;
mod log;
mod native;
mod noop;
mod rhai_runtime;

pub use announcement::{Announcement, AnnouncementRuntime};
#[cfg(feature = "http")]
pub use http::{HttpRuntime, http_request_action};
pub use inquirer::InquirerRuntime;
pub(crate) use inquirer::{Asked, default_schema};
pub use key_requests::{MAX_KEY_REQUEST_BYTES, answer_key_request};
pub(crate) use keys::KeyWatch;
pub use keys::{KeyAccess, KeyAccessScope, MAX_KEY_NAME_BYTES, StoreKeyAccess};
pub use log::{LogLine, LogSink, LogStream};
pub use native::{ActionContext, NativeHandler, NativeRuntime, typed};
pub use noop::NoopRuntime;
pub use rhai_runtime::RhaiRuntime;
/// The token a native action watches for cancel and timeout ([`ActionContext::cancel`],
/// [`RunRequest::cancel`]): tokio-util's, re-exported so that a host needs no dependency of
/// its own on it.
pub use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::model::{Action, ExecutionId};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// Runs one execution of an action.
///
/// Held as `Arc<dyn Runtime>` and registered with the engine under [`Runtime::name`]; an
/// action's `runner` picks it. The contract:
///
/// * `run` receives the validated params **with secret values** (the store only ever sees
///   them redacted) and must not write them to logs, arguments or the environment.
/// * `run` returns when the action ends. `Ok(output)` with `succeeded = false` is a failed
///   run that produced a result (a non-zero exit code); `Err(e)` is a failed run whose error
///   message is `e`.
/// * When `request.cancel` fires (cancel or timeout, decided by the engine) the runtime stops
///   the action promptly, releases what it holds (processes, threads) and returns; the engine
///   waits a grace period and then drops the future.
/// * Output lines go to `request.log` as they are produced.
/// * Runtimes never touch the store.
#[async_trait]
pub trait Runtime: Send + Sync + Debug {
    /// The name actions use in `runner` (`native`, `rhai`, `shell`, ...).
    fn name(&self) -> &str;

    /// Checks an action at registration (a script compiles, a handler exists). Default: Ok.
    fn validate_action(&self, _action: &Action) -> Result<()> {
        Ok(())
    }

    /// How many executions of this runtime may run at once in one engine (child processes,
    /// say). Executions beyond it stay `scheduled` and start in order as runs end. Default:
    /// no limit of its own (the engine's worker slots still apply).
    fn max_concurrency(&self) -> Option<usize> {
        None
    }

    /// Whether a run holds one of the engine's worker slots while it runs. Default: yes. A
    /// runtime that only coordinates other executions (workflows, which wait for their
    /// tasks) says no, so that waiting workflows can never take every slot from their tasks.
    fn uses_worker_slot(&self) -> bool {
        true
    }

    /// Whether the engine may poll a run once in the task that starts it, before the run
    /// gets a task of its own (only if it did not end on that poll). For runtimes whose
    /// runs usually end at once (host functions, no-ops), it saves a task per run. The
    /// run's code up to its first `.await` then runs in the engine's own task, so a runtime
    /// that says yes never blocks there (no process started, no blocking I/O before the
    /// first `.await`), and its futures wake the waker of their latest poll (that first poll
    /// has a waker that does nothing). Default: no.
    fn starts_inline(&self) -> bool {
        false
    }

    /// Whether its runs offer the key-value store to their actions
    /// ([`RunRequest::keys`]). Default: yes. A runtime that says no gets `keys: None`, and
    /// the engine saves making the handle for each run.
    fn uses_keys(&self) -> bool {
        true
    }

    /// Runs one execution. The action's outcome is `Ok` (a failed action is a
    /// [`RunOutput`] that did not succeed); `Err` is for a run that could not happen or was
    /// stopped: when `request.cancel` fires, stop the action promptly (a process: SIGTERM,
    /// then SIGKILL after a grace period) and return [`Error::Canceled`](crate::Error);
    /// when the runtime applies `request.timeout` itself, return
    /// [`Error::Timeout`](crate::Error). Secret values travel only in `request.params` and
    /// `request.secrets`: never put them in a child's argv or environment. Output lines go
    /// to `request.log` as they are produced. The checks of
    /// `conformance::runtime` (feature `conformance`) hold a runtime to this.
    async fn run(&self, request: RunRequest) -> Result<RunOutput>;
}

/// Everything a runtime gets for one execution.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The action definition.
    pub action: Arc<Action>,
    /// Validated params, secrets included.
    pub params: Map<String, Value>,
    /// The timeout the engine applies (informational; the engine enforces it).
    pub timeout: Option<Duration>,
    /// Fires on cancel or timeout.
    pub cancel: CancellationToken,
    /// Where output lines go (secret values are masked in them).
    pub log: LogSink,
    /// The directory of the action's pack when it was loaded from disk (entry points and the
    /// working directory of process runtimes are relative to it).
    pub pack_dir: Option<std::path::PathBuf>,
    /// The secret values of this execution (secret params, secret config of the packs
    /// involved): what the engine masks in the outcome; runtimes may use it to keep them out
    /// of places the engine does not see.
    pub secrets: Arc<[String]>,
    /// The effective config of the action's pack (`pack.config` in templates), with secret
    /// values (they are in [`RunRequest::secrets`] too, and masked in the outcome); `None`
    /// when the action has no registered pack. Runtimes hand it to the action the way they
    /// hand it params: never in argv or the environment.
    pub config: Option<Arc<Value>>,
    /// The key-value store as this run may use it (its pack's and user's keys, the system
    /// ones), for runtimes that offer it to their actions; `None` when the host offers none
    /// or the runtime does not use it ([`Runtime::uses_keys`]).
    pub keys: Option<Arc<dyn KeyAccess>>,
    /// The user the execution runs on behalf of
    /// ([`Execution::user`](crate::model::Execution::user)), if any.
    pub user: Option<crate::model::Name>,
}

/// The path of `entry_point`, a file of `action`'s pack, inside the pack's directory
/// `pack_dir`; an error naming the action when the pack was not loaded from disk (no
/// directory). Whether the file exists is the caller's to check.
pub fn pack_file(
    action: &Action,
    pack_dir: Option<&std::path::Path>,
    entry_point: &str,
) -> Result<std::path::PathBuf> {
    let dir = pack_dir.ok_or_else(|| {
        crate::Error::invalid(
            format!("action '{}'", action.action_ref),
            format!(
                "entry point '{entry_point}' needs the pack's directory (load the pack from disk)"
            ),
        )
    })?;
    Ok(dir.join(entry_point))
}

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// Whether the action succeeded.
    pub succeeded: bool,
    /// The result value.
    pub result: Value,
    /// Captured stdout (bounded by the runtime).
    pub stdout: String,
    /// Captured stderr (bounded by the runtime).
    pub stderr: String,
    /// For a failed run: the error message recorded on the execution (e.g. the exit code
    /// and the tail of stderr).
    pub error: Option<String>,
    /// The runtime stopped the action at its own deadline (a `timeout` param): the execution
    /// ends `timeout`, with this output's result and error.
    pub timed_out: bool,
    /// The run waits for an answer (an inquiry): the execution goes `pending` with this
    /// output's result, and ends when it is answered or expires.
    pub pending: bool,
}

impl RunOutput {
    /// A successful run with `result` and no captured output.
    pub fn success(result: Value) -> Self {
        RunOutput {
            succeeded: true,
            result,
            stdout: String::new(),
            stderr: String::new(),
            error: None,
            timed_out: false,
            pending: false,
        }
    }

    /// A run that waits for an answer with `result` (see [`RunOutput::pending`]).
    pub fn pending(result: Value) -> Self {
        RunOutput {
            pending: true,
            ..Self::success(result)
        }
    }

    /// A failed run with `result`.
    pub fn failure(result: Value) -> Self {
        RunOutput {
            succeeded: false,
            ..Self::success(result)
        }
    }

    /// Sets the error message of a failed run.
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_file_is_inside_the_pack_directory_and_needs_one() {
        let action = Action::new("p.act", "shell");
        let dir = std::path::Path::new("/packs/p");
        assert_eq!(
            pack_file(&action, Some(dir), "actions/run.sh").unwrap(),
            dir.join("actions/run.sh")
        );
        let err = pack_file(&action, None, "actions/run.sh")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.act") && err.contains("actions/run.sh") && err.contains("from disk"),
            "{err}"
        );
    }
}
