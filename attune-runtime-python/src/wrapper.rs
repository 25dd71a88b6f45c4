//! The wrapper: the runner script, the `attune` helper module and Attune's `st2common`,
//! written once per content under the runtime's directory.

use attune_core::{Error, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The files of the wrapper, by their path under its directory: the runner, the `attune`
/// helper module, and Attune's `st2common` (what StackStorm actions import).
const FILES: &[(&str, &str)] = &[
    (
        "attune/__init__.py",
        include_str!("../python/attune/__init__.py"),
    ),
    (
        "attune_runner.py",
        include_str!("../python/attune_runner.py"),
    ),
    (
        "attune_sensor.py",
        include_str!("../python/attune_sensor.py"),
    ),
    (
        "attune_fallback/eventlet/__init__.py",
        include_str!("../python/attune_fallback/eventlet/__init__.py"),
    ),
    (
        "st2actions/__init__.py",
        include_str!("../python/st2actions/__init__.py"),
    ),
    (
        "st2actions/runners/__init__.py",
        include_str!("../python/st2actions/runners/__init__.py"),
    ),
    (
        "st2actions/runners/pythonrunner.py",
        include_str!("../python/st2actions/runners/pythonrunner.py"),
    ),
    (
        "st2common/__init__.py",
        include_str!("../python/st2common/__init__.py"),
    ),
    (
        "st2common/constants/__init__.py",
        include_str!("../python/st2common/constants/__init__.py"),
    ),
    (
        "st2common/constants/keyvalue.py",
        include_str!("../python/st2common/constants/keyvalue.py"),
    ),
    (
        "st2common/log.py",
        include_str!("../python/st2common/log.py"),
    ),
    (
        "st2common/runners/__init__.py",
        include_str!("../python/st2common/runners/__init__.py"),
    ),
    (
        "st2common/runners/base_action.py",
        include_str!("../python/st2common/runners/base_action.py"),
    ),
    (
        "st2common/services/__init__.py",
        include_str!("../python/st2common/services/__init__.py"),
    ),
    (
        "st2common/services/datastore.py",
        include_str!("../python/st2common/services/datastore.py"),
    ),
    (
        "st2common/util/__init__.py",
        include_str!("../python/st2common/util/__init__.py"),
    ),
    (
        "st2common/util/jsonify.py",
        include_str!("../python/st2common/util/jsonify.py"),
    ),
    (
        "st2common/util/shell.py",
        include_str!("../python/st2common/util/shell.py"),
    ),
    (
        "st2reactor/__init__.py",
        include_str!("../python/st2reactor/__init__.py"),
    ),
    (
        "st2reactor/sensor/__init__.py",
        include_str!("../python/st2reactor/sensor/__init__.py"),
    ),
    (
        "st2reactor/sensor/base.py",
        include_str!("../python/st2reactor/sensor/base.py"),
    ),
];

/// The arguments that run the installed wrapper in `dir`: it is imported, not run as a
/// script, so that its compiled bytecode is used (`-B` keeps Python from writing any).
pub(crate) fn args(dir: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "-c".into(),
        "import sys; sys.path.insert(0, sys.argv[1]); import attune_runner; attune_runner.start()"
            .into(),
        dir.into(),
    ]
}

/// The arguments that run the sensor wrapper installed in `dir` (see `attune_sensor.py`).
pub(crate) fn sensor_args(dir: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "-c".into(),
        "import sys; sys.path.insert(0, sys.argv[1]); import attune_sensor; attune_sensor.main()"
            .into(),
        dir.into(),
    ]
}

/// Writes the wrapper under `<env_dir>/wrapper/<content hash>/` unless it is there,
/// compiles its bytecode with `python`, and returns its directory. Files are written to a
/// temporary name and renamed, so that a concurrent run never reads half a file.
pub(crate) fn install(env_dir: &Path, python: &Path) -> Result<PathBuf> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    FILES.hash(&mut h);
    let dir = env_dir.join("wrapper").join(format!("{:016x}", h.finish()));
    let compiled = dir.join(".compiled");
    if compiled.is_file() {
        return Ok(dir);
    }
    let io = |what: &str, e: std::io::Error| {
        Error::Action(format!(
            "cannot write the Python wrapper ({what}) under '{}': {e}",
            dir.display()
        ))
    };
    for (name, text) in FILES {
        let target = dir.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("directory", e))?;
        }
        let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| io(name, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| io(name, e))?;
    }
    // Bytecode once (a run without it still works: Python then compiles in memory).
    let ok = std::process::Command::new(python)
        .args(["-E", "-m", "compileall", "-q"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        std::fs::write(&compiled, b"").map_err(|e| io(".compiled", e))?;
    } else {
        tracing::warn!(dir = %dir.display(), "the Python wrapper's bytecode was not compiled");
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Python file of `python/` is installed (a new module of Attune's `st2common`
    /// cannot be forgotten in [`FILES`]).
    #[test]
    fn every_python_file_is_installed() {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else if path.extension().is_some_and(|e| e == "py") {
                    let rel = path.strip_prefix(root).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut installed: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        installed.sort();
        assert_eq!(installed, on_disk);
    }
}
