//! Finding the real interpreter, and checking it is recent enough.

use crate::config::PythonConfig;
use attune_core::{Error, Result};
use std::path::PathBuf;

/// The oldest Python the wrapper runs on.
pub const MIN_VERSION: (u32, u32) = (3, 8);

/// A resolved interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// Its real path (`sys.executable`: past any pyenv shim or symlink chain).
    pub path: PathBuf,
    /// Its version.
    pub version: (u32, u32, u32),
}

/// Asks `config.python` for its real path and version. Errors name the interpreter and say
/// what is wrong: not found, did not answer, or older than [`MIN_VERSION`].
pub(crate) async fn resolve(config: &PythonConfig) -> Result<Interpreter> {
    let python = &config.python;
    let out = tokio::process::Command::new(python)
        .args([
            "-S",
            "-E",
            "-c",
            "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])",
        ])
        .env_clear()
        .env("PATH", &config.path)
        .env("HOME", &config.home)
        .output()
        .await
        .map_err(|e| {
            Error::Unsupported(format!(
                "the Python runtime needs a Python {}.{} or newer interpreter, and '{}' could \
                 not be started: {e} (install python3, or set PythonConfig::python)",
                MIN_VERSION.0,
                MIN_VERSION.1,
                python.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(exe), Some(ver)) = (lines.next(), lines.next()) else {
        return Err(Error::Unsupported(format!(
            "'{}' did not report its path and version (exit status {}): {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    };
    let nums: Vec<u32> = ver.split('.').filter_map(|n| n.parse().ok()).collect();
    let version = match nums[..] {
        [a, b, c] => (a, b, c),
        _ => {
            return Err(Error::Unsupported(format!(
                "'{}' reported an unreadable version '{ver}'",
                python.display()
            )));
        }
    };
    if (version.0, version.1) < MIN_VERSION {
        return Err(Error::Unsupported(format!(
            "'{}' is Python {}.{}.{}; the Python runtime needs {}.{} or newer",
            python.display(),
            version.0,
            version.1,
            version.2,
            MIN_VERSION.0,
            MIN_VERSION.1
        )));
    }
    let path = PathBuf::from(exe);
    // An empty sys.executable (embedded interpreters) keeps the name given.
    let path = if exe.is_empty() { python.clone() } else { path };
    Ok(Interpreter { path, version })
}
