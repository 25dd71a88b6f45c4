//! `attune serve --pack DIR... [--db FILE]`: the engine as a headless daemon, with its
//! timers and sensors, until SIGTERM or SIGINT.
//!
//! - At start: the packs load (a pack with a problem stops the start, exit 2), then the
//!   work earlier processes left in the `--db` file is recovered and runs here.
//! - SIGTERM / SIGINT: drain. Sensors stop first, new work is refused, work in flight gets
//!   `--drain-grace` seconds to end; what is still running then is canceled (on `--db`,
//!   work that had not started stays stored for the next start). Exit 0. A second signal
//!   exits at once.
//! - SIGHUP: the packs are read again and checked together; only when all check clean are
//!   they installed (each pack swaps in one step: matching sees the old or the new pack).
//!   A problem keeps the running packs and is logged with every problem.
//! - Logs: `ATTUNE_LOG` (default `info` here), `--log-format json` for one JSON object a
//!   line.
//! - `--role ingest,match,schedule,work,timers,sensors` (default all): on `--db
//!   postgres://…`, the parts of the pipeline this process runs; the other processes of the
//!   database run the rest. `ingest` is the part that takes events and runs in from outside:
//!   every process does (the engine API, `attune emit` and `run`).
//! - `--http ADDR`: StackStorm's REST API v1 (the `http` module, docs/api.md), stopped first
//!   at SIGTERM (requests in flight finish) before the engine drains.

use super::work::start;
use super::{Failure, Setup};
use crate::Report;
use attune_core::{Engine, Role};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// Runs until the first SIGTERM or SIGINT, then drains within `grace`.
pub(super) async fn run(
    packs: &[PathBuf],
    grace: Duration,
    http: Option<&str>,
    setup: &Setup,
) -> Result<Report, Failure> {
    if packs.is_empty() && setup.db.is_none() {
        return Err(Failure::Other(
            "nothing to serve: give --pack DIR (repeat for several) and/or --db FILE".into(),
        ));
    }
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| Failure::Other(format!("cannot catch SIGHUP: {e}")))?;
    let work = start(packs, setup).await?;
    let engine = work.engine;
    tracing::info!(
        packs = %engine.pack_refs().join(","),
        db = setup.db.as_deref().map(super::db_display).unwrap_or_default(),
        roles = %setup.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        resumed = work.recovery.resumed.len(),
        "attune serve: running"
    );
    log_sensors(&engine);
    // `POST /api/v1/packs/register` asks this loop to reload, as SIGHUP does.
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<crate::http::ReloadRequest>(4);
    let api = match http {
        Some(addr) => {
            let reloads = (!packs.is_empty()).then_some(reload_tx);
            Some(start_http(addr, &engine, setup, reloads).await?)
        }
        None => None,
    };
    let mut reloads = 0u64;
    let sig = loop {
        tokio::select! {
            sig = setup.interrupt.first() => break sig,
            Some(()) = hup.recv() => {
                tracing::info!("SIGHUP: reloading packs");
                if reload(&engine, packs, setup).await.is_ok() {
                    reloads += 1;
                }
            }
            Some(reply) = reload_rx.recv() => {
                tracing::info!("API: reloading packs");
                let done = reload(&engine, packs, setup).await;
                if done.is_ok() {
                    reloads += 1;
                }
                let _ = reply.send(done);
            }
        }
    };
    tracing::info!(
        signal = sig.name(),
        grace_secs = grace.as_secs_f64(),
        "attune serve: draining"
    );
    if let Some((stop, server)) = api {
        // Requests in flight finish; no new ones are taken.
        let _ = stop.send(());
        let _ = server.await;
    }
    let drained = engine.shutdown(grace).await;
    tracing::info!(drained, "attune serve: stopped");
    let how = if drained {
        "drained"
    } else {
        "grace passed: what still ran was canceled"
    };
    Ok(Report {
        json: json!({
            "signal": sig.name(),
            "drained": drained,
            "reloads": reloads,
        }),
        text: format!("attune serve: stopped after {} ({how})\n", sig.name()),
        code: 0,
    })
}

/// Reads and checks the packs again; installs them only when all check clean. The refs of
/// the packs installed, or the problems (each also logged).
async fn reload(
    engine: &Engine,
    packs: &[PathBuf],
    setup: &Setup,
) -> Result<Vec<String>, Vec<String>> {
    let refused = |problems: Vec<String>| {
        for p in &problems {
            tracing::error!(problem = %p, "reload refused: the running packs stay");
        }
        Err(problems)
    };
    match engine.check_packs(packs, &setup.options).await {
        Ok((_, failed)) if !failed.is_empty() => {
            return refused(
                failed
                    .iter()
                    .flat_map(|f| f.problems.iter().map(move |p| format!("{}: {p}", f.pack)))
                    .collect(),
            );
        }
        Err(e) => return refused(vec![e.to_string()]),
        Ok(_) => {}
    }
    match engine.load_pack_dirs(packs, &setup.options).await {
        Ok(report) if report.failed.is_empty() => {
            let names: Vec<String> = report.loaded.iter().map(|s| s.pack.clone()).collect();
            tracing::info!(packs = %names.join(","), "packs reloaded");
            log_sensors(engine);
            Ok(names)
        }
        Ok(report) => refused(
            report
                .failed
                .iter()
                .map(|f| format!("{}: refused, the running one stays", f.pack))
                .collect(),
        ),
        Err(e) => refused(vec![format!("reload failed: {e}")]),
    }
}

/// One log line per sensor: what runs it, and whether a rule uses it.
fn log_sensors(engine: &Engine) {
    for s in engine.sensors() {
        tracing::info!(sensor = %s.sensor_ref, runner = %s.runner, state = ?s.state, "sensor");
    }
}

/// The engine roles of `--role` (all when none is given). `ingest` is accepted (see the
/// module documentation) and is no engine role. Unknown names, and fewer roles than all
/// without a PostgreSQL `--db`, are refused.
pub(super) fn roles(names: &[String], db: Option<&std::path::Path>) -> Result<Vec<Role>, Failure> {
    if names.is_empty() {
        return Ok(Role::ALL.to_vec());
    }
    let mut roles = Vec::new();
    for name in names.iter().map(|n| n.trim()) {
        if name == "ingest" {
            continue;
        }
        let role: Role = name.parse().map_err(|_| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            Failure::Other(format!(
                "--role: '{name}' is not a role (known: ingest, {})",
                known.join(", ")
            ))
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let shared = db.and_then(super::postgres_url).is_some();
    if roles.len() < Role::ALL.len() && !shared {
        return Err(Failure::Other(format!(
            "--role {}: a process that runs only part of the pipeline needs --db \
             postgres://…, where other processes run the rest",
            names.join(",")
        )));
    }
    Ok(roles)
}

/// Binds `addr` and serves the HTTP API there until the returned sender fires.
async fn start_http(
    addr: &str,
    engine: &Engine,
    setup: &Setup,
    reloads: Option<tokio::sync::mpsc::Sender<crate::http::ReloadRequest>>,
) -> Result<
    (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ),
    Failure,
> {
    let shared = setup.db.as_deref().and_then(super::postgres_url).is_some();
    let auth = crate::http::auth::Auth::from_env(shared).map_err(Failure::Other)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Other(format!("--http {addr}: cannot listen there: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Other(format!("--http {addr}: {e}")))?;
    tracing::info!(addr = %local, "attune serve: HTTP API listening");
    let api = std::sync::Arc::new(crate::http::Api {
        engine: engine.clone(),
        auth,
        metrics: Default::default(),
        stopping: tokio::sync::watch::channel(false).0,
        reloads,
    });
    tokio::spawn(crate::http::metrics::follow_statuses(api.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.await;
        };
        if let Err(e) = crate::http::serve(listener, api, stop).await {
            tracing::error!(error = %e, "the HTTP API stopped");
        }
    });
    Ok((tx, server))
}
