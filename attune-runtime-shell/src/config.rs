//! Settings of the shell runtime.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of a [`ShellRuntime`](crate::ShellRuntime).
#[derive(Clone, Debug)]
pub struct ShellConfig {
    /// Processes at once (default 4 × CPUs).
    pub slots: usize,
    /// Between SIGTERM and SIGKILL when a run is stopped (default 5 s).
    pub grace: Duration,
    /// Bytes of stdout and of stderr kept per run (default 10 MiB).
    pub max_output_bytes: usize,
    /// The shell for `cmd` and for scripts that are not executable (default `/bin/sh`).
    pub shell: PathBuf,
    /// `PATH` of the actions.
    pub path: String,
    /// `HOME` of the actions (default: the host's `HOME`, else `/`).
    pub home: String,
    /// `LANG` of the actions (default `C.UTF-8`).
    pub lang: String,
    /// Host environment variables passed through as they are (default none).
    pub env_allow: Vec<String>,
    /// Make this process the subreaper of its descendants so that killed grandchildren are
    /// reaped here, not left as zombies where PID 1 does not reap (default true; see
    /// `attune_process::reap_orphans`).
    pub reap_orphans: bool,
}

impl Default for ShellConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        ShellConfig {
            slots: 4 * cpus,
            grace: Duration::from_secs(5),
            max_output_bytes: 10 << 20,
            shell: PathBuf::from("/bin/sh"),
            path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            home: std::env::var("HOME").unwrap_or_else(|_| "/".into()),
            lang: "C.UTF-8".into(),
            env_allow: Vec::new(),
            reap_orphans: true,
        }
    }
}
