//! The running stage: claim scheduled executions, run them on their runtime within the worker
//! slots, enforce timeouts and cancels, persist the outcome.

use super::Shared;
use crate::model::{Execution, ExecutionId, ExecutionStatus};
use crate::runtime::{LogSink, RunOutput, RunRequest};
use crate::store::ExecutionChange;
use crate::transport::{Message, StatusChange, Topic};
use crate::{Error, Result};
use futures::FutureExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The running stage's slots: the engine's worker slots, and a lane per runtime with a
/// concurrency limit of its own ([`Runtime::max_concurrency`](crate::runtime::Runtime)).
#[derive(Debug)]
pub(crate) struct Slots {
    global: Arc<Semaphore>,
    lanes: HashMap<String, mpsc::UnboundedSender<ExecutionId>>,
}

impl Slots {
    /// Worker slots, and a lane task per limited runtime (returned to be kept with the
    /// stage tasks).
    pub(super) fn start(shared: &Arc<Shared>) -> (Arc<Slots>, Vec<tokio::task::JoinHandle<()>>) {
        let global = Arc::new(Semaphore::new(shared.config.worker_slots));
        let mut lanes = HashMap::new();
        let mut tasks = Vec::new();
        for (name, rt) in &shared.runtimes {
            if let Some(limit) = rt.max_concurrency() {
                let (tx, rx) = mpsc::unbounded_channel();
                lanes.insert(name.clone(), tx);
                let limit = Arc::new(Semaphore::new(limit.max(1)));
                tasks.push(tokio::spawn(lane(
                    shared.clone(),
                    global.clone(),
                    limit,
                    rx,
                )));
            }
        }
        (Arc::new(Slots { global, lanes }), tasks)
    }
}

/// A slot taken, and the run registered, for an execution the matching stage is about to
/// store already claimed by this process ([`claim_at_creation`]).
#[derive(Debug)]
pub(crate) struct ClaimedHere {
    held: Held,
    token: CancellationToken,
}

/// Claims `exec`, about to be stored, for this process when it can run it at once: on a
/// durable store no other process claims from, with the work role, for a runtime that uses
/// a worker slot and has no lane of its own, while a slot is free and runs are starting.
/// The execution is then stored `running` under this worker's claim (no `scheduled` row,
/// no claim update, no hand-off through the transport) and started by [`start_claimed`]
/// once stored — or forgotten by [`forget_claimed`] when it was not. `None` (nothing
/// changed) otherwise. Not on an in-memory store: there a claim is cheap, and the running
/// stage claiming and starting runs beside the matching stage is faster than the matching
/// stage doing both. A slot that frees while the running stage is between batches may so
/// go to a new execution before older `scheduled` ones waiting for one (they keep their
/// order among themselves).
pub(crate) fn claim_at_creation(shared: &Shared, exec: &mut Execution) -> Option<ClaimedHere> {
    let slots = shared.slots.get()?;
    let caps = shared.store.capabilities();
    if !caps.durable || caps.shared || shared.stop_starting.load(Ordering::SeqCst) {
        return None;
    }
    let runtime = shared.runtimes.get(exec.runner.as_str())?;
    if !runtime.uses_worker_slot() || slots.lanes.contains_key(exec.runner.as_str()) {
        return None;
    }
    let permit = slots.global.clone().try_acquire_owned().ok()?;
    let token = CancellationToken::new();
    if !register(&mut shared.lock_running(), exec.id, &token) {
        return None;
    }
    shared.claim().apply_to(exec);
    Some(ClaimedHere {
        held: Held {
            _slot: permit,
            _lane: None,
        },
        token,
    })
}

/// Registers the run of `id` under `token` in the map of runs in this process (the
/// engine's `running`); false, and nothing changed, when `id` runs here already (a
/// redelivery).
fn register(
    running: &mut HashMap<ExecutionId, CancellationToken>,
    id: ExecutionId,
    token: &CancellationToken,
) -> bool {
    match running.entry(id) {
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(token.clone());
            true
        }
        std::collections::hash_map::Entry::Occupied(_) => false,
    }
}

/// Undoes what [`claim_at_creation`] set on `exec` (not stored under that claim): back to
/// `scheduled`, with no worker, lease or start.
pub(crate) fn unclaim(exec: &mut Execution) {
    exec.status = ExecutionStatus::Scheduled;
    exec.worker = None;
    exec.lease_expires = None;
    exec.started = None;
}

/// Forgets the claim of an execution [`claim_at_creation`] claimed that was not stored:
/// frees its slot, and nothing runs it here.
pub(crate) fn forget_claimed(shared: &Shared, id: ExecutionId, c: ClaimedHere) {
    shared.lock_running().remove(&id);
    drop(c);
}

/// Starts the run of an execution [`claim_at_creation`] claimed, once it is stored and its
/// `running` announced.
pub(crate) fn start_claimed(shared: &Arc<Shared>, exec: Execution, c: ClaimedHere) {
    spawn_run(
        shared,
        Start {
            exec,
            token: c.token,
            permit: c.held,
        },
    );
}

/// Permits held by a run: a worker slot, and its runtime's lane permit when it has one.
#[derive(Debug)]
struct Held {
    _slot: OwnedSemaphorePermit,
    _lane: Option<OwnedSemaphorePermit>,
}

/// Processes a batch of `Scheduled` messages: claims each (in order, waiting for a free
/// slot) and starts its run. `running` is announced before the run starts, so that no later
/// status of the execution is announced before it. Executions of a runtime with a lane go to
/// their lane, which starts them in order as that runtime's runs end (they stay `scheduled`
/// meanwhile).
pub(crate) async fn handle(shared: &Arc<Shared>, slots: &Arc<Slots>, ids: Vec<ExecutionId>) {
    if !super::followed_definitions::follow_or_log(shared, "running").await {
        // They stay scheduled: the recovery sweep announces them again.
        return;
    }
    let ids = if slots.lanes.is_empty() {
        ids
    } else {
        route(shared, slots, ids).await
    };
    let mut holding: Vec<Holding> = Vec::with_capacity(ids.len());
    for id in ids {
        if shared.stop_starting.load(Ordering::SeqCst) {
            break;
        }
        let permit = match slots.global.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Start what holds a slot before waiting for one.
                claim_and_start(shared, std::mem::take(&mut holding)).await;
                match slots.global.clone().acquire_owned().await {
                    Ok(p) if !shared.stop_starting.load(Ordering::SeqCst) => p,
                    _ => return,
                }
            }
        };
        let held = Held {
            _slot: permit,
            _lane: None,
        };
        holding.push((id, held, CancellationToken::new()));
    }
    claim_and_start(shared, holding).await;
}

/// An execution to claim, with the slot it holds and the token of its run.
type Holding = (ExecutionId, Held, CancellationToken);

/// Claims these executions with one store call (a durable store commits the claims
/// together), then starts the claimed ones in their order.
async fn claim_and_start(shared: &Arc<Shared>, mut holding: Vec<Holding>) {
    if holding.is_empty() {
        return;
    }
    {
        let mut running = shared.lock_running();
        holding.retain(|(id, _, token)| register(&mut running, *id, token));
    }
    let ids: Vec<ExecutionId> = holding.iter().map(|(id, _, _)| *id).collect();
    let claimed = if holds_params(shared, &ids) {
        shared
            .store
            .claim_executions_holding_params(&ids, &shared.claim())
            .await
    } else {
        shared.store.claim_executions(&ids, &shared.claim()).await
    };
    drop(ids);
    // What the claim did not get is forgotten first (a redelivery of it is then claimed
    // again instead of taken for a run in progress here).
    for ((id, _, _), r) in holding.iter().zip(&claimed) {
        if !matches!(r, Ok(Some(_))) {
            forget_unclaimed(shared, *id, r);
        }
    }
    shared
        .publish_status(
            holding
                .iter()
                .zip(&claimed)
                .filter(|(_, r)| matches!(r, Ok(Some(_))))
                .map(|((id, _, _), _)| (*id, ExecutionStatus::Running)),
        )
        .await;
    for ((_, held, token), r) in holding.into_iter().zip(claimed) {
        // The others' slots are freed here.
        if let Ok(Some(exec)) = r {
            spawn_run(
                shared,
                Start {
                    exec,
                    token,
                    permit: held,
                },
            );
        }
    }
}

/// Sends the executions of laned runtimes to their lane; returns the others, in order.
async fn route(shared: &Shared, slots: &Slots, ids: Vec<ExecutionId>) -> Vec<ExecutionId> {
    let mut rest = Vec::with_capacity(ids.len());
    // One light read for the batch: a durable store's reads hop to another thread.
    let read = shared.store.get_execution_heads(&ids).await;
    for (id, r) in ids.into_iter().zip(read) {
        match r {
            Ok(e) if e.status == ExecutionStatus::Scheduled => {
                match slots.lanes.get(e.runner.as_str()) {
                    Some(lane) => {
                        let _ = lane.send(id);
                    }
                    None => rest.push(id),
                }
            }
            // Not claimable, or unreadable: the claim decides and reports.
            _ => rest.push(id),
        }
    }
    rest
}

/// One runtime's lane: takes its executions in order, waits for a permit of the runtime and
/// a worker slot, then claims and starts each.
async fn lane(
    shared: Arc<Shared>,
    global: Arc<Semaphore>,
    limit: Arc<Semaphore>,
    mut rx: mpsc::UnboundedReceiver<ExecutionId>,
) {
    loop {
        let id = tokio::select! {
            id = rx.recv() => match id { Some(id) => id, None => return },
            () = shared.stop.cancelled() => return,
        };
        let permits = async {
            let lane = limit.clone().acquire_owned().await.ok()?;
            let slot = global.clone().acquire_owned().await.ok()?;
            Some((slot, lane))
        };
        let (slot, lane) = tokio::select! {
            p = permits => match p { Some(p) => p, None => return },
            () = shared.stop.cancelled() => return,
        };
        if shared.stop_starting.load(Ordering::SeqCst) {
            return;
        }
        let held = Held {
            _slot: slot,
            _lane: Some(lane),
        };
        let started: Vec<Start> = claim_one(&shared, id, held).await.into_iter().collect();
        start(&shared, started).await;
    }
}

/// Claims one execution for this worker; `None` when it is not claimable here.
async fn claim_one(shared: &Arc<Shared>, id: ExecutionId, held: Held) -> Option<Start> {
    let token = CancellationToken::new();
    if !register(&mut shared.lock_running(), id, &token) {
        return None;
    }
    let claim = shared.claim();
    let r = if holds_params(shared, &[id]) {
        let mut r = shared
            .store
            .claim_executions_holding_params(&[id], &claim)
            .await;
        r.pop().unwrap_or_else(|| {
            Err(Error::backend(
                "the store answered a claim of one execution with no result",
                false,
            ))
        })
    } else {
        shared.store.claim_execution(id, &claim).await
    };
    claimed_or_forgotten(shared, id, r, token, held)
}

/// Whether this process holds the params of every one of `ids` (made here by the matching
/// stage), so that their claim needs no copy of them from the store.
fn holds_params(shared: &Shared, ids: &[ExecutionId]) -> bool {
    let held = shared.lock_held_params();
    !held.is_empty() && ids.iter().all(|id| held.contains_key(id))
}

/// The execution to start when the claim got it; else it is forgotten here.
fn claimed_or_forgotten(
    shared: &Shared,
    id: ExecutionId,
    claim: Result<Option<Execution>>,
    token: CancellationToken,
    held: Held,
) -> Option<Start> {
    match claim {
        Ok(Some(exec)) => Some(Start {
            exec,
            token,
            permit: held,
        }),
        other => {
            forget_unclaimed(shared, id, &other);
            None
        }
    }
}

/// Forgets an execution whose claim did not get it (`claim` is not `Ok(Some(_))`): not
/// claimable (canceled, or run elsewhere), or the claim failed; nothing here will run it.
fn forget_unclaimed(shared: &Shared, id: ExecutionId, claim: &Result<Option<Execution>>) {
    shared.lock_running().remove(&id);
    shared.lock_held_params().remove(&id);
    match claim {
        Ok(Some(_)) => {}
        Ok(None) => {
            shared.lock_secrets().remove(&id);
        }
        Err(e) => tracing::error!(execution.id = %id, error = %e, "claim failed"),
    }
}

/// A claimed execution about to run.
struct Start {
    exec: Execution,
    token: CancellationToken,
    permit: Held,
}

async fn start(shared: &Arc<Shared>, batch: Vec<Start>) {
    if batch.is_empty() {
        return;
    }
    shared
        .publish_status(batch.iter().map(|s| (s.exec.id, ExecutionStatus::Running)))
        .await;
    for s in batch {
        spawn_run(shared, s);
    }
}

/// Starts the run of a claimed execution: in a task of its own, or, when its runtime
/// [starts inline](crate::runtime::Runtime::starts_inline), polled once here first and given
/// a task only if it did not end on that poll (most native runs end at once: no task, no
/// wake-up).
fn spawn_run(shared: &Arc<Shared>, s: Start) {
    let span =
        tracing::debug_span!("execution", execution.id = %s.exec.id, action = %s.exec.action);
    let runtime = shared.runtimes.get(s.exec.runner.as_str());
    // A runtime that only coordinates other executions gives its slot back at once.
    let permit = match runtime {
        Some(r) if !r.uses_worker_slot() => None,
        _ => Some(s.permit),
    };
    let inline = runtime.is_some_and(|r| r.starts_inline());
    let id = s.exec.id;
    let run = run_one(shared.clone(), s.exec, s.token, permit).instrument(span);
    if !inline {
        tokio::spawn(run);
        return;
    }
    let mut run = Box::pin(run);
    // The task it may get polls it again with its own waker: nothing is lost by this one.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.as_mut().poll(&mut cx))) {
        Ok(std::task::Poll::Ready(())) => {}
        Ok(std::task::Poll::Pending) => {
            tokio::spawn(run);
        }
        // The action's own panic fails its execution inside `run_one`; this is the engine's
        // (a bug), which a task of its own would have ended with, not the stage calling here.
        Err(_) => {
            tracing::error!(execution.id = %id, "a run panicked in the engine while it started")
        }
    }
}

/// Runs an execution taken over from a lost worker (a workflow run a restart interrupted)
/// in this process; false when it runs here already. A run taken over while `canceling`
/// is canceled at once.
pub(crate) fn run_taken_over(shared: &Arc<Shared>, exec: Execution) -> bool {
    let token = CancellationToken::new();
    if !register(&mut shared.lock_running(), exec.id, &token) {
        return false;
    }
    if exec.status == ExecutionStatus::Canceling {
        token.cancel();
    }
    shared.pending.add_execution(exec.id);
    let span = tracing::debug_span!("execution", execution.id = %exec.id, action = %exec.action);
    tokio::spawn(run_one(shared.clone(), exec, token, None).instrument(span));
    true
}

enum Ending {
    Done(Result<RunOutput>),
    TimedOut(Duration),
    Canceled,
}

/// Runs the execution on its runtime and hands its outcome on (masked with the run's
/// secret values). A run that reached its deadline or was canceled has its runtime told to
/// stop (its token canceled) and ends once it stopped; one that does not stop within
/// [`STOP_WAIT`] is recorded anyway and keeps its slot until it stops or the rest of the
/// cancel grace period passed. A workflow run instead ends once its tasks, canceled with
/// it, ended.
async fn run_one(
    shared: Arc<Shared>,
    exec: Execution,
    token: CancellationToken,
    permit: Option<Held>,
) {
    let id = exec.id;
    // A run without a worker slot (a workflow) may be paused while it runs.
    let workflow = permit.is_none();
    let mut secrets = Vec::new();
    let (runtime, request) = match prepare(&shared, exec, &token, &mut secrets) {
        Ok(prepared) => prepared,
        Err(e) => {
            let ending = Ending::Done(Err(e));
            return record(&shared, id, ending, &secrets, permit, workflow, false).await;
        }
    };
    let timeout = request.timeout;
    let coordinates = !runtime.uses_worker_slot();
    // A panicking runtime or action fails its execution instead of killing this task (which
    // would leave the execution `running` for ever).
    let fut = std::panic::AssertUnwindSafe(async move { runtime.run(request).await })
        .catch_unwind()
        .map(|r| {
            r.unwrap_or_else(|p| {
                Err(Error::Action(format!(
                    "the action panicked: {}",
                    panic_message(&*p)
                )))
            })
        });
    // Pinned in this task (no box of its own): a run still stopping when its end is
    // recorded is waited for here.
    let mut fut = std::pin::pin!(fut);
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let ending = tokio::select! {
        r = &mut fut => {
            return record(&shared, id, Ending::Done(r), &secrets, permit, workflow, false).await;
        }
        _ = deadline => Ending::TimedOut(timeout.unwrap_or_default()),
        _ = token.cancelled() => Ending::Canceled,
    };
    token.cancel();
    if coordinates {
        // A workflow ends once its tasks (canceled with it) ended, each within its grace.
        let _ = fut.await;
        return record(&shared, id, ending, &secrets, permit, workflow, false).await;
    }
    // A runtime that stops when told (a process runtime kills the action's processes) is
    // waited for, so that the recorded end comes after its processes are gone; one that
    // does not stop within STOP_WAIT is recorded anyway, and its slot is held until it
    // stops or the rest of the grace period passed.
    let grace = shared.config.cancel_grace;
    let first = grace.min(STOP_WAIT);
    if tokio::time::timeout(first, &mut fut).await.is_ok() {
        return record(&shared, id, ending, &secrets, permit, workflow, false).await;
    }
    // Recorded now; the run stays registered (so that a shutdown waits for it) and its
    // slot held until its runtime stopped.
    record(&shared, id, ending, &secrets, None, workflow, true).await;
    let _ = tokio::time::timeout(grace.saturating_sub(first), fut).await;
    shared.lock_running().remove(&id);
    drop(permit);
}

/// Hands the outcome of a run to be persisted (masked with `secrets`); `permit` is freed
/// once it is. `stopping`: its runtime has not stopped yet (the caller holds its slot and
/// keeps it registered until it has).
async fn record(
    shared: &Arc<Shared>,
    id: ExecutionId,
    ending: Ending,
    secrets: &[String],
    permit: Option<Held>,
    workflow: bool,
    stopping: bool,
) {
    let (to, mut change) = outcome(shared, ending);
    if !secrets.is_empty() {
        mask_change(&mut change, secrets);
    }
    let done = Finish {
        id,
        to,
        change,
        permit,
        workflow,
        stopping,
    };
    shared
        .finishing
        .submit(done, |batch| finish_batch(shared, batch))
        .await;
}

/// The outcome of a run, waiting to be persisted; its slot is held until then.
#[derive(Debug)]
pub(crate) struct Finish {
    id: ExecutionId,
    to: ExecutionStatus,
    change: ExecutionChange,
    permit: Option<Held>,
    /// A workflow run (it holds no worker slot): a pause may have moved it meanwhile.
    workflow: bool,
    /// Its runtime is still stopping: the run stays registered (and its slot held) until
    /// it has, so that a shutdown waits for it.
    stopping: bool,
}

/// Persists the outcomes of runs with one store call, then frees their slots and announces
/// them; gives the batch's vector back (emptied).
async fn finish_batch(shared: &Shared, mut batch: Vec<Finish>) -> Vec<Finish> {
    let changes = batch
        .iter_mut()
        .map(|f| {
            // Moved to the store call (what is left has no allocation of its own).
            let left = ExecutionChange::to(f.to, f.change.at);
            let change = std::mem::replace(&mut f.change, left);
            (f.id, ExecutionStatus::Running, change)
        })
        .collect::<Vec<_>>();
    // A run without a worker slot (a workflow) may have been paused meanwhile: its outcome
    // is then recorded from there, and needs its change again.
    let again: Vec<Option<ExecutionChange>> = if batch.iter().any(|f| f.workflow) {
        changes
            .iter()
            .zip(&batch)
            .map(|((_, _, c), f)| f.workflow.then(|| c.clone()))
            .collect()
    } else {
        Vec::new()
    };
    let results = record_outcomes(shared, changes).await;
    let mut pending = Vec::new();
    let mut again = again.into_iter();
    for (f, r) in batch.iter_mut().zip(results) {
        let (id, to) = (f.id, f.to);
        let status = match recorded(shared, id, to, again.next().flatten(), r).await {
            Some(s) => s,
            None => match shared.store.get_execution(id).await {
                Ok(e) => e.status,
                Err(_) => to,
            },
        };
        if !f.stopping {
            shared.lock_running().remove(&id);
        }
        drop(f.permit.take());
        // From here on: the status it ended in.
        f.to = status;
        if status == ExecutionStatus::Pending {
            // Waits for an answer: not finished (its end comes with the answer).
            pending.push(id);
        }
    }
    if !pending.is_empty() {
        super::inquiries::now_pending(shared, &pending).await;
    }
    let finished = super::Gathered::of(
        batch
            .iter()
            .filter(|f| f.to != ExecutionStatus::Pending)
            .map(|f| {
                Message::Finished(StatusChange {
                    execution: f.id,
                    status: f.to,
                })
            }),
    );
    if !finished.as_slice().is_empty()
        && let Err(e) = shared.hand_on(Topic::Finished, finished.as_slice()).await
    {
        tracing::error!(error = %e, "finished notifications not published");
    }
    batch.clear();
    batch
}

/// How often recording outcomes is tried when it fails for a transient reason.
const RECORD_ATTEMPTS: u32 = 6;

/// Records the outcomes of runs (with policies, the slots they free go to what waited, in
/// the same store call). An outcome whose recording failed for a transient reason (a lost
/// connection, a timeout) is tried again, backing off from 50 ms, [`RECORD_ATTEMPTS`]
/// times in all (about 3 s); what still fails is left to its lease's expiry, after which
/// the recovery sweep runs it again or ends it `abandoned`. (A store that never fails so
/// gets the outcomes without a copy kept.)
async fn record_outcomes(
    shared: &Shared,
    changes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
) -> Vec<Result<()>> {
    if shared.store.capabilities().never_transient {
        return super::policy::record_outcomes(shared, changes).await;
    }
    let mut results = super::policy::record_outcomes(shared, changes.clone()).await;
    let mut delay = Duration::from_millis(50);
    for _ in 1..RECORD_ATTEMPTS {
        let again: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(r, Err(e @ (Error::Backend { .. } | Error::Timeout(_))) if e.is_retryable())
            })
            .map(|(i, _)| i)
            .collect();
        if again.is_empty() {
            break;
        }
        tracing::warn!(
            runs = again.len(),
            ?delay,
            "recording outcomes failed; trying again"
        );
        tokio::time::sleep(delay).await;
        delay *= 2;
        let retry = again.iter().map(|&i| changes[i].clone()).collect();
        let redone = super::policy::record_outcomes(shared, retry).await;
        for (i, r) in again.into_iter().zip(redone) {
            results[i] = r;
        }
    }
    results
}

/// How long a run told to stop (deadline or cancel) may take before its end is recorded
/// without it; it keeps its worker slot for the rest of the cancel grace period.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// The runtime of `exec` and its request: the action as registered, the params with their
/// secret values (kept in this process since validation), the pack's directory and secret
/// config, the timeout. `secrets` receives every secret value of the run. An error when
/// the action or runtime is gone, or the secrets are not in this process.
fn prepare(
    shared: &Arc<Shared>,
    exec: Execution,
    token: &CancellationToken,
    secrets: &mut Vec<String>,
) -> Result<(Arc<dyn crate::runtime::Runtime>, RunRequest)> {
    let Some(action) = shared.catalog.action(&exec.action) else {
        shared.lock_secrets().remove(&exec.id);
        return Err(Error::not_found("action", &exec.action));
    };
    let Some(runtime) = shared.runtimes.get(exec.runner.as_str()).cloned() else {
        shared.lock_secrets().remove(&exec.id);
        return Err(Error::invalid(
            format!("execution '{}'", exec.id),
            format!("no runtime '{}' is registered in this engine", exec.runner),
        ));
    };
    let rule_pack = exec
        .rule
        .as_deref()
        .and_then(|r| r.split_once('.'))
        .map(|(p, _)| p);
    let super::catalog::RunInfo {
        secrets: pack_secrets,
        dir: pack_dir,
        config,
    } = shared.catalog.run_info(action.pack(), rule_pack);
    let masked = shared.lock_masks().contains_key(&exec.id);
    let mut secret_params = if action.parameters.has_secrets() || pack_secrets.is_some() || masked {
        // A retry of this run needs them again: the completion stage forgets them.
        if exec.parent.is_none() && shared.catalog.retry_policy(&exec.action).is_some() {
            shared.lock_secrets().get(&exec.id).cloned()
        } else {
            shared.lock_secrets().remove(&exec.id)
        }
    } else {
        None
    };
    // Created in another process: its secret values, if any, are sealed in it.
    if secret_params.is_none()
        && let Some(opened) = super::sealed_params::open(shared, &exec)?
    {
        secrets.extend(opened.masks);
        secret_params = Some(opened.params);
    }
    if let Some(ps) = &pack_secrets {
        secrets.extend(ps.iter().cloned());
    }
    if let Some(m) = shared.lock_masks().get(&exec.id) {
        secrets.extend(m.iter().cloned());
    }
    let params = match secret_params {
        Some(p) => {
            secrets.extend(action.parameters.secret_values(&p));
            p
        }
        None if action.parameters.has_secrets() && crate::params::holds_redacted(&exec.params) => {
            return Err(Error::invalid(
                format!("execution '{}'", exec.id),
                "its secret parameter values are not available in this process: they stay in \
                 the process that created it (secrets are never stored in clear), whose engine \
                 had no encryption key to seal them for the others — give every process of the \
                 cluster the same encryption key",
            ));
        }
        None if (pack_secrets.is_some() || masked)
            && crate::params::holds_redacted(&exec.params) =>
        {
            return Err(Error::invalid(
                format!("execution '{}'", exec.id),
                "its params were stored with secret config values redacted, and the real \
                 values are not available in this process (secrets are never stored)",
            ));
        }
        // Held here since matching (the claim then left them out), or as stored.
        None => match shared.lock_held_params().remove(&exec.id) {
            Some(m) => m,
            None => match exec.params {
                Value::Object(m) => m,
                _ => Default::default(),
            },
        },
    };
    let timeout = exec
        .timeout_secs
        .and_then(|s| Duration::try_from_secs_f64(s).ok());
    let secret_list: Arc<[String]> = if secrets.is_empty() {
        shared.no_secrets.clone()
    } else {
        secrets.clone().into()
    };
    // Without a user, the `user` scope of the key store says so when asked.
    let keys = runtime.uses_keys().then(|| {
        Arc::new(super::run_keys::RunKeys {
            shared: shared.clone(),
            action: action.clone(),
            execution: exec.id,
            user: exec.user.clone(),
        }) as Arc<dyn crate::runtime::KeyAccess>
    });
    let request = RunRequest {
        execution_id: exec.id,
        keys,
        config,
        action,
        params,
        timeout,
        cancel: token.clone(),
        log: LogSink::new(exec.id, shared.logs.clone()).with_secrets(secret_list.clone()),
        pack_dir,
        secrets: secret_list,
        user: exec.user.clone(),
    };
    Ok((runtime, request))
}

/// Masks secret values wherever an outcome could echo them (invariant 5).
fn mask_change(change: &mut ExecutionChange, secrets: &[String]) {
    if let Some(r) = &mut change.result {
        crate::params::mask_value(r, secrets);
    }
    for text in [&mut change.error, &mut change.stdout, &mut change.stderr]
        .into_iter()
        .flatten()
    {
        *text = crate::params::mask_secrets(text, secrets);
    }
}

fn outcome(shared: &Shared, ending: Ending) -> (ExecutionStatus, ExecutionChange) {
    let now = shared.now();
    match ending {
        Ending::Done(Ok(out)) if out.pending => (
            ExecutionStatus::Pending,
            ExecutionChange::to(ExecutionStatus::Pending, now).result(out.result),
        ),
        Ending::Done(Ok(out)) => {
            let to = if out.timed_out {
                ExecutionStatus::Timeout
            } else if out.succeeded {
                ExecutionStatus::Succeeded
            } else {
                ExecutionStatus::Failed
            };
            // Stored, a deeper result would not read back whole; walked, it could exhaust
            // a stack: the execution fails (its output kept).
            let (to, mut c) = match crate::input::within_depth(out.result, || {
                "the action's result".to_string()
            }) {
                Ok(result) => {
                    let mut c = ExecutionChange::to(to, now).result(result);
                    if let Some(e) = out.error {
                        c = c.error(e);
                    }
                    (to, c)
                }
                Err(e) => {
                    let msg = e.to_string();
                    let to = ExecutionStatus::Failed;
                    (
                        to,
                        ExecutionChange::to(to, now)
                            .result(json!({ "error": msg }))
                            .error(msg),
                    )
                }
            };
            if !out.stdout.is_empty() {
                c.stdout = Some(out.stdout);
            }
            if !out.stderr.is_empty() {
                c.stderr = Some(out.stderr);
            }
            (to, c)
        }
        Ending::Done(Err(e)) => {
            // A runtime that stopped the action at its own deadline (a `timeout` param)
            // reports Error::Timeout: the execution timed out.
            // A workflow whose task was canceled reports Error::Canceled: it was canceled.
            let to = match e {
                Error::Timeout(_) => ExecutionStatus::Timeout,
                Error::Canceled(_) => ExecutionStatus::Canceled,
                _ => ExecutionStatus::Failed,
            };
            let msg = e.to_string();
            let c = ExecutionChange::to(to, now)
                .result(json!({ "error": msg }))
                .error(msg);
            (to, c)
        }
        Ending::TimedOut(t) => {
            let msg = format!("timed out after {:.3} s", t.as_secs_f64());
            (
                ExecutionStatus::Timeout,
                ExecutionChange::to(ExecutionStatus::Timeout, now).error(msg),
            )
        }
        Ending::Canceled => (
            ExecutionStatus::Canceled,
            ExecutionChange::to(ExecutionStatus::Canceled, now).error("canceled by request"),
        ),
    }
}

/// What `running → to` gave (`first`): the status recorded; when a cancel moved the
/// execution to `canceling` meanwhile, records `canceling → canceled`; when a pause moved a
/// workflow to `pausing` or `paused`, records `again` from there. `None` when the execution
/// was finished by someone else.
async fn recorded(
    shared: &Shared,
    id: ExecutionId,
    to: ExecutionStatus,
    again: Option<ExecutionChange>,
    first: Result<()>,
) -> Option<ExecutionStatus> {
    match first {
        Ok(()) => Some(to),
        Err(Error::Conflict(_)) => {
            // A workflow that ended while pausing (or taken over paused) ends from there.
            let now = shared.now();
            let status = match &again {
                Some(_) => shared.store.get_execution(id).await.map(|e| e.status).ok(),
                None => None,
            };
            let (from, c) = match (status, again) {
                (Some(s @ (ExecutionStatus::Pausing | ExecutionStatus::Paused)), Some(c))
                    if to != ExecutionStatus::Canceled =>
                {
                    (s, c)
                }
                _ => (
                    ExecutionStatus::Canceling,
                    ExecutionChange::to(ExecutionStatus::Canceled, now)
                        .error("canceled by request"),
                ),
            };
            let to = c.to;
            match shared.store.transition_execution(id, from, c).await {
                Ok(_) => Some(to),
                Err(e) => {
                    tracing::debug!(execution.id = %id, error = %e, "outcome not recorded: finished elsewhere");
                    None
                }
            }
        }
        Err(e) => {
            tracing::error!(execution.id = %id, error = %e, "outcome not recorded");
            None
        }
    }
}

/// Cancels the local run of `id`, if any (a Control message).
pub(crate) fn cancel_local(shared: &Shared, id: ExecutionId) {
    if let Some(token) = shared.lock_running().get(&id) {
        token.cancel();
    }
}

/// Renews the leases of the executions running in this process every third of the lease,
/// so that a long run is not taken for a lost worker's; and has each workflow run driven
/// here re-read its status, so that a pause or resume recorded by another engine on the
/// same store takes effect within that time.
pub(crate) async fn renew_leases(shared: Arc<Shared>) {
    let every = (shared.config.lease / 3).max(Duration::from_millis(10));
    loop {
        if !super::pause::pause(&shared.stop, every).await {
            return;
        }
        if let Some(workflows) = &shared.workflows {
            workflows.poke_all();
        }
        let ids: Vec<ExecutionId> = shared.lock_running().keys().copied().collect();
        let claim = shared.claim();
        for id in ids {
            if let Err(e) = shared.store.renew_lease(id, &claim).await {
                // Not claimed yet, or finished meanwhile.
                tracing::debug!(execution.id = %id, error = %e, "lease not renewed");
            }
        }
    }
}

/// The message of a panic payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

#[cfg(test)]
mod tests {
    use crate::Engine;
    use crate::model::{ExecutionStatus, Rule, TriggerType};
    use crate::store::{ExecutionFilter, Page};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::time::Duration;

    /// The params the matching stage holds for its executions reach their runs, and none is
    /// left held: not for a run that ran, nor for one canceled before it started.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_params_reach_the_run_and_are_forgotten_when_it_ends_or_never_starts() {
        let engine = Engine::builder().worker_slots(1).build().await.unwrap();
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = release.clone();
        engine
            .register_trigger_type(TriggerType::new("h.t"))
            .await
            .unwrap();
        engine
            .register_fn("h.echo", move |ctx| {
                let gate = gate.clone();
                async move {
                    if ctx.params.get("wait") == Some(&json!(true)) {
                        gate.notified().await;
                    }
                    Ok(Value::Object(ctx.params))
                }
            })
            .await
            .unwrap();
        engine
            .register_rule(
                Rule::new("h.r", "h.t", "h.echo")
                    .param("n", json!("{{ trigger.n }}"))
                    .param("wait", json!("{{ trigger.wait }}"))
                    .param("nested", json!({"list": ["{{ trigger.n }}", 2]})),
            )
            .await
            .unwrap();
        // The first run holds the only slot until released; the second waits for it.
        engine
            .emit("h.t", json!({"n": 1, "wait": true}))
            .await
            .unwrap();
        engine
            .emit("h.t", json!({"n": 2, "wait": false}))
            .await
            .unwrap();
        let all = |engine: &Engine| {
            let engine = engine.clone();
            async move {
                engine
                    .executions(&ExecutionFilter::default(), Page::first(10))
                    .await
                    .unwrap()
            }
        };
        let second = loop {
            let xs = all(&engine).await;
            let running = xs.iter().any(|x| x.status == ExecutionStatus::Running);
            if let (true, Some(x)) = (running, xs.iter().find(|x| x.params["n"] == json!(2))) {
                break x.clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(second.status, ExecutionStatus::Scheduled);
        assert!(
            engine.shared.lock_held_params().contains_key(&second.id),
            "the waiting execution's params are held"
        );
        engine.cancel(second.id).await.unwrap();
        release.notify_one();
        engine.settle(Duration::from_secs(10)).await.unwrap();
        let xs = all(&engine).await;
        let first = xs.iter().find(|x| x.params["n"] == json!(1)).unwrap();
        assert_eq!(
            first.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            first.error
        );
        assert_eq!(
            first.result,
            Some(json!({"n": 1, "wait": true, "nested": {"list": [1, 2]}})),
            "the run got its params"
        );
        assert_eq!(
            first.params,
            json!({"n": 1, "wait": true, "nested": {"list": [1, 2]}}),
            "the stored params stay whole"
        );
        let canceled = xs.iter().find(|x| x.id == second.id).unwrap();
        assert_eq!(canceled.status, ExecutionStatus::Canceled);
        assert!(
            engine.shared.lock_held_params().is_empty(),
            "nothing is left held"
        );
        engine.shutdown(Duration::from_secs(5)).await;
    }

    /// A backlog longer than the bound holds the params of the first ones only; the others
    /// come from the store, and every run gets its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backlog_beyond_the_bound_takes_its_params_from_the_store() {
        use crate::engine::matching::HELD_PARAMS_MAX;
        // Queues long enough for the whole backlog (the default's 2,048 would hold matching
        // back before the bound is reached).
        let transport = crate::transport::LocalTransport::with_capacity(4 * HELD_PARAMS_MAX);
        let engine = Engine::builder()
            .worker_slots(1)
            .transport(Arc::new(transport))
            .build()
            .await
            .unwrap();
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = release.clone();
        engine
            .register_trigger_type(TriggerType::new("b.t"))
            .await
            .unwrap();
        engine
            .register_fn("b.echo", move |ctx| {
                let gate = gate.clone();
                async move {
                    if ctx.params.get("n") == Some(&json!(0)) {
                        gate.notified().await;
                    }
                    Ok(json!({"got": ctx.params.get("n").cloned()}))
                }
            })
            .await
            .unwrap();
        engine
            .register_rule(Rule::new("b.r", "b.t", "b.echo").param("n", json!("{{ trigger.n }}")))
            .await
            .unwrap();
        let n = HELD_PARAMS_MAX + 50;
        for i in 0..n {
            engine.emit("b.t", json!({ "n": i })).await.unwrap();
        }
        // Every execution exists (the first runs and waits; the rest wait for its slot).
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                tokio::time::Instant::now() < until,
                "the backlog was not made"
            );
            let made = engine
                .count_executions(&ExecutionFilter::default())
                .await
                .unwrap();
            if made == n as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The matching stage holds params just after it stored their executions: wait for
        // the last batch's. The first run may have taken its own already.
        let held = loop {
            let held = engine.shared.lock_held_params().len();
            assert!(
                held <= HELD_PARAMS_MAX,
                "{held} held, the bound is {HELD_PARAMS_MAX}"
            );
            if held >= HELD_PARAMS_MAX - 1 {
                break held;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{held} held, {HELD_PARAMS_MAX} expected"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(held <= HELD_PARAMS_MAX);
        release.notify_one();
        engine.settle(Duration::from_secs(60)).await.unwrap();
        let xs = engine
            .executions(&ExecutionFilter::default(), Page::first(n + 1))
            .await
            .unwrap();
        assert_eq!(xs.len(), n);
        for x in &xs {
            assert_eq!(x.status, ExecutionStatus::Succeeded, "{:?}", x.error);
            assert_eq!(x.result, Some(json!({"got": x.params["n"]})), "{}", x.id);
        }
        assert!(engine.shared.lock_held_params().is_empty());
        engine.shutdown(Duration::from_secs(5)).await;
    }
}
