//! Retention: `purge` of finished event → enforcement → execution chains.

use super::{
    Expect, all_enforcements, all_events, all_executions, at, enforcement_ids, epoch, event_ids,
    execution, execution_ids, expect_err, insert_event, insert_execution, must,
};
use crate::model::{
    Enforcement, EnforcementId, EnforcementStatus, Event, EventId, Execution, ExecutionId,
    ExecutionStatus,
};
use crate::store::{PurgeRequest, PurgeStats, Store};
use chrono::{DateTime, TimeDelta, Utc};

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

/// `keep_executions` counts rows in creation (id) order, so rows created within the same
/// clock tick (or under a stopped test clock) are still purged down to the limit.
pub async fn check_purge_keep_executions_with_equal_timestamps(store: &dyn Store) {
    let t = epoch();
    let mut chains = Vec::new();
    for _ in 0..10 {
        chains.push(insert_chain(store, t, Some(ExecutionStatus::Succeeded)).await);
    }
    let request = PurgeRequest {
        keep_executions: Some(3),
        batch: 100,
        ..PurgeRequest::default()
    };
    let s = purge_all(store, &request).await;
    assert_eq!(s.executions, 7, "seven of ten executions go: {s:?}");
    let left = must(
        store
            .count_executions(&crate::store::ExecutionFilter::default())
            .await,
        "count_executions",
    );
    assert_eq!(left, 3);
    for c in &chains[7..] {
        let x = c.execution.as_ref().expect("a chain with an execution");
        must(store.get_execution(x.id).await, "the newest three stay");
    }
}

/// Events go whether or not they were marked matched, once no enforcement refers to them:
/// an event matched without enforcements, an event never marked, and an event whose failed
/// enforcement goes in the same purge; an event whose enforcement is still `created` stays.
pub async fn check_purge_matched_and_unmatched_events(store: &dyn Store) {
    let t = epoch() - TimeDelta::days(30);
    let matched = insert_event(store, "conf.t", at(t, 0)).await;
    let never = insert_event(store, "conf.t", at(t, 1)).await;
    let failed = insert_event(store, "conf.t", at(t, 2)).await;
    let held = insert_event(store, "conf.t", at(t, 3)).await;
    let mut f = Enforcement::new("conf.r", failed.id, "conf.t", at(t, 2));
    crate::store::EnforcementUpdate::failed("no".into(), None, at(t, 2)).apply_to(&mut f);
    must(
        store.insert_enforcement(&f).await,
        "insert_enforcement(failed)",
    );
    let h = Enforcement::new("conf.r", held.id, "conf.t", at(t, 3));
    must(
        store.insert_enforcement(&h).await,
        "insert_enforcement(created)",
    );
    must(
        store
            .mark_events_matched(&[matched.id, failed.id, held.id])
            .await,
        "mark_events_matched",
    );
    let request = PurgeRequest {
        before: Some(Utc::now()),
        keep_executions: None,
        keep_events_from: None,
        batch: 100,
    };
    let s = purge_all(store, &request).await;
    assert_eq!(
        (s.events, s.enforcements),
        (3, 1),
        "three events and the failed enforcement go: {s:?}"
    );
    assert_eq!(
        event_ids(&all_events(store).await),
        vec![held.id],
        "only the event whose enforcement is still being applied stays"
    );
    expect_err(
        store.get_event(never.id).await,
        Expect::NotFound,
        "an event never marked matched, with no enforcement, after purge",
    );
}
