//! Time-ordered ids of the records the pipeline writes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The process-wide id sequence: a counter that starts at a random value. It is the one
/// piece of process-global state in Attune, for the same reason the `uuid` crate keeps one:
/// ids must be unique and ordered across every engine of the process. It replaces
/// `Uuid::now_v7()`, which asks the kernel for randomness on every id.
static SEQUENCE: OnceLock<(AtomicU64, u16)> = OnceLock::new();

/// A UUIDv7: 48-bit Unix milliseconds, then the 64-bit sequence (12 + 52 bits), then 10
/// random bits fixed per process. Strictly increasing within the process (while the system
/// clock does not step back), unique across processes with overwhelming probability.
fn next_v7() -> Uuid {
    let (counter, node) = SEQUENCE.get_or_init(|| {
        let seed = Uuid::new_v4().as_u128();
        (
            AtomicU64::new((seed >> 64) as u64 >> 1),
            (seed as u16) & 0x3ff,
        )
    });
    let seq = counter.fetch_add(1, Ordering::Relaxed);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        & 0xffff_ffff_ffff;
    let rand_a = (seq >> 52) & 0xfff;
    let rand_b = ((seq & ((1 << 52) - 1)) << 10) | u64::from(*node);
    let hi = (ms << 16) | (0x7 << 12) | rand_a;
    let lo = (0b10 << 62) | (rand_b & ((1 << 62) - 1));
    Uuid::from_u64_pair(hi, lo)
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// A UUIDv7: ids created later sort after ids created earlier (within one process
        /// strictly; across processes by millisecond), which stores use for pagination and
        /// retention.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        // The order of the UUID's bytes, compared as one big-endian number (the stores'
        // maps compare ids on every lookup; a byte-slice comparison costs several times
        // more).
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.as_u128().cmp(&other.0.as_u128())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// A new id, later than every id this process made before.
            pub fn new() -> Self {
                Self(next_v7())
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
    fn ids_are_version_7_and_strictly_increasing() {
        let mut last = EventId::new();
        for _ in 0..10_000 {
            let next = EventId::new();
            assert!(next > last);
            assert_eq!(next.0.get_version_num(), 7);
            assert_eq!(next.0.get_variant(), uuid::Variant::RFC4122);
            last = next;
        }
    }

    #[test]
    fn ids_are_time_ordered_and_parse_back() {
        let a = ExecutionId::new();
        let b = ExecutionId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<ExecutionId>().unwrap(), a);
        let err = "nope".parse::<EventId>().unwrap_err();
        assert!(err.to_string().contains("event id"), "{err}");
    }

    /// Ids order as their bytes do (what a store comparing the bytes, or the text, finds),
    /// including ids that differ in one byte only, at either end, and the nil id.
    #[test]
    fn ids_order_as_their_bytes() {
        let mut ids: Vec<[u8; 16]> = (0..200).map(|_| *Uuid::new_v4().as_bytes()).collect();
        for at in [0, 7, 8, 15] {
            for v in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff] {
                let mut b = [0x55u8; 16];
                b[at] = v;
                ids.push(b);
            }
        }
        ids.push([0; 16]);
        ids.push([0xff; 16]);
        for a in &ids {
            for b in &ids {
                let (x, y) = (EventId(Uuid::from_bytes(*a)), EventId(Uuid::from_bytes(*b)));
                assert_eq!(x.cmp(&y), a.cmp(b), "{x} against {y}");
                assert_eq!(x.partial_cmp(&y), Some(a.cmp(b)));
                assert_eq!(x.0.to_string().cmp(&y.0.to_string()), a.cmp(b));
            }
        }
        assert!(EventId::nil() < EventId::new());
    }
}
