//! One module per command; this one holds what they share: the engine, loading packs, and
//! reporting errors (exit code 2).

mod control;
mod emit;
mod pack_validate;
mod recover;
mod rule_test;
mod run;
mod sensor;
mod serve;
mod store;
mod timer;
mod work;
mod workflow;

use crate::Report;
use crate::cli::{
    Cli, Command, ExecutionCommand, InquiryCommand, KeyCommand, PackCommand, PolicyCommand,
    RuleCommand, SensorCommand, TimerCommand, WorkerCommand, WorkflowCommand,
};
use crate::interrupt::Interrupt;
use crate::output::{Style, problem_lines, problems_text};
use crate::worker::Process;
use attune_core::pack::{PackErrors, PackOptions};
use attune_core::{Engine, Error, Role};
use attune_runtime_python::{PythonConfig, PythonRuntime};
use attune_runtime_shell::ShellRuntime;
use attune_store_postgres::{PgLeader, PgStore, PgTransport};
use attune_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What every command builds its engine from.
#[derive(Debug)]
pub(crate) struct Setup {
    /// How packs are read.
    pub options: PackOptions,
    /// The SQLite file of `--db`, if any.
    pub db: Option<PathBuf>,
    /// `--cancel-grace`: between SIGTERM and SIGKILL for a canceled action.
    pub grace: Option<Duration>,
    /// The key-value store's encryption key (`--key-file`, or ATTUNE_ENCRYPTION_KEY).
    pub encryption: Option<attune_core::keystore::EncryptionKey>,
    /// `--system-user`: the user rules' executions run as.
    pub system_user: Option<String>,
    /// This process as a worker of the store (None where `/proc` does not say).
    pub worker: Option<Process>,
    /// The worker id of this process's engine (names the process when `worker` is known).
    pub worker_id: String,
    /// The signals received.
    pub interrupt: Interrupt,
    /// How text output looks.
    pub style: Style,
    /// Whether the engine runs sensors (`serve`).
    pub sensors: bool,
    /// The parts of the pipeline the engine runs (`serve --role`; all otherwise).
    pub roles: Vec<Role>,
}

impl Command {
    /// The command's name in reports (`"pack validate"`, `"run"`, ...).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Pack(PackCommand::Validate { .. }) => "pack validate",
            Command::Rule(RuleCommand::Test(_)) => "rule test",
            Command::Run(_) => "run",
            Command::Emit(_) => "emit",
            Command::Workflow(WorkflowCommand::Validate { .. }) => "workflow validate",
            Command::Workflow(WorkflowCommand::Graph { .. }) => "workflow graph",
            Command::Workflow(WorkflowCommand::Rehearse { .. }) => "workflow rehearse",
            Command::Key(KeyCommand::Set { .. }) => "key set",
            Command::Key(KeyCommand::Get { .. }) => "key get",
            Command::Key(KeyCommand::List { .. }) => "key list",
            Command::Key(KeyCommand::Delete { .. }) => "key delete",
            Command::Inquiry(InquiryCommand::List) => "inquiry list",
            Command::Inquiry(InquiryCommand::Get { .. }) => "inquiry get",
            Command::Inquiry(InquiryCommand::Respond { .. }) => "inquiry respond",
            Command::Execution(ExecutionCommand::List { .. }) => "execution list",
            Command::Execution(ExecutionCommand::Get { .. }) => "execution get",
            Command::Execution(ExecutionCommand::Cancel { .. }) => "execution cancel",
            Command::Execution(ExecutionCommand::Pause { .. }) => "execution pause",
            Command::Execution(ExecutionCommand::Resume { .. }) => "execution resume",
            Command::Execution(ExecutionCommand::Rerun { .. }) => "execution rerun",
            Command::Policy(PolicyCommand::Stats { .. }) => "policy stats",
            Command::Timer(TimerCommand::Next { .. }) => "timer next",
            Command::Sensor(SensorCommand::List { .. }) => "sensor list",
            Command::Worker(WorkerCommand::List) => "worker list",
            Command::Serve(_) => "serve",
        }
    }

    /// Whether the command runs work (actions), which a first signal cancels rather than
    /// abandons.
    pub(crate) fn runs_work(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Emit(_)
                | Command::Execution(ExecutionCommand::Resume { .. })
                | Command::Execution(ExecutionCommand::Rerun { .. })
                | Command::Serve(_)
        )
    }

    /// Whether a first SIGTERM/SIGINT is the normal end (the daemon drains and exits 0).
    pub(crate) fn ends_on_signal(&self) -> bool {
        matches!(self, Command::Serve(_))
    }
}

/// Runs the command.
pub(crate) async fn dispatch(cli: Cli, style: Style, interrupt: Interrupt) -> Report {
    let grace = match cli
        .cancel_grace
        .map(Duration::try_from_secs_f64)
        .transpose()
    {
        Ok(g) => g,
        Err(e) => {
            return Failure::Other(format!("--cancel-grace: {e}"))
                .report(cli.command.name(), style);
        }
    };
    let worker = Process::current();
    let encryption = match encryption_key(cli.key_file.as_deref()) {
        Ok(k) => k,
        Err(f) => return f.report(cli.command.name(), style),
    };
    let roles = match &cli.command {
        Command::Serve(args) => match serve::roles(&args.roles, cli.db.as_deref()) {
            Ok(r) => r,
            Err(f) => return f.report(cli.command.name(), style),
        },
        _ => Role::ALL.to_vec(),
    };
    let options = Setup {
        roles,
        encryption,
        options: PackOptions {
            config_dir: cli.config_dir.clone(),
            partial: cli.partial,
            ..PackOptions::default()
        },
        db: cli.db.clone(),
        system_user: cli.system_user.clone(),
        grace,
        worker_id: worker_id(worker.as_ref()),
        worker,
        interrupt,
        style,
        sensors: matches!(cli.command, Command::Serve(_)),
    };
    let name = cli.command.name();
    let result = match cli.command {
        Command::Pack(PackCommand::Validate { dirs }) => {
            pack_validate::run(&dirs, &options, style).await
        }
        Command::Rule(RuleCommand::Test(args)) => rule_test::run(args, &options, style).await,
        Command::Run(args) => run::run(args, &options, cli.json).await,
        Command::Emit(args) => emit::run(args, &options, style).await,
        Command::Workflow(WorkflowCommand::Validate { file }) => workflow::validate(&file, style),
        Command::Workflow(WorkflowCommand::Graph { target, format }) => {
            workflow::graph(&target, format, &options, style).await
        }
        Command::Workflow(WorkflowCommand::Rehearse { file, mocks }) => {
            workflow::rehearse(&file, &mocks, style)
        }
        Command::Key(cmd) => store::key(cmd, &options, style).await,
        Command::Inquiry(cmd) => store::inquiry(cmd, &options, style, cli.json).await,
        Command::Execution(cmd) => store::execution(cmd, &options, style, cli.json).await,
        Command::Timer(TimerCommand::Next { packs, count, rule }) => {
            timer::next(&packs.packs, &rule, count, &options).await
        }
        Command::Policy(cmd) => store::policy(cmd, &options).await,
        Command::Worker(WorkerCommand::List) => store::workers(&options, style).await,
        Command::Sensor(SensorCommand::List { packs }) => {
            sensor::list(&packs.packs, &options, style).await
        }
        Command::Serve(args) => match Duration::try_from_secs_f64(args.drain_grace) {
            Ok(grace) => serve::run(&args.packs.packs, grace, args.http.as_deref(), &options).await,
            Err(e) => Err(Failure::Other(format!("--drain-grace: {e}"))),
        },
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
pub(crate) enum Failure {
    /// Packs that did not load, with their problems (and whether `--partial` was given).
    Packs(Vec<PackErrors>, bool),
    /// Anything else.
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Pack(p) => Failure::Packs(vec![p], false),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl Failure {
    /// The report of the failure (exit code 2).
    pub(crate) fn report(self, command: &str, style: Style) -> Report {
        match self {
            Failure::Packs(packs, partial) => {
                let mut text = String::new();
                for p in &packs {
                    text.push_str(&format!(
                        "{} pack '{}' does not load:\n",
                        style.bad("error:"),
                        p.pack
                    ));
                    text.push_str(&problems_text(style, p));
                }
                if !partial {
                    text.push_str(
                        "(--partial loads what checks clean of a pack and lists what it leaves \
                     out, as StackStorm registers packs file by file)\n",
                    );
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

/// `--db` as a PostgreSQL URL (`postgres://` or `postgresql://`), not a file.
pub(crate) fn postgres_url(db: &std::path::Path) -> Option<&str> {
    db.to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// `--db` for messages and logs: a file's path, or a URL without its password.
pub(crate) fn db_display(db: &std::path::Path) -> String {
    match postgres_url(db) {
        Some(url) => attune_store_postgres::redact_url(url),
        None => db.display().to_string(),
    }
}

/// An engine with every runtime this program has (native, rhai, noop, http, shell, python),
/// on the SQLite file or PostgreSQL database of `--db` or in memory, with `--cancel-grace` and this process's
/// worker id.
pub(crate) async fn engine(setup: &Setup) -> Result<Engine, Failure> {
    let mut shell = ShellRuntime::builder();
    let mut python = PythonConfig::default();
    let mut builder = Engine::builder();
    if let Some(grace) = setup.grace {
        shell = shell.grace(grace);
        python.grace = grace;
        // The engine gives a canceled runtime a little more than the runtime gives its
        // process, so that the runtime reports how the process ended.
        builder = builder.cancel_grace(grace.saturating_add(Duration::from_secs(5)));
    }
    builder = builder.worker_id(setup.worker_id.clone());
    let shell = Arc::new(shell.build()?);
    let python = Arc::new(PythonRuntime::new(python));
    builder = builder.runtime(shell.clone()).runtime(python.clone());
    if setup.sensors {
        builder = builder.sensor_runtime(shell).sensor_runtime(python);
    }
    if let Some(db) = &setup.db {
        match postgres_url(db) {
            // Every process on the same database shares the store and the transport.
            Some(url) => {
                let store = PgStore::builder(url)
                    .application_name(format!("attune {}", setup.worker_id))
                    .open()
                    .await?;
                let transport = PgTransport::open(&store).await?;
                // One process of the database at a time fires the timers, and one runs the
                // sensors: each kind has its leadership, sought by the processes with its
                // role (held while the engine lives).
                if setup.roles.contains(&Role::Timers) {
                    let leader = PgLeader::campaign(&store, "timers");
                    builder = builder.timers_leader(leader.watch());
                }
                if setup.roles.contains(&Role::Sensors) {
                    let leader = PgLeader::campaign(&store, "sensors");
                    builder = builder.sensors_leader(leader.watch());
                }
                // The concurrency and rate-limit policies are decided by one of the
                // processes that schedule.
                if setup.roles.contains(&Role::Schedule) {
                    let leader = PgLeader::campaign(&store, "policies");
                    builder = builder.policies_leader(leader.watch());
                }
                builder = builder
                    .store(Arc::new(store))
                    .transport(Arc::new(transport))
                    .roles(setup.roles.iter().copied());
            }
            None => builder = builder.store(Arc::new(SqliteStore::open(db)?)),
        }
    }
    if let Some(k) = &setup.encryption {
        builder = builder.encryption_key(k.clone());
    }
    if let Some(u) = &setup.system_user {
        builder = builder.system_user(u.clone());
    }
    Ok(builder.build().await?)
}

/// The encryption key of `--key-file FILE` (its text: 64 hex digits), or of the variable
/// ATTUNE_ENCRYPTION_KEY; none when neither is given.
fn encryption_key(
    file: Option<&std::path::Path>,
) -> Result<Option<attune_core::keystore::EncryptionKey>, Failure> {
    use attune_core::keystore::EncryptionKey;
    let (text, from) = match (file, std::env::var("ATTUNE_ENCRYPTION_KEY")) {
        (Some(f), _) => (
            std::fs::read_to_string(f)
                .map_err(|e| Failure::Other(format!("--key-file '{}': {e}", f.display())))?,
            format!("--key-file '{}'", f.display()),
        ),
        (None, Ok(v)) => (v, "ATTUNE_ENCRYPTION_KEY".to_string()),
        (None, Err(_)) => return Ok(None),
    };
    EncryptionKey::from_hex(text.trim())
        .map(Some)
        .map_err(|e| Failure::Other(format!("{from}: {e}")))
}

/// The worker id of this process: [`Process::worker_id`], or where `/proc` does not say,
/// one with the pid and the start time in nanoseconds (unique enough, not checkable).
fn worker_id(me: Option<&Process>) -> String {
    me.map_or_else(
        || {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("attune-cli-unchecked pid={} at={nanos}", std::process::id())
        },
        Process::worker_id,
    )
}

/// An engine with `packs` loaded (all or nothing, or with `--partial` what checks clean:
/// what was left out is listed on stderr).
pub(crate) async fn engine_with(packs: &[PathBuf], setup: &Setup) -> Result<Engine, Failure> {
    let style = setup.style;
    let engine = engine(setup).await?;
    if !packs.is_empty() {
        let report = engine.load_pack_dirs(packs, &setup.options).await?;
        if !report.failed.is_empty() {
            return Err(Failure::Packs(report.failed, setup.options.partial));
        }
        for s in report.loaded.iter().filter(|s| !s.left_out.is_empty()) {
            eprint!(
                "{} pack '{}' loaded without what has problems:\n{}",
                style.bad("warning:"),
                s.pack,
                problem_lines(style, s.path.as_ref(), &s.left_out, "left out: ")
            );
        }
    }
    Ok(engine)
}

/// The JSON document of `arg`: `-` reads stdin, else the file `arg`; at most the engine's
/// payload limit (`attune_core::input::MAX_PAYLOAD_BYTES`) and its value bound, checked
/// before parsing. `what` names the document in errors (`payload`, `event`). Read on a
/// blocking thread, so that a signal while stdin (or a FIFO) is waited for is heard: that is
/// a failure saying so.
pub(crate) async fn read_json_arg(
    arg: &str,
    what: &str,
    interrupt: &Interrupt,
) -> Result<Value, Failure> {
    use attune_core::input;
    let (arg, what) = (arg.to_string(), what.to_string());
    let reading = tokio::task::spawn_blocking(move || {
        let limit = input::MAX_PAYLOAD_BYTES;
        let value = if arg == "-" {
            input::read_json(
                std::io::stdin().lock(),
                &format!("{what} from stdin"),
                limit,
            )
        } else {
            let path = std::path::Path::new(&arg);
            input::read_json_file(path, &format!("{what} file '{arg}'"), limit)
        };
        value.map_err(|e| match e {
            Error::Invalid { what, message } => Failure::Other(format!("{what}: {message}")),
            other => other.into(),
        })
    });
    tokio::select! {
        r = reading => r.map_err(|e| Failure::Other(format!("reading the input failed: {e}")))?,
        sig = interrupt.first() => Err(Failure::Other(format!(
            "interrupted ({}) while reading the input", sig.name()
        ))),
    }
}

/// A value given on the command line: JSON when it parses, else the string itself.
pub(crate) fn cli_value(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// How long to wait, from `--wait SECS`.
pub(crate) fn wait_for(secs: f64) -> Result<std::time::Duration, Failure> {
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|e| Failure::Other(format!("--wait {secs}: {e}")))
}
