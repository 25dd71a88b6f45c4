//! The `rhai` runtime: the action body is a sandboxed Rhai script.

use super::{RunOutput, RunRequest, Runtime};
use crate::model::Action;
use crate::sandbox::{Sandbox, ScriptLimits};
use crate::{Error, Result};
use async_trait::async_trait;
use rhai::AST;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A cached compilation: the source it was compiled from and the AST.
type Compiled = (Arc<str>, Arc<AST>);

/// Runs actions whose `code` is a Rhai script. Params are variables of the script; the value
/// of the script is the result. Scripts run on a blocking thread under [`ScriptLimits`]
/// (operations, string/array/map sizes, call depth), with no `eval`, imports or I/O; cancel
/// and timeout stop them at the next operation.
///
/// Each action's script is compiled once and cached until its code changes.
#[derive(Debug)]
pub struct RhaiRuntime {
    sandbox: Sandbox,
    cache: Mutex<HashMap<String, Compiled>>,
}

impl Default for RhaiRuntime {
    fn default() -> Self {
        Self::new(ScriptLimits::ACTION)
    }
}

impl RhaiRuntime {
    /// A runtime with `limits`.
    pub fn new(limits: ScriptLimits) -> Self {
        RhaiRuntime {
            sandbox: Sandbox::new(limits),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn compiled(&self, action: &Action) -> Result<Arc<AST>> {
        let location = format!("action '{}'", action.action_ref);
        let code = action
            .code
            .as_deref()
            .ok_or_else(|| Error::invalid(&location, "a rhai action needs `code` (the script)"))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((src, ast)) = cache.get(&action.action_ref)
            && **src == *code
        {
            return Ok(ast.clone());
        }
        let ast = Arc::new(self.sandbox.compile(&location, code)?);
        cache.insert(action.action_ref.clone(), (Arc::from(code), ast.clone()));
        Ok(ast)
    }
}

#[async_trait]
impl Runtime for RhaiRuntime {
    fn name(&self) -> &str {
        "rhai"
    }

    fn validate_action(&self, action: &Action) -> Result<()> {
        self.compiled(action).map(|_| ())
    }

    async fn run(&self, req: RunRequest) -> Result<RunOutput> {
        let ast = self.compiled(&req.action)?;
        let sandbox = self.sandbox.clone();
        let location = format!("action '{}'", req.action.action_ref);
        let engine = sandbox.engine(Some(req.cancel.clone()), Some(req.log.clone()));
        let params = req.params;
        let joined = tokio::task::spawn_blocking(move || {
            let vars: Vec<(&str, &serde_json::Value)> =
                params.iter().map(|(k, v)| (k.as_str(), v)).collect();
            sandbox.eval(&engine, &location, &ast, &vars)
        })
        .await
        .map_err(|e| Error::Action(format!("script thread failed: {e}")))?;
        joined.map(RunOutput::success)
    }
}
