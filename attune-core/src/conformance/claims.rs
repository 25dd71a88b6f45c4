//! Claiming scheduled executions, leases, reclaiming and renewing them.

use super::{
    Expect, at, claim, concurrently, epoch, execution, expect_err, insert_execution, must,
};
use crate::model::{Execution, ExecutionId, ExecutionStatus};
use crate::store::{ExecutionChange, Store};
use std::collections::{BTreeSet, HashMap};

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
    let claimed: Vec<Vec<(crate::model::Name, Execution)>> =
        concurrently(CLAIMERS, |w| async move {
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
    let mut owner: HashMap<ExecutionId, crate::model::Name> = HashMap::new();
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

/// [`Store::claim_executions`]: one result per id, in order — the scheduled ones claimed (as
/// [`Store::claim_execution`] would), the others `None`, an unknown id NotFound — and a
/// failed item does not stop the others.
pub async fn check_claim_executions(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let a = insert_execution(store, "alpha.action", Scheduled, at(t, 0)).await;
    let done = insert_execution(store, "alpha.action", Succeeded, at(t, 1)).await;
    let b = insert_execution(store, "alpha.action", Scheduled, at(t, 2)).await;
    let c = claim("worker-a", at(t, 10), 30);
    let ids = [a.id, done.id, ExecutionId::new(), b.id, a.id];
    let mut got = store.claim_executions(&ids, &c).await;
    assert_eq!(got.len(), ids.len(), "claim_executions: one result per id");
    let again = got.pop().expect("five results");
    assert_eq!(
        must(again, "claim_executions (a repeated id)"),
        None,
        "an id claimed earlier in the same call must not be claimed again"
    );
    let mut got = got.into_iter();
    for x in [&a, &done] {
        let r = must(got.next().expect("result"), "claim_executions");
        if x.id == done.id {
            assert_eq!(r, None, "a succeeded execution must not be claimable");
        } else {
            let r = r.unwrap_or_else(|| panic!("a scheduled execution must be claimed"));
            assert_eq!(
                (r.status, r.worker.as_deref()),
                (Running, Some("worker-a")),
                "claim_executions must claim like claim_execution"
            );
            assert_eq!(
                r,
                must(store.get_execution(x.id).await, "get_execution"),
                "claim_executions must return the stored row"
            );
        }
    }
    expect_err(
        got.next().expect("result"),
        Expect::NotFound,
        "claim_executions of an unknown id",
    );
    let r = must(got.next().expect("result"), "claim_executions");
    assert_eq!(
        r.map(|r| r.status),
        Some(Running),
        "an item after a failed one must still be claimed"
    );
    assert!(
        store.claim_executions(&[], &c).await.is_empty(),
        "claim_executions of no ids"
    );

    // For a claimer holding the params: the same claim; params null or as stored.
    let mut d = execution("alpha.action", Scheduled, at(t, 3));
    d.params = serde_json::json!({"keep": ["me", 1]});
    must(store.insert_execution(&d).await, "insert_execution");
    let mut got = store
        .claim_executions_holding_params(&[d.id, d.id], &c)
        .await;
    assert_eq!(
        got.len(),
        2,
        "claim_executions_holding_params: one result per id"
    );
    let again = must(got.pop().expect("two results"), "a repeated id");
    assert_eq!(
        again, None,
        "an id claimed earlier in the same call is not claimed again"
    );
    let mut r = must(
        got.pop().expect("two results"),
        "claim_executions_holding_params",
    )
    .unwrap_or_else(|| panic!("a scheduled execution must be claimed"));
    assert!(
        r.params.is_null() || r.params == d.params,
        "claim_executions_holding_params: params null or as stored, not {}",
        r.params
    );
    r.params = d.params.clone();
    assert_eq!(
        r,
        must(store.get_execution(d.id).await, "get_execution"),
        "claim_executions_holding_params must claim like claim_executions"
    );
    assert_eq!(
        must(store.get_execution(d.id).await, "get_execution").params,
        d.params,
        "the stored params stay"
    );
}
