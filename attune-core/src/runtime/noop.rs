//! The `noop` runtime: actions that do nothing (runner `noop`, `core.noop`).

use super::{RunOutput, RunRequest, Runtime};
use crate::Result;
use async_trait::async_trait;

/// Runs every action as a no-op that succeeds with `{}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopRuntime;

#[async_trait]
impl Runtime for NoopRuntime {
    fn name(&self) -> &str {
        "noop"
    }

    /// It ends at once.
    fn starts_inline(&self) -> bool {
        true
    }

    async fn run(&self, _request: RunRequest) -> Result<RunOutput> {
        Ok(RunOutput::success(serde_json::json!({})))
    }
}
