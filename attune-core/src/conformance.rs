//! The [`Store`] conformance suite (feature `conformance`): every backend runs it unchanged.
//!
//! Each `check_*` function exercises one part of the contract written on [`Store`] against a
//! **fresh, empty** store and panics with a message naming the broken promise. Run them all
//! with [`store_conformance_tests!`](crate::store_conformance_tests), which expands to one
//! `#[test]` per check in the calling module:
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate (dev-dependency:
//! // attune-core = { ..., features = ["conformance"] })
//! use attune_core::store::{MemoryStore, Store};
//! use std::sync::Arc;
//!
//! /// A fresh, empty store for each check.
//! async fn make_store() -> Arc<dyn Store> {
//!     Arc::new(MemoryStore::new())
//! }
//!
//! attune_core::store_conformance_tests!(make_store);
//! ```
//!
//! `$make` is any expression callable with no arguments that returns a future; the future's
//! output is a pointer to the store (`Arc<dyn Store>`, `Arc<S>`, `Box<S>`, ...), dereferenced
//! once to get the `&dyn Store` the checks take. A closure works too:
//! `store_conformance_tests!(|| async { Arc::new(MemoryStore::new()) })`.
//!
//! Every generated test runs on a fresh multi-thread tokio runtime with two workers (see
//! [`run`]), so the calling crate needs no tokio dependency of its own. The checks that race
//! concurrent callers ([`check_claim_race`], [`check_replace_pack_is_atomic`]) run them on OS
//! threads when called on a multi-thread runtime, and interleave them on one task otherwise.
//!
//! Timestamps are whole milliseconds and record ids are created in the same order as their
//! `created` times, so a backend that stores microseconds and orders by id passes unchanged.

use crate::model::{
    Action, ConcurrencyOverflow, Definition, DefinitionKind, Enforcement, EnforcementId,
    EnforcementStatus, Event, EventId, Execution, ExecutionId, ExecutionStatus, Key, KeyScope,
    Pack, Policy, PolicyKind, Rule, Sensor, TriggerType,
};
use crate::store::{
    Claim, EnforcementFilter, EnforcementUpdate, EventFilter, ExecutionChange, ExecutionFilter,
    Inserted, Page, PurgeRequest, PurgeStats, Store,
};
use crate::{Error, Result};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// Expands to one `#[test]` per conformance check, each on a fresh store made by `$make`.
///
/// `$make` is an expression callable with no arguments returning a future whose output
/// dereferences to a [`Store`](crate::store::Store) — typically the path of an
/// `async fn make() -> Arc<dyn Store>`. Every test runs on its own two-worker multi-thread
/// runtime ([`conformance::run`](crate::conformance::run)).
///
/// ```ignore
/// use attune_core::store::{MemoryStore, Store};
/// use std::sync::Arc;
///
/// async fn make_store() -> Arc<dyn Store> {
///     Arc::new(MemoryStore::new())
/// }
///
/// attune_core::store_conformance_tests!(make_store);
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(@checks $make;
            check_definitions_crud,
            check_replace_pack,
            check_replace_pack_is_atomic,
            check_events,
            check_enforcements,
            check_executions_insert_get,
            check_keys,
            check_transition_legal_path,
            check_transition_state_machine,
            check_transition_terminal_clears_claim,
            check_transition_batch,
            check_claim_execution,
            check_claim_ready_oldest_first,
            check_claim_race,
            check_reclaim_expired_lease,
            check_terminal_never_claimed,
            check_renew_lease,
            check_execution_filters,
            check_pagination,
            check_purge_before,
            check_purge_keep_executions,
            check_purge_keep_zero,
            check_purge_before_and_keep,
            check_purge_keeps_non_terminal,
            check_purge_batches,
            check_purge_keeps_events_from,
        );
    };
    (@checks $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run(async {
                    let store = ($make)().await;
                    $crate::conformance::$check(&*store).await;
                });
            }
        )*
    };
}

/// Runs `future` to completion on a fresh multi-thread tokio runtime with two workers (time
/// enabled): the runtime of every test [`store_conformance_tests!`](crate::store_conformance_tests)
/// generates.
pub fn run<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the conformance test runtime")
        .block_on(future)
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An error kind a check expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    NotFound,
    Conflict,
    Invalid,
    IllegalTransition,
}

impl Expect {
    fn matches(self, e: &Error) -> bool {
        match self {
            Expect::NotFound => matches!(e, Error::NotFound { .. }),
            Expect::Conflict => matches!(e, Error::Conflict(_)),
            Expect::Invalid => matches!(e, Error::Invalid { .. }),
            Expect::IllegalTransition => matches!(e, Error::IllegalTransition { .. }),
        }
    }
}

/// The value of `result`, or a panic naming `what` and the error.
#[track_caller]
fn must<T>(result: Result<T>, what: impl fmt::Display) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// Panics unless `result` is an error of kind `expected`.
#[track_caller]
fn expect_err<T: fmt::Debug>(result: Result<T>, expected: Expect, what: impl fmt::Display) {
    match result {
        Err(e) if expected.matches(&e) => {}
        Err(e) => panic!("{what}: expected {expected:?}, got error {e:?}"),
        Ok(v) => panic!("{what}: expected {expected:?}, got Ok({v:?})"),
    }
}

/// A base time one day ago, in whole milliseconds (every backend keeps that precision).
fn epoch() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3) - TimeDelta::days(1)
}

/// `base` plus `secs` seconds.
fn at(base: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    base + TimeDelta::seconds(secs)
}

/// A claim by `worker` at `now` with a lease of `lease_secs` seconds.
fn claim(worker: &str, now: DateTime<Utc>, lease_secs: i64) -> Claim {
    Claim {
        worker: worker.to_string(),
        now,
        lease_until: at(now, lease_secs),
    }
}

/// An execution of `action` in `status`, created at `created`.
fn execution(action: &str, status: ExecutionStatus, created: DateTime<Utc>) -> Execution {
    let mut x = Execution::new(
        action,
        "native",
        json!({"message": "hello", "n": 1}),
        created,
    );
    x.status = status;
    x
}

/// Inserts an execution of `action` in `status` created at `created`.
async fn insert_execution(
    store: &dyn Store,
    action: &str,
    status: ExecutionStatus,
    created: DateTime<Utc>,
) -> Execution {
    let x = execution(action, status, created);
    must(
        store.insert_execution(&x).await,
        format!("insert_execution({status} '{action}')"),
    );
    x
}

/// Inserts an event of `trigger` at `created`.
async fn insert_event(store: &dyn Store, trigger: &str, created: DateTime<Utc>) -> Event {
    let e = Event::new(trigger, json!({"trigger": trigger}), created);
    must(
        store.insert_event(&e).await,
        format!("insert_event('{trigger}')"),
    );
    e
}

/// Inserts an enforcement of `rule` for `event`, expecting it to be new.
async fn insert_enforcement(
    store: &dyn Store,
    rule: &str,
    event: &Event,
    created: DateTime<Utc>,
) -> Enforcement {
    let e = Enforcement::new(rule, event.id, &event.trigger, created);
    let inserted = must(
        store.insert_enforcement(&e).await,
        format!("insert_enforcement('{rule}')"),
    );
    assert!(
        inserted.is_new(),
        "insert_enforcement('{rule}') for a new (rule, event) must be New, got {inserted:?}"
    );
    e
}

fn execution_ids(rows: &[Execution]) -> Vec<ExecutionId> {
    rows.iter().map(|x| x.id).collect()
}

fn enforcement_ids(rows: &[Enforcement]) -> Vec<EnforcementId> {
    rows.iter().map(|x| x.id).collect()
}

fn event_ids(rows: &[Event]) -> Vec<EventId> {
    rows.iter().map(|x| x.id).collect()
}

/// Every execution, in id order.
async fn all_executions(store: &dyn Store) -> Vec<Execution> {
    must(
        store
            .list_executions(&ExecutionFilter::default(), &Page::first(100_000))
            .await,
        "list_executions(all)",
    )
}

/// Every enforcement, in id order.
async fn all_enforcements(store: &dyn Store) -> Vec<Enforcement> {
    must(
        store
            .list_enforcements(&EnforcementFilter::default(), &Page::first(100_000))
            .await,
        "list_enforcements(all)",
    )
}

/// Every event, in id order.
async fn all_events(store: &dyn Store) -> Vec<Event> {
    must(
        store
            .list_events(&EventFilter::default(), &Page::first(100_000))
            .await,
        "list_events(all)",
    )
}

/// Runs `tasks` copies of `task` (given their index) concurrently: on OS threads entering the
/// current multi-thread runtime when there is one, else interleaved on the calling task.
async fn concurrently<T, F, Fut>(tasks: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = T>,
    T: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                std::thread::scope(|scope| {
                    let threads: Vec<_> = (0..tasks)
                        .map(|i| {
                            let handle = handle.clone();
                            let task = &task;
                            scope.spawn(move || handle.block_on(task(i)))
                        })
                        .collect();
                    threads
                        .into_iter()
                        .map(|t| {
                            t.join()
                                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                        })
                        .collect()
                })
            })
        }
        _ => futures::future::join_all((0..tasks).map(&task)).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Events, enforcements, executions, keys
// ---------------------------------------------------------------------------------------------

/// Events: insert, get, duplicate id → Conflict (the stored event unchanged), unknown id →
/// NotFound, list filters by trigger and time (`since` inclusive, `until` exclusive).
pub async fn check_events(store: &dyn Store) {
    let t = epoch();
    let mut e1 = Event::new(
        "alpha.trigger",
        json!({"n": 1, "nested": {"list": [1, "two"]}}),
        at(t, 0),
    );
    e1.source = Some("sensor:alpha.poll".into());
    let e2 = Event::new("beta.trigger", json!({"n": 2}), at(t, 10));
    let e3 = Event::new("alpha.trigger", json!("a string payload"), at(t, 20));
    for e in [&e1, &e2, &e3] {
        must(
            store.insert_event(e).await,
            format!("insert_event({})", e.id),
        );
    }
    for e in [&e1, &e2, &e3] {
        assert_eq!(
            must(store.get_event(e.id).await, "get_event"),
            *e,
            "get_event must return what was inserted"
        );
    }
    let mut changed = e1.clone();
    changed.payload = json!({"n": 99});
    expect_err(
        store.insert_event(&e1).await,
        Expect::Conflict,
        "insert_event of an existing id",
    );
    expect_err(
        store.insert_event(&changed).await,
        Expect::Conflict,
        "insert_event of an existing id, new payload",
    );
    assert_eq!(
        must(store.get_event(e1.id).await, "get_event"),
        e1,
        "events are immutable: a duplicate insert changed it"
    );
    expect_err(
        store.get_event(EventId::new()).await,
        Expect::NotFound,
        "get_event of an unknown id",
    );

    let list = |filter: EventFilter| async move {
        event_ids(&must(
            store.list_events(&filter, &Page::first(100)).await,
            format!("list_events({filter:?})"),
        ))
    };
    assert_eq!(
        list(EventFilter::default()).await,
        vec![e1.id, e2.id, e3.id],
        "list_events(all) in id order"
    );
    let by_trigger = EventFilter {
        trigger: Some("alpha.trigger".into()),
        ..EventFilter::default()
    };
    assert_eq!(
        list(by_trigger).await,
        vec![e1.id, e3.id],
        "list_events by trigger"
    );
    let since = EventFilter {
        since: Some(at(t, 10)),
        ..EventFilter::default()
    };
    assert_eq!(
        list(since).await,
        vec![e2.id, e3.id],
        "list_events since (inclusive)"
    );
    let until = EventFilter {
        until: Some(at(t, 10)),
        ..EventFilter::default()
    };
    assert_eq!(
        list(until).await,
        vec![e1.id],
        "list_events until (exclusive)"
    );
    let window = EventFilter {
        trigger: Some("alpha.trigger".into()),
        since: Some(at(t, 5)),
        until: Some(at(t, 30)),
    };
    assert_eq!(
        list(window).await,
        vec![e3.id],
        "list_events by trigger and window"
    );
}

/// Enforcements: at most one per (rule, event) — a second insert returns `Existing` with the
/// stored one; compare-and-set updates (wrong `from` → Conflict, row unchanged); get of an
/// unknown id → NotFound; list filters by rule, event and status.
pub async fn check_enforcements(store: &dyn Store) {
    let t = epoch();
    let ev1 = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let ev2 = insert_event(store, "alpha.trigger", at(t, 1)).await;
    let a = insert_enforcement(store, "alpha.r1", &ev1, at(t, 2)).await;
    assert_eq!(
        must(store.get_enforcement(a.id).await, "get_enforcement"),
        a,
        "get_enforcement returns what was inserted"
    );

    let dup = Enforcement::new("alpha.r1", ev1.id, "alpha.trigger", at(t, 3));
    let inserted = must(
        store.insert_enforcement(&dup).await,
        "insert_enforcement of the same (rule, event)",
    );
    assert_eq!(
        inserted,
        Inserted::Existing(a.clone()),
        "a second enforcement for (rule, event) must return the stored one"
    );
    expect_err(
        store.get_enforcement(dup.id).await,
        Expect::NotFound,
        "the duplicate enforcement must not be stored",
    );

    let b = insert_enforcement(store, "alpha.r2", &ev1, at(t, 4)).await;
    let c = insert_enforcement(store, "alpha.r1", &ev2, at(t, 5)).await;

    let x = ExecutionId::new();
    let update = EnforcementUpdate {
        status: EnforcementStatus::Processed,
        failure: None,
        params: Some(json!({"message": "hi"})),
        execution: Some(x),
        at: at(t, 6),
    };
    let updated = must(
        store
            .update_enforcement(a.id, EnforcementStatus::Created, update.clone())
            .await,
        "update_enforcement(created → processed)",
    );
    let mut expected = a.clone();
    expected.status = EnforcementStatus::Processed;
    expected.params = Some(json!({"message": "hi"}));
    expected.execution = Some(x);
    expected.updated = at(t, 6);
    assert_eq!(
        updated, expected,
        "update_enforcement must set status, params, execution and updated"
    );
    assert_eq!(
        must(store.get_enforcement(a.id).await, "get_enforcement"),
        expected,
        "get after update_enforcement"
    );

    let again = EnforcementUpdate {
        status: EnforcementStatus::Failed,
        failure: Some("late".into()),
        at: at(t, 7),
        ..update.clone()
    };
    expect_err(
        store
            .update_enforcement(a.id, EnforcementStatus::Created, again)
            .await,
        Expect::Conflict,
        "update_enforcement with a stale `from`",
    );
    assert_eq!(
        must(store.get_enforcement(a.id).await, "get_enforcement"),
        expected,
        "a lost compare-and-set changed the row"
    );
    expect_err(
        store
            .update_enforcement(EnforcementId::new(), EnforcementStatus::Created, update)
            .await,
        Expect::NotFound,
        "update_enforcement of an unknown id",
    );
    expect_err(
        store.get_enforcement(EnforcementId::new()).await,
        Expect::NotFound,
        "get_enforcement of an unknown id",
    );

    let failed = EnforcementUpdate {
        status: EnforcementStatus::Failed,
        failure: Some("rule 'alpha.r2' param 'x': undefined value".into()),
        params: None,
        execution: None,
        at: at(t, 8),
    };
    let b = must(
        store
            .update_enforcement(b.id, EnforcementStatus::Created, failed)
            .await,
        "update_enforcement(failed)",
    );
    assert_eq!(b.status, EnforcementStatus::Failed);
    assert_eq!(
        b.failure.as_deref(),
        Some("rule 'alpha.r2' param 'x': undefined value"),
        "failure must be stored"
    );

    let inserted = must(
        store.insert_enforcement(&dup).await,
        "insert_enforcement of the same (rule, event)",
    );
    assert_eq!(
        inserted,
        Inserted::Existing(expected.clone()),
        "Existing must carry the current (updated) row"
    );

    let list = |filter: EnforcementFilter| async move {
        let rows = must(
            store.list_enforcements(&filter, &Page::first(100)).await,
            format!("list_enforcements({filter:?})"),
        );
        enforcement_ids(&rows)
    };
    let f = EnforcementFilter::default;
    assert_eq!(
        list(f()).await,
        vec![a.id, b.id, c.id],
        "list_enforcements(all) in id order"
    );
    let by_rule = EnforcementFilter {
        rule: Some("alpha.r1".into()),
        ..f()
    };
    assert_eq!(
        list(by_rule).await,
        vec![a.id, c.id],
        "list_enforcements by rule"
    );
    let by_event = EnforcementFilter {
        event: Some(ev1.id),
        ..f()
    };
    assert_eq!(
        list(by_event).await,
        vec![a.id, b.id],
        "list_enforcements by event"
    );
    for (status, want) in [
        (EnforcementStatus::Processed, vec![a.id]),
        (EnforcementStatus::Failed, vec![b.id]),
        (EnforcementStatus::Created, vec![c.id]),
    ] {
        let by_status = EnforcementFilter {
            status: Some(status),
            ..f()
        };
        assert_eq!(
            list(by_status).await,
            want,
            "list_enforcements by status {status}"
        );
    }
    let both = EnforcementFilter {
        rule: Some("alpha.r1".into()),
        event: Some(ev2.id),
        status: Some(EnforcementStatus::Created),
    };
    assert_eq!(
        list(both).await,
        vec![c.id],
        "list_enforcements by rule, event and status"
    );
}

/// Executions: insert (any status) and get; duplicate id → Conflict; a second execution for
/// the same (enforcement, attempt) → Conflict, another attempt is fine, executions without
/// an enforcement never clash; unknown ids → NotFound for every call that takes one.
pub async fn check_executions_insert_get(store: &dyn Store) {
    let t = epoch();
    let ev = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let enf = insert_enforcement(store, "alpha.rule", &ev, at(t, 1)).await;
    let mut x1 = execution("alpha.action", ExecutionStatus::Requested, at(t, 2));
    x1.enforcement = Some(enf.id);
    x1.event = Some(ev.id);
    x1.rule = Some("alpha.rule".into());
    x1.timeout_secs = Some(1.5);
    must(store.insert_execution(&x1).await, "insert_execution");
    assert_eq!(
        must(store.get_execution(x1.id).await, "get_execution"),
        x1,
        "get_execution returns what was inserted"
    );

    expect_err(
        store.insert_execution(&x1).await,
        Expect::Conflict,
        "insert_execution of an existing id",
    );
    let mut same_attempt = x1.clone();
    same_attempt.id = ExecutionId::new();
    expect_err(
        store.insert_execution(&same_attempt).await,
        Expect::Conflict,
        "insert_execution of a second execution for the same (enforcement, attempt)",
    );
    expect_err(
        store.get_execution(same_attempt.id).await,
        Expect::NotFound,
        "the rejected execution must not be stored",
    );
    let mut retry = x1.clone();
    retry.id = ExecutionId::new();
    retry.attempt = 2;
    must(
        store.insert_execution(&retry).await,
        "insert_execution of attempt 2 of the same enforcement",
    );

    let free1 = insert_execution(store, "alpha.action", ExecutionStatus::Requested, at(t, 3)).await;
    let free2 = insert_execution(store, "alpha.action", ExecutionStatus::Requested, at(t, 4)).await;
    assert_eq!(
        must(store.get_execution(free2.id).await, "get_execution"),
        free2
    );
    let mut done = execution("alpha.action", ExecutionStatus::Succeeded, at(t, 5));
    done.result = Some(json!({"ok": true}));
    done.stdout = "out\n".into();
    done.stderr = "err\n".into();
    done.started = Some(at(t, 5));
    done.finished = Some(at(t, 6));
    must(
        store.insert_execution(&done).await,
        "insert_execution of a terminal execution",
    );
    assert_eq!(
        must(store.get_execution(done.id).await, "get_execution"),
        done,
        "all fields must round-trip"
    );
    let listed = execution_ids(&all_executions(store).await);
    assert_eq!(
        listed,
        vec![x1.id, retry.id, free1.id, free2.id, done.id],
        "list_executions(all) in id order"
    );

    let unknown = ExecutionId::new();
    expect_err(
        store.get_execution(unknown).await,
        Expect::NotFound,
        "get_execution of an unknown id",
    );
    expect_err(
        store
            .transition_execution(
                unknown,
                ExecutionStatus::Requested,
                ExecutionChange::to(ExecutionStatus::Scheduled, t),
            )
            .await,
        Expect::NotFound,
        "transition_execution of an unknown id",
    );
    let c = claim("w1", t, 30);
    expect_err(
        store.claim_execution(unknown, &c).await,
        Expect::NotFound,
        "claim_execution of an unknown id",
    );
    expect_err(
        store.renew_lease(unknown, &c).await,
        Expect::NotFound,
        "renew_lease of an unknown id",
    );
}

/// Keys: put/get/replace/delete by (scope, name); scopes are separate; list by scope ordered
/// by (scope, name); an expired key reads as None and is not listed.
pub async fn check_keys(store: &dyn Store) {
    let now = Utc::now().trunc_subsecs(3);
    let alpha = KeyScope::Pack("alpha".into());
    let ann = KeyScope::User("ann".into());
    let sys_b = Key::new(KeyScope::System, "b", json!(1), now);
    let sys_a = Key::new(KeyScope::System, "a", json!({"x": [1, 2]}), now);
    let alpha_a = Key::new(alpha.clone(), "a", json!("pack value"), now);
    let mut alpha_later = Key::new(alpha.clone(), "later", json!(true), now);
    alpha_later.expires = Some(now + TimeDelta::hours(1));
    let mut ann_a = Key::new(ann.clone(), "a", json!("ciphertext"), now);
    ann_a.encrypted = true;
    let mut expired = Key::new(KeyScope::System, "expired", json!(0), now);
    expired.expires = Some(now - TimeDelta::seconds(1));
    for k in [&sys_b, &sys_a, &alpha_a, &alpha_later, &ann_a, &expired] {
        must(
            store.put_key(k).await,
            format!("put_key({} '{}')", k.scope, k.name),
        );
    }
    for k in [&sys_b, &sys_a, &alpha_a, &alpha_later, &ann_a] {
        let got = must(store.get_key(&k.scope, &k.name).await, "get_key");
        assert_eq!(
            got.as_ref(),
            Some(k),
            "get_key({} '{}') must return what was put",
            k.scope,
            k.name
        );
    }
    let got = must(
        store.get_key(&KeyScope::System, "expired").await,
        "get_key(expired)",
    );
    assert_eq!(got, None, "an expired key must read as None");
    let got = must(
        store.get_key(&KeyScope::User("bob".into()), "a").await,
        "get_key(missing)",
    );
    assert_eq!(got, None, "a key of another scope must read as None");

    let listed = must(
        store.list_keys(Some(&KeyScope::System)).await,
        "list_keys(system)",
    );
    assert_eq!(
        listed,
        vec![sys_a.clone(), sys_b.clone()],
        "list_keys(system): by name, expired omitted"
    );
    let listed = must(store.list_keys(Some(&alpha)).await, "list_keys(pack alpha)");
    assert_eq!(
        listed,
        vec![alpha_a.clone(), alpha_later.clone()],
        "list_keys(pack alpha)"
    );
    let listed = must(store.list_keys(None).await, "list_keys(all)");
    let want = vec![
        sys_a.clone(),
        sys_b.clone(),
        alpha_a.clone(),
        alpha_later.clone(),
        ann_a.clone(),
    ];
    assert_eq!(
        listed, want,
        "list_keys(None): ordered by (scope, name), expired omitted"
    );

    let mut replaced = sys_b.clone();
    replaced.value = json!(2);
    replaced.updated = now + TimeDelta::seconds(1);
    must(store.put_key(&replaced).await, "put_key(replace)");
    let got = must(store.get_key(&KeyScope::System, "b").await, "get_key");
    assert_eq!(
        got,
        Some(replaced.clone()),
        "put_key must replace the stored key"
    );
    let listed = must(
        store.list_keys(Some(&KeyScope::System)).await,
        "list_keys(system)",
    );
    assert_eq!(
        listed,
        vec![sys_a.clone(), replaced],
        "replacing a key must not add one"
    );

    assert!(
        must(store.delete_key(&KeyScope::System, "a").await, "delete_key"),
        "delete_key of an existing key → true"
    );
    assert!(
        !must(store.delete_key(&KeyScope::System, "a").await, "delete_key"),
        "delete_key of a deleted key → false"
    );
    assert_eq!(
        must(store.get_key(&KeyScope::System, "a").await, "get_key"),
        None,
        "get_key after delete_key"
    );
    let got = must(store.get_key(&alpha, "a").await, "get_key");
    assert_eq!(
        got,
        Some(alpha_a),
        "deleting system 'a' must not delete pack:alpha 'a'"
    );
}

// ---------------------------------------------------------------------------------------------
// Status transitions
// ---------------------------------------------------------------------------------------------

/// The legal path requested → scheduled → running → paused → running → succeeded: each step
/// sets status and `updated`, `started` is set once on the first `running`, `finished`,
/// result and output on the terminal step; a stale `from` is Conflict with the row unchanged;
/// nothing leaves a terminal status.
pub async fn check_transition_legal_path(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let x = insert_execution(store, "alpha.action", Requested, at(t, 0)).await;
    let id = x.id;
    let step = |from: ExecutionStatus, change: ExecutionChange| async move {
        let to = change.to;
        let got = must(
            store.transition_execution(id, from, change).await,
            format!("transition {from} → {to}"),
        );
        assert_eq!(
            got.status, to,
            "transition {from} → {to} must set the status"
        );
        assert_eq!(
            got,
            must(store.get_execution(id).await, "get_execution"),
            "transition must return the stored row"
        );
        got
    };
    let s = step(Requested, ExecutionChange::to(Scheduled, at(t, 1))).await;
    assert_eq!(s.updated, at(t, 1), "transition must set `updated`");
    assert_eq!(s.started, None, "scheduled must not set `started`");

    expect_err(
        store
            .transition_execution(x.id, Requested, ExecutionChange::to(Delayed, at(t, 2)))
            .await,
        Expect::Conflict,
        "transition with a stale `from` (row is scheduled)",
    );
    assert_eq!(
        must(store.get_execution(x.id).await, "get_execution"),
        s,
        "a lost compare-and-set changed the row"
    );

    let r = step(Scheduled, ExecutionChange::to(Running, at(t, 3))).await;
    assert_eq!(
        r.started,
        Some(at(t, 3)),
        "entering running must set `started`"
    );
    assert_eq!(r.finished, None);
    let p = step(Running, ExecutionChange::to(Paused, at(t, 4))).await;
    assert_eq!(p.started, Some(at(t, 3)), "pausing must keep `started`");
    let r = step(Paused, ExecutionChange::to(Running, at(t, 5))).await;
    assert_eq!(
        r.started,
        Some(at(t, 3)),
        "running again must not move `started`"
    );
    let mut done = ExecutionChange::to(Succeeded, at(t, 6)).result(json!({"answer": 42}));
    done.stdout = Some("hello\n".into());
    done.stderr = Some("warning\n".into());
    let d = step(Running, done).await;
    assert_eq!(
        d.finished,
        Some(at(t, 6)),
        "a terminal status must set `finished`"
    );
    assert_eq!(d.started, Some(at(t, 3)), "finishing must keep `started`");
    assert_eq!(
        d.result,
        Some(json!({"answer": 42})),
        "the change's result must be stored"
    );
    assert_eq!(
        (d.stdout.as_str(), d.stderr.as_str()),
        ("hello\n", "warning\n"),
        "stdout/stderr must be stored"
    );
    assert_eq!(d.params, x.params, "a transition must keep the params");

    for to in ExecutionStatus::ALL {
        expect_err(
            store
                .transition_execution(x.id, Succeeded, ExecutionChange::to(to, at(t, 7)))
                .await,
            Expect::IllegalTransition,
            format!("transition succeeded → {to}"),
        );
    }
    assert_eq!(
        must(store.get_execution(x.id).await, "get_execution"),
        d,
        "a rejected transition changed the row"
    );
}

/// Every (from, to) pair of statuses: the store applies exactly the transitions of the state
/// machine ([`ExecutionStatus::can_transition_to`]) and rejects the rest with
/// IllegalTransition, leaving the row unchanged.
pub async fn check_transition_state_machine(store: &dyn Store) {
    let t = epoch();
    let mut n = 0;
    for from in ExecutionStatus::ALL {
        for to in ExecutionStatus::ALL {
            n += 1;
            let x = insert_execution(store, "alpha.action", from, at(t, n)).await;
            let result = store
                .transition_execution(x.id, from, ExecutionChange::to(to, at(t, n + 1)))
                .await;
            if from.can_transition_to(to) {
                let got = must(result, format!("legal transition {from} → {to}"));
                assert_eq!(got.status, to, "transition {from} → {to}");
            } else {
                expect_err(
                    result,
                    Expect::IllegalTransition,
                    format!("illegal transition {from} → {to}"),
                );
                let got = must(store.get_execution(x.id).await, "get_execution");
                assert_eq!(
                    got, x,
                    "a rejected transition {from} → {to} changed the row"
                );
            }
        }
    }
}

/// Entering any terminal status from `running` (directly or through `canceling`) sets
/// `finished` and clears the claim (worker and lease); the change's error is stored.
pub async fn check_transition_terminal_clears_claim(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let paths: [&[ExecutionStatus]; 6] = [
        &[Succeeded],
        &[Failed],
        &[Timeout],
        &[Canceled],
        &[Abandoned],
        &[Canceling, Canceled],
    ];
    for (i, path) in paths.into_iter().enumerate() {
        let base = at(t, 100 * i as i64);
        let x = insert_execution(store, "alpha.action", Scheduled, base).await;
        let c = claim("w1", at(base, 1), 60);
        let claimed = must(store.claim_execution(x.id, &c).await, "claim_execution");
        assert!(
            claimed.is_some(),
            "claim_execution of a scheduled execution must succeed"
        );
        let mut from = Running;
        let mut last = None;
        for (k, to) in path.iter().enumerate() {
            let change =
                ExecutionChange::to(*to, at(base, 10 + k as i64)).error(format!("stopped: {to}"));
            let got = must(
                store.transition_execution(x.id, from, change).await,
                format!("transition {from} → {to}"),
            );
            if !to.is_terminal() {
                assert_eq!(
                    got.worker.as_deref(),
                    Some("w1"),
                    "a non-terminal {to} must keep the claim"
                );
                assert_eq!(
                    got.finished, None,
                    "a non-terminal {to} must not set `finished`"
                );
            }
            from = *to;
            last = Some(got);
        }
        let got = last.expect("every path has a step");
        let end = at(base, 10 + path.len() as i64 - 1);
        assert_eq!(
            got.finished,
            Some(end),
            "entering {from} must set `finished`"
        );
        assert_eq!(got.worker, None, "entering {from} must clear the worker");
        assert_eq!(
            got.lease_expires, None,
            "entering {from} must clear the lease"
        );
        assert_eq!(
            got.started,
            Some(at(base, 1)),
            "entering {from} must keep `started`"
        );
        assert_eq!(
            got.error.as_deref(),
            Some(format!("stopped: {from}").as_str()),
            "the change's error must be stored"
        );
        assert_eq!(
            got,
            must(store.get_execution(x.id).await, "get_execution"),
            "stored row after {from}"
        );
    }
}

/// [`Store::transition_executions`] returns one result per input, in order, each as
/// [`Store::transition_execution`] would.
pub async fn check_transition_batch(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let x1 = insert_execution(store, "alpha.action", Requested, at(t, 0)).await;
    let x2 = insert_execution(store, "alpha.action", Requested, at(t, 1)).await;
    let x3 = insert_execution(store, "alpha.action", Requested, at(t, 2)).await;
    let results = store
        .transition_executions(vec![
            (x1.id, Requested, ExecutionChange::to(Scheduled, at(t, 5))),
            (x2.id, Scheduled, ExecutionChange::to(Running, at(t, 5))),
            (
                ExecutionId::new(),
                Requested,
                ExecutionChange::to(Scheduled, at(t, 5)),
            ),
            (x2.id, Requested, ExecutionChange::to(Succeeded, at(t, 5))),
            (x3.id, Requested, ExecutionChange::to(Canceled, at(t, 5))),
        ])
        .await;
    assert_eq!(
        results.len(),
        5,
        "transition_executions must return one result per input"
    );
    let mut results = results.into_iter();
    let mut next = || results.next().expect("five results");
    let r = must(next(), "batch[0] requested → scheduled");
    assert_eq!((r.id, r.status), (x1.id, Scheduled), "batch[0]");
    expect_err(next(), Expect::Conflict, "batch[1] with a stale `from`");
    expect_err(next(), Expect::NotFound, "batch[2] of an unknown id");
    expect_err(
        next(),
        Expect::IllegalTransition,
        "batch[3] requested → succeeded",
    );
    let r = must(next(), "batch[4] requested → canceled");
    assert_eq!((r.id, r.status), (x3.id, Canceled), "batch[4]");
    assert_eq!(
        must(store.get_execution(x2.id).await, "get_execution"),
        x2,
        "failed batch items must change nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

/// [`Store::claim_execution`]: a scheduled execution is claimed once (running, worker,
/// lease, `started`); a second claimer gets None and the claim stays; executions that are
/// not scheduled are not claimable.
pub async fn check_claim_execution(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let x = insert_execution(store, "alpha.action", Scheduled, at(t, 0)).await;
    let a = claim("worker-a", at(t, 10), 30);
    let got = must(store.claim_execution(x.id, &a).await, "claim_execution");
    let got =
        got.unwrap_or_else(|| panic!("claim_execution of a scheduled execution must return it"));
    assert_eq!(
        got.status, Running,
        "a claim must move the execution to running"
    );
    assert_eq!(
        got.worker.as_deref(),
        Some("worker-a"),
        "a claim must record the worker"
    );
    assert_eq!(
        got.lease_expires,
        Some(a.lease_until),
        "a claim must record the lease"
    );
    assert_eq!(got.started, Some(a.now), "a claim must set `started`");
    assert_eq!(got.attempt, 1, "a first claim keeps the attempt");
    assert_eq!(
        got,
        must(store.get_execution(x.id).await, "get_execution"),
        "claim_execution must return the stored row"
    );

    let b = claim("worker-b", at(t, 11), 30);
    let second = must(
        store.claim_execution(x.id, &b).await,
        "second claim_execution",
    );
    assert_eq!(
        second, None,
        "a claimed execution must not be claimed again"
    );
    assert_eq!(
        must(store.get_execution(x.id).await, "get_execution"),
        got,
        "a failed claim changed the row"
    );

    for status in [
        Requested, Delayed, Pending, Paused, Canceling, Succeeded, Failed, Canceled,
    ] {
        let y = insert_execution(store, "alpha.action", status, at(t, 20)).await;
        let got = must(store.claim_execution(y.id, &b).await, "claim_execution");
        assert_eq!(got, None, "a {status} execution must not be claimable");
        assert_eq!(
            must(store.get_execution(y.id).await, "get_execution"),
            y,
            "a failed claim changed a {status} row"
        );
    }
}

/// [`Store::claim_ready`] claims scheduled executions oldest first, at most `limit`, each
/// once; executions not scheduled are left alone.
pub async fn check_claim_ready_oldest_first(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let requested = insert_execution(store, "alpha.action", Requested, at(t, 0)).await;
    let mut xs = Vec::new();
    for i in 0..5 {
        xs.push(
            insert_execution(store, "alpha.action", Scheduled, at(t, 1 + i))
                .await
                .id,
        );
    }
    let now = at(t, 100);
    let none = must(
        store.claim_ready(&claim("worker-a", now, 30), 0).await,
        "claim_ready(limit 0)",
    );
    assert!(
        none.is_empty(),
        "claim_ready with limit 0 must claim nothing: {none:?}"
    );
    let first = must(
        store.claim_ready(&claim("worker-a", now, 30), 2).await,
        "claim_ready(limit 2)",
    );
    let ids: BTreeSet<ExecutionId> = first.iter().map(|c| c.execution.id).collect();
    assert_eq!(
        ids,
        xs[..2].iter().copied().collect(),
        "claim_ready(limit 2) must claim the two oldest"
    );
    for c in &first {
        assert!(!c.reclaimed, "a scheduled execution is not a reclaim");
        assert_eq!(c.execution.status, Running);
        assert_eq!(c.execution.worker.as_deref(), Some("worker-a"));
        assert_eq!(c.execution.lease_expires, Some(at(now, 30)));
        assert_eq!(
            c.execution,
            must(store.get_execution(c.execution.id).await, "get"),
            "claim_ready returns stored rows"
        );
    }
    let rest = must(
        store.claim_ready(&claim("worker-b", now, 30), 10).await,
        "claim_ready(limit 10)",
    );
    let ids: BTreeSet<ExecutionId> = rest.iter().map(|c| c.execution.id).collect();
    assert_eq!(
        ids,
        xs[2..].iter().copied().collect(),
        "claim_ready must claim the rest, each once"
    );
    let after = must(
        store.claim_ready(&claim("worker-c", now, 30), 10).await,
        "claim_ready",
    );
    assert!(after.is_empty(), "nothing is left to claim: {after:?}");
    assert_eq!(
        must(store.get_execution(requested.id).await, "get"),
        requested,
        "a requested execution must be left alone"
    );
}

/// Eight claimers race `claim_execution` and `claim_ready` over 200 scheduled executions:
/// no execution is claimed twice and together they claim all of them.
pub async fn check_claim_race(store: &dyn Store) {
    const N: usize = 200;
    const CLAIMERS: usize = 8;
    let t = epoch();
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        ids.push(
            insert_execution(
                store,
                "alpha.action",
                ExecutionStatus::Scheduled,
                at(t, i as i64),
            )
            .await
            .id,
        );
    }
    let now = at(t, 1000);
    let ids = &ids;
    let claimed: Vec<Vec<(String, Execution)>> = concurrently(CLAIMERS, |w| async move {
        let c = claim(&format!("worker-{w}"), now, 3600);
        let mut got = Vec::new();
        for k in 0..N {
            if k % 4 == w % 4 {
                for cl in must(store.claim_ready(&c, 3).await, "claim_ready") {
                    assert!(!cl.reclaimed, "no lease has expired; nothing is a reclaim");
                    got.push((c.worker.clone(), cl.execution));
                }
            }
            // Each claimer visits every id, in its own order (7 is prime to 200).
            let id = ids[(k * 7 + w * 25) % N];
            if let Some(x) = must(store.claim_execution(id, &c).await, "claim_execution") {
                got.push((c.worker.clone(), x));
            }
        }
        loop {
            let more = must(store.claim_ready(&c, 16).await, "claim_ready");
            if more.is_empty() {
                break;
            }
            got.extend(more.into_iter().map(|cl| (c.worker.clone(), cl.execution)));
        }
        got
    })
    .await;
    let mut owner: HashMap<ExecutionId, String> = HashMap::new();
    for (worker, x) in claimed.into_iter().flatten() {
        assert_eq!(
            x.worker.as_deref(),
            Some(worker.as_str()),
            "a claim must return the claimer's row"
        );
        assert_eq!(
            x.status,
            ExecutionStatus::Running,
            "a claim must return a running row"
        );
        if let Some(other) = owner.insert(x.id, worker.clone()) {
            panic!(
                "execution {} was claimed by both {other} and {worker}",
                x.id
            );
        }
    }
    assert_eq!(
        owner.len(),
        N,
        "the claimers together must claim every scheduled execution"
    );
    for id in ids {
        let x = must(store.get_execution(*id).await, "get_execution");
        assert_eq!(
            x.status,
            ExecutionStatus::Running,
            "execution {id} must be running"
        );
        assert_eq!(
            x.worker.as_ref(),
            owner.get(id),
            "execution {id} must be held by the worker that got it"
        );
        assert_eq!(
            x.attempt, 1,
            "execution {id}: a first claim keeps the attempt"
        );
    }
}

/// A running execution whose lease expired is reclaimed by `claim_ready` (`reclaimed`,
/// attempt + 1, new worker and lease) — but not while the lease holds, and not by
/// `claim_execution`; afterwards only the new holder may renew.
pub async fn check_reclaim_expired_lease(store: &dyn Store) {
    let t = epoch();
    let x = insert_execution(store, "alpha.action", ExecutionStatus::Scheduled, at(t, 0)).await;
    let a = claim("worker-a", at(t, 10), 30);
    must(store.claim_execution(x.id, &a).await, "claim_execution")
        .expect("a scheduled execution is claimable");

    let early = must(
        store
            .claim_ready(&claim("worker-b", at(t, 20), 30), 10)
            .await,
        "claim_ready",
    );
    assert!(
        early.is_empty(),
        "a running execution with a live lease must not be reclaimed: {early:?}"
    );
    let b = claim("worker-b", at(t, 100), 30);
    let got = must(store.claim_execution(x.id, &b).await, "claim_execution");
    assert_eq!(
        got, None,
        "claim_execution only claims scheduled executions, not expired running ones"
    );

    let reclaimed = must(
        store.claim_ready(&b, 10).await,
        "claim_ready after the lease expired",
    );
    assert_eq!(
        reclaimed.len(),
        1,
        "the expired execution must be reclaimed: {reclaimed:?}"
    );
    let r = &reclaimed[0];
    assert!(r.reclaimed, "claim_ready must report the reclaim");
    assert_eq!(r.execution.id, x.id);
    assert_eq!(
        r.execution.status,
        ExecutionStatus::Running,
        "a reclaimed execution is running"
    );
    assert_eq!(
        r.execution.attempt, 2,
        "a reclaim must increment the attempt"
    );
    assert_eq!(
        r.execution.worker.as_deref(),
        Some("worker-b"),
        "a reclaim must record the new worker"
    );
    assert_eq!(
        r.execution.lease_expires,
        Some(b.lease_until),
        "a reclaim must record the new lease"
    );
    assert_eq!(
        r.execution,
        must(store.get_execution(x.id).await, "get_execution"),
        "the stored row after a reclaim"
    );

    let again = must(
        store
            .claim_ready(&claim("worker-c", at(t, 101), 30), 10)
            .await,
        "claim_ready",
    );
    assert!(
        again.is_empty(),
        "a freshly reclaimed execution must not be reclaimed again: {again:?}"
    );
    expect_err(
        store
            .renew_lease(x.id, &claim("worker-a", at(t, 102), 30))
            .await,
        Expect::Conflict,
        "renew_lease by the worker that lost the claim",
    );
    must(
        store
            .renew_lease(x.id, &claim("worker-b", at(t, 110), 60))
            .await,
        "renew_lease by the new holder",
    );
    let renewed = must(store.get_execution(x.id).await, "get_execution");
    assert_eq!(
        renewed.lease_expires,
        Some(at(t, 170)),
        "renew_lease must extend the lease"
    );
    let early = must(
        store
            .claim_ready(&claim("worker-c", at(t, 150), 30), 10)
            .await,
        "claim_ready",
    );
    assert!(early.is_empty(), "a renewed lease must hold: {early:?}");
    let late = must(
        store
            .claim_ready(&claim("worker-c", at(t, 200), 30), 10)
            .await,
        "claim_ready",
    );
    assert_eq!(late.len(), 1, "an expired renewed lease is reclaimable");
    assert_eq!(
        late[0].execution.attempt, 3,
        "each reclaim increments the attempt"
    );
    assert_eq!(late[0].execution.worker.as_deref(), Some("worker-c"));
}

/// Executions in a terminal status (and non-claimable live ones: requested, delayed,
/// pending, paused, canceling), even carrying a stale worker and lease, are never claimed.
pub async fn check_terminal_never_claimed(store: &dyn Store) {
    let t = epoch();
    let mut rows = Vec::new();
    for (i, status) in ExecutionStatus::ALL.into_iter().enumerate() {
        if matches!(
            status,
            ExecutionStatus::Scheduled | ExecutionStatus::Running
        ) {
            continue;
        }
        let mut x = execution("alpha.action", status, at(t, i as i64));
        x.worker = Some("ghost".into());
        x.lease_expires = Some(at(t, 1));
        must(
            store.insert_execution(&x).await,
            format!("insert_execution({status})"),
        );
        rows.push(x);
    }
    let c = claim("worker-a", at(t, 10_000), 30);
    let got = must(store.claim_ready(&c, 100).await, "claim_ready");
    assert!(
        got.is_empty(),
        "claim_ready must not claim terminal or non-claimable executions: {got:?}"
    );
    for x in &rows {
        let got = must(store.claim_execution(x.id, &c).await, "claim_execution");
        assert_eq!(got, None, "a {} execution must not be claimable", x.status);
        assert_eq!(
            must(store.get_execution(x.id).await, "get_execution"),
            *x,
            "a failed claim changed a {} row",
            x.status
        );
    }
}

/// [`Store::renew_lease`]: the holder extends its lease; another worker, an unclaimed
/// execution or a finished one → Conflict (lease unchanged).
pub async fn check_renew_lease(store: &dyn Store) {
    let t = epoch();
    let x = insert_execution(store, "alpha.action", ExecutionStatus::Scheduled, at(t, 0)).await;
    expect_err(
        store
            .renew_lease(x.id, &claim("worker-a", at(t, 1), 30))
            .await,
        Expect::Conflict,
        "renew_lease of an unclaimed execution",
    );
    must(
        store
            .claim_execution(x.id, &claim("worker-a", at(t, 2), 30))
            .await,
        "claim_execution",
    )
    .expect("claimable");
    must(
        store
            .renew_lease(x.id, &claim("worker-a", at(t, 20), 60))
            .await,
        "renew_lease by the holder",
    );
    let got = must(store.get_execution(x.id).await, "get_execution");
    assert_eq!(
        got.lease_expires,
        Some(at(t, 80)),
        "renew_lease must move the lease"
    );
    assert_eq!(
        got.worker.as_deref(),
        Some("worker-a"),
        "renew_lease must keep the worker"
    );
    assert_eq!(got.status, ExecutionStatus::Running);
    expect_err(
        store
            .renew_lease(x.id, &claim("worker-b", at(t, 21), 600))
            .await,
        Expect::Conflict,
        "renew_lease by another worker",
    );
    assert_eq!(
        must(store.get_execution(x.id).await, "get_execution"),
        got,
        "a rejected renew_lease changed the row"
    );
    must(
        store
            .transition_execution(
                x.id,
                ExecutionStatus::Running,
                ExecutionChange::to(ExecutionStatus::Succeeded, at(t, 30)),
            )
            .await,
        "transition running → succeeded",
    );
    expect_err(
        store
            .renew_lease(x.id, &claim("worker-a", at(t, 31), 60))
            .await,
        Expect::Conflict,
        "renew_lease of a finished execution",
    );
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// `list_executions` and `count_executions` with each filter (action, statuses, enforcement,
/// event, parent, rule) and combinations: exactly the matching rows, in id order.
pub async fn check_execution_filters(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let ev1 = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let ev2 = insert_event(store, "alpha.trigger", at(t, 1)).await;
    let enf1 = insert_enforcement(store, "alpha.r1", &ev1, at(t, 2)).await;
    let enf2 = insert_enforcement(store, "alpha.r2", &ev2, at(t, 3)).await;
    let parent = insert_execution(store, "alpha.workflow", Running, at(t, 4)).await;
    let caused = |action: &str, status, secs, enf: &Enforcement| {
        let mut x = execution(action, status, at(t, secs));
        x.enforcement = Some(enf.id);
        x.event = Some(enf.event);
        x.rule = Some(enf.rule.clone());
        x
    };
    let child = |action: &str, status, secs| {
        let mut x = execution(action, status, at(t, secs));
        x.parent = Some(parent.id);
        x
    };
    let x1 = caused("alpha.a", Requested, 5, &enf1);
    let x2 = caused("alpha.b", Succeeded, 6, &enf2);
    let x3 = child("alpha.a", Scheduled, 7);
    let x4 = child("alpha.a", Failed, 8);
    let x5 = execution("alpha.b", Requested, at(t, 9));
    for x in [&x1, &x2, &x3, &x4, &x5] {
        must(store.insert_execution(x).await, "insert_execution");
    }
    let f = ExecutionFilter::default;
    let cases: Vec<(&str, ExecutionFilter, Vec<ExecutionId>)> = vec![
        (
            "no filter",
            f(),
            vec![parent.id, x1.id, x2.id, x3.id, x4.id, x5.id],
        ),
        (
            "action",
            ExecutionFilter {
                action: Some("alpha.a".into()),
                ..f()
            },
            vec![x1.id, x3.id, x4.id],
        ),
        (
            "unknown action",
            ExecutionFilter {
                action: Some("alpha.none".into()),
                ..f()
            },
            vec![],
        ),
        (
            "one status",
            f().with_status([Requested]),
            vec![x1.id, x5.id],
        ),
        (
            "two statuses",
            f().with_status([Succeeded, Failed]),
            vec![x2.id, x4.id],
        ),
        ("no status", f().with_status([]), vec![]),
        (
            "enforcement",
            ExecutionFilter {
                enforcement: Some(enf1.id),
                ..f()
            },
            vec![x1.id],
        ),
        (
            "event",
            ExecutionFilter {
                event: Some(ev2.id),
                ..f()
            },
            vec![x2.id],
        ),
        (
            "parent",
            ExecutionFilter {
                parent: Some(parent.id),
                ..f()
            },
            vec![x3.id, x4.id],
        ),
        (
            "rule",
            ExecutionFilter {
                rule: Some("alpha.r1".into()),
                ..f()
            },
            vec![x1.id],
        ),
        (
            "action and statuses",
            ExecutionFilter {
                action: Some("alpha.a".into()),
                ..f()
            }
            .with_status([Scheduled, Failed, Succeeded]),
            vec![x3.id, x4.id],
        ),
        (
            "parent and status",
            ExecutionFilter {
                parent: Some(parent.id),
                ..f()
            }
            .with_status([Running]),
            vec![],
        ),
    ];
    for (name, filter, want) in cases {
        let got = must(
            store.list_executions(&filter, &Page::first(100)).await,
            format!("list_executions({name})"),
        );
        assert!(
            got.iter().all(|x| filter.admits(x)),
            "list_executions({name}) returned a row the filter rejects"
        );
        assert_eq!(
            execution_ids(&got),
            want,
            "list_executions filtered by {name}: {filter:?}"
        );
        let n = must(
            store.count_executions(&filter).await,
            format!("count_executions({name})"),
        );
        assert_eq!(
            n,
            want.len() as u64,
            "count_executions filtered by {name}: {filter:?}"
        );
    }
}

/// Walks `list` page by page with `limit` rows per page, checking that pages hold at most
/// `limit` rows in strictly increasing id order, and returns every id seen.
async fn walk<T, F, Fut>(mut list: F, limit: usize, id: fn(&T) -> Uuid, what: &str) -> Vec<Uuid>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut seen: Vec<Uuid> = Vec::new();
    let mut page = Page::first(limit);
    for _ in 0..10_000 {
        let rows = must(list(page).await, format!("{what} page {page:?}"));
        assert!(
            rows.len() <= limit,
            "{what}: a page of limit {limit} returned {} rows",
            rows.len()
        );
        let Some(last) = rows.last() else {
            return seen;
        };
        let last = id(last);
        for row in &rows {
            let i = id(row);
            assert!(
                seen.last().is_none_or(|p| *p < i),
                "{what}: ids must strictly increase across pages ({i} after {seen:?})"
            );
            seen.push(i);
        }
        page = Page::after(last, limit);
    }
    panic!("{what}: pagination does not end");
}

/// Keyset pagination (`Page::first`, `Page::after(last id)`) walks every event,
/// enforcement and execution exactly once in id order, with and without a filter; a cursor
/// past the last row gives an empty page; `count_executions` agrees.
pub async fn check_pagination(store: &dyn Store) {
    const N: usize = 53;
    let t = epoch();
    let (mut events, mut enforcements, mut executions, mut odd) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..N {
        let ev = insert_event(store, "alpha.trigger", at(t, 3 * i as i64)).await;
        let enf = insert_enforcement(store, "alpha.rule", &ev, at(t, 3 * i as i64 + 1)).await;
        let action = if i % 2 == 1 {
            "alpha.odd"
        } else {
            "alpha.even"
        };
        let x = insert_execution(
            store,
            action,
            ExecutionStatus::Requested,
            at(t, 3 * i as i64 + 2),
        )
        .await;
        events.push(ev.id.0);
        enforcements.push(enf.id.0);
        executions.push(x.id.0);
        if i % 2 == 1 {
            odd.push(x.id.0);
        }
    }
    let all = ExecutionFilter::default();
    let odd_filter = ExecutionFilter {
        action: Some("alpha.odd".into()),
        ..ExecutionFilter::default()
    };
    for limit in [1, 10, N, N + 5] {
        let (all, odd_filter) = (&all, &odd_filter);
        let got = walk(
            |p| async move { store.list_executions(all, &p).await },
            limit,
            |x| x.id.0,
            "list_executions",
        )
        .await;
        assert_eq!(
            got, executions,
            "paging list_executions by {limit} must see every execution once, in id order"
        );
        let got = walk(
            |p| async move { store.list_executions(odd_filter, &p).await },
            limit,
            |x| x.id.0,
            "list_executions(action)",
        )
        .await;
        assert_eq!(
            got, odd,
            "paging filtered list_executions by {limit} must see every match once, in id order"
        );
        let got = walk(
            |p| async move { store.list_events(&EventFilter::default(), &p).await },
            limit,
            |x| x.id.0,
            "list_events",
        )
        .await;
        assert_eq!(
            got, events,
            "paging list_events by {limit} must see every event once, in id order"
        );
        let got = walk(
            |p| async move {
                store
                    .list_enforcements(&EnforcementFilter::default(), &p)
                    .await
            },
            limit,
            |x| x.id.0,
            "list_enforcements",
        )
        .await;
        assert_eq!(
            got, enforcements,
            "paging list_enforcements by {limit} must see every enforcement once, in id order"
        );
    }
    let first = must(
        store.list_executions(&all, &Page::first(10)).await,
        "list_executions(first)",
    );
    let from_nil = must(
        store
            .list_executions(&all, &Page::after(ExecutionId::nil(), 10))
            .await,
        "list_executions(after nil)",
    );
    assert_eq!(first, from_nil, "Page::after(nil) must equal Page::first");
    let last = *executions.last().expect("rows were inserted");
    let past = must(
        store.list_executions(&all, &Page::after(last, 10)).await,
        "list_executions(after last)",
    );
    assert!(
        past.is_empty(),
        "a page after the last row must be empty: {past:?}"
    );
    let mid = executions[20];
    let page = must(
        store.list_executions(&all, &Page::after(mid, 5)).await,
        "list_executions(after mid)",
    );
    let want: Vec<Uuid> = executions[21..26].to_vec();
    assert_eq!(
        page.iter().map(|x| x.id.0).collect::<Vec<_>>(),
        want,
        "Page::after(id) must start right after id"
    );
    assert_eq!(
        must(store.count_executions(&all).await, "count_executions"),
        N as u64,
        "count_executions(all)"
    );
    let n = must(
        store.count_executions(&odd_filter).await,
        "count_executions(action)",
    );
    assert_eq!(n, odd.len() as u64, "count_executions(action)");
}

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

/// One event → enforcement → execution chain as the pipeline writes it.
#[derive(Debug)]
struct Chain {
    event: Event,
    enforcement: Enforcement,
    execution: Option<Execution>,
}

/// Inserts a chain created at `created` (event), +1 s (enforcement), +2 s (execution): with
/// `status` the enforcement is processed and the execution in `status`; without, the
/// enforcement failed and there is no execution.
async fn insert_chain(
    store: &dyn Store,
    created: DateTime<Utc>,
    status: Option<ExecutionStatus>,
) -> Chain {
    let event = insert_event(store, "alpha.trigger", created).await;
    let execution_id = ExecutionId::new();
    let mut enforcement = Enforcement::new("alpha.rule", event.id, "alpha.trigger", at(created, 1));
    match status {
        Some(_) => {
            enforcement.status = EnforcementStatus::Processed;
            enforcement.execution = Some(execution_id);
        }
        None => {
            enforcement.status = EnforcementStatus::Failed;
            enforcement.failure = Some("rule 'alpha.rule': condition error".into());
        }
    }
    let inserted = must(
        store.insert_enforcement(&enforcement).await,
        "insert_enforcement",
    );
    assert!(
        inserted.is_new(),
        "insert_enforcement of a new (rule, event) must be New"
    );
    let execution = status.map(|status| {
        let mut x = execution("alpha.action", status, at(created, 2));
        x.id = execution_id;
        x.enforcement = Some(enforcement.id);
        x.event = Some(event.id);
        x.rule = Some("alpha.rule".into());
        if !matches!(
            status,
            ExecutionStatus::Requested | ExecutionStatus::Delayed | ExecutionStatus::Scheduled
        ) && !status.is_terminal()
        {
            x.worker = Some("worker-a".into());
            x.lease_expires = Some(at(created, 3600));
        }
        x
    });
    if let Some(x) = &execution {
        must(store.insert_execution(x).await, "insert_execution");
    }
    Chain {
        event,
        enforcement,
        execution,
    }
}

/// Purges until a call reports no `more`, checking every call against `batch`; returns the
/// totals. Panics when it does not converge.
async fn purge_all(store: &dyn Store, request: &PurgeRequest) -> PurgeStats {
    let mut total = PurgeStats::default();
    for _ in 0..1000 {
        let s = must(store.purge(request).await, format!("purge({request:?})"));
        let b = request.batch as u64;
        assert!(
            s.events <= b && s.enforcements <= b && s.executions <= b,
            "purge must delete at most `batch` ({b}) rows of each kind per call: {s:?}"
        );
        total.events += s.events;
        total.enforcements += s.enforcements;
        total.executions += s.executions;
        if !s.more {
            return total;
        }
    }
    panic!("purge({request:?}) keeps reporting `more`");
}

/// Checks what survived a purge: exactly the given rows, compared by id.
async fn assert_survivors(
    store: &dyn Store,
    events: &[EventId],
    enforcements: &[EnforcementId],
    executions: &[ExecutionId],
    what: &str,
) {
    assert_eq!(
        event_ids(&all_events(store).await),
        events,
        "{what}: surviving events"
    );
    assert_eq!(
        enforcement_ids(&all_enforcements(store).await),
        enforcements,
        "{what}: surviving enforcements"
    );
    assert_eq!(
        execution_ids(&all_executions(store).await),
        executions,
        "{what}: surviving executions"
    );
}

/// `purge(before)` deletes terminal executions created before `before`, and the enforcements
/// and events behind them (and those without executions); non-terminal executions and what
/// they refer to stay, as does everything newer; a second call deletes nothing.
pub async fn check_purge_before(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let statuses = [
        Some(Succeeded),
        Some(Running),
        Some(Failed),
        Some(Requested),
        None,
        Some(Timeout),
        Some(Succeeded),
        Some(Canceled),
        Some(Running),
        Some(Abandoned),
    ];
    let mut chains = Vec::new();
    let mut lonely = None;
    for (i, status) in statuses.into_iter().enumerate() {
        chains.push(insert_chain(store, at(t, 60 * i as i64), status).await);
        if i == 2 {
            lonely = Some(insert_event(store, "alpha.other", at(t, 60 * i as i64 + 30)).await);
        }
    }
    let lonely = lonely.expect("inserted");
    let request = PurgeRequest {
        before: Some(at(t, 6 * 60)),
        keep_executions: None,
        keep_events_from: None,
        batch: 100,
    };
    let s = must(store.purge(&request).await, "purge(before)");
    let old = |c: &&Chain| c.event.created < at(t, 6 * 60);
    let doomed = |c: &&Chain| old(c) && c.execution.as_ref().is_none_or(|x| x.status.is_terminal());
    let want = PurgeStats {
        events: chains.iter().filter(doomed).count() as u64 + 1,
        enforcements: chains.iter().filter(doomed).count() as u64,
        executions: chains
            .iter()
            .filter(doomed)
            .filter(|c| c.execution.is_some())
            .count() as u64,
        more: false,
    };
    assert_eq!(
        s, want,
        "purge(before) with a large batch must delete all due rows at once"
    );
    let kept: Vec<&Chain> = chains.iter().filter(|c| !doomed(c)).collect();
    let kept_events: Vec<EventId> = kept.iter().map(|c| c.event.id).collect();
    let kept_enfs: Vec<EnforcementId> = kept.iter().map(|c| c.enforcement.id).collect();
    let kept_xs: Vec<ExecutionId> = kept
        .iter()
        .filter_map(|c| c.execution.as_ref().map(|x| x.id))
        .collect();
    assert_survivors(store, &kept_events, &kept_enfs, &kept_xs, "purge(before)").await;
    expect_err(
        store.get_event(lonely.id).await,
        Expect::NotFound,
        "an old event without enforcements must be purged",
    );
    for c in kept.iter().filter(|c| old(c)) {
        let x = c
            .execution
            .as_ref()
            .expect("old survivors are the non-terminal ones");
        assert_eq!(
            must(store.get_execution(x.id).await, "get_execution"),
            *x,
            "a non-terminal execution must survive unchanged"
        );
    }
    let s = must(store.purge(&request).await, "purge(before) again");
    assert_eq!(
        s,
        PurgeStats::default(),
        "a second purge with nothing due must delete nothing"
    );
}

/// `purge(keep_executions = N)` keeps the newest N executions (and every non-terminal one).
pub async fn check_purge_keep_executions(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let mut xs = Vec::new();
    for i in 0..10 {
        let status = if i == 1 { Running } else { Succeeded };
        xs.push(
            insert_execution(store, "alpha.action", status, at(t, i))
                .await
                .id,
        );
    }
    let request = PurgeRequest {
        before: None,
        keep_executions: Some(3),
        keep_events_from: None,
        batch: 100,
    };
    let s = purge_all(store, &request).await;
    assert_eq!(
        s.executions, 6,
        "keep_executions = 3 of 10 (one running) must delete 6: {s:?}"
    );
    let want = vec![xs[1], xs[7], xs[8], xs[9]];
    assert_eq!(
        execution_ids(&all_executions(store).await),
        want,
        "keep_executions = 3 must keep the newest 3 and the running one"
    );
    let s = must(store.purge(&request).await, "purge again");
    assert_eq!(s.executions, 0, "a second purge must delete nothing: {s:?}");
    let keep_more = PurgeRequest {
        keep_executions: Some(100),
        ..request
    };
    assert_eq!(
        must(store.purge(&keep_more).await, "purge"),
        PurgeStats::default(),
        "keep more than exist: nothing to do"
    );
}

/// `purge(keep_executions = 0)` deletes every terminal execution (non-terminal ones stay).
pub async fn check_purge_keep_zero(store: &dyn Store) {
    let t = epoch();
    let done = insert_execution(store, "alpha.action", ExecutionStatus::Succeeded, at(t, 0)).await;
    let live = insert_execution(store, "alpha.action", ExecutionStatus::Requested, at(t, 1)).await;
    let last = insert_execution(store, "alpha.action", ExecutionStatus::Failed, at(t, 2)).await;
    let request = PurgeRequest {
        before: None,
        keep_executions: Some(0),
        keep_events_from: None,
        batch: 100,
    };
    let s = purge_all(store, &request).await;
    assert_eq!(
        s.executions, 2,
        "keep_executions = 0 must delete every terminal execution: {s:?}"
    );
    assert_eq!(
        execution_ids(&all_executions(store).await),
        vec![live.id],
        "only the requested execution may stay"
    );
    expect_err(
        store.get_execution(done.id).await,
        Expect::NotFound,
        "the oldest terminal execution must be purged",
    );
    expect_err(
        store.get_execution(last.id).await,
        Expect::NotFound,
        "the newest terminal execution must be purged",
    );
}

/// With both `before` and `keep_executions`, both limits hold: a terminal execution goes when
/// it is older than `before` or beyond the newest N.
pub async fn check_purge_before_and_keep(store: &dyn Store) {
    let t = epoch();
    let mut xs = Vec::new();
    for i in 0..10 {
        xs.push(
            insert_execution(
                store,
                "alpha.action",
                ExecutionStatus::Succeeded,
                at(t, 10 * i),
            )
            .await
            .id,
        );
    }
    // `keep_executions` reaches further back than `before`: the count limit decides.
    let request = PurgeRequest {
        before: Some(at(t, 15)),
        keep_executions: Some(6),
        keep_events_from: None,
        batch: 100,
    };
    let s = purge_all(store, &request).await;
    assert_eq!(
        s.executions, 4,
        "before = 2nd row, keep 6 of 10: both limits hold, 4 go: {s:?}"
    );
    assert_eq!(
        execution_ids(&all_executions(store).await),
        xs[4..].to_vec(),
        "the newest 6 must be kept"
    );
    // `before` reaches further: the time limit decides.
    let request = PurgeRequest {
        before: Some(at(t, 75)),
        keep_executions: Some(5),
        keep_events_from: None,
        batch: 100,
    };
    let s = purge_all(store, &request).await;
    assert_eq!(
        s.executions, 4,
        "before = 8th row, keep 5 of 6: both limits hold, 4 go: {s:?}"
    );
    assert_eq!(
        execution_ids(&all_executions(store).await),
        xs[8..].to_vec(),
        "rows from `before` on must be kept"
    );
}

/// Non-terminal executions are never purged, however old and whatever the request, and the
/// enforcements and events they refer to survive with them.
pub async fn check_purge_keeps_non_terminal(store: &dyn Store) {
    let t = epoch() - TimeDelta::days(30);
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for (i, status) in ExecutionStatus::ALL.into_iter().enumerate() {
        let c = insert_chain(store, at(t, 10 * i as i64), Some(status)).await;
        if status.is_terminal() {
            dead.push(c);
        } else {
            live.push(c);
        }
    }
    let request = PurgeRequest {
        before: Some(Utc::now() + TimeDelta::days(1)),
        keep_executions: Some(1),
        keep_events_from: None,
        batch: 3,
    };
    let s = purge_all(store, &request).await;
    let n = dead.len() as u64;
    assert_eq!(
        (s.events, s.enforcements, s.executions),
        (n, n, n),
        "every terminal chain goes, nothing else: {s:?}"
    );
    let events: Vec<EventId> = live.iter().map(|c| c.event.id).collect();
    let enfs: Vec<EnforcementId> = live.iter().map(|c| c.enforcement.id).collect();
    let xs: Vec<ExecutionId> = live
        .iter()
        .filter_map(|c| c.execution.as_ref().map(|x| x.id))
        .collect();
    assert_survivors(
        store,
        &events,
        &enfs,
        &xs,
        "purge of old non-terminal chains",
    )
    .await;
}

/// Purge works in bounded batches: each call deletes at most `batch` rows of each kind and
/// reports `more` while rows are due; repeated calls converge to the full result.
pub async fn check_purge_batches(store: &dyn Store) {
    const N: u64 = 25;
    let t = epoch();
    let mut survivors = Vec::new();
    for i in 0..N {
        insert_chain(
            store,
            at(t, 10 * i as i64),
            Some(ExecutionStatus::Succeeded),
        )
        .await;
    }
    for i in 0..3 {
        survivors.push(
            insert_chain(
                store,
                at(t, 10_000 + 10 * i),
                Some(ExecutionStatus::Succeeded),
            )
            .await,
        );
    }
    let request = PurgeRequest {
        before: Some(at(t, 5_000)),
        keep_executions: None,
        keep_events_from: None,
        batch: 10,
    };
    let first = must(store.purge(&request).await, "first purge");
    assert!(
        first.more,
        "25 due rows with batch 10: the first purge must report `more`: {first:?}"
    );
    assert!(
        first.executions > 0,
        "the first purge must make progress: {first:?}"
    );
    let rest = purge_all(store, &request).await;
    let total = (
        first.events + rest.events,
        first.enforcements + rest.enforcements,
        first.executions + rest.executions,
    );
    assert_eq!(
        total,
        (N, N, N),
        "repeated purges must delete every due row exactly once"
    );
    let events: Vec<EventId> = survivors.iter().map(|c| c.event.id).collect();
    let enfs: Vec<EnforcementId> = survivors.iter().map(|c| c.enforcement.id).collect();
    let xs: Vec<ExecutionId> = survivors
        .iter()
        .filter_map(|c| c.execution.as_ref().map(|x| x.id))
        .collect();
    assert_survivors(store, &events, &enfs, &xs, "batched purge").await;
    let last = must(store.purge(&request).await, "purge after convergence");
    assert_eq!(
        last,
        PurgeStats::default(),
        "once converged, purge deletes nothing and reports no `more`"
    );
}

/// `keep_events_from` protects events not matched yet: old events before it go, it and later
/// ones stay whatever their age.
pub async fn check_purge_keeps_events_from(store: &dyn Store) {
    let t = epoch() - TimeDelta::days(30);
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = Event::new("conf.t", serde_json::json!({ "i": i }), at(t, i));
        store.insert_event(&e).await.expect("insert_event");
        ids.push(e.id);
    }
    let request = PurgeRequest {
        before: Some(Utc::now()),
        keep_executions: None,
        keep_events_from: Some(ids[2]),
        batch: 100,
    };
    let s = purge_all(store, &request).await;
    assert_eq!(
        s.events, 2,
        "only the events before keep_events_from go: {s:?}"
    );
    for (i, id) in ids.iter().enumerate() {
        let got = store.get_event(*id).await;
        assert_eq!(got.is_ok(), i >= 2, "event {i} after purge: {got:?}");
    }
}
