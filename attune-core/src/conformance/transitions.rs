//! Execution status transitions, single and batched.

use super::{Expect, at, claim, epoch, expect_err, insert_execution, must};
use crate::model::{ExecutionId, ExecutionStatus};
use crate::store::{ExecutionChange, Store};
use serde_json::json;

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
    must(next(), "batch[0] requested → scheduled");
    let r = must(store.get_execution(x1.id).await, "get_execution");
    assert_eq!((r.id, r.status), (x1.id, Scheduled), "batch[0]");
    expect_err(next(), Expect::Conflict, "batch[1] with a stale `from`");
    expect_err(next(), Expect::NotFound, "batch[2] of an unknown id");
    expect_err(
        next(),
        Expect::IllegalTransition,
        "batch[3] requested → succeeded",
    );
    must(next(), "batch[4] requested → canceled");
    let r = must(store.get_execution(x3.id).await, "get_execution");
    assert_eq!((r.id, r.status), (x3.id, Canceled), "batch[4]");
    assert_eq!(
        must(store.get_execution(x2.id).await, "get_execution"),
        x2,
        "failed batch items must change nothing"
    );
}
