//! Python sensors written for StackStorm run unmodified: hello_st2's sensor dispatches, uses
//! the key store and fires its pack's rule; the examples pack's polling sensor polls; a
//! sensor sees its pack config and the triggers its rules use (`add_trigger` /
//! `remove_trigger`), its prints go to its log (not the protocol); one that fails in
//! `setup` is restarted and given up with its traceback shown; stopping leaves no process.

mod common;

use attune_core::Engine;
use attune_core::model::{ExecutionStatus, KeyScope, Rule};
use attune_core::pack::PackOptions;
use attune_core::sensor::{SensorState, SensorStatus, Supervision};
use attune_core::store::{EventFilter, ExecutionFilter, MemoryStore, Page, Store};
use attune_runtime_python::{PythonConfig, PythonRuntime};
use attune_runtime_shell::ShellRuntime;
use common::SAFETY;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn st2_packs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/st2-packs")
}

async fn engine(env_dir: &Path, supervision: Supervision) -> (Engine, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let python = Arc::new(PythonRuntime::new(PythonConfig {
        env_dir: env_dir.to_path_buf(),
        grace: Duration::from_secs(2),
        ..PythonConfig::default()
    }));
    let shell = Arc::new(ShellRuntime::default());
    let e = Engine::builder()
        .store(store.clone())
        .runtime(python.clone())
        .sensor_runtime(python)
        .runtime(shell)
        .sensor_supervision(supervision)
        .build()
        .await
        .unwrap();
    (e, store)
}

fn status(e: &Engine, r: &str) -> SensorStatus {
    e.sensors().into_iter().find(|s| s.sensor_ref == r).unwrap()
}

async fn until(mut f: impl AsyncFnMut() -> bool) {
    let end = tokio::time::Instant::now() + SAFETY;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < end,
            "not reached in {SAFETY:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The pids of the processes whose environment names `sensor` (ATTUNE_SENSOR).
fn sensor_pids(sensor: &str) -> Vec<i32> {
    let needle = format!("ATTUNE_SENSOR={sensor}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                && alive(*pid)
        })
        .collect()
}

#[tokio::test]
async fn hello_st2_sensor_dispatches_keeps_its_count_and_fires_the_rule() {
    let env = tempfile::tempdir().unwrap();
    let (e, store) = engine(env.path(), Supervision::default()).await;
    e.load_pack(st2_packs().join("hello_st2")).await.unwrap();
    until(async || status(&e, "hello_st2.HelloSensor").events == 1).await;
    let st = status(&e, "hello_st2.HelloSensor");
    assert_eq!(st.state, SensorState::Running, "{st:?}");
    assert_eq!(st.rejected, 0);
    // set_value with local=True: the key is prefixed with the pack and class, as in StackStorm.
    // The sensor stores its count after it dispatched the event.
    let count_key = "hello_st2.HelloSensor:hello_st2.count";
    until(async || {
        store
            .get_key(&KeyScope::System, count_key)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let key = store
        .get_key(&KeyScope::System, count_key)
        .await
        .unwrap()
        .expect("the sensor stored its count");
    assert_eq!(key.value, json!(1));
    let ev = e
        .events(
            &EventFilter::new().trigger("hello_st2.event1"),
            Page::first(5),
        )
        .await
        .unwrap();
    assert_eq!(
        ev[0].payload,
        json!({"greeting": "Yo, StackStorm!", "count": 1})
    );
    // The pack's rule ran its greet action on it.
    until(async || {
        let done = e
            .executions(
                &ExecutionFilter::new().rule("hello_st2.on_hello_event1"),
                Page::first(5),
            )
            .await
            .unwrap();
        done.first()
            .is_some_and(|x| x.status == ExecutionStatus::Succeeded)
    })
    .await;
    let pids = sensor_pids("hello_st2.HelloSensor");
    assert_eq!(pids.len(), 1, "{pids:?}");
    e.shutdown(Duration::from_secs(10)).await;
    assert!(!alive(pids[0]), "the sensor outlived the engine");
}

#[tokio::test]
async fn the_examples_polling_sensor_polls() {
    let env = tempfile::tempdir().unwrap();
    let (e, _) = engine(env.path(), Supervision::default()).await;
    let options = PackOptions {
        config_dir: Some(st2_packs().join("configs")),
        ..PackOptions::default()
    };
    e.load_pack_with(st2_packs().join("examples"), &options)
        .await
        .unwrap();
    // No rule uses them: none runs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(e.sensors().iter().all(|s| s.state == SensorState::Idle));
    e.register_rule(Rule::new(
        "examples.on_fib",
        "examples.fibonacci",
        "core.noop",
    ))
    .await
    .unwrap();
    until(async || status(&e, "examples.FibonacciSensor").events == 1).await;
    let ev = e
        .events(
            &EventFilter::new().trigger("examples.fibonacci"),
            Page::first(5),
        )
        .await
        .unwrap();
    // The first poll: count 2, fib 0 + 1; PYTHONPATH names the pack's directories.
    let p = &ev[0].payload;
    assert_eq!(
        (&p["count"], &p["fibonacci"]),
        (&json!(2), &json!(1)),
        "{p}"
    );
    let dirs = st2_packs().join("examples");
    assert_eq!(
        p["pythonpath"],
        json!(format!(
            "{0}/sensors:{0}/sensors/lib:{0}/lib",
            dirs.display()
        ))
    );
    assert_eq!(status(&e, "examples.FibonacciSensor").rejected, 0);
    assert_eq!(status(&e, "examples.SampleSensor").state, SensorState::Idle);
    e.shutdown(Duration::from_secs(10)).await;
}

/// A pack `pys` with config `region: north`, trigger type `pys.hook` (a `url` parameter),
/// and the sensor `pys.watch` with `source`.
fn custom_pack(dir: &Path, source: &str) -> PathBuf {
    let root = dir.join("pys");
    std::fs::create_dir_all(root.join("sensors")).unwrap();
    std::fs::write(
        root.join("pack.yaml"),
        "ref: pys\nname: pys\nversion: 0.1.0\nconfig:\n  region: north\n",
    )
    .unwrap();
    std::fs::write(
        root.join("sensors/watch.yaml"),
        "class_name: Watch\nentry_point: watch.py\ntrigger_types:\n  - name: hook\n    \
         parameters_schema:\n      type: object\n      properties:\n        url: {type: string}\n",
    )
    .unwrap();
    std::fs::write(root.join("sensors/watch.py"), source).unwrap();
    root
}

const WATCH: &str = r#"
import time
from st2reactor.sensor.base import Sensor


class Watch(Sensor):
    def setup(self):
        self.urls = []
        self.version = 0
        print("this print goes to the log, not the protocol")
        self.log = self.sensor_service.get_logger("watch")
        # The key store works from setup() and add_trigger() too.
        self.sensor_service.set_value("setups", (self.sensor_service.get_value("setups") or 0) + 1)

    def run(self):
        sent = 0
        while True:
            if self.version != sent:
                sent = self.version
                self.sensor_service.dispatch(
                    trigger={"type": "pys.hook", "parameters": {"url": self.urls[-1]}},
                    payload={"urls": list(self.urls), "region": self.config["region"]},
                    trace_tag="seen-%d" % sent,
                )
                self.log.info("dispatched %d", sent)
            time.sleep(0.02)

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        assert self.sensor_service.get_value("setups") >= 1
        self.urls.append(trigger["parameters"]["url"])
        self.version += 1

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        self.urls.remove(trigger["parameters"]["url"])
        self.version += 1
"#;

#[tokio::test]
async fn a_sensor_sees_its_config_and_the_triggers_of_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let root = custom_pack(dir.path(), WATCH);
    let (e, _) = engine(&dir.path().join("env"), Supervision::default()).await;
    e.load_pack(&root).await.unwrap();
    let mut a = Rule::new("pys.a", "pys.hook", "core.noop");
    a.trigger_params = json!({"url": "/a"});
    e.register_rule(a).await.unwrap();
    until(async || status(&e, "pys.Watch").events == 1).await;
    let mut b = Rule::new("pys.b", "pys.hook", "core.noop");
    b.trigger_params = json!({"url": "/b"});
    e.register_rule(b).await.unwrap();
    until(async || status(&e, "pys.Watch").events == 2).await;
    e.settle(SAFETY).await.unwrap();
    let ev = e
        .events(&EventFilter::new().trigger("pys.hook"), Page::first(5))
        .await
        .unwrap();
    let last = ev
        .iter()
        .find(|x| x.trace_tag.as_deref() == Some("seen-2"))
        .unwrap();
    assert_eq!(
        last.payload,
        json!({"urls": ["/a", "/b"], "region": "north"})
    );
    // The event is of the trigger instance `/b`: only rule b ran on it.
    assert_eq!(last.trigger_params, Some(json!({"url": "/b"})));
    let on_b = e
        .count_executions(&ExecutionFilter::new().rule("pys.b"))
        .await
        .unwrap();
    assert_eq!(on_b, 1);
    let st = status(&e, "pys.Watch");
    assert_eq!(st.rejected, 0, "a print must not reach the protocol");
    assert!(
        st.stderr_tail
            .iter()
            .any(|l| l.contains("this print goes to the log")),
        "{:?}",
        st.stderr_tail
    );
    // A rule goes: remove_trigger, and the next add is seen as such.
    e.remove_rule("pys.a").await.unwrap();
    let mut c = Rule::new("pys.c", "pys.hook", "core.noop");
    c.trigger_params = json!({"url": "/c"});
    e.register_rule(c).await.unwrap();
    until(async || {
        let ev = e
            .events(&EventFilter::new().trigger("pys.hook"), Page::first(10))
            .await
            .unwrap();
        ev.iter().any(|x| x.payload["urls"] == json!(["/b", "/c"]))
    })
    .await;
    e.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_sensor_failing_in_setup_is_given_up_with_its_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let source = "from st2reactor.sensor.base import Sensor\n\n\
        class Watch(Sensor):\n    def setup(self):\n        raise RuntimeError('no queue here')\n";
    let root = custom_pack(dir.path(), source);
    let (e, _) = engine(
        &dir.path().join("env"),
        Supervision {
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            give_up_after: 2,
            ..Supervision::default()
        },
    )
    .await;
    e.load_pack(&root).await.unwrap();
    e.register_rule(Rule::new("pys.a", "pys.hook", "core.noop"))
        .await
        .unwrap();
    until(async || status(&e, "pys.Watch").state == SensorState::GaveUp).await;
    let st = status(&e, "pys.Watch");
    assert_eq!(st.starts, 2);
    assert_eq!(
        st.last_end.as_deref(),
        Some("sensor 'pys.Watch' exited with code 1")
    );
    assert!(
        st.stderr_tail
            .last()
            .unwrap()
            .contains("RuntimeError: no queue here"),
        "{:?}",
        st.stderr_tail
    );
    e.shutdown(Duration::from_secs(5)).await;
}
