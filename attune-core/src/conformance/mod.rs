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
//!
//! Beside it, in the same style: the [`Transport`](crate::transport::Transport) conformance
//! suite in [`transport`] (run with
//! [`transport_conformance_tests!`](crate::transport_conformance_tests) on a
//! [`TransportFactory`](transport::TransportFactory)), and in [`runtime`] the checks that
//! process runtimes share — prompt cancel, secrets out of the command line and environment,
//! streamed output lines — run with
//! [`runtime_conformance_tests!`](crate::runtime_conformance_tests) on a runtime crate's
//! [`RuntimeFixtures`](runtime::RuntimeFixtures).

mod claims;
mod definitions;
mod purge;
mod queries;
mod records;
pub mod runtime;
mod transitions;
pub mod transport;
mod workflows;

pub use claims::{
    check_claim_execution, check_claim_executions, check_claim_race,
    check_claim_ready_oldest_first, check_reclaim_expired_lease, check_renew_lease,
    check_terminal_never_claimed,
};
pub use definitions::{
    check_definitions_crud, check_definitions_generation, check_replace_pack,
    check_replace_pack_is_atomic,
};
pub use purge::{
    check_purge_batches, check_purge_before, check_purge_before_and_keep,
    check_purge_keep_executions, check_purge_keep_executions_with_equal_timestamps,
    check_purge_keep_zero, check_purge_keeps_events_from, check_purge_keeps_non_terminal,
    check_purge_matched_and_unmatched_events,
};
pub use queries::{check_enforcement_filters, check_event_filters};
pub use queries::{check_execution_filters, check_pagination, check_pagination_order_and_offset};
pub use records::{
    check_enforcements, check_events, check_events_matched, check_executions_insert_get,
    check_insert_enforcements, check_insert_events, check_insert_executions, check_keys,
};
pub use transitions::{
    check_transition_batch, check_transition_legal_path, check_transition_state_machine,
    check_transition_terminal_clears_claim,
};
pub use workflows::{
    check_journal, check_purge_keeps_tasks_of_running_workflows, check_purge_removes_journal,
    check_take_over_execution,
};

use crate::model::{
    Enforcement, EnforcementId, Event, EventId, Execution, ExecutionId, ExecutionStatus,
};
use crate::store::{Claim, EnforcementFilter, EventFilter, ExecutionFilter, Page, Store};
use crate::{Error, Result};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::json;
use std::fmt;
use std::future::Future;

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
///
/// `store_conformance_tests!(optional $make)` is for a backend that needs a server a
/// machine may not have: `$make`'s future yields an `Option` of the pointer, and a check
/// whose store is `None` passes without running (the backend's `$make` says why, once).
#[macro_export]
macro_rules! store_conformance_tests {
    (optional $make:expr $(,)?) => {
        $crate::store_conformance_tests!(@checks
            |__attune_make| async move { ($make)().await };
            @all);
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(@checks
            |__attune_make| async move { Some(($make)().await) };
            @all);
    };
    (@checks $wrap:expr; @all) => {
        $crate::store_conformance_tests!(@checks $wrap;
            check_definitions_crud,
            check_definitions_generation,
            check_replace_pack,
            check_replace_pack_is_atomic,
            check_events,
            check_events_matched,
            check_insert_events,
            check_enforcements,
            check_insert_enforcements,
            check_executions_insert_get,
            check_insert_executions,
            check_keys,
            check_transition_legal_path,
            check_transition_state_machine,
            check_transition_terminal_clears_claim,
            check_transition_batch,
            check_claim_execution,
            check_claim_executions,
            check_claim_ready_oldest_first,
            check_claim_race,
            check_reclaim_expired_lease,
            check_terminal_never_claimed,
            check_renew_lease,
            check_execution_filters,
            check_event_filters,
            check_enforcement_filters,
            check_pagination,
            check_pagination_order_and_offset,
            check_purge_before,
            check_purge_keep_executions,
            check_purge_keep_zero,
            check_purge_before_and_keep,
            check_purge_keeps_non_terminal,
            check_purge_batches,
            check_purge_keeps_events_from,
            check_purge_matched_and_unmatched_events,
            check_purge_keep_executions_with_equal_timestamps,
            check_take_over_execution,
            check_journal,
            check_purge_removes_journal,
            check_purge_keeps_tasks_of_running_workflows,
        );
    };
    (@checks $wrap:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run(async {
                    let Some(store) = ($wrap)(()).await else {
                        return;
                    };
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
        worker: worker.into(),
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
    let e = Enforcement::new(rule, event.id, event.trigger.clone(), created);
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
