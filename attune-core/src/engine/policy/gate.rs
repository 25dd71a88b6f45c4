//! The admission state of one action's concurrency and rate-limit policies, without I/O:
//! which executions hold a slot, which wait (first in, first out per combination of the
//! policies' attribute values), what the rate windows hold. The caller records what it
//! decides in the store; `policy/mod.rs` is that caller.
//!
//! Rules (stated in docs/packs.md, "Policies"):
//! - An execution is admitted when every concurrency policy of its action has a free slot
//!   for its attribute values and every rate limit has room in its window, and no earlier
//!   execution with the same attribute values waits.
//! - Otherwise it waits (`delayed`), unless a concurrency policy whose limit is reached
//!   says `cancel`: then it is canceled.
//! - A slot is held from admission until the execution ends.
//! - When a slot frees or a window moves on, the waiting executions are admitted oldest
//!   first (by id: request order) as long as they fit.

use crate::model::{ConcurrencyOverflow, ExecutionId, Policy, PolicyKind};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// The values of each concurrency policy's attributes for one execution: one string per
/// concurrency policy (empty when it has no attributes).
pub(crate) type Keys = Vec<String>;

/// A concurrency policy, as the gate applies it.
#[derive(Debug, Clone)]
struct Concurrency {
    policy: String,
    limit: u32,
    overflow: ConcurrencyOverflow,
    attributes: Vec<String>,
}

/// A rate limit, as the gate applies it.
#[derive(Debug, Clone)]
struct Rate {
    max: u32,
    window: Duration,
}

/// The gating policies of one action (its enabled concurrency and rate-limit policies).
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    concurrency: Vec<Concurrency>,
    rates: Vec<Rate>,
}

impl Rules {
    /// The gating rules among `policies` (enabled ones; retry policies are not gating).
    pub(crate) fn of<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Rules {
        let mut rules = Rules::default();
        let mut sorted: Vec<&Policy> = policies.into_iter().filter(|p| p.enabled).collect();
        sorted.sort_by(|a, b| a.policy_ref.cmp(&b.policy_ref));
        for p in sorted {
            match &p.kind {
                PolicyKind::Concurrency {
                    limit,
                    overflow,
                    attributes,
                } => rules.concurrency.push(Concurrency {
                    policy: p.policy_ref.clone(),
                    limit: *limit,
                    overflow: *overflow,
                    attributes: attributes.clone(),
                }),
                PolicyKind::RateLimit { max, window_secs } => rules.rates.push(Rate {
                    max: *max,
                    window: Duration::microseconds((window_secs * 1e6).clamp(1.0, 1e15) as i64),
                }),
                _ => {}
            }
        }
        rules
    }

    /// Whether there is nothing to gate.
    pub(crate) fn is_empty(&self) -> bool {
        self.concurrency.is_empty() && self.rates.is_empty()
    }

    /// The longest rate window, if any.
    pub(crate) fn longest_window(&self) -> Option<Duration> {
        self.rates.iter().map(|r| r.window).max()
    }

    /// The smallest concurrency limit, if any.
    pub(crate) fn limit(&self) -> Option<u32> {
        self.concurrency.iter().map(|c| c.limit).min()
    }

    /// The keys of an execution with these params.
    pub(crate) fn keys(&self, params: &Value) -> Keys {
        self.concurrency
            .iter()
            .map(|c| {
                if c.attributes.is_empty() {
                    return String::new();
                }
                let values: Vec<&Value> = c
                    .attributes
                    .iter()
                    .map(|a| params.get(a).unwrap_or(&Value::Null))
                    .collect();
                serde_json::to_string(&values).unwrap_or_default()
            })
            .collect()
    }
}

/// What the gate decided for an arriving execution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// It holds a slot now: schedule it.
    Admit,
    /// It waits (`delayed`).
    Delay,
    /// A concurrency policy with `cancel` is at its limit: cancel it with this message.
    Cancel(String),
}

/// Counts since the engine started, per action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub admitted: u64,
    pub delayed: u64,
    pub canceled: u64,
}

/// The admission state of one action.
#[derive(Debug)]
pub(crate) struct ActionGate {
    rules: Rules,
    /// Executions holding a slot, with their keys.
    active: HashMap<ExecutionId, Keys>,
    /// Per concurrency policy: slots held per key.
    counts: Vec<HashMap<String, u32>>,
    /// Per rate limit: the admissions within its window, oldest first.
    starts: Vec<VecDeque<DateTime<Utc>>>,
    /// Waiting executions per keys, in id order, with the time they started waiting.
    waiting: HashMap<Keys, VecDeque<(ExecutionId, DateTime<Utc>)>>,
    /// The keys of each waiting execution.
    queued: HashMap<ExecutionId, Keys>,
    pub(crate) totals: Totals,
}

impl ActionGate {
    pub(crate) fn new(rules: Rules) -> Self {
        let counts = vec![HashMap::new(); rules.concurrency.len()];
        let starts = vec![VecDeque::new(); rules.rates.len()];
        ActionGate {
            rules,
            active: HashMap::new(),
            counts,
            starts,
            waiting: HashMap::new(),
            queued: HashMap::new(),
            totals: Totals::default(),
        }
    }

    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Decides for an execution that arrives (`requested`, or `delayed` until a time that
    /// came): admitted, waiting, or canceled. Admitted and waiting ones are tracked.
    pub(crate) fn arrive(&mut self, id: ExecutionId, keys: Keys, now: DateTime<Utc>) -> Verdict {
        if self.active.contains_key(&id) {
            return Verdict::Admit;
        }
        if self.queued.contains_key(&id) {
            return Verdict::Delay;
        }
        let behind = self.waiting.get(&keys).is_some_and(|q| !q.is_empty());
        if !behind && self.fits(&keys, now) {
            self.admit(id, keys, now);
            return Verdict::Admit;
        }
        if let Some(message) = self.cancel_message(&keys) {
            self.totals.canceled += 1;
            return Verdict::Cancel(message);
        }
        self.totals.delayed += 1;
        self.enqueue(id, keys, now);
        Verdict::Delay
    }

    /// Restores an execution that holds a slot (read from the store after a restart or a
    /// change of policies); `started` counts in the rate windows when recent enough.
    pub(crate) fn restore_active(
        &mut self,
        id: ExecutionId,
        keys: Keys,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if self.active.contains_key(&id) {
            return;
        }
        for (i, k) in keys.iter().enumerate() {
            *self.counts[i].entry(k.clone()).or_insert(0) += 1;
        }
        self.active.insert(id, keys);
        self.restore_start(started, now);
    }

    /// Counts an admission that already ended (read from the store) in the rate windows.
    pub(crate) fn restore_start(&mut self, started: DateTime<Utc>, now: DateTime<Utc>) {
        for (i, r) in self.rules.rates.iter().enumerate() {
            if started > now - r.window {
                let q = &mut self.starts[i];
                let at = q.partition_point(|t| *t <= started);
                q.insert(at, started);
            }
        }
    }

    /// Restores a waiting execution (read from the store), in id order.
    pub(crate) fn restore_waiting(&mut self, id: ExecutionId, keys: Keys, since: DateTime<Utc>) {
        if !self.active.contains_key(&id) && !self.queued.contains_key(&id) {
            self.enqueue(id, keys, since);
        }
    }

    /// An execution ended (or left the gate): frees its slot or its place in the queue.
    /// Whether the gate knew it.
    pub(crate) fn end(&mut self, id: ExecutionId) -> bool {
        if let Some(keys) = self.active.remove(&id) {
            for (i, k) in keys.iter().enumerate() {
                if let Some(n) = self.counts[i].get_mut(k) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.counts[i].remove(k);
                    }
                }
            }
            return true;
        }
        if let Some(keys) = self.queued.remove(&id) {
            if let Some(q) = self.waiting.get_mut(&keys) {
                q.retain(|(x, _)| *x != id);
                if q.is_empty() {
                    self.waiting.remove(&keys);
                }
            }
            return true;
        }
        false
    }

    /// Admits waiting executions, oldest first, while they fit. Returns them, and when some
    /// still wait on a rate window, the time it moves on.
    pub(crate) fn pump(&mut self, now: DateTime<Utc>) -> (Vec<ExecutionId>, Option<DateTime<Utc>>) {
        let mut admitted = Vec::new();
        loop {
            let next = self
                .waiting
                .iter()
                .filter(|(keys, _)| self.fits(keys, now))
                .filter_map(|(keys, q)| q.front().map(|(id, _)| (*id, keys)))
                .min_by_key(|(id, _)| *id)
                .map(|(id, keys)| (id, keys.clone()));
            let Some((id, keys)) = next else { break };
            if let Some(q) = self.waiting.get_mut(&keys) {
                q.pop_front();
                if q.is_empty() {
                    self.waiting.remove(&keys);
                }
            }
            self.queued.remove(&id);
            self.admit(id, keys, now);
            admitted.push(id);
        }
        (admitted, self.next_window(now))
    }

    /// How many wait, and since when the oldest has.
    pub(crate) fn queued(&self) -> (usize, Option<DateTime<Utc>>) {
        let oldest = self
            .waiting
            .values()
            .filter_map(|q| q.iter().map(|(_, t)| *t).min())
            .min();
        (self.queued.len(), oldest)
    }

    /// How many hold a slot.
    pub(crate) fn active(&self) -> usize {
        self.active.len()
    }

    /// The executions holding a slot.
    pub(crate) fn active_ids(&self) -> impl Iterator<Item = ExecutionId> + '_ {
        self.active.keys().copied()
    }

    /// The executions the gate tracks (holding a slot or waiting).
    pub(crate) fn tracked(&self) -> impl Iterator<Item = ExecutionId> + '_ {
        self.active.keys().chain(self.queued.keys()).copied()
    }

    /// The waiting executions, in id order.
    #[cfg(test)]
    pub(crate) fn waiting_ids(&self) -> Vec<ExecutionId> {
        let mut v: Vec<ExecutionId> = self.queued.keys().copied().collect();
        v.sort();
        v
    }

    fn admit(&mut self, id: ExecutionId, keys: Keys, now: DateTime<Utc>) {
        for (i, k) in keys.iter().enumerate() {
            *self.counts[i].entry(k.clone()).or_insert(0) += 1;
        }
        for q in &mut self.starts {
            q.push_back(now);
        }
        self.active.insert(id, keys);
        self.totals.admitted += 1;
    }

    fn enqueue(&mut self, id: ExecutionId, keys: Keys, since: DateTime<Utc>) {
        let q = self.waiting.entry(keys.clone()).or_default();
        // Usually the newest: appended; an older one arriving late goes in its place.
        let at = q.partition_point(|(x, _)| *x < id);
        q.insert(at, (id, since));
        self.queued.insert(id, keys);
    }

    /// Whether an execution with `keys` would get a slot and room in every window now
    /// (the windows' old admissions are dropped on the way).
    fn fits(&self, keys: &Keys, now: DateTime<Utc>) -> bool {
        let slots = self.rules.concurrency.iter().enumerate().all(|(i, c)| {
            let held = self.counts[i].get(&keys[i]).copied().unwrap_or(0);
            held < c.limit
        });
        slots
            && self.rules.rates.iter().enumerate().all(|(i, r)| {
                let from = now - r.window;
                let within = self.starts[i].len() - self.starts[i].partition_point(|t| *t <= from);
                within < r.max as usize
            })
    }

    /// The message of a cancel, when a concurrency policy with `cancel` is at its limit
    /// for `keys`.
    fn cancel_message(&self, keys: &Keys) -> Option<String> {
        self.rules
            .concurrency
            .iter()
            .enumerate()
            .find(|(i, c)| {
                c.overflow == ConcurrencyOverflow::Cancel
                    && self.counts[*i].get(&keys[*i]).copied().unwrap_or(0) >= c.limit
            })
            .map(|(_, c)| {
                let of = if c.attributes.is_empty() {
                    String::new()
                } else {
                    format!(" with the same {}", c.attributes.join(", "))
                };
                format!(
                    "canceled by policy '{}': {} execution(s){of} already running (its limit)",
                    c.policy, c.limit
                )
            })
    }

    /// When some wait and a rate window is full: when its oldest admission leaves it. Old
    /// admissions are dropped.
    pub(crate) fn next_window(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut next: Option<DateTime<Utc>> = None;
        for (i, r) in self.rules.rates.iter().enumerate() {
            let from = now - r.window;
            let q = &mut self.starts[i];
            while q.front().is_some_and(|t| *t <= from) {
                q.pop_front();
            }
            if !self.queued.is_empty()
                && q.len() >= r.max as usize
                && let Some(oldest) = q.front()
            {
                let at = *oldest + r.window;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn concurrency(limit: u32, overflow: ConcurrencyOverflow, attributes: &[&str]) -> Policy {
        Policy {
            policy_ref: format!("p.c{limit}{}", attributes.join("")),
            action: "p.a".into(),
            kind: PolicyKind::Concurrency {
                limit,
                overflow,
                attributes: attributes.iter().map(|s| s.to_string()).collect(),
            },
            enabled: true,
        }
    }

    fn rate(max: u32, window_secs: f64) -> Policy {
        Policy {
            policy_ref: "p.rate".into(),
            action: "p.a".into(),
            kind: PolicyKind::RateLimit { max, window_secs },
            enabled: true,
        }
    }

    fn ids(n: usize) -> Vec<ExecutionId> {
        (0..n).map(|_| ExecutionId::new()).collect()
    }

    fn gate(policies: &[Policy]) -> ActionGate {
        ActionGate::new(Rules::of(policies))
    }

    #[test]
    fn a_limit_of_one_admits_in_request_order() {
        let mut g = gate(&[concurrency(1, ConcurrencyOverflow::Delay, &[])]);
        let now = Utc::now();
        let x = ids(5);
        let keys = g.rules().keys(&json!({}));
        assert_eq!(g.arrive(x[0], keys.clone(), now), Verdict::Admit);
        // Arriving out of order, they still leave in id order.
        for i in [3, 1, 4, 2] {
            assert_eq!(g.arrive(x[i], keys.clone(), now), Verdict::Delay);
        }
        let mut order = vec![x[0]];
        let mut last = x[0];
        for _ in 0..4 {
            assert!(g.end(last));
            let (admitted, wake) = g.pump(now);
            assert_eq!(admitted.len(), 1);
            assert_eq!(wake, None);
            last = admitted[0];
            order.push(last);
        }
        assert_eq!(order, x);
        assert_eq!(
            g.totals,
            Totals {
                admitted: 5,
                delayed: 4,
                canceled: 0
            }
        );
    }

    #[test]
    fn cancel_overflow_cancels_beyond_the_limit() {
        let mut g = gate(&[concurrency(2, ConcurrencyOverflow::Cancel, &[])]);
        let now = Utc::now();
        let x = ids(3);
        let k = g.rules().keys(&json!({}));
        assert_eq!(g.arrive(x[0], k.clone(), now), Verdict::Admit);
        assert_eq!(g.arrive(x[1], k.clone(), now), Verdict::Admit);
        match g.arrive(x[2], k.clone(), now) {
            Verdict::Cancel(m) => assert!(m.contains("policy 'p.c2'"), "{m}"),
            v => panic!("{v:?}"),
        }
        g.end(x[0]);
        assert_eq!(g.arrive(ExecutionId::new(), k, now), Verdict::Admit);
    }

    #[test]
    fn attributes_partition_the_limit() {
        let mut g = gate(&[concurrency(1, ConcurrencyOverflow::Delay, &["host"])]);
        let now = Utc::now();
        let a = g.rules().keys(&json!({"host": "a"}));
        let b = g.rules().keys(&json!({"host": "b"}));
        let x = ids(4);
        assert_eq!(g.arrive(x[0], a.clone(), now), Verdict::Admit);
        assert_eq!(g.arrive(x[1], a.clone(), now), Verdict::Delay);
        assert_eq!(g.arrive(x[2], b.clone(), now), Verdict::Admit);
        assert_eq!(g.arrive(x[3], b.clone(), now), Verdict::Delay);
        // The end of a 'b' frees the next 'b', not the older 'a'.
        g.end(x[2]);
        assert_eq!(g.pump(now).0, vec![x[3]]);
        g.end(x[0]);
        assert_eq!(g.pump(now).0, vec![x[1]]);
        assert_eq!(g.queued().0, 0);
    }

    #[test]
    fn a_rate_limit_waits_for_its_window() {
        let mut g = gate(&[rate(2, 10.0)]);
        let t0 = Utc::now();
        let k = g.rules().keys(&json!({}));
        let x = ids(3);
        assert_eq!(g.arrive(x[0], k.clone(), t0), Verdict::Admit);
        assert_eq!(g.arrive(x[1], k.clone(), t0), Verdict::Admit);
        assert_eq!(g.arrive(x[2], k.clone(), t0), Verdict::Delay);
        g.end(x[0]);
        let (admitted, wake) = g.pump(t0 + Duration::seconds(1));
        assert!(admitted.is_empty());
        assert_eq!(wake, Some(t0 + Duration::seconds(10)));
        let (admitted, wake) = g.pump(t0 + Duration::seconds(10) + Duration::milliseconds(1));
        assert_eq!(admitted, vec![x[2]]);
        assert_eq!(wake, None);
    }

    #[test]
    fn ending_a_waiting_execution_removes_it_from_the_queue() {
        let mut g = gate(&[concurrency(1, ConcurrencyOverflow::Delay, &[])]);
        let now = Utc::now();
        let k = g.rules().keys(&json!({}));
        let x = ids(3);
        g.arrive(x[0], k.clone(), now);
        g.arrive(x[1], k.clone(), now);
        g.arrive(x[2], k.clone(), now);
        assert!(g.end(x[1]));
        assert!(!g.end(x[1]));
        g.end(x[0]);
        assert_eq!(g.pump(now).0, vec![x[2]]);
    }

    #[test]
    fn restored_state_counts_slots_and_queue() {
        let mut g = gate(&[concurrency(2, ConcurrencyOverflow::Delay, &[])]);
        let now = Utc::now();
        let k = g.rules().keys(&json!({}));
        let x = ids(4);
        g.restore_active(x[0], k.clone(), now, now);
        g.restore_active(x[1], k.clone(), now, now);
        g.restore_waiting(x[3], k.clone(), now);
        g.restore_waiting(x[2], k.clone(), now);
        assert_eq!(g.pump(now).0, Vec::<ExecutionId>::new());
        assert_eq!(g.waiting_ids(), vec![x[2], x[3]]);
        g.end(x[1]);
        assert_eq!(g.pump(now).0, vec![x[2]]);
        assert_eq!(g.active(), 2);
    }

    #[test]
    fn disabled_and_retry_policies_do_not_gate() {
        let mut off = concurrency(1, ConcurrencyOverflow::Delay, &[]);
        off.enabled = false;
        let retry = Policy {
            policy_ref: "p.r".into(),
            action: "p.a".into(),
            kind: PolicyKind::Retry {
                on_timeout: false,
                on_abandoned: false,
                max_attempts: 2,
                delay_secs: 0.0,
                backoff: crate::model::Backoff::Constant,
                max_delay_secs: None,
            },
            enabled: true,
        };
        assert!(Rules::of([&off, &retry]).is_empty());
    }
}
