//! [`PgTransport`]: the [`Transport`] on PostgreSQL, for stages in many processes.
//!
//! * **Work queues** are rows of the `queue` table, in publish order. `recv` claims the
//!   oldest rows of its topic with `FOR UPDATE SKIP LOCKED` (competing subscribers, in
//!   this process or another, take other rows instead of waiting) and moves them, in the
//!   same statement, to `queue_held` with its subscription and a lease; `ack` deletes them
//!   there. (A move costs a third of marking the rows in place: see migration 3.) A
//!   dropped subscription puts what it held back at once; a process that dies stops
//!   renewing its leases (every third of [`PgTransportBuilder::lease`]), and its rows go
//!   back once the lease lapsed. A row put back keeps its place in the order.
//! * **The store's outbox**: opening a transport on a [`PgStore`] turns the store's outbox
//!   on. The store then writes the work-queue messages of its state changes itself, in the
//!   statement of the change (`Store::outbox` says which), and the engine does not publish
//!   them: a change and its message commit together or not at all.
//! * **Wake-ups**: a publish on a work queue sends a `NOTIFY` in the same statement as its
//!   insert; after the store's outbox queued messages, the transport sends it from its own
//!   connections. Each transport keeps one `LISTEN` connection and wakes its idle
//!   subscribers of that topic, so pickup takes a round trip, not a polling interval.
//!   Subscribers in the process that wrote are woken at once. An idle subscriber
//!   also looks once per [`PgTransportBuilder::idle_poll`] (1 s), in case a notification
//!   was lost with a connection.
//! * **Group commit**: concurrent `publish` calls, of any topics, share one statement (one
//!   commit); each returns once its own messages are committed.
//! * **Fan-out topics** are `NOTIFY` payloads (several messages per notification), received
//!   by every transport's `LISTEN` connection and handed to its subscribers through a
//!   bounded buffer; a subscriber that falls behind misses messages and is told how many.
//!   Messages published while a transport's `LISTEN` connection is lost (until it
//!   reconnects) do not reach its subscribers and are not counted as missed: fan-out is best
//!   effort, and the store stays the truth.

use crate::error::{Res, backend};
use crate::outbox::{Outbox, Remote, Wake};
use crate::store::PgStore;
use async_trait::async_trait;
use attune_core::transport::{Delivery, Message, Subscription, Topic, Transport};
use attune_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The most bytes of messages one fan-out notification carries (PostgreSQL's payload limit
/// is 8000 bytes).
const NOTIFY_BYTES: usize = 7000;

/// The server's clock in µs, in SQL.
const NOW_US: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// Builds a [`PgTransport`] on a [`PgStore`]'s pool and schema.
#[derive(Clone, Debug)]
pub struct PgTransportBuilder {
    opts: PgConnectOptions,
    outbox: Arc<Outbox>,
    max_connections: u32,
    schema: String,
    lease: Duration,
    idle_poll: Duration,
    fanout_buffer: usize,
}

impl PgTransportBuilder {
    /// How long a delivered, unacknowledged message stays with its subscription when its
    /// process stops renewing (it died): then it is delivered again. Default 30 s.
    pub fn lease(mut self, d: Duration) -> Self {
        self.lease = d.max(Duration::from_millis(300));
        self
    }

    /// How often an idle subscriber looks for work without being woken. Default 1 s.
    pub fn idle_poll(mut self, d: Duration) -> Self {
        self.idle_poll = d.max(Duration::from_millis(10));
        self
    }

    /// How many fan-out messages a subscriber may fall behind before it misses some.
    /// Default 16,384.
    pub fn fanout_buffer(mut self, n: usize) -> Self {
        self.fanout_buffer = n.max(1);
        self
    }

    /// The most connections of the transport's own pool (default 8; one more is its
    /// `LISTEN` connection).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Opens the `LISTEN` connection and starts the transport's two tasks (listening, and
    /// renewing leases) on the current tokio runtime; they stop when the transport and its
    /// subscriptions are dropped.
    pub async fn open(self) -> Result<PgTransport> {
        let channel = format!("attune_{}", self.schema);
        // Its own pool, whose commits do not wait for the WAL flush: a message lost with
        // the last moments before a server crash is found again by the engine's recovery
        // sweep, which hands on what the store holds (the store commits synchronously).
        let opts = self.opts.clone().options([("synchronous_commit", "off")]);
        let pool = crate::config::connect(&opts, self.max_connections, Duration::ZERO).await?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(backend)?;
        listener.listen(&channel).await.map_err(backend)?;
        let mut wake = HashMap::new();
        let mut fanout = HashMap::new();
        for topic in Topic::ALL {
            if topic.is_fanout() {
                fanout.insert(topic, broadcast::channel(self.fanout_buffer).0);
            } else {
                wake.insert(topic, Notify::new());
            }
        }
        let wake = Arc::new(wake);
        let remote = Arc::new(Remote::default());
        self.outbox.attach(&wake, &remote);
        let shared = Arc::new(Shared {
            outbox: self.outbox.name().to_string(),
            pool,
            channel,
            lease: self.lease,
            idle_poll: self.idle_poll,
            wake,
            fanout,
            live: Mutex::new(HashSet::new()),
            outgoing: Mutex::new(Gathered::default()),
        });
        let tasks = Arc::new(Tasks(vec![
            tokio::spawn(listen(shared.clone(), listener)),
            tokio::spawn(renew(shared.clone())),
            tokio::spawn(announce_outbox(shared.clone(), remote)),
        ]));
        Ok(PgTransport { shared, tasks })
    }
}

/// Attune's [`Transport`] on PostgreSQL (see the module documentation of the crate).
///
/// Built on a [`PgStore`]: `PgTransport::builder(&store).open().await`. Every process that
/// opens one on the same database and schema shares its work queues and fan-out topics.
/// Cloning is cheap.
#[derive(Clone, Debug)]
pub struct PgTransport {
    shared: Arc<Shared>,
    tasks: Arc<Tasks>,
}

impl PgTransport {
    /// A builder on `store`'s pool and schema.
    pub fn builder(store: &PgStore) -> PgTransportBuilder {
        PgTransportBuilder {
            opts: store.connect_options().clone(),
            outbox: store.outbox_handle().clone(),
            max_connections: 8,
            schema: store.schema().to_string(),
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            fanout_buffer: 16_384,
        }
    }

    /// A transport on `store` with the default settings.
    pub async fn open(store: &PgStore) -> Result<PgTransport> {
        Self::builder(store).open().await
    }

    /// Messages waiting on work queues, by topic (delivered or not; not acknowledged).
    pub async fn depth(&self) -> Result<HashMap<Topic, u64>> {
        let rows = sqlx::query(
            "SELECT topic, count(*) FROM (SELECT topic FROM queue \
               UNION ALL SELECT topic FROM queue_held) q GROUP BY topic",
        )
        .fetch_all(&self.shared.pool)
        .await
        .map_err(backend)?;
        let mut out = HashMap::new();
        for r in rows {
            let name: &str = r.try_get(0).map_err(backend)?;
            let n: i64 = r.try_get(1).map_err(backend)?;
            if let Some(t) = Topic::ALL.into_iter().find(|t| t.as_str() == name) {
                out.insert(t, n as u64);
            }
        }
        Ok(out)
    }
}

/// What the transport's handles, subscriptions and tasks share.
#[derive(Debug)]
struct Shared {
    pool: PgPool,
    /// The NOTIFY channel: `attune_<schema>`.
    channel: String,
    lease: Duration,
    idle_poll: Duration,
    /// Idle subscribers of each work queue wait here.
    wake: Arc<Wake>,
    /// The name of the store's outbox this transport delivers.
    outbox: String,
    /// Fan-out subscribers of each fan-out topic.
    fanout: HashMap<Topic, broadcast::Sender<Message>>,
    /// The work subscriptions alive in this process (their leases are renewed).
    live: Mutex<HashSet<Uuid>>,
    /// Publishes waiting for the next flush.
    outgoing: Mutex<Gathered>,
}

/// Publishes gathered for one statement, and whether a task is flushing them.
#[derive(Debug, Default)]
struct Gathered {
    queue: Vec<Outgoing>,
    flushing: bool,
}

/// One `publish` call waiting for its flush.
#[derive(Debug)]
struct Outgoing {
    topic: Topic,
    json: Vec<String>,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

/// Writes what was published, batch after batch, until nothing is left.
async fn flush_outgoing(shared: Arc<Shared>) {
    loop {
        let batch = {
            let mut o = shared.outgoing();
            if o.queue.is_empty() {
                o.flushing = false;
                return;
            }
            std::mem::take(&mut o.queue)
        };
        let written = write_outgoing(&shared, &batch).await;
        let transient = written.as_ref().err().is_none_or(|e| e.is_retryable());
        let failure = written.as_ref().err().map(|e| e.to_string());
        for o in batch {
            let r = match &failure {
                None => Ok(()),
                Some(msg) => Err(Error::backend(msg.clone(), transient)),
            };
            let _ = o.done.send(r);
        }
    }
}

/// One statement: the work-queue rows in publish order, a wake-up per work topic, and the
/// fan-out notifications in publish order.
async fn write_outgoing(shared: &Shared, batch: &[Outgoing]) -> Result<()> {
    let mut topics: Vec<&str> = Vec::new();
    let mut rows: Vec<&str> = Vec::new();
    let mut woken: Vec<Topic> = Vec::new();
    let mut payloads: Vec<String> = Vec::new();
    for o in batch {
        if o.topic.is_fanout() {
            payloads.extend(fanout_payloads(o.topic, &o.json));
        } else {
            for m in &o.json {
                topics.push(o.topic.as_str());
                rows.push(m);
            }
            if !woken.contains(&o.topic) {
                woken.push(o.topic);
            }
        }
    }
    payloads.extend(woken.iter().map(|t| format!("w{t}")));
    sqlx::query(
        "WITH ins AS (INSERT INTO queue (topic, message) \
           SELECT t, m FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, m, i) \
           ORDER BY i) \
         SELECT pg_notify($3, p) FROM unnest($4::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i",
    )
    .bind(&topics)
    .bind(&rows)
    .bind(&shared.channel)
    .bind(&payloads)
    .execute(&shared.pool)
    .await
    .map_err(backend)?;
    // Local subscribers need not wait for the notification's round trip.
    for t in woken {
        shared.wake[&t].notify_waiters();
    }
    Ok(())
}

/// The notifications carrying fan-out `messages` (JSON), at most [`NOTIFY_BYTES`] each.
fn fanout_payloads(topic: Topic, messages: &[String]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut chunk: Vec<&str> = Vec::new();
    let mut size = 0;
    for m in messages {
        if size + m.len() + 1 > NOTIFY_BYTES && !chunk.is_empty() {
            payloads.push(format!("f{topic}\n[{}]", chunk.join(",")));
            chunk.clear();
            size = 0;
        }
        size += m.len() + 1;
        chunk.push(m);
    }
    if !chunk.is_empty() {
        payloads.push(format!("f{topic}\n[{}]", chunk.join(",")));
    }
    payloads
}

impl Shared {
    fn live(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outgoing(&self) -> std::sync::MutexGuard<'_, Gathered> {
        self.outgoing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake_all(&self) {
        for n in self.wake.values() {
            n.notify_waiters();
        }
    }
}

/// The transport's tasks, stopped when the last handle or subscription goes.
#[derive(Debug)]
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// A notification's payload: `w<topic>` wakes a work queue's subscribers; `f<topic>\n` and
/// a JSON array of messages is fan-out.
fn topic_of(name: &str) -> Option<Topic> {
    Topic::ALL.into_iter().find(|t| t.as_str() == name)
}

/// Receives the notifications of the transport's channel.
async fn listen(shared: Arc<Shared>, mut listener: PgListener) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => dispatch(&shared, n.payload()),
            Ok(None) => {
                tracing::warn!(
                    target: "attune::postgres",
                    channel = %shared.channel,
                    "the LISTEN connection was lost; reconnecting (fan-out messages sent \
                     meanwhile are not received)"
                );
                // Subscribers look again: a wake-up may have been lost.
                shared.wake_all();
            }
            Err(e) => {
                tracing::warn!(
                    target: "attune::postgres",
                    channel = %shared.channel,
                    error = %e,
                    "LISTEN failed; retrying in 1 s"
                );
                shared.wake_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn dispatch(shared: &Shared, payload: &str) {
    let (kind, rest) = payload.split_at(payload.len().min(1));
    match kind {
        "w" => {
            if let Some(n) = topic_of(rest).and_then(|t| shared.wake.get(&t)) {
                n.notify_waiters();
            }
        }
        "f" => {
            let Some((name, body)) = rest.split_once('\n') else {
                return;
            };
            let Some(tx) = topic_of(name).and_then(|t| shared.fanout.get(&t)) else {
                return;
            };
            match serde_json::from_str::<Vec<Message>>(body) {
                Ok(msgs) => {
                    for m in msgs {
                        // No subscriber: nothing to do.
                        let _ = tx.send(m);
                    }
                }
                Err(e) => tracing::warn!(
                    target: "attune::postgres",
                    error = %e,
                    "a fan-out notification that does not parse was ignored"
                ),
            }
        }
        _ => {}
    }
}

/// Renews the leases of what this process's subscriptions hold, and frees what lapsed
/// (of processes that died), every third of the lease.
async fn renew(shared: Arc<Shared>) {
    let every = shared.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let live: Vec<Uuid> = shared.live().iter().copied().collect();
        let lease_us = shared.lease.as_micros() as i64;
        if !live.is_empty() {
            let renewed = sqlx::query(AssertSqlSafe(format!(
                "UPDATE queue_held SET lease_us = {NOW_US} + $2 WHERE owner = ANY($1)"
            )))
            .bind(&live)
            .bind(lease_us)
            .execute(&shared.pool)
            .await;
            if let Err(e) = renewed {
                tracing::warn!(target: "attune::postgres", error = %e, "renewing leases failed");
            }
        }
        let freed = sqlx::query(AssertSqlSafe(put_back(&format!("lease_us < {NOW_US}"))))
            .fetch_all(&shared.pool)
            .await;
        match freed {
            Ok(rows) => {
                for r in rows {
                    if let Ok(topic) = r.try_get::<String, _>(0) {
                        notify_work(&shared, &topic).await;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(target: "attune::postgres", error = %e, "freeing lapsed leases failed")
            }
        }
    }
}

/// A statement moving the rows of `queue_held` that match `condition` back to `queue`, in
/// their places; it returns the topics that got rows back.
fn put_back(condition: &str) -> String {
    format!(
        "WITH freed AS (DELETE FROM queue_held WHERE {condition} \
           RETURNING seq, topic, message), \
         back AS (INSERT INTO queue (seq, topic, message) \
           SELECT seq, topic, message FROM freed ORDER BY seq) \
         SELECT DISTINCT topic FROM freed"
    )
}

/// Sends the wake-ups of what the store's outbox queued (see `outbox.rs`), one statement
/// for everything gathered while the previous one was under way.
async fn announce_outbox(shared: Arc<Shared>, remote: Arc<Remote>) {
    loop {
        remote.kick.notified().await;
        let topics = remote.take();
        if topics.is_empty() {
            continue;
        }
        let payloads: Vec<String> = topics.iter().map(|t| format!("w{t}")).collect();
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(&shared.channel)
            .bind(&payloads)
            .execute(&shared.pool)
            .await;
        if let Err(e) = sent {
            // Subscribers elsewhere find the messages at their next idle look.
            tracing::warn!(target: "attune::postgres", error = %e, "outbox wake-up not sent");
        }
    }
}

/// Wakes the subscribers of a work queue in every process.
async fn notify_work(shared: &Shared, topic: &str) {
    let _ = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&shared.channel)
        .bind(format!("w{topic}"))
        .execute(&shared.pool)
        .await;
}

#[async_trait]
impl Transport for PgTransport {
    /// Concurrent publishes (of any topics) share one statement: the first caller that
    /// finds no flush under way starts a task that writes everything gathered, again until
    /// nothing is left; each caller returns once its messages are committed.
    async fn publish(&self, topic: Topic, messages: Vec<Message>) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let json: Vec<String> = messages
            .iter()
            .map(|m| serde_json::to_string(m).expect("messages serialize"))
            .collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lead = {
            let mut o = self.shared.outgoing();
            o.queue.push(Outgoing {
                topic,
                json,
                done: tx,
            });
            !std::mem::replace(&mut o.flushing, true)
        };
        if lead {
            tokio::spawn(flush_outgoing(self.shared.clone()));
        }
        rx.await.unwrap_or_else(|_| {
            Err(Error::backend(
                "the task publishing the messages stopped",
                true,
            ))
        })
    }

    fn outbox(&self) -> Option<String> {
        Some(self.shared.outbox.clone())
    }

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>> {
        if let Some(tx) = self.shared.fanout.get(&topic) {
            return Ok(Box::new(FanoutSub {
                rx: tx.subscribe(),
                missed: 0,
                _tasks: self.tasks.clone(),
            }));
        }
        let id = Uuid::new_v4();
        self.shared.live().insert(id);
        Ok(Box::new(WorkSub {
            shared: self.shared.clone(),
            topic,
            id,
            claiming: None,
            _tasks: self.tasks.clone(),
        }))
    }
}

/// A subscription to a work queue.
#[derive(Debug)]
struct WorkSub {
    shared: Arc<Shared>,
    topic: Topic,
    /// The owner of the rows it holds.
    id: Uuid,
    /// A claim under way: kept across a canceled `recv`, whose rows the next one returns.
    claiming: Option<JoinHandle<Res<Vec<Delivery>>>>,
    _tasks: Arc<Tasks>,
}

/// Claims up to `max` messages of `topic` for subscription `owner`, in publish order: moves
/// them to `queue_held`.
async fn claim(shared: Arc<Shared>, topic: Topic, owner: Uuid, max: usize) -> Res<Vec<Delivery>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "WITH picked AS (SELECT seq FROM queue WHERE topic = $1 \
           ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED), \
         moved AS (DELETE FROM queue q USING picked WHERE q.seq = picked.seq \
           RETURNING q.seq, q.topic, q.message) \
         INSERT INTO queue_held (seq, topic, message, owner, lease_us) \
           SELECT seq, topic, message, $3, {NOW_US} + $4 FROM moved \
         RETURNING seq, message"
    )))
    .bind(topic.as_str())
    .bind(max as i64)
    .bind(owner)
    .bind(shared.lease.as_micros() as i64)
    .fetch_all(&shared.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.try_get(0)?;
        let text: &str = r.try_get(1)?;
        let message: Message = crate::rows::parse(text, "queued message")?;
        out.push(Delivery {
            message,
            token: seq as u64,
        });
    }
    out.sort_by_key(|d| d.token);
    Ok(out)
}

#[async_trait]
impl Subscription for WorkSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        let max = max.max(1);
        loop {
            let wake = self.shared.wake[&self.topic].notified();
            tokio::pin!(wake);
            // Registered before the claim looks, so a publish after it is not missed.
            wake.as_mut().enable();
            let task = self.claiming.get_or_insert_with(|| {
                tokio::spawn(claim(self.shared.clone(), self.topic, self.id, max))
            });
            let joined = task.await;
            self.claiming = None;
            let got = match joined {
                Ok(r) => r.map_err(Error::from)?,
                Err(e) => return Err(Error::backend(format!("claiming messages: {e}"), true)),
            };
            if !got.is_empty() {
                return Ok(Some(got));
            }
            let _ = tokio::time::timeout(self.shared.idle_poll, wake).await;
        }
    }

    async fn ack(&mut self, deliveries: &[Delivery]) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = deliveries.iter().map(|d| d.token as i64).collect();
        sqlx::query("DELETE FROM queue_held WHERE seq = ANY($1) AND owner = $2")
            .bind(&seqs)
            .bind(self.id)
            .execute(&self.shared.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl Drop for WorkSub {
    fn drop(&mut self) {
        self.shared.live().remove(&self.id);
        // What it held goes back to the queue now; without a runtime, when the lease lapses.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (shared, id, topic) = (self.shared.clone(), self.id, self.topic);
            let claiming = self.claiming.take();
            rt.spawn(async move {
                if let Some(c) = claiming {
                    let _ = c.await;
                }
                let freed = sqlx::query(AssertSqlSafe(put_back("owner = $1")))
                    .bind(id)
                    .fetch_all(&shared.pool)
                    .await;
                if matches!(freed, Ok(ref rows) if !rows.is_empty()) {
                    shared.wake[&topic].notify_waiters();
                    notify_work(&shared, topic.as_str()).await;
                }
            });
        }
    }
}

/// A subscription to a fan-out topic.
#[derive(Debug)]
struct FanoutSub {
    rx: broadcast::Receiver<Message>,
    missed: u64,
    _tasks: Arc<Tasks>,
}

#[async_trait]
impl Subscription for FanoutSub {
    async fn recv(&mut self, max: usize) -> Result<Option<Vec<Delivery>>> {
        let max = max.max(1);
        let first = loop {
            match self.rx.recv().await {
                Ok(m) => break m,
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        };
        let mut out = vec![Delivery {
            message: first,
            token: 0,
        }];
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(m) => out.push(Delivery {
                    message: m,
                    token: 0,
                }),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.missed += n,
                Err(_) => break,
            }
        }
        Ok(Some(out))
    }

    async fn ack(&mut self, _deliveries: &[Delivery]) -> Result<()> {
        Ok(())
    }

    fn missed(&mut self) -> u64 {
        std::mem::take(&mut self.missed)
    }
}
