//! Time-ordered ids of the records the pipeline writes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// A UUIDv7: ids created later sort after ids created earlier (within one process
        /// strictly; across processes by millisecond), which stores use for pagination and
        /// retention.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id, later than every id this process made before.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The nil id (all zeros), smaller than every real id; useful as a cursor start.
            pub const fn nil() -> Self {
                Self(Uuid::nil())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| crate::Error::invalid(concat!($kind, " id"), format!("'{s}': {e}")))
            }
        }
    };
}

record_id!(
    /// The id of an [`Event`](super::Event).
    EventId,
    "event"
);
record_id!(
    /// The id of an [`Enforcement`](super::Enforcement).
    EnforcementId,
    "enforcement"
);
record_id!(
    /// The id of an [`Execution`](super::Execution).
    ExecutionId,
    "execution"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_parse_back() {
        let a = ExecutionId::new();
        let b = ExecutionId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<ExecutionId>().unwrap(), a);
        let err = "nope".parse::<EventId>().unwrap_err();
        assert!(err.to_string().contains("event id"), "{err}");
    }
}
