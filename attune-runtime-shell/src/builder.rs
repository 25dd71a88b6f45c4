//! Building a [`ShellRuntime`] with settings.

use crate::config::ShellConfig;
use crate::runtime::ShellRuntime;
use attune_core::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

/// Builds a [`ShellRuntime`]; [`ShellRuntimeBuilder::build`] checks the settings.
#[derive(Clone, Debug, Default)]
pub struct ShellRuntimeBuilder {
    config: ShellConfig,
}

impl ShellRuntimeBuilder {
    /// Processes at once (executions beyond wait in `scheduled`).
    pub fn slots(mut self, n: usize) -> Self {
        self.config.slots = n;
        self
    }

    /// Between SIGTERM and SIGKILL when a run is stopped.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Bytes of stdout and of stderr kept per run.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.config.max_output_bytes = bytes;
        self
    }

    /// The shell for `cmd` and for scripts that are not executable.
    pub fn shell(mut self, shell: impl Into<PathBuf>) -> Self {
        self.config.shell = shell.into();
        self
    }

    /// `PATH` of the actions.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.config.path = path.into();
        self
    }

    /// Passes the host variable `name` through to every action.
    pub fn allow_env(mut self, name: impl Into<String>) -> Self {
        self.config.env_allow.push(name.into());
        self
    }

    /// Whether to become the subreaper of child processes (default true).
    pub fn reap_orphans(mut self, yes: bool) -> Self {
        self.config.reap_orphans = yes;
        self
    }

    /// The runtime; `Error::Invalid` for zero slots, a zero output cap or a shell that
    /// does not exist.
    pub fn build(self) -> Result<ShellRuntime> {
        let c = &self.config;
        let what = "shell runtime settings";
        if c.slots == 0 {
            return Err(Error::invalid(what, "slots must be at least 1"));
        }
        if c.max_output_bytes == 0 {
            return Err(Error::invalid(what, "max_output_bytes must be at least 1"));
        }
        if !c.shell.is_file() {
            return Err(Error::invalid(
                what,
                format!("the shell '{}' does not exist", c.shell.display()),
            ));
        }
        Ok(ShellRuntime::with_config(self.config))
    }
}
