//! Reading a pack directory safely: sizes bounded, nothing outside the pack (no `..`, no
//! symlink that escapes), YAML files listed in a stable order.

use super::fields::Source;
use super::problem::{Problem, Report};
use super::yaml::{self, Doc};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A pack directory, canonicalized.
#[derive(Debug, Clone)]
pub(crate) struct PackDir {
    pub root: PathBuf,
    pub max_file_bytes: u64,
}

fn human(bytes: u64) -> String {
    // Display only: the rounding is fine.
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{bytes} bytes")
    }
}

impl PackDir {
    pub fn open(dir: &Path, max_file_bytes: u64) -> Result<Self, Problem> {
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
            max_file_bytes,
        })
    }

    /// The canonical path of `rel` if it exists and stays inside the pack.
    pub fn resolve(&self, rel: &str) -> Result<Option<PathBuf>, String> {
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
    /// relative to the pack.
    pub fn yaml_files(&self, sub: &str, r: &mut Report) -> Vec<String> {
        let dir = self.root.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
            .map(|n| format!("{sub}/{n}"))
            .collect();
        out.sort();
        out.retain(|f| match self.resolve(f) {
            Ok(Some(p)) if p.is_file() => true,
            Ok(_) => false,
            Err(e) => {
                r.push(Problem::file(f, e));
                false
            }
        });
        out
    }

    /// Reads a text file inside the pack, within the size limit.
    pub fn read_text(&self, rel: &str) -> Result<String, Problem> {
        match self.resolve(rel) {
            Ok(Some(p)) => read_bounded(&p, rel, self.max_file_bytes),
            Ok(None) => Err(Problem::file(rel, "file not found")),
            Err(e) => Err(Problem::file(rel, e)),
        }
    }

    /// Reads and parses a YAML file; problems go to `r`.
    pub fn read_yaml(&self, rel: &str, r: &mut Report) -> Option<(Source, Doc)> {
        match self.read_text(rel).and_then(|text| parse_yaml(rel, &text)) {
            Ok(parsed) => Some(parsed),
            Err(p) => {
                r.push(p);
                None
            }
        }
    }

    /// Resolves an entry point written in a file of `sub` (`actions`, `sensors`): relative to
    /// `sub` first (the StackStorm convention), then to the pack root. Returns the path
    /// relative to the pack root.
    pub fn entry_point(&self, sub: &str, ep: &str) -> Result<String, String> {
        let mut last_err = None;
        for rel in [format!("{sub}/{ep}"), ep.to_string()] {
            match self.resolve(&rel) {
                Ok(Some(p)) if p.is_file() => return Ok(rel),
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            format!("'{ep}' not found (looked in '{sub}/' and in the pack root)")
        }))
    }
}

/// Reads the regular file `path` as UTF-8 text, at most `max` bytes (checked before reading,
/// and bounded while reading in case it grows); `name` is how problems name it.
pub(crate) fn read_bounded(path: &Path, name: &str, max: u64) -> Result<String, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| Problem::file(name, e.to_string()))?;
    if !meta.is_file() {
        return Err(Problem::file(name, "is not a regular file"));
    }
    if meta.len() > max {
        return Err(Problem::file(
            name,
            format!(
                "file is {}; the limit is {} (PackOptions::max_file_bytes)",
                human(meta.len()),
                human(max)
            ),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, max + 1), &mut bytes))
        .map_err(|e| Problem::file(name, e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(Problem::file(
            name,
            "file grew past the size limit while it was read",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        Problem::file(
            name,
            format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Parses YAML text of the file `name` into its value and positions.
pub(crate) fn parse_yaml(name: &str, text: &str) -> Result<(Source, Doc), Problem> {
    match yaml::parse(text) {
        Ok(doc) => {
            let src = Source {
                file: name.to_string(),
                locs: Arc::new(doc.locs.clone()),
            };
            Ok((src, doc))
        }
        Err(e) => Err(Problem {
            file: name.to_string(),
            line: e.pos.line,
            column: e.pos.column,
            path: String::new(),
            message: format!("invalid YAML: {}", e.message),
            hint: None,
        }),
    }
}
