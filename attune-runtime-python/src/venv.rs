//! Per-pack virtualenvs: built from the pack's `requirements.txt` with `python -m venv` and
//! pip, kept at `<env_dir>/venvs/<pack>/<hash>` where the hash covers the requirements and
//! the interpreter, reused while it is the same, built once when many first executions
//! arrive together.

use crate::config::PythonConfig;
use crate::interpreter::Interpreter;
use attune_core::{Error, Result};
use attune_process::tail;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Written into a virtualenv once its build succeeded: a directory without it is a build
/// that failed or was interrupted, and is built again.
const READY: &str = ".attune-ready";

/// The virtualenvs of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Venvs {
    /// One lock per virtualenv directory: a build runs once, the others wait for it.
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// Builds attempted (successful or not).
    builds: AtomicU64,
}

impl Venvs {
    /// Builds attempted so far.
    pub(crate) fn builds(&self) -> u64 {
        self.builds.load(Ordering::SeqCst)
    }

    /// The interpreter of `pack`'s virtualenv, built first if needed; `None` when the pack
    /// has no `requirements.txt`. A failed build is an error carrying pip's output, and is
    /// tried again by the next call.
    pub(crate) async fn python_for(
        &self,
        config: &PythonConfig,
        python: &Interpreter,
        pack: &str,
        pack_dir: &Path,
    ) -> Result<Option<PathBuf>> {
        let requirements = pack_dir.join("requirements.txt");
        let text = match tokio::fs::read(&requirements).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Action(format!(
                    "pack '{pack}': cannot read '{}': {e}",
                    requirements.display()
                )));
            }
        };
        let mut key = text;
        key.extend_from_slice(python.path.as_os_str().as_encoded_bytes());
        key.extend_from_slice(format!("{:?}", python.version).as_bytes());
        let dir = config
            .env_dir
            .join("venvs")
            .join(pack)
            .join(format!("{:016x}", fnv1a(&key)));
        let venv_python = dir.join("bin").join("python");
        if dir.join(READY).is_file() {
            return Ok(Some(venv_python));
        }
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(dir.clone())
            .or_default()
            .clone();
        let _built_here = lock.lock().await;
        if dir.join(READY).is_file() {
            return Ok(Some(venv_python)); // built by the call we waited for
        }
        self.builds.fetch_add(1, Ordering::SeqCst);
        match build(config, python, pack_dir, &requirements, &dir).await {
            Ok(()) => Ok(Some(venv_python)),
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                Err(Error::Action(format!(
                    "the virtualenv of pack '{pack}' could not be built (it is tried again \
                     at the next execution): {e}"
                )))
            }
        }
    }
}

/// `python -m venv dir`, then pip installs the requirements (from the pack's directory, so
/// that relative paths in them work), then the ready mark.
async fn build(
    config: &PythonConfig,
    python: &Interpreter,
    pack_dir: &Path,
    requirements: &Path,
    dir: &Path,
) -> std::result::Result<(), String> {
    if dir.exists() {
        tokio::fs::remove_dir_all(dir)
            .await
            .map_err(|e| format!("cannot clear '{}': {e}", dir.display()))?;
    }
    if let Some(parent) = dir.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create '{}': {e}", parent.display()))?;
    }
    let step = |program: &Path, args: Vec<std::ffi::OsString>, what: &'static str| {
        let shown = program.display().to_string();
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", &config.path)
            .env("HOME", &config.home)
            .env("LANG", &config.lang)
            .current_dir(pack_dir)
            .kill_on_drop(true);
        async move {
            let out = cmd
                .output()
                .await
                .map_err(|e| format!("{what}: cannot start '{shown}': {e}"))?;
            if out.status.success() {
                return Ok(());
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let said = if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            };
            Err(format!(
                "{what} failed ({}): {}",
                out.status,
                tail(&said, 20, 4096)
            ))
        }
    };
    step(
        &python.path,
        vec!["-m".into(), "venv".into(), dir.into()],
        "python -m venv",
    )
    .await?;
    let mut args: Vec<std::ffi::OsString> = vec![
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--disable-pip-version-check".into(),
        "--no-input".into(),
    ];
    args.extend(config.pip_args.iter().map(Into::into));
    args.push("-r".into());
    args.push(requirements.into());
    step(
        &dir.join("bin").join("python"),
        args,
        "pip install -r requirements.txt",
    )
    .await?;
    tokio::fs::write(dir.join(READY), b"")
        .await
        .map_err(|e| format!("cannot mark '{}' ready: {e}", dir.display()))
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and releases (the directory
/// name of a virtualenv must).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of the FNV specification.
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
