#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod command;
mod config;
mod env;
mod output;
mod runtime;
mod sensor;

pub use builder::ShellRuntimeBuilder;
pub use config::ShellConfig;
pub use runtime::ShellRuntime;
