//! [`MemoryStore`]: the in-memory store, the embedded default.

use super::Store;
use super::journal::JournalEntry;
use super::memory_rows::{EventRow, ExecRow};
use super::query::*;
use crate::model::{
    Definition, DefinitionKind, Enforcement, EnforcementId, EnforcementStatus, Event, EventId,
    Execution, ExecutionId, ExecutionStatus, Key, KeyScope,
};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

/// A [`Store`] in process memory: fast, not durable, not shared between processes.
///
/// All data sits behind one mutex; every call is a few map operations. Records are kept in
/// id (creation) order, so retention purges from the front in O(log n) per row.
///
/// ```
/// use attune_core::store::{MemoryStore, Store};
/// let store = MemoryStore::new();
/// assert!(!store.capabilities().durable);
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    defs: Mutex<BTreeMap<(DefinitionKind, String), Definition>>,
    /// Keys by scope, then name (looked up without allocating).
    keys: Mutex<BTreeMap<KeyScope, BTreeMap<String, Key>>>,
    events: Mutex<Events>,
    enforcements: Mutex<Enforcements>,
    executions: Mutex<Executions>,
}

#[derive(Debug, Default)]
struct Events {
    rows: BTreeMap<EventId, Box<EventRow>>,
    /// Events not marked matched yet (few: only those in flight).
    unmatched: BTreeSet<EventId>,
}

// Indexes are B-trees, not hash maps: ids grow, so inserts land at the right edge, and a
// growing store never stalls every stage for a whole-table rehash.
#[derive(Debug, Default)]
struct Enforcements {
    rows: BTreeMap<EnforcementId, Box<Enforcement>>,
    /// The enforcements of each event, as `(event, enforcement)` pairs (no list to allocate
    /// per event): the `(rule, event)` unique index, and what keeps an event from being
    /// purged.
    by_event: BTreeSet<(EventId, EnforcementId)>,
}

#[derive(Debug, Default)]
struct Executions {
    rows: BTreeMap<ExecutionId, Box<ExecRow>>,
    by_key: BTreeMap<(EnforcementId, u32), ExecutionId>,
    scheduled: BTreeSet<ExecutionId>,
    running: BTreeSet<ExecutionId>,
    /// Workflow journals, by execution (kept and purged with the executions).
    journal: BTreeMap<ExecutionId, Vec<JournalEntry>>,
}

/// See [`Executions::cutoff`].
#[derive(Clone, Copy, Debug)]
struct Cutoff {
    id: Option<uuid::Uuid>,
    before: Option<DateTime<Utc>>,
}

impl Cutoff {
    fn due(&self, id: uuid::Uuid, created: DateTime<Utc>) -> bool {
        self.id.is_some_and(|c| id < c) || self.before.is_some_and(|b| created < b)
    }
}

/// Items of a batched call handled per lock acquisition.
const LOCK_CHUNK: usize = 64;

/// Locks a table; a panic while holding a lock cannot leave a map half-updated in a way that
/// matters more than losing the store, so a poisoned lock keeps serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryStore {
    /// Claims each of `ids` (see [`Executions::claim_with`]), a chunk per lock.
    fn claim_many(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
        with_params: bool,
    ) -> Vec<Result<Option<Execution>>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOCK_CHUNK) {
            let mut t = lock(&self.executions);
            out.extend(chunk.iter().map(|id| t.claim_with(*id, claim, with_params)));
        }
        out
    }

    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Executions {
    /// Conflict when `e`'s id, or its `(enforcement, attempt)`, is taken.
    fn check_new(&self, e: &Execution) -> Result<()> {
        if self.rows.contains_key(&e.id) {
            return Err(Error::Conflict(format!("execution '{}' exists", e.id)));
        }
        if let Some(enf) = e.enforcement
            && let Some(other) = self.by_key.get(&(enf, e.attempt))
        {
            return Err(Error::Conflict(format!(
                "enforcement '{enf}' already has execution '{other}' for attempt {}",
                e.attempt
            )));
        }
        Ok(())
    }

    /// Inserts `e`, checked by [`Executions::check_new`].
    fn insert(&mut self, e: &Execution) {
        if let Some(enf) = e.enforcement {
            self.by_key.insert((enf, e.attempt), e.id);
        }
        self.set_status_index(e.id, None, e.status);
        self.rows.insert(e.id, Box::new(ExecRow::new(e)));
    }

    /// Claims `id` if it is `scheduled`.
    fn claim(&mut self, id: ExecutionId, claim: &Claim) -> Result<Option<Execution>> {
        self.claim_with(id, claim, true)
    }

    /// Claims `id` if it is `scheduled`; its params are read back only `with_params`
    /// (otherwise left null).
    fn claim_with(
        &mut self,
        id: ExecutionId,
        claim: &Claim,
        with_params: bool,
    ) -> Result<Option<Execution>> {
        let Some(row) = self.rows.get_mut(&id) else {
            return Err(Error::not_found("execution", id));
        };
        if row.meta.status != ExecutionStatus::Scheduled {
            return Ok(None);
        }
        claim.apply_to(&mut row.meta);
        let out = if with_params {
            row.execution()
        } else {
            row.execution_without_params()
        };
        self.set_status_index(
            id,
            Some(ExecutionStatus::Scheduled),
            ExecutionStatus::Running,
        );
        Ok(Some(out))
    }

    fn set_status_index(
        &mut self,
        id: ExecutionId,
        old: Option<ExecutionStatus>,
        new: ExecutionStatus,
    ) {
        match old {
            Some(ExecutionStatus::Scheduled) => {
                self.scheduled.remove(&id);
            }
            Some(ExecutionStatus::Running) => {
                self.running.remove(&id);
            }
            _ => {}
        }
        match new {
            ExecutionStatus::Scheduled => {
                self.scheduled.insert(id);
            }
            ExecutionStatus::Running => {
                self.running.insert(id);
            }
            _ => {}
        }
    }

    fn remove(&mut self, id: ExecutionId) {
        if let Some(row) = self.rows.remove(&id) {
            if let Some(enf) = row.meta.enforcement {
                self.by_key.remove(&(enf, row.meta.attempt));
            }
            self.scheduled.remove(&id);
            self.running.remove(&id);
        }
        self.journal.remove(&id);
    }

    /// What is old enough to go: rows created before `req.before`, and rows older (by id)
    /// than the oldest execution `req.keep_executions` keeps. Ids, not timestamps, order the
    /// count limit, so equal timestamps cannot stall it.
    fn cutoff(&self, req: &PurgeRequest) -> Option<Cutoff> {
        let by_count = req.keep_executions.and_then(|keep| {
            let len = self.rows.len() as u64;
            if keep == 0 {
                return Some(uuid::Uuid::max());
            }
            (len > keep).then(|| {
                let skip = usize::try_from(len - keep).unwrap_or(usize::MAX);
                self.rows.keys().nth(skip).map(|id| id.0)
            })?
        });
        (by_count.is_some() || req.before.is_some()).then_some(Cutoff {
            id: by_count,
            before: req.before,
        })
    }

    /// Applies a compare-and-set transition to one row.
    fn transition(
        &mut self,
        id: ExecutionId,
        from: ExecutionStatus,
        change: ExecutionChange,
    ) -> Result<&ExecRow> {
        let row = self
            .rows
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("execution", id))?;
        if row.meta.status != from {
            return Err(Error::Conflict(format!(
                "execution '{id}' is {} (expected {from})",
                row.meta.status
            )));
        }
        from.check_transition(change.to, id)?;
        let to = change.to;
        row.apply(change);
        self.set_status_index(id, Some(from), to);
        self.rows
            .get(&id)
            .map(|r| &**r)
            .ok_or_else(|| Error::not_found("execution", id))
    }
}

impl Enforcements {
    /// The stored enforcement of `e`'s `(rule, event)`, if any; Conflict when only its id
    /// is taken.
    fn find_or_check(&self, e: &Enforcement) -> Result<Option<Enforcement>> {
        let existing = self
            .of_event(e.event)
            .filter_map(|id| self.rows.get(&id))
            .find(|x| x.rule == e.rule);
        if let Some(existing) = existing {
            return Ok(Some((**existing).clone()));
        }
        if self.rows.contains_key(&e.id) {
            return Err(Error::Conflict(format!("enforcement '{}' exists", e.id)));
        }
        Ok(None)
    }

    /// Inserts `e`, checked by [`Enforcements::find_or_check`].
    fn insert(&mut self, e: &Enforcement) {
        self.by_event.insert((e.event, e.id));
        self.rows.insert(e.id, Box::new(e.clone()));
    }

    fn remove(&mut self, id: EnforcementId) {
        if let Some(e) = self.rows.remove(&id) {
            self.by_event.remove(&(e.event, id));
        }
    }

    /// The ids of `event`'s enforcements, through the index.
    fn of_event(&self, event: EventId) -> impl Iterator<Item = EnforcementId> + '_ {
        self.by_event
            .range((event, EnforcementId::nil())..)
            .take_while(move |(e, _)| *e == event)
            .map(|(_, id)| *id)
    }
}

/// Rows past the page cursor, in the page's order, that pass `admit`, `page.offset` of
/// them skipped, converted by `out`, at most `page.limit`.
fn page<'a, K, V, T, F, O>(map: &'a BTreeMap<K, V>, page: &Page, mut admit: F, out: O) -> Vec<T>
where
    K: Ord + Copy + Into<uuid::Uuid> + From<uuid::Uuid> + 'a,
    F: FnMut(&V) -> bool,
    O: FnMut(&V) -> T,
{
    let rows: Box<dyn Iterator<Item = &V>> = match (page.after, page.newest_first) {
        (None, false) => Box::new(map.values()),
        (None, true) => Box::new(map.values().rev()),
        (Some(a), false) => Box::new(
            map.range((
                std::ops::Bound::Excluded(K::from(a)),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, v)| v),
        ),
        (Some(a), true) => Box::new(map.range(..K::from(a)).rev().map(|(_, v)| v)),
    };
    rows.filter(|v| admit(v))
        .skip(page.offset)
        .take(page.limit)
        .map(out)
        .collect()
}

macro_rules! from_uuid {
    ($($t:ty),*) => {$(
        impl From<uuid::Uuid> for $t {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}
from_uuid!(EventId, EnforcementId, ExecutionId);

#[async_trait]
impl Store for MemoryStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::new(false, false).never_transient()
    }

    async fn put_definition(&self, def: Definition) -> Result<()> {
        let key = (def.kind(), def.def_ref().to_string());
        lock(&self.defs).insert(key, def);
        Ok(())
    }

    async fn get_definition(
        &self,
        kind: DefinitionKind,
        def_ref: &str,
    ) -> Result<Option<Definition>> {
        Ok(lock(&self.defs).get(&(kind, def_ref.to_string())).cloned())
    }

    async fn list_definitions(
        &self,
        kind: DefinitionKind,
        pack: Option<&str>,
    ) -> Result<Vec<Definition>> {
        Ok(lock(&self.defs)
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .map(|(_, d)| d)
            .filter(|d| pack.is_none_or(|p| d.pack() == p))
            .cloned()
            .collect())
    }

    async fn delete_definition(&self, kind: DefinitionKind, def_ref: &str) -> Result<bool> {
        Ok(lock(&self.defs)
            .remove(&(kind, def_ref.to_string()))
            .is_some())
    }

    async fn replace_pack(&self, pack: &str, defs: Vec<Definition>) -> Result<()> {
        super::check_pack_definitions(pack, &defs)?;
        let mut all = lock(&self.defs);
        all.retain(|_, d| d.pack() != pack);
        for d in defs {
            all.insert((d.kind(), d.def_ref().to_string()), d);
        }
        Ok(())
    }

    async fn insert_event(&self, event: &Event) -> Result<()> {
        let row = Box::new(EventRow::new(event));
        let mut t = lock(&self.events);
        if t.rows.contains_key(&event.id) {
            return Err(Error::Conflict(format!("event '{}' exists", event.id)));
        }
        t.rows.insert(event.id, row);
        t.unmatched.insert(event.id);
        Ok(())
    }

    async fn mark_events_matched(&self, ids: &[EventId]) -> Result<()> {
        let mut t = lock(&self.events);
        for id in ids {
            t.unmatched.remove(id);
        }
        Ok(())
    }

    async fn get_event(&self, id: EventId) -> Result<Event> {
        let row = lock(&self.events).rows.get(&id).map(|r| EventRow::clone(r));
        row.map(|r| r.event())
            .ok_or_else(|| Error::not_found("event", id))
    }

    async fn list_events(&self, filter: &EventFilter, p: &Page) -> Result<Vec<Event>> {
        let t = lock(&self.events);
        if filter.unmatched_only {
            use std::ops::Bound::{Excluded, Unbounded};
            let ids: Box<dyn Iterator<Item = &EventId>> = match (p.after, p.newest_first) {
                (None, false) => Box::new(t.unmatched.iter()),
                (None, true) => Box::new(t.unmatched.iter().rev()),
                (Some(a), false) => Box::new(t.unmatched.range((Excluded(EventId(a)), Unbounded))),
                (Some(a), true) => Box::new(t.unmatched.range(..EventId(a)).rev()),
            };
            return Ok(ids
                .filter_map(|id| t.rows.get(id))
                .filter(|r| filter.admits(&r.meta))
                .skip(p.offset)
                .take(p.limit)
                .map(|r| r.event())
                .collect());
        }
        Ok(page(&t.rows, p, |r| filter.admits(&r.meta), |r| r.event()))
    }

    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        let t = lock(&self.events);
        let n = if filter.unmatched_only {
            t.unmatched
                .iter()
                .filter_map(|id| t.rows.get(id))
                .filter(|r| filter.admits(&r.meta))
                .count()
        } else if *filter == EventFilter::default() {
            t.rows.len()
        } else {
            t.rows.values().filter(|r| filter.admits(&r.meta)).count()
        };
        Ok(n as u64)
    }

    async fn insert_enforcement(&self, e: &Enforcement) -> Result<Inserted<Enforcement>> {
        let mut t = lock(&self.enforcements);
        if let Some(existing) = t.find_or_check(e)? {
            return Ok(Inserted::Existing(existing));
        }
        t.insert(e);
        Ok(Inserted::New)
    }

    async fn insert_enforcements(&self, items: &[Enforced]) -> Vec<Result<Inserted<Enforcement>>> {
        let mut out = Vec::with_capacity(items.len());
        // Locks are taken per chunk, so that the other stages are not held up by a batch.
        for chunk in items.chunks(LOCK_CHUNK) {
            // Lock order: executions, enforcements (as in `purge`).
            let mut xs = lock(&self.executions);
            let mut t = lock(&self.enforcements);
            out.extend(chunk.iter().map(|item| {
                item.check()?;
                if let Some(existing) = t.find_or_check(&item.enforcement)? {
                    return Ok(Inserted::Existing(existing));
                }
                if let Some(x) = &item.execution {
                    xs.check_new(x)?;
                    xs.insert(x);
                }
                t.insert(&item.enforcement);
                Ok(Inserted::New)
            }));
        }
        out
    }

    async fn get_enforcement(&self, id: EnforcementId) -> Result<Enforcement> {
        lock(&self.enforcements)
            .rows
            .get(&id)
            .map(|e| (**e).clone())
            .ok_or_else(|| Error::not_found("enforcement", id))
    }

    async fn update_enforcement(
        &self,
        id: EnforcementId,
        from: EnforcementStatus,
        u: EnforcementUpdate,
    ) -> Result<Enforcement> {
        let mut t = lock(&self.enforcements);
        let e = t
            .rows
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("enforcement", id))?;
        if e.status != from {
            return Err(Error::Conflict(format!(
                "enforcement '{id}' is {} (expected {from})",
                e.status
            )));
        }
        u.apply_to(e);
        Ok((**e).clone())
    }

    async fn list_enforcements(
        &self,
        filter: &EnforcementFilter,
        p: &Page,
    ) -> Result<Vec<Enforcement>> {
        Ok(page(
            &lock(&self.enforcements).rows,
            p,
            |e| filter.admits(e),
            |e| (**e).clone(),
        ))
    }

    async fn count_enforcements(&self, filter: &EnforcementFilter) -> Result<u64> {
        let t = lock(&self.enforcements);
        let n = match filter.event {
            // The enforcements of one event: a few, through the index.
            Some(event) => t
                .of_event(event)
                .filter_map(|id| t.rows.get(&id))
                .filter(|e| filter.admits(e))
                .count(),
            None if *filter == EnforcementFilter::default() => t.rows.len(),
            None => t.rows.values().filter(|e| filter.admits(e)).count(),
        };
        Ok(n as u64)
    }

    async fn insert_execution(&self, e: &Execution) -> Result<()> {
        let mut t = lock(&self.executions);
        t.check_new(e)?;
        t.insert(e);
        Ok(())
    }

    async fn get_execution(&self, id: ExecutionId) -> Result<Execution> {
        let row = lock(&self.executions)
            .rows
            .get(&id)
            .map(|r| ExecRow::clone(r));
        row.map(|r| r.execution())
            .ok_or_else(|| Error::not_found("execution", id))
    }

    async fn transition_execution(
        &self,
        id: ExecutionId,
        from: ExecutionStatus,
        change: ExecutionChange,
    ) -> Result<Execution> {
        let row = lock(&self.executions)
            .transition(id, from, change)
            .cloned()?;
        Ok(row.execution())
    }

    async fn transition_executions(
        &self,
        changes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
    ) -> Vec<Result<()>> {
        let mut t = lock(&self.executions);
        changes
            .into_iter()
            .map(|(id, from, change)| t.transition(id, from, change).map(|_| ()))
            .collect()
    }

    async fn claim_execution(&self, id: ExecutionId, claim: &Claim) -> Result<Option<Execution>> {
        lock(&self.executions).claim(id, claim)
    }

    async fn claim_executions(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
    ) -> Vec<Result<Option<Execution>>> {
        self.claim_many(ids, claim, true)
    }

    async fn claim_executions_holding_params(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
    ) -> Vec<Result<Option<Execution>>> {
        self.claim_many(ids, claim, false)
    }

    async fn claim_ready(&self, claim: &Claim, limit: usize) -> Result<Vec<Claimed>> {
        let mut guard = lock(&self.executions);
        let t = &mut *guard;
        let mut ids: Vec<(ExecutionId, bool)> = Vec::new();
        for id in t.running.iter() {
            if ids.len() >= limit {
                break;
            }
            if t.rows.get(id).and_then(|r| claim.can_claim(&r.meta)) == Some(true) {
                ids.push((*id, true));
            }
        }
        let room = limit.saturating_sub(ids.len());
        ids.extend(t.scheduled.iter().take(room).map(|id| (*id, false)));
        let mut out = Vec::with_capacity(ids.len());
        for (id, reclaimed) in ids {
            let from = if reclaimed {
                ExecutionStatus::Running
            } else {
                ExecutionStatus::Scheduled
            };
            if let Some(row) = t.rows.get_mut(&id) {
                if reclaimed {
                    if let Some(enf) = row.meta.enforcement {
                        t.by_key.remove(&(enf, row.meta.attempt));
                        t.by_key.insert((enf, row.meta.attempt + 1), id);
                    }
                    row.meta.attempt += 1;
                }
                claim.apply_to(&mut row.meta);
                out.push(Claimed {
                    execution: row.execution(),
                    reclaimed,
                });
            }
            t.set_status_index(id, Some(from), ExecutionStatus::Running);
        }
        out.sort_by_key(|c| c.execution.id);
        Ok(out)
    }

    async fn renew_lease(&self, id: ExecutionId, claim: &Claim) -> Result<()> {
        let mut t = lock(&self.executions);
        let e = &mut t
            .rows
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("execution", id))?
            .meta;
        if !e.status.holds_claim() || e.worker.as_deref() != Some(claim.worker.as_str()) {
            return Err(Error::Conflict(format!(
                "execution '{id}' is not held by worker '{}'",
                claim.worker
            )));
        }
        e.lease_expires = Some(claim.lease_until);
        Ok(())
    }

    async fn take_over_execution(
        &self,
        id: ExecutionId,
        claim: &Claim,
    ) -> Result<Option<Execution>> {
        let mut guard = lock(&self.executions);
        let t = &mut *guard;
        let row = t
            .rows
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("execution", id))?;
        if !claim.can_take_over(&row.meta) {
            return Ok(None);
        }
        if let Some(enf) = row.meta.enforcement {
            if t.by_key.contains_key(&(enf, row.meta.attempt + 1)) {
                return Ok(None);
            }
            t.by_key.remove(&(enf, row.meta.attempt));
            t.by_key.insert((enf, row.meta.attempt + 1), id);
        }
        claim.take_over(&mut row.meta);
        Ok(Some(row.execution()))
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<()> {
        let mut t = lock(&self.executions);
        for (i, e) in entries.iter().enumerate() {
            let taken = t
                .journal
                .get(&e.execution)
                .is_some_and(|j| j.binary_search_by_key(&e.seq, |x| x.seq).is_ok())
                || entries[..i]
                    .iter()
                    .any(|x| x.execution == e.execution && x.seq == e.seq);
            if taken {
                return Err(Error::Conflict(format!(
                    "journal entry {} of execution '{}' exists",
                    e.seq, e.execution
                )));
            }
        }
        for e in entries {
            let j = t.journal.entry(e.execution).or_default();
            // Appended in order nearly always: keep the list sorted by seq.
            let at = j.partition_point(|x| x.seq < e.seq);
            j.insert(at, e.clone());
        }
        Ok(())
    }

    async fn read_journal(&self, execution: ExecutionId) -> Result<Vec<JournalEntry>> {
        Ok(lock(&self.executions)
            .journal
            .get(&execution)
            .cloned()
            .unwrap_or_default())
    }

    async fn list_executions(&self, filter: &ExecutionFilter, p: &Page) -> Result<Vec<Execution>> {
        Ok(page(
            &lock(&self.executions).rows,
            p,
            |r| filter.admits(&r.meta),
            |r| r.execution(),
        ))
    }

    async fn count_executions(&self, filter: &ExecutionFilter) -> Result<u64> {
        let t = lock(&self.executions);
        if *filter == ExecutionFilter::default() {
            return Ok(t.rows.len() as u64);
        }
        Ok(t.rows.values().filter(|r| filter.admits(&r.meta)).count() as u64)
    }

    async fn put_key(&self, key: &Key) -> Result<()> {
        lock(&self.keys)
            .entry(key.scope.clone())
            .or_default()
            .insert(key.name.clone(), key.clone());
        Ok(())
    }

    async fn get_key(&self, scope: &KeyScope, name: &str) -> Result<Option<Key>> {
        let now = Utc::now();
        Ok(lock(&self.keys)
            .get(scope)
            .and_then(|names| names.get(name))
            .filter(|k| !k.is_expired(now))
            .cloned())
    }

    async fn delete_key(&self, scope: &KeyScope, name: &str) -> Result<bool> {
        let mut keys = lock(&self.keys);
        let Some(names) = keys.get_mut(scope) else {
            return Ok(false);
        };
        let existed = names.remove(name).is_some();
        if names.is_empty() {
            keys.remove(scope);
        }
        Ok(existed)
    }

    async fn list_keys(&self, scope: Option<&KeyScope>) -> Result<Vec<Key>> {
        let now = Utc::now();
        let keys = lock(&self.keys);
        let live = |names: &BTreeMap<String, Key>| {
            names
                .values()
                .filter(|k| !k.is_expired(now))
                .cloned()
                .collect::<Vec<Key>>()
        };
        Ok(match scope {
            Some(s) => keys.get(s).map(live).unwrap_or_default(),
            None => keys.values().flat_map(live).collect(),
        })
    }

    async fn purge(&self, req: &PurgeRequest) -> Result<PurgeStats> {
        let mut stats = PurgeStats::default();
        let batch = req.batch.max(1);
        // Lock order: executions, enforcements, events (the only place holding several).
        let mut xs = lock(&self.executions);
        let Some(cutoff) = xs.cutoff(req) else {
            return Ok(stats);
        };
        let doomed: Vec<ExecutionId> = xs
            .rows
            .values()
            .map(|r| &r.meta)
            .take_while(|e| cutoff.due(e.id.0, e.created))
            .filter(|e| e.status.is_terminal())
            // A running workflow continues from its tasks' executions.
            .filter(|e| {
                e.parent
                    .is_none_or(|p| xs.rows.get(&p).is_none_or(|r| r.meta.status.is_terminal()))
            })
            .take(batch + 1)
            .map(|e| e.id)
            .collect();
        stats.more |= doomed.len() > batch;
        for id in doomed.into_iter().take(batch) {
            xs.remove(id);
            stats.executions += 1;
        }
        let mut enfs = lock(&self.enforcements);
        let doomed: Vec<EnforcementId> = enfs
            .rows
            .values()
            .take_while(|e| cutoff.due(e.id.0, e.created))
            .filter(|e| {
                e.status != EnforcementStatus::Created
                    && e.execution.is_none_or(|x| !xs.rows.contains_key(&x))
            })
            .take(batch + 1)
            .map(|e| e.id)
            .collect();
        drop(xs);
        stats.more |= doomed.len() > batch;
        for id in doomed.into_iter().take(batch) {
            enfs.remove(id);
            stats.enforcements += 1;
        }
        let mut evs = lock(&self.events);
        let doomed: Vec<EventId> = evs
            .rows
            .values()
            .map(|r| &r.meta)
            .take_while(|e| {
                cutoff.due(e.id.0, e.created) && req.keep_events_from.is_none_or(|k| e.id < k)
            })
            .filter(|e| enfs.of_event(e.id).next().is_none())
            .take(batch + 1)
            .map(|e| e.id)
            .collect();
        drop(enfs);
        stats.more |= doomed.len() > batch;
        for id in doomed.into_iter().take(batch) {
            evs.rows.remove(&id);
            evs.unmatched.remove(&id);
            stats.events += 1;
        }
        Ok(stats)
    }
}
