//! The readers: a small pool of read-only connections, used from blocking threads.
//!
//! In WAL mode a reader never blocks the writer and the writer never blocks a reader: each
//! read statement sees the database as of the last commit before it started. Since a
//! change is acknowledged only after its commit, a read that follows an acknowledged write
//! sees it. A semaphore bounds the reads in flight to the pool size, so callers wait
//! asynchronously for a free connection instead of holding a blocking thread.

use crate::error::{Fail, Res};
use attune_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a statement waits on a lock before it fails with `SQLITE_BUSY`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page cache of each read connection, in KiB.
const READER_CACHE_KIB: i64 = 8 * 1024;

/// The read connections.
#[derive(Debug)]
pub(crate) struct Readers {
    pool: Arc<Pool>,
    permits: Arc<Semaphore>,
}

#[derive(Debug)]
struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn take(&self) -> Res<Connection> {
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match conn {
            Some(c) => Ok(c),
            // One was lost to a panic: open a replacement.
            None => open_reader(&self.path),
        }
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

/// Opens one read-only connection.
fn open_reader(path: &Path) -> Res<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Readers {
    /// Opens `n` read connections to `path` (the writer created and migrated it).
    pub(crate) fn open(path: &Path, n: usize) -> Res<Readers> {
        let conns = (0..n).map(|_| open_reader(path)).collect::<Res<Vec<_>>>()?;
        Ok(Readers {
            pool: Arc::new(Pool {
                path: path.to_path_buf(),
                idle: Mutex::new(conns),
            }),
            permits: Arc::new(Semaphore::new(n)),
        })
    }

    /// Runs `op` on a free read connection, on a blocking thread.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Res<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::backend("the sqlite store's readers are closed", false))?;
        let pool = self.pool.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let out = op(&conn);
            pool.put(conn);
            out
        })
        .await;
        match joined {
            Ok(out) => out.map_err(Error::from),
            Err(e) => Err(Fail::Core(Error::backend(format!("a read failed: {e}"), false)).into()),
        }
    }
}
