//! One module per command; this one holds what they share: the engine, loading packs, and
//! reporting errors (exit code 2).

mod emit;
mod pack_validate;
mod rule_test;
mod run;
mod workflow;

use crate::Report;
use crate::cli::{Cli, Command, PackCommand, RuleCommand, WorkflowCommand};
use crate::output::{Style, problems_text};
use attune_core::pack::{PackErrors, PackOptions};
use attune_core::{Engine, Error};
use attune_runtime_python::PythonRuntime;
use attune_runtime_shell::ShellRuntime;
use attune_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::path::PathBuf;

/// What every command builds its engine from.
#[derive(Debug)]
pub struct Setup {
    /// How packs are read.
    pub options: PackOptions,
    /// The SQLite file of `--db`, if any.
    pub db: Option<PathBuf>,
}

/// Runs the command.
pub async fn dispatch(cli: Cli, style: Style) -> Report {
    let options = Setup {
        options: PackOptions {
            config_dir: cli.config_dir.clone(),
            ..PackOptions::default()
        },
        db: cli.db.clone(),
    };
    let (name, result) = match cli.command {
        Command::Pack(PackCommand::Validate { dirs }) => (
            "pack validate",
            pack_validate::run(&dirs, &options, style).await,
        ),
        Command::Rule(RuleCommand::Test(args)) => {
            ("rule test", rule_test::run(args, &options, style).await)
        }
        Command::Run(args) => ("run", run::run(args, &options, style, cli.json).await),
        Command::Emit(args) => ("emit", emit::run(args, &options, style).await),
        Command::Workflow(WorkflowCommand::Validate { file }) => {
            ("workflow validate", workflow::validate(&file, style))
        }
        Command::Workflow(WorkflowCommand::Graph { target, format }) => (
            "workflow graph",
            workflow::graph(&target, format, &options, style).await,
        ),
        Command::Workflow(WorkflowCommand::Rehearse { file, mocks }) => (
            "workflow rehearse",
            workflow::rehearse(&file, &mocks, style),
        ),
    };
    match result {
        Ok(mut r) => {
            if let Value::Object(m) = &mut r.json {
                m.insert("command".into(), json!(name));
                m.insert("exit_code".into(), json!(r.code));
            }
            r
        }
        Err(f) => f.report(name, style),
    }
}

/// Why a command could not do its work (exit code 2).
#[derive(Debug)]
pub enum Failure {
    /// Packs that did not load, with their problems.
    Packs(Vec<PackErrors>),
    /// Anything else.
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Pack(p) => Failure::Packs(vec![p]),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl Failure {
    fn report(self, command: &str, style: Style) -> Report {
        match self {
            Failure::Packs(packs) => {
                let mut text = String::new();
                for p in &packs {
                    text.push_str(&format!(
                        "{} pack '{}' does not load:\n",
                        style.bad("error:"),
                        p.pack
                    ));
                    text.push_str(&problems_text(style, p));
                }
                Report {
                    json: json!({
                        "command": command,
                        "exit_code": 2,
                        "error": "packs do not load",
                        "packs": packs,
                    }),
                    text,
                    code: 2,
                }
            }
            Failure::Other(message) => Report {
                json: json!({"command": command, "exit_code": 2, "error": message}),
                text: format!("{} {message}\n", style.bad("error:")),
                code: 2,
            },
        }
    }
}

/// An engine with every runtime this program has (native, rhai, noop, http, shell, python),
/// on the SQLite file of `--db` or in memory.
pub async fn engine(setup: &Setup) -> Result<Engine, Failure> {
    let mut builder = Engine::builder()
        .runtime(std::sync::Arc::new(ShellRuntime::default()))
        .runtime(std::sync::Arc::new(PythonRuntime::default()));
    if let Some(db) = &setup.db {
        builder = builder.store(std::sync::Arc::new(SqliteStore::open(db)?));
    }
    Ok(builder.build().await?)
}

/// An engine with `packs` loaded (all or nothing).
pub async fn engine_with(packs: &[PathBuf], setup: &Setup) -> Result<Engine, Failure> {
    let engine = engine(setup).await?;
    if !packs.is_empty() {
        let report = engine.load_pack_dirs(packs, &setup.options).await?;
        if !report.failed.is_empty() {
            return Err(Failure::Packs(report.failed));
        }
    }
    Ok(engine)
}

/// Reads a JSON document from `arg`: `-` is stdin, else a file.
pub fn read_json_file(arg: &str, what: &str) -> Result<Value, Failure> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Failure::Other(format!("{what}: cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(arg).map_err(|e| Failure::Other(format!("{what} '{arg}': {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::Other(format!(
            "{what} '{arg}' is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// A value given on the command line: JSON when it parses, else the string itself.
pub fn cli_value(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// How long to wait, from `--wait SECS`.
pub fn wait_for(secs: f64) -> Result<std::time::Duration, Failure> {
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|e| Failure::Other(format!("--wait {secs}: {e}")))
}
