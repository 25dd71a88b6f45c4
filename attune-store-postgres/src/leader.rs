//! [`PgLeader`]: one process of a cluster at a time holds a named leadership — an
//! advisory lock of the PostgreSQL session of a connection of its own.

use crate::store::PgStore;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, Row};
use std::time::Duration;
use tokio::sync::watch;

/// The advisory lock class of leaderships (the other key is the hashed schema and name).
const LOCK_CLASS: i32 = 0x4154_4c44; // "ATLD"

/// A campaign for a named leadership among the processes of one database and schema: at
/// most one of them holds it at a time (a session advisory lock on a connection the
/// campaign keeps), and when the holder goes — its process dies, its connection is lost,
/// or it drops every receiver of [`watch`](PgLeader::watch) — another takes it within one
/// check interval (2 s by default).
///
/// Give [`watch`](PgLeader::watch) to `EngineBuilder::singletons` so that the engine runs
/// the cluster's timers and sensors only while it leads. The holder checks its connection
/// every interval: a holder cut off from the database stops leading at its next check,
/// while the server may already have released its lock to another process — the two may
/// overlap by up to one interval.
#[derive(Debug)]
pub struct PgLeader {
    rx: watch::Receiver<bool>,
}

impl PgLeader {
    /// Campaigns for `name` (such as `singletons`) with checks every 2 s.
    pub fn campaign(store: &PgStore, name: &str) -> PgLeader {
        Self::campaign_every(store, name, Duration::from_secs(2))
    }

    /// Campaigns for `name`, trying for the lock (or, holding it, checking the connection)
    /// every `check`. The campaign runs on the current tokio runtime until every receiver
    /// of its flag (this value's included) is dropped; then its connection closes, which
    /// gives the leadership up.
    pub fn campaign_every(store: &PgStore, name: &str, check: Duration) -> PgLeader {
        let (tx, rx) = watch::channel(false);
        let key = format!("{}:{name}", store.schema());
        tokio::spawn(campaign(
            store.connect_options().clone(),
            key,
            check.max(Duration::from_millis(50)),
            tx,
        ));
        PgLeader { rx }
    }

    /// The flag: `true` while this process leads.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Whether this process leads now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }
}

/// Connects, tries for the lock, holds it while the connection lives; again on failure.
async fn campaign(opts: PgConnectOptions, key: String, check: Duration, tx: watch::Sender<bool>) {
    let opts = opts.application_name(&format!("attune leader {key}"));
    loop {
        let conn = tokio::select! {
            () = tx.closed() => return,
            c = PgConnection::connect_with(&opts) => c,
        };
        match conn {
            Ok(mut conn) => {
                if hold(&mut conn, &key, check, &tx).await.is_none() {
                    let _ = conn.close().await;
                    return;
                }
                tx.send_replace(false);
            }
            Err(e) => {
                tx.send_replace(false);
                tracing::warn!(target: "attune::postgres", leadership = %key, error = %e, "cannot reach PostgreSQL to campaign");
            }
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(check) => {}
        }
    }
}

/// Tries for the lock every `check` and, once held, checks the connection every `check`.
/// `Some(())` when the connection failed (campaign again), `None` when nobody listens.
async fn hold(
    conn: &mut PgConnection,
    key: &str,
    check: Duration,
    tx: &watch::Sender<bool>,
) -> Option<()> {
    loop {
        let got = sqlx::query("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .and_then(|r| r.try_get::<bool, _>(0));
        let leading = match got {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(target: "attune::postgres", leadership = %key, error = %e, "campaign connection failed");
                return Some(());
            }
        };
        if leading && !*tx.borrow() {
            tracing::info!(target: "attune::postgres", leadership = %key, "leading");
        }
        tx.send_replace(leading);
        loop {
            tokio::select! {
                () = tx.closed() => return None,
                () = tokio::time::sleep(check) => {}
            }
            if !leading {
                break;
            }
            if let Err(e) = sqlx::query("SELECT 1").execute(&mut *conn).await {
                tracing::warn!(target: "attune::postgres", leadership = %key, error = %e, "lost the connection holding the leadership");
                return Some(());
            }
        }
    }
}
