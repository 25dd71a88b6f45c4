//! The data model: definitions (packs, actions, trigger types, sensors, rules,
//! policies), the records the pipeline writes (events, enforcements, executions) and keys.
//!
//! Definitions are addressed by a `pack.name` ref; records by a time-ordered id.

mod action;
mod definition;
mod enforcement;
mod event;
mod execution;
mod ids;
mod key;
mod name;
mod notify;
mod pack;
mod policy;
mod refs;
mod rule;
mod time_text;
mod trigger;
mod worker;

pub use action::{Action, WORKFLOW_RUNNER};
pub use definition::{Definition, DefinitionKind};
pub use enforcement::{Enforcement, EnforcementStatus};
pub use event::Event;
pub use execution::{Execution, ExecutionStatus, TaskRef};
pub use ids::{EnforcementId, EventId, ExecutionId};
pub use key::{Key, KeyScope};
pub use name::Name;
pub use notify::{Notify, NotifyOn};
pub use pack::Pack;
pub use policy::{Backoff, ConcurrencyOverflow, Policy, PolicyKind};
pub use refs::{split_ref, validate_ref};
pub use rule::Rule;
pub use trigger::{Sensor, TriggerType};
pub use worker::Worker;
