//! The one error type of Attune.

use std::fmt;

/// The result type used throughout Attune.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error an Attune component returns.
///
/// The enum is `#[non_exhaustive]`: match the kinds you handle and keep a wildcard arm.
/// [`Error::is_retryable`] tells whether repeating the same call may succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named entity does not exist.
    #[error("{kind} '{id}' not found")]
    NotFound {
        /// What was looked up (`action`, `execution`, ...).
        kind: &'static str,
        /// The id or ref that was asked for.
        id: String,
    },
    /// The state moved under the caller: a compare-and-set lost, or a unique key is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is invalid; the message names what and where.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The thing that was rejected (`params of action 'a.b'`, `rule 'x' criteria`, ...).
        what: String,
        /// Why, with every problem found.
        message: String,
    },
    /// A pack has problems; every one is listed, with file, line, column and key path.
    #[error("{0}")]
    Pack(crate::pack::PackErrors),
    /// A status transition outside the state machine.
    #[error("illegal transition of {kind} '{id}' from {from} to {to}")]
    IllegalTransition {
        /// The entity (`execution`, `enforcement`).
        kind: &'static str,
        /// Its id.
        id: String,
        /// The status it is in.
        from: String,
        /// The status that was asked for.
        to: String,
    },
    /// The backend or runtime does not support the operation.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A template failed to compile or render.
    #[error("template error in {location}: {message}")]
    Template {
        /// Where the template lives (`rule 'r' param 'x'`).
        location: String,
        /// The renderer's message, including the undefined name when that is the cause.
        message: String,
    },
    /// A Rhai expression or script failed to compile or run.
    #[error("script error in {location}: {message}")]
    Script {
        /// Where the script lives.
        location: String,
        /// The message, including the limit hit when that is the cause.
        message: String,
    },
    /// An action ran and failed; the message is the action's error.
    #[error("action failed: {0}")]
    Action(String),
    /// An action ran and failed with a result: a native action returns it (through
    /// [`Error::action_failed`]) to end its execution `failed` with `result` as the stored
    /// result (secret values masked, as in any result) and this error's text as the stored
    /// error. Any other error of a native action is stored as `{"error": "<text>"}`.
    #[error("action failed: {message}")]
    ActionFailed {
        /// The action's error message.
        message: String,
        /// The result stored on the failed execution.
        result: serde_json::Value,
    },
    /// An operation exceeded its deadline.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The operation was canceled.
    #[error("canceled: {0}")]
    Canceled(String),
    /// The engine is shutting down or was shut down.
    #[error("engine is shut down")]
    ShutDown,
    /// A storage or transport backend failed; `transient` backends may succeed on retry.
    #[error("backend error: {source}")]
    Backend {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Whether retrying may help (lost connection, busy database).
        transient: bool,
    },
}

impl Error {
    /// Whether repeating the same call may succeed: a lost compare-and-set, a timeout, or a
    /// transient backend failure. Invalid input, missing entities and illegal transitions are
    /// not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Conflict(_) | Error::Timeout(_) => true,
            Error::Backend { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: &'static str, id: impl fmt::Display) -> Self {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::ActionFailed`]: the failure of a native action with `result`
    /// as the stored result of its execution.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::{Engine, Error};
    /// use attune_core::model::ExecutionStatus;
    /// use serde_json::{Value, json};
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.register_fn("demo.check_disk", |ctx| async move {
    ///     let free = ctx.param("free").and_then(Value::as_u64).unwrap_or(0);
    ///     if free < 10 {
    ///         return Err(Error::action_failed("disk almost full", json!({ "free": free })));
    ///     }
    ///     Ok(json!({ "free": free }))
    /// }).await?;
    /// let x = engine.run("demo.check_disk", json!({ "free": 3 })).await?;
    /// assert_eq!(x.status, ExecutionStatus::Failed);
    /// assert_eq!(x.result, Some(json!({ "free": 3 })));
    /// assert_eq!(x.error.as_deref(), Some("action failed: disk almost full"));
    /// # Ok(()) }
    /// ```
    pub fn action_failed(message: impl Into<String>, result: serde_json::Value) -> Self {
        Error::ActionFailed {
            message: message.into(),
            result,
        }
    }

    /// Wraps a backend error; `transient` marks it retryable.
    pub fn backend(
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
        transient: bool,
    ) -> Self {
        Error::Backend {
            source: source.into(),
            transient,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(Error::Conflict("x".into()).is_retryable());
        assert!(Error::backend("busy", true).is_retryable());
        assert!(!Error::backend("corrupt", false).is_retryable());
        assert!(!Error::not_found("action", "a.b").is_retryable());
        assert!(!Error::invalid("params", "bad").is_retryable());
    }

    #[test]
    fn messages_name_what_and_where() {
        let e = Error::not_found("action", "demo.missing");
        assert_eq!(e.to_string(), "action 'demo.missing' not found");
        let e = Error::Template {
            location: "rule 'r1' param 'msg'".into(),
            message: "undefined value 'nope'".into(),
        };
        assert!(e.to_string().contains("rule 'r1' param 'msg'"));
    }
}
