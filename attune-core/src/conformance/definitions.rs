//! Definitions: put, get, list, delete and `replace_pack`.

use super::{Expect, concurrently, expect_err, must};
use crate::model::{
    Action, ConcurrencyOverflow, Definition, DefinitionKind, Pack, Policy, PolicyKind, Rule,
    Sensor, TriggerType,
};
use crate::store::Store;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

/// A definition of `kind` with ref `def_ref`; `version` changes a field so replacements show.
fn definition(kind: DefinitionKind, def_ref: &str, version: u32) -> Definition {
    let pack = def_ref.split_once('.').map_or(def_ref, |(p, _)| p);
    let description = format!("{kind} {def_ref} version {version}");
    match kind {
        DefinitionKind::Pack => {
            let mut p = Pack::new(def_ref).with_config(json!({"version": version}));
            p.description = description;
            p.into()
        }
        DefinitionKind::Action => Action::new(def_ref, "native")
            .description(description)
            .into(),
        DefinitionKind::TriggerType => {
            let mut t = TriggerType::new(def_ref);
            t.description = description;
            t.into()
        }
        DefinitionKind::Sensor => Sensor {
            sensor_ref: def_ref.to_string(),
            description,
            runner: "native".into(),
            entry_point: None,
            class_name: None,
            poll_interval_secs: Some(30.0),
            trigger_types: vec![format!("{pack}.trigger")],
            config: Value::Null,
            enabled: true,
        }
        .into(),
        DefinitionKind::Rule => {
            let mut r = Rule::new(def_ref, format!("{pack}.trigger"), format!("{pack}.action"))
                .param("message", json!("{{ trigger.message }}"));
            r.description = description;
            r.into()
        }
        DefinitionKind::Policy => Policy {
            policy_ref: def_ref.to_string(),
            action: format!("{pack}.action"),
            kind: PolicyKind::Concurrency {
                limit: version,
                overflow: ConcurrencyOverflow::Delay,
                attributes: Vec::new(),
            },
            enabled: true,
        }
        .into(),
    }
}

/// Three refs for `kind`, not in ref order: two in pack `alpha`, one in pack `beta` (packs: one
/// each of `gamma`, `alpha`, `beta`).
fn sample_refs(kind: DefinitionKind) -> [&'static str; 3] {
    match kind {
        DefinitionKind::Pack => ["gamma", "alpha", "beta"],
        _ => ["alpha.zeta", "beta.mid", "alpha.alpha"],
    }
}

fn def_refs(defs: &[Definition]) -> Vec<String> {
    defs.iter().map(|d| d.def_ref().to_string()).collect()
}

/// Every definition of every kind, sorted by (kind, ref).
async fn all_definitions(store: &dyn Store) -> Vec<Definition> {
    let mut out = Vec::new();
    for kind in DefinitionKind::ALL {
        out.extend(must(
            store.list_definitions(kind, None).await,
            format!("list_definitions({kind})"),
        ));
    }
    sort_definitions(&mut out);
    out
}

fn sort_definitions(defs: &mut [Definition]) {
    defs.sort_by(|a, b| (a.kind(), a.def_ref()).cmp(&(b.kind(), b.def_ref())));
}

/// Put, get, list (by kind and by pack, ordered by ref), replace and delete of definitions of
/// every [`DefinitionKind`]; kinds do not see each other's definitions.
pub async fn check_definitions_crud(store: &dyn Store) {
    for kind in DefinitionKind::ALL {
        for r in sample_refs(kind) {
            must(
                store.put_definition(definition(kind, r, 1)).await,
                format!("put_definition({kind} '{r}')"),
            );
        }
    }
    for kind in DefinitionKind::ALL {
        let refs = sample_refs(kind);
        for r in refs {
            let got = must(
                store.get_definition(kind, r).await,
                format!("get_definition({kind} '{r}')"),
            );
            assert_eq!(
                got,
                Some(definition(kind, r, 1)),
                "get_definition({kind} '{r}') must return what was put"
            );
        }
        let mut sorted: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        sorted.sort();
        let listed = must(
            store.list_definitions(kind, None).await,
            format!("list_definitions({kind})"),
        );
        assert_eq!(
            def_refs(&listed),
            sorted,
            "list_definitions({kind}, None): exactly the {kind} definitions, by ref"
        );
        assert!(
            listed.iter().all(|d| d.kind() == kind),
            "list_definitions({kind}) returned another kind"
        );
        let alpha: Vec<String> = sorted
            .iter()
            .filter(|r| definition(kind, r, 1).pack() == "alpha")
            .cloned()
            .collect();
        let listed = must(
            store.list_definitions(kind, Some("alpha")).await,
            "list_definitions by pack",
        );
        assert_eq!(
            def_refs(&listed),
            alpha,
            "list_definitions({kind}, Some(\"alpha\")) must hold pack alpha's, by ref"
        );
        let listed = must(
            store.list_definitions(kind, Some("nope")).await,
            "list_definitions by pack",
        );
        assert!(
            listed.is_empty(),
            "list_definitions({kind}) of an unknown pack must be empty: {listed:?}"
        );
        let missing = must(
            store.get_definition(kind, "alpha.missing").await,
            "get_definition(missing)",
        );
        assert_eq!(
            missing, None,
            "get_definition({kind}) of an unknown ref must be None"
        );
    }

    // Replace: put with an existing (kind, ref) replaces it.
    for kind in DefinitionKind::ALL {
        let r = sample_refs(kind)[0];
        must(
            store.put_definition(definition(kind, r, 2)).await,
            format!("put_definition({kind} '{r}') again"),
        );
        let got = must(
            store.get_definition(kind, r).await,
            "get_definition after replace",
        );
        assert_eq!(
            got,
            Some(definition(kind, r, 2)),
            "put_definition({kind} '{r}') must replace the stored one"
        );
        let listed = must(
            store.list_definitions(kind, None).await,
            "list_definitions after replace",
        );
        assert_eq!(
            listed.len(),
            3,
            "replacing {kind} '{r}' must not add a row: {listed:?}"
        );
    }

    // Delete: one kind's delete leaves the same ref of the other kinds alone.
    let shared = sample_refs(DefinitionKind::Action)[1];
    assert!(
        must(
            store
                .delete_definition(DefinitionKind::Action, shared)
                .await,
            "delete_definition"
        ),
        "delete_definition(action '{shared}') of an existing definition must return true"
    );
    for kind in DefinitionKind::ALL
        .into_iter()
        .filter(|k| !matches!(k, DefinitionKind::Pack | DefinitionKind::Action))
    {
        let got = must(store.get_definition(kind, shared).await, "get_definition");
        assert!(
            got.is_some(),
            "deleting action '{shared}' must not delete {kind} '{shared}'"
        );
    }
    for kind in DefinitionKind::ALL {
        let refs = sample_refs(kind);
        let gone = refs[1];
        if kind != DefinitionKind::Action {
            assert!(
                must(
                    store.delete_definition(kind, gone).await,
                    "delete_definition"
                ),
                "delete_definition({kind} '{gone}') of an existing definition must return true"
            );
        }
        assert!(
            !must(
                store.delete_definition(kind, gone).await,
                "delete_definition again"
            ),
            "delete_definition({kind} '{gone}') of a deleted definition must return false"
        );
        let got = must(
            store.get_definition(kind, gone).await,
            "get_definition after delete",
        );
        assert_eq!(
            got, None,
            "get_definition({kind} '{gone}') after delete must be None"
        );
        let mut rest: Vec<String> = [refs[0], refs[2]].iter().map(|r| r.to_string()).collect();
        rest.sort();
        let listed = must(
            store.list_definitions(kind, None).await,
            "list_definitions after delete",
        );
        assert_eq!(
            def_refs(&listed),
            rest,
            "list_definitions({kind}) after deleting '{gone}'"
        );
    }
}

/// [`Store::replace_pack`] swaps exactly the definitions of one pack (the pack itself
/// included), leaves other packs alone (also packs whose name shares a prefix or matches a
/// SQL `LIKE` pattern), rejects a definition of another pack with Invalid and changes
/// nothing then, and removes the pack when given nothing.
pub async fn check_replace_pack(store: &dyn Store) {
    use DefinitionKind::*;
    let initial = [
        (Pack, "alpha"),
        (Action, "alpha.a"),
        (Rule, "alpha.r"),
        (TriggerType, "alpha.t"),
        (Policy, "alpha.p"),
        (Pack, "beta"),
        (Action, "beta.a"),
        (Rule, "beta.r"),
        (Pack, "alphabet"),
        (Action, "alphabet.x"),
        (Pack, "a_b"),
        (Action, "a_b.x"),
        (Pack, "axb"),
        (Action, "axb.x"),
    ];
    for (kind, r) in initial {
        must(
            store.put_definition(definition(kind, r, 1)).await,
            format!("put_definition({kind} '{r}')"),
        );
    }
    let of_pack = |defs: &[Definition], pack: &str| -> Vec<Definition> {
        defs.iter().filter(|d| d.pack() == pack).cloned().collect()
    };
    let not_of_pack = |defs: &[Definition], pack: &str| -> Vec<Definition> {
        defs.iter().filter(|d| d.pack() != pack).cloned().collect()
    };

    let before = all_definitions(store).await;
    let mut new_alpha = vec![
        definition(Pack, "alpha", 2),
        definition(Action, "alpha.b", 1),
        definition(Sensor, "alpha.s", 1),
    ];
    must(
        store.replace_pack("alpha", new_alpha.clone()).await,
        "replace_pack(alpha)",
    );
    let after = all_definitions(store).await;
    sort_definitions(&mut new_alpha);
    assert_eq!(
        of_pack(&after, "alpha"),
        new_alpha,
        "after replace_pack(alpha) pack alpha must hold exactly the new set"
    );
    assert_eq!(
        not_of_pack(&after, "alpha"),
        not_of_pack(&before, "alpha"),
        "replace_pack(alpha) must not touch other packs"
    );

    let before = after;
    let bad = vec![
        definition(Action, "alpha.c", 1),
        definition(Action, "beta.z", 1),
    ];
    expect_err(
        store.replace_pack("alpha", bad).await,
        Expect::Invalid,
        "replace_pack(alpha) with a def of pack beta",
    );
    assert_eq!(
        all_definitions(store).await,
        before,
        "a rejected replace_pack must change nothing"
    );
    let bad = vec![
        definition(Action, "alpha.c", 1),
        definition(Pack, "beta", 2),
    ];
    expect_err(
        store.replace_pack("alpha", bad).await,
        Expect::Invalid,
        "replace_pack(alpha) with pack beta itself",
    );
    assert_eq!(
        all_definitions(store).await,
        before,
        "a rejected replace_pack must change nothing"
    );

    must(
        store
            .replace_pack("a_b", vec![definition(Action, "a_b.y", 1)])
            .await,
        "replace_pack(a_b)",
    );
    let after = all_definitions(store).await;
    assert_eq!(
        of_pack(&after, "a_b"),
        vec![definition(Action, "a_b.y", 1)],
        "replace_pack(a_b) result"
    );
    assert_eq!(
        not_of_pack(&after, "a_b"),
        not_of_pack(&before, "a_b"),
        "replace_pack(a_b) must not touch pack axb"
    );

    let before = after;
    must(
        store.replace_pack("alpha", Vec::new()).await,
        "replace_pack(alpha, [])",
    );
    let after = all_definitions(store).await;
    assert!(
        of_pack(&after, "alpha").is_empty(),
        "replace_pack(alpha, []) must remove the pack: {after:?}"
    );
    assert_eq!(
        not_of_pack(&after, "alpha"),
        not_of_pack(&before, "alpha"),
        "replace_pack(alpha, []) touched other packs"
    );

    let gamma = vec![
        definition(Action, "gamma.a", 1),
        definition(Pack, "gamma", 1),
    ];
    must(
        store.replace_pack("gamma", gamma.clone()).await,
        "replace_pack of a new pack",
    );
    let got = must(
        store.list_definitions(Action, Some("gamma")).await,
        "list_definitions(gamma)",
    );
    assert_eq!(
        got,
        vec![gamma[0].clone()],
        "replace_pack of a new pack must insert its actions"
    );
    let got = must(
        store.get_definition(Pack, "gamma").await,
        "get_definition(pack gamma)",
    );
    assert_eq!(
        got,
        Some(gamma[1].clone()),
        "replace_pack of a new pack must insert the pack"
    );
}

/// Readers listing a pack's actions while [`Store::replace_pack`] swaps between two sets
/// see one set or the other, never a mix or nothing.
pub async fn check_replace_pack_is_atomic(store: &dyn Store) {
    let set = |tag: &str| -> Vec<Definition> {
        let mut defs: Vec<Definition> = (0..5)
            .map(|i| definition(DefinitionKind::Action, &format!("alpha.{tag}{i}"), 1))
            .collect();
        defs.push(definition(DefinitionKind::Pack, "alpha", 1));
        defs
    };
    let refs = |tag: &str| -> Vec<String> { (0..5).map(|i| format!("alpha.{tag}{i}")).collect() };
    let (refs_a, refs_b) = (refs("a"), refs("b"));
    must(
        store.replace_pack("alpha", set("a")).await,
        "replace_pack(alpha, a)",
    );
    // Readers keep reading while the writer runs (at least 200 reads each, at most 100 000).
    let writing = AtomicBool::new(true);
    let (set, refs_a, refs_b, writing) = (&set, &refs_a, &refs_b, &writing);
    concurrently(4, |task| async move {
        if task == 0 {
            for i in 0..100 {
                let tag = if i % 2 == 0 { "b" } else { "a" };
                must(
                    store.replace_pack("alpha", set(tag)).await,
                    "replace_pack(alpha)",
                );
            }
            writing.store(false, Ordering::SeqCst);
        } else {
            let mut reads = 0;
            while reads < 200 || (writing.load(Ordering::SeqCst) && reads < 100_000) {
                reads += 1;
                let seen = must(
                    store
                        .list_definitions(DefinitionKind::Action, Some("alpha"))
                        .await,
                    "list_definitions(alpha)",
                );
                let seen = def_refs(&seen);
                assert!(
                    seen == *refs_a || seen == *refs_b,
                    "a reader during replace_pack saw neither the old nor the new set: {seen:?}"
                );
            }
        }
    })
    .await;
}

/// On a shared store, [`Store::definitions_generation`] grows with every change of a
/// definition (put with a new content, delete, `replace_pack`) and stays when a write changes
/// nothing; a store that is not shared may report none.
pub async fn check_definitions_generation(store: &dyn Store) {
    let generation = || async {
        must(
            store.definitions_generation().await,
            "definitions_generation",
        )
    };
    let Some(start) = generation().await else {
        assert!(
            !store.capabilities().shared,
            "a shared store must report a definitions generation"
        );
        return;
    };
    let rule = |v| definition(DefinitionKind::Rule, "alpha.rule", v);
    let action = |v| definition(DefinitionKind::Action, "alpha.action", v);
    let pack = |v| definition(DefinitionKind::Pack, "alpha", v);
    let mut last = start;
    let mut step = async |what: &str, grows: bool| {
        let now = generation().await.expect("the generation does not go away");
        if grows {
            assert!(
                now > last,
                "{what}: the generation must grow ({last} → {now})"
            );
        } else {
            assert_eq!(now, last, "{what}: the generation must stay");
        }
        last = now;
    };
    must(store.put_definition(rule(1)).await, "put_definition(rule)");
    step("a new rule", true).await;
    must(store.put_definition(rule(1)).await, "put_definition(rule)");
    step("the same rule again", false).await;
    must(
        store.put_definition(rule(2)).await,
        "put_definition(rule v2)",
    );
    step("a changed rule", true).await;
    let set = vec![pack(1), action(1), rule(2)];
    must(
        store.replace_pack("alpha", set.clone()).await,
        "replace_pack",
    );
    step("replace_pack adding the pack and an action", true).await;
    must(store.replace_pack("alpha", set).await, "replace_pack");
    step("replace_pack with the same set", false).await;
    must(
        store.replace_pack("alpha", vec![pack(1), rule(2)]).await,
        "replace_pack",
    );
    step("replace_pack dropping the action", true).await;
    let existed = must(
        store
            .delete_definition(DefinitionKind::Rule, "alpha.rule")
            .await,
        "delete_definition",
    );
    assert!(existed);
    step("a deleted rule", true).await;
    must(
        store
            .delete_definition(DefinitionKind::Rule, "alpha.rule")
            .await,
        "delete_definition",
    );
    step("deleting a missing rule", false).await;
}
