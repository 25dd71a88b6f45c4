//! The checkpointer: a thread with its own connection that copies committed WAL frames
//! back into the database file, so that the writer thread — the one thread every change
//! waits for — only appends to the WAL.
//!
//! The writer nudges it after commits (at most every [`NUDGE_EVERY`]); it then runs a
//! PASSIVE checkpoint, which waits for nobody: frames still read by a reader, or appended
//! meanwhile, are copied by a later one. The writer keeps SQLite's own automatic
//! checkpoint as a backstop at [`BACKSTOP_PAGES`], should this thread fall behind.

use crate::error::Res;
use crate::reader::BUSY_TIMEOUT;
use attune_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often at most the writer asks for a checkpoint.
pub(crate) const NUDGE_EVERY: Duration = Duration::from_millis(25);

/// WAL pages past which the writer checkpoints itself (SQLite's `wal_autocheckpoint`; 4 KiB
/// pages: 64 MiB).
pub(crate) const BACKSTOP_PAGES: i64 = 16 * 1024;

/// The checkpointer thread; dropping it stops the thread and closes its connection.
pub(crate) struct Checkpointer {
    nudges: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection to `path` (created and migrated already) and starts the thread.
    pub(crate) fn start(path: &Path) -> Result<Checkpointer> {
        let conn = open(path)?;
        let (nudges, rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("attune-sqlite-checkpoint".into())
            .spawn(move || serve(&conn, &rx))
            .map_err(|e| {
                Error::backend(format!("cannot start the checkpoint thread: {e}"), true)
            })?;
        Ok(Checkpointer {
            nudges: Some(nudges),
            thread: Some(thread),
        })
    }

    /// What the writer thread holds to ask for checkpoints.
    pub(crate) fn nudger(&self) -> Nudger {
        Nudger {
            tx: self.nudges.clone(),
            last: Instant::now(),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudges.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer's end: asks for a checkpoint at most every [`NUDGE_EVERY`], never waiting.
pub(crate) struct Nudger {
    tx: Option<SyncSender<()>>,
    last: Instant,
}

impl Nudger {
    /// A commit happened.
    pub(crate) fn committed(&mut self) {
        let Some(tx) = &self.tx else { return };
        if self.last.elapsed() < NUDGE_EVERY {
            return;
        }
        self.last = Instant::now();
        match tx.try_send(()) {
            // Full: a checkpoint is asked for already.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => self.tx = None,
        }
    }
}

fn open(path: &Path) -> Res<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn serve(conn: &Connection, nudges: &Receiver<()>) {
    while nudges.recv().is_ok() {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        if let Err(e) = done {
            // The writer's backstop checkpoint keeps the WAL bounded meanwhile.
            tracing::warn!(error = %e, "sqlite store: checkpoint failed");
        }
    }
}
