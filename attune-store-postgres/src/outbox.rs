//! The store's outbox: the work-queue messages of a state change, written by the store in
//! the statement (and so the transaction) of the change.
//!
//! Off until a [`PgTransport`](crate::PgTransport) is opened on the store: from then on the
//! store writes `queue` rows itself (see `Store::outbox` for which), and the engine does not
//! publish them. After the commit, the transports of this process wake their subscribers at
//! once, and send the wake-up `NOTIFY` for the other processes from their own connections
//! (coalesced, with asynchronous commit): a `NOTIFY` in the store's transaction would hold
//! PostgreSQL's global notification lock across its synchronous commit, and serialize every
//! writer of the database behind it.

use attune_core::transport::Topic;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// A transport's wake-ups, by work topic.
pub(crate) type Wake = HashMap<Topic, Notify>;

/// The work topics a transport is to announce to the other processes (`w<topic>`
/// notifications), gathered until its notifier sends them.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    pending: Mutex<Vec<Topic>>,
    /// Kicks the notifier task.
    pub(crate) kick: Notify,
}

impl Remote {
    /// The topics gathered since the last call.
    pub(crate) fn take(&self) -> Vec<Topic> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn add(&self, topics: &[Topic]) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for t in topics {
            if !pending.contains(t) {
                pending.push(*t);
            }
        }
        drop(pending);
        self.kick.notify_one();
    }
}

/// A transport attached to the outbox.
#[derive(Debug)]
struct Attached {
    local: Weak<Wake>,
    remote: Weak<Remote>,
}

/// Whether the outbox is on, and the transports of this process to wake.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// What `Store::outbox` and `Transport::outbox` name: the database and schema.
    name: String,
    on: AtomicBool,
    attached: Mutex<Vec<Attached>>,
}

impl Outbox {
    pub(crate) fn new(name: String) -> Outbox {
        Outbox {
            name,
            on: AtomicBool::new(false),
            attached: Mutex::new(Vec::new()),
        }
    }

    /// Whether the store writes the messages.
    pub(crate) fn on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// The queue's name, whether or not the outbox is on.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Turns the outbox on for a transport whose subscribers `local` wakes and whose
    /// notifier announces `remote`'s topics to the other processes.
    pub(crate) fn attach(&self, local: &Arc<Wake>, remote: &Arc<Remote>) {
        let mut all = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|a| a.local.strong_count() > 0);
        all.push(Attached {
            local: Arc::downgrade(local),
            remote: Arc::downgrade(remote),
        });
        self.on.store(true, Ordering::Release);
    }

    /// After a commit that queued messages on `topics`: wakes this process's subscribers
    /// and has the other processes' woken.
    pub(crate) fn woke(&self, topics: &[Topic]) {
        if !self.on() {
            return;
        }
        let all = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        for a in all.iter() {
            if let Some(local) = a.local.upgrade() {
                for t in topics {
                    if let Some(n) = local.get(t) {
                        n.notify_waiters();
                    }
                }
            }
        }
        // One notifier is enough for the other processes.
        if let Some(remote) = all.iter().find_map(|a| a.remote.upgrade()) {
            remote.add(topics);
        }
    }
}

/// A CTE (`, outbox AS (...)`) queueing `Message::Event` for each `id` of `src`, or nothing
/// when the outbox is off. The rows of one statement are queued in id order (ids are
/// UUIDv7: creation order), as a publish of the batch would be.
pub(crate) fn events(on: bool, src: &str) -> String {
    if !on {
        return String::new();
    }
    format!(
        ", outbox AS (INSERT INTO queue (topic, message) \
           SELECT 'events', json_build_object('type', 'event', 'id', id)::text FROM {src} \
           ORDER BY id)"
    )
}

/// A CTE queueing `Message::Requested` for each `id` of `src` whose `status` is
/// `requested` and `Message::Scheduled` for each whose `status` is `scheduled`, or nothing
/// when the outbox is off.
pub(crate) fn created(on: bool, src: &str) -> String {
    if !on {
        return String::new();
    }
    format!(
        ", outbox AS (INSERT INTO queue (topic, message) \
           SELECT status, json_build_object('type', status, 'id', id)::text \
           FROM {src} WHERE status IN ('requested', 'scheduled') ORDER BY id)"
    )
}

/// A CTE queueing, for each `out_id` of `src` now `out_status`, `Message::Scheduled` when it
/// is `scheduled` and `Message::Finished` when `out_term`, or nothing when the outbox is off.
pub(crate) fn transitions(on: bool, src: &str) -> String {
    if !on {
        return String::new();
    }
    format!(
        ", outbox AS (INSERT INTO queue (topic, message) \
           SELECT CASE WHEN out_term THEN 'finished' ELSE 'scheduled' END, \
             CASE WHEN out_term THEN json_build_object('type', 'finished', 'id', \
               json_build_object('execution', out_id, 'status', out_status)) \
             ELSE json_build_object('type', 'scheduled', 'id', out_id) END::text \
           FROM {src} WHERE out_term OR out_status = 'scheduled' ORDER BY out_id)"
    )
}
