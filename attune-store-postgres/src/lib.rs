#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod definitions;
mod enforcements;
mod error;
mod events;
mod executions;
mod filter;
mod journal;
mod keys;
mod leader;
mod migrations;
mod outbox;
mod purge;
mod rows;
mod store;
pub mod testing;
mod transport;
mod workers;

pub use config::{DEFAULT_SCHEMA, PgStoreBuilder, redact_url};
pub use leader::PgLeader;
pub use store::PgStore;
pub use transport::{PgTransport, PgTransportBuilder};
