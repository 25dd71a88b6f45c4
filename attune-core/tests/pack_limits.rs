//! What bounds reading a pack (issue 15): a file that is not a regular file (a FIFO, which
//! would block whoever opens it) is a problem naming it, never opened; and a pack as a whole
//! has budgets — files read, bytes read, YAML nodes — each a clear problem naming the pack,
//! what ran out and the option.
#![cfg(unix)]

use attune_core::pack::{PackBundle, PackErrors, PackOptions, read_pack};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The safety net of a read that would block on a FIFO (never a timing assertion).
const SAFETY: Duration = Duration::from_secs(20);

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

const PACK: &str = "ref: lim\n";
const ACTION: &str = "name: a\nrunner_type: noop\n";

/// Reads the pack in `dir` on another thread, failing the test (instead of hanging) when
/// reading blocks, as opening a FIFO does.
fn read(dir: &Path, options: &PackOptions) -> Result<PackBundle, PackErrors> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (dir, options) = (dir.to_path_buf(), options.clone());
    std::thread::spawn(move || {
        let _ = tx.send(read_pack(&dir, &options));
    });
    rx.recv_timeout(SAFETY)
        .expect("reading the pack does not block (no FIFO is opened)")
}

fn refused(dir: &Path, options: &PackOptions) -> PackErrors {
    match read(dir, options) {
        Ok(b) => panic!("expected problems, the pack read: {b:?}"),
        Err(e) => e,
    }
}

/// The one problem of `file`, asserting there is exactly one.
fn problem_of<'a>(errors: &'a PackErrors, file: &str) -> &'a str {
    let of: Vec<_> = errors.problems.iter().filter(|p| p.file == file).collect();
    assert_eq!(of.len(), 1, "one problem of {file}: {errors}");
    &of[0].message
}

fn pack_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    dir
}

#[test]
fn a_fifo_among_the_actions_or_rules_is_a_problem_never_opened() {
    for sub in ["actions", "rules", "triggers", "sensors", "policies"] {
        let dir = pack_dir(&[("pack.yaml", PACK), ("actions/ok.yaml", ACTION)]);
        let fifo = format!("{sub}/fifo.yaml");
        mkfifo(&dir.path().join(&fifo));
        let errors = refused(dir.path(), &PackOptions::default());
        let message = problem_of(&errors, &fifo);
        assert!(
            message.contains("is a FIFO (named pipe), not a regular file"),
            "{message}"
        );
        assert_eq!(errors.problems.len(), 1, "{errors}");
    }
}

#[test]
fn a_link_to_a_fifo_inside_the_pack_is_a_problem_too() {
    let dir = pack_dir(&[("pack.yaml", PACK), ("actions/ok.yaml", ACTION)]);
    mkfifo(&dir.path().join("data/pipe"));
    std::os::unix::fs::symlink("../data/pipe", dir.path().join("actions/link.yml")).unwrap();
    let errors = refused(dir.path(), &PackOptions::default());
    let message = problem_of(&errors, "actions/link.yml");
    assert!(message.contains("FIFO"), "{message}");
}

#[test]
fn a_fifo_as_pack_yaml_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("pack.yaml"));
    let errors = refused(dir.path(), &PackOptions::default());
    let message = problem_of(&errors, "pack.yaml");
    assert!(
        message.contains("is a FIFO (named pipe), not a regular file"),
        "{message}"
    );
}

#[test]
fn a_fifo_as_config_schema_config_file_or_entry_point_is_a_problem() {
    // config.schema.yaml
    let dir = pack_dir(&[("pack.yaml", PACK)]);
    mkfifo(&dir.path().join("config.schema.yaml"));
    let errors = refused(dir.path(), &PackOptions::default());
    assert!(
        problem_of(&errors, "config.schema.yaml").contains("FIFO"),
        "{errors}"
    );

    // <config_dir>/<pack>.yaml
    let dir = pack_dir(&[("pack.yaml", PACK)]);
    let configs = tempfile::tempdir().unwrap();
    let config: PathBuf = configs.path().join("lim.yaml");
    mkfifo(&config);
    let options = PackOptions {
        config_dir: Some(configs.path().to_path_buf()),
        ..PackOptions::default()
    };
    let errors = refused(dir.path(), &options);
    let message = problem_of(&errors, &config.display().to_string());
    assert!(message.contains("FIFO"), "{message}");

    // An entry point (a rhai script, a workflow file).
    for (runner, file) in [("rhai", "s.rhai"), ("orquesta", "w.yaml")] {
        let action = format!("name: a\nrunner_type: {runner}\nentry_point: {file}\n");
        let dir = pack_dir(&[("pack.yaml", PACK), ("actions/a.yaml", &action)]);
        mkfifo(&dir.path().join("actions").join(file));
        let errors = refused(dir.path(), &PackOptions::default());
        let message = problem_of(&errors, "actions/a.yaml");
        assert!(
            message.contains(&format!(
                "'actions/{file}' is a FIFO (named pipe), not a regular file"
            )),
            "{message}"
        );
    }
}

/// A pack of pack.yaml and `n` action files.
fn pack_of(n: usize) -> tempfile::TempDir {
    let dir = pack_dir(&[("pack.yaml", PACK)]);
    for i in 0..n {
        write(
            dir.path(),
            &format!("actions/a{i}.yaml"),
            &format!("name: a{i}\nrunner_type: noop\n"),
        );
    }
    dir
}

fn over_budget(errors: &PackErrors, option: &str) -> String {
    let budget: Vec<_> = errors
        .problems
        .iter()
        .filter(|p| p.message.contains("is over its budget"))
        .collect();
    assert_eq!(budget.len(), 1, "one budget problem: {errors}");
    let message = &budget[0].message;
    assert!(
        message.contains("pack 'lim' is over its budget"),
        "{message}"
    );
    assert!(message.contains(option), "{message}");
    message.clone()
}

#[test]
fn a_pack_reading_more_files_than_its_budget_is_refused() {
    // pack.yaml and 3 actions: 4 files.
    let dir = pack_of(3);
    let at = |max| PackOptions {
        max_pack_files: max,
        ..PackOptions::default()
    };
    let bundle = read(dir.path(), &at(4)).expect("4 files within a budget of 4");
    assert_eq!(bundle.action_refs().len(), 3);
    let errors = refused(dir.path(), &at(3));
    let message = over_budget(&errors, "PackOptions::max_pack_files");
    assert!(message.contains("more than 3 files"), "{message}");
    // A directory holding more YAML files than the budget is refused before any is read.
    let errors = refused(dir.path(), &at(2));
    assert_eq!(errors.problems[0].file, "actions", "{errors}");
    over_budget(&errors, "it holds more than 2 YAML files");
}

#[test]
fn a_pack_reading_more_bytes_than_its_budget_is_refused() {
    let dir = pack_of(3);
    let total = (PACK.len() + 3 * "name: a0\nrunner_type: noop\n".len()) as u64;
    let at = |max| PackOptions {
        max_pack_bytes: max,
        ..PackOptions::default()
    };
    read(dir.path(), &at(total)).expect("exactly the budget reads");
    let errors = refused(dir.path(), &at(total - 1));
    let message = over_budget(&errors, "PackOptions::max_pack_bytes");
    assert!(
        message.contains(&format!("more than {} bytes in all", total - 1)),
        "{message}"
    );
    // Nothing after the file that ran out is read: one problem, at the last action.
    assert_eq!(errors.problems.len(), 1, "{errors}");
    assert_eq!(errors.problems[0].file, "actions/a2.yaml");
}

#[test]
fn a_pack_whose_yaml_holds_more_nodes_than_its_budget_is_refused() {
    // pack.yaml: a mapping, one key, one value (3 nodes); each action: a mapping and two
    // keys with their values (5 nodes).
    let dir = pack_of(3);
    let total = 3 + 3 * 5;
    let at = |max| PackOptions {
        max_pack_yaml_nodes: max,
        ..PackOptions::default()
    };
    read(dir.path(), &at(total)).expect("exactly the budget reads");
    let errors = refused(dir.path(), &at(total - 1));
    let message = over_budget(&errors, "PackOptions::max_pack_yaml_nodes");
    assert!(
        message.contains(&format!("more than {} nodes in all", total - 1)),
        "{message}"
    );
    assert_eq!(errors.problems.len(), 1, "{errors}");
    assert_eq!(errors.problems[0].file, "actions/a2.yaml");
}

#[test]
fn workflow_files_and_config_files_count_against_the_budgets() {
    let wf = "tasks:\n  a:\n    action: core.noop\n";
    let action = "name: w\nrunner_type: orquesta\nentry_point: wf/w.yaml\n";
    let dir = pack_dir(&[
        ("pack.yaml", PACK),
        ("actions/w.yaml", action),
        ("actions/wf/w.yaml", wf),
    ]);
    let total = (PACK.len() + action.len() + wf.len()) as u64;
    let bytes = |max| PackOptions {
        max_pack_bytes: max,
        ..PackOptions::default()
    };
    read(dir.path(), &bytes(total)).expect("the workflow file fits the budget");
    let errors = refused(dir.path(), &bytes(total - 1));
    over_budget(&errors, "PackOptions::max_pack_bytes");
    // pack.yaml 3 nodes, the action file 7, the workflow 7 (a mapping, `tasks`, its
    // mapping, `a`, its mapping, `action` and its value).
    let nodes = |max| PackOptions {
        max_pack_yaml_nodes: max,
        ..PackOptions::default()
    };
    read(dir.path(), &nodes(3 + 7 + 7)).expect("the workflow's nodes fit the budget");
    let errors = refused(dir.path(), &nodes(3 + 7 + 6));
    over_budget(&errors, "PackOptions::max_pack_yaml_nodes");

    // A config file in the config directory.
    let dir = pack_dir(&[("pack.yaml", PACK)]);
    let configs = tempfile::tempdir().unwrap();
    write(configs.path(), "lim.yaml", "x: 1\n");
    let with = |max| PackOptions {
        config_dir: Some(configs.path().to_path_buf()),
        max_pack_bytes: max,
        ..PackOptions::default()
    };
    let total = (PACK.len() + "x: 1\n".len()) as u64;
    read(dir.path(), &with(total)).expect("the config file fits the budget");
    let errors = refused(dir.path(), &with(total - 1));
    over_budget(&errors, "PackOptions::max_pack_bytes");
}

#[test]
fn a_config_or_workflow_file_over_the_file_limit_is_refused_unread() {
    let dir = pack_dir(&[
        ("pack.yaml", PACK),
        (
            "actions/w.yaml",
            "name: w\nrunner_type: orquesta\nentry_point: wf/w.yaml\n",
        ),
        ("actions/wf/w.yaml", "tasks:\n  a:\n    action: core.noop\n"),
    ]);
    let configs = tempfile::tempdir().unwrap();
    write(configs.path(), "lim.yaml", "a_rather_long_key: 1\n");
    let options = PackOptions {
        config_dir: Some(configs.path().to_path_buf()),
        max_file_bytes: 60,
        ..PackOptions::default()
    };
    // pack.yaml and the action file are under 60 bytes; the others are not.
    let mut options_small = options.clone();
    options_small.max_file_bytes = 20;
    let errors = refused(dir.path(), &options_small);
    let config = configs.path().join("lim.yaml").display().to_string();
    assert!(
        problem_of(&errors, &config)
            .contains("the limit is 20 bytes (PackOptions::max_file_bytes)"),
        "{errors}"
    );
    read(dir.path(), &options).expect("within 60 bytes each");
}

#[test]
fn the_default_budgets_fit_real_packs() {
    let d = PackOptions::default();
    assert_eq!(d.max_file_bytes, 4 * 1024 * 1024);
    assert_eq!(d.max_pack_bytes, 32 * 1024 * 1024);
    assert_eq!(d.max_pack_yaml_nodes, 2_000_000);
    assert_eq!(d.max_pack_files, 5_000);
    // A pack of a few hundred actions reads within them.
    let dir = pack_of(300);
    let bundle = read(dir.path(), &d).expect("300 actions read");
    assert_eq!(bundle.action_refs().len(), 300);
}

#[tokio::test]
async fn a_packs_root_with_a_fifo_as_pack_yaml_reports_that_pack() {
    // The directory is a pack with a broken pack.yaml, not a directory skipped without a word.
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "good/pack.yaml", "ref: good\n");
    mkfifo(&root.path().join("piped/pack.yaml"));
    let engine = attune_core::Engine::builder().build().await.unwrap();
    let report = tokio::time::timeout(
        SAFETY,
        engine.load_packs(root.path(), &PackOptions::default()),
    )
    .await
    .expect("loading does not block on the FIFO")
    .unwrap();
    assert_eq!(report.loaded.len(), 1, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let text = report.failed[0].to_string();
    assert!(
        text.contains("pack.yaml") && text.contains("FIFO"),
        "{text}"
    );
}
