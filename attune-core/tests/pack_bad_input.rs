//! Bad packs: each gives a clear problem with file, line, column and key path, registers
//! nothing, and does not panic or use unbounded memory.

mod common;

use attune_core::Engine;
use attune_core::Error;
use attune_core::model::DefinitionKind;
use attune_core::pack::{PackErrors, PackOptions, Problem, read_pack};
use common::engine;
use std::path::Path;

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn pack(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (n, t) in files {
        write(dir.path(), n, t);
    }
    dir
}

/// Loads the pack, expects it refused, checks nothing of it was registered.
async fn refused(engine: &Engine, dir: &Path, pack_ref: &str) -> PackErrors {
    let rules_before = engine.rule_count();
    let e = engine
        .load_pack(dir)
        .await
        .expect_err("the pack is refused");
    let Error::Pack(errors) = e else {
        panic!("expected Error::Pack, got {e}")
    };
    assert!(engine.pack(pack_ref).is_none(), "nothing registered");
    assert_eq!(engine.rule_count(), rules_before);
    for kind in DefinitionKind::ALL {
        let defs = engine
            .store()
            .list_definitions(kind, Some(pack_ref))
            .await
            .unwrap();
        assert!(defs.is_empty(), "{kind} stored: {defs:?}");
    }
    assert!(!errors.problems.is_empty());
    errors
}

fn only(errors: &PackErrors) -> &Problem {
    assert_eq!(errors.problems.len(), 1, "{errors}");
    &errors.problems[0]
}

const PACK: &str = "ref: bad\n";

#[tokio::test]
async fn malformed_yaml_is_located() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nparameters: {x: [1, 2\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!(p.file, "actions/a.yaml");
    assert!(p.line >= 3 && p.column > 0, "{p}");
    assert!(p.message.starts_with("invalid YAML"), "{p}");
}

#[tokio::test]
async fn wrong_types_are_located_by_key_path() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nenabled: maybe\ntimeout_seconds: soon\nparameters:\n  n:\n    type: integer\n    default: seven\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let paths: Vec<(&str, u32)> = errs
        .problems
        .iter()
        .map(|p| (p.path.as_str(), p.line))
        .collect();
    assert!(paths.contains(&("enabled", 3)), "{errs}");
    assert!(paths.contains(&("timeout_seconds", 4)), "{errs}");
    assert!(
        paths
            .iter()
            .any(|(p, l)| p.starts_with("parameters.n") && *l >= 6),
        "{errs}"
    );
    assert!(
        errs.to_string()
            .contains("must be true or false, got a string"),
        "{errs}"
    );
}

#[tokio::test]
async fn unknown_keys_name_the_nearest_valid_key() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        ("triggers/t.yaml", "name: t\n"),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nparameters:\n  x: {type: string, requird: true}\n",
        ),
        (
            "rules/r.yaml",
            "name: r\ntriger: {type: bad.t}\naction: {ref: bad.a}\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let requird = errs
        .problems
        .iter()
        .find(|p| p.message.contains("'requird'"))
        .expect("requird");
    assert_eq!(requird.file, "actions/a.yaml");
    assert_eq!(requird.path, "parameters.x.requird");
    assert_eq!((requird.line, requird.column), (4, 21));
    assert_eq!(requird.hint.as_deref(), Some("did you mean 'required'?"));
    let triger = errs
        .problems
        .iter()
        .find(|p| p.message.contains("'triger'"))
        .expect("triger");
    assert_eq!(triger.hint.as_deref(), Some("did you mean 'trigger'?"));
    assert_eq!((triger.file.as_str(), triger.line), ("rules/r.yaml", 2));
}

#[tokio::test]
async fn every_problem_is_reported_in_one_pass() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: noop\nouput_format: json\n",
        ),
        ("actions/b.yaml", "name: b\nrunner_type: no-such-runner\n"),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhok}\naction: {ref: bad.a}\ncriteria:\n  trigger.x: {type: equalz, pattern: 1}\n",
        ),
        (
            "rules/s.yaml",
            "name: s\ntrigger: {type: core.webhook}\naction:\n  ref: bad.a\n  parameters:\n    x: '{{ trigger.x '\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let text = errs.to_string();
    for wanted in [
        "actions/a.yaml:3:1: ouput_format: unknown key 'ouput_format' (did you mean 'output_format'?)",
        "actions/b.yaml:2:1: runner_type: runner needs the runtime 'no-such-runner'",
        "rules/r.yaml:2:11: trigger.type: trigger type 'core.webhok' does not exist (did you mean 'core.webhook'?)",
        "rules/r.yaml:5:3: criteria['trigger.x']",
        "rules/s.yaml:6:5: action.parameters.x: template error",
    ] {
        assert!(text.contains(wanted), "missing «{wanted}» in:\n{text}");
    }
    assert_eq!(errs.problems.len(), 5, "{text}");
}

#[tokio::test]
async fn duplicate_refs_are_refused() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        ("actions/a.yaml", "name: same\nrunner_type: noop\n"),
        ("actions/b.yaml", "ref: bad.same\nrunner_type: noop\n"),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!(p.file, "actions/b.yaml");
    assert!(
        p.message.contains("duplicate action ref 'bad.same'")
            && p.message.contains("actions/a.yaml"),
        "{p}"
    );
}

#[tokio::test]
async fn missing_entry_point_file() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: rhai\nentry_point: missing.rhai\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!(
        (p.file.as_str(), p.path.as_str(), p.line),
        ("actions/a.yaml", "entry_point", 3)
    );
    assert!(
        p.message.contains("missing.rhai") && p.message.contains("not found"),
        "{p}"
    );
}

#[tokio::test]
async fn rule_pointing_at_missing_action_or_trigger() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        ("triggers/t.yaml", "name: t\n"),
        (
            "rules/r.yaml",
            "ref: bad.r\ntrigger_ref: bad.missing\naction_ref: core.ech\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    assert_eq!(errs.problems.len(), 2, "{errs}");
    let t = &errs.problems[0];
    assert_eq!((t.path.as_str(), t.line), ("trigger_ref", 2));
    assert!(t.message.contains("'bad.missing' does not exist"), "{t}");
    let a = &errs.problems[1];
    assert_eq!((a.path.as_str(), a.line), ("action_ref", 3));
    assert_eq!(a.hint.as_deref(), Some("did you mean 'core.echo'?"));
}

#[tokio::test]
async fn literal_params_are_checked_against_the_action_schema() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "rules/r.yaml",
            "name: r\ntrigger: {type: core.webhook}\naction:\n  ref: core.sleep\n  parameters:\n    delay: soon\n    dealy: 1\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let text = errs.to_string();
    assert!(text.contains("action.parameters.delay"), "{text}");
    assert!(text.contains("did you mean 'delay'?"), "{text}");
}

#[tokio::test]
async fn yaml_alias_bomb_is_refused() {
    let engine = engine().await;
    let mut bomb = String::from(
        "name: a\nrunner_type: noop\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..12 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    let dir = pack(&[("pack.yaml", PACK), ("actions/a.yaml", &bomb)]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!(p.file, "actions/a.yaml");
    assert!(p.message.contains("budget"), "{p}");
}

#[tokio::test]
async fn a_50_mb_file_is_refused_before_it_is_read() {
    let engine = engine().await;
    let dir = pack(&[("pack.yaml", PACK)]);
    let path = dir.path().join("actions/huge.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap(); // sparse: no 50 MB written
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!(p.file, "actions/huge.yaml");
    assert!(
        p.message.contains("50.0 MiB") && p.message.contains("limit"),
        "{p}"
    );
    // The limit is a setting.
    let opts = PackOptions {
        max_file_bytes: 10,
        ..PackOptions::default()
    };
    let e = read_pack(dir.path(), &opts).unwrap_err();
    assert!(e.problems[0].message.contains("limit"), "{e}");
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_escaping_the_pack_is_refused() {
    let engine = engine().await;
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "secret.yaml",
        "name: a\nrunner_type: noop\n",
    );
    let dir = pack(&[("pack.yaml", PACK)]);
    std::fs::create_dir_all(dir.path().join("actions")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        dir.path().join("actions/a.yaml"),
    )
    .unwrap();
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!(p.file, "actions/a.yaml");
    assert!(p.message.contains("outside the pack directory"), "{p}");
    // A symlinked entry point too.
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "actions/b.yaml",
            "name: b\nrunner_type: rhai\nentry_point: b.rhai\n",
        ),
    ]);
    write(outside.path(), "b.rhai", "1");
    std::os::unix::fs::symlink(
        outside.path().join("b.rhai"),
        dir.path().join("actions/b.rhai"),
    )
    .unwrap();
    let errs = refused(&engine, dir.path(), "bad").await;
    assert!(
        only(&errs).message.contains("outside the pack directory"),
        "{errs}"
    );
}

#[tokio::test]
async fn entry_point_with_dot_dot_is_refused() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        (
            "actions/a.yaml",
            "name: a\nrunner_type: rhai\nentry_point: ../../etc/passwd\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    let p = only(&errs);
    assert_eq!((p.path.as_str(), p.line), ("entry_point", 3));
    assert!(p.message.contains("'..'"), "{p}");
}

#[tokio::test]
async fn missing_or_bad_pack_yaml() {
    let engine = engine().await;
    let empty = tempfile::tempdir().unwrap();
    let e = engine.load_pack(empty.path()).await.unwrap_err();
    assert!(e.to_string().contains("pack.yaml: file not found"), "{e}");
    let dir = pack(&[("pack.yaml", "ref: 'has space'\n")]);
    let e = engine.load_pack(dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("not a valid pack ref"), "{e}");
    let e = engine
        .load_pack(empty.path().join("nope"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot open the pack directory"),
        "{e}"
    );
}

#[tokio::test]
async fn definitions_in_another_packs_name_are_refused() {
    let engine = engine().await;
    let dir = pack(&[
        ("pack.yaml", PACK),
        ("actions/a.yaml", "ref: other.a\nrunner_type: noop\n"),
        (
            "actions/b.yaml",
            "name: b\npack: other\nrunner_type: noop\n",
        ),
    ]);
    let errs = refused(&engine, dir.path(), "bad").await;
    assert_eq!(errs.problems.len(), 2, "{errs}");
}
