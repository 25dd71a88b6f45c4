//! SQLite errors as Attune errors.
//!
//! Store operations run on [`Fail`], which `?` builds from both `rusqlite` errors and
//! Attune's own (Conflict, NotFound, ...); it becomes an [`attune_core::Error`] at the edge
//! of the crate. SQLite failures become [`Error::Backend`]: transient (retryable) for
//! `SQLITE_BUSY` and `SQLITE_LOCKED`, permanent otherwise.

use attune_core::Error;
use rusqlite::ErrorCode;
use std::fmt;

/// An error inside a store operation.
#[derive(Debug)]
pub(crate) enum Fail {
    /// An Attune error: the operation's own outcome (NotFound, Conflict, ...).
    Core(Error),
    /// SQLite failed.
    Sql(rusqlite::Error),
}

/// The result of a store operation.
pub(crate) type Res<T> = std::result::Result<T, Fail>;

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Core(e) => e,
            Fail::Sql(e) => backend(e),
        }
    }
}

/// Whether repeating the call may succeed: the database was busy or locked.
pub(crate) fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Whether a statement failed on a constraint (a unique index): the statement changed
/// nothing and the transaction goes on.
pub(crate) fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// A SQLite error as [`Error::Backend`].
pub(crate) fn backend(e: rusqlite::Error) -> Error {
    let transient = is_transient(&e);
    Error::backend(e, transient)
}

/// A stored row that does not parse: the file was changed behind the store's back.
pub(crate) fn corrupt(what: &str, e: impl fmt::Display) -> Fail {
    Fail::Core(Error::backend(
        format!("stored {what} is damaged: {e}"),
        false,
    ))
}

/// Why a whole group commit failed; every call in it gets an error built from this (errors
/// are not `Clone`).
#[derive(Clone, Debug)]
pub(crate) struct BatchFailure {
    message: String,
    transient: bool,
}

impl BatchFailure {
    /// The failure of a commit (or of a statement that rolled the transaction back).
    pub(crate) fn from_sql(context: &str, e: &rusqlite::Error) -> Self {
        BatchFailure {
            message: format!("{context}: {e}"),
            transient: is_transient(e),
        }
    }

    /// A failure with a message of its own.
    pub(crate) fn new(message: impl Into<String>, transient: bool) -> Self {
        BatchFailure {
            message: message.into(),
            transient,
        }
    }

    /// The error one caller gets.
    pub(crate) fn error(&self) -> Error {
        Error::backend(self.message.clone(), self.transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_transient_constraint_is_not() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(is_transient(&busy));
        assert!(backend(busy).is_retryable());
        let unique = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE),
            None,
        );
        assert!(is_constraint(&unique));
        assert!(!backend(unique).is_retryable());
        let f = BatchFailure::new("disk full", false);
        assert!(f.error().to_string().contains("disk full"));
    }
}
