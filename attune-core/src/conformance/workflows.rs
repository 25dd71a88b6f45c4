//! Checks of what workflow runs need from a store: taking over a lost run, and journals.

use super::*;
use crate::store::{ExecutionChange, JournalEntry, PurgeRequest};

fn entry(execution: ExecutionId, seq: u64) -> JournalEntry {
    JournalEntry {
        execution,
        seq,
        step: json!({"ended": [{"task": format!("t{seq}"), "status": "succeeded"}], "n": seq})
            .to_string(),
    }
}

/// [`Store::take_over_execution`] takes a run whose lease expired (status kept, attempt + 1,
/// the new claim), never one under a live lease or in a status no claim holds; the holder
/// renews its lease in every status a claim holds.
pub async fn check_take_over_execution(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let x = insert_execution(store, "alpha.flow", Scheduled, at(t, 0)).await;
    must(
        store
            .claim_execution(x.id, &claim("worker-a", at(t, 1), 30))
            .await,
        "claim_execution",
    )
    .expect("claimable");
    assert_eq!(
        must(
            store
                .take_over_execution(x.id, &claim("worker-b", at(t, 10), 30))
                .await,
            "take_over_execution under a live lease",
        ),
        None,
        "a run under a live lease must not be taken over"
    );
    let paused = must(
        store
            .transition_execution(x.id, Running, ExecutionChange::to(Paused, at(t, 12)))
            .await,
        "transition running → paused",
    );
    must(
        store
            .renew_lease(x.id, &claim("worker-a", at(t, 20), 30))
            .await,
        "renew_lease of a paused run by its holder",
    );
    let got = must(
        store
            .take_over_execution(x.id, &claim("worker-b", at(t, 60), 30))
            .await,
        "take_over_execution after the lease expired",
    )
    .expect("a paused run whose lease expired must be taken over");
    assert_eq!(got.status, Paused, "a take-over keeps the status");
    assert_eq!(
        got.attempt,
        paused.attempt + 1,
        "a take-over increments the attempt"
    );
    assert_eq!(got.worker.as_deref(), Some("worker-b"));
    assert_eq!(got.lease_expires, Some(at(t, 90)));
    assert_eq!(
        must(store.get_execution(x.id).await, "get_execution"),
        got,
        "take_over_execution must return the stored row"
    );
    expect_err(
        store
            .renew_lease(x.id, &claim("worker-a", at(t, 61), 30))
            .await,
        Expect::Conflict,
        "renew_lease by the worker that lost the run",
    );
    for status in [
        Requested, Scheduled, Pending, Succeeded, Failed, Canceled, Abandoned,
    ] {
        let y = insert_execution(store, "alpha.flow", status, at(t, 100)).await;
        assert_eq!(
            must(
                store
                    .take_over_execution(y.id, &claim("worker-b", at(t, 200), 30))
                    .await,
                "take_over_execution",
            ),
            None,
            "a {status} execution must not be taken over"
        );
        assert_eq!(
            must(store.get_execution(y.id).await, "get_execution"),
            y,
            "a refused take-over changed a {status} row"
        );
    }
    expect_err(
        store
            .take_over_execution(ExecutionId::new(), &claim("worker-b", at(t, 200), 30))
            .await,
        Expect::NotFound,
        "take_over_execution of an unknown execution",
    );
}

/// [`Store::append_journal`] keeps entries per run in `seq` order, all of a call or none
/// (an existing `(execution, seq)` is a Conflict); [`Store::read_journal`] reads one run's.
pub async fn check_journal(store: &dyn Store) {
    let (a, b) = (ExecutionId::new(), ExecutionId::new());
    assert!(
        must(
            store.read_journal(a).await,
            "read_journal of a run with none"
        )
        .is_empty(),
        "a run with no journal reads empty"
    );
    must(
        store
            .append_journal(&[entry(a, 0), entry(b, 0), entry(a, 1)])
            .await,
        "append_journal of two runs",
    );
    must(store.append_journal(&[entry(a, 2)]).await, "append_journal");
    must(store.append_journal(&[]).await, "append_journal of nothing");
    let got = must(store.read_journal(a).await, "read_journal");
    assert_eq!(
        got,
        vec![entry(a, 0), entry(a, 1), entry(a, 2)],
        "read_journal must return the run's entries in seq order, as written"
    );
    expect_err(
        store.append_journal(&[entry(a, 3), entry(a, 1)]).await,
        Expect::Conflict,
        "append_journal of an existing (execution, seq)",
    );
    expect_err(
        store.append_journal(&[entry(b, 1), entry(b, 1)]).await,
        Expect::Conflict,
        "append_journal of one (execution, seq) twice in a call",
    );
    assert_eq!(
        must(store.read_journal(a).await, "read_journal").len(),
        3,
        "a refused append_journal must write none of its entries"
    );
    assert_eq!(
        must(store.read_journal(b).await, "read_journal"),
        vec![entry(b, 0)],
        "a refused append_journal must write none of its entries"
    );
}

/// Retention deletes a run's journal with its execution, and keeps the journals of kept
/// executions.
pub async fn check_purge_removes_journal(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let old = insert_execution(store, "alpha.flow", Succeeded, at(t, 0)).await;
    let live = insert_execution(store, "alpha.flow", Running, at(t, 10)).await;
    let new = insert_execution(store, "alpha.flow", Failed, at(t, 100)).await;
    for x in [&old, &live, &new] {
        must(
            store
                .append_journal(&[entry(x.id, 0), entry(x.id, 1)])
                .await,
            "append_journal",
        );
    }
    let request = PurgeRequest {
        before: Some(at(t, 50)),
        keep_executions: None,
        keep_events_from: None,
        batch: 100,
    };
    must(store.purge(&request).await, "purge(before)");
    expect_err(
        store.get_execution(old.id).await,
        Expect::NotFound,
        "get_execution of a purged execution",
    );
    assert!(
        must(store.read_journal(old.id).await, "read_journal").is_empty(),
        "purge must delete the journal of a purged execution"
    );
    for x in [&live, &new] {
        assert_eq!(
            must(store.read_journal(x.id).await, "read_journal").len(),
            2,
            "purge must keep the journal of a kept execution"
        );
    }
}

/// Retention keeps the task executions of a workflow that has not ended (its run continues
/// from them after a restart), and deletes those of an ended one.
pub async fn check_purge_keeps_tasks_of_running_workflows(store: &dyn Store) {
    use ExecutionStatus::*;
    let t = epoch();
    let running = insert_execution(store, "alpha.flow", Running, at(t, 0)).await;
    let ended = insert_execution(store, "alpha.flow", Succeeded, at(t, 1)).await;
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for i in 0..3 {
        let mut k = execution("alpha.task", Succeeded, at(t, 10 + i));
        k.parent = Some(running.id);
        must(store.insert_execution(&k).await, "insert_execution(task)");
        kept.push(k.id);
        let mut k = execution("alpha.task", Succeeded, at(t, 20 + i));
        k.parent = Some(ended.id);
        must(store.insert_execution(&k).await, "insert_execution(task)");
        gone.push(k.id);
    }
    let request = PurgeRequest {
        before: Some(at(t, 100)),
        keep_executions: None,
        keep_events_from: None,
        batch: 100,
    };
    must(store.purge(&request).await, "purge(before)");
    for id in &kept {
        must(
            store.get_execution(*id).await,
            "purge must keep the task executions of a workflow that has not ended",
        );
    }
    for id in &gone {
        expect_err(
            store.get_execution(*id).await,
            Expect::NotFound,
            "get_execution of a purged task of an ended workflow",
        );
    }
    must(
        store.get_execution(running.id).await,
        "the running workflow stays",
    );
}
