//! The `native` runtime: actions that are async Rust closures.

use super::{LogSink, RunOutput, RunRequest, Runtime};
use crate::model::{Action, ExecutionId};
use crate::{Error, Result};
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};
use tokio_util::sync::CancellationToken;

/// What a native action receives.
#[derive(Debug, Clone)]
pub struct ActionContext {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The action's ref.
    pub action: crate::model::Name,
    /// Validated params (secrets included).
    pub params: Map<String, Value>,
    /// Fires on cancel or timeout; long-running actions should watch it.
    pub cancel: CancellationToken,
    /// Output lines.
    pub log: LogSink,
    /// The user the execution runs on behalf of, if any
    /// ([`Execution::user`](crate::model::Execution::user)).
    pub user: Option<crate::model::Name>,
}

impl ActionContext {
    /// The params deserialized into `T`; an [`Error::Invalid`] naming the action otherwise.
    pub fn params_as<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(Value::Object(self.params.clone())).map_err(|e| {
            Error::invalid(format!("params of action '{}'", self.action), e.to_string())
        })
    }

    /// One param.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }
}

/// A registered native action handler: the run's outcome from its context (the future is
/// the one [`Runtime::run`] hands out, so a run boxes one future only).
pub type NativeHandler =
    Arc<dyn Fn(ActionContext) -> BoxFuture<'static, Result<RunOutput>> + Send + Sync>;

/// Wraps a closure over typed params into the `Fn(ActionContext)` shape
/// [`Engine::register_fn`](crate::Engine::register_fn) takes.
///
/// ```
/// use attune_core::runtime::typed;
/// #[derive(serde::Deserialize)]
/// struct Add { a: i64, b: i64 }
/// let handler = typed(|p: Add| async move { Ok::<_, attune_core::Error>(p.a + p.b) });
/// # let _ = handler;
/// ```
pub fn typed<P, R, F, Fut>(
    f: F,
) -> impl Fn(ActionContext) -> BoxFuture<'static, Result<R>> + Send + Sync + 'static
where
    P: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R>> + Send + 'static,
{
    let f = Arc::new(f);
    move |ctx: ActionContext| {
        let f = f.clone();
        Box::pin(async move {
            let p: P = ctx.params_as()?;
            f(p).await
        })
    }
}

/// Runs actions whose body is an async Rust closure registered under the action's ref.
#[derive(Default)]
pub struct NativeRuntime {
    handlers: RwLock<HashMap<String, NativeHandler>>,
}

impl fmt::Debug for NativeRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.handlers.read().map(|h| h.len()).unwrap_or(0);
        f.debug_struct("NativeRuntime")
            .field("handlers", &n)
            .finish()
    }
}

impl NativeRuntime {
    /// A runtime with no handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the handler of `action_ref`. `R`, the type of the result, comes
    /// first so that a closure that never returns `Ok` can name it: `register::<Value, _, _>`.
    pub fn register<R, F, Fut>(&self, action_ref: impl Into<String>, f: F)
    where
        F: Fn(ActionContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R>> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let handler: NativeHandler = Arc::new(move |ctx| {
            let fut = f(ctx);
            Box::pin(async move { into_output(fut.await.and_then(into_json)) })
        });
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(action_ref.into(), handler);
    }

    /// Removes the handler of `action_ref`.
    pub fn unregister(&self, action_ref: &str) -> bool {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(action_ref)
            .is_some()
    }

    fn handler(&self, action_ref: &str) -> Option<NativeHandler> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(action_ref)
            .cloned()
    }
}

#[async_trait]
impl Runtime for NativeRuntime {
    fn name(&self) -> &str {
        "native"
    }

    /// A native action gets no key-value handle ([`ActionContext`] has none: a host
    /// function reaches the store through its engine).
    fn uses_keys(&self) -> bool {
        false
    }

    /// Host functions are async code, which must not block a runtime thread anyway: a
    /// handler's code up to its first `.await` may run in the engine's task that starts it.
    fn starts_inline(&self) -> bool {
        true
    }

    fn validate_action(&self, action: &Action) -> Result<()> {
        match self.handler(&action.action_ref) {
            Some(_) => Ok(()),
            None => Err(Error::invalid(
                format!("action '{}'", action.action_ref),
                "no native handler is registered for it (use Engine::register_fn, or Engine::register_handler before loading the pack that declares it)",
            )),
        }
    }

    // Written out (not `async fn`): the handler's own boxed future is the run's, with no
    // second box around it.
    fn run<'life0, 'async_trait>(
        &'life0 self,
        req: RunRequest,
    ) -> BoxFuture<'async_trait, Result<RunOutput>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let Some(handler) = self.handler(&req.action.action_ref) else {
            let e = Error::not_found("native handler", &req.action.action_ref);
            return Box::pin(std::future::ready(Err(e)));
        };
        let ctx = ActionContext {
            execution_id: req.execution_id,
            action: req.action.action_ref.as_str().into(),
            params: req.params,
            cancel: req.cancel,
            log: req.log,
            user: req.user,
        };
        handler(ctx)
    }
}

/// A handler's outcome: its result on success; a failure with a result
/// ([`Error::ActionFailed`]) keeps it; another error fails the run.
fn into_output(r: Result<Value>) -> Result<RunOutput> {
    match r {
        Ok(result) => Ok(RunOutput::success(result)),
        Err(e) => {
            let text = e.to_string();
            match e {
                Error::ActionFailed { result, .. } => {
                    Ok(RunOutput::failure(result).with_error(text))
                }
                other => Err(other),
            }
        }
    }
}

/// A handler's result as JSON: a [`Value`] as it is (no copy, and no recursive walk, which a
/// value deeper than the engine takes would not survive: the engine refuses those after the
/// run), anything else through serde.
fn into_json<R: Serialize + 'static>(r: R) -> Result<Value> {
    let mut slot = Some(r);
    if let Some(v) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Value>>() {
        return Ok(v.take().unwrap_or(Value::Null));
    }
    serde_json::to_value(slot).map_err(|e| Error::Action(format!("result is not JSON: {e}")))
}
