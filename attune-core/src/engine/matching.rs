//! The matching stage: events → rules → enforcements → executions; and `emit`.

use super::context::{CtxRenderer, EventContext, EventScope, eval_expression, rule_kv};
use super::{Engine, Shared};
use crate::model::{
    Action, Enforcement, EnforcementStatus, Event, EventId, Execution, ExecutionId, ExecutionStatus,
};
use crate::rules::CompiledRule;
use crate::store::{Enforced, EnforcementUpdate, ExecutionFilter, Inserted, Page};
use crate::transport::{Message, Topic};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::sync::OnceLock;
use tracing::Instrument;

impl Engine {
    /// Emits an event of `trigger_ref`: checks the trigger type, the payload's depth and size,
    /// and the payload against the trigger type's payload schema (an invalid payload is
    /// [`Error::Invalid`] naming the trigger and every failing path with its message, and
    /// nothing is stored); persists the event (once this returns Ok, the event is stored),
    /// and hands it to the matching stage. Returns the event id, the root of its trace.
    pub async fn emit(&self, trigger_ref: &str, payload: Value) -> Result<EventId> {
        self.emit_from(trigger_ref, payload, None).await
    }

    /// [`Engine::emit`] recording who emitted it (`source`).
    pub async fn emit_from(
        &self,
        trigger_ref: &str,
        payload: Value,
        source: Option<String>,
    ) -> Result<EventId> {
        let payload = crate::input::within_depth(payload, || {
            format!("payload of event for trigger '{trigger_ref}'")
        })?;
        self.ensure_accepting()?;
        let s = &self.shared;
        let Some(trigger) = s.registry.trigger(trigger_ref) else {
            return Err(Error::not_found("trigger type", trigger_ref));
        };
        let size = json_size(&payload, s.config.max_payload_bytes);
        if size > s.config.max_payload_bytes {
            return Err(Error::invalid(
                format!("payload of event for trigger '{trigger_ref}'"),
                format!(
                    "it is larger than the limit of {} bytes (serialized)",
                    s.config.max_payload_bytes
                ),
            ));
        }
        // A trigger type without a payload schema costs one `Option` check here.
        trigger.check_payload(&payload)?;
        drop(trigger);
        let mut event = Event::new(trigger_ref, payload, s.now());
        event.source = source;
        let id = event.id;
        if s.store.capabilities().durable {
            // Concurrent emits share one store call (and one commit).
            let (tx, rx) = tokio::sync::oneshot::channel();
            s.emitting
                .submit((event, tx), |batch| persist_events(s, batch))
                .await;
            event = rx.await.unwrap_or_else(|_| {
                Err(Error::backend(
                    "the event was not persisted: the task persisting it stopped",
                    true,
                ))
            })?;
        } else {
            s.store.insert_event(&event).await?;
        }
        // Kept at hand for the matching stage (no read back).
        s.pending.add_emitted(event);
        if let Err(e) = s
            .transport
            .publish(Topic::Events, vec![Message::Event(id)])
            .await
        {
            s.pending.event_done(id);
            return Err(e);
        }
        Ok(id)
    }
}

/// An event waiting to be persisted, and where its emitter waits for it (given back once
/// it is stored).
pub(crate) type Emitted = (Event, tokio::sync::oneshot::Sender<Result<Event>>);

/// Persists emitted events with one store call and answers each emitter.
async fn persist_events(shared: &Shared, batch: Vec<Emitted>) {
    let (events, waiting): (Vec<Event>, Vec<_>) = batch.into_iter().unzip();
    let results = shared.store.insert_events(&events).await;
    for ((event, tx), r) in events.into_iter().zip(waiting).zip(results) {
        let _ = tx.send(r.map(|()| event));
    }
}

/// The serialized size of `v`, counting stops a little past `limit`.
fn json_size(v: &Value, limit: usize) -> usize {
    struct Counter {
        n: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.limit {
                return Err(std::io::Error::other("over limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter { n: 0, limit };
    let _ = serde_json::to_writer(&mut c, v);
    c.n
}

/// Events of one batch are planned concurrently (up to this many at once) against a durable
/// store, whose reads of events not emitted here take a round trip each.
const MATCH_CONCURRENCY: usize = 256;

/// Processes a batch of `Event` messages: plans every event's enforcements (criteria,
/// rendered and validated params — no writes), records them all with one
/// [`Store::insert_enforcements`](crate::store::Store::insert_enforcements) call, announces
/// the new executions, then marks the events matched.
pub(crate) async fn handle(shared: &Arc<Shared>, ids: Vec<EventId>) {
    use futures::StreamExt;
    // An in-memory store answers at once: one after the other is cheapest there.
    let mut planned: Vec<(EventId, Option<Vec<Planned>>)> = if shared.store.capabilities().durable {
        futures::stream::iter(ids)
            .map(|id| plan_one(shared, id))
            .buffered(MATCH_CONCURRENCY)
            .collect()
            .await
    } else {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(plan_one(shared, id).await);
        }
        out
    };
    // Events whose plan failed stay unmatched (the recovery sweep matches them again).
    let mut ok: Vec<bool> = planned.iter().map(|(_, p)| p.is_some()).collect();
    let mut items: Vec<Enforced> = Vec::new();
    let mut owners = Vec::new();
    for (i, (_, plans)) in planned.iter_mut().enumerate() {
        for plan in plans.iter_mut().flat_map(std::mem::take) {
            // Secret params wait in this process for the run; set before the execution exists.
            if let (Some(s), Some(x)) = (plan.secrets, &plan.item.execution) {
                shared.lock_secrets().insert(x.id, s);
            }
            owners.push(i);
            items.push(plan.item);
        }
    }
    let results = if items.is_empty() {
        Vec::new()
    } else {
        shared.store.insert_enforcements(&items).await
    };
    let mut requested = Vec::new();
    for ((item, owner), result) in items.into_iter().zip(owners).zip(results) {
        let exec = item.execution.as_ref();
        match result {
            Ok(Inserted::New) => {
                let enf = &item.enforcement;
                match exec {
                    Some(x) => {
                        shared.pending.add_execution(x.id);
                        requested.push(x.id);
                    }
                    None => tracing::warn!(
                        rule = %enf.rule, event.id = %enf.event,
                        reason = enf.failure.as_deref().unwrap_or_default(),
                        "enforcement failed"
                    ),
                }
            }
            Ok(Inserted::Existing(found)) if found.status == EnforcementStatus::Created => {
                // Left half-done by an earlier attempt (a crash between its writes).
                match complete_created(shared, found, item).await {
                    Ok(Some(x)) => requested.push(x),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "enforcement not completed");
                        ok[owner] = false;
                    }
                }
            }
            Ok(Inserted::Existing(_)) => forget_secrets(shared, exec),
            Err(e) => {
                forget_secrets(shared, exec);
                tracing::error!(
                    rule = %item.enforcement.rule,
                    event.id = %item.enforcement.event,
                    error = %e,
                    "enforcement not recorded"
                );
                ok[owner] = false;
            }
        }
    }
    let mut matched = Vec::with_capacity(planned.len());
    for ((id, _), ok) in planned.iter().zip(ok) {
        if ok {
            matched.push(*id);
        }
        shared.pending.event_done(*id);
    }
    publish_requested(shared, requested).await;
    // After their executions exist (and are announced): a crash before this re-matches
    // them, which finds the enforcements already there.
    if !matched.is_empty()
        && let Err(e) = shared.store.mark_events_matched(&matched).await
    {
        tracing::warn!(error = %e, events = matched.len(), "events not marked matched; they are matched again later (idempotent)");
    }
}

/// What matching one rule to one event will record.
struct Planned {
    /// The enforcement in its final state, with its execution.
    item: Enforced,
    /// The unredacted params of the execution, when the stored ones are redacted.
    secrets: Option<Map<String, Value>>,
}

fn forget_secrets(shared: &Shared, exec: Option<&Execution>) {
    if let Some(x) = exec {
        shared.lock_secrets().remove(&x.id);
    }
}

/// Plans one event; `None` when it could not be planned (it stays unmatched: the recovery
/// sweep, or the next start, matches it again).
async fn plan_one(shared: &Shared, id: EventId) -> (EventId, Option<Vec<Planned>>) {
    if shared
        .stop_starting
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        // Shut down past its deadline: events not matched yet are not matched any more.
        return (id, None);
    }
    let span = tracing::debug_span!("event", event.id = %id);
    match plan_event(shared, id).instrument(span).await {
        Ok(plans) => (id, Some(plans)),
        Err(e) => {
            tracing::error!(event.id = %id, error = %e, "event not processed");
            (id, None)
        }
    }
}

pub(crate) async fn publish_requested(shared: &Shared, ids: Vec<ExecutionId>) {
    if ids.is_empty() {
        return;
    }
    // Announce before the hand-off, so that no later status of these executions is
    // announced before this one.
    shared
        .publish_status(ids.iter().map(|id| (*id, ExecutionStatus::Requested)))
        .await;
    let msgs = ids.iter().map(|id| Message::Requested(*id)).collect();
    if let Err(e) = shared.transport.publish(Topic::Requested, msgs).await {
        tracing::error!(error = %e, "requested executions not published; the recovery sweep hands them on later");
    }
}

async fn plan_event(shared: &Shared, id: EventId) -> Result<Vec<Planned>> {
    // Emitted here: the event is at hand; else (a redelivery, a resume) it is read.
    let event = match shared.pending.take_event(id) {
        Some(e) => *e,
        None => shared.store.get_event(id).await?,
    };
    let Some(rules) = shared.registry.rules_for(&event.trigger) else {
        return Ok(Vec::new());
    };
    let ctx: OnceLock<EventContext> = OnceLock::new();
    let mut out = Vec::new();
    let mut matched_standard = false;
    for rule in &rules.standard {
        if let Some(p) = plan_rule(shared, rule, &event, &ctx, &mut matched_standard).await? {
            out.push(p);
        }
    }
    if !matched_standard {
        let mut ignored = false;
        for rule in &rules.backstop {
            if let Some(p) = plan_rule(shared, rule, &event, &ctx, &mut ignored).await? {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Evaluates one rule on one event: `None` when it does not match; else the enforcement to
/// record — `processed` with its execution, or `failed` on a condition, template or param
/// error. Only store errors (reading keys) are returned.
async fn plan_rule(
    shared: &Shared,
    rule: &Arc<CompiledRule>,
    event: &Event,
    ctx: &OnceLock<EventContext>,
    matched: &mut bool,
) -> Result<Option<Planned>> {
    let now = shared.now();
    let (kv_j, kv_json) = rule_kv(shared, rule).await?;
    let rule_ctx: OnceLock<minijinja::Value> = OnceLock::new();
    let make_ctx = || {
        ctx.get_or_init(|| EventContext::new(event))
            .for_rule(shared, rule, &kv_j)
    };
    let renderer = CtxRenderer {
        shared,
        patterns: &rule.patterns,
        ctx: &rule_ctx,
        make: &make_ctx,
        rule: &rule.rule.rule_ref,
    };
    let enf = Enforcement::new(&rule.rule.rule_ref, event.id, &event.trigger, now);
    Ok(
        match verdict(shared, rule, event, &renderer, &kv_json, now) {
            Ok(false) => None,
            Ok(true) => {
                *matched = true;
                Some(plan_enforcement(shared, rule, event, &renderer, enf, now))
            }
            Err(reason) => Some(failed(shared, enf, reason, None, now)),
        },
    )
}

/// Whether `rule` matches `event`: criteria, then expression. `Err` carries the reason of a
/// condition error (recorded on a failed enforcement).
pub(crate) fn verdict(
    shared: &Shared,
    rule: &CompiledRule,
    event: &Event,
    renderer: &CtxRenderer<'_>,
    kv_json: &Value,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<bool, String> {
    let scope = EventScope {
        payload: &event.payload,
    };
    match rule.criteria.check(&scope, Some(renderer), now) {
        Ok(true) => eval_expression(shared, rule, event, kv_json).map_err(|e| e.to_string()),
        Ok(false) => Ok(false),
        Err(e) => Err(format!("rule '{}' criteria: {e}", rule.rule.rule_ref)),
    }
}

/// `enf` failed for `reason` (the secrets of the packs involved masked: it may quote a
/// rendered value), with the rejected `params` if any.
fn failed(
    shared: &Shared,
    mut enf: Enforcement,
    reason: String,
    params: Option<Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Planned {
    let rule_pack = enf.rule.split_once('.').map_or("", |(p, _)| p);
    let action_pack = shared
        .registry
        .rule(&enf.rule)
        .and_then(|r| r.rule.action.split_once('.').map(|(p, _)| p.to_string()))
        .unwrap_or_default();
    let reason = match secrets_of_packs(shared, &action_pack, Some(rule_pack)) {
        Some(s) => crate::params::mask_secrets(&reason, &s),
        None => reason,
    };
    EnforcementUpdate::failed(reason, params, now).apply_to(&mut enf);
    Planned {
        item: Enforced {
            enforcement: enf,
            execution: None,
        },
        secrets: None,
    }
}

/// Renders and validates the params of a matched rule: `enf` processed with its new
/// execution, or failed.
fn plan_enforcement(
    shared: &Shared,
    rule: &CompiledRule,
    event: &Event,
    renderer: &CtxRenderer<'_>,
    mut enf: Enforcement,
    now: chrono::DateTime<chrono::Utc>,
) -> Planned {
    // Literal params need no context: build it only for templates.
    let rendered = if rule.params.is_literal() {
        shared
            .templates
            .render(&rule.params, &minijinja::Value::from(()))
    } else {
        shared.templates.render(&rule.params, renderer.ctx())
    };
    let params = match rendered {
        Ok(Value::Object(m)) => m,
        Ok(other) => {
            let reason = format!("params rendered to {other}, not an object");
            return failed(shared, enf, reason, None, now);
        }
        Err(e) => return failed(shared, enf, e.to_string(), None, now),
    };
    let Some(action) = shared.registry.action(&rule.rule.action) else {
        let reason = format!("action '{}' is not registered", rule.rule.action);
        return failed(shared, enf, reason, None, now);
    };
    if !action.enabled {
        let reason = format!("action '{}' is disabled", action.action_ref);
        return failed(shared, enf, reason, None, now);
    }
    let validated = match action.parameters.validate(&params) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("params of action '{}': {e}", action.action_ref);
            let mut shown = Value::Object(action.parameters.redact(&params));
            if let Some(ps) = secrets_of_packs(shared, action.pack(), Some(rule.rule.pack())) {
                crate::params::mask_value(&mut shown, &ps);
            }
            return failed(shared, enf, reason, Some(shown), now);
        }
    };
    let (mut exec, secrets) =
        new_execution(shared, &action, validated, now, Some(rule.rule.pack()));
    exec.enforcement = Some(enf.id);
    exec.event = Some(event.id);
    exec.rule = Some(rule.rule.rule_ref.clone());
    EnforcementUpdate::processed(exec.id, now).apply_to(&mut enf);
    Planned {
        item: Enforced {
            enforcement: enf,
            execution: Some(exec),
        },
        secrets,
    }
}

/// Finishes an enforcement an earlier attempt left `created` (a store without atomic
/// [`Store::insert_enforcements`](crate::store::Store::insert_enforcements) behind, or a
/// crash between the writes of an older release) as `item` says: fails it, or creates its
/// execution — exactly once: when the execution exists already, that one is used.
async fn complete_created(
    shared: &Shared,
    found: Enforcement,
    item: Enforced,
) -> Result<Option<ExecutionId>> {
    let Some(mut exec) = item.execution else {
        let e = item.enforcement;
        let update =
            EnforcementUpdate::failed(e.failure.unwrap_or_default(), e.params, shared.now());
        shared
            .store
            .update_enforcement(found.id, EnforcementStatus::Created, update)
            .await?;
        return Ok(None);
    };
    exec.enforcement = Some(found.id);
    // Its secret params, if any, are held under its id already.
    let exec_id = match insert_execution(shared, &exec, None).await {
        Ok(()) => exec.id,
        Err(Error::Conflict(_)) => {
            // The earlier attempt created the execution before it stopped.
            let filter = ExecutionFilter {
                enforcement: Some(found.id),
                ..Default::default()
            };
            match shared
                .store
                .list_executions(&filter, &Page::first(1))
                .await?
                .first()
            {
                Some(e) => e.id,
                None => {
                    return Err(Error::Conflict(format!(
                        "execution of enforcement '{}'",
                        found.id
                    )));
                }
            }
        }
        Err(e) => return Err(e),
    };
    let update = EnforcementUpdate::processed(exec_id, shared.now());
    shared
        .store
        .update_enforcement(found.id, EnforcementStatus::Created, update)
        .await?;
    Ok(Some(exec_id))
}

/// A `requested` execution of `action` with `validated` params stored redacted (secret
/// params, and the secret config values of its pack wherever they appear); the second value
/// is the unredacted params when anything was redacted.
fn new_execution(
    shared: &Shared,
    action: &Action,
    validated: Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
    rule_pack: Option<&str>,
) -> (Execution, Option<Map<String, Value>>) {
    let pack_secrets = secrets_of_packs(shared, action.pack(), rule_pack);
    let (stored, secrets) = if action.parameters.has_secrets() || pack_secrets.is_some() {
        let mut stored = action.parameters.redact(&validated);
        if let Some(ps) = &pack_secrets {
            for v in stored.values_mut() {
                crate::params::mask_value(v, ps);
            }
        }
        // Runners expect the unredacted copy of every action with secret params.
        if stored == validated && !action.parameters.has_secrets() {
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

/// Inserts a `requested` execution; secret param values stay in this process only.
async fn insert_execution(
    shared: &Shared,
    exec: &Execution,
    secrets: Option<Map<String, Value>>,
) -> Result<()> {
    if let Some(s) = secrets {
        shared.lock_secrets().insert(exec.id, s);
    }
    match shared.store.insert_execution(exec).await {
        Ok(()) => {
            shared.pending.add_execution(exec.id);
            Ok(())
        }
        Err(e) => {
            shared.lock_secrets().remove(&exec.id);
            Err(e)
        }
    }
}

/// `Engine::execute`: validates and creates a `requested` execution without a rule.
pub(crate) async fn create_direct(
    shared: &Arc<Shared>,
    action_ref: &str,
    params: Value,
) -> Result<ExecutionId> {
    create_execution(shared, action_ref, params, Child::default()).await
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
}

/// Validates and creates a `requested` execution without a rule, as `child` says.
pub(crate) async fn create_execution(
    shared: &Arc<Shared>,
    action_ref: &str,
    params: Value,
    child: Child,
) -> Result<ExecutionId> {
    let action = shared
        .registry
        .action(action_ref)
        .ok_or_else(|| Error::not_found("action", action_ref))?;
    if !action.enabled {
        return Err(Error::invalid(
            format!("action '{action_ref}'"),
            "it is disabled",
        ));
    }
    let params = match params {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(Error::invalid(
                format!("params of action '{action_ref}'"),
                format!("must be an object, got {other}"),
            ));
        }
    };
    let validated = action
        .parameters
        .validate(&params)
        .map_err(|e| Error::invalid(format!("params of action '{action_ref}'"), e.to_string()))?;
    let (mut exec, secrets) = new_execution(shared, &action, validated, shared.now(), None);
    exec.parent = child.parent;
    exec.task = child.task;
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
    if let Err(e) = insert_execution(shared, &exec, secrets).await {
        shared.lock_children().remove(&exec.id);
        return Err(e);
    }
    publish_requested(shared, vec![exec.id]).await;
    Ok(exec.id)
}

/// The secret config values of the action's pack and of the pack of the rule that rendered
/// its params (a rule may pass `{{ pack.config.token }}` to another pack's action).
pub(crate) fn secrets_of_packs(
    shared: &Shared,
    action_pack: &str,
    rule_pack: Option<&str>,
) -> Option<std::sync::Arc<[String]>> {
    shared.registry.run_info(action_pack, rule_pack).0
}
