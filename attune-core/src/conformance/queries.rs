//! Filters (lists and counts of events, enforcements and executions) and keyset
//! pagination.

use super::{
    at, enforcement_ids, epoch, event_ids, execution, execution_ids, insert_enforcement,
    insert_event, insert_execution, must,
};
use crate::Result;
use crate::model::{
    Enforcement, EnforcementId, EnforcementStatus, Event, EventId, Execution, ExecutionId,
    ExecutionStatus,
};
use crate::store::{EnforcementFilter, EventFilter, ExecutionFilter, Page, Store};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::future::Future;
use uuid::Uuid;

/// `list_events` and `count_events` with each filter (trigger, trace tag, since — inclusive —, until —
/// exclusive —, unmatched only) and combinations: exactly the matching rows, in id order,
/// and a count of as many.
pub async fn check_event_filters(store: &dyn Store) {
    let t = epoch();
    let e1 = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let e2 = insert_event(store, "beta.trigger", at(t, 10)).await;
    // e3 carries a trace tag; e4 has one only inside its payload, which does not count.
    let mut e3 = Event::new("alpha.trigger", json!({}), at(t, 20));
    e3.trace_tag = Some("deploy-7".into());
    let e4 = Event::new("beta.trigger", json!({"trace_tag": "deploy-7"}), at(t, 30));
    for e in [&e3, &e4] {
        must(store.insert_event(e).await, "insert_event");
    }
    must(
        store.mark_events_matched(&[e1.id, e2.id]).await,
        "mark_events_matched",
    );
    let f = EventFilter::new;
    let cases: Vec<(&str, EventFilter, Vec<EventId>)> = vec![
        ("no filter", f(), vec![e1.id, e2.id, e3.id, e4.id]),
        ("trigger", f().trigger("alpha.trigger"), vec![e1.id, e3.id]),
        ("unknown trigger", f().trigger("alpha.none"), vec![]),
        ("since", f().since(at(t, 10)), vec![e2.id, e3.id, e4.id]),
        ("until", f().until(at(t, 20)), vec![e1.id, e2.id]),
        (
            "empty window",
            f().since(at(t, 10)).until(at(t, 10)),
            vec![],
        ),
        (
            "trigger and window",
            f().trigger("alpha.trigger")
                .since(at(t, 10))
                .until(at(t, 30)),
            vec![e3.id],
        ),
        ("trace tag", f().trace_tag("deploy-7"), vec![e3.id]),
        ("unknown trace tag", f().trace_tag("deploy-8"), vec![]),
        (
            "trace tag and trigger",
            f().trace_tag("deploy-7").trigger("beta.trigger"),
            vec![],
        ),
        ("unmatched only", f().unmatched_only(), vec![e3.id, e4.id]),
        (
            "unmatched and trigger",
            f().unmatched_only().trigger("beta.trigger"),
            vec![e4.id],
        ),
        (
            "unmatched and until",
            f().unmatched_only().until(at(t, 25)),
            vec![e3.id],
        ),
    ];
    for (name, filter, want) in cases {
        let got = must(
            store.list_events(&filter, &Page::first(100)).await,
            format!("list_events({name})"),
        );
        assert!(
            got.iter().all(|e| filter.admits(e)),
            "list_events({name}) returned a row the filter rejects"
        );
        assert_eq!(
            event_ids(&got),
            want,
            "list_events filtered by {name}: {filter:?}"
        );
        let n = must(
            store.count_events(&filter).await,
            format!("count_events({name})"),
        );
        assert_eq!(
            n,
            want.len() as u64,
            "count_events filtered by {name}: {filter:?}"
        );
    }
}

/// Inserts an enforcement of `rule` for `event` in `status`, created at `created`.
async fn insert_enforcement_in(
    store: &dyn Store,
    rule: &str,
    event: &Event,
    status: EnforcementStatus,
    created: DateTime<Utc>,
) -> Enforcement {
    let mut e = Enforcement::new(rule, event.id, event.trigger.clone(), created);
    e.status = status;
    let inserted = must(
        store.insert_enforcement(&e).await,
        format!("insert_enforcement({status} '{rule}')"),
    );
    assert!(
        inserted.is_new(),
        "insert_enforcement('{rule}') for a new (rule, event) must be New, got {inserted:?}"
    );
    e
}

/// `list_enforcements` and `count_enforcements` with each filter (rule, event, status,
/// since — inclusive —, until — exclusive —) and combinations: exactly the matching rows,
/// in id order, and a count of as many.
pub async fn check_enforcement_filters(store: &dyn Store) {
    use EnforcementStatus::*;
    let t = epoch();
    let ev1 = insert_event(store, "alpha.trigger", at(t, 0)).await;
    let ev2 = insert_event(store, "alpha.trigger", at(t, 1)).await;
    let a = insert_enforcement_in(store, "alpha.r1", &ev1, Processed, at(t, 2)).await;
    let b = insert_enforcement_in(store, "alpha.r2", &ev1, Failed, at(t, 3)).await;
    let c = insert_enforcement_in(store, "alpha.r1", &ev2, Created, at(t, 4)).await;
    let d = insert_enforcement_in(store, "alpha.r2", &ev2, Processed, at(t, 5)).await;
    let f = EnforcementFilter::new;
    let cases: Vec<(&str, EnforcementFilter, Vec<EnforcementId>)> = vec![
        ("no filter", f(), vec![a.id, b.id, c.id, d.id]),
        ("rule", f().rule("alpha.r1"), vec![a.id, c.id]),
        ("unknown rule", f().rule("alpha.none"), vec![]),
        ("event", f().event(ev1.id), vec![a.id, b.id]),
        ("unknown event", f().event(EventId::new()), vec![]),
        ("status", f().status(Processed), vec![a.id, d.id]),
        ("since", f().since(at(t, 4)), vec![c.id, d.id]),
        ("until", f().until(at(t, 4)), vec![a.id, b.id]),
        (
            "rule and status",
            f().rule("alpha.r2").status(Processed),
            vec![d.id],
        ),
        (
            "event, rule and since",
            f().event(ev2.id).rule("alpha.r1").since(at(t, 3)),
            vec![c.id],
        ),
        (
            "event and status",
            f().event(ev1.id).status(Created),
            vec![],
        ),
    ];
    for (name, filter, want) in cases {
        let got = must(
            store.list_enforcements(&filter, &Page::first(100)).await,
            format!("list_enforcements({name})"),
        );
        assert!(
            got.iter().all(|e| filter.admits(e)),
            "list_enforcements({name}) returned a row the filter rejects"
        );
        assert_eq!(
            enforcement_ids(&got),
            want,
            "list_enforcements filtered by {name}: {filter:?}"
        );
        let n = must(
            store.count_enforcements(&filter).await,
            format!("count_enforcements({name})"),
        );
        assert_eq!(
            n,
            want.len() as u64,
            "count_enforcements filtered by {name}: {filter:?}"
        );
    }
}

/// `list_executions` and `count_executions` with each filter (action, statuses, enforcement,
/// event, parent, rule, user, top level, started by a caller, since — inclusive —, until — exclusive —) and combinations: exactly
/// the matching rows, in id order.
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
    let mut x2 = caused("alpha.b", Succeeded, 6, &enf2);
    let x3 = child("alpha.a", Scheduled, 7);
    let mut x4 = child("alpha.a", Failed, 8);
    let mut x5 = execution("alpha.b", Requested, at(t, 9));
    let mut x6 = execution("alpha.c", Timeout, at(t, 10));
    x6.retry_of = Some(x5.id);
    // Who started them (a body field, not a column, on the SQL stores).
    x2.user = Some("ada".into());
    x4.user = Some("ada".into());
    x5.user = Some("bob".into());
    for x in [&x1, &x2, &x3, &x4, &x5, &x6] {
        must(store.insert_execution(x).await, "insert_execution");
    }
    let f = ExecutionFilter::default;
    let cases: Vec<(&str, ExecutionFilter, Vec<ExecutionId>)> = vec![
        (
            "no filter",
            f(),
            vec![parent.id, x1.id, x2.id, x3.id, x4.id, x5.id, x6.id],
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
        (
            "top level",
            f().top_level(),
            vec![parent.id, x1.id, x2.id, x5.id, x6.id],
        ),
        (
            "started by a caller (no event, parent or first attempt)",
            f().started_only(),
            vec![parent.id, x5.id],
        ),
        ("user", f().user("ada"), vec![x2.id, x4.id]),
        ("unknown user", f().user("eve"), vec![]),
        (
            "user and status",
            f().user("ada").with_status([Failed]),
            vec![x4.id],
        ),
        (
            "started and action",
            f().started_only().action("alpha.b"),
            vec![x5.id],
        ),
        (
            "top level and action",
            f().top_level().action("alpha.a"),
            vec![x1.id],
        ),
        (
            "since",
            f().since(at(t, 7)),
            vec![x3.id, x4.id, x5.id, x6.id],
        ),
        ("until", f().until(at(t, 6)), vec![parent.id, x1.id]),
        (
            "action and window",
            f().action("alpha.a").since(at(t, 5)).until(at(t, 8)),
            vec![x1.id, x3.id],
        ),
        (
            "statuses added one by one",
            f().status(Requested).status(Failed),
            vec![x1.id, x4.id, x5.id],
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
async fn walk<T, F, Fut>(list: F, limit: usize, id: fn(&T) -> Uuid, what: &str) -> Vec<Uuid>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    walk_in(false, list, limit, id, what).await
}

/// Walks a list page by page with keyset cursors, newest first or oldest first; the ids
/// seen, in order (each page checked to hold at most `limit` rows, in order).
async fn walk_in<T, F, Fut>(
    newest: bool,
    mut list: F,
    limit: usize,
    id: fn(&T) -> Uuid,
    what: &str,
) -> Vec<Uuid>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut seen: Vec<Uuid> = Vec::new();
    let mut page = if newest {
        Page::newest(limit)
    } else {
        Page::first(limit)
    };
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
                seen.last()
                    .is_none_or(|p| if newest { *p > i } else { *p < i }),
                "{what}: ids must strictly follow the page order across pages ({i} after {seen:?})"
            );
            seen.push(i);
        }
        page = if newest {
            Page::before(last, limit)
        } else {
            Page::after(last, limit)
        };
    }
    panic!("{what}: pagination does not end");
}

/// Newest-first pages (`Page::newest`, `Page::before(last id)`) walk every event,
/// enforcement and execution exactly once in descending id order, with and without a
/// filter; `Page::skip(n)` skips `n` rows past the cursor in either order (past the end: an
/// empty page).
pub async fn check_pagination_order_and_offset(store: &dyn Store) {
    const N: usize = 23;
    let t = epoch();
    let (mut events, mut enforcements, mut executions, mut odd) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..N {
        let action = if i % 2 == 1 {
            "order.odd"
        } else {
            "order.even"
        };
        let ev = insert_event(store, "order.trigger", at(t, 3 * i as i64)).await;
        let enf = insert_enforcement(store, "order.rule", &ev, at(t, 3 * i as i64 + 1)).await;
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
    let odd_filter = ExecutionFilter::new().action("order.odd");
    let events_filter = EventFilter::default();
    let enforcements_filter = EnforcementFilter::default();
    for limit in [1, 4, N, N + 2] {
        let (all, odd_filter) = (&all, &odd_filter);
        let (events_filter, enforcements_filter) = (&events_filter, &enforcements_filter);
        for (got, want, what) in [
            (
                walk_in(
                    true,
                    |p| async move { store.list_executions(all, &p).await },
                    limit,
                    |x| x.id.0,
                    "list_executions",
                )
                .await,
                &executions,
                "list_executions",
            ),
            (
                walk_in(
                    true,
                    |p| async move { store.list_executions(odd_filter, &p).await },
                    limit,
                    |x| x.id.0,
                    "list_executions(action)",
                )
                .await,
                &odd,
                "list_executions(action)",
            ),
            (
                walk_in(
                    true,
                    |p| async move { store.list_events(events_filter, &p).await },
                    limit,
                    |x| x.id.0,
                    "list_events",
                )
                .await,
                &events,
                "list_events",
            ),
            (
                walk_in(
                    true,
                    |p| async move { store.list_enforcements(enforcements_filter, &p).await },
                    limit,
                    |x| x.id.0,
                    "list_enforcements",
                )
                .await,
                &enforcements,
                "list_enforcements",
            ),
        ] {
            let mut want = want.clone();
            want.reverse();
            assert_eq!(
                got, want,
                "newest-first paging of {what} by {limit} must see every row once, newest first"
            );
        }
    }
    let ids = |rows: Vec<Execution>| rows.into_iter().map(|x| x.id.0).collect::<Vec<_>>();
    let mut newest = executions.clone();
    newest.reverse();
    let mut odd_newest = odd.clone();
    odd_newest.reverse();
    for offset in [0, 1, 7, N - 1, N, N + 3] {
        let window = |list: &[Uuid]| {
            list.iter()
                .skip(offset)
                .take(5)
                .copied()
                .collect::<Vec<Uuid>>()
        };
        for (page, filter, want, what) in [
            (
                Page::first(5).skip(offset),
                &all,
                window(&executions),
                "oldest first",
            ),
            (
                Page::newest(5).skip(offset),
                &all,
                window(&newest),
                "newest first",
            ),
            (
                Page::newest(5).skip(offset),
                &odd_filter,
                window(&odd_newest),
                "newest first, filtered",
            ),
            (
                Page::before(executions[N - 3], 5).skip(offset),
                &all,
                window(&newest[3..]),
                "newest first, after a cursor",
            ),
            (
                Page::after(executions[2], 5).skip(offset),
                &all,
                window(&executions[3..]),
                "oldest first, after a cursor",
            ),
        ] {
            let got = ids(must(
                store.list_executions(filter, &page).await,
                format!("list_executions {page:?}"),
            ));
            assert_eq!(got, want, "list_executions {what}, skipping {offset}");
        }
    }
    let events_page = must(
        store
            .list_events(&EventFilter::default(), &Page::newest(3).skip(2))
            .await,
        "list_events(newest, skip 2)",
    );
    assert_eq!(
        events_page.iter().map(|e| e.id.0).collect::<Vec<_>>(),
        vec![events[N - 3], events[N - 4], events[N - 5]],
        "list_events newest first, skipping 2"
    );
    let unmatched = EventFilter {
        unmatched_only: true,
        ..EventFilter::default()
    };
    let unmatched_page = must(
        store
            .list_events(&unmatched, &Page::newest(2).skip(1))
            .await,
        "list_events(unmatched, newest, skip 1)",
    );
    assert_eq!(
        unmatched_page.iter().map(|e| e.id.0).collect::<Vec<_>>(),
        vec![events[N - 2], events[N - 3]],
        "unmatched events newest first, skipping 1"
    );
}

/// Keyset pagination (`Page::first`, `Page::after(last id)`) walks every event,
/// enforcement and execution exactly once in id order, with and without a filter; a cursor
/// past the last row gives an empty page; `count_events`, `count_enforcements` and
/// `count_executions` agree.
pub async fn check_pagination(store: &dyn Store) {
    const N: usize = 53;
    let t = epoch();
    let (mut events, mut enforcements, mut executions) = (Vec::new(), Vec::new(), Vec::new());
    let (mut odd, mut odd_events, mut odd_enforcements) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..N {
        let (trigger, rule, action) = if i % 2 == 1 {
            ("alpha.odd_trigger", "alpha.odd_rule", "alpha.odd")
        } else {
            ("alpha.trigger", "alpha.rule", "alpha.even")
        };
        let ev = insert_event(store, trigger, at(t, 3 * i as i64)).await;
        let enf = insert_enforcement(store, rule, &ev, at(t, 3 * i as i64 + 1)).await;
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
            odd_events.push(ev.id.0);
            odd_enforcements.push(enf.id.0);
        }
    }
    let all = ExecutionFilter::default();
    let odd_filter = ExecutionFilter::new().action("alpha.odd");
    let odd_event_filter = EventFilter::new().trigger("alpha.odd_trigger");
    let odd_enforcement_filter = EnforcementFilter::new().rule("alpha.odd_rule");
    for limit in [1, 10, N, N + 5] {
        let (all, odd_filter) = (&all, &odd_filter);
        let (odd_event_filter, odd_enforcement_filter) =
            (&odd_event_filter, &odd_enforcement_filter);
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
            |p| async move { store.list_events(odd_event_filter, &p).await },
            limit,
            |x| x.id.0,
            "list_events(trigger)",
        )
        .await;
        assert_eq!(
            got, odd_events,
            "paging filtered list_events by {limit} must see every match once, in id order"
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
        let got = walk(
            |p| async move { store.list_enforcements(odd_enforcement_filter, &p).await },
            limit,
            |x| x.id.0,
            "list_enforcements(rule)",
        )
        .await;
        assert_eq!(
            got, odd_enforcements,
            "paging filtered list_enforcements by {limit} must see every match once, in id order"
        );
    }
    for (what, n, want) in [
        (
            "count_events(all)",
            store.count_events(&EventFilter::default()).await,
            N,
        ),
        (
            "count_events(trigger)",
            store.count_events(&odd_event_filter).await,
            odd_events.len(),
        ),
        (
            "count_enforcements(all)",
            store
                .count_enforcements(&EnforcementFilter::default())
                .await,
            N,
        ),
        (
            "count_enforcements(rule)",
            store.count_enforcements(&odd_enforcement_filter).await,
            odd_enforcements.len(),
        ),
    ] {
        assert_eq!(must(n, what), want as u64, "{what}");
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
