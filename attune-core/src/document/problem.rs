//! What is wrong with a pack, and where: file, line, column, key path, message, hint.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A line and column in a file, both counted from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

/// One problem found in a pack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The file, relative to the pack directory (`actions/greet.yaml`).
    pub file: String,
    /// Line, from 1 (0 when the problem is not in a file's text, e.g. a missing file).
    pub line: u32,
    /// Column, from 1 (0 when unknown).
    pub column: u32,
    /// The key path inside the file (`parameters.name.type`, `criteria['trigger.x'].type`);
    /// empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// A suggestion (the nearest valid key for a misspelt one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    /// A problem with a whole file (no position).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            line: 0,
            column: 0,
            path: String::new(),
            message: message.into(),
            hint: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// `<kind> '<name>' has N problems`, then one problem per line.
pub(crate) fn write_problems(
    f: &mut fmt::Formatter<'_>,
    kind: &str,
    name: &str,
    problems: &[Problem],
) -> fmt::Result {
    let n = problems.len();
    write!(
        f,
        "{kind} '{name}' has {n} problem{}",
        if n == 1 { "" } else { "s" }
    )?;
    for p in problems {
        write!(f, "\n  {p}")?;
    }
    Ok(())
}

/// Collects problems while a pack is read; `file` is the file being read.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub problems: Vec<Problem>,
    /// What loads but deserves a word: a part left out (an action whose runner Attune does
    /// not support), a required config value not given. They do not stop the pack.
    pub warnings: Vec<Problem>,
}

impl Report {
    pub(crate) fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    pub(crate) fn warn(&mut self, p: Problem) {
        self.warnings.push(p);
    }
}
