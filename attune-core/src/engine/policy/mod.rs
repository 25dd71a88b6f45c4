//! Policies applied: the concurrency and rate-limit gate of the scheduling stage, the
//! executions waiting for a time (a retry's delay), and retries (`retry.rs`).
//!
//! The store holds the truth: an execution waiting for a slot or a time is `delayed` in
//! it, one holding a slot is `scheduled` or later and not finished. The gate's memory
//! ([`gate::ActionGate`]) is rebuilt from the store whenever the policies of an action
//! change and at [`Engine::recover`](crate::Engine::recover), so a restart keeps the queue
//! and its order (request order: execution ids are time-ordered).
//!
//! Every decision of the gate and the store change that records it happen under one lock,
//! so two stages never decide on a state the other is changing. While no action has a
//! gating policy and nothing waits for a time, the scheduling stage takes its fast path
//! (no store read, no lock but a shared one).

mod api;
mod cluster;
mod gate;
mod retry;

pub(crate) use cluster::run as run_leadership;

pub(crate) use retry::retry_ended;

use super::Shared;
use crate::model::{Execution, ExecutionId, ExecutionStatus};
use crate::store::{ExecutionChange, ExecutionFilter, Page, StoreExt};
use crate::transport::{Message, StatusChange, Topic};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use gate::{ActionGate, Rules, Verdict};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The statuses in which an execution holds a slot of its action's concurrency policies:
/// from `scheduled` until it ends (a paused workflow and a pending inquiry keep theirs).
const HOLDING: [ExecutionStatus; 6] = [
    ExecutionStatus::Scheduled,
    ExecutionStatus::Running,
    ExecutionStatus::Pending,
    ExecutionStatus::Pausing,
    ExecutionStatus::Paused,
    ExecutionStatus::Canceling,
];

/// The engine's policy gate (one per engine, in [`Shared`]).
#[derive(Debug, Default)]
pub(crate) struct PolicyGate {
    state: tokio::sync::Mutex<GateState>,
    /// Read by the scheduling stage's fast path for the length of its store call; written
    /// while the set of gated actions changes, so that no execution of a newly gated action
    /// is scheduled past the gate.
    mode: tokio::sync::RwLock<()>,
    /// Whether some action is gated or some execution waits for a time.
    engaged: AtomicBool,
    /// Wakes the timer task when the earliest time it waits for changed.
    wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct GateState {
    actions: HashMap<String, ActionGate>,
    /// The action of every execution an [`ActionGate`] tracks.
    owner: HashMap<ExecutionId, crate::model::Name>,
    /// Executions waiting for a time, by that time.
    sleeping: BTreeSet<(DateTime<Utc>, ExecutionId)>,
    /// The time and action of each execution waiting for a time.
    sleepers: HashMap<ExecutionId, (DateTime<Utc>, String)>,
    /// Actions with executions waiting for a rate window to move on, and when it does.
    windows: HashMap<String, DateTime<Utc>>,
    /// Another process decides for the gated actions (`cluster.rs`): this one leaves their
    /// requests `delayed` for it and admits nothing of theirs.
    follower: bool,
}

/// Store changes the gate decided, recorded together.
#[derive(Default)]
struct Moves {
    /// To `scheduled`, from the status given.
    admit: Vec<(ExecutionId, ExecutionStatus)>,
    /// `requested` → `delayed`.
    delay: Vec<ExecutionId>,
    /// To `canceled` (from the status given), with the message.
    cancel: Vec<(ExecutionId, ExecutionStatus, String)>,
}

impl Moves {
    fn is_empty(&self) -> bool {
        self.admit.is_empty() && self.delay.is_empty() && self.cancel.is_empty()
    }
}

/// What to announce once the gate's lock is released.
#[derive(Default)]
struct Announce {
    scheduled: Vec<ExecutionId>,
    delayed: Vec<ExecutionId>,
    canceled: Vec<ExecutionId>,
}

impl PolicyGate {
    /// Whether the scheduling stage must ask the gate.
    pub(crate) fn engaged(&self) -> bool {
        self.engaged.load(Ordering::Acquire)
    }

    /// Held by the scheduling stage's fast path (see [`PolicyGate::mode`]).
    pub(crate) async fn fast_path(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        let guard = self.mode.read().await;
        (!self.engaged()).then_some(guard)
    }
}

impl PolicyGate {
    /// A gate that follows the decisions of another process until it leads
    /// (`EngineBuilder::policies_leader`).
    pub(crate) fn following() -> PolicyGate {
        let gate = PolicyGate::default();
        gate.state.try_lock().expect("a new gate is free").follower = true;
        gate
    }
}

impl GateState {
    fn update_engaged(&self, gate: &PolicyGate) {
        let on = !self.actions.is_empty() || !self.sleepers.is_empty();
        gate.engaged.store(on, Ordering::Release);
    }

    /// Decides for execution `e` (in `from`: `requested`, or `delayed` for a time that came).
    fn arrive(&mut self, e: &Execution, from: ExecutionStatus, now: DateTime<Utc>, m: &mut Moves) {
        if let Some(at) = e.run_after
            && at > now
        {
            self.sleep(e.id, at, &e.action);
            if from == ExecutionStatus::Requested {
                m.delay.push(e.id);
            }
            return;
        }
        let Some(g) = self.actions.get_mut(e.action.as_str()) else {
            m.admit.push((e.id, from));
            return;
        };
        if self.follower {
            // The leading process adopts it (`cluster::refresh`).
            if from == ExecutionStatus::Requested {
                m.delay.push(e.id);
            }
            return;
        }
        let keys = g.rules().keys(&e.params);
        match g.arrive(e.id, keys, now) {
            Verdict::Admit => {
                self.owner.insert(e.id, e.action.clone());
                m.admit.push((e.id, from));
            }
            Verdict::Delay => {
                // Waiting on a full rate window: the timer admits it when the window moves
                // on (a slot that frees admits it otherwise).
                if let Some(at) = g.next_window(now) {
                    self.windows.insert(e.action.to_string(), at);
                }
                self.owner.insert(e.id, e.action.clone());
                if from == ExecutionStatus::Requested {
                    m.delay.push(e.id);
                }
            }
            Verdict::Cancel(message) => m.cancel.push((e.id, from, message)),
        }
    }

    fn sleep(&mut self, id: ExecutionId, at: DateTime<Utc>, action: &str) {
        if self.sleepers.insert(id, (at, action.to_string())).is_none() {
            self.sleeping.insert((at, id));
        }
    }

    /// An execution left the gate (ended, or its change could not be recorded); the
    /// action whose slots it freed, if any.
    fn forget(&mut self, id: ExecutionId) -> Option<crate::model::Name> {
        if let Some((at, _)) = self.sleepers.remove(&id) {
            self.sleeping.remove(&(at, id));
        }
        let action = self.owner.remove(&id)?;
        let g = self.actions.get_mut(action.as_str())?;
        g.end(id).then_some(action)
    }

    /// Admits what waits for `action`'s slots (from `delayed`).
    fn pump(&mut self, action: &str, now: DateTime<Utc>, m: &mut Moves) {
        if self.follower {
            return;
        }
        let Some(g) = self.actions.get_mut(action) else {
            return;
        };
        let (admitted, window) = g.pump(now);
        m.admit.extend(
            admitted
                .into_iter()
                .map(|id| (id, ExecutionStatus::Delayed)),
        );
        match window {
            Some(at) => {
                self.windows.insert(action.to_string(), at);
            }
            None => {
                self.windows.remove(action);
            }
        }
    }

    /// The earliest time the timer task waits for.
    fn next_wake(&self) -> Option<DateTime<Utc>> {
        let sleeper = self.sleeping.first().map(|(t, _)| *t);
        let window = self.windows.values().min().copied();
        match (sleeper, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Records `m` in the store with one call; what could not be recorded leaves the gate
    /// and frees its slot for the next, recorded in turn. Returns what to announce.
    async fn record(&mut self, shared: &Shared, m: Moves, now: DateTime<Utc>) -> Announce {
        let mut out = Announce::default();
        self.record_into(shared, m, now, &mut out).await;
        out
    }

    async fn record_into(
        &mut self,
        shared: &Shared,
        mut m: Moves,
        now: DateTime<Utc>,
        out: &mut Announce,
    ) {
        for _ in 0..16 {
            if m.is_empty() {
                break;
            }
            let (changes, kinds) = m.changes(now);
            let results = shared.store.transition_executions(changes).await;
            m = self.take_results(kinds, results, now, out);
        }
    }

    /// Sorts the results of recorded moves into what to announce; what could not be
    /// recorded leaves the gate, and the moves its freed slots allow are returned.
    fn take_results(
        &mut self,
        kinds: Vec<(ExecutionId, ExecutionStatus)>,
        results: Vec<Result<()>>,
        now: DateTime<Utc>,
        out: &mut Announce,
    ) -> Moves {
        let mut next = Moves::default();
        let mut freed = HashSet::new();
        for ((id, to), r) in kinds.into_iter().zip(results) {
            match r {
                Ok(()) => match to {
                    ExecutionStatus::Scheduled => out.scheduled.push(id),
                    ExecutionStatus::Delayed => out.delayed.push(id),
                    _ => out.canceled.push(id),
                },
                Err(e) => {
                    // Canceled meanwhile, or moved by someone else: it leaves the gate.
                    if !matches!(e, Error::Conflict(_)) {
                        tracing::error!(execution.id = %id, error = %e, "policy decision not recorded");
                    }
                    if let Some(action) = self.forget(id) {
                        freed.insert(action);
                    }
                }
            }
        }
        for action in freed {
            self.pump(&action, now, &mut next);
        }
        next
    }
}

impl Moves {
    /// The store changes of these moves, and what each one is.
    #[allow(clippy::type_complexity)]
    fn changes(
        &self,
        now: DateTime<Utc>,
    ) -> (
        Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
        Vec<(ExecutionId, ExecutionStatus)>,
    ) {
        let mut changes = Vec::new();
        let mut kinds = Vec::new();
        for (id, from) in &self.admit {
            changes.push((
                *id,
                *from,
                ExecutionChange::to(ExecutionStatus::Scheduled, now),
            ));
            kinds.push((*id, ExecutionStatus::Scheduled));
        }
        for id in &self.delay {
            changes.push((
                *id,
                ExecutionStatus::Requested,
                ExecutionChange::to(ExecutionStatus::Delayed, now),
            ));
            kinds.push((*id, ExecutionStatus::Delayed));
        }
        for (id, from, message) in &self.cancel {
            changes.push((
                *id,
                *from,
                ExecutionChange::to(ExecutionStatus::Canceled, now).error(message.clone()),
            ));
            kinds.push((*id, ExecutionStatus::Canceled));
        }
        (changes, kinds)
    }
}

/// The running stage's part: records the outcomes of runs (`outcomes`, their changes from
/// `running`) together with the admissions the slots they free allow, in one store call,
/// and returns the outcomes' results in order. A run whose outcome could not be recorded
/// from `running` ended otherwise (canceled, or paused then ended), so its slot is freed
/// all the same.
pub(crate) async fn record_outcomes(
    shared: &Shared,
    outcomes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
) -> Vec<Result<()>> {
    let gate = &shared.gate;
    if !gate.engaged() {
        return shared.store.transition_executions(outcomes).await;
    }
    let mut st = gate.state.lock().await;
    let now = shared.now();
    let mut freed = HashSet::new();
    // A run that waits for an answer (pending) keeps its slot.
    for (id, _, change) in &outcomes {
        if change.to.is_terminal()
            && let Some(action) = st.forget(*id)
        {
            freed.insert(action);
        }
    }
    let mut m = Moves::default();
    for action in freed {
        st.pump(&action, now, &mut m);
    }
    if m.is_empty() {
        st.update_engaged(gate);
        drop(st);
        return shared.store.transition_executions(outcomes).await;
    }
    let n = outcomes.len();
    let (changes, kinds) = m.changes(now);
    let mut all = outcomes;
    all.extend(changes);
    let mut results = shared.store.transition_executions(all).await;
    let admitted = results.split_off(n);
    let mut out = Announce::default();
    let next = st.take_results(kinds, admitted, now, &mut out);
    st.record_into(shared, next, now, &mut out).await;
    st.update_engaged(gate);
    drop(st);
    gate.wake.notify_one();
    announce(shared, out).await;
    results
}

/// Records `m` in the store, then, the gate's lock released, wakes the timer task (the
/// earliest time may have changed) and announces the decisions.
async fn apply(
    shared: &Shared,
    mut st: tokio::sync::MutexGuard<'_, GateState>,
    m: Moves,
    now: DateTime<Utc>,
) {
    let a = st.record(shared, m, now).await;
    st.update_engaged(&shared.gate);
    drop(st);
    shared.gate.wake.notify_one();
    announce(shared, a).await;
}

/// Announces the gate's decisions: statuses, the hand-off of scheduled executions to the
/// running stage, and the end of canceled ones to the completion stage.
async fn announce(shared: &Shared, a: Announce) {
    if !a.delayed.is_empty() {
        shared
            .publish_status(a.delayed.iter().map(|id| (*id, ExecutionStatus::Delayed)))
            .await;
    }
    if !a.scheduled.is_empty() {
        shared
            .publish_status(
                a.scheduled
                    .iter()
                    .map(|id| (*id, ExecutionStatus::Scheduled)),
            )
            .await;
        let msgs: Vec<Message> = a
            .scheduled
            .iter()
            .map(|id| Message::Scheduled(*id))
            .collect();
        if let Err(e) = shared.hand_on(Topic::Scheduled, &msgs).await {
            tracing::error!(error = %e, "scheduled executions not published; the recovery sweep hands them on later");
        }
    }
    if !a.canceled.is_empty() {
        let msgs: Vec<Message> = a
            .canceled
            .iter()
            .map(|id| {
                Message::Finished(StatusChange {
                    execution: *id,
                    status: ExecutionStatus::Canceled,
                })
            })
            .collect();
        if let Err(e) = shared.hand_on(Topic::Finished, &msgs).await {
            tracing::error!(error = %e, "canceled executions not announced");
        }
    }
}

/// The scheduling stage while the gate is engaged: each `requested` execution of `ids` is
/// admitted (`scheduled`), held (`delayed`) or canceled, in id order.
pub(crate) async fn schedule(shared: &Arc<Shared>, mut ids: Vec<ExecutionId>) {
    ids.sort_unstable();
    ids.dedup();
    let gate = &shared.gate;
    let mut st = gate.state.lock().await;
    let now = shared.now();
    let mut m = Moves::default();
    for id in ids {
        match shared.store.get_execution(id).await {
            Ok(e) if e.status == ExecutionStatus::Requested => {
                st.arrive(&e, ExecutionStatus::Requested, now, &mut m);
            }
            // Canceled meanwhile, or a redelivery.
            Ok(_) => {}
            Err(e) => tracing::error!(execution.id = %id, error = %e, "not scheduled"),
        }
    }
    apply(shared, st, m, now).await;
}

/// The completion stage's part: executions that ended free their slots (or their place in
/// a queue), and what waited for those slots is admitted.
pub(crate) async fn ended(shared: &Arc<Shared>, done: &[StatusChange]) {
    let gate = &shared.gate;
    if !gate.engaged() {
        return;
    }
    let mut st = gate.state.lock().await;
    let now = shared.now();
    let mut freed = HashSet::new();
    for c in done {
        if let Some(action) = st.forget(c.execution) {
            freed.insert(action);
        }
    }
    if freed.is_empty() {
        st.update_engaged(gate);
        return;
    }
    let mut m = Moves::default();
    for action in freed {
        st.pump(&action, now, &mut m);
    }
    apply(shared, st, m, now).await;
}

/// Applies the current policies of `action` (after a change): its gate is rebuilt from
/// the store, and what waits is admitted as the new limits allow (all of it when no gating
/// policy is left).
pub(crate) async fn configure(shared: &Arc<Shared>, action: &str) -> Result<()> {
    rebuild(shared, action, true).await
}

/// Rebuilds the gate of `action` from the store; `hand_on`: and admits what waits (not
/// at build: the host registers its actions first, then calls `recover`).
pub(crate) async fn rebuild(shared: &Arc<Shared>, action: &str, hand_on: bool) -> Result<()> {
    let gate = &shared.gate;
    let _exclusive = gate.mode.write().await;
    let mut st = gate.state.lock().await;
    let now = shared.now();
    // What the policies decided since the engine started outlives a change of them.
    let mut totals = gate::Totals::default();
    if let Some(old) = st.actions.remove(action) {
        totals = old.totals;
        let ids: Vec<ExecutionId> = old.tracked().collect();
        for id in ids {
            st.owner.remove(&id);
        }
    }
    st.windows.remove(action);
    let rules = Rules::of(shared.catalog.policies_for(action).iter().map(|p| &**p));
    let mut m = Moves::default();
    // With gating policies, the gate of the action holds what waits for a slot; without,
    // it is admitted (when handing on).
    let mut gated = None;
    if !rules.is_empty() {
        let mut g = ActionGate::new(rules);
        g.totals = totals;
        for e in list(shared, action, &HOLDING).await? {
            let keys = g.rules().keys(&e.params);
            g.restore_active(e.id, keys, e.started.unwrap_or(e.updated), now);
        }
        restore_windows(shared, action, &mut g, now).await?;
        gated = Some(g);
    }
    if gated.is_some() || hand_on {
        for e in list(shared, action, &[ExecutionStatus::Delayed]).await? {
            match (e.run_after, &mut gated) {
                (Some(at), _) if at > now => st.sleep(e.id, at, action),
                _ if st.sleepers.contains_key(&e.id) => {}
                (_, Some(g)) => {
                    let keys = g.rules().keys(&e.params);
                    g.restore_waiting(e.id, keys, e.updated);
                }
                (_, None) => m.admit.push((e.id, ExecutionStatus::Delayed)),
            }
        }
    }
    if let Some(g) = gated {
        let tracked: Vec<ExecutionId> = g.tracked().collect();
        for id in tracked {
            st.owner.insert(id, crate::model::Name::from(action));
        }
        st.actions.insert(action.to_string(), g);
        if hand_on {
            st.pump(action, now, &mut m);
        }
    }
    apply(shared, st, m, now).await;
    Ok(())
}

/// Counts the recent admissions of `action` that ended in its rate windows (those created
/// within the longest window and no longer waiting).
async fn restore_windows(
    shared: &Shared,
    action: &str,
    g: &mut ActionGate,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(window) = g.rules().longest_window() else {
        return Ok(());
    };
    let filter = ExecutionFilter::new()
        .action(action)
        .with_status(ExecutionStatus::ALL.into_iter().filter(|s| s.is_terminal()))
        .since(now - window);
    for e in list_filtered(shared, &filter).await? {
        if let Some(started) = e.started {
            g.restore_start(started, now);
        }
    }
    Ok(())
}

/// Hands on what waited in the store when the engine started (see
/// [`Engine::recover`](crate::Engine::recover)): the gates of actions with policies are
/// rebuilt, executions waiting for a time wait for it again, and those an action without
/// policies left waiting are scheduled.
pub(crate) async fn restore(shared: &Arc<Shared>) -> Result<usize> {
    let filter = ExecutionFilter::new().status(ExecutionStatus::Delayed);
    let rows = list_filtered(shared, &filter).await?;
    let found = rows.len();
    for e in &rows {
        // Handed on: this engine's pending work until it ends.
        shared.pending.add_execution(e.id);
    }
    for a in shared.catalog.policy_actions() {
        configure(shared, &a).await?;
    }
    let gate = &shared.gate;
    let mut st = gate.state.lock().await;
    let now = shared.now();
    let mut m = Moves::default();
    for e in rows {
        // Tracked by its action's gate (admitted meanwhile, or waiting), or sleeping.
        if st.owner.contains_key(&e.id) || st.sleepers.contains_key(&e.id) {
            continue;
        }
        st.arrive(&e, ExecutionStatus::Delayed, now, &mut m);
    }
    apply(shared, st, m, now).await;
    Ok(found)
}

/// Holds execution `id` (stored `delayed`) until `at`, then lets it through the gate.
pub(crate) async fn sleep_until(shared: &Shared, id: ExecutionId, at: DateTime<Utc>, action: &str) {
    let gate = &shared.gate;
    let mut st = gate.state.lock().await;
    st.sleep(id, at, action);
    st.update_engaged(gate);
    drop(st);
    gate.wake.notify_one();
}

/// The timer task: lets executions whose time came through the gate, and admits what
/// waited for a rate window that moved on.
pub(crate) async fn run_timers(shared: Arc<Shared>) {
    let gate = &shared.gate;
    loop {
        let next = gate.state.lock().await.next_wake();
        let wait = match next {
            Some(at) => (at - shared.now()).to_std().unwrap_or_default(),
            None => std::time::Duration::from_secs(3600),
        };
        tokio::select! {
            () = shared.stop.cancelled() => return,
            () = gate.wake.notified() => continue,
            () = tokio::time::sleep(wait) => {}
        }
        if let Err(e) = wake_due(&shared).await {
            tracing::warn!(error = %e, "policy timers: {e}");
        }
    }
}

async fn wake_due(shared: &Arc<Shared>) -> Result<()> {
    let gate = &shared.gate;
    let mut st = gate.state.lock().await;
    let now = shared.now();
    let mut m = Moves::default();
    let due: Vec<(DateTime<Utc>, ExecutionId)> = st
        .sleeping
        .iter()
        .take_while(|(t, _)| *t <= now)
        .copied()
        .collect();
    for (at, id) in due {
        st.sleeping.remove(&(at, id));
        st.sleepers.remove(&id);
        match shared.store.get_execution(id).await {
            Ok(e) if e.status == ExecutionStatus::Delayed => {
                st.arrive(&e, ExecutionStatus::Delayed, now, &mut m);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(execution.id = %id, error = %e, "delayed execution not read"),
        }
    }
    let windows: Vec<String> = st
        .windows
        .iter()
        .filter(|(_, t)| **t <= now)
        .map(|(a, _)| a.clone())
        .collect();
    for a in windows {
        st.windows.remove(&a);
        st.pump(&a, now, &mut m);
    }
    let a = st.record(shared, m, now).await;
    st.update_engaged(gate);
    drop(st);
    announce(shared, a).await;
    Ok(())
}

/// An action's queue: how many wait and hold a slot, its limit, how long the oldest has
/// waited, and what its policies decided since the engine started.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct QueueStats {
    /// The action.
    pub action: String,
    /// Executions waiting (`delayed`) for a slot, a rate window or a retry's time.
    pub queued: u64,
    /// Executions holding a slot (scheduled, running, pending, pausing, paused, canceling).
    pub running: u64,
    /// The smallest concurrency limit of its enabled policies, if any.
    pub limit: Option<u32>,
    /// How long the oldest waiting execution has waited, in seconds.
    pub oldest_wait_secs: Option<f64>,
    /// Since the engine started: executions its policies admitted at once or after a
    /// wait.
    pub admitted: u64,
    /// Since the engine started: executions that had to wait.
    pub delayed: u64,
    /// Since the engine started: executions canceled by a policy.
    pub canceled: u64,
}

/// The queue statistics of `action`: from the gate when the action is gated, else from
/// the store.
pub(crate) async fn stats(shared: &Shared, action: &str) -> Result<QueueStats> {
    let now = shared.now();
    {
        let st = shared.gate.state.lock().await;
        if let Some(g) = st.actions.get(action) {
            let (gated, oldest) = g.queued();
            let sleeping = st.sleepers.values().filter(|(_, a)| a == action).count();
            return Ok(QueueStats {
                action: action.to_string(),
                queued: (gated + sleeping) as u64,
                running: g.active() as u64,
                limit: g.rules().limit(),
                oldest_wait_secs: oldest.map(|t| secs(now - t)),
                admitted: g.totals.admitted,
                delayed: g.totals.delayed,
                canceled: g.totals.canceled,
            });
        }
    }
    let store = &shared.store;
    let queued = store
        .count_executions(
            &ExecutionFilter::new()
                .action(action)
                .status(ExecutionStatus::Delayed),
        )
        .await?;
    let running = store
        .count_executions(&ExecutionFilter::new().action(action).with_status(HOLDING))
        .await?;
    let oldest = store
        .list_executions(
            &ExecutionFilter::new()
                .action(action)
                .status(ExecutionStatus::Delayed),
            &Page::first(1),
        )
        .await?
        .first()
        .map(|e| secs(now - e.updated));
    let limit = Rules::of(shared.catalog.policies_for(action).iter().map(|p| &**p)).limit();
    Ok(QueueStats {
        action: action.to_string(),
        queued,
        running,
        limit,
        oldest_wait_secs: oldest,
        admitted: 0,
        delayed: 0,
        canceled: 0,
    })
}

fn secs(d: chrono::Duration) -> f64 {
    d.to_std().map_or(0.0, |d| d.as_secs_f64())
}

/// Every execution of `action` in `statuses`, in id order.
async fn list(
    shared: &Shared,
    action: &str,
    statuses: &[ExecutionStatus],
) -> Result<Vec<Execution>> {
    let filter = ExecutionFilter::new()
        .action(action)
        .with_status(statuses.iter().copied());
    list_filtered(shared, &filter).await
}

async fn list_filtered(shared: &Shared, filter: &ExecutionFilter) -> Result<Vec<Execution>> {
    let mut out = Vec::new();
    shared
        .store
        .each_execution(filter, &mut |e| out.push(e.clone()))
        .await?;
    Ok(out)
}
