//! The runtime conformance checks (`attune_core::conformance::runtime`) on the shell runtime:
//! prompt cancel, secrets out of the command line and environment, streamed lines.

use async_trait::async_trait;
use attune_core::conformance::runtime::{RuntimeFixtures, request};
use attune_core::model::Action;
use attune_core::params::ParamSpec;
use attune_core::runtime::{RunRequest, Runtime};
use attune_runtime_shell::ShellRuntime;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Prints the bytes of its shell's command line and environment in hexadecimal.
const SHOW: &str = "read -r params\n\
    printf 'argv=%s\\n' \"$(od -An -v -tx1 /proc/$$/cmdline | tr -d ' \\n')\"\n\
    printf 'environ=%s\\n' \"$(od -An -v -tx1 /proc/$$/environ | tr -d ' \\n')\"\n";

/// The default shell runtime and a pack directory holding `show.sh`.
struct Fixtures {
    runtime: Arc<ShellRuntime>,
    pack: tempfile::TempDir,
}

async fn fixtures() -> Fixtures {
    let pack = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(pack.path().join("show.sh"), SHOW).expect("show.sh is written");
    Fixtures {
        runtime: Arc::new(ShellRuntime::default()),
        pack,
    }
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[async_trait]
impl RuntimeFixtures for Fixtures {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }

    async fn print_then_sleep(&self, lines: &[&str]) -> RunRequest {
        let quoted: Vec<String> = lines.iter().map(|l| format!("'{l}'")).collect();
        let cmd = format!("printf '%s\\n' {}; exec sleep 3600", quoted.join(" "));
        let action = Action::new("conformance.sleep", "shell").param("cmd", ParamSpec::string());
        request(action, params(json!({ "cmd": cmd })), None)
    }

    async fn show_process(&self, secret: &str) -> RunRequest {
        // A secret param, a positional one (an argument) and a plain one (ATTUNE_PARAM_NOTE).
        let mut action = Action::new("conformance.show", "shell")
            .param("token", ParamSpec::string().secret())
            .param("user", ParamSpec::string().position(0))
            .param("note", ParamSpec::string());
        action.entry_point = Some("show.sh".into());
        request(
            action,
            params(json!({ "token": secret, "user": "ada", "note": "visible" })),
            Some(self.pack.path().to_path_buf()),
        )
    }
}

attune_core::runtime_conformance_tests!(fixtures);

/// The secrets check reads the real environment: a runtime that hands the secret to the
/// shell runtime as a plain param (which goes to `ATTUNE_PARAM_NOTE`) fails it.
mod leaky {
    use super::*;
    use attune_core::Result;
    use attune_core::conformance::{self, runtime as checks};
    use attune_core::runtime::RunOutput;

    /// The shell runtime, told the secret is the `note` param's value and no secret at all.
    #[derive(Debug)]
    struct Leaky(ShellRuntime);

    #[async_trait]
    impl Runtime for Leaky {
        fn name(&self) -> &str {
            "shell"
        }

        async fn run(&self, mut req: RunRequest) -> Result<RunOutput> {
            let secret = req.secrets.first().cloned().unwrap_or_default();
            req.params.insert("note".into(), Value::String(secret));
            req.secrets = Arc::from(Vec::new());
            self.0.run(req).await
        }
    }

    struct LeakyFixtures(Fixtures);

    #[async_trait]
    impl RuntimeFixtures for LeakyFixtures {
        fn runtime(&self) -> Arc<dyn Runtime> {
            Arc::new(Leaky(ShellRuntime::default()))
        }

        async fn print_then_sleep(&self, lines: &[&str]) -> RunRequest {
            self.0.print_then_sleep(lines).await
        }

        async fn show_process(&self, secret: &str) -> RunRequest {
            self.0.show_process(secret).await
        }
    }

    #[test]
    #[should_panic(expected = "is in the action's environment")]
    fn the_secrets_check_fails_when_a_secret_reaches_the_environment() {
        conformance::run(async {
            let fixtures = LeakyFixtures(fixtures().await);
            checks::check_secrets_stay_out_of_argv_and_environment(&fixtures).await;
        });
    }
}
