//! Child processes for Attune's process runtimes. See the crate README.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod group;
mod long_lived;
mod run;
mod spec;

pub use capture::{Capture, Captured, StreamLimits, tail};
pub use group::reap_orphans;
pub use long_lived::LongLived;
pub use run::{Ended, Outcome, Stopped, run};
pub use spec::{Limits, ProcessSpec, timeout_param};
