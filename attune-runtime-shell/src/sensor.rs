//! Process sensors (runner `shell`): any executable that prints one JSON line per event.
//!
//! The sensor's `entry_point` (a file of its pack) runs directly when executable, else by
//! the shell, in its pack's directory, with the runtime's `PATH`, `HOME` and `LANG`,
//! `ATTUNE_SENSOR`, `ATTUNE_PACK` and `ATTUNE_PACK_DIR`. Its first stdin line is
//! [`SensorRun::hello`] with `triggers`; the protocol is
//! [`run_line_sensor`](attune_process::run_line_sensor)'s.

use crate::runtime::ShellRuntime;
use async_trait::async_trait;
use attune_core::model::Sensor;
use attune_core::sensor::{SensorRun, SensorRuntime};
use attune_core::{Error, Result};
use attune_process::ProcessSpec;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;

#[async_trait]
impl SensorRuntime for ShellRuntime {
    fn name(&self) -> &str {
        "shell"
    }

    fn validate_sensor(&self, sensor: &Sensor) -> Result<()> {
        if sensor.entry_point.is_none() {
            return Err(Error::invalid(
                format!("sensor '{}'", sensor.sensor_ref),
                "a shell sensor needs an 'entry_point' (a program printing JSON lines)",
            ));
        }
        Ok(())
    }

    async fn run(&self, run: SensorRun) -> Result<()> {
        let path = run.entry_path()?;
        let executable =
            std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        let config = self.config();
        let (program, args): (std::path::PathBuf, Vec<OsString>) = if executable {
            (path, Vec::new())
        } else {
            (config.shell.clone(), vec![path.into_os_string()])
        };
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), config.path.clone().into()),
            ("HOME".into(), config.home.clone().into()),
            ("LANG".into(), config.lang.clone().into()),
        ];
        env.extend(run.identity_env());
        for name in &config.env_allow {
            if let Some(v) = std::env::var_os(name) {
                env.push((name.into(), v));
            }
        }
        let spec = ProcessSpec {
            program,
            args,
            env,
            cwd: run.pack_dir.clone().unwrap_or_else(std::env::temp_dir),
            stdin: Vec::new(),
        };
        let hello = run.hello();
        attune_process::run_line_sensor(spec, hello, run, config.grace).await
    }
}
