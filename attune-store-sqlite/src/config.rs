//! Settings of a [`SqliteStore`](crate::SqliteStore).

use std::path::PathBuf;

/// How hard SQLite works to make a commit survive a crash (`PRAGMA synchronous`).
///
/// The store always runs in WAL mode, where the levels mean:
///
/// * [`Synchronous::Off`] — no `fsync` at all. A process crash loses nothing acknowledged;
///   an operating-system crash or power loss may lose recent commits or corrupt the file.
/// * [`Synchronous::Normal`] (the default) — the WAL is synced at checkpoints, not at every
///   commit. A process crash loses nothing acknowledged; a power loss may roll back the
///   last commits, but never corrupts the file.
/// * [`Synchronous::Full`] — the WAL is synced at every commit (one `fsync` per group
///   commit, shared by every change in it). Acknowledged changes survive a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `PRAGMA synchronous = OFF`.
    Off,
    /// `PRAGMA synchronous = NORMAL`.
    #[default]
    Normal,
    /// `PRAGMA synchronous = FULL`.
    Full,
}

impl Synchronous {
    /// The pragma value.
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Every setting, as the builder collects them.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The database file (created when missing).
    pub path: PathBuf,
    /// `PRAGMA synchronous` of the writer.
    pub synchronous: Synchronous,
    /// Read-only connections in the reader pool.
    pub readers: usize,
    /// Most changes committed by one group commit.
    pub max_batch: usize,
}

/// Default number of read connections.
pub(crate) const DEFAULT_READERS: usize = 4;
/// Default size of a group commit.
pub(crate) const DEFAULT_MAX_BATCH: usize = 1024;
/// Upper bound on read connections (each holds a page cache and a file descriptor set).
pub(crate) const MAX_READERS: usize = 256;

impl Default for Config {
    fn default() -> Self {
        Config {
            path: PathBuf::new(),
            synchronous: Synchronous::Normal,
            readers: DEFAULT_READERS,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}
