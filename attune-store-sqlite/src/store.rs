//! [`SqliteStore`]: opening the file, and the [`Store`] impl dispatching each call to the
//! writer (changes) or to the readers (reads).

use crate::builder::SqliteStoreBuilder;
use crate::config::Config;
use crate::enforcements::EnforcedRow;
use crate::error::{Fail, Res, is_transient};
use crate::events::EventRow;
use crate::reader::{BUSY_TIMEOUT, Readers};
use crate::rows::Bodied;
use crate::writer::{Writer, WriterConn, atomically};
use crate::{
    checkpoint, definitions, enforcements, events, executions, journal, keys, migrations, purge,
};
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
use chrono::Utc;
use rusqlite::{Connection, OpenFlags};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The page cache of the writer connection, in KiB.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// A durable [`Store`] in one SQLite file (WAL mode), for one process.
///
/// * **Writes** go to one connection on a dedicated thread that commits them in groups:
///   the calls that arrive while a commit runs share the next one (up to `max_batch`), and
///   each call returns once the commit holding its change is done — so an acknowledged
///   change is in the file (how durable against power loss: [`Synchronous`](crate::Synchronous)).
///   A call's own failure (Conflict, NotFound, IllegalTransition, Invalid) writes nothing
///   and does not affect the other calls of its group.
/// * **Reads** go to a pool of read-only connections on blocking threads; they never wait
///   for the writer and see every change acknowledged before they started.
/// * **Schema** migrations run at open, in one transaction; a file written by a newer
///   release is refused with [`Error::Unsupported`](attune_core::Error::Unsupported) and
///   left untouched.
/// * **Queries** use an index for these filters: executions by action, status, event,
///   parent or enforcement; enforcements by event; events not matched yet. The others
///   (an event's trigger, an enforcement's rule or status, an execution's rule, every time
///   range) are tested row by row in id order beside them: a page reads rows until it has
///   its `limit`, a count reads every row the indexed filters leave (all of them when there
///   are none, as a count without a filter does).
///
/// Cloning is cheap (the clones share the connections). The last clone dropped waits for
/// the writer to finish the changes already queued and closes the file. The calls need a
/// tokio runtime (reads use `spawn_blocking`). `capabilities()` is durable, not shared:
/// several processes must not write one file at the same time.
///
/// ```no_run
/// use attune_core::store::Store;
/// use attune_store_sqlite::SqliteStore;
/// # fn main() -> attune_core::Result<()> {
/// let store = SqliteStore::open("attune.db")?;
/// assert!(store.capabilities().durable);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    // Field order is drop order: the read connections close first, then the writer
    // finishes its queue and closes last — the last connection to close checkpoints the
    // WAL into the file and removes it (a read-only one cannot).
    readers: Readers,
    writer: Writer,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.config.path)
            .field("synchronous", &self.inner.config.synchronous)
            .field("readers", &self.inner.config.readers)
            .field("max_batch", &self.inner.config.max_batch)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the default settings (see
    /// [`SqliteStoreBuilder`]) and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        SqliteStore::builder().path(path.as_ref()).build()
    }

    /// A builder for a store with other settings.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder::default()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.config.path
    }

    /// Opens the file with checked settings.
    pub(crate) fn with_config(config: Config) -> Result<SqliteStore> {
        let conn = open_writer(&config)?;
        let readers = Readers::open(&config.path, config.readers)?;
        let writer = Writer::start(conn, &config.path, config.max_batch)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                config,
                readers,
                writer,
            }),
        })
    }

    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterConn) -> Res<T> + Send + 'static,
    {
        self.inner.writer.run(op).await
    }

    /// Runs `op` on each item in one job (one commit): each item checks before it writes,
    /// so a failed item writes nothing and the others stand; a failure of SQLite itself
    /// fails them all (nothing was committed).
    async fn write_each<I, T, F>(&self, items: Vec<I>, op: F) -> Vec<Result<T>>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(&mut WriterConn, I) -> Res<T> + Send + 'static,
    {
        let n = items.len();
        if n == 0 {
            return Vec::new();
        }
        each_outcome(n, self.write(move |c| each(c, items, op)).await)
    }

    /// [`write_each`](Self::write_each) over rows the writer only reads: they stay the
    /// caller's, so their memory is freed by the caller's task (the thread that allocated
    /// it), not by the writer thread, which every change waits for.
    async fn write_each_kept<I, T, F>(&self, items: Arc<Vec<I>>, op: F) -> Vec<Result<T>>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: Fn(&mut WriterConn, &I) -> Res<T> + Send + 'static,
    {
        let n = items.len();
        if n == 0 {
            return Vec::new();
        }
        let lent = items.clone();
        let outcome = self.write(move |c| each(c, lent.iter(), op)).await;
        drop(items);
        each_outcome(n, outcome)
    }

    /// `one` for each of `ids` on one read connection (one hop to a blocking thread): one
    /// result per id, in order; a failed read is the failure of each.
    async fn read_each<T: Send + 'static>(
        &self,
        ids: &[ExecutionId],
        one: fn(&Connection, ExecutionId) -> Res<T>,
    ) -> Vec<Result<T>> {
        let owned = ids.to_vec();
        let read = self
            .read(move |c| {
                Ok(owned
                    .iter()
                    .map(|id| one(c, *id).map_err(attune_core::Error::from))
                    .collect::<Vec<_>>())
            })
            .await;
        match read {
            Ok(out) => out,
            Err(e) => {
                let (msg, transient) = (e.to_string(), e.is_retryable());
                ids.iter()
                    .map(|_| Err(attune_core::Error::backend(msg.clone(), transient)))
                    .collect()
            }
        }
    }

    async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Res<T> + Send + 'static,
    {
        self.inner.readers.run(op).await
    }
}

/// Opens the writer connection: refuses a newer file before writing anything, then sets
/// the pragmas and migrates.
fn open_writer(config: &Config) -> Res<Connection> {
    let path = &config.path;
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        attune_core::Error::backend(
            format!("cannot open the database '{}': {e}", path.display()),
            is_transient(&e),
        )
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    migrations::check_not_newer(&conn, path)?;
    // Only takes effect before the first table exists: a new file can shrink after purges.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(attune_core::Error::Unsupported(format!(
            "'{}' cannot use WAL mode (journal mode is '{mode}')",
            path.display()
        ))
        .into());
    }
    conn.pragma_update(None, "synchronous", config.synchronous.pragma())?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The checkpoint thread copies the WAL back; this is the backstop (see checkpoint.rs).
    conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)?;
    conn.set_prepared_statement_cache_capacity(128);
    migrations::migrate(&mut conn, path)?;
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::new(true, false)
    }

    async fn put_definition(&self, def: Definition) -> Result<()> {
        self.write(move |c| definitions::put(c, &def)).await
    }

    async fn get_definition(
        &self,
        kind: DefinitionKind,
        def_ref: &str,
    ) -> Result<Option<Definition>> {
        let def_ref = def_ref.to_string();
        self.read(move |c| definitions::get(c, kind, &def_ref))
            .await
    }

    async fn list_definitions(
        &self,
        kind: DefinitionKind,
        pack: Option<&str>,
    ) -> Result<Vec<Definition>> {
        let pack = pack.map(str::to_string);
        self.read(move |c| definitions::list(c, kind, pack.as_deref()))
            .await
    }

    async fn delete_definition(&self, kind: DefinitionKind, def_ref: &str) -> Result<bool> {
        let def_ref = def_ref.to_string();
        self.write(move |c| definitions::delete(c, kind, &def_ref))
            .await
    }

    async fn replace_pack(&self, pack: &str, defs: Vec<Definition>) -> Result<()> {
        let pack = pack.to_string();
        self.write(move |c| atomically(c, |c| definitions::replace_pack(c, &pack, &defs)))
            .await
    }

    async fn insert_event(&self, event: &Event) -> Result<()> {
        // Kept here: freed by this task, not by the writer (see `write_each_kept`).
        let row = Arc::new(EventRow::new(event)?);
        let lent = row.clone();
        let written = self.write(move |c| events::insert(c, &lent)).await;
        drop(row);
        written
    }

    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>> {
        // Rows made before the batch is queued; one that did not serialize is written as
        // nothing and answered with its own error.
        let mut failed = Vec::new();
        let rows = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                EventRow::new(e)
                    .map_err(|f| failed.push((i, attune_core::Error::from(f))))
                    .ok()
            })
            .collect();
        let mut out = self
            .write_each_kept(Arc::new(rows), |c, row| match row {
                Some(row) => events::insert(c, row),
                None => Ok(()),
            })
            .await;
        for (i, e) in failed {
            out[i] = Err(e);
        }
        out
    }

    async fn get_event(&self, id: EventId) -> Result<Event> {
        self.read(move |c| events::get(c, id)).await
    }

    async fn list_events(&self, filter: &EventFilter, page: &Page) -> Result<Vec<Event>> {
        let (filter, page) = (filter.clone(), *page);
        self.read(move |c| events::list(c, &filter, &page)).await
    }

    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        let filter = filter.clone();
        self.read(move |c| events::count(c, &filter)).await
    }

    async fn mark_events_matched(&self, ids: &[EventId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.to_vec();
        self.write(move |c| events::mark_matched(c, &ids)).await
    }

    async fn insert_enforcement(&self, enforcement: &Enforcement) -> Result<Inserted<Enforcement>> {
        let e = Bodied::new("enforcement", enforcement.clone())?;
        self.write(move |c| enforcements::insert(c, &e)).await
    }

    async fn insert_enforcements(&self, items: &[Enforced]) -> Vec<Result<Inserted<Enforcement>>> {
        let rows = items.iter().map(EnforcedRow::new).collect();
        self.write_each(rows, |c, item| enforcements::insert_enforced(c, item?))
            .await
    }

    async fn get_enforcement(&self, id: EnforcementId) -> Result<Enforcement> {
        self.read(move |c| enforcements::get(c, id)).await
    }

    async fn update_enforcement(
        &self,
        id: EnforcementId,
        from: EnforcementStatus,
        update: EnforcementUpdate,
    ) -> Result<Enforcement> {
        self.write(move |c| enforcements::update(c, id, from, update))
            .await
    }

    async fn list_enforcements(
        &self,
        filter: &EnforcementFilter,
        page: &Page,
    ) -> Result<Vec<Enforcement>> {
        let (filter, page) = (filter.clone(), *page);
        self.read(move |c| enforcements::list(c, &filter, &page))
            .await
    }

    async fn count_enforcements(&self, filter: &EnforcementFilter) -> Result<u64> {
        let filter = filter.clone();
        self.read(move |c| enforcements::count(c, &filter)).await
    }

    async fn insert_execution(&self, execution: &Execution) -> Result<()> {
        let x = Bodied::new("execution", execution.clone())?;
        self.write(move |c| executions::insert(c, x)).await
    }

    async fn get_execution(&self, id: ExecutionId) -> Result<Execution> {
        self.read(move |c| executions::get(c, id)).await
    }

    async fn get_executions(&self, ids: &[ExecutionId]) -> Vec<Result<Execution>> {
        self.read_each(ids, executions::get).await
    }

    async fn get_execution_heads(&self, ids: &[ExecutionId]) -> Vec<Result<ExecutionHead>> {
        self.read_each(ids, executions::head).await
    }

    async fn transition_execution(
        &self,
        id: ExecutionId,
        from: ExecutionStatus,
        change: ExecutionChange,
    ) -> Result<Execution> {
        let row = self
            .write(move |c| executions::transition(c, id, from, change, true))
            .await?;
        row.ok_or_else(|| attune_core::Error::backend("a transition returned no row", false))
    }

    async fn transition_executions(
        &self,
        changes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
    ) -> Vec<Result<()>> {
        self.write_each(changes, |c, (id, from, change)| {
            executions::transition(c, id, from, change, false).map(|_| ())
        })
        .await
    }

    async fn claim_execution(&self, id: ExecutionId, claim: &Claim) -> Result<Option<Execution>> {
        let claim = claim.clone();
        self.write(move |c| executions::claim(c, id, &claim)).await
    }

    async fn claim_executions(
        &self,
        ids: &[ExecutionId],
        claim: &Claim,
    ) -> Vec<Result<Option<Execution>>> {
        let claim = claim.clone();
        self.write_each(ids.to_vec(), move |c, id| executions::claim(c, id, &claim))
            .await
    }

    async fn claim_ready(&self, claim: &Claim, limit: usize) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let claim = claim.clone();
        self.write(move |c| atomically(c, |c| executions::claim_ready(c, &claim, limit)))
            .await
    }

    async fn take_over_execution(
        &self,
        id: ExecutionId,
        claim: &Claim,
    ) -> Result<Option<Execution>> {
        let claim = claim.clone();
        self.write(move |c| executions::take_over(c, id, &claim))
            .await
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries.to_vec();
        self.write(move |c| atomically(c, |c| journal::append(c, &rows)))
            .await
    }

    async fn read_journal(&self, execution: ExecutionId) -> Result<Vec<JournalEntry>> {
        self.read(move |c| journal::read(c, execution)).await
    }

    async fn renew_lease(&self, id: ExecutionId, claim: &Claim) -> Result<()> {
        let claim = claim.clone();
        self.write(move |c| executions::renew_lease(c, id, &claim))
            .await
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: &Page,
    ) -> Result<Vec<Execution>> {
        let (filter, page) = (filter.clone(), *page);
        self.read(move |c| executions::list(c, &filter, &page))
            .await
    }

    async fn count_executions(&self, filter: &ExecutionFilter) -> Result<u64> {
        let filter = filter.clone();
        self.read(move |c| executions::count(c, &filter)).await
    }

    async fn put_key(&self, key: &Key) -> Result<()> {
        let key = key.clone();
        self.write(move |c| keys::put(c, &key)).await
    }

    async fn get_key(&self, scope: &KeyScope, name: &str) -> Result<Option<Key>> {
        let (scope, name) = (scope.clone(), name.to_string());
        self.read(move |c| keys::get(c, &scope, &name, Utc::now()))
            .await
    }

    async fn delete_key(&self, scope: &KeyScope, name: &str) -> Result<bool> {
        let (scope, name) = (scope.clone(), name.to_string());
        self.write(move |c| keys::delete(c, &scope, &name)).await
    }

    async fn list_keys(&self, scope: Option<&KeyScope>) -> Result<Vec<Key>> {
        let scope = scope.cloned();
        self.read(move |c| keys::list(c, scope.as_ref(), Utc::now()))
            .await
    }

    async fn purge(&self, request: &PurgeRequest) -> Result<PurgeStats> {
        let request = request.clone();
        self.write(move |c| atomically(c, |c| purge::purge(c, &request)))
            .await
    }
}

/// Runs `op` on each item (in the writer's transaction): one result per item; SQLite's own
/// failure ends the loop (the group is rolled back).
fn each<I, T>(
    c: &mut WriterConn,
    items: impl IntoIterator<Item = I>,
    op: impl Fn(&mut WriterConn, I) -> Res<T>,
) -> Res<Vec<Result<T>>> {
    let items = items.into_iter();
    let mut out = Vec::with_capacity(items.size_hint().0);
    for item in items {
        match op(c, item) {
            Ok(v) => out.push(Ok(v)),
            Err(Fail::Core(e)) => out.push(Err(e)),
            // SQLite failed: the whole group is rolled back.
            Err(sql) => return Err(sql),
        }
    }
    Ok(out)
}

/// The results of [`each`] for `n` items: a failed job fails each of them.
fn each_outcome<T>(n: usize, outcome: Result<Vec<Result<T>>>) -> Vec<Result<T>> {
    match outcome {
        Ok(results) => results,
        Err(e) => {
            let msg = e.to_string();
            let transient = e.is_retryable();
            (0..n)
                .map(|_| Err(attune_core::Error::backend(msg.clone(), transient)))
                .collect()
        }
    }
}
