//! Streamed output lines of running executions.

use crate::model::ExecutionId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A log line from the action's own logger.
    Log,
}

/// One line of output of one execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The execution.
    pub execution: ExecutionId,
    /// The stream.
    pub stream: LogStream,
    /// The line, without its newline.
    pub line: Arc<str>,
}

/// Where a runtime sends output lines of one execution; subscribers of
/// [`Engine::subscribe_logs`](crate::Engine::subscribe_logs) see them as they come.
/// Sending never blocks; a subscriber that falls behind misses lines.
#[derive(Clone, Debug)]
pub struct LogSink {
    execution: ExecutionId,
    tx: Option<broadcast::Sender<LogLine>>,
    secrets: Option<Arc<[String]>>,
}

impl LogSink {
    /// A sink for `execution` feeding `tx`.
    pub fn new(execution: ExecutionId, tx: broadcast::Sender<LogLine>) -> Self {
        LogSink {
            execution,
            tx: Some(tx),
            secrets: None,
        }
    }

    /// A sink that drops everything (tests, rehearsals).
    pub fn discard(execution: ExecutionId) -> Self {
        LogSink {
            execution,
            tx: None,
            secrets: None,
        }
    }

    /// The same sink, masking `secrets` in every line it sends.
    pub fn with_secrets(mut self, secrets: Arc<[String]>) -> Self {
        self.secrets = (!secrets.is_empty()).then_some(secrets);
        self
    }

    /// Whether anyone listens (a runtime may skip building lines nobody reads).
    pub fn is_listened(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Sends one line.
    pub fn line(&self, stream: LogStream, line: impl Into<Arc<str>>) {
        if let Some(tx) = &self.tx
            && tx.receiver_count() > 0
        {
            let line: Arc<str> = match &self.secrets {
                Some(secrets) => {
                    let line = line.into();
                    let masked = crate::params::mask_secrets(&line, secrets);
                    if masked == *line { line } else { masked.into() }
                }
                None => line.into(),
            };
            let _ = tx.send(LogLine {
                execution: self.execution,
                stream,
                line,
            });
        }
    }
}
