//! Child processes for Attune's process runtimes. See the crate README.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod group;
mod run;
mod spec;

pub use capture::{Captured, StreamLimits, tail};
pub use group::reap_orphans;
pub use run::{Ended, Outcome, Stopped, run};
pub use spec::{Limits, ProcessSpec, timeout_param};
