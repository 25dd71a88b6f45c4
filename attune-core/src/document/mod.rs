//! Documents read from outside, with every position kept: YAML parsed into JSON values plus
//! the line and column of every key path (`yaml`), the problems found in them (`problem`),
//! typed key access that reports unknown keys with a hint (`fields`), and bounded reading of
//! one file (`read`). Shared by [`pack`](crate::pack) and [`workflow`](crate::workflow), which
//! read their files without an engine; nothing here knows of either.

pub(crate) mod fields;
pub(crate) mod problem;
pub(crate) mod read;
pub(crate) mod yaml;

pub use problem::{Pos, Problem};
pub(crate) use problem::{Report, write_problems};
pub use yaml::{YAML_MAX_DEPTH, YAML_MAX_NODES, YAML_PARSE_STACK_BYTES};
