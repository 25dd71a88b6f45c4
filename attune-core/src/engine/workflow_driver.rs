//! One workflow run in the engine: the [`Driver`] feeds a [`Conductor`] the ends of its task
//! executions, starts what becomes ready as new executions, and journals every step through
//! the store, so that an engine restarted in the middle of the run continues it.
//!
//! **The journal.** The conductor is deterministic: its state follows from the workflow's
//! input and the sequence of what was applied to it. The driver works in rounds — apply the
//! ends that arrived (a batch), then start the ready tasks — and journals each batch
//! ([`Step::Ended`]) *before* starting anything that depends on it; pausing and resuming
//! change whether tasks start, so they are journaled too. Ends that have no execution (a
//! task whose execution could not be created, a delayed task without an action) are applied
//! in the next round like any other, so every change of the conductor is either journaled
//! or a pure consequence of the journal.
//!
//! **Replay.** A run taken over after a restart (or a re-run, which continues the run it
//! re-runs) starts the conductor again and replays the journal, round by round. Each task
//! run the replay starts is matched with the task execution that run created — by task,
//! route and item, in creation order — instead of creating one; what has no execution yet
//! is created once the replay is over. A task whose execution completed is therefore never
//! run again; one whose end was not journaled yet is applied when the run goes on; one whose
//! execution was cut by the restart (`abandoned`: it never completed) runs again.

use super::Engine;
use super::Shared;
use super::executions::{Child, create_execution};
use crate::model::{Execution, ExecutionId, ExecutionStatus, TaskRef};
use crate::runtime::{RunOutput, RunRequest};
use crate::store::{ExecutionChange, ExecutionFilter, JournalEntry, StoreExt};
use crate::workflow::{Conductor, Plan, RunStatus, TaskRun};
use crate::{Error, Result};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{Notify, mpsc};

/// A task run: its task, route and (with-items) item.
type Key = (String, usize, Option<usize>);

/// Re-runs chained further than this are refused (each replays the one before).
const MAX_RERUN_CHAIN: usize = 64;

/// One journal entry of a workflow run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Step {
    /// Task runs ended and were applied together; the ready tasks started after them.
    Ended {
        /// The ends, in the order applied.
        ends: Vec<End>,
    },
    /// The first entry of a re-run: the run continues the run of `of` from its failed tasks
    /// (`tasks`: those named, else every failed task no transition handled).
    Rerun {
        /// The workflow execution re-run.
        of: ExecutionId,
        /// The tasks named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tasks: Option<Vec<String>>,
    },
    /// Paused: nothing new starts.
    Pause,
    /// Resumed after a pause.
    Resume,
}

/// How one task run ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct End {
    task: String,
    #[serde(default)]
    route: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    item: Option<usize>,
    status: RunStatus,
    /// Its execution (its result is read from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution: Option<ExecutionId>,
    /// The result, for a run without an execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
}

impl End {
    fn key(&self) -> Key {
        (self.task.clone(), self.route, self.item)
    }
}

/// One task run to start: one item of a with-items task, or a whole task.
#[derive(Clone, Debug)]
struct Launch {
    key: Key,
    action: Option<String>,
    params: Map<String, Value>,
    delay: Option<f64>,
}

impl Launch {
    /// The runs of a started task, one per item.
    fn of(started: TaskRun) -> Vec<Launch> {
        let TaskRun {
            task,
            route,
            action,
            params,
            first_item,
            delay,
        } = started;
        params
            .into_iter()
            .enumerate()
            .map(|(k, params)| Launch {
                key: (task.clone(), route, first_item.map(|f| f + k)),
                action: action.clone(),
                params,
                delay,
            })
            .collect()
    }
}

/// What a replay matches task runs with: the task executions of the run being replayed.
#[derive(Debug, Default)]
struct Known {
    /// Not matched yet, per task run, in creation order.
    by_key: HashMap<Key, VecDeque<ExecutionId>>,
    /// Each one's stored result.
    results: HashMap<ExecutionId, Option<Value>>,
}

/// One run's part of a replay: its own journal, after the `Rerun` entry that began it.
struct Segment {
    execution: ExecutionId,
    rerun: Option<Option<Vec<String>>>,
    steps: Vec<Step>,
}

/// Drives one workflow run (see the module doc).
pub(super) struct Driver {
    shared: Arc<Shared>,
    plan: Arc<Plan>,
    /// The workflow's pack (whose keys `st2kv('pack.NAME')` reads).
    pack: String,
    /// The user the workflow runs on behalf of: its tasks', and whose keys `st2kv('NAME')`
    /// reads.
    user: Option<crate::model::Name>,
    id: ExecutionId,
    run: Conductor,
    /// Task executions started and not applied yet.
    waiting: HashMap<ExecutionId, Key>,
    done: mpsc::UnboundedSender<(ExecutionId, ExecutionStatus)>,
    done_rx: mpsc::UnboundedReceiver<(ExecutionId, ExecutionStatus)>,
    due: mpsc::UnboundedSender<Launch>,
    due_rx: mpsc::UnboundedReceiver<Launch>,
    /// Runs waiting out a delay on a timer.
    delayed: usize,
    /// Ends without an execution, applied in the next round.
    local: Vec<End>,
    /// The next journal entry's number.
    seq: u64,
    /// While replaying: the executions to match.
    replay: Option<Known>,
    /// Task runs started (by the conductor) that have no execution yet: found by a replay
    /// (the engine before journaled the round that made them ready, then stopped or paused
    /// before creating them); created when the run goes live, or on resume when it is paused.
    unlaunched: Vec<Launch>,
    /// Paused (or pausing): nothing new starts.
    paused: bool,
    /// Whether `pausing → paused` was recorded for the current pause.
    marked_paused: bool,
    /// Task executions waiting for a response (inquiries): the run pauses while they wait,
    /// and counts as paused with only them left.
    asking: std::collections::HashSet<ExecutionId>,
    /// Runs that came due while paused, or were to start while a pause was being recorded:
    /// launched on resume.
    held: Vec<Launch>,
    control: Arc<Control>,
    /// The run's cancel (its request's token): also triggered when the store says
    /// `canceling` (a cancel recorded by another engine on the store).
    cancel: tokio_util::sync::CancellationToken,
}

/// How the engine reaches a run it drives: the pause requests in progress (each counted
/// from before the store records it until the request returned, so that no task starts after
/// a pause was recorded), and a wake-up to re-read the status.
#[derive(Debug, Default)]
pub(super) struct Control {
    /// Wakes the run to re-read its status.
    pub poke: Notify,
    /// `Engine::pause` calls in progress on this run ([`PauseRequest`]).
    requests: AtomicU32,
    /// The run is `paused` and nothing of it runs: it is not work in flight (settle does
    /// not wait for it), and a shutdown on a durable store leaves it paused, its claim
    /// released for any engine on the store to resume.
    idle: std::sync::atomic::AtomicBool,
}

impl Control {
    /// Whether the run is paused with nothing running.
    pub(super) fn idle(&self) -> bool {
        self.idle.load(Ordering::SeqCst)
    }

    /// Whether a pause request is in progress here.
    fn requested(&self) -> bool {
        self.requests.load(Ordering::SeqCst) > 0
    }
}

/// One pause request in progress: counted (and the run woken) from its creation until it is
/// dropped, once the store holds the pause or the request failed (the run woken again to
/// read which).
pub(super) struct PauseRequest(Arc<Control>);

impl PauseRequest {
    /// Counts a request on `control` and wakes its run.
    pub(super) fn new(control: Arc<Control>) -> Self {
        control.requests.fetch_add(1, Ordering::SeqCst);
        control.poke.notify_one();
        PauseRequest(control)
    }
}

impl Drop for PauseRequest {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::SeqCst);
        self.0.poke.notify_one();
    }
}

impl Driver {
    /// A driver for the run of workflow execution `id`; `control` is how pause and resume
    /// reach it.
    pub(super) fn new(
        shared: Arc<Shared>,
        plan: Arc<Plan>,
        req: &RunRequest,
        control: Arc<Control>,
    ) -> Self {
        let (done, done_rx) = mpsc::unbounded_channel();
        let (due, due_rx) = mpsc::unbounded_channel();
        let run = Conductor::start(plan.clone(), super::action_chain::run_input(&plan, req));
        Driver {
            shared,
            plan,
            pack: req.action.pack().to_string(),
            user: req.user.clone(),
            id: req.execution_id,
            run,
            waiting: HashMap::new(),
            done,
            done_rx,
            due,
            due_rx,
            delayed: 0,
            local: Vec::new(),
            seq: 0,
            replay: None,
            unlaunched: Vec::new(),
            paused: false,
            marked_paused: false,
            asking: Default::default(),
            held: Vec::new(),
            control,
            cancel: req.cancel.clone(),
        }
    }

    /// Runs the workflow to its end: restores what the journal holds, then drives it.
    pub(super) async fn drive(mut self, req: &RunRequest) -> Result<RunOutput> {
        let exec = self.shared.store.get_execution(self.id).await?;
        if self.plan.uses_st2kv() {
            // Its templates read keys: start again with them (the conductor does no I/O).
            self.run = self.start_run(req).await?;
        }
        self.restore(&exec, req).await?;
        if req.cancel.is_cancelled() {
            // Taken over while being canceled: nothing new starts (what runs is waited for).
            self.unlaunched.clear();
        }
        self.go_live().await;
        self.follow_status().await?;
        if !self.paused && !self.cancel.is_cancelled() {
            self.launch_unlaunched().await;
        }
        loop {
            if req.cancel.is_cancelled() {
                return self.canceled().await;
            }
            if !self.local.is_empty() {
                self.apply_round(Vec::new()).await?;
            }
            if !self.paused && self.control.requested() {
                // Requested and being recorded: take it now.
                self.enter(true, ExecutionStatus::Pausing).await?;
            } else if self.control.poke.notified().now_or_never().is_some() {
                // A pause (or resume) arrived while the round was applied (it may be in the
                // store already, its request returned): follow it before starting anything.
                self.follow_status().await?;
            }
            if !self.paused && !self.held.is_empty() {
                // Held while a pause request was in progress: the store says whether it paused.
                self.follow_status().await?;
                if !self.paused && !self.control.requested() {
                    for l in std::mem::take(&mut self.held) {
                        self.launch(l, true).await;
                    }
                }
            }
            self.step().await;
            if !self.local.is_empty() {
                continue;
            }
            if self.paused
                && !self.marked_paused
                && self.waiting.keys().all(|x| self.asking.contains(x))
            {
                self.mark_paused().await;
            }
            self.track_idle();
            if self.run.status() != RunStatus::Running {
                if !self.waiting.is_empty() {
                    // A with-items task ended on a failed item: its other items are not
                    // needed.
                    self.cancel_waiting().await;
                }
                break;
            }
            if !self.paused && self.waiting.is_empty() && self.delayed == 0 {
                break; // nothing can happen any more (cannot be reached: the conductor ends first)
            }
            // Biased: a cancel, then a status change (pause) requested before ends arrived
            // is seen before them, so nothing starts after it was recorded.
            tokio::select! {
                biased;
                () = req.cancel.cancelled() => return self.canceled().await,
                () = self.control.poke.notified() => self.follow_status().await?,
                m = self.done_rx.recv() => {
                    let Some(first) = m else { break };
                    let mut batch = vec![first];
                    while let Ok(m) = self.done_rx.try_recv() {
                        batch.push(m);
                    }
                    self.apply_round(batch).await?;
                }
                d = self.due_rx.recv() => {
                    if let Some(l) = d {
                        self.delayed -= 1;
                        if self.paused {
                            self.held.push(l);
                        } else {
                            self.launch(l, true).await;
                        }
                    }
                }
            }
        }
        if self.run.status() == RunStatus::Canceled {
            let tasks: Vec<String> = self
                .run
                .sequence()
                .iter()
                .filter(|e| e.status == RunStatus::Canceled)
                .map(|e| format!("'{}'", e.label()))
                .collect();
            return Err(Error::Canceled(format!(
                "the workflow was canceled: its task {} was canceled",
                tasks.join(", ")
            )));
        }
        let out = outcome(&self.run);
        if self.plan.is_chain() {
            return Ok(super::action_chain::outcome(&self.shared, self.id, &self.run, out).await);
        }
        Ok(out)
    }

    /// The run was canceled: its task executions are canceled too, and it ends once they
    /// have (`canceling` until then).
    async fn canceled(&mut self) -> Result<RunOutput> {
        self.cancel_waiting().await;
        self.wait_for_waiting().await;
        Err(Error::Canceled(
            "the workflow was canceled; its running tasks too".into(),
        ))
    }

    /// Replays the journal of this run (and of the runs it re-runs), if any.
    async fn restore(&mut self, exec: &Execution, req: &RunRequest) -> Result<()> {
        let store = &self.shared.store;
        let journal = store.read_journal(self.id).await?;
        if journal.is_empty() && exec.attempt <= 1 {
            return Ok(()); // a new run
        }
        let own = journal.len() as u64;
        let segments = self.segments(journal).await?;
        self.run = self.start_run(req).await?;
        let last = segments.len() - 1;
        for (k, seg) in segments.into_iter().enumerate() {
            self.waiting.clear();
            self.unlaunched.clear();
            self.paused = false;
            self.replay = Some(self.known(seg.execution).await?);
            if let Some(tasks) = seg.rerun {
                self.rerun(tasks.as_deref())?;
            }
            self.step().await;
            for step in seg.steps {
                self.replay_step(step).await?;
            }
            if k == last {
                self.seq = own;
            }
        }
        Ok(())
    }

    /// A new conductor for this run, with the keys `st2kv(…)` reads when the workflow
    /// uses it.
    async fn start_run(&self, req: &RunRequest) -> Result<Conductor> {
        let params = super::action_chain::run_input(&self.plan, req);
        if !self.plan.uses_st2kv() {
            return Ok(Conductor::start(self.plan.clone(), params));
        }
        let kv =
            super::context::kv_snapshot(&self.shared, &self.pack, self.user.as_deref()).await?;
        Ok(Conductor::start_with_kv(self.plan.clone(), params, kv))
    }

    /// The runs to replay, the first run of a re-run chain first.
    async fn segments(&self, journal: Vec<JournalEntry>) -> Result<Vec<Segment>> {
        let mut out = Vec::new();
        let (mut id, mut journal) = (self.id, journal);
        loop {
            let mut steps = journal
                .into_iter()
                .map(|e| {
                    serde_json::from_str::<Step>(&e.step).map_err(|err| {
                        Error::invalid(
                            format!("journal entry {} of workflow execution '{id}'", e.seq),
                            err.to_string(),
                        )
                    })
                })
                .collect::<Result<VecDeque<Step>>>()?;
            let of = match steps.front() {
                Some(Step::Rerun { of, tasks }) => Some((*of, tasks.clone())),
                _ => None,
            };
            if of.is_some() {
                steps.pop_front();
            }
            out.push(Segment {
                execution: id,
                rerun: of.as_ref().map(|(_, t)| t.clone()),
                steps: steps.into(),
            });
            let Some((prev, _)) = of else { break };
            if out.len() > MAX_RERUN_CHAIN {
                return Err(Error::invalid(
                    format!("workflow execution '{}'", self.id),
                    format!("it re-runs a chain of more than {MAX_RERUN_CHAIN} runs"),
                ));
            }
            id = prev;
            journal = self.shared.store.read_journal(id).await?;
        }
        out.reverse();
        Ok(out)
    }

    /// The task executions of run `id`, to match during its replay.
    async fn known(&self, id: ExecutionId) -> Result<Known> {
        let mut known = Known::default();
        each_task_execution(&self.shared, id, |x| {
            // A task execution its worker lost never completed: it runs again.
            if x.status == ExecutionStatus::Abandoned {
                return;
            }
            if let Some(t) = &x.task {
                known
                    .by_key
                    .entry((t.name.clone(), t.route, t.item))
                    .or_default()
                    .push_back(x.id);
                known.results.insert(x.id, x.result.clone());
            }
        })
        .await?;
        Ok(known)
    }

    /// Re-runs the (ended) run from its failed tasks: `tasks` by name (every failed route
    /// of each), else every failed task no transition handled.
    fn rerun(&mut self, tasks: Option<&[String]>) -> Result<()> {
        let picked: Option<Vec<(String, usize)>> = tasks.map(|names| {
            let mut out: Vec<(String, usize)> = Vec::new();
            for name in names {
                let routes: Vec<usize> = self
                    .run
                    .sequence()
                    .iter()
                    .filter(|e| e.task == *name && e.status.is_failure())
                    .map(|e| e.route)
                    .collect();
                if routes.is_empty() {
                    // Named but never failed: the conductor reports it.
                    out.push((name.clone(), 0));
                }
                for r in routes {
                    if !out.contains(&(name.clone(), r)) {
                        out.push((name.clone(), r));
                    }
                }
            }
            out
        });
        self.run.rerun(picked.as_deref())
    }

    /// Applies one journal entry during a replay.
    async fn replay_step(&mut self, step: Step) -> Result<()> {
        match step {
            Step::Ended { mut ends } => {
                for end in &mut ends {
                    match end.execution {
                        Some(x) => {
                            self.waiting.remove(&x);
                            // Its result is the one its execution stored.
                            end.result = self
                                .replay
                                .as_ref()
                                .and_then(|k| k.results.get(&x).cloned().flatten());
                        }
                        None => {
                            let key = end.key();
                            if let Some(i) = self.unlaunched.iter().position(|l| l.key == key) {
                                self.unlaunched.remove(i);
                            }
                        }
                    }
                }
                self.apply(&ends);
            }
            Step::Pause => self.paused = true,
            Step::Resume => self.paused = false,
            Step::Rerun { .. } => {
                return Err(Error::invalid(
                    format!("workflow execution '{}'", self.id),
                    "its journal has a re-run entry after its first",
                ));
            }
        }
        self.step().await;
        Ok(())
    }

    /// Ends the replay: waits for the task executions still running (those that ended
    /// meanwhile are applied next). Those that were never created are created once the run
    /// followed its status: at once unless it is paused, else on resume.
    async fn go_live(&mut self) {
        if self.replay.take().is_none() {
            return;
        }
        {
            let mut children = self.shared.lock_children();
            for x in self.waiting.keys() {
                children.insert(*x, self.done.clone());
            }
        }
        // Registered first, then read: an end in between is seen one way or the other
        // (twice is harmless: the second finds nothing waiting).
        let ids: Vec<ExecutionId> = self.waiting.keys().copied().collect();
        for x in ids {
            match self.shared.store.get_execution(x).await {
                Ok(e) if e.status.is_terminal() => {
                    self.shared.lock_children().remove(&x);
                    let _ = self.done.send((x, e.status));
                }
                Ok(_) => {}
                Err(e) => {
                    self.shared.lock_children().remove(&x);
                    if let Some(key) = self.waiting.remove(&x) {
                        self.local
                            .push(failed_end(key, format!("its execution is lost: {e}")));
                    }
                }
            }
        }
    }

    /// Creates the executions of the task runs a replay found without one.
    async fn launch_unlaunched(&mut self) {
        for l in std::mem::take(&mut self.unlaunched) {
            self.schedule(l).await;
        }
    }

    /// Follows the status the store holds (pause and resume are recorded there first, by
    /// this engine or another one on the same store). The pause requests are read before
    /// the store: a request ends only once the store holds `pausing`, so one of the two says
    /// so. When the store cannot be read, a request in progress is still taken.
    async fn follow_status(&mut self) -> Result<()> {
        let requested = self.control.requested();
        match self.shared.store.get_execution(self.id).await {
            Ok(e) => self.follow(requested, e.status).await,
            Err(e) => {
                tracing::warn!(execution.id = %self.id, error = %e, "workflow status not read");
                if requested && !self.paused {
                    self.enter(true, ExecutionStatus::Pausing).await?;
                }
                Ok(())
            }
        }
    }

    /// Pauses or resumes the run as `status` says (a pause `requested` and not recorded yet
    /// counts as one). Only `running` resumes; `canceling` cancels the run (its token, as a
    /// cancel by this engine does); any other status changes nothing.
    async fn follow(&mut self, requested: bool, status: ExecutionStatus) -> Result<()> {
        let pause = match status {
            ExecutionStatus::Pausing | ExecutionStatus::Paused => true,
            ExecutionStatus::Running => requested,
            ExecutionStatus::Canceling => {
                self.cancel.cancel();
                return Ok(());
            }
            _ => return Ok(()),
        };
        if pause == self.paused {
            if pause && status == ExecutionStatus::Paused {
                self.marked_paused = true;
            }
            return Ok(());
        }
        self.enter(pause, status).await
    }

    /// Enters pause mode (or leaves it): journaled first, then nested workflows follow.
    async fn enter(&mut self, pause: bool, status: ExecutionStatus) -> Result<()> {
        self.journal(if pause { Step::Pause } else { Step::Resume })
            .await?;
        self.paused = pause;
        self.marked_paused = status == ExecutionStatus::Paused;
        self.cascade(pause).await;
        if !pause {
            for l in std::mem::take(&mut self.held) {
                self.launch(l, true).await;
            }
            if self.replay.is_none() {
                self.launch_unlaunched().await;
            }
        }
        Ok(())
    }

    /// Pauses (or resumes) the task executions that are workflows themselves.
    async fn cascade(&self, pause: bool) {
        let engine = Engine::internal(self.shared.clone());
        for (x, (task, _, _)) in &self.waiting {
            let nested = self
                .plan
                .workflow()
                .get(task)
                .and_then(|t| t.action.as_deref())
                .and_then(|a| self.shared.catalog.action(a))
                .is_some_and(|a| a.runner == crate::model::WORKFLOW_RUNNER);
            if !nested {
                continue;
            }
            let r = if pause {
                engine.pause(*x).await
            } else {
                engine.resume(*x).await
            };
            if let Err(e) = r {
                tracing::debug!(execution.id = %x, error = %e, "nested workflow not paused/resumed");
            }
        }
    }

    /// Keeps the engine's in-flight set and [`Control::idle`] in step with whether the run
    /// sits paused: a paused run is not in flight until it resumes.
    fn track_idle(&self) {
        let idle = self.paused && self.marked_paused && self.run.status() == RunStatus::Running;
        if self.control.idle.swap(idle, Ordering::SeqCst) == idle {
            return;
        }
        if idle {
            self.shared.pending.execution_done(self.id);
        } else {
            self.shared.pending.add_execution(self.id);
        }
    }

    /// Records `pausing → paused` once nothing runs any more.
    async fn mark_paused(&mut self) {
        self.marked_paused = true;
        let change = ExecutionChange::to(ExecutionStatus::Paused, self.shared.now());
        match self
            .shared
            .store
            .transition_execution(self.id, ExecutionStatus::Pausing, change)
            .await
        {
            Ok(_) => {
                self.shared
                    .publish_status([(self.id, ExecutionStatus::Paused)])
                    .await;
            }
            // Resumed or canceled meanwhile: the poke that follows tells.
            Err(e) => tracing::debug!(execution.id = %self.id, error = %e, "not marked paused"),
        }
    }

    /// Appends one entry to this run's journal.
    async fn journal(&mut self, step: Step) -> Result<()> {
        let entry = JournalEntry {
            execution: self.id,
            seq: self.seq,
            step: serde_json::to_string(&step)
                .map_err(|e| Error::invalid("workflow journal entry", e.to_string()))?,
        };
        self.shared
            .store
            .append_journal(&[entry])
            .await
            .map_err(|e| {
                Error::Action(format!(
                    "the workflow's journal could not be written, so the run stops: {e}"
                ))
            })?;
        self.seq += 1;
        Ok(())
    }

    /// One round: applies the ends that arrived (and the local ones), then journals them.
    async fn apply_round(&mut self, arrived: Vec<(ExecutionId, ExecutionStatus)>) -> Result<()> {
        let mut ends = std::mem::take(&mut self.local);
        let mut asked = false;
        for (x, status) in arrived {
            if status == ExecutionStatus::Pending {
                // A task asks (an inquiry): the run pauses until it is answered.
                asked |= self.waiting.contains_key(&x) && self.asking.insert(x);
                continue;
            }
            self.asking.remove(&x);
            let Some((task, route, item)) = self.waiting.remove(&x) else {
                continue; // not ours any more (a second notice)
            };
            let stored = self.shared.store.get_execution(x).await.ok();
            if status == ExecutionStatus::Abandoned
                && let Some(lost) = stored
            {
                // Its worker was lost (a restart): it never completed, so it runs again.
                self.relaunch(lost, (task, route, item)).await;
                continue;
            }
            let result = stored.and_then(|e| e.result);
            ends.push(End {
                task,
                route,
                item,
                status: run_status(status),
                execution: Some(x),
                result,
            });
        }
        if asked && !self.paused {
            // As Orquesta does: paused while a task waits for a response; the response
            // (or the inquiry's expiry) resumes it.
            if let Err(e) = Engine::internal(self.shared.clone()).pause(self.id).await {
                tracing::debug!(execution.id = %self.id, error = %e, "not paused for its inquiry");
            }
            self.follow_status().await?;
        }
        if ends.is_empty() {
            return Ok(());
        }
        if !self.paused && self.shared.store.capabilities().durable {
            // Another process on the store may have recorded a pause (or a cancel): follow
            // it at this task boundary, so that what these ends would start waits. (This
            // engine's own requests poke the run directly.)
            self.follow_status().await?;
        }
        if self.plan.uses_st2kv() {
            // Transitions and the next tasks' input see the keys as they are now.
            let kv =
                super::context::kv_snapshot(&self.shared, &self.pack, self.user.as_deref()).await?;
            self.run.set_kv(kv);
        }
        self.apply(&ends);
        let journaled = ends
            .into_iter()
            .map(|mut e| {
                if e.execution.is_some() {
                    e.result = None; // kept with the execution
                }
                e
            })
            .collect();
        self.journal(Step::Ended { ends: journaled }).await
    }

    /// Applies ends to the conductor.
    fn apply(&mut self, ends: &[End]) {
        for e in ends {
            let r = match e.item {
                Some(i) => self
                    .run
                    .finish_item(&e.task, e.route, i, e.status, e.result.clone()),
                None => self
                    .run
                    .finish_task(&e.task, e.route, e.status, e.result.clone()),
            };
            if let Err(err) = r {
                tracing::error!(execution.id = %self.id, task = %e.task, error = %err, "workflow task end not applied");
            }
        }
    }

    /// Starts every ready task (unless paused); a task with a delay (its own, or a
    /// retry's) is launched when the delay is over.
    async fn step(&mut self) {
        // A task with no action ends at once, which may make others ready: go round again.
        loop {
            if self.paused {
                return;
            }
            let ready = self.run.next_tasks();
            if ready.is_empty() {
                return;
            }
            for (task, route) in ready {
                let Ok(started) = self.run.start_task(&task, route) else {
                    continue; // its params did not render: it ended failed
                };
                for l in Launch::of(started) {
                    self.schedule(l).await;
                }
            }
            if self.run.status() != RunStatus::Running {
                return;
            }
        }
    }

    /// Launches a run now, or after its delay on a timer (a replay matches it at once).
    async fn schedule(&mut self, l: Launch) {
        match l.delay {
            Some(secs) if self.replay.is_none() => {
                self.delayed += 1;
                let due = self.due.clone();
                let wait = std::time::Duration::try_from_secs_f64(secs).unwrap_or_default();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = due.send(l);
                });
            }
            _ => self.launch(l, false).await,
        }
    }

    /// Creates a run's execution (a replay matches the one created before). A run without
    /// an action succeeds: at once when it is part of a round (`late` false), else in the
    /// next round (after a delay: so that it is journaled).
    async fn launch(&mut self, l: Launch, late: bool) {
        if let Some(known) = &mut self.replay {
            match known.by_key.get_mut(&l.key).and_then(VecDeque::pop_front) {
                Some(x) => {
                    self.waiting.insert(x, l.key);
                }
                None if l.action.is_none() && l.delay.is_none() => self.finish_now(&l.key),
                None => self.unlaunched.push(l),
            }
            return;
        }
        let Some(action) = &l.action else {
            if late {
                self.local.push(End {
                    task: l.key.0,
                    route: l.key.1,
                    item: l.key.2,
                    status: RunStatus::Succeeded,
                    execution: None,
                    result: None,
                });
            } else {
                self.finish_now(&l.key);
            }
            return;
        };
        if self.control.requested() {
            // A pause is being recorded: what it would stop is held (a with-items task's
            // items are created one by one; those after the request wait).
            self.held.push(l);
            return;
        }
        let (task, route, item) = l.key.clone();
        let timeout = self.plan.workflow().get(&task).and_then(|t| t.timeout);
        let child = Child {
            parent: Some(self.id),
            timeout_secs: timeout,
            task: Some(TaskRef {
                name: task.clone(),
                route,
                item,
            }),
            notify: Some(self.done.clone()),
            first_step: None,
            user: self.user.clone(),
        };
        match create_execution(&self.shared, action, Value::Object(l.params), child).await {
            Ok(id) => {
                self.waiting.insert(id, l.key);
            }
            Err(e) => self.local.push(failed_end(l.key, e.to_string())),
        }
    }

    /// Runs again, as a new execution with the same params, a task execution whose worker
    /// was lost.
    async fn relaunch(&mut self, lost: Execution, key: Key) {
        tracing::warn!(execution.id = %lost.id, task = %key.0, "workflow task lost with its worker; run again");
        let child = Child {
            parent: Some(self.id),
            timeout_secs: lost.timeout_secs,
            task: lost.task.clone(),
            notify: Some(self.done.clone()),
            first_step: None,
            user: lost.user.clone(),
        };
        match create_execution(&self.shared, &lost.action, lost.params, child).await {
            Ok(id) => {
                self.waiting.insert(id, key);
            }
            Err(e) => self.local.push(failed_end(key, e.to_string())),
        }
    }

    /// A run without an action succeeds at once.
    fn finish_now(&mut self, (task, route, item): &Key) {
        let _ = match item {
            Some(i) => self
                .run
                .finish_item(task, *route, *i, RunStatus::Succeeded, None),
            None => self
                .run
                .finish_task(task, *route, RunStatus::Succeeded, None),
        };
    }

    /// Cancels the task executions still running (the cancel of a workflow cascades).
    async fn cancel_waiting(&self) {
        let engine = Engine::internal(self.shared.clone());
        for id in self.waiting.keys() {
            if let Err(e) = engine.cancel(*id).await {
                tracing::debug!(execution.id = %id, error = %e, "workflow task not canceled");
            }
        }
    }

    /// Waits until every task execution still running has ended (`canceling` until then).
    async fn wait_for_waiting(&mut self) {
        while !self.waiting.is_empty() {
            match self.done_rx.recv().await {
                Some((x, _)) => {
                    self.waiting.remove(&x);
                }
                None => return,
            }
        }
    }
}

/// Calls `each` with every task execution of workflow execution `parent`, in creation
/// order, a page at a time.
pub(super) async fn each_task_execution(
    shared: &Shared,
    parent: ExecutionId,
    mut each: impl FnMut(&Execution) + Send,
) -> Result<()> {
    let filter = ExecutionFilter {
        parent: Some(parent),
        ..Default::default()
    };
    shared.store.each_execution(&filter, &mut each).await
}

/// A run that failed without an execution.
fn failed_end((task, route, item): Key, error: String) -> End {
    End {
        task,
        route,
        item,
        status: RunStatus::Failed,
        execution: None,
        result: Some(json!({ "error": error })),
    }
}

/// How a task run stands, from its execution's terminal status.
fn run_status(status: ExecutionStatus) -> RunStatus {
    match status {
        ExecutionStatus::Succeeded => RunStatus::Succeeded,
        ExecutionStatus::Timeout => RunStatus::Timeout,
        ExecutionStatus::Canceled => RunStatus::Canceled,
        _ => RunStatus::Failed,
    }
}

/// The workflow execution's outcome: its output as the result; on failure the errors.
fn outcome(run: &Conductor) -> RunOutput {
    let output = run.output().cloned().map_or(Value::Null, Value::Object);
    let errors = serde_json::to_value(run.errors()).unwrap_or(Value::Null);
    let tasks: Vec<String> = run.sequence().iter().map(|e| e.label()).collect();
    let result = json!({"output": output, "errors": errors, "tasks": tasks});
    if run.status() == RunStatus::Succeeded {
        return RunOutput::success(result);
    }
    let msg: Vec<String> = run
        .errors()
        .iter()
        .map(|e| match &e.task_id {
            Some(t) => format!("{t}: {}", e.message),
            None => e.message.clone(),
        })
        .collect();
    let mut out = RunOutput::success(result);
    out.succeeded = false;
    out.error = Some(if msg.is_empty() {
        "the workflow failed".into()
    } else {
        msg.join("; ")
    });
    out
}
