//! Building a [`SqliteStore`] with settings.

use crate::config::{Config, MAX_READERS, Synchronous};
use crate::store::SqliteStore;
use attune_core::{Error, Result};
use std::path::PathBuf;

/// Builds a [`SqliteStore`]; [`SqliteStoreBuilder::build`] checks the settings, then opens
/// (or creates) the file and brings its schema up to date.
///
/// ```no_run
/// use attune_store_sqlite::{SqliteStore, Synchronous};
/// # fn main() -> attune_core::Result<()> {
/// let store = SqliteStore::builder()
///     .path("/var/lib/attune/attune.db")
///     .synchronous(Synchronous::Full)
///     .readers(8)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct SqliteStoreBuilder {
    config: Config,
}

impl SqliteStoreBuilder {
    /// The database file; created (with its directory's permissions) when missing. SQLite
    /// keeps `-wal` and `-shm` files beside it. Required.
    pub fn path(mut self, p: impl Into<PathBuf>) -> Self {
        self.config.path = p.into();
        self
    }

    /// Durability of a commit (default [`Synchronous::Normal`]).
    pub fn synchronous(mut self, s: Synchronous) -> Self {
        self.config.synchronous = s;
        self
    }

    /// Read-only connections serving reads concurrently with the writer (default 4, at
    /// least 1).
    pub fn readers(mut self, n: usize) -> Self {
        self.config.readers = n;
        self
    }

    /// Most changes committed together by one group commit (default 1024, at least 1).
    /// Calls that arrive while a commit is running wait for the next one and share it.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.config.max_batch = n;
        self
    }

    /// Opens the store. `Error::Invalid` for a missing path, a path that is a directory,
    /// zero (or more than 256) readers, or a zero `max_batch`; `Error::Unsupported` for a
    /// file written by a newer release of this crate (the file is left untouched);
    /// `Error::Backend` when SQLite cannot open or migrate the file.
    pub fn build(self) -> Result<SqliteStore> {
        let c = &self.config;
        let what = "sqlite store settings";
        if c.path.as_os_str().is_empty() {
            return Err(Error::invalid(what, "a database path is required"));
        }
        if c.path.is_dir() {
            return Err(Error::invalid(
                what,
                format!("'{}' is a directory, not a database file", c.path.display()),
            ));
        }
        if c.readers == 0 || c.readers > MAX_READERS {
            return Err(Error::invalid(
                what,
                format!(
                    "readers must be between 1 and {MAX_READERS}, not {}",
                    c.readers
                ),
            ));
        }
        if c.max_batch == 0 {
            return Err(Error::invalid(what, "max_batch must be at least 1"));
        }
        SqliteStore::with_config(self.config)
    }
}
