//! Child processes for Attune's process runtimes. See the crate README.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// `unsafe` is allowed in one module only: `child_setup` (the pre-exec hook).
#![deny(unsafe_code)]

mod capture;
mod cgroup;
mod child_setup;
mod control;
mod group;
mod guard;
mod long_lived;
mod procfs;
mod run;
mod sensor;
mod spawner;
mod spec;
mod tracked;

pub use capture::{Capture, Captured, StreamLimits, tail};
pub use control::{CGROUPS_ENV, ProcessControl, RUN_TOKEN_ENV, Tracking};
pub use group::reap_orphans;
pub use long_lived::LongLived;
pub use run::{Ended, Outcome, Stopped, run};
pub use sensor::run_line_sensor;
pub use spec::{Limits, ProcessSpec, timeout_param};
