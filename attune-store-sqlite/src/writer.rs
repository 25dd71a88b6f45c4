//! The single writer: one connection on its own thread, committing changes in groups.
//!
//! Every change is a [`Job`]: an operation that runs against the writer's connection inside
//! the current transaction and leaves a [`Reply`] holding its outcome. The thread takes the
//! first queued job, drains whatever else is queued (up to `max_batch`), runs them all in
//! one `BEGIN IMMEDIATE … COMMIT`, and only after the commit answers every caller — one
//! fsync (or, with `synchronous = NORMAL`, one WAL append) for the whole group.
//!
//! A job's own failure (NotFound, Conflict, IllegalTransition, Invalid) writes nothing: the
//! operations check before they write, a unique-key violation aborts only its statement,
//! and operations with several writes run inside a SAVEPOINT ([`atomically`]). So it does
//! not touch the other jobs of the group. A failure of SQLite itself (disk full, I/O
//! error) rolls the transaction back: that job gets its error, the jobs before it in the
//! group get a transient error (nothing of theirs was written), the jobs after it run in
//! a new transaction. A failed COMMIT fails every job of the group. A panic in a job rolls
//! the group back and fails it; the writer keeps going.

use crate::cache::ExecCache;
use crate::checkpoint::{Checkpointer, Nudger};
use crate::error::{BatchFailure, Fail, Res};
use crate::trash::Trash;
use attune_core::{Error, Result};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// What a change runs against: the writer's connection (inside the group's transaction)
/// and its cache of live executions.
#[derive(Debug)]
pub(crate) struct WriterConn {
    conn: Connection,
    /// Kept equal to the stored rows; cleared on every rollback, and when another
    /// connection (another process on the same file) committed.
    pub cache: ExecCache,
    /// What the group's changes leave to free (see [`Trash`]).
    pub trash: Trash,
    /// SQLite's `PRAGMA data_version` when the cache was last known to be current: it
    /// changes when any other connection commits.
    data_version: Option<i64>,
}

impl WriterConn {
    /// Records the stored row of an execution in the cache ([`ExecCache::put`]).
    pub(crate) fn cache_put(&mut self, rowid: i64, x: attune_core::model::Execution) {
        self.cache.put(rowid, x, &mut self.trash);
    }
}

impl Deref for WriterConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// One change, queued for the writer thread.
trait Job: Send {
    /// Runs the change in the current transaction; the outcome waits for the commit. The
    /// flag is set when SQLite itself failed: the transaction is not to be trusted then.
    fn run(self: Box<Self>, w: &mut WriterConn) -> (Box<dyn Reply>, bool);
    /// Answers without running (the transaction could not begin).
    fn fail(self: Box<Self>, failure: &BatchFailure);
}

/// The outcome of a job that ran, answered once the group commit is decided.
trait Reply: Send {
    /// Sends the outcome, or `failure` when the group did not commit.
    fn finish(self: Box<Self>, failure: Option<&BatchFailure>);
}

/// A [`Job`] made of an operation and the caller's reply channel.
struct Op<F, T> {
    op: F,
    tx: oneshot::Sender<Result<T>>,
}

/// The outcome of an [`Op`] waiting for the commit.
struct Done<T> {
    result: Result<T>,
    tx: oneshot::Sender<Result<T>>,
}

impl<F, T> Job for Op<F, T>
where
    T: Send + 'static,
    F: FnOnce(&mut WriterConn) -> Res<T> + Send + 'static,
{
    fn run(self: Box<Self>, w: &mut WriterConn) -> (Box<dyn Reply>, bool) {
        let Op { op, tx } = *self;
        let result = op(w);
        let fatal = matches!(result, Err(Fail::Sql(_)));
        let mut result = result.map_err(Error::from);
        if result.is_ok() && w.is_autocommit() {
            // Should not happen: SQLite rolled back without the operation noticing.
            result = Err(Error::backend("the transaction was rolled back", true));
        }
        (Box::new(Done { result, tx }), fatal)
    }

    fn fail(self: Box<Self>, failure: &BatchFailure) {
        let _ = self.tx.send(Err(failure.error()));
    }
}

impl<T: Send> Reply for Done<T> {
    fn finish(self: Box<Self>, failure: Option<&BatchFailure>) {
        let _ = self.tx.send(match failure {
            Some(f) => Err(f.error()),
            None => self.result,
        });
    }
}

/// The handle of the writer thread; dropping it lets the thread finish what is queued,
/// close the connection and exit (the drop waits for that).
pub(crate) struct Writer {
    jobs: Option<Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    /// Stopped after the writer thread: its connection closes last.
    checkpointer: Option<Checkpointer>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

fn stopped() -> Error {
    Error::backend(
        "the sqlite store's writer dropped the call (the writer stopped, or the change panicked)",
        false,
    )
}

impl Writer {
    /// Starts the writer thread on `conn` (already configured and migrated), and the
    /// thread that checkpoints for it.
    pub(crate) fn start(conn: Connection, path: &Path, max_batch: usize) -> Result<Writer> {
        let checkpointer = Checkpointer::start(path)?;
        let mut nudger = checkpointer.nudger();
        let (jobs, queue) = mpsc::channel();
        let trash = Trash::new();
        let thread = std::thread::Builder::new()
            .name("attune-sqlite-writer".into())
            .spawn(move || {
                let mut w = WriterConn {
                    conn,
                    cache: ExecCache::default(),
                    trash,
                    data_version: None,
                };
                serve(&mut w, &queue, max_batch, &mut nudger);
            })
            .map_err(|e| Error::backend(format!("cannot start the writer thread: {e}"), true))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
            checkpointer: Some(checkpointer),
        })
    }

    /// Runs `op` in the next group commit and returns its outcome once that commit is
    /// durable (or failed). A caller that stops waiting does not cancel the change.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterConn) -> Res<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Box<dyn Job> = Box::new(Op { op, tx });
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        drop(self.checkpointer.take());
    }
}

/// Runs `op` inside a SAVEPOINT: on error, whatever it wrote is undone and the
/// transaction goes on. For operations that write more than one statement.
pub(crate) fn atomically<T>(
    w: &mut WriterConn,
    op: impl FnOnce(&mut WriterConn) -> Res<T>,
) -> Res<T> {
    exec(w, "SAVEPOINT attune_op")?;
    match op(w) {
        Ok(v) => {
            exec(w, "RELEASE attune_op")?;
            Ok(v)
        }
        Err(e) => {
            w.cache.clear();
            if !w.is_autocommit() {
                exec(w, "ROLLBACK TO attune_op")?;
                exec(w, "RELEASE attune_op")?;
            }
            Err(e)
        }
    }
}

/// The writer loop: until every sender is gone and the queue is empty.
fn serve(
    w: &mut WriterConn,
    queue: &Receiver<Box<dyn Job>>,
    max_batch: usize,
    nudger: &mut Nudger,
) {
    let mut pending: VecDeque<Box<dyn Job>> = VecDeque::with_capacity(max_batch);
    loop {
        if pending.is_empty() {
            match queue.recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => return,
            }
        }
        while pending.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        group_commit(w, &mut pending);
        w.trash.empty();
        nudger.committed();
    }
}

/// Clears the cache when another connection committed since the last transaction (another
/// process writing the same file: a status it changed must be seen, never overwritten).
/// Called inside the write transaction, so nothing else commits until it ends.
fn forget_others_changes(w: &mut WriterConn) {
    let version = w
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)));
    match version {
        Ok(v) if w.data_version == Some(v) => {}
        Ok(v) => {
            w.cache.clear();
            w.data_version = Some(v);
        }
        Err(e) => {
            tracing::warn!(error = %e, "sqlite store: data_version not read; cache cleared");
            w.cache.clear();
            w.data_version = None;
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn rollback(w: &mut WriterConn) {
    w.cache.clear();
    if !w.is_autocommit()
        && let Err(e) = exec(w, "ROLLBACK")
    {
        tracing::error!(error = %e, "sqlite store: rollback failed");
    }
}

fn fail_all(replies: Vec<Box<dyn Reply>>, failure: &BatchFailure) {
    for reply in replies {
        reply.finish(Some(failure));
    }
}

/// Runs the pending jobs in one transaction and answers them. Jobs left in `pending`
/// (after a job made SQLite roll back) run in the next round.
fn group_commit(w: &mut WriterConn, pending: &mut VecDeque<Box<dyn Job>>) {
    if let Err(e) = exec(w, "BEGIN IMMEDIATE") {
        let failure = BatchFailure::from_sql("cannot begin a transaction", &e);
        for job in pending.drain(..) {
            job.fail(&failure);
        }
        return;
    }
    forget_others_changes(w);
    let mut replies: Vec<Box<dyn Reply>> = Vec::with_capacity(pending.len());
    while let Some(job) = pending.pop_front() {
        let (reply, fatal) = match catch_unwind(AssertUnwindSafe(|| job.run(w))) {
            Ok(outcome) => outcome,
            Err(_) => {
                // A bug. The job's own caller sees its reply dropped; the others of the
                // group get an error, and nothing of the group stays.
                tracing::error!("sqlite store: a write panicked; its group commit is rolled back");
                rollback(w);
                let failure = BatchFailure::new(
                    "a change committed in the same group failed (panic); nothing was written",
                    true,
                );
                fail_all(replies, &failure);
                return;
            }
        };
        if fatal || w.is_autocommit() {
            // SQLite failed in this job (or rolled the transaction back): the job reports
            // its own error, the jobs before it lose their writes, the ones after it run
            // in the next transaction.
            rollback(w);
            let failure = BatchFailure::new(
                "another change in the same group commit failed and SQLite rolled the \
                 transaction back; nothing was written",
                true,
            );
            fail_all(replies, &failure);
            reply.finish(None);
            return;
        }
        replies.push(reply);
    }
    match exec(w, "COMMIT") {
        Ok(()) => {
            for reply in replies {
                reply.finish(None);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "sqlite store: commit failed");
            let failure = BatchFailure::from_sql("commit failed", &e);
            rollback(w);
            fail_all(replies, &failure);
        }
    }
}
