//! The matching stage: events → rules → enforcements → executions.

use super::context::{CtxRenderer, EventContext, EventScope, eval_expression, rule_kv};
use super::executions::{
    direct_scheduling, insert_execution, new_execution, publish_created, secrets_of_packs,
};
use super::{Shared, running};
use crate::model::{
    Enforcement, EnforcementStatus, Event, EventId, Execution, ExecutionId, ExecutionStatus,
};
use crate::rules::CompiledRule;
use crate::store::{Enforced, EnforcementUpdate, ExecutionFilter, Inserted, Page};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::sync::OnceLock;
use tracing::Instrument;

/// Events of one batch are planned concurrently (up to this many at once) against a durable
/// store, whose reads while planning (keys a rule's params name) take a round trip each.
const MATCH_CONCURRENCY: usize = 256;

/// Processes a batch of `Event` messages: plans every event's enforcements (criteria,
/// rendered and validated params — no writes), records them all with one
/// [`Store::insert_enforcements`](crate::store::Store::insert_enforcements) call, announces
/// the new executions, then marks the events matched.
pub(crate) async fn handle(shared: &Arc<Shared>, ids: Vec<EventId>) {
    use futures::StreamExt;
    if !super::followed_definitions::follow_or_log(shared, "matching").await {
        // The events stay unmatched: the recovery sweep matches them again.
        return;
    }
    let events = events_of(shared, ids).await;
    // An in-memory store answers at once: one after the other is cheapest there.
    let mut planned: Vec<(EventId, Option<Vec<Planned>>)> = if shared.store.capabilities().durable {
        futures::stream::iter(events)
            .map(|(id, event)| plan_one(shared, id, event))
            .buffered(MATCH_CONCURRENCY)
            .collect()
            .await
    } else {
        let mut out = Vec::with_capacity(events.len());
        for (id, event) in events {
            out.push(plan_one(shared, id, event).await);
        }
        out
    };
    // Events whose plan failed stay unmatched (the recovery sweep matches them again).
    let mut ok: Vec<bool> = planned.iter().map(|(_, p)| p.is_some()).collect();
    let mut items: Vec<Enforced> = Vec::new();
    // Per item: its event's index, whether this process may hold its params for the run
    // (none secret, and a store no other process claims from), and its claim when this
    // process runs it at once (below).
    let mut owners: Vec<(usize, bool, Option<running::ClaimedHere>)> = Vec::new();
    let unshared = !shared.store.capabilities().shared;
    for (i, (_, plans)) in planned.iter_mut().enumerate() {
        for plan in plans.iter_mut().flat_map(std::mem::take) {
            // Secret params wait in this process for the run; set before the execution exists.
            let holdable = unshared && plan.secrets.is_none();
            if let (Some(s), Some(x)) = (plan.secrets, &plan.item.execution) {
                shared.lock_secrets().insert(x.id, s);
            }
            owners.push((i, holdable, None));
            items.push(plan.item);
        }
    }
    let results = if items.is_empty() {
        Vec::new()
    } else {
        // The definitions were followed for this batch (above).
        let fast = direct_scheduling(shared).await;
        if fast.is_some() {
            for (item, (_, _, claimed)) in items.iter_mut().zip(owners.iter_mut()) {
                if let Some(x) = item.execution.as_mut() {
                    x.status = ExecutionStatus::Scheduled;
                    // Stored `running` under this process's claim when it runs it at once.
                    *claimed = running::claim_at_creation(shared, x);
                }
            }
        }
        shared.store.insert_enforcements(&items).await
    };
    let mut created = Vec::new();
    let mut starts = Vec::new();
    for ((mut item, (owner, holdable, mut claimed)), result) in
        items.into_iter().zip(owners).zip(results)
    {
        let claimed_id = item.execution.as_ref().map(|x| x.id);
        // A run started here takes its params from the execution itself.
        if holdable
            && claimed.is_none()
            && matches!(result, Ok(Inserted::New))
            && let Some(x) = &mut item.execution
            && let Value::Object(params) = std::mem::take(&mut x.params)
        {
            // Stored: its run takes them from here (set before it is announced). A backlog
            // beyond the bound takes them from the store instead.
            let mut held = shared.lock_held_params();
            if held.len() < HELD_PARAMS_MAX {
                held.insert(x.id, params);
            }
        }
        let exec = item.execution.as_ref();
        match result {
            Ok(Inserted::New) => {
                let enf = &item.enforcement;
                match exec {
                    Some(x) => {
                        shared.pending.add_execution(x.id);
                        created.push((x.id, x.status));
                    }
                    None => tracing::warn!(
                        rule = %enf.rule, event.id = %enf.event,
                        reason = enf.failure.as_deref().unwrap_or_default(),
                        "enforcement failed"
                    ),
                }
                // Started once announced (below).
                if let Some(c) = claimed.take()
                    && let Some(x) = item.execution.take()
                {
                    starts.push((x, c));
                }
            }
            Ok(Inserted::Existing(found)) if found.status == EnforcementStatus::Created => {
                // Left half-done by an earlier attempt (a crash between its writes): its
                // execution is created as usual, not claimed here.
                if let (Some(c), Some(x)) = (claimed.take(), item.execution.as_mut()) {
                    running::forget_claimed(shared, x.id, c);
                    running::unclaim(x);
                }
                match complete_created(shared, found, item).await {
                    Ok(Some(x)) => created.push(x),
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
        if let (Some(c), Some(id)) = (claimed, claimed_id) {
            // Not stored by this call: not run from here.
            running::forget_claimed(shared, id, c);
        }
    }
    let mut matched = Vec::with_capacity(planned.len());
    for ((id, _), ok) in planned.iter().zip(ok) {
        if ok {
            matched.push(*id);
        }
        shared.pending.event_done(*id);
    }
    // What this process claimed starts once announced, before the others are handed on
    // (a full queue there waits for room that runs make).
    publish_created(shared, created, || {
        for (x, c) in starts {
            running::start_claimed(shared, x, c);
        }
    })
    .await;
    // After their executions exist (and are announced): a crash before this re-matches
    // them, which finds the enforcements already there.
    if !matched.is_empty()
        && let Err(e) = shared.store.mark_events_matched(&matched).await
    {
        tracing::warn!(error = %e, events = matched.len(), "events not marked matched; they are matched again later (idempotent)");
    }
}

/// Most executions whose params the engine holds until their runs
/// ([`Shared::held_params`](super::Shared)): the executions of a longer backlog take theirs
/// from the store, so that a backlog costs no second copy of its params.
pub(crate) const HELD_PARAMS_MAX: usize = 4096;

/// What matching one rule to one event will record.
struct Planned {
    /// The enforcement in its final state, with its execution.
    item: Enforced,
    /// The unredacted params of the execution, when the stored ones are redacted.
    secrets: Option<Map<String, Value>>,
}

fn forget_secrets(shared: &Shared, exec: Option<&Execution>) {
    if let Some(x) = exec {
        shared.lock_masks().remove(&x.id);
        shared.lock_secrets().remove(&x.id);
    }
}

/// The events of `ids`, in order: those emitted in this process are at hand; the others (a
/// redelivery, a resume, another process's) are read with one store call.
async fn events_of(shared: &Shared, ids: Vec<EventId>) -> Vec<(EventId, Result<Event>)> {
    let mut out: Vec<(EventId, Option<Result<Event>>)> = ids
        .into_iter()
        .map(|id| (id, shared.pending.take_event(id).map(Ok)))
        .collect();
    let missing: Vec<EventId> = out
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !missing.is_empty() {
        let mut read = shared.store.get_events(&missing).await.into_iter();
        for (_, e) in out.iter_mut().filter(|(_, e)| e.is_none()) {
            *e = read.next();
        }
    }
    out.into_iter()
        .map(|(id, e)| {
            let e = e.unwrap_or_else(|| {
                Err(Error::backend(
                    "the store returned fewer events than asked for",
                    false,
                ))
            });
            (id, e)
        })
        .collect()
}

/// Plans one event; `None` when it could not be planned (it stays unmatched: the recovery
/// sweep, or the next start, matches it again).
async fn plan_one(
    shared: &Shared,
    id: EventId,
    event: Result<Event>,
) -> (EventId, Option<Vec<Planned>>) {
    if shared
        .stop_starting
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        // Shut down past its deadline: events not matched yet are not matched any more.
        return (id, None);
    }
    let span = tracing::debug_span!("event", event.id = %id);
    let planned = match event {
        Ok(event) => plan_event(shared, event).instrument(span).await,
        Err(e) => Err(e),
    };
    match planned {
        Ok(plans) => (id, Some(plans)),
        Err(e) => {
            tracing::error!(event.id = %id, error = %e, "event not processed");
            (id, None)
        }
    }
}

async fn plan_event(shared: &Shared, event: Event) -> Result<Vec<Planned>> {
    let Some(all) = shared.catalog.rules_for(&event.trigger) else {
        return Ok(Vec::new());
    };
    // One instance of its trigger type (a timer, a sensor's trigger): only the rules that
    // made it.
    let Some(rules) = all.of_instance(event.trigger_params.as_ref()) else {
        return Ok(Vec::new());
    };
    let ctx: OnceLock<EventContext> = OnceLock::new();
    let mut out = Vec::new();
    let mut matched_standard = false;
    for rule in &rules.standard {
        if let Some(p) = plan_rule(shared, rule, &event, &ctx, &mut matched_standard).await? {
            push_plan(&mut out, p);
        }
    }
    if !matched_standard {
        let mut ignored = false;
        for rule in &rules.backstop {
            if let Some(p) = plan_rule(shared, rule, &event, &ctx, &mut ignored).await? {
                push_plan(&mut out, p);
            }
        }
    }
    Ok(out)
}

/// Adds a plan; the first one in a vector of exactly one. Most events match one rule, and
/// a plan is large: the default first capacity (four) would be a block that malloc
/// implementations keep in no per-thread cache, freed on another thread than the one that
/// made it (glibc then takes the other thread's arena lock).
fn push_plan(out: &mut Vec<Planned>, plan: Planned) {
    if out.capacity() == 0 {
        out.reserve_exact(1);
    }
    out.push(plan);
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
    let (ring, ring_j) = super::context::keyring(shared, rule);
    let rule_ctx: OnceLock<minijinja::Value> = OnceLock::new();
    let make_ctx = || {
        ctx.get_or_init(|| EventContext::new(event))
            .for_rule(shared, rule, &kv_j, &ring_j)
    };
    let renderer = CtxRenderer {
        shared,
        payload: &event.payload,
        patterns: &rule.patterns,
        ctx: &rule_ctx,
        make: &make_ctx,
        rule: &rule.rule.rule_ref,
    };
    // Made only for a rule that matched (or failed): most rules do not.
    let enf = || Enforcement::new(rule.name.clone(), event.id, event.trigger.clone(), now);
    Ok(
        match verdict(shared, rule, event, &renderer, &kv_json, now) {
            Ok(false) => None,
            Ok(true) => {
                *matched = true;
                Some(
                    plan_enforcement(shared, rule, event, &renderer, ring.as_deref(), enf(), now)
                        .await,
                )
            }
            Err(reason) => Some(failed(shared, enf(), reason, None, now)),
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
        .catalog
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
async fn plan_enforcement(
    shared: &Shared,
    rule: &CompiledRule,
    event: &Event,
    renderer: &CtxRenderer<'_>,
    ring: Option<&crate::template::keyring::Keyring>,
    mut enf: Enforcement,
    now: chrono::DateTime<chrono::Utc>,
) -> Planned {
    // Literal params need no context: build it only for templates.
    let rendered = if rule.params.is_literal() {
        shared
            .templates
            .render(&rule.params, &minijinja::Value::from(()))
    } else {
        shared.templates.render_in(&rule.params, renderer)
    };
    let mut params = match rendered {
        Ok(Value::Object(m)) => m,
        Ok(other) => {
            let reason = format!("params rendered to {other}, not an object");
            return failed(shared, enf, reason, None, now);
        }
        Err(e) => return failed(shared, enf, e.to_string(), None, now),
    };
    let Some(action) = shared.catalog.action(&rule.rule.action) else {
        let reason = format!("action '{}' is not registered", rule.rule.action);
        return failed(shared, enf, reason, None, now);
    };
    if !action.enabled {
        let reason = format!("action '{}' is disabled", action.action_ref);
        return failed(shared, enf, reason, None, now);
    }
    let mut validated = match action.parameters.validate_taking(&mut params) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("params of action '{}': {e}", action.action_ref);
            let mut shown = Value::Object(action.parameters.redact(&params));
            if let Some(ps) = secrets_of_packs(shared, action.pack(), Some(rule.rule.pack())) {
                crate::params::mask_value(&mut shown, &ps);
            }
            if let Some(r) = ring {
                crate::params::mask_value(&mut shown, &r.opened());
            }
            return failed(shared, enf, reason, Some(shown), now);
        }
    };
    let user = shared.config.system_user.as_deref();
    let who = super::param_defaults::For { user, parent: None };
    let mut opened = ring.map(|r| r.opened()).unwrap_or_default();
    match super::param_defaults::render(shared, &action, &params, &mut validated, who).await {
        Ok(more) => opened.extend(more),
        Err(e) => return failed(shared, enf, e.to_string(), None, now),
    }
    let (mut exec, secrets) = new_execution(
        shared,
        &action,
        validated,
        now,
        Some(rule.rule.pack()),
        &opened,
    );
    if !opened.is_empty() {
        shared.lock_masks().insert(exec.id, opened.into());
    }
    exec.enforcement = Some(enf.id);
    exec.event = Some(event.id);
    exec.rule = Some(rule.name.clone());
    exec.user = shared.config.system_user.clone();
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
    shared: &Arc<Shared>,
    found: Enforcement,
    item: Enforced,
) -> Result<Option<(ExecutionId, ExecutionStatus)>> {
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
    let created = match insert_execution(shared, &exec, None).await {
        Ok(status) => (exec.id, status),
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
                Some(e) => (e.id, e.status),
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
    let update = EnforcementUpdate::processed(created.0, shared.now());
    shared
        .store
        .update_enforcement(found.id, EnforcementStatus::Created, update)
        .await?;
    Ok(Some(created))
}
