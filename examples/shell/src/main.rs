//! Shell actions in an embedded engine: `core.local`, an action with a secret param (on
//! stdin only, masked in its output), output lines streamed as they are printed, and a
//! timeout that stops the whole process group.
//!
//! Run it with `cargo run -p attune-example-shell`.

use attune_core::model::Action;
use attune_core::params::ParamSpec;
use attune_core::{Engine, Result};
use attune_runtime_shell::ShellRuntime;
use serde_json::json;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<()> {
    let shell = ShellRuntime::builder().slots(4).build()?;
    let engine = Engine::builder().runtime(Arc::new(shell)).build().await?;

    // Every engine with a shell runtime has core.local.
    let e = engine
        .run(
            "core.local",
            json!({"cmd": "uname -s; echo \"I am $ATTUNE_ACTION\""}),
        )
        .await?;
    println!("core.local: {:?}, stdout {:?}", e.status, e.stdout);

    // A shell action of our own: `token` is secret, so it is only in the JSON on stdin, and
    // masked wherever the action prints it.
    engine
        .register_action(
            Action::new("demo.login", "shell")
                .param(
                    "cmd",
                    ParamSpec::string()
                        .default("read -r params; echo \"logging in as $ATTUNE_PARAM_USER with $params\"")
                        .immutable(),
                )
                .param("user", ParamSpec::string().required())
                .param("token", ParamSpec::string().secret().required()),
        )
        .await?;
    let mut logs = engine.subscribe_logs();
    let e = engine
        .run(
            "demo.login",
            json!({"user": "ada", "token": "s3cr3t-t0ken"}),
        )
        .await?;
    while let Ok(line) = logs.try_recv() {
        println!("  streamed {:?}: {}", line.stream, line.line);
    }
    println!(
        "demo.login: {:?}, params {}, stdout {:?}",
        e.status, e.params, e.stdout
    );

    // A timeout (the `timeout` param of core.local) stops the process group.
    let e = engine
        .run(
            "core.local",
            json!({"cmd": "echo working; sleep 30", "timeout": 0.5}),
        )
        .await?;
    println!("slow: {:?}: {}", e.status, e.error.unwrap_or_default());

    engine.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
