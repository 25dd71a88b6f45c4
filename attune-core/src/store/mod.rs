//! The [`Store`] trait — the durable truth — and the in-memory [`MemoryStore`].

mod ext;
mod journal;
mod memory;
mod memory_rows;
mod query;

pub use ext::StoreExt;
pub use journal::JournalEntry;
pub use memory::MemoryStore;
pub use query::{
    Claim, Claimed, Enforced, EnforcementFilter, EnforcementUpdate, EventFilter, ExecutionChange,
    ExecutionFilter, ExecutionHead, Inserted, Page, PurgeRequest, PurgeStats, StoreCapabilities,
    check_pack_definitions,
};

use crate::Result;
use crate::model::{
    Definition, DefinitionKind, Enforcement, EnforcementId, EnforcementStatus, Event, EventId,
    Execution, ExecutionId, ExecutionStatus, Key, KeyScope,
};
use async_trait::async_trait;
use std::fmt::Debug;

/// The durable truth: definitions, events, enforcements, executions and keys.
///
/// Held as `Arc<dyn Store>`. Every implementation must pass the conformance suite in
/// `attune_core::conformance` (feature `conformance`) unchanged. The contract:
///
/// * **Definitions** are kept by `(kind, ref)`; `put_definition` inserts or replaces;
///   [`Store::replace_pack`] swaps every definition of one pack in one atomic step (readers see
///   the old set or the new set, never a mix).
/// * **Events** are immutable. `insert_event` returns only once the event is durable (for a
///   durable store); inserting an id twice is [`Error::Conflict`](crate::Error::Conflict).
/// * **Enforcements**: at most one per `(rule, event)`. Inserting a second returns
///   [`Inserted::Existing`] with the stored one — that is how redelivered events stay
///   idempotent.
/// * **Executions**: at most one per `(enforcement, attempt)` when an enforcement is set
///   (else Conflict). Status changes are compare-and-set: [`Store::transition_execution`]
///   applies `from → change.to` only if the row is still in `from` (else Conflict) and only if
///   the state machine allows it (else [`Error::IllegalTransition`](crate::Error::IllegalTransition)).
/// * **Claims**: a worker claims a `scheduled` execution with a lease; the claim moves it to
///   `running`. At most one live claim exists per execution: two concurrent claimers never
///   both get it. A `running` execution whose lease expired is claimable again by
///   [`Store::claim_ready`] (reported as `reclaimed`, attempt incremented). An execution in a
///   terminal status is never claimable.
/// * **Queries** return rows in id order (creation order), paginated by keyset
///   ([`Page::after`]); a count with a filter counts the rows the list with that filter
///   returns over all its pages.
/// * **Take-over**: an execution a claim holds (`running`, `pausing`, `paused`,
///   `canceling`: [`ExecutionStatus::holds_claim`]) whose lease expired can be taken over
///   by another worker with [`Store::take_over_execution`] (status kept, attempt
///   incremented) — how a restarted engine continues a workflow run.
/// * **Journals**: [`Store::append_journal`] keeps a workflow run's steps, at most one per
///   `(execution, seq)`, all of a call or none; [`Store::read_journal`] returns them in
///   `seq` order.
/// * **Retention**: [`Store::purge`] deletes in bounded batches and never deletes an
///   execution that is not terminal, nor one whose parent (a workflow) is not terminal;
///   an execution's journal goes with it.
///
/// Implementations may batch behind this interface (group commit): a call returns once its
/// own change is committed. Missing rows are [`Error::NotFound`](crate::Error::NotFound).
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// What this backend offers.
    fn capabilities(&self) -> StoreCapabilities;

    /// The outbox: when the store writes the work-queue messages of its state changes
    /// itself, in the transaction of each change, the name of the queue it writes them to;
    /// `None` (the default) when the engine publishes them on its transport. The engine
    /// accepts a store whose outbox is on only with a transport whose
    /// [`Transport::outbox`](crate::transport::Transport::outbox) names the same queue, and
    /// then does not publish these messages itself. When on, the store writes:
    ///
    /// * for each event inserted (`insert_event(s)`): `Message::Event(id)` on `Topic::Events`;
    /// * for each execution inserted (`insert_execution(s)`, `insert_enforcements`) in
    ///   `requested`: `Message::Requested(id)` on `Topic::Requested`; in `scheduled`:
    ///   `Message::Scheduled(id)` on `Topic::Scheduled`;
    /// * for each transition (`transition_execution(s)`) into `scheduled`:
    ///   `Message::Scheduled(id)` on `Topic::Scheduled`; into a terminal status:
    ///   `Message::Finished` with that status on `Topic::Finished`.
    ///
    /// Nothing for a write that fails or changes nothing.
    fn outbox(&self) -> Option<String> {
        None
    }

    /// Inserts or replaces a definition.
    async fn put_definition(&self, def: Definition) -> Result<()>;
    /// Reads a definition; `None` when absent.
    async fn get_definition(
        &self,
        kind: DefinitionKind,
        def_ref: &str,
    ) -> Result<Option<Definition>>;
    /// Lists the definitions of `kind`, optionally only those of `pack`, ordered by ref.
    async fn list_definitions(
        &self,
        kind: DefinitionKind,
        pack: Option<&str>,
    ) -> Result<Vec<Definition>>;
    /// Deletes a definition; returns whether it existed.
    async fn delete_definition(&self, kind: DefinitionKind, def_ref: &str) -> Result<bool>;
    /// Atomically replaces every definition belonging to `pack` (including the pack itself)
    /// with `defs`. Every element of `defs` must belong to `pack` (else Invalid, nothing
    /// changed). An empty `defs` removes the pack.
    async fn replace_pack(&self, pack: &str, defs: Vec<Definition>) -> Result<()>;
    /// The generation of the stored definitions, on a store several processes share: a
    /// number that grows when a definition changes (put with a different content, deleted,
    /// or changed by `replace_pack`), by this process or another, committed with the change.
    /// Engines on a shared store read it before matching and scheduling a batch and load
    /// the definitions again when it moved, so that a rule or action registered in one
    /// process is followed by all. A put or replacement that changes nothing should leave it.
    /// `None` (the default) on a store only one engine uses.
    async fn definitions_generation(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// Persists an event. Conflict if its id exists.
    async fn insert_event(&self, event: &Event) -> Result<()>;
    /// Persists several events, each as [`Store::insert_event`] would; one result per
    /// event, in order (a failed one does not affect the others). The default inserts one
    /// after the other; batching backends commit them together.
    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            out.push(self.insert_event(e).await);
        }
        out
    }
    /// Reads an event.
    async fn get_event(&self, id: EventId) -> Result<Event>;
    /// Reads events: one result per id, in order (NotFound for an id not stored). A store
    /// whose reads take a round trip reads them all with one (the default reads one by
    /// one).
    async fn get_events(&self, ids: &[EventId]) -> Vec<Result<Event>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_event(*id).await);
        }
        out
    }
    /// Lists events.
    async fn list_events(&self, filter: &EventFilter, page: &Page) -> Result<Vec<Event>>;
    /// Counts events matching `filter`.
    async fn count_events(&self, filter: &EventFilter) -> Result<u64>;
    /// Records that these events were matched to the end (their enforcements and executions
    /// are stored), so that [`EventFilter::unmatched_only`] leaves them out. An event is
    /// unmatched from `insert_event` until then; unknown ids are ignored. A durable store
    /// must keep this across restarts: it is how events acknowledged just before a crash get
    /// matched after it. The default does nothing (a store that lists every event as
    /// unmatched only costs idempotent re-matching).
    async fn mark_events_matched(&self, ids: &[EventId]) -> Result<()> {
        let _ = ids;
        Ok(())
    }

    /// Of `ids`, those stored and not marked matched
    /// ([`Store::mark_events_matched`]), in the order given, each once. How an engine on a
    /// shared store learns which events it emitted another engine has matched. The default
    /// pages through every unmatched event ([`EventFilter::unmatched_only`]); a store that
    /// may hold many answers with one query.
    async fn unmatched_events(&self, ids: &[EventId]) -> Result<Vec<EventId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = EventFilter {
            unmatched_only: true,
            ..EventFilter::default()
        };
        let mut unmatched = std::collections::HashSet::new();
        let mut page = Page::first(1000);
        loop {
            let rows = self.list_events(&filter, &page).await?;
            let Some(last) = rows.last() else { break };
            page = Page::after(last.id, 1000);
            let full = rows.len() == 1000;
            unmatched.extend(rows.iter().map(|e| e.id));
            if !full {
                break;
            }
        }
        let mut seen = std::collections::HashSet::new();
        Ok(ids
            .iter()
            .copied()
            .filter(|id| unmatched.contains(id) && seen.insert(*id))
            .collect())
    }

    /// Inserts an enforcement unless one exists for the same `(rule, event)`.
    async fn insert_enforcement(&self, enforcement: &Enforcement) -> Result<Inserted<Enforcement>>;
    /// Records enforcements in their final state together with their executions — the
    /// matching stage's one write per batch of events. For each item, in order: when an
    /// enforcement of the same `(rule, event)` exists, the result is [`Inserted::Existing`]
    /// with it and nothing of the item is written; otherwise the enforcement and its
    /// execution (if any) are inserted together, both or neither (an execution that would
    /// be a Conflict leaves no enforcement either; an item whose enforcement and execution
    /// do not name each other is Invalid, see [`Enforced::check`]). One result per item;
    /// a failed item does not affect the others. A batching backend commits them together.
    async fn insert_enforcements(&self, items: &[Enforced]) -> Vec<Result<Inserted<Enforcement>>>;
    /// Reads an enforcement.
    async fn get_enforcement(&self, id: EnforcementId) -> Result<Enforcement>;
    /// Compare-and-set update: applies `update` only if the status is still `from`.
    async fn update_enforcement(
        &self,
        id: EnforcementId,
        from: EnforcementStatus,
        update: EnforcementUpdate,
    ) -> Result<Enforcement>;
    /// Lists enforcements.
    async fn list_enforcements(
        &self,
        filter: &EnforcementFilter,
        page: &Page,
    ) -> Result<Vec<Enforcement>>;
    /// Counts enforcements matching `filter`.
    async fn count_enforcements(&self, filter: &EnforcementFilter) -> Result<u64>;

    /// Inserts an execution (any status). Conflict if its id, or its `(enforcement, attempt)`,
    /// exists.
    async fn insert_execution(&self, execution: &Execution) -> Result<()>;
    /// Inserts several executions, each as [`Store::insert_execution`] would; one result per
    /// execution, in order (a failed one does not affect the others). The default inserts
    /// one after the other; batching backends commit them together.
    async fn insert_executions(&self, executions: &[Execution]) -> Vec<Result<()>> {
        let mut out = Vec::with_capacity(executions.len());
        for x in executions {
            out.push(self.insert_execution(x).await);
        }
        out
    }
    /// Reads an execution.
    async fn get_execution(&self, id: ExecutionId) -> Result<Execution>;
    /// Reads executions: one result per id, in order (NotFound for an id not stored). A
    /// store whose reads take a round trip (or a hop to another thread) reads them all
    /// with one (the default reads one by one).
    async fn get_executions(&self, ids: &[ExecutionId]) -> Vec<Result<Execution>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_execution(*id).await);
        }
        out
    }
    /// The runner and status of each execution: one result per id, in order (NotFound for
    /// an id not stored). What the running stage reads to route a batch; a store with
    /// large records reads only these fields (the default reads the records).
    async fn get_execution_heads(&self, ids: &[ExecutionId]) -> Vec<Result<ExecutionHead>> {
        self.get_executions(ids)
            .await
            .into_iter()
            .map(|r| r.map(|x| ExecutionHead::of(&x)))
            .collect()
    }
    /// Compare-and-set status change `from → change.to`, with the fields of `change`.
    /// Entering a terminal status sets `finished` and clears the claim; entering `running`
    /// sets `started` if unset.
    async fn transition_execution(
        &self,
        id: ExecutionId,
        from: ExecutionStatus,
        change: ExecutionChange,
    ) -> Result<Execution>;
    /// Applies several transitions, each as [`Store::transition_execution`] would, without
    /// returning the rows (the stages do not need them); one result per input, in order. The
    /// default calls [`Store::transition_execution`] for each; batching backends commit them
    /// together.
    async fn transition_executions(
        &self,
        changes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
    ) -> Vec<Result<()>> {
        let mut out = Vec::with_capacity(changes.len());
        for (id, from, change) in changes {
            out.push(
                self.transition_execution(id, from, change)
                    .await
                    .map(|_| ()),
            );
        }
        out
    }
    /// Claims one `scheduled` execution for `claim.worker`: moves it to `running` with the
    /// lease. `None` when it is not claimable (not scheduled, or claimed by someone else).
    async fn claim_execution(&self, id: ExecutionId, claim: &Claim) -> Result<Option<Execution>>;
    /// Claims each of `ids` as [`Store::claim_execution`] would; one result per id, in
    /// order. The default claims one after the other; batching backends commit the claims
    /// together.
    async fn claim_executions(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
    ) -> Vec<Result<Option<Execution>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.claim_execution(*id, claim).await);
        }
        out
    }
    /// [`Store::claim_executions`] for a claimer that holds the executions' params itself
    /// (the engine that created them, on a store it does not share): a store may return them
    /// with `params` null, saving their copy; everything else is as `claim_executions`.
    /// The default is `claim_executions`.
    async fn claim_executions_holding_params(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
    ) -> Vec<Result<Option<Execution>>> {
        self.claim_executions(ids, claim).await
    }
    /// Claims up to `limit` claimable executions, oldest first: `scheduled` ones, and
    /// `running` ones whose lease expired before `claim.now` (`reclaimed`, attempt + 1).
    async fn claim_ready(&self, claim: &Claim, limit: usize) -> Result<Vec<Claimed>>;
    /// Takes over an execution whose worker was lost: one in a status a claim holds
    /// ([`ExecutionStatus::holds_claim`]) whose lease expired before `claim.now` (or that
    /// has none) gets `claim`'s worker and lease and attempt + 1; its status is kept.
    /// `None` when it is not so (another worker's lease is live, or its status holds no
    /// claim), or when its next attempt exists already for its enforcement.
    async fn take_over_execution(
        &self,
        id: ExecutionId,
        claim: &Claim,
    ) -> Result<Option<Execution>>;
    /// Extends the lease of an execution held by `worker` (in a status a claim holds:
    /// [`ExecutionStatus::holds_claim`]). Conflict when the claim is not held by `worker`
    /// any more.
    async fn renew_lease(&self, id: ExecutionId, claim: &Claim) -> Result<()>;
    /// Lists executions.
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: &Page,
    ) -> Result<Vec<Execution>>;
    /// Counts executions matching `filter`.
    async fn count_executions(&self, filter: &ExecutionFilter) -> Result<u64>;

    /// Appends workflow journal entries (of one run or several): all of them or none. An
    /// entry whose `(execution, seq)` exists is a Conflict, and nothing is written. The
    /// execution need not exist yet (a re-run's first entry is written before it is).
    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<()>;
    /// The journal of a workflow run, in `seq` order; empty when it has none.
    async fn read_journal(&self, execution: ExecutionId) -> Result<Vec<JournalEntry>>;

    /// Inserts or replaces a key.
    async fn put_key(&self, key: &Key) -> Result<()>;
    /// Reads a key (expired keys read as `None`).
    async fn get_key(&self, scope: &KeyScope, name: &str) -> Result<Option<Key>>;
    /// Deletes a key; returns whether it existed.
    async fn delete_key(&self, scope: &KeyScope, name: &str) -> Result<bool>;
    /// Lists keys, optionally of one scope, ordered by (scope, name); expired keys omitted.
    async fn list_keys(&self, scope: Option<&KeyScope>) -> Result<Vec<Key>>;

    /// Records a heartbeat of an engine on a store several processes share (inserted or
    /// replaced by id); engines call it every 10 s and [`Store::delete_worker`] when they
    /// stop. A store may forget workers whose heartbeat is older than a minute. The default
    /// keeps nothing (a store one engine uses).
    async fn put_worker(&self, worker: &crate::model::Worker) -> Result<()> {
        let _ = worker;
        Ok(())
    }
    /// The workers of the store, by id.
    async fn list_workers(&self) -> Result<Vec<crate::model::Worker>> {
        Ok(Vec::new())
    }
    /// Forgets a worker; whether it was there.
    async fn delete_worker(&self, id: &str) -> Result<bool> {
        let _ = id;
        Ok(false)
    }

    /// Deletes old records in one bounded batch (see [`PurgeRequest`]).
    async fn purge(&self, request: &PurgeRequest) -> Result<PurgeStats>;
}
