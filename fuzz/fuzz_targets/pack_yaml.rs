//! A pack's YAML files: the input's NUL-separated parts are written as one pack's files
//! (see `FILES`; an empty part writes no file) and read with `pack::read_pack`, as is and
//! with partial loading; the rule part is also read alone with `pack::read_rule`.
#![no_main]

use attune_core::pack::{PackOptions, read_pack, read_rule};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The file each part of the input becomes, in order.
const FILES: &[&str] = &[
    "pack.yaml",
    "config.schema.yaml",
    "actions/a.yaml",
    "actions/workflows/w.yaml",
    "triggers/t.yaml",
    "sensors/s.yaml",
    "rules/r.yaml",
    "policies/p.yaml",
];

/// A directory kept for the whole run (under the system's temporary directory).
fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("attune-fuzz-pack")
            .tempdir()
            .unwrap()
            .keep();
        for sub in [
            "actions/workflows",
            "triggers",
            "sensors",
            "rules",
            "policies",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(parts) = attune_fuzz::parts(data, FILES.len()) else {
        return;
    };
    let d = dir();
    for (i, name) in FILES.iter().enumerate() {
        let path = d.join(name);
        match parts.get(i).filter(|p| !p.is_empty()) {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    if let Ok(bundle) = read_pack(d, &PackOptions::default()) {
        let _ = bundle.definitions();
    }
    let partial = PackOptions {
        partial: true,
        ..PackOptions::default()
    };
    if let Err(e) = read_pack(d, &partial) {
        assert!(!e.to_string().is_empty());
    }
    if let Some(rule) = parts.get(6) {
        let _ = read_rule("r.yaml", rule, "fuzz");
    }
});
