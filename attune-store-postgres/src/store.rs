//! [`PgStore`]: the [`Store`] on PostgreSQL.

use crate::config::PgStoreBuilder;
use crate::error::Res;
use crate::outbox::Outbox;
use crate::{definitions, enforcements, events, executions, journal, keys, purge, workers};
use async_trait::async_trait;
use attune_core::Result;
use attune_core::model::{
    Definition, DefinitionKind, Enforcement, EnforcementId, EnforcementStatus, Event, EventId,
    Execution, ExecutionId, ExecutionStatus, Key, KeyScope,
};
use attune_core::store::{
    Claim, Claimed, Enforced, EnforcementFilter, EnforcementUpdate, EventFilter, ExecutionChange,
    ExecutionFilter, ExecutionHead, Inserted, JournalEntry, Page, PurgeRequest, PurgeStats, Store,
    StoreCapabilities,
};
use attune_core::transport::Topic;
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPool};
use std::sync::Arc;

/// Attune's [`Store`] on PostgreSQL: durable, and shared by every process that connects to
/// the same database and schema.
///
/// Open it with [`PgStore::connect`] or [`PgStore::builder`]. Every call is one statement
/// or one transaction on a pooled connection; batched calls (`insert_events`,
/// `insert_enforcements`, `transition_executions`, `claim_executions`, `claim_ready`) are
/// one statement (or one transaction) per batch. Compare-and-set changes are conditions of
/// their `UPDATE`, so they hold across processes. Cloning is cheap: clones share the pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    schema: String,
    server: String,
    /// How its connections were opened (a transport on it opens its own the same way).
    opts: PgConnectOptions,
    /// The work-queue messages it writes itself once a transport is opened on it.
    outbox: Arc<Outbox>,
}

impl PgStore {
    /// Connects to the database at `url` with the default settings (schema `attune`, 16
    /// connections, 30 s of retries while the server cannot be reached) and applies the
    /// pending migrations.
    pub async fn connect(url: &str) -> Result<PgStore> {
        PgStoreBuilder::new(url).open().await
    }

    /// A builder for the database at `url`.
    pub fn builder(url: impl Into<String>) -> PgStoreBuilder {
        PgStoreBuilder::new(url)
    }

    pub(crate) fn from_pool(
        pool: PgPool,
        schema: String,
        server: String,
        opts: PgConnectOptions,
    ) -> PgStore {
        PgStore {
            outbox: Arc::new(Outbox::new(format!("{server} schema {schema}"))),
            pool,
            schema,
            server,
            opts,
        }
    }

    /// The options the store's connections were opened with.
    pub(crate) fn connect_options(&self) -> &PgConnectOptions {
        &self.opts
    }

    /// The outbox, which a transport opened on the store turns on.
    pub(crate) fn outbox_handle(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The PostgreSQL schema of the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Where the store is connected, without the password (`postgres://user@host:port/db`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Closes the pool's connections; calls made afterwards fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `Res` to the crate's `Result`.
fn done<T>(r: Res<T>) -> Result<T> {
    r.map_err(Into::into)
}

#[async_trait]
impl Store for PgStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::new(true, true)
    }

    fn outbox(&self) -> Option<String> {
        self.outbox.on().then(|| self.outbox.name().to_string())
    }

    async fn put_definition(&self, def: Definition) -> Result<()> {
        done(definitions::put(&self.pool, &def).await)
    }

    async fn get_definition(
        &self,
        kind: DefinitionKind,
        def_ref: &str,
    ) -> Result<Option<Definition>> {
        done(definitions::get(&self.pool, kind, def_ref).await)
    }

    async fn list_definitions(
        &self,
        kind: DefinitionKind,
        pack: Option<&str>,
    ) -> Result<Vec<Definition>> {
        done(definitions::list(&self.pool, kind, pack).await)
    }

    async fn delete_definition(&self, kind: DefinitionKind, def_ref: &str) -> Result<bool> {
        done(definitions::delete(&self.pool, kind, def_ref).await)
    }

    async fn replace_pack(&self, pack: &str, defs: Vec<Definition>) -> Result<()> {
        done(definitions::replace_pack(&self.pool, pack, &defs).await)
    }

    async fn put_worker(&self, worker: &attune_core::model::Worker) -> Result<()> {
        done(workers::put(&self.pool, worker).await)
    }

    async fn list_workers(&self) -> Result<Vec<attune_core::model::Worker>> {
        done(workers::list(&self.pool).await)
    }

    async fn delete_worker(&self, id: &str) -> Result<bool> {
        done(workers::delete(&self.pool, id).await)
    }

    async fn definitions_generation(&self) -> Result<Option<u64>> {
        done(definitions::generation(&self.pool).await).map(Some)
    }

    async fn insert_event(&self, event: &Event) -> Result<()> {
        self.insert_events(std::slice::from_ref(event))
            .await
            .pop()
            .expect("one result per event")
    }

    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>> {
        match events::insert(&self.pool, events, self.outbox.on()).await {
            Ok(out) => {
                self.outbox.woke(&[Topic::Events]);
                out
            }
            Err(f) => fail_all(f, events.len()),
        }
    }

    async fn get_event(&self, id: EventId) -> Result<Event> {
        done(events::get(&self.pool, id).await)
    }

    async fn get_events(&self, ids: &[EventId]) -> Vec<Result<Event>> {
        match events::get_many(&self.pool, ids).await {
            Ok(out) => out,
            Err(f) => fail_all(f, ids.len()),
        }
    }

    async fn list_events(&self, filter: &EventFilter, page: &Page) -> Result<Vec<Event>> {
        done(events::list(&self.pool, filter, page).await)
    }

    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        done(events::count(&self.pool, filter).await)
    }

    async fn unmatched_events(&self, ids: &[EventId]) -> Result<Vec<EventId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        done(events::unmatched_of(&self.pool, ids).await)
    }

    async fn mark_events_matched(&self, ids: &[EventId]) -> Result<()> {
        done(events::mark_matched(&self.pool, ids).await)
    }

    async fn insert_enforcement(&self, enforcement: &Enforcement) -> Result<Inserted<Enforcement>> {
        done(enforcements::insert(&self.pool, enforcement).await)
    }

    async fn insert_enforcements(&self, items: &[Enforced]) -> Vec<Result<Inserted<Enforcement>>> {
        match enforcements::insert_enforced(&self.pool, items, true, self.outbox.on()).await {
            Ok(out) => {
                self.outbox.woke(&created_topics(
                    items.iter().filter_map(|i| i.execution.as_ref()),
                ));
                out
            }
            Err(f) => fail_all(f, items.len()),
        }
    }

    async fn get_enforcement(&self, id: EnforcementId) -> Result<Enforcement> {
        done(enforcements::get(&self.pool, id).await)
    }

    async fn update_enforcement(
        &self,
        id: EnforcementId,
        from: EnforcementStatus,
        update: EnforcementUpdate,
    ) -> Result<Enforcement> {
        done(enforcements::update(&self.pool, id, from, update).await)
    }

    async fn list_enforcements(
        &self,
        filter: &EnforcementFilter,
        page: &Page,
    ) -> Result<Vec<Enforcement>> {
        done(enforcements::list(&self.pool, filter, page).await)
    }

    async fn count_enforcements(&self, filter: &EnforcementFilter) -> Result<u64> {
        done(enforcements::count(&self.pool, filter).await)
    }

    async fn insert_execution(&self, execution: &Execution) -> Result<()> {
        let r = done(executions::insert(&self.pool, execution, self.outbox.on()).await);
        self.outbox.woke(&created_topics([execution]));
        r
    }

    async fn insert_executions(&self, executions: &[Execution]) -> Vec<Result<()>> {
        match executions::insert_batch(&self.pool, executions, self.outbox.on()).await {
            Ok(out) => {
                self.outbox.woke(&created_topics(executions));
                out
            }
            Err(f) => fail_all(f, executions.len()),
        }
    }

    async fn get_execution(&self, id: ExecutionId) -> Result<Execution> {
        done(executions::get(&self.pool, id).await)
    }

    async fn get_executions(&self, ids: &[ExecutionId]) -> Vec<Result<Execution>> {
        match executions::get_many(&self.pool, ids).await {
            Ok(out) => out,
            Err(f) => fail_all(f, ids.len()),
        }
    }

    async fn get_execution_heads(&self, ids: &[ExecutionId]) -> Vec<Result<ExecutionHead>> {
        match executions::heads(&self.pool, ids).await {
            Ok(out) => out,
            Err(f) => fail_all(f, ids.len()),
        }
    }

    async fn transition_execution(
        &self,
        id: ExecutionId,
        from: ExecutionStatus,
        change: ExecutionChange,
    ) -> Result<Execution> {
        let on = self.outbox.on();
        let mut out = done(
            executions::transition_many(&self.pool, vec![(id, from, change)], true, on).await,
        )?;
        self.outbox.woke(&[Topic::Scheduled, Topic::Finished]);
        out.pop()
            .expect("one result")
            .map(|row| row.expect("the row was asked for"))
    }

    async fn transition_executions(
        &self,
        changes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
    ) -> Vec<Result<()>> {
        let n = changes.len();
        match executions::transition_many(&self.pool, changes, false, self.outbox.on()).await {
            Ok(out) => {
                self.outbox.woke(&[Topic::Scheduled, Topic::Finished]);
                out.into_iter().map(|r| r.map(|_| ())).collect()
            }
            Err(f) => fail_all(f, n),
        }
    }

    async fn claim_execution(&self, id: ExecutionId, claim: &Claim) -> Result<Option<Execution>> {
        let mut out = done(executions::claim_many(&self.pool, &[id], claim).await)?;
        out.pop().expect("one result")
    }

    async fn claim_executions(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
    ) -> Vec<Result<Option<Execution>>> {
        match executions::claim_many(&self.pool, ids, claim).await {
            Ok(out) => out,
            Err(f) => fail_all(f, ids.len()),
        }
    }

    async fn claim_ready(&self, claim: &Claim, limit: usize) -> Result<Vec<Claimed>> {
        done(executions::claim_ready(&self.pool, claim, limit).await)
    }

    async fn take_over_execution(
        &self,
        id: ExecutionId,
        claim: &Claim,
    ) -> Result<Option<Execution>> {
        done(executions::take_over(&self.pool, id, claim).await)
    }

    async fn renew_lease(&self, id: ExecutionId, claim: &Claim) -> Result<()> {
        done(executions::renew_lease(&self.pool, id, claim).await)
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: &Page,
    ) -> Result<Vec<Execution>> {
        done(executions::list(&self.pool, filter, page).await)
    }

    async fn count_executions(&self, filter: &ExecutionFilter) -> Result<u64> {
        done(executions::count(&self.pool, filter).await)
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<()> {
        done(journal::append(&self.pool, entries).await)
    }

    async fn read_journal(&self, execution: ExecutionId) -> Result<Vec<JournalEntry>> {
        done(journal::read(&self.pool, execution).await)
    }

    async fn put_key(&self, key: &Key) -> Result<()> {
        done(keys::put(&self.pool, key).await)
    }

    async fn get_key(&self, scope: &KeyScope, name: &str) -> Result<Option<Key>> {
        done(keys::get(&self.pool, scope, name, Utc::now()).await)
    }

    async fn delete_key(&self, scope: &KeyScope, name: &str) -> Result<bool> {
        done(keys::delete(&self.pool, scope, name).await)
    }

    async fn list_keys(&self, scope: Option<&KeyScope>) -> Result<Vec<Key>> {
        done(keys::list(&self.pool, scope, Utc::now()).await)
    }

    async fn purge(&self, request: &PurgeRequest) -> Result<PurgeStats> {
        done(purge::purge(&self.pool, request).await)
    }
}

/// One copy of a failure of a whole batch per item (errors are not `Clone`).
fn fail_all<T>(f: crate::error::Fail, n: usize) -> Vec<Result<T>> {
    let e: attune_core::Error = f.into();
    let transient = e.is_retryable();
    let msg = e.to_string();
    (0..n)
        .map(|_| Err(attune_core::Error::backend(msg.clone(), transient)))
        .collect()
}

/// The work queues the outbox writes to for `executions` inserted (see `outbox::created`).
fn created_topics<'a>(executions: impl IntoIterator<Item = &'a Execution>) -> Vec<Topic> {
    let mut topics = Vec::with_capacity(2);
    for x in executions {
        let topic = match x.status {
            ExecutionStatus::Requested => Topic::Requested,
            ExecutionStatus::Scheduled => Topic::Scheduled,
            _ => continue,
        };
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    topics
}
