//! # Attune — an embeddable event-driven automation engine
//!
//! Events come in (`emit`), rules match them (StackStorm-compatible criteria or a Rhai
//! expression), each match becomes an enforcement and an execution with rendered, validated
//! params, and the execution runs on a runtime (an async Rust closure, a Rhai script, or a
//! plugin) — all inside the host program, on a pluggable [`store::Store`] and
//! [`transport::Transport`].
//!
//! Start at [`Engine`] (its methods are grouped by topic, and it says what survives a crash
//! or a shutdown); [`prelude`] gathers what a host writes daily; the data model is in
//! [`model`]; the three extension traits are [`store::Store`], [`transport::Transport`] and
//! [`runtime::Runtime`], each with a conformance suite (feature `conformance`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
mod document;
mod engine;
mod error;
pub mod input;
pub mod keystore;
pub mod model;
pub mod pack;
pub mod params;
pub mod prelude;
pub mod rules;
pub mod runtime;
pub mod sandbox;
pub mod sensor;
pub mod store;
pub mod template;
mod text;
pub mod timer;
pub mod transport;
pub mod workflow;
pub mod yaql;

pub use engine::{
    Engine, EngineBuilder, EventTrace, ExecutionTrace, Inquiry, LoadReport, MAX_USER_NAME_BYTES,
    PackSummary, QueueStats, Responder, Retention, Role, RuleTest, RuleVerdict, StatusSubscription,
    TraceRoot, WEBHOOK_TRIGGER, Webhook,
};
pub use error::{Error, Result};

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
