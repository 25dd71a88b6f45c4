//! PostgreSQL errors as Attune errors.
//!
//! Store operations run on [`Fail`], which `?` builds from both `sqlx` errors and Attune's
//! own (Conflict, NotFound, ...); it becomes an [`attune_core::Error`] at the edge of the
//! crate. PostgreSQL failures become [`Error::Backend`]: transient (retryable) when the
//! connection was lost or refused, the server is shutting down or starting, a statement
//! timed out or was canceled, or a transaction lost a serialization or deadlock race;
//! permanent otherwise (a bad password, a missing table, ...).

use attune_core::Error;
use std::fmt;

/// An error inside a store operation.
#[derive(Debug)]
pub(crate) enum Fail {
    /// An Attune error: the operation's own outcome (NotFound, Conflict, ...).
    Core(Error),
    /// PostgreSQL (or the connection to it) failed.
    Sql(sqlx::Error),
}

/// The result of a store operation.
pub(crate) type Res<T> = std::result::Result<T, Fail>;

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
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

/// The SQLSTATE of a database error.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether repeating the call may succeed.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(_) => sqlstate(e).is_some_and(|code| transient_state(&code)),
        _ => false,
    }
}

/// SQLSTATEs worth retrying: connection exceptions (08), serialization failure and
/// deadlock (40001, 40P01), statement timeout or cancel (57014), server shutdown or start
/// (57P01-57P03), too many connections (53300), lock not available (55P03).
fn transient_state(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" | "40P01" | "57014" | "57P01" | "57P02" | "57P03" | "53300" | "55P03"
        )
}

/// Whether a statement failed on a unique key.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    sqlstate(e).as_deref() == Some("23505")
}

/// A PostgreSQL error as [`Error::Backend`].
pub(crate) fn backend(e: sqlx::Error) -> Error {
    let transient = is_transient(&e);
    Error::backend(e, transient)
}

/// A stored row that does not parse: the database was changed behind the store's back.
pub(crate) fn corrupt(what: &str, e: impl fmt::Display) -> Fail {
    Fail::Core(Error::backend(
        format!("stored {what} is damaged: {e}"),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_timeouts_are_transient() {
        for code in [
            "08006", "08001", "40001", "40P01", "57014", "57P01", "53300",
        ] {
            assert!(transient_state(code), "{code}");
        }
        for code in ["23505", "28P01", "42P01", "3D000"] {
            assert!(!transient_state(code), "{code}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }
}
