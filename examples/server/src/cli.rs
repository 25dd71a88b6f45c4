//! The command line: `attune pack validate`, `attune rule test`, `attune run`, `attune emit`,
//! `attune workflow validate|graph`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Attune: event-driven automation. Validate and test packs, run actions and events.
#[derive(Debug, Parser)]
#[command(name = "attune", version, about)]
pub(crate) struct Cli {
    /// Print one JSON document (see docs/cli.md) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Directory of pack config files, `<DIR>/<pack>.yaml` (StackStorm's configs directory).
    #[arg(long, global = true, env = "ATTUNE_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Load what checks clean of a pack with problems, as StackStorm registers packs file by
    /// file: the definitions of a file with a problem are left out (and what needs them),
    /// each problem listed. Without it, a pack with a problem loads nothing.
    #[arg(long, global = true)]
    pub partial: bool,
    /// Keep the engine's state in this SQLite file (durable across runs), or in the
    /// PostgreSQL database of a `postgres://user:password@host:port/db` URL (shared by every
    /// process given the same URL: see docs/deploy.md); without it the state is in memory
    /// and gone at exit.
    #[arg(long, global = true, env = "ATTUNE_DB", value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// A file holding the key-value store's encryption key (64 hex digits). The variable
    /// ATTUNE_ENCRYPTION_KEY may hold the key itself instead.
    #[arg(long, global = true, env = "ATTUNE_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// The user that rules' executions run as (StackStorm's `system_user`): their key
    /// scope `user:NAME`, and `st2kv.user.NAME` in rule templates.
    #[arg(long, global = true, env = "ATTUNE_SYSTEM_USER", value_name = "NAME")]
    pub system_user: Option<String>,
    /// Seconds a canceled action (by --wait, or SIGINT/SIGTERM) gets between SIGTERM and
    /// SIGKILL (default 5).
    #[arg(long, global = true, value_name = "SECS")]
    pub cancel_grace: Option<f64>,
    /// How log lines (stderr) look: `text`, or `json` (one JSON object a line). Their level
    /// comes from ATTUNE_LOG (default `warn`; `info` for `serve`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Work with packs.
    #[command(subcommand)]
    Pack(PackCommand),
    /// Work with rules.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Run one action on an embedded engine and print the execution.
    Run(RunArgs),
    /// Emit one event on an embedded engine and print what it caused.
    Emit(EmitArgs),
    /// Work with workflow files.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// The key-value store of the --db file.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Inquiries waiting in the --db file.
    #[command(subcommand)]
    Inquiry(InquiryCommand),
    /// Executions in the --db file.
    #[command(subcommand)]
    Execution(ExecutionCommand),
    /// Policies of actions.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Timers of rules.
    #[command(subcommand)]
    Timer(TimerCommand),
    /// Sensors of packs.
    #[command(subcommand)]
    Sensor(SensorCommand),
    /// The other processes of a PostgreSQL --db.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Run the engine as a daemon: timers, sensors, rules and their work, until SIGTERM or
    /// SIGINT (then drain); SIGHUP reloads the packs.
    Serve(ServeArgs),
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// For people.
    Text,
    /// One JSON object a line.
    Json,
}

/// `attune serve`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Packs to load (SIGHUP reads them again).
    #[command(flatten)]
    pub packs: Packs,
    /// Seconds the work in flight gets to end after SIGTERM/SIGINT before it is canceled.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub drain_grace: f64,
    /// The parts of the pipeline this process runs, comma-separated (repeatable): ingest,
    /// match, schedule, work, timers, sensors (default: all). Fewer than all needs
    /// `--db postgres://…`, where other processes run the rest.
    #[arg(long = "role", value_delimiter = ',', value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Serve StackStorm's REST API v1 on this address (e.g. 127.0.0.1:9101; port 0 picks
    /// one, logged). Needs ATTUNE_ADMIN_USER and ATTUNE_ADMIN_PASSWORD; ATTUNE_AUTH_SECRET
    /// (32 bytes or more) signs the tokens, and every API process of one database needs
    /// the same.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

/// `attune sensor ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SensorCommand {
    /// The sensors of the packs: runner, trigger types, and whether a rule uses them (then
    /// `serve` runs them).
    List {
        /// Packs to load.
        #[command(flatten)]
        packs: Packs,
    },
}

/// `attune worker ...`
#[derive(Debug, Subcommand)]
pub(crate) enum WorkerCommand {
    /// The engines running on the database (other than this command's), as their last
    /// heartbeats say: roles, runtimes, slots, running executions, heartbeat age.
    List,
}

/// `attune timer ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TimerCommand {
    /// The next fire times of a rule's timer.
    Next {
        /// Packs to load (the rule's).
        #[command(flatten)]
        packs: Packs,
        /// How many fire times.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// The rule's ref.
        rule: String,
    },
}

/// `attune key ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Sets a key (replacing it).
    Set {
        /// The key's name.
        name: String,
        /// The value: JSON when it parses, else the text itself.
        value: String,
        /// The scope: `system`, `user:NAME` or `pack:NAME`.
        #[arg(long, default_value = "system")]
        scope: String,
        /// Store the value encrypted (needs the encryption key).
        #[arg(long)]
        encrypt: bool,
        /// Seconds until the key expires.
        #[arg(long, value_name = "SECS")]
        ttl: Option<f64>,
    },
    /// Prints a key (exit 1 when it does not exist).
    Get {
        /// The key's name.
        name: String,
        /// The scope: `system`, `user:NAME` or `pack:NAME`.
        #[arg(long, default_value = "system")]
        scope: String,
        /// Print an encrypted value decrypted (needs the encryption key).
        #[arg(long)]
        decrypt: bool,
    },
    /// Lists keys.
    List {
        /// Only this scope: `system`, `user:NAME` or `pack:NAME` (default: every scope).
        #[arg(long)]
        scope: Option<String>,
        /// Only names starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Print encrypted values decrypted (needs the encryption key).
        #[arg(long)]
        decrypt: bool,
    },
    /// Deletes a key (exit 1 when it did not exist).
    Delete {
        /// The key's name.
        name: String,
        /// The scope: `system`, `user:NAME` or `pack:NAME`.
        #[arg(long, default_value = "system")]
        scope: String,
    },
}

/// `attune inquiry ...`
#[derive(Debug, Subcommand)]
pub(crate) enum InquiryCommand {
    /// Lists the inquiries waiting for a response.
    List,
    /// Prints one inquiry.
    Get {
        /// The inquiry's (its execution's) id.
        id: String,
    },
    /// Answers an inquiry.
    Respond {
        /// The inquiry's (its execution's) id.
        id: String,
        /// The response: JSON, or @FILE, or `-` for stdin.
        #[arg(value_name = "JSON|@FILE|-")]
        response: String,
        /// Who responds (checked against the inquiry's users).
        #[arg(long)]
        user: Option<String>,
        /// A role of the responder (checked against the inquiry's roles); repeat for
        /// several.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

/// `attune execution ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ExecutionCommand {
    /// Lists executions, oldest first.
    List {
        /// Only this action.
        #[arg(long)]
        action: Option<String>,
        /// Only this status (repeat for several).
        #[arg(long = "status")]
        statuses: Vec<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Prints one execution.
    Get {
        /// The execution's id.
        id: String,
    },
    /// Cancels an execution that has not finished.
    Cancel {
        /// The execution's id.
        id: String,
    },
    /// Pauses a running workflow: nothing new starts, its running tasks finish, then it is
    /// `paused`. The process that drives it follows at its next lease renewal.
    Pause {
        /// Packs to load (the workflow's).
        #[command(flatten)]
        packs: Packs,
        /// The workflow execution's id.
        id: String,
    },
    /// Resumes a paused workflow. When no live process drives it, this one takes it over
    /// and follows it to its end, as `attune run` does.
    Resume {
        /// Packs to load (the workflow's and its actions').
        #[command(flatten)]
        packs: Packs,
        /// Give up waiting after this many seconds (then it is canceled).
        #[arg(long, default_value_t = 600.0, value_name = "SECS")]
        wait: f64,
        /// The workflow execution's id.
        id: String,
    },
    /// Runs an execution again as a new one and follows it to its end. A workflow re-runs
    /// from its failed tasks (or those of --task), keeping what succeeded; another action
    /// runs again with the same params, KEY=VALUE overriding them.
    Rerun {
        /// Packs to load.
        #[command(flatten)]
        packs: Packs,
        /// Give up waiting after this many seconds (then it is canceled).
        #[arg(long, default_value_t = 600.0, value_name = "SECS")]
        wait: f64,
        /// A workflow's failed task to run again (repeat for several; default: every
        /// failed task no transition handled).
        #[arg(long = "task", value_name = "NAME")]
        tasks: Vec<String>,
        /// The execution's id.
        id: String,
        /// Params to override (not for a workflow), as key=value; a value that parses as
        /// JSON is taken as JSON, else as a string.
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Params to override as a JSON object from a file (@FILE) or stdin (-).
        #[arg(long = "params", value_name = "@FILE|-")]
        params_from: Option<String>,
    },
}

/// `attune policy ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// The queue of an action: waiting, holding a slot, its limit, the oldest wait.
    Stats {
        /// Packs to load (their policies).
        #[command(flatten)]
        packs: Packs,
        /// The action's ref.
        action: String,
    },
}

/// `attune workflow ...`
#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCommand {
    /// Check a workflow file and list every problem (exit 1 if any, 0 if clean).
    Validate {
        /// The workflow file (YAML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print a workflow's task graph (edges labelled with their conditions): of a file, or
    /// of a run (an execution id, with `--db`), its tasks coloured by status.
    Graph {
        /// The workflow file (YAML), or a workflow execution's id.
        #[arg(value_name = "FILE|EXECUTION_ID")]
        target: String,
        /// The graph language.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Rehearse a workflow with its actions mocked from a file, in Orquesta's wave order,
    /// and compare the outcome with the file's expectations (exit 0 when it matches, 1 at
    /// the first difference).
    Rehearse {
        /// The workflow file (YAML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The rehearsal file (YAML or JSON): `inputs`, `mock_action_executions`, and the
        /// `expected_*` to compare (Orquesta's test-case keys).
        #[arg(long, value_name = "FILE")]
        mocks: PathBuf,
    },
}

/// How `attune workflow graph` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// `attune pack ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PackCommand {
    /// Check packs and list every problem (exit 1 if any, 0 if clean).
    Validate {
        /// Pack directories (checked together: they may refer to each other).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
}

/// `attune rule ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RuleCommand {
    /// Test rules against an event, like st2-rule-tester (exit 0 if a rule matched, 1 if
    /// none did, 2 on error).
    Test(RuleTestArgs),
}

/// Packs to load.
#[derive(Debug, Args)]
pub(crate) struct Packs {
    /// A pack directory to load (repeat for several).
    #[arg(long = "pack", value_name = "DIR")]
    pub packs: Vec<PathBuf>,
}

/// `attune rule test`
#[derive(Debug, Args)]
pub(crate) struct RuleTestArgs {
    /// Packs to load.
    #[command(flatten)]
    pub packs: Packs,
    /// Only this rule (its ref).
    #[arg(long, value_name = "REF")]
    pub rule: Option<String>,
    /// The event: a JSON file `{"trigger": "...", "payload": {...}}`, or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub event: String,
}

/// `attune run`
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Packs to load.
    #[command(flatten)]
    pub packs: Packs,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600.0, value_name = "SECS")]
    pub wait: f64,
    /// The action's ref.
    pub action: String,
    /// Params as key=value; a value that parses as JSON is taken as JSON, else as a string.
    /// They win over the same keys of --params.
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Params as a JSON object from a file (@FILE) or stdin (-), so that secrets need not
    /// be on the command line (which other local users can read).
    #[arg(long = "params", value_name = "@FILE|-")]
    pub params_from: Option<String>,
    /// Run on behalf of this user: the execution's `user`, whose keys (scope `user:NAME`)
    /// the action and its workflow read as the user scope.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// `attune emit`
#[derive(Debug, Args)]
pub(crate) struct EmitArgs {
    /// Packs to load.
    #[command(flatten)]
    pub packs: Packs,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600.0, value_name = "SECS")]
    pub wait: f64,
    /// The trigger type's ref.
    pub trigger: String,
    /// The payload: JSON, or @FILE to read it from a file (`-` or `@-` for stdin); at most
    /// 4 MiB, checked before parsing.
    #[arg(long, default_value = "{}", value_name = "JSON|@FILE|-")]
    pub payload: String,
}
