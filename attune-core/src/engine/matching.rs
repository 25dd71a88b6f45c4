//! The matching stage: events → rules → enforcements → executions; and `emit`.

use super::context::{CtxRenderer, EventContext, EventScope, eval_expression, rule_kv};
use super::{Engine, Shared};
use crate::model::{
    Action, Enforcement, EnforcementStatus, Event, EventId, Execution, ExecutionId, ExecutionStatus,
};
use crate::rules::CompiledRule;
use crate::store::{EnforcementUpdate, ExecutionFilter, Inserted, Page};
use crate::transport::{Message, Topic};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::sync::OnceLock;
use tracing::Instrument;

impl Engine {
    /// Emits an event of `trigger_ref`: checks the trigger type and the payload size,
    /// persists the event (once this returns Ok, the event is stored), and hands it to the
    /// matching stage. Returns the event id, the root of its trace.
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
        self.ensure_accepting()?;
        let s = &self.shared;
        if s.registry.trigger(trigger_ref).is_none() {
            return Err(Error::not_found("trigger type", trigger_ref));
        }
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
        let mut event = Event::new(trigger_ref, payload, s.now());
        event.source = source;
        s.store.insert_event(&event).await?;
        s.pending.add_event(event.id);
        if let Err(e) = s
            .transport
            .publish(Topic::Events, vec![Message::Event(event.id)])
            .await
        {
            s.pending.event_done(event.id);
            return Err(e);
        }
        Ok(event.id)
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

/// Processes a batch of `Event` messages.
/// Events of one batch are matched concurrently (up to this many at once), so that a
/// durable store's group commit gathers their writes instead of paying one commit each.
const MATCH_CONCURRENCY: usize = 256;

pub(crate) async fn handle(shared: &Arc<Shared>, ids: Vec<EventId>) {
    use futures::StreamExt;
    let mut requested = Vec::new();
    let mut matched = Vec::with_capacity(ids.len());
    // An in-memory store answers at once: one after the other is cheapest there.
    let outcomes: Vec<(EventId, Option<Vec<ExecutionId>>)> = if shared.store.capabilities().durable
    {
        futures::stream::iter(ids)
            .map(|id| match_one(shared, id))
            .buffered(MATCH_CONCURRENCY)
            .collect()
            .await
    } else {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(match_one(shared, id).await);
        }
        out
    };
    for (id, out) in outcomes {
        if let Some(mut ids) = out {
            requested.append(&mut ids);
            matched.push(id);
        }
        shared.pending.event_done(id);
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

/// Matches one event; `None` when it was not matched to the end (not marked matched: the
/// recovery sweep, or the next start, matches it again).
async fn match_one(shared: &Shared, id: EventId) -> (EventId, Option<Vec<ExecutionId>>) {
    if shared
        .stop_starting
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        // Shut down past its deadline: events not matched yet are not matched any more.
        return (id, None);
    }
    let span = tracing::debug_span!("event", event.id = %id);
    match match_event(shared, id).instrument(span).await {
        Ok(ids) => (id, Some(ids)),
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

async fn match_event(shared: &Shared, id: EventId) -> Result<Vec<ExecutionId>> {
    let event = shared.store.get_event(id).await?;
    let Some(rules) = shared.registry.rules_for(&event.trigger) else {
        return Ok(Vec::new());
    };
    let ctx: OnceLock<EventContext> = OnceLock::new();
    let mut out = Vec::new();
    let mut matched_standard = false;
    for rule in &rules.standard {
        if let Some(exec) = apply_rule(shared, rule, &event, &ctx, &mut matched_standard).await? {
            out.push(exec);
        }
    }
    if !matched_standard {
        let mut ignored = false;
        for rule in &rules.backstop {
            if let Some(exec) = apply_rule(shared, rule, &event, &ctx, &mut ignored).await? {
                out.push(exec);
            }
        }
    }
    Ok(out)
}

/// Evaluates one rule on one event and, when it matches, enforces it. Condition and
/// template errors are recorded on a failed enforcement; only store errors are returned.
async fn apply_rule(
    shared: &Shared,
    rule: &Arc<CompiledRule>,
    event: &Event,
    ctx: &OnceLock<EventContext>,
    matched: &mut bool,
) -> Result<Option<ExecutionId>> {
    let now = shared.now();
    let (kv_j, kv_json) = rule_kv(shared, rule).await?;
    let rule_ctx: OnceLock<minijinja::Value> = OnceLock::new();
    let make_ctx = || {
        ctx.get_or_init(|| EventContext::new(event))
            .for_rule(shared, rule, &kv_j)
    };
    let renderer = CtxRenderer {
        shared,
        ctx: &rule_ctx,
        make: &make_ctx,
        rule: &rule.rule.rule_ref,
    };
    match verdict(shared, rule, event, &renderer, &kv_json, now) {
        Ok(false) => Ok(None),
        Ok(true) => {
            *matched = true;
            enforce(shared, rule, event, &renderer).await
        }
        Err(reason) => {
            let enf = Enforcement::new(&rule.rule.rule_ref, event.id, &event.trigger, now);
            if let Inserted::New = shared.store.insert_enforcement(&enf).await? {
                fail_enforcement(shared, &enf, reason).await?;
            }
            Ok(None)
        }
    }
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

async fn fail_enforcement(shared: &Shared, enf: &Enforcement, reason: String) -> Result<()> {
    fail_enforcement_with(shared, enf, reason, None).await
}

async fn fail_enforcement_with(
    shared: &Shared,
    enf: &Enforcement,
    reason: String,
    params: Option<Value>,
) -> Result<()> {
    // The reason may quote a rendered value: mask the secrets of the packs involved.
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
    tracing::warn!(rule = %enf.rule, event.id = %enf.event, %reason, "enforcement failed");
    let update = EnforcementUpdate::failed(reason, params, shared.now());
    shared
        .store
        .update_enforcement(enf.id, EnforcementStatus::Created, update)
        .await
        .map(|_| ())
}

async fn enforce(
    shared: &Shared,
    rule: &CompiledRule,
    event: &Event,
    renderer: &CtxRenderer<'_>,
) -> Result<Option<ExecutionId>> {
    let now = shared.now();
    let fresh = Enforcement::new(&rule.rule.rule_ref, event.id, &event.trigger, now);
    let enf = match shared.store.insert_enforcement(&fresh).await? {
        Inserted::New => fresh,
        Inserted::Existing(e) if e.status == EnforcementStatus::Created => e,
        Inserted::Existing(_) => return Ok(None),
    };
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
            fail_enforcement(
                shared,
                &enf,
                format!("params rendered to {other}, not an object"),
            )
            .await?;
            return Ok(None);
        }
        Err(e) => {
            fail_enforcement(shared, &enf, e.to_string()).await?;
            return Ok(None);
        }
    };
    let Some(action) = shared.registry.action(&rule.rule.action) else {
        fail_enforcement(
            shared,
            &enf,
            format!("action '{}' is not registered", rule.rule.action),
        )
        .await?;
        return Ok(None);
    };
    if !action.enabled {
        let reason = format!("action '{}' is disabled", action.action_ref);
        fail_enforcement(shared, &enf, reason).await?;
        return Ok(None);
    }
    let validated = match action.parameters.validate(&params) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("params of action '{}': {e}", action.action_ref);
            let mut shown = Value::Object(action.parameters.redact(&params));
            if let Some(ps) = secrets_of_packs(shared, action.pack(), Some(rule.rule.pack())) {
                crate::params::mask_value(&mut shown, &ps);
            }
            fail_enforcement_with(shared, &enf, reason, Some(shown)).await?;
            return Ok(None);
        }
    };
    let (mut exec, secrets) =
        new_execution(shared, &action, validated, now, Some(rule.rule.pack()));
    exec.enforcement = Some(enf.id);
    exec.event = Some(event.id);
    exec.rule = Some(rule.rule.rule_ref.clone());
    let exec_id = match insert_execution(shared, &exec, secrets).await {
        Ok(()) => exec.id,
        Err(Error::Conflict(_)) => {
            // Redelivery after a crash between the two writes: the execution exists.
            let filter = ExecutionFilter {
                enforcement: Some(enf.id),
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
                        enf.id
                    )));
                }
            }
        }
        Err(e) => return Err(e),
    };
    let update = EnforcementUpdate::processed(exec_id, shared.now());
    shared
        .store
        .update_enforcement(enf.id, EnforcementStatus::Created, update)
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
    let (exec, secrets) = new_execution(shared, &action, validated, shared.now(), None);
    insert_execution(shared, &exec, secrets).await?;
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
