//! Process sensors (runner `shell`): a program printing JSON lines feeds events to the
//! rules; garbage, over-long lines and unknown triggers are counted and the sensor kept; a
//! sensor that exits at once is restarted with backoff and given up, its stderr shown; key
//! requests are answered; the triggers reach it on stdin; stopping leaves no process.

use attune_core::Engine;
use attune_core::sensor::{SensorState, SensorStatus, Supervision};
use attune_core::store::{EventFilter, ExecutionFilter, Page};
use attune_runtime_shell::ShellRuntime;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A pack `sp` with trigger type `sp.tick`, the sensor `sp.ticker` running `script`, and a
/// rule on `sp.tick` (with `trigger_params` when given) running `core.noop`.
fn pack(dir: &Path, script: &str, trigger_params: Option<serde_json::Value>) {
    std::fs::create_dir_all(dir.join("sensors")).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("pack.yaml"), "ref: sp\nname: sp\nversion: 1.0.0\n").unwrap();
    std::fs::write(
        dir.join("sensors/ticker.yaml"),
        "name: ticker\nentry_point: ticker.sh\ntrigger_types:\n  - name: tick\n    \
         payload_schema:\n      type: object\n",
    )
    .unwrap();
    std::fs::write(dir.join("sensors/ticker.sh"), script).unwrap();
    let params = trigger_params.map_or(String::new(), |p| format!("  parameters: {p}\n"));
    std::fs::write(
        dir.join("rules/on_tick.yaml"),
        format!(
            "name: on_tick\npack: sp\ntrigger:\n  type: sp.tick\n{params}action:\n  ref: core.noop\n"
        ),
    )
    .unwrap();
}

async fn engine(dir: &Path, supervision: Supervision) -> Engine {
    engine_with_rules(dir, supervision, Vec::new()).await
}

/// [`engine`] with `rules` registered before the pack loads (before its sensor starts).
async fn engine_with_rules(
    dir: &Path,
    supervision: Supervision,
    rules: Vec<attune_core::model::Rule>,
) -> Engine {
    let shell = Arc::new(ShellRuntime::default());
    let e = Engine::builder()
        .runtime(shell.clone())
        .sensor_runtime(shell)
        .sensor_supervision(supervision)
        .build()
        .await
        .unwrap();
    for r in rules {
        e.register_rule(r).await.unwrap();
    }
    e.load_pack(dir).await.unwrap();
    e
}

fn status(e: &Engine) -> SensorStatus {
    e.sensors()
        .into_iter()
        .find(|s| s.sensor_ref == "sp.ticker")
        .unwrap()
}

async fn until(secs: u64, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(tokio::time::Instant::now() < end, "not reached in {secs} s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The pid a sensor wrote to `file`, once it is whole there (20 s at most).
async fn read_pid(file: &Path) -> i32 {
    for _ in 0..2_000 {
        if let Ok(p) = std::fs::read_to_string(file)
            && let Ok(p) = p.trim().parse()
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no pid in {}", file.display());
}

fn alive(pid: i32) -> bool {
    // A zombie has exited: only a running or sleeping process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn events_reach_the_rules_and_bad_lines_are_counted_with_the_sensor_kept() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(1_100_000);
    let script = format!(
        "#!/bin/sh\necho $$ > \"$ATTUNE_PACK_DIR/pid\"\n\
         echo '{{\"trigger\": \"sp.tick\", \"payload\": {{\"n\": 1}}, \"trace_tag\": \"t1\"}}'\n\
         echo 'not json at all'\n\
         echo '{{\"trigger\": \"sp.nope\", \"payload\": {{}}}}'\n\
         echo '{huge}'\n\
         echo '{{\"trigger\": \"sp.tick\", \"payload\": 5}}'\n\
         echo 'a log line' >&2\n\
         echo '{{\"trigger\": \"sp.tick\", \"payload\": {{\"n\": 2}}}}'\n\
         exec sleep 600\n"
    );
    pack(dir.path(), &script, None);
    let e = engine(dir.path(), Supervision::default()).await;
    until(20, || status(&e).events == 2).await;
    until(5, || status(&e).rejected == 4).await;
    let st = status(&e);
    assert_eq!(st.state, SensorState::Running);
    assert_eq!(st.starts, 1);
    until(5, || status(&e).stderr_tail == ["a log line"]).await;
    e.settle(Duration::from_secs(10)).await.unwrap();
    let runs = e
        .count_executions(&ExecutionFilter::new().rule("sp.on_tick"))
        .await
        .unwrap();
    assert_eq!(runs, 2);
    let ev = e
        .events(&EventFilter::new().trigger("sp.tick"), Page::first(10))
        .await
        .unwrap();
    assert!(ev.iter().any(|ev| ev.trace_tag.as_deref() == Some("t1")));

    // Shutdown stops it first: nothing of it is left.
    let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    e.shutdown(Duration::from_secs(10)).await;
    assert!(!alive(pid), "the sensor process {pid} is still alive");
}

#[tokio::test]
async fn a_sensor_that_exits_at_once_is_given_up_with_its_stderr_shown() {
    let dir = tempfile::tempdir().unwrap();
    pack(
        dir.path(),
        "echo \"cannot reach the queue\" >&2\nexit 3\n",
        None,
    );
    let e = engine(
        dir.path(),
        Supervision {
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(80),
            give_up_after: 3,
            ..Supervision::default()
        },
    )
    .await;
    until(20, || status(&e).state == SensorState::GaveUp).await;
    let st = status(&e);
    assert_eq!(st.starts, 3);
    assert_eq!(
        st.last_end.as_deref(),
        Some("sensor 'sp.ticker' exited with code 3")
    );
    assert_eq!(st.stderr_tail.last().unwrap(), "cannot reach the queue");
    e.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn key_requests_are_answered_and_triggers_come_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    // Reads its hello line, stores a key, reads it back, and reports both.
    let script = "#!/bin/sh\n\
        read -r hello\n\
        echo '{\"key\": {\"op\": \"set\", \"scope\": \"pack\", \"name\": \"seen\", \"value\": 41}}'\n\
        read -r set_answer\n\
        echo '{\"key\": {\"op\": \"get\", \"scope\": \"pack\", \"name\": \"seen\"}}'\n\
        read -r get_answer\n\
        printf '{\"trigger\": \"sp.tick\", \"payload\": {\"hello\": %s, \"got\": %s}}\\n' \"$hello\" \"$get_answer\"\n\
        read -r update\n\
        printf '{\"trigger\": \"sp.tick\", \"payload\": {\"update\": %s}}\\n' \"$update\"\n\
        exec sleep 600\n";
    pack(dir.path(), script, Some(json!({"queue": "a"})));
    // The sensor's key writes fire the key-value triggers, and its process its spawn.
    let rules = [
        ("kv", "core.st2.key_value_pair.create"),
        ("spawn", "core.st2.sensor.process_spawn"),
    ]
    .map(|(name, trigger)| {
        attune_core::model::Rule::new(format!("obs.{name}"), trigger, "core.noop")
    })
    .to_vec();
    let e = engine_with_rules(dir.path(), Supervision::default(), rules).await;
    until(20, || status(&e).events == 1).await;
    let ev = e
        .events(&EventFilter::new().trigger("sp.tick"), Page::first(10))
        .await
        .unwrap();
    let p = &ev[0].payload;
    assert_eq!(p["got"]["ok"]["value"], 41, "{p}");
    assert_eq!(p["hello"]["sensor"], "sp.ticker");
    assert_eq!(
        p["hello"]["triggers"][0]["parameters"],
        json!({"queue": "a"})
    );
    assert_eq!(p["hello"]["triggers"][0]["type"], "sp.tick");
    e.settle(Duration::from_secs(10)).await.unwrap();
    let kv = e
        .events(
            &EventFilter::new().trigger("core.st2.key_value_pair.create"),
            Page::first(5),
        )
        .await
        .unwrap();
    assert_eq!(kv[0].payload["object"]["name"], "seen");
    assert_eq!(kv[0].payload["object"]["value"], 41);
    let spawned = e
        .events(
            &EventFilter::new().trigger("core.st2.sensor.process_spawn"),
            Page::first(5),
        )
        .await
        .unwrap();
    assert_eq!(spawned[0].payload["id"], "sp.ticker");
    assert!(spawned[0].payload["pid"].as_u64().is_some_and(|p| p > 0));
    // Another rule with other parameters: the sensor is told.
    let mut r = e.rule("sp.on_tick").unwrap();
    r.rule_ref = "sp.on_tick_b".into();
    r.trigger_params = json!({"queue": "b"});
    e.register_rule(r).await.unwrap();
    until(20, || status(&e).events == 2).await;
    let ev = e
        .events(&EventFilter::new().trigger("sp.tick"), Page::first(10))
        .await
        .unwrap();
    let update = ev
        .iter()
        .find(|e| e.payload.get("update").is_some())
        .unwrap();
    let queues: Vec<_> = update.payload["update"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["parameters"]["queue"].clone())
        .collect();
    assert_eq!(queues, [json!("a"), json!("b")]);
    e.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_sensor_stops_when_its_last_rule_goes() {
    let dir = tempfile::tempdir().unwrap();
    pack(
        dir.path(),
        "#!/bin/sh\necho $$ > \"$ATTUNE_PACK_DIR/pid\"\nexec sleep 600\n",
        None,
    );
    let e = engine(dir.path(), Supervision::default()).await;
    let pid_file = dir.path().join("pid");
    until(20, || pid_file.exists()).await;
    let pid = read_pid(&pid_file).await;
    assert!(alive(pid));
    // Installed again (its code may have changed): the old copy stops, then a new starts.
    std::fs::remove_file(&pid_file).unwrap();
    e.load_pack(dir.path()).await.unwrap();
    until(20, || status(&e).starts == 2).await;
    until(10, || !alive(pid)).await;
    let pid = read_pid(&pid_file).await;
    assert!(alive(pid));
    e.remove_rule("sp.on_tick").await.unwrap();
    until(20, || status(&e).state == SensorState::Idle).await;
    until(10, || !alive(pid)).await;
    e.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_packs_secret_config_reaches_the_sensor_on_stdin_and_is_masked_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    // Prints its hello line (the config, secret included) to stderr, writes the token it
    // got to a file of its pack, then sends an event.
    let script = "#!/bin/sh\nread -r hello\necho \"$hello\" >&2\n\
        printf '%s' \"$hello\" | sed 's/.*\"token\": *\"\\([^\"]*\\)\".*/\\1/' > \"$ATTUNE_PACK_DIR/got\"\n\
        echo '{\"trigger\": \"sp.tick\", \"payload\": {}}'\n\
        exec sleep 600\n";
    pack(dir.path(), script, None);
    std::fs::write(
        dir.path().join("pack.yaml"),
        "ref: sp\nname: sp\nversion: 1.0.0\nconfig:\n  token: s3cr3t-t0ken\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.schema.yaml"),
        "token:\n  type: string\n  secret: true\n",
    )
    .unwrap();
    let e = engine(dir.path(), Supervision::default()).await;
    until(20, || status(&e).events == 1).await;
    // The sensor had the real value (on stdin)...
    let got = std::fs::read_to_string(dir.path().join("got")).unwrap();
    assert_eq!(got.trim(), "s3cr3t-t0ken");
    // ...and its log lines have it masked.
    until(10, || !status(&e).stderr_tail.is_empty()).await;
    let tail = status(&e).stderr_tail.join("\n");
    assert!(!tail.contains("s3cr3t-t0ken"), "{tail}");
    assert!(tail.contains("\"config\""), "{tail}");
    e.shutdown(Duration::from_secs(10)).await;
}
