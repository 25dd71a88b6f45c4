//! The `announcement` runtime: StackStorm's announcement runner (`core.announcement`,
//! `chatops.post_message`). StackStorm publishes the action's params on its message bus
//! under a route, and ChatOps bots read them from its event stream. Here they go to every
//! [`AnnouncementRuntime::subscribe`]r (the engine's
//! [`Engine::subscribe_announcements`](crate::Engine::subscribe_announcements)); a server
//! forwards them on its stream.

use super::{RunOutput, RunRequest, Runtime};
use crate::model::ExecutionId;
use crate::{Error, Result};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// One announcement: the params of an announcement action, on its route.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Announcement {
    /// The execution that announced it.
    pub execution: ExecutionId,
    /// The action's ref.
    pub action: String,
    /// The route (`chatops`): StackStorm's stream event is `st2.announcement__<route>`.
    pub route: String,
    /// The action's params without `experimental` and `route`.
    pub payload: Map<String, Value>,
}

/// Publishes each execution's params as an [`Announcement`]. As StackStorm's runner, an
/// action must say `experimental: true`, the route defaults to `general`, and the result
/// is the payload. With nobody subscribed the announcement is dropped, as a message on a
/// bus that nobody reads; the execution still succeeds.
#[derive(Debug)]
pub struct AnnouncementRuntime {
    tx: broadcast::Sender<Announcement>,
}

impl Default for AnnouncementRuntime {
    fn default() -> Self {
        AnnouncementRuntime {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl AnnouncementRuntime {
    /// Receives the announcements published from now on (a slow receiver misses the oldest
    /// beyond 1,024 and is told how many).
    pub fn subscribe(&self) -> broadcast::Receiver<Announcement> {
        self.tx.subscribe()
    }
}

#[async_trait]
impl Runtime for AnnouncementRuntime {
    fn name(&self) -> &str {
        "announcement"
    }

    async fn run(&self, req: RunRequest) -> Result<RunOutput> {
        let what = format!("action '{}'", req.action.action_ref);
        if req.params.get("experimental") != Some(&Value::Bool(true)) {
            return Err(Error::invalid(
                what,
                "the announcement runner is experimental: the action must set \
                 'experimental: true' (as StackStorm requires)",
            ));
        }
        let route = match req.params.get("route") {
            None | Some(Value::Null) => "general".to_string(),
            Some(Value::String(r)) => r.clone(),
            Some(other) => {
                return Err(Error::invalid(
                    what,
                    format!("param 'route' must be a string, got {other}"),
                ));
            }
        };
        let mut payload = req.params;
        payload.remove("experimental");
        payload.remove("route");
        // No receiver is not an error: nobody listens on that bus.
        let _ = self.tx.send(Announcement {
            execution: req.execution_id,
            action: req.action.action_ref.clone(),
            route,
            payload: payload.clone(),
        });
        Ok(RunOutput::success(Value::Object(payload)))
    }
}
