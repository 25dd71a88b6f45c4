#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod cache;
mod checkpoint;
mod config;
mod definitions;
mod enforcements;
mod error;
mod events;
mod executions;
mod journal;
mod keys;
mod migrations;
mod purge;
mod query;
mod reader;
mod rows;
mod store;
mod trash;
mod writer;

pub use builder::SqliteStoreBuilder;
pub use config::Synchronous;
pub use store::SqliteStore;
