//! Execution creation: a `requested` execution of an action with validated params, stored
//! with its secrets redacted and announced to the scheduling stage — for a rule's match (the
//! matching stage), a direct `execute`, and a workflow's task.
//!
//! While no action has a concurrency or rate policy (the policy gate's fast path), the
//! scheduling stage would only move an execution on to `scheduled`: new executions are then
//! stored `scheduled` at once and handed to the running stage, a store write and a hand-off
//! fewer each ([`direct_scheduling`]). They are still announced `requested`, then
//! `scheduled`.

use super::{Engine, Shared};
use crate::model::{Action, Execution, ExecutionId, ExecutionStatus};
use crate::runtime::LogLine;
use crate::store::ExecutionChange;
use crate::transport::{Message, StatusChange, Subscription, Topic};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// A `requested` execution of `action` with `validated` params stored redacted (secret
/// params, and the secret config values of its pack and the `opened` values — keys
/// decrypted into its params — wherever they appear); the second value is the unredacted
/// params when anything was redacted.
pub(crate) fn new_execution(
    shared: &Shared,
    action: &Action,
    validated: Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
    rule_pack: Option<&str>,
    opened: &[String],
) -> (Execution, Option<Map<String, Value>>) {
    let pack_secrets = secrets_of_packs(shared, action.pack(), rule_pack);
    let masked: Option<Vec<String>> = match (&pack_secrets, opened.is_empty()) {
        (None, true) => None,
        (p, _) => Some(
            p.iter()
                .flat_map(|p| p.iter().cloned())
                .chain(opened.iter().cloned())
                .collect(),
        ),
    };
    let (stored, secrets) = if action.parameters.has_secrets() || masked.is_some() {
        let mut stored = action.parameters.redact(&validated);
        if let Some(ps) = &masked {
            for v in stored.values_mut() {
                crate::params::mask_value(v, ps);
            }
        }
        // Nothing redacted (no secret value given): the stored params are the real ones,
        // and any process may run the execution.
        if stored == validated {
            (validated, None)
        } else {
            (stored, Some(validated))
        }
    } else {
        (validated, None)
    };
    let mut exec = Execution::new(
        &action.action_ref,
        &action.runner,
        Value::Object(stored),
        now,
    );
    if let Some(real) = &secrets {
        let masks = masked.as_deref().unwrap_or_default();
        super::sealed_params::seal(shared, &mut exec, real, masks);
    }
    // As in StackStorm runners, a `timeout` param sets the run's timeout. The runtime applies
    // it itself (and reports a timeout); the engine's deadline is one second later, a backstop.
    let param_timeout = action
        .parameters
        .get("timeout")
        .and_then(|_| exec.params.get("timeout"))
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0);
    exec.timeout_secs = match param_timeout {
        Some(t) => Some(t + 1.0),
        None => action
            .timeout_secs
            .or_else(|| shared.config.default_timeout.map(|d| d.as_secs_f64())),
    };
    (exec, secrets)
}

/// Held while executions are created `scheduled` (see the module documentation): no policy
/// can be registered meanwhile. `None` while some action has a concurrency or rate policy;
/// the executions are then created `requested`, for the scheduling stage to gate. The
/// caller follows the stored definitions first (a policy registered in another process
/// counts).
pub(crate) async fn direct_scheduling(
    shared: &Shared,
) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
    shared.gate.fast_path().await
}

/// Inserts an execution created `requested` — stored `scheduled` instead under
/// [`direct_scheduling`] — and returns the status it was stored with; secret param values
/// stay in this process only.
pub(crate) async fn insert_execution(
    shared: &Arc<Shared>,
    exec: &Execution,
    secrets: Option<Map<String, Value>>,
) -> Result<ExecutionStatus> {
    if let Some(s) = secrets {
        shared.lock_secrets().insert(exec.id, s);
    }
    let inserted = if shared.store.capabilities().durable {
        // Concurrent creations share one store call (and one commit).
        let (tx, rx) = tokio::sync::oneshot::channel();
        shared
            .creating
            .submit((exec.clone(), tx), |batch| insert_batch(shared, batch))
            .await;
        rx.await.unwrap_or_else(|_| {
            Err(Error::backend(
                "the execution was not stored: the task storing it stopped",
                true,
            ))
        })
    } else {
        let fast = direct_scheduling(shared).await;
        let mut exec = exec.clone();
        if fast.is_some() {
            exec.status = ExecutionStatus::Scheduled;
        }
        shared
            .store
            .insert_execution(&exec)
            .await
            .map(|()| exec.status)
    };
    match inserted {
        Ok(status) => {
            shared.pending.add_execution(exec.id);
            Ok(status)
        }
        Err(e) => {
            shared.lock_secrets().remove(&exec.id);
            Err(e)
        }
    }
}

/// An execution waiting to be inserted with others, and who waits for the status it was
/// stored with.
pub(crate) type Creating = (
    Execution,
    tokio::sync::oneshot::Sender<Result<ExecutionStatus>>,
);

/// Inserts executions created concurrently in one store call, `scheduled` under
/// [`direct_scheduling`] (decided once for the batch, with the definitions followed); gives
/// the batch's vector back (emptied).
async fn insert_batch(shared: &Arc<Shared>, mut batch: Vec<Creating>) -> Vec<Creating> {
    let (mut xs, waiting): (Vec<Execution>, Vec<_>) = batch.drain(..).unzip();
    // Not followed (the store could not be asked): `requested`, for the scheduling stage.
    let followed = super::followed_definitions::follow(shared).await.is_ok();
    let fast = if followed {
        direct_scheduling(shared).await
    } else {
        None
    };
    if fast.is_some() {
        for x in &mut xs {
            x.status = ExecutionStatus::Scheduled;
        }
    }
    let results = shared.store.insert_executions(&xs).await;
    drop(fast);
    for ((tx, r), x) in waiting.into_iter().zip(results).zip(&xs) {
        let _ = tx.send(r.map(|()| x.status));
    }
    batch
}

/// `Engine::execute`: validates and creates a `requested` execution without a rule, on
/// behalf of `user` when given.
pub(crate) async fn create_direct(
    shared: &Arc<Shared>,
    action_ref: &str,
    params: Value,
    user: Option<crate::model::Name>,
) -> Result<ExecutionId> {
    let child = Child {
        user,
        ..Child::default()
    };
    create_execution(shared, action_ref, params, child).await
}

/// The longest user name, in bytes.
pub const MAX_USER_NAME_BYTES: usize = 256;

/// Checks a user name: not empty, at most [`MAX_USER_NAME_BYTES`] bytes, no control
/// characters. `what` names the caller in the error.
pub(crate) fn check_user(what: &str, name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "a user name must not be empty".to_string()
    } else if name.len() > MAX_USER_NAME_BYTES {
        format!(
            "user name is {} bytes, more than the {MAX_USER_NAME_BYTES} allowed",
            name.len()
        )
    } else if name.chars().any(char::is_control) {
        format!(
            "user name '{}' holds a control character",
            name.escape_default()
        )
    } else {
        return Ok(());
    };
    Err(Error::invalid(what, why))
}

/// What a workflow sets on the executions of its tasks.
#[derive(Debug, Default)]
pub(crate) struct Child {
    /// The workflow execution.
    pub parent: Option<ExecutionId>,
    /// The task's timeout (seconds), over the action's.
    pub timeout_secs: Option<f64>,
    /// The task it runs.
    pub task: Option<crate::model::TaskRef>,
    /// Told when the execution finishes (registered before it can).
    pub notify: Option<tokio::sync::mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>>,
    /// The first entry of its workflow journal, written before it exists (a re-run).
    pub first_step: Option<String>,
    /// The user it runs on behalf of (a task: its workflow's).
    pub user: Option<crate::model::Name>,
}

/// Validates and creates a `requested` execution without a rule, as `child` says.
pub(crate) async fn create_execution(
    shared: &Arc<Shared>,
    action_ref: &str,
    params: Value,
    child: Child,
) -> Result<ExecutionId> {
    let action = shared.catalog.action(action_ref).ok_or_else(|| {
        match shared.catalog.unsupported_action(action_ref) {
            // Its pack left it out: say why rather than "not found".
            Some(u) => Error::invalid(format!("action '{action_ref}'"), u.message()),
            None => Error::not_found("action", action_ref),
        }
    })?;
    if !action.enabled {
        return Err(Error::invalid(
            format!("action '{action_ref}'"),
            "it is disabled",
        ));
    }
    let mut params = match params {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(Error::invalid(
                format!("params of action '{action_ref}'"),
                format!("must be an object, got {other}"),
            ));
        }
    };
    let mut validated = action
        .parameters
        .validate_taking(&mut params)
        .map_err(|e| Error::invalid(format!("params of action '{action_ref}'"), e.to_string()))?;
    let who = super::param_defaults::For {
        user: child.user.as_deref(),
        parent: child.parent,
    };
    let opened =
        super::param_defaults::render(shared, &action, &params, &mut validated, who).await?;
    let (mut exec, secrets) =
        new_execution(shared, &action, validated, shared.now(), None, &opened);
    exec.parent = child.parent;
    exec.task = child.task;
    exec.user = child.user;
    if child.timeout_secs.is_some() {
        exec.timeout_secs = child.timeout_secs;
    }
    if let Some(step) = child.first_step {
        let entry = crate::store::JournalEntry {
            execution: exec.id,
            seq: 0,
            step,
        };
        shared.store.append_journal(&[entry]).await?;
    }
    if let Some(tx) = child.notify {
        shared.lock_children().insert(exec.id, tx);
    }
    if !opened.is_empty() {
        shared.lock_masks().insert(exec.id, opened.into());
    }
    match insert_execution(shared, &exec, secrets).await {
        Ok(status) => publish_created(shared, vec![(exec.id, status)], || {}).await,
        Err(e) => {
            shared.lock_children().remove(&exec.id);
            shared.lock_masks().remove(&exec.id);
            return Err(e);
        }
    }
    Ok(exec.id)
}

/// The secret config values of the action's pack and of the pack of the rule that rendered
/// its params (a rule may pass `{{ pack.config.token }}` to another pack's action).
pub(crate) fn secrets_of_packs(
    shared: &Shared,
    action_pack: &str,
    rule_pack: Option<&str>,
) -> Option<std::sync::Arc<[String]>> {
    shared.catalog.run_info(action_pack, rule_pack).secrets
}

/// Announces executions just created, each stored with the status given (`requested`, or
/// `scheduled` under [`direct_scheduling`], or `running` when this process claimed it to
/// run at once), calls `announced` (where the creator starts what it claimed: before the
/// hand-off, which may wait for room that only running work makes), then hands the others
/// on: to the scheduling stage, or to the running stage.
pub(crate) async fn publish_created(
    shared: &Shared,
    created: Vec<(ExecutionId, ExecutionStatus)>,
    announced: impl FnOnce() + Send,
) {
    if created.is_empty() {
        announced();
        return;
    }
    // Announce before the hand-off, so that no later status of these executions is
    // announced before this one.
    let mut statuses = Vec::with_capacity(created.len() * 2);
    let (mut requested, mut scheduled) = (Vec::new(), Vec::new());
    for (id, status) in created {
        statuses.push((id, ExecutionStatus::Requested));
        match status {
            ExecutionStatus::Scheduled => {
                statuses.push((id, ExecutionStatus::Scheduled));
                scheduled.push(Message::Scheduled(id));
            }
            // Stored claimed by this process, which starts it once announced
            // (`running::claim_at_creation`): no hand-off.
            ExecutionStatus::Running => {
                statuses.push((id, ExecutionStatus::Scheduled));
                statuses.push((id, ExecutionStatus::Running));
            }
            _ => requested.push(Message::Requested(id)),
        }
    }
    shared.publish_status(statuses).await;
    announced();
    for (topic, msgs) in [(Topic::Requested, requested), (Topic::Scheduled, scheduled)] {
        if msgs.is_empty() {
            continue;
        }
        if let Err(e) = shared.hand_on(topic, &msgs).await {
            tracing::error!(error = %e, %topic, "new executions not published; the recovery sweep hands them on later");
        }
    }
}

/// # Executions
///
/// Run actions directly, wait for them, cancel them, follow their status and output.
impl Engine {
    /// Runs `action_ref` with `params` directly (no rule) and returns the new execution's id.
    /// Params are validated first: an unknown action is NotFound, bad params are Invalid and
    /// nothing is created.
    pub async fn execute(&self, action_ref: &str, params: Value) -> Result<ExecutionId> {
        let params =
            crate::input::within_depth(params, || format!("params of action '{action_ref}'"))?;
        self.ensure_accepting()?;
        create_direct(&self.shared, action_ref, params, None).await
    }

    /// [`Engine::execute`] on behalf of `user` (StackStorm's `context.user`): the
    /// execution's `user`, inherited by a workflow's tasks, whose keys are the `user` scope
    /// of its key-value access (`st2kv('NAME')` / `st2kv('user.NAME')` in workflows, the
    /// Python `action_service`'s `scope=user`). An empty name, one over
    /// [`MAX_USER_NAME_BYTES`] bytes or one with a control character is refused.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::Engine;
    /// use serde_json::json;
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.register_fn("demo.whoami", |_| async { Ok(json!("done")) }).await?;
    /// let done = engine.run_as("ann", "demo.whoami", json!({})).await?;
    /// assert_eq!(done.user.as_deref(), Some("ann"));
    /// assert!(engine.execute_as("", "demo.whoami", json!({})).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn execute_as(
        &self,
        user: &str,
        action_ref: &str,
        params: Value,
    ) -> Result<ExecutionId> {
        check_user(&format!("execution of action '{action_ref}'"), user)?;
        let params =
            crate::input::within_depth(params, || format!("params of action '{action_ref}'"))?;
        self.ensure_accepting()?;
        create_direct(&self.shared, action_ref, params, Some(user.into())).await
    }

    /// [`Engine::execute_as`] then [`Engine::wait`].
    pub async fn run_as(&self, user: &str, action_ref: &str, params: Value) -> Result<Execution> {
        let sub = self.subscribe().await?;
        let id = self.execute_as(user, action_ref, params).await?;
        self.wait_on(sub, id).await
    }

    /// [`Engine::execute`] then [`Engine::wait`].
    pub async fn run(&self, action_ref: &str, params: Value) -> Result<Execution> {
        let sub = self.subscribe().await?;
        let id = self.execute(action_ref, params).await?;
        self.wait_on(sub, id).await
    }

    /// Reads an execution.
    pub async fn execution(&self, id: ExecutionId) -> Result<Execution> {
        self.shared.store.get_execution(id).await
    }

    /// Waits until the execution reaches a terminal status and returns it.
    pub async fn wait(&self, id: ExecutionId) -> Result<Execution> {
        let sub = self.subscribe().await?;
        self.wait_on(sub, id).await
    }

    /// Waits on `sub` (subscribed before the execution could finish) until `id` is terminal;
    /// the store decides, notifications only wake the check.
    pub(crate) async fn wait_on(
        &self,
        mut sub: StatusSubscription,
        id: ExecutionId,
    ) -> Result<Execution> {
        let mut check = true;
        loop {
            if check {
                let e = self.shared.store.get_execution(id).await?;
                if e.status.is_terminal() {
                    return Ok(e);
                }
            }
            let next = tokio::select! {
                n = sub.next() => n?,
                _ = self.shared.stop.cancelled() => None,
            };
            let Some(change) = next else {
                // Stopped: what the store says is final.
                let e = self.shared.store.get_execution(id).await?;
                return if e.status.is_terminal() {
                    Ok(e)
                } else {
                    Err(Error::ShutDown)
                };
            };
            check = (change.execution == id && change.status.is_terminal()) || sub.missed() > 0;
        }
    }

    /// [`Engine::wait`] with a deadline ([`Error::Timeout`] when it passes).
    pub async fn wait_timeout(&self, id: ExecutionId, deadline: Duration) -> Result<Execution> {
        tokio::time::timeout(deadline, self.wait(id))
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "execution '{id}' did not finish within {deadline:?}"
                ))
            })?
    }

    /// Cancels an execution: one not running yet becomes `canceled` at once; a running one
    /// (or a pausing or paused workflow) becomes `canceling`, its runtime is told to stop,
    /// and it ends `canceled` — a workflow once its running tasks, canceled too, ended. Canceling a
    /// finished execution is a Conflict naming its status. A workflow run driven by another
    /// engine on the same store follows the recorded cancel at that engine's next lease
    /// renewal; another running execution hears of it through the transport.
    pub async fn cancel(&self, id: ExecutionId) -> Result<Execution> {
        let s = &self.shared;
        for _ in 0..8 {
            let e = s.store.get_execution(id).await?;
            let now = s.now();
            let to = match e.status {
                st if st.is_terminal() => {
                    return Err(Error::Conflict(format!(
                        "execution '{id}' already finished ({st})"
                    )));
                }
                ExecutionStatus::Canceling => return Ok(e),
                // A paused workflow's run is alive: it cancels its tasks and ends.
                st if st.holds_claim() => ExecutionStatus::Canceling,
                _ => ExecutionStatus::Canceled,
            };
            let change = ExecutionChange::to(to, now).error("canceled by request");
            match s.store.transition_execution(id, e.status, change).await {
                Ok(updated) => {
                    if to == ExecutionStatus::Canceling {
                        s.publish_status([(id, to)]).await;
                        if let Some(token) = s.lock_running().get(&id) {
                            token.cancel();
                        }
                        s.transport
                            .publish(Topic::Control, vec![Message::Cancel(id)])
                            .await?;
                    } else {
                        s.lock_secrets().remove(&id);
                        let done = Message::Finished(StatusChange {
                            execution: id,
                            status: to,
                        });
                        s.hand_on(Topic::Finished, &[done]).await?;
                    }
                    return Ok(updated);
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "execution '{id}' kept changing; cancel not applied"
        )))
    }

    /// Subscribes to status changes of every execution. Subscribe before the action that
    /// causes the changes to see them all; a subscriber that falls behind misses changes
    /// (see [`StatusSubscription::missed`]), the store stays the truth.
    pub async fn subscribe(&self) -> Result<StatusSubscription> {
        Ok(StatusSubscription {
            inner: self.shared.transport.subscribe(Topic::Status).await?,
            buffer: std::collections::VecDeque::new(),
        })
    }

    /// Subscribes to output lines of running executions (stdout, stderr, action logs).
    pub fn subscribe_logs(&self) -> broadcast::Receiver<LogLine> {
        self.shared.logs.subscribe()
    }

    /// Subscribes to what announcement actions publish (StackStorm's announcement runner:
    /// `core.announcement`, `chatops.post_message`), from now on.
    pub fn subscribe_announcements(&self) -> broadcast::Receiver<crate::runtime::Announcement> {
        self.shared.announcements.subscribe()
    }
}

/// A subscription to execution status changes (see [`Engine::subscribe`]).
#[derive(Debug)]
pub struct StatusSubscription {
    inner: Box<dyn Subscription>,
    buffer: std::collections::VecDeque<StatusChange>,
}

impl StatusSubscription {
    /// The next status change; `None` when the engine's transport closed.
    pub async fn next(&mut self) -> Result<Option<StatusChange>> {
        while self.buffer.is_empty() {
            let Some(batch) = self.inner.recv(1024).await? else {
                return Ok(None);
            };
            self.buffer
                .extend(batch.into_iter().filter_map(|d| match d.message {
                    Message::Status(c) => Some(c),
                    _ => None,
                }));
        }
        Ok(self.buffer.pop_front())
    }

    /// Changes missed since the last call because this subscriber fell behind.
    pub fn missed(&mut self) -> u64 {
        self.inner.missed()
    }
}
