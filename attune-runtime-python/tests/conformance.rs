//! The runtime conformance checks (`attune_core::conformance::runtime`) on the Python
//! runtime, in one-shot and in persistent mode: prompt cancel, secrets out of the command
//! line and environment, streamed lines.

use async_trait::async_trait;
use attune_core::conformance::runtime::{RuntimeFixtures, request};
use attune_core::model::Action;
use attune_core::params::ParamSpec;
use attune_core::runtime::{RunRequest, Runtime};
use attune_runtime_python::{Mode, PythonConfig, PythonRuntime};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Prints each line (flushed), then sleeps for an hour.
const SLEEP: &str = "import time\n\n\
def run(lines):\n    for line in lines:\n        print(line, flush=True)\n    time.sleep(3600)\n";

/// Prints its process's command line and environment in hexadecimal: as the kernel shows
/// them, and the environment as Python holds it now (what its children would get).
const SHOW: &str = "import os\n\n\
def run(token, note):\n    \
    for key, path in (('argv', '/proc/self/cmdline'), ('environ', '/proc/self/environ')):\n        \
        with open(path, 'rb') as f:\n            print(key + '=' + f.read().hex())\n    \
    live = b''.join(k + b'=' + v + b'\\0' for k, v in os.environb.items())\n    \
    print('environ=' + live.hex())\n";

/// A Python runtime in `mode` (its files in a temporary directory) and a pack directory
/// holding the two actions.
struct Fixtures {
    runtime: Arc<PythonRuntime>,
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn new(mode: Mode) -> Fixtures {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pack = dir.path().join("pack");
        std::fs::create_dir_all(&pack).expect("the pack directory is made");
        std::fs::write(pack.join("sleep.py"), SLEEP).expect("sleep.py is written");
        std::fs::write(pack.join("show.py"), SHOW).expect("show.py is written");
        let config = PythonConfig {
            env_dir: dir.path().join("env"),
            mode,
            ..PythonConfig::default()
        };
        Fixtures {
            runtime: Arc::new(PythonRuntime::new(config)),
            dir,
        }
    }

    fn action(&self, name: &str) -> Action {
        let mut action = Action::new(format!("conformance.{name}"), "python");
        action.entry_point = Some(format!("{name}.py"));
        action
    }

    fn request(&self, action: Action, params: Value) -> RunRequest {
        let params = match params {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        request(action, params, Some(self.dir.path().join("pack")))
    }
}

#[async_trait]
impl RuntimeFixtures for Fixtures {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }

    async fn print_then_sleep(&self, lines: &[&str]) -> RunRequest {
        let action = self.action("sleep").param("lines", ParamSpec::array());
        self.request(action, json!({ "lines": lines }))
    }

    async fn show_process(&self, secret: &str) -> RunRequest {
        let action = self
            .action("show")
            .param("token", ParamSpec::string().secret())
            .param("note", ParamSpec::string());
        self.request(action, json!({ "token": secret, "note": "visible" }))
    }
}

mod oneshot {
    use super::*;

    async fn fixtures() -> Fixtures {
        Fixtures::new(Mode::Oneshot)
    }

    attune_core::runtime_conformance_tests!(fixtures);
}

mod persistent {
    use super::*;

    async fn fixtures() -> Fixtures {
        Fixtures::new(Mode::Persistent)
    }

    attune_core::runtime_conformance_tests!(fixtures);
}
