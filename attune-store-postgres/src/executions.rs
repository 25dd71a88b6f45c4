//! Executions: inserts, compare-and-set transitions, claims and leases, queries.
//!
//! Every change is one `UPDATE ... WHERE` whose condition is the compare-and-set (the
//! status the caller expects, the worker that holds the claim, the lease that expired), so
//! that concurrent processes never both win: PostgreSQL re-checks the condition on the
//! newest row version before it updates. The state machine is a function of `(from, to)`
//! and is checked before the statement; what did not apply is then looked up once to say
//! why (NotFound, Conflict, IllegalTransition). Claims of ready work lock with
//! `FOR UPDATE SKIP LOCKED`, so claimers in other processes take other rows instead of
//! waiting.

use crate::error::{Res, is_unique_violation};
use crate::filter::{Arg, Where};
use crate::rows::{
    EXEC_COLS, EXEC_COLS_X, claim_statuses, exec_at, limit, micros, nanos, opt_nanos, result_text,
    to_body,
};
use attune_core::model::{Execution, ExecutionId, ExecutionStatus};
use attune_core::store::{Claim, Claimed, ExecutionChange, ExecutionFilter, ExecutionHead, Page};
use attune_core::{Error, Result};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Executions as the column arrays of one `INSERT ... SELECT * FROM unnest(...)`.
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    action: Vec<String>,
    enforcement: Vec<Option<Uuid>>,
    event: Vec<Option<Uuid>>,
    rule: Vec<Option<String>>,
    parent: Vec<Option<Uuid>>,
    retry_of: Vec<Option<Uuid>>,
    created: Vec<i64>,
    status: Vec<&'static str>,
    attempt: Vec<i32>,
    worker: Vec<Option<String>>,
    lease: Vec<Option<i64>>,
    updated: Vec<i64>,
    started: Vec<Option<i64>>,
    finished: Vec<Option<i64>>,
    result: Vec<Option<String>>,
    error: Vec<Option<String>>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    body: Vec<String>,
}

impl Columns {
    /// Adds `x`; nothing is added when it does not serialize.
    fn push(&mut self, x: &Execution) -> Res<()> {
        let attempt = i32::try_from(x.attempt).map_err(|_| {
            Error::invalid(
                format!("execution '{}'", x.id),
                format!("attempt {} is out of range", x.attempt),
            )
        })?;
        let body = to_body("execution", x)?;
        let result = result_text(&x.result)?;
        let (lease, updated) = (opt_nanos(x.lease_expires)?, nanos(x.updated)?);
        let (started, finished) = (opt_nanos(x.started)?, opt_nanos(x.finished)?);
        self.id.push(x.id.into());
        self.action.push(x.action.to_string());
        self.enforcement.push(x.enforcement.map(Into::into));
        self.event.push(x.event.map(Into::into));
        self.rule.push(x.rule.as_deref().map(String::from));
        self.parent.push(x.parent.map(Into::into));
        self.retry_of.push(x.retry_of.map(Into::into));
        self.created.push(micros(x.created));
        self.status.push(x.status.as_str());
        self.attempt.push(attempt);
        self.worker.push(x.worker.as_deref().map(String::from));
        self.lease.push(lease);
        self.updated.push(updated);
        self.started.push(started);
        self.finished.push(finished);
        self.result.push(result);
        self.error.push(x.error.clone());
        self.stdout.push(x.stdout.clone());
        self.stderr.push(x.stderr.clone());
        self.body.push(body);
        Ok(())
    }

    /// Inserts the rows that take no unique key another row holds; the ids inserted.
    /// Enforcements that name an inserted execution are no longer done (retention).
    async fn insert(self, conn: &mut PgConnection, outbox: bool) -> Res<HashSet<Uuid>> {
        if self.id.is_empty() {
            return Ok(HashSet::new());
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH ins AS ( \
               INSERT INTO executions (id, action_ref, enforcement_id, event_id, rule_ref, \
                 parent_id, retry_of, created, status, attempt, worker, lease_ns, updated_ns, \
                 started_ns, finished_ns, result, error, stdout, stderr, body) \
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], \
                 $5::text[], $6::uuid[], $7::uuid[], $8::int8[], $9::text[], $10::int4[], \
                 $11::text[], $12::int8[], $13::int8[], $14::int8[], $15::int8[], \
                 $16::text[], $17::text[], $18::text[], $19::text[], $20::text[]) \
               ON CONFLICT DO NOTHING RETURNING id, status), \
             undone AS (DELETE FROM done_enforcements d USING enforcements f \
               WHERE d.id = f.id AND f.execution_id IN (SELECT id FROM ins)){} \
             SELECT id FROM ins",
            crate::outbox::created(outbox, "ins")
        )))
        .bind(&self.id)
        .bind(&self.action)
        .bind(&self.enforcement)
        .bind(&self.event)
        .bind(&self.rule)
        .bind(&self.parent)
        .bind(&self.retry_of)
        .bind(&self.created)
        .bind(&self.status)
        .bind(&self.attempt)
        .bind(&self.worker)
        .bind(&self.lease)
        .bind(&self.updated)
        .bind(&self.started)
        .bind(&self.finished)
        .bind(&self.result)
        .bind(&self.error)
        .bind(&self.stdout)
        .bind(&self.stderr)
        .bind(&self.body)
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<Uuid, _>(0).map_err(Into::into))
            .collect()
    }
}

/// Inserts executions; for each, in order, `None` when inserted or the Conflict that kept
/// it out (its id, or its `(enforcement, attempt)`, is taken — also by an earlier item).
pub(crate) async fn insert_many(
    conn: &mut PgConnection,
    xs: &[&Execution],
    outbox: bool,
) -> Res<Vec<Option<Error>>> {
    let mut cols = Columns::default();
    let mut out: Vec<Option<Error>> = Vec::with_capacity(xs.len());
    for x in xs {
        match cols.push(x) {
            Ok(()) => out.push(None),
            Err(f) => out.push(Some(f.into())),
        }
    }
    let mut new = cols.insert(conn, outbox).await?;
    for (x, slot) in xs.iter().zip(out.iter_mut()) {
        if slot.is_none() && !new.remove(&Uuid::from(x.id)) {
            *slot = Some(insert_conflict(conn, x).await?);
        }
    }
    Ok(out)
}

/// Inserts one execution; Conflict if its id, or its `(enforcement, attempt)`, exists.
pub(crate) async fn insert(pool: &PgPool, x: &Execution, outbox: bool) -> Res<()> {
    let mut conn = pool.acquire().await?;
    match insert_many(&mut conn, &[x], outbox).await?.pop().flatten() {
        None => Ok(()),
        Some(e) => Err(e.into()),
    }
}

/// Inserts executions in one statement; one result per execution, in order.
pub(crate) async fn insert_batch(
    pool: &PgPool,
    xs: &[Execution],
    outbox: bool,
) -> Res<Vec<Result<()>>> {
    let mut conn = pool.acquire().await?;
    let refs: Vec<&Execution> = xs.iter().collect();
    Ok(insert_many(&mut conn, &refs, outbox)
        .await?
        .into_iter()
        .map(|e| match e {
            None => Ok(()),
            Some(e) => Err(e),
        })
        .collect())
}

/// Which unique key an insert hit.
async fn insert_conflict(conn: &mut PgConnection, x: &Execution) -> Res<Error> {
    let exists = sqlx::query("SELECT 1 FROM executions WHERE id = $1")
        .bind(Uuid::from(x.id))
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if exists {
        return Ok(Error::Conflict(format!("execution '{}' exists", x.id)));
    }
    if let Some(enf) = x.enforcement {
        let other =
            sqlx::query("SELECT id FROM executions WHERE enforcement_id = $1 AND attempt = $2")
                .bind(Uuid::from(enf))
                .bind(x.attempt as i32)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(r) = other {
            return Ok(Error::Conflict(format!(
                "enforcement '{enf}' already has execution '{}' for attempt {}",
                r.try_get::<Uuid, _>(0)?,
                x.attempt
            )));
        }
    }
    Ok(Error::Conflict(format!(
        "execution '{}' conflicts with a stored one",
        x.id
    )))
}

/// The current `(status, worker)` of each of `ids` that exists.
async fn statuses(pool: &PgPool, ids: &[Uuid]) -> Res<HashMap<Uuid, (String, Option<String>)>> {
    let rows = sqlx::query("SELECT id, status, worker FROM executions WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        out.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
    }
    Ok(out)
}

/// Applies transitions, each a compare-and-set; one result per input, in order, with the
/// new row when `want_rows`. Items on the same execution apply in their order (in
/// successive statements); the others together.
pub(crate) async fn transition_many(
    pool: &PgPool,
    changes: Vec<(ExecutionId, ExecutionStatus, ExecutionChange)>,
    want_rows: bool,
    outbox: bool,
) -> Res<Vec<Result<Option<Execution>>>> {
    let n = changes.len();
    let mut out: Vec<Option<Result<Option<Execution>>>> = (0..n).map(|_| None).collect();
    // Wave k holds the k-th change of each execution.
    let mut seen: HashMap<ExecutionId, usize> = HashMap::new();
    let mut waves: Vec<Vec<(usize, ExecutionId, ExecutionStatus, ExecutionChange)>> = Vec::new();
    for (i, (id, from, change)) in changes.into_iter().enumerate() {
        let k = seen.entry(id).or_insert(0);
        if waves.len() <= *k {
            waves.push(Vec::new());
        }
        waves[*k].push((i, id, from, change));
        *k += 1;
    }
    for wave in waves {
        apply_wave(pool, wave, want_rows, outbox, &mut out).await?;
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every change has a result"))
        .collect())
}

/// One statement for changes of distinct executions; see [`transition_many`].
async fn apply_wave(
    pool: &PgPool,
    wave: Vec<(usize, ExecutionId, ExecutionStatus, ExecutionChange)>,
    want_rows: bool,
    outbox: bool,
    out: &mut [Option<Result<Option<Execution>>>],
) -> Res<()> {
    let mut ids = Vec::new();
    let mut froms = Vec::new();
    let mut tos = Vec::new();
    let mut ats = Vec::new();
    let mut terminal = Vec::new();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut stdouts = Vec::new();
    let mut stderrs = Vec::new();
    let mut sent: HashMap<Uuid, (usize, ExecutionStatus, ExecutionStatus)> = HashMap::new();
    for (i, id, from, change) in wave {
        if !from.can_transition_to(change.to) {
            // Looked up below: NotFound and Conflict come before IllegalTransition.
            sent.insert(id.into(), (i, from, change.to));
            continue;
        }
        let (at, result) = match (nanos(change.at), result_text(&change.result)) {
            (Ok(at), Ok(result)) => (at, result),
            (Err(f), _) | (_, Err(f)) => {
                out[i] = Some(Err(f.into()));
                continue;
            }
        };
        sent.insert(id.into(), (i, from, change.to));
        ids.push(Uuid::from(id));
        froms.push(from.as_str());
        tos.push(change.to.as_str());
        ats.push(at);
        terminal.push(change.to.is_terminal());
        results.push(result);
        errors.push(change.error);
        stdouts.push(change.stdout);
        stderrs.push(change.stderr);
    }
    if !ids.is_empty() {
        let returning = if want_rows { EXEC_COLS_X } else { "x.id" };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH up AS (UPDATE executions x SET status = c.to_s, updated_ns = c.at, \
               started_ns = CASE WHEN c.to_s = 'running' THEN coalesce(x.started_ns, c.at) \
                 ELSE x.started_ns END, \
               finished_ns = CASE WHEN c.term THEN c.at ELSE x.finished_ns END, \
               worker = CASE WHEN c.term THEN NULL ELSE x.worker END, \
               lease_ns = CASE WHEN c.term THEN NULL ELSE x.lease_ns END, \
               result = coalesce(c.result, x.result), error = coalesce(c.error, x.error), \
               stdout = coalesce(c.stdout, x.stdout), stderr = coalesce(c.stderr, x.stderr) \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::bool[], \
               $6::text[], $7::text[], $8::text[], $9::text[]) \
               AS c(id, from_s, to_s, at, term, result, error, stdout, stderr) \
             WHERE x.id = c.id AND x.status = c.from_s \
             RETURNING x.id AS out_id, c.to_s AS out_status, c.term AS out_term, {returning}){} \
             SELECT * FROM up",
            crate::outbox::transitions(outbox, "up")
        )))
        .bind(&ids)
        .bind(&froms)
        .bind(&tos)
        .bind(&ats)
        .bind(&terminal)
        .bind(&results)
        .bind(&errors)
        .bind(&stdouts)
        .bind(&stderrs)
        .fetch_all(pool)
        .await?;
        for r in rows {
            let id: Uuid = r.try_get(0)?;
            if let Some((i, _, _)) = sent.remove(&id) {
                out[i] = Some(Ok(if want_rows {
                    Some(exec_at(&r, 3)?)
                } else {
                    None
                }));
            }
        }
    }
    if sent.is_empty() {
        return Ok(());
    }
    let missed: Vec<Uuid> = sent.keys().copied().collect();
    let found = statuses(pool, &missed).await?;
    for (uuid, (i, from, to)) in sent {
        let id = ExecutionId(uuid);
        out[i] = Some(Err(match found.get(&uuid) {
            None => Error::not_found("execution", id),
            Some((status, _)) if status != from.as_str() => {
                Error::Conflict(format!("execution '{id}' is {status} (expected {from})"))
            }
            Some(_) => match from.check_transition(to, id) {
                Err(e) => e,
                Ok(()) => Error::Conflict(format!(
                    "execution '{id}' changed while it was being moved to {to}"
                )),
            },
        }));
    }
    Ok(())
}

/// The SET list of a claim: running under `$2` (worker) until `$3` (lease) from `$4` (now).
const CLAIM_SET: &str = "status = 'running', worker = $2, lease_ns = $3, updated_ns = $4, \
     started_ns = coalesce(x.started_ns, $4)";

/// Claims each of `ids` that is `scheduled`; one result per id, in order: the row, `None`
/// when it is not claimable (or repeats an earlier id), NotFound when it does not exist.
pub(crate) async fn claim_many(
    pool: &PgPool,
    ids: &[ExecutionId],
    claim: &Claim,
) -> Res<Vec<Result<Option<Execution>>>> {
    let uuids: Vec<Uuid> = ids.iter().map(|i| Uuid::from(*i)).collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE executions x SET {CLAIM_SET} WHERE x.id = ANY($1) AND x.status = 'scheduled' \
         RETURNING x.id, {EXEC_COLS_X}"
    )))
    .bind(&uuids)
    .bind(claim.worker.as_str())
    .bind(nanos(claim.lease_until)?)
    .bind(nanos(claim.now)?)
    .fetch_all(pool)
    .await?;
    let mut claimed: HashMap<Uuid, Execution> = HashMap::with_capacity(rows.len());
    for r in &rows {
        claimed.insert(r.try_get(0)?, exec_at(r, 1)?);
    }
    let unclaimed: Vec<Uuid> = uuids
        .iter()
        .filter(|u| !claimed.contains_key(u))
        .copied()
        .collect();
    let existing = if unclaimed.is_empty() {
        HashMap::new()
    } else {
        statuses(pool, &unclaimed).await?
    };
    Ok(ids
        .iter()
        .map(|id| match claimed.remove(&Uuid::from(*id)) {
            Some(x) => Ok(Some(x)),
            None if existing.contains_key(&Uuid::from(*id)) || uuids_repeat(ids, *id) => Ok(None),
            None => Err(Error::not_found("execution", id)),
        })
        .collect())
}

/// Whether `id` appears in `ids` more than once (its later places were not claimed, but
/// it exists).
fn uuids_repeat(ids: &[ExecutionId], id: ExecutionId) -> bool {
    ids.iter().filter(|i| **i == id).count() > 1
}

/// Whether the next attempt of the row `x` exists (SQL condition): a reclaim or take-over,
/// which takes that attempt, is then refused.
const NEXT_ATTEMPT_FREE: &str = "(x.enforcement_id IS NULL OR NOT EXISTS (SELECT 1 FROM \
     executions y WHERE y.enforcement_id = x.enforcement_id AND y.attempt = x.attempt + 1))";

/// Claims up to `n` executions, oldest first: `running` ones whose lease expired before
/// `claim.now` (reclaims, attempt + 1), then `scheduled` ones.
pub(crate) async fn claim_ready(pool: &PgPool, claim: &Claim, n: usize) -> Res<Vec<Claimed>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let (lease, now) = (nanos(claim.lease_until)?, nanos(claim.now)?);
    let mut out = Vec::new();
    let reclaimed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH picked AS (SELECT x.id FROM executions x WHERE x.status = 'running' \
           AND x.lease_ns <= $4 AND {NEXT_ATTEMPT_FREE} ORDER BY x.id LIMIT $1 \
           FOR UPDATE SKIP LOCKED) \
         UPDATE executions x SET {CLAIM_SET}, attempt = x.attempt + 1 FROM picked \
         WHERE x.id = picked.id RETURNING {EXEC_COLS_X}"
    )))
    .bind(limit(n))
    .bind(claim.worker.as_str())
    .bind(lease)
    .bind(now)
    .fetch_all(pool)
    .await;
    // A retry inserted at the same moment takes the next attempt: nothing is reclaimed.
    let reclaimed = match reclaimed {
        Err(e) if is_unique_violation(&e) => Vec::new(),
        other => other?,
    };
    for r in &reclaimed {
        out.push(Claimed {
            execution: exec_at(r, 0)?,
            reclaimed: true,
        });
    }
    let room = n.saturating_sub(out.len());
    if room > 0 {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH picked AS (SELECT id FROM executions WHERE status = 'scheduled' \
               ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             UPDATE executions x SET {CLAIM_SET} FROM picked WHERE x.id = picked.id \
             RETURNING {EXEC_COLS_X}"
        )))
        .bind(limit(room))
        .bind(claim.worker.as_str())
        .bind(lease)
        .bind(now)
        .fetch_all(pool)
        .await?;
        for r in &rows {
            out.push(Claimed {
                execution: exec_at(r, 0)?,
                reclaimed: false,
            });
        }
    }
    out.sort_by_key(|c| c.execution.id);
    Ok(out)
}

/// Takes over an execution whose worker was lost (see `Store::take_over_execution`).
pub(crate) async fn take_over(
    pool: &PgPool,
    id: ExecutionId,
    claim: &Claim,
) -> Res<Option<Execution>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE executions x SET worker = $2, lease_ns = $3, updated_ns = $4, \
           attempt = x.attempt + 1 \
         WHERE x.id = $1 AND x.status = ANY($5) AND (x.lease_ns IS NULL OR x.lease_ns <= $4) \
           AND {NEXT_ATTEMPT_FREE} RETURNING {EXEC_COLS_X}"
    )))
    .bind(Uuid::from(id))
    .bind(claim.worker.as_str())
    .bind(nanos(claim.lease_until)?)
    .bind(nanos(claim.now)?)
    .bind(claim_statuses())
    .fetch_optional(pool)
    .await;
    let row = match row {
        Err(e) if is_unique_violation(&e) => None,
        other => other?,
    };
    match row {
        Some(r) => Ok(Some(exec_at(&r, 0)?)),
        None if exists(pool, id).await? => Ok(None),
        None => Err(Error::not_found("execution", id).into()),
    }
}

/// Extends the lease of an execution held by `claim.worker`.
pub(crate) async fn renew_lease(pool: &PgPool, id: ExecutionId, claim: &Claim) -> Res<()> {
    let n = sqlx::query(
        "UPDATE executions SET lease_ns = $3 WHERE id = $1 AND worker = $2 AND status = ANY($4)",
    )
    .bind(Uuid::from(id))
    .bind(claim.worker.as_str())
    .bind(nanos(claim.lease_until)?)
    .bind(claim_statuses())
    .execute(pool)
    .await?
    .rows_affected();
    if n > 0 {
        Ok(())
    } else if exists(pool, id).await? {
        Err(Error::Conflict(format!(
            "execution '{id}' is not held by worker '{}'",
            claim.worker
        ))
        .into())
    } else {
        Err(Error::not_found("execution", id).into())
    }
}

async fn exists(pool: &PgPool, id: ExecutionId) -> Res<bool> {
    Ok(sqlx::query("SELECT 1 FROM executions WHERE id = $1")
        .bind(Uuid::from(id))
        .fetch_optional(pool)
        .await?
        .is_some())
}

/// Reads an execution.
pub(crate) async fn get(pool: &PgPool, id: ExecutionId) -> Res<Execution> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EXEC_COLS} FROM executions WHERE id = $1"
    )))
    .bind(Uuid::from(id))
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => exec_at(&r, 0),
        None => Err(Error::not_found("execution", id).into()),
    }
}

/// Reads executions with one query: one result per id, in order (NotFound for one not
/// stored).
pub(crate) async fn get_many(pool: &PgPool, ids: &[ExecutionId]) -> Res<Vec<Result<Execution>>> {
    let sql = format!("SELECT id, {EXEC_COLS} FROM executions WHERE id = ANY($1)");
    crate::rows::by_ids(pool, sql, ids, "execution", |r| exec_at(r, 1)).await
}

/// The runner and status of executions with one query, without reading whole records:
/// one result per id, in order (NotFound for one not stored).
pub(crate) async fn heads(pool: &PgPool, ids: &[ExecutionId]) -> Res<Vec<Result<ExecutionHead>>> {
    let sql = "SELECT id, status, body::jsonb ->> 'runner' FROM executions WHERE id = ANY($1)"
        .to_string();
    crate::rows::by_ids(pool, sql, ids, "execution", |r| {
        let status: &str = r.try_get(1)?;
        let status = ExecutionStatus::parse(status)?;
        let runner: Option<String> = r.try_get(2)?;
        let Some(runner) = runner else {
            let id: Uuid = r.try_get(0)?;
            let what = format!("execution {id}: its stored body names no runner");
            return Err(Error::backend(what, false).into());
        };
        Ok(ExecutionHead::new(runner, status))
    })
    .await
}

/// The WHERE clause of `filter`; `None` when it matches nothing (an empty status list).
fn filter_where(filter: &ExecutionFilter) -> Option<Where> {
    let mut w = Where::default();
    if let Some(a) = &filter.action {
        w.eq("action_ref", Arg::Text(a.clone()));
    }
    if let Some(statuses) = &filter.status {
        match statuses.as_slice() {
            [] => return None,
            [one] => {
                w.eq("status", Arg::Text(one.as_str().to_string()));
            }
            many => {
                w.any_of(
                    "status",
                    many.iter().map(|s| s.as_str().to_string()).collect(),
                );
            }
        }
    }
    if let Some(x) = filter.enforcement {
        w.eq("enforcement_id", Arg::Id(x.into()));
    }
    if let Some(x) = filter.event {
        w.eq("event_id", Arg::Id(x.into()));
    }
    if let Some(x) = filter.parent {
        w.eq("parent_id", Arg::Id(x.into()));
    }
    if filter.top_level {
        w.is_null("parent_id");
    }
    if let Some(u) = &filter.user {
        // Kept in the body: a scan (an interactive filter).
        w.eq("(body::jsonb ->> 'user')", Arg::Text(u.clone()));
    }
    if filter.started_only {
        w.is_null("parent_id")
            .is_null("event_id")
            .is_null("retry_of");
    }
    if let Some(r) = &filter.rule {
        w.eq("rule_ref", Arg::Text(r.clone()));
    }
    if let Some(x) = filter.retry_of {
        w.eq("retry_of", Arg::Id(x.into()));
    }
    if let Some(s) = filter.since {
        w.cmp("created", ">=", Arg::Int(micros(s)));
    }
    if let Some(u) = filter.until {
        w.cmp("created", "<", Arg::Int(micros(u)));
    }
    Some(w)
}

/// Lists executions in id order.
pub(crate) async fn list(
    pool: &PgPool,
    filter: &ExecutionFilter,
    page: &Page,
) -> Res<Vec<Execution>> {
    match filter_where(filter) {
        None => Ok(Vec::new()),
        Some(w) => {
            w.page(
                pool,
                &format!("SELECT {EXEC_COLS} FROM executions"),
                "id",
                page,
                |r| exec_at(r, 0),
            )
            .await
        }
    }
}

/// Counts executions.
pub(crate) async fn count(pool: &PgPool, filter: &ExecutionFilter) -> Res<u64> {
    match filter_where(filter) {
        None => Ok(0),
        Some(w) => w.count(pool, "executions").await,
    }
}
