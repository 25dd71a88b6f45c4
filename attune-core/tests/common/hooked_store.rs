//! A store wrapper with hooks, for the engine tests that need a store to fail or to stop
//! at an exact point (tests/engine_recovery.rs, tests/engine_workflow_control.rs).

use async_trait::async_trait;
use attune_core::model::*;
use attune_core::store::*;
use attune_core::{Error, Result};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A [`MemoryStore`] with hooks for tests: the next `fail_transitions` calls of
/// `transition_executions` fail (a transient backend error), and each `append_journal`
/// (after it was written) is sent to `journal` when set, returning once the receiver answered
/// (so a test can act at that exact point of a workflow run). `inserted` records the status
/// of every execution inserted.
#[derive(Debug, Default)]
pub(crate) struct HookedStore {
    /// The store behind.
    pub inner: MemoryStore,
    /// How many `transition_executions` calls still fail.
    pub fail_transitions: AtomicU32,
    /// Where journal appends are reported.
    pub journal: Mutex<Option<mpsc::UnboundedSender<JournalCall>>>,
    /// The status each execution was inserted with, in insertion order.
    pub inserted: Mutex<Vec<(ExecutionId, ExecutionStatus)>>,
    /// Whether it says it is durable (the engine takes its paths for a durable store).
    pub durable: std::sync::atomic::AtomicBool,
}

/// One `append_journal` reported by [`HookedStore`]: answer on `done` to let it return.
#[derive(Debug)]
pub(crate) struct JournalCall {
    /// The entries written.
    pub entries: Vec<JournalEntry>,
    /// Answered when the test is done with it.
    pub done: oneshot::Sender<()>,
}

impl HookedStore {
    /// A hooked store with no hook set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Reports every journal append from now on.
    pub(crate) fn report_journal(&self) -> mpsc::UnboundedReceiver<JournalCall> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.journal.lock().unwrap() = Some(tx);
        rx
    }
}

#[async_trait]
impl Store for HookedStore {
    fn capabilities(&self) -> StoreCapabilities {
        // It fails transitions for a transient reason when told to.
        let mut c = self.inner.capabilities();
        c.never_transient = false;
        c.durable = self.durable.load(Ordering::SeqCst);
        c
    }
    async fn put_definition(&self, d: Definition) -> Result<()> {
        self.inner.put_definition(d).await
    }
    async fn get_definition(&self, k: DefinitionKind, r: &str) -> Result<Option<Definition>> {
        self.inner.get_definition(k, r).await
    }
    async fn list_definitions(
        &self,
        k: DefinitionKind,
        p: Option<&str>,
    ) -> Result<Vec<Definition>> {
        self.inner.list_definitions(k, p).await
    }
    async fn delete_definition(&self, k: DefinitionKind, r: &str) -> Result<bool> {
        self.inner.delete_definition(k, r).await
    }
    async fn replace_pack(&self, p: &str, d: Vec<Definition>) -> Result<()> {
        self.inner.replace_pack(p, d).await
    }
    async fn insert_event(&self, e: &Event) -> Result<()> {
        self.inner.insert_event(e).await
    }
    async fn get_event(&self, id: EventId) -> Result<Event> {
        self.inner.get_event(id).await
    }
    async fn list_events(&self, f: &EventFilter, p: &Page) -> Result<Vec<Event>> {
        self.inner.list_events(f, p).await
    }
    async fn count_events(&self, f: &EventFilter) -> Result<u64> {
        self.inner.count_events(f).await
    }
    async fn mark_events_matched(&self, ids: &[EventId]) -> Result<()> {
        self.inner.mark_events_matched(ids).await
    }
    async fn insert_enforcement(&self, e: &Enforcement) -> Result<Inserted<Enforcement>> {
        self.inner.insert_enforcement(e).await
    }
    async fn insert_enforcements(&self, items: &[Enforced]) -> Vec<Result<Inserted<Enforcement>>> {
        self.inserted.lock().unwrap().extend(
            items
                .iter()
                .filter_map(|i| i.execution.as_ref())
                .map(|x| (x.id, x.status)),
        );
        self.inner.insert_enforcements(items).await
    }
    async fn get_enforcement(&self, id: EnforcementId) -> Result<Enforcement> {
        self.inner.get_enforcement(id).await
    }
    async fn update_enforcement(
        &self,
        id: EnforcementId,
        f: EnforcementStatus,
        u: EnforcementUpdate,
    ) -> Result<Enforcement> {
        self.inner.update_enforcement(id, f, u).await
    }
    async fn list_enforcements(&self, f: &EnforcementFilter, p: &Page) -> Result<Vec<Enforcement>> {
        self.inner.list_enforcements(f, p).await
    }
    async fn count_enforcements(&self, f: &EnforcementFilter) -> Result<u64> {
        self.inner.count_enforcements(f).await
    }
    async fn insert_execution(&self, e: &Execution) -> Result<()> {
        self.inserted.lock().unwrap().push((e.id, e.status));
        self.inner.insert_execution(e).await
    }
    async fn get_execution(&self, id: ExecutionId) -> Result<Execution> {
        self.inner.get_execution(id).await
    }
    async fn transition_execution(
        &self,
        id: ExecutionId,
        f: ExecutionStatus,
        c: ExecutionChange,
    ) -> Result<Execution> {
        self.inner.transition_execution(id, f, c).await
    }
    async fn transition_executions(
        &self,
        c: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
    ) -> Vec<Result<()>> {
        if self.fail_transitions.load(Ordering::SeqCst) > 0 {
            self.fail_transitions.fetch_sub(1, Ordering::SeqCst);
            return c
                .iter()
                .map(|_| Err(Error::backend("connection reset", true)))
                .collect();
        }
        self.inner.transition_executions(c).await
    }
    async fn claim_execution(&self, id: ExecutionId, c: &Claim) -> Result<Option<Execution>> {
        self.inner.claim_execution(id, c).await
    }
    async fn claim_ready(&self, c: &Claim, l: usize) -> Result<Vec<Claimed>> {
        self.inner.claim_ready(c, l).await
    }
    async fn renew_lease(&self, id: ExecutionId, c: &Claim) -> Result<()> {
        self.inner.renew_lease(id, c).await
    }
    async fn take_over_execution(&self, id: ExecutionId, c: &Claim) -> Result<Option<Execution>> {
        self.inner.take_over_execution(id, c).await
    }
    async fn append_journal(&self, e: &[JournalEntry]) -> Result<()> {
        self.inner.append_journal(e).await?;
        let hook = self.journal.lock().unwrap().clone();
        if let Some(tx) = hook {
            let (done, answered) = oneshot::channel();
            let call = JournalCall {
                entries: e.to_vec(),
                done,
            };
            if tx.send(call).is_ok() {
                let _ = answered.await;
            }
        }
        Ok(())
    }
    async fn read_journal(&self, id: ExecutionId) -> Result<Vec<JournalEntry>> {
        self.inner.read_journal(id).await
    }
    async fn list_executions(&self, f: &ExecutionFilter, p: &Page) -> Result<Vec<Execution>> {
        self.inner.list_executions(f, p).await
    }
    async fn count_executions(&self, f: &ExecutionFilter) -> Result<u64> {
        self.inner.count_executions(f).await
    }
    async fn put_key(&self, k: &Key) -> Result<()> {
        self.inner.put_key(k).await
    }
    async fn get_key(&self, s: &KeyScope, n: &str) -> Result<Option<Key>> {
        self.inner.get_key(s, n).await
    }
    async fn delete_key(&self, s: &KeyScope, n: &str) -> Result<bool> {
        self.inner.delete_key(s, n).await
    }
    async fn list_keys(&self, s: Option<&KeyScope>) -> Result<Vec<Key>> {
        self.inner.list_keys(s).await
    }
    async fn purge(&self, r: &PurgeRequest) -> Result<PurgeStats> {
        self.inner.purge(r).await
    }
}
