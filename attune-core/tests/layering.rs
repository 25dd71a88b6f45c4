//! The layering that docs/ARCHITECTURE.md states as invariants, checked on the source:
//! packs and workflows are read without the engine, what they share knows of neither, and
//! the core crate depends on no SQL, process or HTTP-server crate.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code lines (comments left out: doc links may name anything) of the `.rs` files under
/// `src/<folder>` that mention any of `needles`, as `file:line: text`.
fn mentions(folder: &str, needles: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

const ENGINE: &[&str] = &["crate::engine", "crate::Engine", "super::engine"];

#[test]
fn packs_are_read_without_the_engine() {
    let found = mentions("pack", ENGINE);
    assert!(
        found.is_empty(),
        "pack/ imports engine/:\n{}",
        found.join("\n")
    );
}

#[test]
fn workflows_are_read_without_the_engine() {
    let found = mentions("workflow", ENGINE);
    assert!(
        found.is_empty(),
        "workflow/ imports engine/:\n{}",
        found.join("\n")
    );
}

#[test]
fn shared_document_code_knows_neither_packs_nor_workflows_nor_the_engine() {
    let mut needles = vec!["crate::pack", "crate::workflow"];
    needles.extend_from_slice(ENGINE);
    let found = mentions("document", &needles);
    assert!(found.is_empty(), "document/ imports:\n{}", found.join("\n"));
}

#[test]
fn core_depends_on_no_sql_process_or_server_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    let table: toml_lite::Deps = toml_lite::dependencies(&manifest);
    for banned in [
        "sqlx",
        "rusqlite",
        "axum",
        "hyper",
        "attune-process",
        "nix",
        "libc",
    ] {
        assert!(
            !table.contains(banned),
            "attune-core depends on '{banned}' ({table:?})"
        );
    }
}

/// Just enough TOML to list the names under `[dependencies]`.
mod toml_lite {
    /// Dependency names of the `[dependencies]` table.
    #[derive(Debug)]
    pub(crate) struct Deps(Vec<String>);

    impl Deps {
        pub(crate) fn contains(&self, name: &str) -> bool {
            self.0.iter().any(|n| n == name)
        }
    }

    pub(crate) fn dependencies(manifest: &str) -> Deps {
        let mut names = Vec::new();
        let mut inside = false;
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                inside = line == "[dependencies]";
                continue;
            }
            if inside && let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && !name.starts_with('#') {
                    names.push(name.split('.').next().unwrap_or(name).to_string());
                }
            }
        }
        assert!(!names.is_empty(), "no [dependencies] found");
        Deps(names)
    }
}
