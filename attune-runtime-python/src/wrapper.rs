//! The wrapper: the runner script and the `attune` helper module, written once per content
//! under the runtime's directory.

use attune_core::{Error, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

const RUNNER: &str = include_str!("../python/attune_runner.py");
const HELPER: &str = include_str!("../python/attune/__init__.py");

/// Writes the wrapper under `<env_dir>/wrapper/<content hash>/` unless it is there, and
/// returns the runner's path. Files are written to a temporary name and renamed, so that a
/// concurrent run never reads half a file.
pub fn install(env_dir: &Path) -> Result<PathBuf> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (RUNNER, HELPER).hash(&mut h);
    let dir = env_dir.join("wrapper").join(format!("{:016x}", h.finish()));
    let runner = dir.join("attune_runner.py");
    if runner.is_file() {
        return Ok(runner);
    }
    let io = |what: &str, e: std::io::Error| {
        Error::Action(format!(
            "cannot write the Python wrapper ({what}) under '{}': {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir.join("attune")).map_err(|e| io("directory", e))?;
    for (name, text) in [("attune/__init__.py", HELPER), ("attune_runner.py", RUNNER)] {
        let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| io(name, e))?;
        std::fs::rename(&tmp, dir.join(name)).map_err(|e| io(name, e))?;
    }
    Ok(runner)
}
