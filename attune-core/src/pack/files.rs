//! Reading a pack directory safely: sizes bounded per file and per pack, nothing outside the
//! pack (no `..`, no symlink that escapes), only regular files ever opened (a FIFO would block
//! the reader), YAML files listed in a stable order.

use super::PackOptions;
use crate::document::fields::Source;
use crate::document::problem::{Problem, Report};
use crate::document::read::{human, kind_of, read_checked, regular_file_len};
use crate::document::yaml::{self, Doc, YAML_MAX_NODES};
use std::cell::{Cell, RefCell};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A pack directory, canonicalized, with what reading it has spent of its budget.
#[derive(Debug)]
pub(crate) struct PackDir {
    pub root: PathBuf,
    pub max_file_bytes: u64,
    max_pack_bytes: u64,
    max_pack_nodes: u64,
    max_pack_files: u64,
    /// How problems name the pack: its directory until pack.yaml gave its ref.
    name: RefCell<String>,
    bytes: Cell<u64>,
    nodes: Cell<u64>,
    files: Cell<u64>,
    /// Set once a budget ran out (and was reported): nothing more is read.
    exhausted: Cell<bool>,
}

impl PackDir {
    pub(crate) fn open(dir: &Path, options: &PackOptions) -> Result<Self, Problem> {
        let root = dir.canonicalize().map_err(|e| {
            Problem::file(
                dir.display().to_string(),
                format!("cannot open the pack directory: {e}"),
            )
        })?;
        if !root.is_dir() {
            return Err(Problem::file(
                dir.display().to_string(),
                "is not a directory",
            ));
        }
        Ok(PackDir {
            root,
            max_file_bytes: options.max_file_bytes,
            max_pack_bytes: options.max_pack_bytes,
            max_pack_nodes: options.max_pack_yaml_nodes,
            max_pack_files: options.max_pack_files,
            name: RefCell::new(format!("in '{}'", dir.display())),
            bytes: Cell::new(0),
            nodes: Cell::new(0),
            files: Cell::new(0),
            exhausted: Cell::new(false),
        })
    }

    /// Names the pack by its ref in budget problems.
    pub(crate) fn set_pack_ref(&self, pack_ref: &str) {
        *self.name.borrow_mut() = format!("'{pack_ref}'");
    }

    /// Whether a budget of the pack ran out (reported once): read nothing more.
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// The problem of a pack budget that ran out at `file` (and marks the pack exhausted).
    fn over_budget(&self, file: &str, what: String, option: &str) -> Problem {
        self.exhausted.set(true);
        Problem::file(
            file,
            format!(
                "pack {} is over its budget: {what} ({option}); the rest of the pack is not read",
                self.name.borrow()
            ),
        )
    }

    /// Charges one file of `len` bytes to the pack's budgets, before it is read.
    fn charge_file(&self, file: &str, len: u64) -> Result<(), Problem> {
        let files = self.files.get() + 1;
        if files > self.max_pack_files {
            return Err(self.over_budget(
                file,
                format!("it reads more than {} files", self.max_pack_files),
                "PackOptions::max_pack_files",
            ));
        }
        let bytes = self.bytes.get().saturating_add(len);
        if bytes > self.max_pack_bytes {
            return Err(self.over_budget(
                file,
                format!(
                    "its files hold more than {} in all",
                    human(self.max_pack_bytes)
                ),
                "PackOptions::max_pack_bytes",
            ));
        }
        self.files.set(files);
        self.bytes.set(bytes);
        Ok(())
    }

    /// The canonical path of `rel` if it exists and stays inside the pack.
    pub(crate) fn resolve(&self, rel: &str) -> Result<Option<PathBuf>, String> {
        let p = Path::new(rel);
        if p.is_absolute() {
            return Err(format!(
                "'{rel}' must be a path inside the pack, not absolute"
            ));
        }
        if p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("'{rel}' must not contain '..'"));
        }
        let full = self.root.join(p);
        if std::fs::symlink_metadata(&full).is_err() {
            return Ok(None);
        }
        let real = full
            .canonicalize()
            .map_err(|e| format!("'{rel}' cannot be resolved: {e}"))?;
        if !real.starts_with(&self.root) {
            return Err(format!(
                "'{rel}' is a link to '{}', outside the pack directory",
                real.display()
            ));
        }
        Ok(Some(real))
    }

    /// The YAML files (`*.yaml`, `*.yml`) directly in `sub`, sorted by name, as paths
    /// relative to the pack. One that is not a regular file (a FIFO, a socket, a device, a
    /// directory, or a link to one) is a problem, never opened; so is a directory holding
    /// more YAML files than the pack may read.
    pub(crate) fn yaml_files(&self, sub: &str, r: &mut Report) -> Vec<String> {
        let dir = self.root.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let limit = usize::try_from(self.max_pack_files).unwrap_or(usize::MAX);
        let mut out: Vec<String> = Vec::new();
        for name in entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        {
            if out.len() >= limit {
                r.push(self.over_budget(
                    sub,
                    format!("it holds more than {limit} YAML files"),
                    "PackOptions::max_pack_files",
                ));
                return Vec::new();
            }
            out.push(format!("{sub}/{name}"));
        }
        out.sort();
        out.retain(|f| match self.resolve(f) {
            // Its size is checked when it is read (`read_charged`).
            Ok(Some(p)) => match regular_file_len(&p, f, u64::MAX) {
                Ok(_) => true,
                Err(problem) => {
                    r.push(problem);
                    false
                }
            },
            Ok(None) => false,
            Err(e) => {
                r.push(Problem::file(f, e));
                false
            }
        });
        out
    }

    /// Reads a text file inside the pack, within the size limit and the pack's budget.
    pub(crate) fn read_text(&self, rel: &str) -> Result<String, Problem> {
        match self.resolve(rel) {
            Ok(Some(p)) => self.read_charged(&p, rel),
            Ok(None) => Err(Problem::file(rel, "file not found")),
            Err(e) => Err(Problem::file(rel, e)),
        }
    }

    /// Reads the regular file `path` (named `name` in problems; it may be outside the pack, as
    /// a config file is), charged to the pack's budget: checked (kind, size, budget) before
    /// it is opened.
    pub(crate) fn read_charged(&self, path: &Path, name: &str) -> Result<String, Problem> {
        let len = regular_file_len(path, name, self.max_file_bytes)?;
        self.charge_file(name, len)?;
        read_checked(path, name, self.max_file_bytes)
    }

    /// Parses the YAML `text` of the file `name` within the pack's node budget.
    pub(crate) fn parse_charged(&self, name: &str, text: &str) -> Result<(Source, Doc), Problem> {
        let left = self.max_pack_nodes.saturating_sub(self.nodes.get());
        let within = usize::try_from(left).unwrap_or(usize::MAX);
        let (src, doc) = match parse_yaml_within(name, text, within) {
            Ok(parsed) => parsed,
            Err((p, true)) => {
                // The parser went through that many nodes before it stopped.
                let spent = within.min(YAML_MAX_NODES) as u64;
                self.nodes.set(self.nodes.get().saturating_add(spent));
                if within >= YAML_MAX_NODES {
                    return Err(p);
                }
                return Err(self.over_budget(
                    name,
                    format!(
                        "its YAML files hold more than {} nodes in all",
                        self.max_pack_nodes
                    ),
                    "PackOptions::max_pack_yaml_nodes",
                ));
            }
            Err((p, false)) => return Err(p),
        };
        self.nodes.set(self.nodes.get() + doc.nodes as u64);
        Ok((src, doc))
    }

    /// Reads and parses a YAML file; problems go to `r`. Nothing is read once a budget of
    /// the pack ran out.
    pub(crate) fn read_yaml(&self, rel: &str, r: &mut Report) -> Option<(Source, Doc)> {
        if self.exhausted() {
            return None;
        }
        match self
            .read_text(rel)
            .and_then(|text| self.parse_charged(rel, &text))
        {
            Ok(parsed) => Some(parsed),
            Err(p) => {
                r.push(p);
                None
            }
        }
    }

    /// Resolves an entry point written in a file of `sub` (`actions`, `sensors`): relative to
    /// `sub` first (the StackStorm convention), then to the pack root. Returns the path
    /// relative to the pack root. A FIFO, socket or device there is an error.
    pub(crate) fn entry_point(&self, sub: &str, ep: &str) -> Result<String, String> {
        let mut last_err = None;
        for rel in [format!("{sub}/{ep}"), ep.to_string()] {
            match self.resolve(&rel) {
                Ok(Some(p)) => match std::fs::metadata(&p) {
                    Ok(m) if m.is_file() => return Ok(rel),
                    Ok(m) if m.is_dir() => {}
                    Ok(m) => {
                        last_err = Some(format!(
                            "'{rel}' is {}, not a regular file",
                            kind_of(m.file_type())
                        ));
                    }
                    Err(e) => last_err = Some(format!("'{rel}': {e}")),
                },
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            format!("'{ep}' not found (looked in '{sub}/' and in the pack root)")
        }))
    }
}

/// Parses the YAML (or JSON) `text` of a document named `name`, within the usual limits.
pub(crate) fn parse_yaml(name: &str, text: &str) -> Result<(Source, Doc), Problem> {
    parse_yaml_within(name, text, YAML_MAX_NODES).map_err(|(p, _)| p)
}

/// Parses YAML text of the file `name` into its value and positions, with at most
/// `max_nodes` nodes; the error says whether that budget ran out.
fn parse_yaml_within(
    name: &str,
    text: &str,
    max_nodes: usize,
) -> Result<(Source, Doc), (Problem, bool)> {
    match yaml::parse_within(text, max_nodes) {
        Ok(mut doc) => {
            let src = Source {
                file: name.to_string(),
                locs: Arc::new(std::mem::take(&mut doc.locs)),
            };
            Ok((src, doc))
        }
        Err(f) => Err((
            Problem {
                file: name.to_string(),
                line: f.error.pos.line,
                column: f.error.pos.column,
                path: String::new(),
                message: format!("invalid YAML: {}", f.error.message),
                hint: None,
            },
            f.out_of_nodes,
        )),
    }
}
