//! Printing: colour only on a terminal (and never with `NO_COLOR`), paths shown relative to
//! the working directory.

use attune_core::pack::{PackErrors, Problem};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// ANSI styling, on or off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    pub(crate) fn detect() -> Self {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Success.
    pub(crate) fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Failure.
    pub(crate) fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Emphasis.
    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Secondary text.
    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// `path` relative to the working directory when it is under it.
pub(crate) fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let cwd_real = cwd.as_ref().and_then(|c| c.canonicalize().ok());
    // Relative to the working directory when under it (`.` for itself); from `/`, absolute.
    for base in [cwd, cwd_real]
        .into_iter()
        .flatten()
        .filter(|b| b.parent().is_some())
    {
        if let Ok(rel) = path.strip_prefix(&base) {
            return match rel.as_os_str().is_empty() {
                true => ".".to_string(),
                false => rel.display().to_string(),
            };
        }
    }
    path.display().to_string()
}

/// Where a problem is, as `dir/file:line:column` (editors jump to it).
pub(crate) fn problem_location(dir: Option<&PathBuf>, p: &Problem) -> String {
    let file = match dir {
        Some(d) if !p.file.starts_with('/') => shown(&d.join(&p.file)),
        _ => p.file.clone(),
    };
    if p.line > 0 {
        format!("{file}:{}:{}", p.line, p.column)
    } else {
        file
    }
}

/// The problems of a pack as text lines.
pub(crate) fn problems_text(style: Style, errors: &PackErrors) -> String {
    problem_lines(style, errors.dir.as_ref(), &errors.problems, "")
}

/// One line per problem (`file:line:column: key.path: message (hint)`), each message after
/// `label` (`"warning: "` for warnings).
pub(crate) fn problem_lines(
    style: Style,
    dir: Option<&std::path::PathBuf>,
    problems: &[Problem],
    label: &str,
) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str("  ");
        out.push_str(&style.bold(&problem_location(dir, p)));
        out.push_str(": ");
        out.push_str(label);
        if !p.path.is_empty() {
            out.push_str(&p.path);
            out.push_str(": ");
        }
        if label.is_empty() {
            out.push_str(&style.bad(&p.message));
        } else {
            out.push_str(&p.message);
        }
        if let Some(h) = &p.hint {
            out.push_str(&format!(" ({h})"));
        }
        out.push('\n');
    }
    out
}

/// A JSON value on one line, or pretty when long (for human output).
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    let one = v.to_string();
    if one.len() <= 100 {
        one
    } else {
        serde_json::to_string_pretty(v).unwrap_or(one)
    }
}

/// Indents every line after the first by `n` spaces.
pub(crate) fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().collect::<Vec<_>>().join(&format!("\n{pad}"))
}

/// `n thing` or `n things`.
pub(crate) fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}
