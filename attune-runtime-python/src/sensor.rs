//! StackStorm's Python sensors (runner `python`), run unmodified: `st2reactor.sensor.base`'s
//! `Sensor` and `PollingSensor` with `sensor_service` (`dispatch`, `get_logger`, the
//! key-value store). One interpreter per sensor (the pack's virtualenv's when it has a
//! `requirements.txt`), running `attune_sensor.py`, which speaks the line protocol of
//! [`run_line_sensor`](attune_process::run_line_sensor). Its environment: the runtime's
//! `PATH`, `HOME`, `LANG`, `ATTUNE_SENSOR`, `ATTUNE_PACK`, `ATTUNE_PACK_DIR`, and
//! `PYTHONPATH` (the sensor's directory and the pack's `sensors/lib` and `lib`).

use crate::runtime::PythonRuntime;
use crate::wrapper;
use async_trait::async_trait;
use attune_core::model::Sensor;
use attune_core::sensor::{SensorRun, SensorRuntime};
use attune_core::{Error, Result};
use attune_process::ProcessSpec;

#[async_trait]
impl SensorRuntime for PythonRuntime {
    fn name(&self) -> &str {
        "python"
    }

    fn validate_sensor(&self, sensor: &Sensor) -> Result<()> {
        match sensor.entry_point.as_deref() {
            Some(ep) if ep.ends_with(".py") => Ok(()),
            Some(ep) => Err(Error::invalid(
                format!("sensor '{}'", sensor.sensor_ref),
                format!("entry point '{ep}' is not a .py file"),
            )),
            None => Err(Error::invalid(
                format!("sensor '{}'", sensor.sensor_ref),
                "a Python sensor needs an 'entry_point' .py file defining its class",
            )),
        }
    }

    async fn run(&self, run: SensorRun) -> Result<()> {
        let entry = run.entry_path()?;
        let pack_dir = run
            .pack_dir
            .clone()
            .expect("entry_path checked the pack directory");
        let (program, mut args) = self.interpreter_for(run.pack(), Some(&pack_dir)).await?;
        let runner_dir = self.wrapper_dir().await?;
        args.extend(wrapper::sensor_args(runner_dir));
        let mut env = self.base_env();
        env.extend(run.identity_env());
        // As StackStorm sets it for its sensors: the pack's directories the wrapper puts on
        // `sys.path` (the interpreter itself runs with -E; a Python the sensor starts
        // finds the pack's code through it).
        let here = entry.parent().unwrap_or(&pack_dir);
        let python_path = format!(
            "{}:{}:{}",
            here.display(),
            pack_dir.join("sensors/lib").display(),
            pack_dir.join("lib").display()
        );
        env.push(("PYTHONPATH".into(), python_path.into()));
        let spec = ProcessSpec {
            program,
            args,
            env,
            cwd: pack_dir,
            stdin: Vec::new(),
        };
        let mut hello = run.hello();
        hello["entry_point"] = entry.display().to_string().into();
        attune_process::run_line_sensor(spec, hello, run, self.config().grace).await
    }
}
