//! Execution filters and keyset pagination.

use super::{
    at, epoch, execution, execution_ids, insert_enforcement, insert_event, insert_execution, must,
};
use crate::Result;
use crate::model::{Enforcement, ExecutionId, ExecutionStatus};
use crate::store::{EnforcementFilter, EventFilter, ExecutionFilter, Page, Store};
use std::future::Future;
use uuid::Uuid;

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
