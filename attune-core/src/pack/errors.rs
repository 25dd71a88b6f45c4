//! The error of a pack that did not load: every problem of it.

use crate::document::{Problem, write_problems};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Every problem of one pack, found in one pass; a pack with any problem registers nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct PackErrors {
    /// The pack's ref when known, else its directory.
    pub pack: String,
    /// The directory it was read from (problems' files are relative to it), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<std::path::PathBuf>,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PackErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_problems(f, "pack", &self.pack, &self.problems)
    }
}
