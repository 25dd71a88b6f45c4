//! Events, enforcements, executions (insert and get) and keys.

use super::{
    Expect, all_executions, at, claim, enforcement_ids, epoch, event_ids, execution, execution_ids,
    expect_err, insert_enforcement, insert_event, insert_execution, must,
};
use crate::model::{
    Enforcement, EnforcementId, EnforcementStatus, Event, EventId, ExecutionId, ExecutionStatus,
    Key, KeyScope,
};
use crate::store::{
    Enforced, EnforcementFilter, EnforcementUpdate, EventFilter, ExecutionChange, Inserted, Page,
    Store,
};
use chrono::{SubsecRound, TimeDelta, Utc};
use serde_json::json;

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
        trace_tag: None,
        unmatched_only: false,
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
        ..f()
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
    // A workflow's task: its parent and task are kept.
    let mut task = execution("alpha.action", ExecutionStatus::Requested, at(t, 2));
    task.parent = Some(x1.id);
    task.task = Some(crate::model::TaskRef {
        name: "fan".into(),
        route: 2,
        item: Some(7),
    });
    must(
        store.insert_execution(&task).await,
        "insert_execution(task)",
    );
    assert_eq!(
        must(store.get_execution(task.id).await, "get_execution(task)"),
        task,
        "a task execution keeps its parent and task"
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

/// Events are unmatched from insert until `mark_events_matched`; `unmatched_only` lists
/// exactly those, in id order, with the other filters and pagination; unknown ids are
/// ignored; `unmatched_events` tells the unmatched of given ids.
pub async fn check_events_matched(store: &dyn Store) {
    let t = epoch();
    let events: Vec<Event> = (0..5)
        .map(|i| Event::new("match.trigger", json!({"i": i}), at(t, i * 10)))
        .collect();
    for e in &events {
        must(store.insert_event(e).await, "insert_event");
    }
    let unmatched = |filter: EventFilter| async move {
        must(
            store.list_events(&filter, &Page::first(100)).await,
            "list_events unmatched",
        )
        .into_iter()
        .map(|e| e.id)
        .collect::<Vec<EventId>>()
    };
    let only = EventFilter {
        trigger: Some("match.trigger".into()),
        unmatched_only: true,
        ..EventFilter::default()
    };
    let all: Vec<EventId> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        unmatched(only.clone()).await,
        all,
        "new events are unmatched"
    );
    must(
        store
            .mark_events_matched(&[events[1].id, events[3].id, EventId::new()])
            .await,
        "mark_events_matched (with an unknown id)",
    );
    assert_eq!(
        unmatched(only.clone()).await,
        vec![events[0].id, events[2].id, events[4].id],
        "marked events are no longer listed as unmatched"
    );
    // Asked by id: in the order given, each once; marked and unknown ids left out.
    let asked = [
        events[4].id,
        events[1].id,
        EventId::new(),
        events[0].id,
        events[4].id,
    ];
    assert_eq!(
        must(store.unmatched_events(&asked).await, "unmatched_events"),
        vec![events[4].id, events[0].id],
        "unmatched_events: the unmatched of the ids, in order, each once"
    );
    assert!(
        must(
            store.unmatched_events(&[]).await,
            "unmatched_events of none"
        )
        .is_empty(),
        "unmatched_events of no ids"
    );
    let before = EventFilter {
        until: Some(at(t, 25)),
        ..only.clone()
    };
    assert_eq!(unmatched(before).await, vec![events[0].id, events[2].id]);
    let page = must(
        store
            .list_events(&only, &Page::after(events[0].id, 1))
            .await,
        "list_events unmatched, second page",
    );
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![events[2].id]
    );
    let every = EventFilter {
        trigger: Some("match.trigger".into()),
        ..EventFilter::default()
    };
    assert_eq!(
        unmatched(every).await.len(),
        5,
        "without unmatched_only, matched events are listed as usual"
    );
}

/// An enforcement of `rule` for `event`, `processed` with a new `requested` execution that
/// names it back.
fn enforced(rule: &str, event: &Event, created: chrono::DateTime<Utc>) -> Enforced {
    let mut e = Enforcement::new(rule, event.id, event.trigger.clone(), created);
    let mut x = execution("alpha.action", ExecutionStatus::Requested, created);
    x.enforcement = Some(e.id);
    x.event = Some(event.id);
    x.rule = Some(rule.into());
    EnforcementUpdate::processed(x.id, created).apply_to(&mut e);
    Enforced {
        enforcement: e,
        execution: Some(x),
    }
}

/// [`Store::insert_enforcements`]: one result per item, in order. A new item stores its
/// enforcement and execution as given; an existing `(rule, event)` — stored before or earlier
/// in the same call — returns the stored enforcement and writes nothing of the item; an
/// execution that would conflict leaves no enforcement either; an item whose enforcement and
/// execution do not name each other is Invalid; failed items do not stop the others.
pub async fn check_insert_enforcements(store: &dyn Store) {
    let t = epoch();
    let ev = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let a = enforced("alpha.r1", &ev, at(t, 1));
    let mut failed = Enforcement::new("alpha.r2", ev.id, "alpha.trigger", at(t, 1));
    EnforcementUpdate::failed(
        "params of action 'alpha.action': bad".into(),
        None,
        at(t, 1),
    )
    .apply_to(&mut failed);
    let b = Enforced {
        enforcement: failed.clone(),
        execution: None,
    };
    let same_rule = enforced("alpha.r1", &ev, at(t, 2));
    let mut clash = enforced("alpha.r3", &ev, at(t, 2));
    let mut taken = a.execution.clone().expect("an execution");
    taken.enforcement = Some(clash.enforcement.id);
    clash.enforcement.execution = Some(taken.id);
    clash.execution = Some(taken);
    let mut unnamed = enforced("alpha.r4", &ev, at(t, 2));
    unnamed.enforcement.execution = None;
    let after = enforced("alpha.r5", &ev, at(t, 3));
    let items = vec![
        a.clone(),
        b.clone(),
        same_rule.clone(),
        clash.clone(),
        unnamed.clone(),
        after.clone(),
    ];
    let got = store.insert_enforcements(&items).await;
    assert_eq!(got.len(), 6, "insert_enforcements: one result per item");
    let mut got = got.into_iter();
    for (item, what) in [(&a, "a new item"), (&b, "a failed enforcement")] {
        assert_eq!(
            must(got.next().expect("result"), "insert_enforcements"),
            Inserted::New,
            "{what} must be New"
        );
        assert_eq!(
            must(
                store.get_enforcement(item.enforcement.id).await,
                "get_enforcement"
            ),
            item.enforcement,
            "{what}: the enforcement must be stored as given"
        );
    }
    let ax = a.execution.as_ref().expect("an execution");
    assert_eq!(
        &must(store.get_execution(ax.id).await, "get_execution"),
        ax,
        "a new item's execution must be stored as given"
    );
    assert_eq!(
        must(
            got.next().expect("result"),
            "insert_enforcements (same rule, event)"
        ),
        Inserted::Existing(a.enforcement.clone()),
        "an item for an existing (rule, event) — inserted earlier in the same call — must \
         return the stored enforcement"
    );
    let dropped = same_rule.execution.as_ref().expect("an execution").id;
    expect_err(
        store.get_execution(dropped).await,
        Expect::NotFound,
        "the execution of an item that found its (rule, event) enforced must not be stored",
    );
    expect_err(
        got.next().expect("result"),
        Expect::Conflict,
        "an item whose execution id is taken",
    );
    expect_err(
        store.get_enforcement(clash.enforcement.id).await,
        Expect::NotFound,
        "an item whose execution conflicted must leave no enforcement",
    );
    expect_err(
        got.next().expect("result"),
        Expect::Invalid,
        "an item whose enforcement does not name its execution",
    );
    for x in [&unnamed.enforcement.id] {
        expect_err(
            store.get_enforcement(*x).await,
            Expect::NotFound,
            "an invalid item must write nothing",
        );
    }
    expect_err(
        store
            .get_execution(unnamed.execution.as_ref().expect("an execution").id)
            .await,
        Expect::NotFound,
        "an invalid item must write no execution",
    );
    assert_eq!(
        must(
            got.next().expect("result"),
            "insert_enforcements (after failures)"
        ),
        Inserted::New,
        "an item after failed ones must still be inserted"
    );
    let listed = must(
        store
            .list_enforcements(
                &EnforcementFilter {
                    event: Some(ev.id),
                    ..Default::default()
                },
                &Page::first(100),
            )
            .await,
        "list_enforcements(event)",
    );
    assert_eq!(
        enforcement_ids(&listed),
        vec![a.enforcement.id, failed.id, after.enforcement.id],
        "exactly the new items' enforcements must be stored"
    );
    assert!(
        store.insert_enforcements(&[]).await.is_empty(),
        "insert_enforcements of no items"
    );
}

/// [`Store::insert_events`]: one result per event, in order; a duplicate id — stored before
/// or earlier in the same call — is Conflict and leaves the stored event unchanged; the
/// others are stored (and unmatched) as given.
pub async fn check_insert_events(store: &dyn Store) {
    let t = epoch();
    let before = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let a = Event::new("alpha.trigger", json!({"n": 1}), at(t, 1));
    let mut again = before.clone();
    again.payload = json!({"changed": true});
    let b = Event::new("beta.trigger", json!([1, 2]), at(t, 2));
    let mut twice = a.clone();
    twice.payload = json!({"n": 2});
    let got = store
        .insert_events(&[a.clone(), again, b.clone(), twice])
        .await;
    assert_eq!(got.len(), 4, "insert_events: one result per event");
    let mut got = got.into_iter();
    must(got.next().expect("result"), "insert_events (new)");
    expect_err(
        got.next().expect("result"),
        Expect::Conflict,
        "insert_events of an id stored before",
    );
    must(
        got.next().expect("result"),
        "insert_events (new, after a conflict)",
    );
    expect_err(
        got.next().expect("result"),
        Expect::Conflict,
        "insert_events of an id given twice in one call",
    );
    for e in [&before, &a, &b] {
        assert_eq!(
            &must(store.get_event(e.id).await, "get_event"),
            e,
            "insert_events must store each new event as given, and leave stored ones"
        );
    }
    // Read together: one result per id, in order, NotFound for an unknown one.
    let unknown = EventId::new();
    let read = store.get_events(&[b.id, unknown, before.id, b.id]).await;
    assert_eq!(read.len(), 4, "get_events: one result per id");
    let mut read = read.into_iter();
    assert_eq!(must(read.next().expect("result"), "get_events"), b);
    expect_err(
        read.next().expect("result"),
        Expect::NotFound,
        "get_events of an id not stored",
    );
    assert_eq!(must(read.next().expect("result"), "get_events"), before);
    assert_eq!(
        must(
            read.next().expect("result"),
            "get_events (an id given twice)"
        ),
        b
    );
    let unmatched = must(
        store
            .list_events(
                &EventFilter {
                    unmatched_only: true,
                    ..Default::default()
                },
                &Page::first(10),
            )
            .await,
        "list_events(unmatched_only)",
    );
    assert_eq!(
        event_ids(&unmatched),
        vec![before.id, a.id, b.id],
        "events inserted together are unmatched"
    );
    assert!(
        store.insert_events(&[]).await.is_empty(),
        "insert_events of no events"
    );
}

/// `insert_executions`: one result per execution, in order; an id stored before, an id
/// given twice, and an `(enforcement, attempt)` taken are each a Conflict that leaves the
/// stored row and the others unaffected.
pub async fn check_insert_executions(store: &dyn Store) {
    let t = epoch();
    let before =
        insert_execution(store, "alpha.action", ExecutionStatus::Requested, at(t, 0)).await;
    let a = execution("alpha.action", ExecutionStatus::Requested, at(t, 1));
    let mut again = before.clone();
    again.action = "beta.action".into();
    let mut b = execution("beta.action", ExecutionStatus::Scheduled, at(t, 2));
    let enforcement = EnforcementId::new();
    b.enforcement = Some(enforcement);
    let mut twice = a.clone();
    twice.params = json!({"changed": true});
    let mut same_attempt = execution("beta.action", ExecutionStatus::Requested, at(t, 3));
    same_attempt.enforcement = Some(enforcement);
    let got = store
        .insert_executions(&[a.clone(), again, b.clone(), twice, same_attempt.clone()])
        .await;
    assert_eq!(got.len(), 5, "insert_executions: one result per execution");
    let mut got = got.into_iter();
    must(got.next().expect("result"), "insert_executions (new)");
    expect_err(
        got.next().expect("result"),
        Expect::Conflict,
        "insert_executions of an id stored before",
    );
    must(
        got.next().expect("result"),
        "insert_executions (new, after a conflict)",
    );
    expect_err(
        got.next().expect("result"),
        Expect::Conflict,
        "insert_executions of an id given twice in one call",
    );
    expect_err(
        got.next().expect("result"),
        Expect::Conflict,
        "insert_executions of an (enforcement, attempt) taken in the same call",
    );
    for x in [&before, &a, &b] {
        assert_eq!(
            &must(store.get_execution(x.id).await, "get_execution"),
            x,
            "insert_executions must store each new execution as given, and leave stored ones"
        );
    }
    expect_err(
        store.get_execution(same_attempt.id).await,
        Expect::NotFound,
        "an execution refused by insert_executions",
    );
    assert!(
        store.insert_executions(&[]).await.is_empty(),
        "insert_executions of nothing"
    );
    // Read together: one result per id, in order, NotFound for an unknown one (and for
    // the refused one), an id given twice read twice.
    let read = store
        .get_executions(&[b.id, ExecutionId::new(), before.id, same_attempt.id, b.id])
        .await;
    assert_eq!(read.len(), 5, "get_executions: one result per id");
    let mut read = read.into_iter();
    assert_eq!(must(read.next().expect("result"), "get_executions"), b);
    expect_err(
        read.next().expect("result"),
        Expect::NotFound,
        "get_executions of an id not stored",
    );
    assert_eq!(must(read.next().expect("result"), "get_executions"), before);
    expect_err(
        read.next().expect("result"),
        Expect::NotFound,
        "get_executions of an execution insert_executions refused",
    );
    assert_eq!(
        must(
            read.next().expect("result"),
            "get_executions (an id given twice)"
        ),
        b
    );
    assert!(
        store.get_executions(&[]).await.is_empty(),
        "get_executions of nothing"
    );
    // Their heads: runner and current status, after a status change too.
    must(
        store
            .transition_execution(
                b.id,
                ExecutionStatus::Scheduled,
                ExecutionChange::to(ExecutionStatus::Canceled, at(t, 4)),
            )
            .await,
        "transition_execution",
    );
    let heads = store
        .get_execution_heads(&[before.id, ExecutionId::new(), b.id])
        .await;
    assert_eq!(heads.len(), 3, "get_execution_heads: one result per id");
    let mut heads = heads.into_iter();
    let want = |x: &crate::model::Execution, status| {
        let mut h = crate::store::ExecutionHead::of(x);
        h.status = status;
        h
    };
    assert_eq!(
        must(heads.next().expect("result"), "get_execution_heads"),
        want(&before, ExecutionStatus::Requested)
    );
    expect_err(
        heads.next().expect("result"),
        Expect::NotFound,
        "get_execution_heads of an id not stored",
    );
    assert_eq!(
        must(heads.next().expect("result"), "get_execution_heads"),
        want(&b, ExecutionStatus::Canceled),
        "a head has the status of the last change"
    );
}
