//! Arguments and results of [`Store`](super::Store) calls: filters and pages of queries,
//! updates, claims, purge requests and stats, capabilities.

use crate::model::{
    EnforcementId, EnforcementStatus, EventId, Execution, ExecutionId, ExecutionStatus, Name,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// What a store backend offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreCapabilities {
    /// Data survives a process restart (`Engine::recover` then picks up stored work).
    pub durable: bool,
    /// Several processes may share it.
    pub shared: bool,
    /// Its calls never fail for a transient reason (a lost connection, a timeout: an
    /// in-process store has none to lose), so the engine keeps no copy of what it writes
    /// to try again. False (the default) for any store that may — a store that wraps
    /// another and may itself fail so (a network hop, injected faults) clears it.
    pub never_transient: bool,
}

impl StoreCapabilities {
    /// Capabilities with the given flags (calls may fail for a transient reason).
    pub fn new(durable: bool, shared: bool) -> Self {
        StoreCapabilities {
            durable,
            shared,
            never_transient: false,
        }
    }

    /// The same, for a store whose calls never fail for a transient reason.
    pub fn never_transient(mut self) -> Self {
        self.never_transient = true;
        self
    }
}

/// The outcome of an insert that is idempotent on a natural key.
#[derive(Clone, Debug, PartialEq)]
pub enum Inserted<T> {
    /// The row was inserted.
    New,
    /// A row with the same natural key existed; here it is, unchanged.
    Existing(T),
}

impl<T> Inserted<T> {
    /// Whether the insert created the row.
    pub fn is_new(&self) -> bool {
        matches!(self, Inserted::New)
    }
}

/// A page of a list: rows in id order (oldest first, or newest first), past the keyset
/// cursor `after` in that order, `offset` of them skipped, at most `limit`.
///
/// Walking a list page by page uses the cursor (`Page::after(last id)` oldest first,
/// `Page::before(last id)` newest first): each page costs the same however deep. `offset`
/// is for APIs that page by position (StackStorm's `?offset=`); a store may take time in
/// proportion to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Exclusive bound on the id in the page's order: rows with a greater id (oldest first)
    /// or a smaller one (newest first); `None` starts at the beginning of that order.
    pub after: Option<Uuid>,
    /// Maximum rows returned.
    pub limit: usize,
    /// Rows in descending id order (newest first) instead of ascending.
    pub newest_first: bool,
    /// Rows past the cursor skipped before the page starts.
    pub offset: usize,
}

impl Page {
    /// The first page of `limit` rows, oldest first.
    pub fn first(limit: usize) -> Self {
        Page {
            after: None,
            limit,
            newest_first: false,
            offset: 0,
        }
    }

    /// The page after the row with id `last`, oldest first.
    pub fn after(last: impl Into<Uuid>, limit: usize) -> Self {
        Page {
            after: Some(last.into()),
            ..Page::first(limit)
        }
    }

    /// The first page of `limit` rows, newest first.
    pub fn newest(limit: usize) -> Self {
        Page {
            newest_first: true,
            ..Page::first(limit)
        }
    }

    /// The page after the row with id `last`, newest first (rows older than it).
    pub fn before(last: impl Into<Uuid>, limit: usize) -> Self {
        Page {
            after: Some(last.into()),
            ..Page::newest(limit)
        }
    }

    /// This page with `n` rows past the cursor skipped first.
    pub fn skip(self, n: usize) -> Self {
        Page { offset: n, ..self }
    }

    /// Whether `id` falls past the cursor, in the page's order.
    pub fn admits(&self, id: Uuid) -> bool {
        match (self.after, self.newest_first) {
            (None, _) => true,
            (Some(a), false) => id > a,
            (Some(a), true) => id < a,
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::first(100)
    }
}

macro_rules! uuid_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Uuid {
            fn from(v: $t) -> Uuid {
                v.0
            }
        }
    )*};
}
uuid_from!(EventId, EnforcementId, ExecutionId);

/// Which events to list or count. Empty fields do not filter; the builder methods set them.
///
/// ```
/// use attune_core::store::EventFilter;
/// let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
/// let filter = EventFilter::new().trigger("core.webhook").since(since);
/// assert_eq!(filter.trigger.as_deref(), Some("core.webhook"));
/// assert_eq!(filter.since, Some(since));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only this trigger.
    pub trigger: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Only events with this `trace_tag` (what their emitter named them). The SQL stores
    /// keep it in the event's body: filtering on it scans the events of the other filters.
    pub trace_tag: Option<String>,
    /// Only events not yet marked matched ([`Store::mark_events_matched`](super::Store)):
    /// what a restart must match again. Stores track this; [`EventFilter::admits`] does not
    /// look at it.
    pub unmatched_only: bool,
}

impl EventFilter {
    /// A filter that admits every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of the trigger type `trigger_ref`.
    pub fn trigger(mut self, trigger_ref: impl Into<String>) -> Self {
        self.trigger = Some(trigger_ref.into());
        self
    }

    /// Only events created at or after `at`.
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }

    /// Only events created before `at`.
    pub fn until(mut self, at: DateTime<Utc>) -> Self {
        self.until = Some(at);
        self
    }

    /// Only events whose `trace_tag` is `tag`.
    pub fn trace_tag(mut self, tag: impl Into<String>) -> Self {
        self.trace_tag = Some(tag.into());
        self
    }

    /// Only events not yet marked matched (see [`EventFilter::unmatched_only`]).
    pub fn unmatched_only(mut self) -> Self {
        self.unmatched_only = true;
        self
    }

    /// Whether `event` passes (all fields but `unmatched_only`).
    pub fn admits(&self, event: &crate::model::Event) -> bool {
        self.trigger.as_ref().is_none_or(|t| *t == event.trigger)
            && self
                .trace_tag
                .as_ref()
                .is_none_or(|t| Some(t) == event.trace_tag.as_ref())
            && in_range(event.created, self.since, self.until)
    }
}

/// Whether `created` is at or after `since` and before `until` (each when given).
fn in_range(
    created: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> bool {
    since.is_none_or(|s| created >= s) && until.is_none_or(|u| created < u)
}

/// Which enforcements to list or count. Empty fields do not filter; the builder methods set
/// them.
///
/// ```
/// use attune_core::model::EnforcementStatus;
/// use attune_core::store::EnforcementFilter;
/// let filter = EnforcementFilter::new().rule("ops.page").status(EnforcementStatus::Failed);
/// assert_eq!(filter.rule.as_deref(), Some("ops.page"));
/// assert_eq!(filter.status, Some(EnforcementStatus::Failed));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct EnforcementFilter {
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this event.
    pub event: Option<EventId>,
    /// Only this status.
    pub status: Option<EnforcementStatus>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
}

impl EnforcementFilter {
    /// A filter that admits every enforcement.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only enforcements of the rule `rule_ref`.
    pub fn rule(mut self, rule_ref: impl Into<String>) -> Self {
        self.rule = Some(rule_ref.into());
        self
    }

    /// Only enforcements of the event `event`.
    pub fn event(mut self, event: EventId) -> Self {
        self.event = Some(event);
        self
    }

    /// Only enforcements in `status`.
    pub fn status(mut self, status: EnforcementStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only enforcements created at or after `at`.
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }

    /// Only enforcements created before `at`.
    pub fn until(mut self, at: DateTime<Utc>) -> Self {
        self.until = Some(at);
        self
    }

    /// Whether `e` passes.
    pub fn admits(&self, e: &crate::model::Enforcement) -> bool {
        self.rule.as_ref().is_none_or(|r| *r == e.rule)
            && self.event.is_none_or(|ev| ev == e.event)
            && self.status.is_none_or(|s| s == e.status)
            && in_range(e.created, self.since, self.until)
    }
}

/// Which executions to list or count. Empty fields do not filter; the builder methods set
/// them.
///
/// ```
/// use attune_core::model::ExecutionStatus;
/// use attune_core::store::ExecutionFilter;
/// let filter = ExecutionFilter::new()
///     .action("core.local")
///     .status(ExecutionStatus::Failed)
///     .status(ExecutionStatus::Timeout); // failed or timed out
/// assert_eq!(filter.action.as_deref(), Some("core.local"));
/// assert_eq!(filter.status, Some(vec![ExecutionStatus::Failed, ExecutionStatus::Timeout]));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ExecutionFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only these statuses (an empty list admits none).
    pub status: Option<Vec<ExecutionStatus>>,
    /// Only those of this enforcement.
    pub enforcement: Option<EnforcementId>,
    /// Only those caused by this event.
    pub event: Option<EventId>,
    /// Only children of this execution.
    pub parent: Option<ExecutionId>,
    /// Only those caused by this rule.
    pub rule: Option<String>,
    /// Only the retries of this execution (those whose `retry_of` names it).
    pub retry_of: Option<ExecutionId>,
    /// Only executions without a parent (not a workflow's task): StackStorm's
    /// `parent=null`.
    pub top_level: bool,
    /// Only executions started by this user (an execution's `user`). The SQL stores keep it
    /// in the execution's body: filtering on it scans the rows of the other filters.
    pub user: Option<String>,
    /// Only executions nothing in the engine caused — no event, no parent, not a retry:
    /// those a caller started, each the root of a trace of its own.
    pub started_only: bool,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
}

impl ExecutionFilter {
    /// A filter that admits every execution.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only executions of the action `action_ref`.
    pub fn action(mut self, action_ref: impl Into<String>) -> Self {
        self.action = Some(action_ref.into());
        self
    }

    /// Admits executions in `status` too: the first call admits only `status`, each further
    /// call one more (`.status(Failed).status(Timeout)`: failed or timed out).
    pub fn status(mut self, status: ExecutionStatus) -> Self {
        let list = self.status.get_or_insert_with(Vec::new);
        if !list.contains(&status) {
            list.push(status);
        }
        self
    }

    /// Only these statuses (replacing any set before; an empty list admits none).
    pub fn with_status(mut self, status: impl IntoIterator<Item = ExecutionStatus>) -> Self {
        self.status = Some(status.into_iter().collect());
        self
    }

    /// Only executions the enforcement `enforcement` created.
    pub fn enforcement(mut self, enforcement: EnforcementId) -> Self {
        self.enforcement = Some(enforcement);
        self
    }

    /// Only executions caused by the event `event`.
    pub fn event(mut self, event: EventId) -> Self {
        self.event = Some(event);
        self
    }

    /// Only children of the execution `parent` (the tasks of a workflow run).
    pub fn parent(mut self, parent: ExecutionId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Only executions caused by the rule `rule_ref`.
    pub fn rule(mut self, rule_ref: impl Into<String>) -> Self {
        self.rule = Some(rule_ref.into());
        self
    }

    /// Only the retries of the execution `first` (not `first` itself).
    pub fn retry_of(mut self, first: ExecutionId) -> Self {
        self.retry_of = Some(first);
        self
    }

    /// Only executions created at or after `at`.
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }

    /// Only executions created before `at`.
    pub fn until(mut self, at: DateTime<Utc>) -> Self {
        self.until = Some(at);
        self
    }

    /// Only executions without a parent.
    pub fn top_level(mut self) -> Self {
        self.top_level = true;
        self
    }

    /// Only executions started by `user`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Only executions a caller started (see [`ExecutionFilter::started_only`]).
    pub fn started_only(mut self) -> Self {
        self.started_only = true;
        self
    }

    /// Whether `e` passes.
    pub fn admits(&self, e: &Execution) -> bool {
        self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.status.as_ref().is_none_or(|s| s.contains(&e.status))
            && self.enforcement.is_none_or(|x| Some(x) == e.enforcement)
            && self.event.is_none_or(|x| Some(x) == e.event)
            && self.parent.is_none_or(|x| Some(x) == e.parent)
            && (!self.top_level || e.parent.is_none())
            && self
                .user
                .as_ref()
                .is_none_or(|u| Some(u.as_str()) == e.user.as_deref())
            && (!self.started_only
                || (e.event.is_none() && e.parent.is_none() && e.retry_of.is_none()))
            && self
                .rule
                .as_ref()
                .is_none_or(|r| Some(r.as_str()) == e.rule.as_deref())
            && self.retry_of.is_none_or(|x| Some(x) == e.retry_of)
            && in_range(e.created, self.since, self.until)
    }
}

/// A compare-and-set update of an enforcement.
#[derive(Clone, Debug, PartialEq)]
pub struct EnforcementUpdate {
    /// The new status.
    pub status: EnforcementStatus,
    /// Failure reason (for `failed`).
    pub failure: Option<String>,
    /// Rendered params (redacted), when known.
    pub params: Option<Value>,
    /// The created execution, when known.
    pub execution: Option<ExecutionId>,
    /// The time of the change.
    pub at: DateTime<Utc>,
}

impl EnforcementUpdate {
    /// `failed` with `reason` (and the rejected params, redacted, if any).
    pub fn failed(reason: String, params: Option<Value>, at: DateTime<Utc>) -> Self {
        EnforcementUpdate {
            status: EnforcementStatus::Failed,
            failure: Some(reason),
            params,
            execution: None,
            at,
        }
    }

    /// `processed`: the execution was created.
    pub fn processed(execution: ExecutionId, at: DateTime<Utc>) -> Self {
        EnforcementUpdate {
            status: EnforcementStatus::Processed,
            failure: None,
            params: None,
            execution: Some(execution),
            at,
        }
    }

    /// Applies the update to `e` (status and time always; the other fields when given): what
    /// every store does once its compare-and-set passed.
    pub fn apply_to(self, e: &mut crate::model::Enforcement) {
        e.status = self.status;
        e.updated = self.at;
        if self.failure.is_some() {
            e.failure = self.failure;
        }
        if self.params.is_some() {
            e.params = self.params;
        }
        if self.execution.is_some() {
            e.execution = self.execution;
        }
    }
}

/// Checks that every definition given to [`Store::replace_pack`](super::Store) belongs to
/// `pack` (`Error::Invalid` naming the first that does not): the check every store makes
/// before changing anything.
pub fn check_pack_definitions(pack: &str, defs: &[crate::model::Definition]) -> crate::Result<()> {
    match defs.iter().find(|d| d.pack() != pack) {
        None => Ok(()),
        Some(d) => Err(crate::Error::invalid(
            format!("definitions of pack '{pack}'"),
            format!(
                "{} '{}' belongs to pack '{}'",
                d.kind(),
                d.def_ref(),
                d.pack()
            ),
        )),
    }
}

/// A rule's enforcement in its final state, with the execution it requested (see
/// [`Store::insert_enforcements`](super::Store::insert_enforcements)).
#[derive(Clone, Debug, PartialEq)]
pub struct Enforced {
    /// The enforcement: `processed` naming `execution`, or `failed` with its reason.
    pub enforcement: crate::model::Enforcement,
    /// The execution it requested, whose `enforcement` is this enforcement's id.
    pub execution: Option<crate::model::Execution>,
}

impl Enforced {
    /// Checks that the enforcement and its execution name each other (`Error::Invalid`
    /// otherwise): the check every store makes before writing an item.
    pub fn check(&self) -> crate::Result<()> {
        let e = &self.enforcement;
        let named = self.execution.as_ref().map(|x| x.id);
        let back = self.execution.as_ref().map(|x| x.enforcement);
        if e.execution != named || back.is_some_and(|b| b != Some(e.id)) {
            return Err(crate::Error::invalid(
                format!("enforcement '{}'", e.id),
                "it and its execution must name each other",
            ));
        }
        Ok(())
    }
}

/// The fields a status change of an execution sets (others are kept).
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionChange {
    /// The new status.
    pub to: ExecutionStatus,
    /// New result, if any.
    pub result: Option<Value>,
    /// New error message, if any.
    pub error: Option<String>,
    /// New captured stdout, if any.
    pub stdout: Option<String>,
    /// New captured stderr, if any.
    pub stderr: Option<String>,
    /// The time of the change.
    pub at: DateTime<Utc>,
}

impl ExecutionChange {
    /// A change to `to` at `at` that sets nothing else.
    pub fn to(to: ExecutionStatus, at: DateTime<Utc>) -> Self {
        ExecutionChange {
            to,
            result: None,
            error: None,
            stdout: None,
            stderr: None,
            at,
        }
    }

    /// Sets the result.
    pub fn result(mut self, result: Value) -> Self {
        self.result = Some(result);
        self
    }

    /// Sets the error message.
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Applies the change to `e` (status, fields, timestamps, claim) without checking
    /// anything; stores call it after their compare-and-set checks.
    pub fn apply_to(self, e: &mut Execution) {
        e.status = self.to;
        e.updated = self.at;
        if self.to == ExecutionStatus::Running && e.started.is_none() {
            e.started = Some(self.at);
        }
        if self.to.is_terminal() {
            e.finished = Some(self.at);
            e.worker = None;
            e.lease_expires = None;
        }
        if let Some(r) = self.result {
            e.result = Some(r);
        }
        if let Some(x) = self.error {
            e.error = Some(x);
        }
        if let Some(x) = self.stdout {
            e.stdout = x;
        }
        if let Some(x) = self.stderr {
            e.stderr = x;
        }
    }
}

/// A worker's claim: who, when, and until when the lease holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The worker id.
    pub worker: Name,
    /// The current time.
    pub now: DateTime<Utc>,
    /// The lease expiry.
    pub lease_until: DateTime<Utc>,
}

impl Claim {
    /// Applies a successful claim to `e` (running, worker, lease, started).
    pub fn apply_to(&self, e: &mut Execution) {
        e.status = ExecutionStatus::Running;
        e.worker = Some(self.worker.clone());
        e.lease_expires = Some(self.lease_until);
        e.updated = self.now;
        if e.started.is_none() {
            e.started = Some(self.now);
        }
    }

    /// Takes `e` over for this claim (worker, lease, attempt + 1; status kept).
    pub fn take_over(&self, e: &mut Execution) {
        e.worker = Some(self.worker.clone());
        e.lease_expires = Some(self.lease_until);
        e.updated = self.now;
        e.attempt += 1;
    }

    /// Whether `e` can be taken over under this claim: in a status a claim holds, with no
    /// live lease.
    pub fn can_take_over(&self, e: &Execution) -> bool {
        e.status.holds_claim() && e.lease_expires.is_none_or(|l| l <= self.now)
    }

    /// Whether `e` is claimable under this claim: `scheduled`, or `running` with a lease
    /// that expired before `now` (the second is a reclaim).
    pub fn can_claim(&self, e: &Execution) -> Option<bool> {
        match e.status {
            ExecutionStatus::Scheduled => Some(false),
            ExecutionStatus::Running if e.lease_expires.is_some_and(|l| l <= self.now) => {
                Some(true)
            }
            _ => None,
        }
    }
}

/// What [`Store::get_execution_heads`](super::Store::get_execution_heads) reads of an
/// execution: enough to route it to its runtime without reading the whole record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutionHead {
    /// The runtime that runs it.
    pub runner: Name,
    /// Its status.
    pub status: ExecutionStatus,
}

impl ExecutionHead {
    /// A head of an execution of `runner` in `status`.
    pub fn new(runner: impl Into<Name>, status: ExecutionStatus) -> Self {
        ExecutionHead {
            runner: runner.into(),
            status,
        }
    }

    /// The head of `x`.
    pub fn of(x: &Execution) -> Self {
        ExecutionHead {
            runner: x.runner.clone(),
            status: x.status,
        }
    }
}

/// One execution returned by [`Store::claim_ready`](super::Store::claim_ready).
#[derive(Clone, Debug, PartialEq)]
pub struct Claimed {
    /// The execution, now `running` under the new claim.
    pub execution: Execution,
    /// True when it was `running` under an expired lease (its worker was lost).
    pub reclaimed: bool,
}

/// What [`Store::purge`](super::Store::purge) deletes in one call.
///
/// A row is due when it was created before `before`, or when it is older (in id order, which
/// is creation order) than the oldest of the newest `keep_executions` executions — so both
/// limits hold. Due rows go: terminal executions; enforcements that are not `created` (still
/// being applied) and whose execution is gone; events that no remaining enforcement refers to
/// and that are older than `keep_events_from`. At most `batch` rows of each kind per call.
///
/// Stores visit rows in id order and stop at the first that is not due, so that a call costs
/// what it deletes: `before` assumes that `created` grows with the id, as it does for records
/// the engine creates (UUIDv7 ids from the same clock). A row inserted by hand with an older
/// `created` than rows before it is purged once those are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PurgeRequest {
    /// Delete rows created before this time.
    pub before: Option<DateTime<Utc>>,
    /// Keep at most this many executions (the newest).
    pub keep_executions: Option<u64>,
    /// Keep events with this id or a later one, whatever their age: the engine passes its
    /// oldest event that is not matched yet, so that no accepted event goes unprocessed.
    pub keep_events_from: Option<EventId>,
    /// Maximum rows of each kind deleted by this call.
    pub batch: usize,
}

/// What a purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Events deleted.
    pub events: u64,
    /// Enforcements deleted.
    pub enforcements: u64,
    /// Executions deleted.
    pub executions: u64,
    /// Whether more rows are due (call again).
    pub more: bool,
}
