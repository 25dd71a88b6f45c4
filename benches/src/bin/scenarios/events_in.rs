//! Scenarios of events that arrive by themselves: `timers_10k` and `sensor_ingest`.

use attune_core::Engine;
use attune_core::model::Rule;
use attune_core::store::{EventFilter, Page};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn err(e: impl std::fmt::Display) -> attune_core::Error {
    attune_core::Error::Action(e.to_string())
}

/// CPU seconds (user + system) this process used so far, from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime), counted from after the command name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// `n` cron parameter sets, all meaning "every second", all different: the expression
/// written in several equivalent ways, in many time zones.
fn every_second(n: usize) -> Vec<Value> {
    let seconds = ["*", "0-59", "*/1"];
    let minutes = ["*", "0-59", "*/1"];
    let hours = ["*", "0-23", "*/1"];
    let months = ["*", "1-12"];
    let mut out = Vec::with_capacity(n);
    'all: for tz in chrono_tz::TZ_VARIANTS {
        for s in seconds {
            for m in minutes {
                for h in hours {
                    for mo in months {
                        if out.len() == n {
                            break 'all;
                        }
                        out.push(json!({
                            "expression": format!("{s} {m} {h} * {mo} *"),
                            "timezone": tz.name(),
                        }));
                    }
                }
            }
        }
    }
    out
}

/// `timers_10k`: 10,000 distinct timers firing every second on one engine (memory store),
/// each with its rule running `core.noop`. Reported: the lag of each event after its due
/// second (`p50_us`/`p99_us`: event created − due time, the timer task's wake included),
/// the wake lag alone (`executed_at` − due), and the process's CPU over the measured
/// seconds (timers, matching and the no-op executions all included).
pub(crate) async fn timers_10k(timers: u64) -> attune_core::Result<Value> {
    let engine = Engine::builder().build().await?;
    let params = every_second(timers as usize);
    let built = Instant::now();
    for (i, p) in params.iter().enumerate() {
        let mut r = Rule::new(format!("bench.t{i}"), "core.crontimer", "core.noop");
        r.trigger_params = p.clone();
        engine.register_rule(r).await?;
    }
    let register_secs = built.elapsed().as_secs_f64();
    // Warm up two seconds, then measure ten.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from = chrono::Utc::now();
    let (cpu0, wall0) = (cpu_secs(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (cpu1, wall) = (cpu_secs(), wall0.elapsed().as_secs_f64());
    let to = chrono::Utc::now();
    engine.settle(Duration::from_secs(60)).await?;
    let mut lags = Vec::new();
    let mut wakes = Vec::new();
    let mut page = Page::first(10_000);
    loop {
        let batch = engine
            .events(&EventFilter::new().trigger("core.crontimer"), page)
            .await?;
        for ev in &batch {
            if ev.created < from || ev.created > to {
                continue;
            }
            let due = ev.created.timestamp_micros() / 1_000_000 * 1_000_000;
            lags.push((ev.created.timestamp_micros() - due) as f64);
            if let Some(at) = ev.payload["executed_at"].as_str()
                && let Ok(t) = chrono::DateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S%.f%:z")
            {
                wakes.push((t.timestamp_micros() - due) as f64);
            }
        }
        match batch.last() {
            Some(last) if batch.len() == page.limit => page = Page::after(last.id, page.limit),
            _ => break,
        }
    }
    engine.shutdown(Duration::from_secs(10)).await;
    if lags.is_empty() {
        return Err(err("no timer fired in the measured seconds"));
    }
    lags.sort_by(f64::total_cmp);
    wakes.sort_by(f64::total_cmp);
    let fired = lags.len() as u64;
    Ok(super::report(
        "timers_10k",
        fired,
        wall,
        super::percentile(&lags, 0.5),
        super::percentile(&lags, 0.99),
        json!({
            "timers": timers,
            "fires_per_sec": (fired as f64 / wall).round(),
            "wake_p99_us": super::percentile(&wakes, 0.99),
            "cpu_percent_of_a_core": ((cpu1 - cpu0) / wall * 1000.0).round() / 10.0,
            "register_secs": (register_secs * 100.0).round() / 100.0,
            "latency": "event created − due second (every timer of a second fires in one wake, one batch)",
            "target_is": "wake_p99_us: the fire jitter (executed_at − due)",
        }),
    ))
}

/// `sensor_ingest*`: a process sensor (`shell`) printing `n` JSON lines as fast as it can;
/// its events feed a rule running `core.noop` (`runs`), or a rule whose criteria match none
/// of them (the ingestion alone: events stored and matched). Reported: events in per
/// second (sensor start → the `n`th event stored), and the end-to-end rate (→ everything
/// settled) beside it.
pub(crate) async fn sensor_ingest(n: u64, sqlite: bool, runs: bool) -> attune_core::Result<Value> {
    let dir = tempfile::tempdir().map_err(err)?;
    let pack = dir.path().join("ingest");
    std::fs::create_dir_all(pack.join("sensors")).map_err(err)?;
    std::fs::create_dir_all(pack.join("rules")).map_err(err)?;
    let write = |p: &str, text: String| std::fs::write(pack.join(p), text).map_err(err);
    write(
        "pack.yaml",
        "ref: ingest\nname: ingest\nversion: 1.0.0\n".into(),
    )?;
    write(
        "sensors/lines.yaml",
        "name: lines\nentry_point: lines.sh\ntrigger_types:\n  - name: tick\n".into(),
    )?;
    write(
        "sensors/lines.sh",
        format!(
            "awk 'BEGIN {{ for (i = 0; i < {n}; i++) \
             printf \"{{\\\"trigger\\\": \\\"ingest.tick\\\", \\\"payload\\\": {{\\\"n\\\": %d}}}}\\n\", i }}'\n\
             exec sleep 3600\n"
        ),
    )?;
    let criteria = if runs {
        ""
    } else {
        "criteria:\n  trigger.n:\n    type: equals\n    pattern: -1\n"
    };
    write(
        "rules/on_tick.yaml",
        format!(
            "name: on_tick\npack: ingest\ntrigger:\n  type: ingest.tick\n{criteria}\
             action:\n  ref: core.noop\n"
        ),
    )?;
    let shell = Arc::new(attune_runtime_shell::ShellRuntime::default());
    let mut builder = Engine::builder()
        .runtime(shell.clone())
        .sensor_runtime(shell);
    if sqlite {
        let store = attune_store_sqlite::SqliteStore::builder()
            .path(dir.path().join("bench.db"))
            .build()?;
        builder = builder.store(Arc::new(store));
    }
    let engine = builder.build().await?;
    let start = Instant::now();
    engine.load_pack(&pack).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let st = engine.sensors();
        let s = st.first().ok_or_else(|| err("no sensor"))?;
        if s.events + s.rejected >= n {
            if s.rejected > 0 {
                return Err(err(format!("{} lines rejected", s.rejected)));
            }
            break;
        }
        if Instant::now() > deadline {
            return Err(err(format!("{} of {n} events in 600 s: {s:?}", s.events)));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let ingest = start.elapsed().as_secs_f64();
    engine.settle(Duration::from_secs(600)).await?;
    let total = start.elapsed().as_secs_f64();
    engine.shutdown(Duration::from_secs(10)).await;
    Ok(super::report(
        match (sqlite, runs) {
            (false, _) => "sensor_ingest",
            (true, false) => "sensor_ingest_sqlite",
            (true, true) => "sensor_ingest_sqlite_runs",
        },
        n,
        ingest,
        None,
        None,
        json!({
            "store": if sqlite { "sqlite (WAL, NORMAL)" } else { "memory" },
            "executions": if runs { "one core.noop per event" } else { "none (criteria match no event)" },
            "pipeline_per_sec": (n as f64 / total).round(),
            "ops_per_sec_is": "events stored per second (sensor start → nth event)",
        }),
    ))
}
