#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod end_mark;
mod interpreter;
mod keys;
mod outcome;
mod pool;
mod protocol;
mod runtime;
mod sensor;
mod venv;
mod wrapper;

pub use config::{Mode, PythonConfig};
pub use interpreter::{Interpreter, MIN_VERSION};
pub use runtime::PythonRuntime;
