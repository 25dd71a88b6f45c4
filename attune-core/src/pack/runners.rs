//! Runner names as packs write them: the runtime each maps to, the StackStorm runners Attune
//! does not run (named, with the reason), and the parameters StackStorm's runners add to
//! every action they run.

use crate::params::{ParamSchema, ParamSpec};

/// Runner names as packs write them → the runtime that runs them.
pub(crate) const RUNNERS: &[(&str, &str)] = &[
    ("local-shell-cmd", "shell"),
    ("local-shell-script", "shell"),
    ("shell", "shell"),
    ("python-script", "python"),
    ("python", "python"),
    ("http-request", "http"),
    ("orquesta", "workflow"),
    ("action-chain", "workflow"),
    ("workflow", "workflow"),
    ("noop", "noop"),
    ("announcement", "announcement"),
    ("inquirer", "inquirer"),
    ("native", "native"),
    ("rhai", "rhai"),
];

/// StackStorm runners Attune does not run, and why. An action with one of them is left out
/// of its pack with a warning (the rest of the pack loads); a reference to it is a problem
/// that names the runner.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "remote-shell-cmd",
        "SSH runners are not supported: run the command with an SSH client from a \
         local-shell-cmd action, or from a sensor/worker on that host",
    ),
    (
        "remote-shell-script",
        "SSH runners are not supported: run the script with an SSH client from a \
         local-shell-script action, or from a worker on that host",
    ),
    ("winrm-cmd", "WinRM runners are not supported"),
    ("winrm-ps-cmd", "WinRM runners are not supported"),
    ("winrm-ps-script", "WinRM runners are not supported"),
    ("cloudslang", "the CloudSlang runner is not supported"),
    (
        "mistral-v2",
        "Mistral workflows are not supported (StackStorm removed Mistral; use orquesta)",
    ),
];

/// StackStorm's old runner names (still in some Exchange packs) → today's.
const OLD_NAMES: &[(&str, &str)] = &[
    ("run-local", "local-shell-cmd"),
    ("run-local-script", "local-shell-script"),
    ("run-python", "python-script"),
    ("run-remote", "remote-shell-cmd"),
    ("run-remote-script", "remote-shell-script"),
];

/// Today's name of a StackStorm runner written with its old name (`run-python` →
/// `python-script`); other names as they are.
pub(crate) fn current_runner_name(runner: &str) -> &str {
    OLD_NAMES
        .iter()
        .find(|(old, _)| *old == runner)
        .map_or(runner, |(_, new)| new)
}

/// The runtime of a runner name; names that are not in [`RUNNERS`] are taken as the name
/// of a plugin runtime.
pub(crate) fn runtime_for_runner(runner: &str) -> &str {
    RUNNERS
        .iter()
        .find(|(n, _)| *n == runner)
        .map_or(runner, |(_, rt)| rt)
}

/// Why Attune does not run `runner`, when it is one of StackStorm's runners it leaves out.
pub(crate) fn unsupported_runner(runner: &str) -> Option<&'static str> {
    UNSUPPORTED
        .iter()
        .find(|(n, _)| *n == runner)
        .map(|(_, why)| *why)
}

/// The parameters StackStorm's runner `runner` gives every action it runs (`None` for
/// runners without any, and for Attune's own runner names). An action's parameter of the
/// same name overrides the runner's: the keys it gives replace the runner's, the others
/// (type, default) stay, so `sudo: {immutable: true}` keeps the runner's `default: false`.
///
/// ```
/// use attune_core::pack::stackstorm_runner_parameters;
/// let p = stackstorm_runner_parameters("local-shell-script").unwrap();
/// assert_eq!(p.get("kwarg_op").unwrap().default, Some("--".into()));
/// assert!(stackstorm_runner_parameters("shell").is_none());
/// ```
pub fn stackstorm_runner_parameters(runner: &str) -> Option<ParamSchema> {
    let shell = || {
        ParamSchema::new()
            .with(
                "cwd",
                ParamSpec::string().description("Working directory of the command."),
            )
            .with(
                "env",
                ParamSpec::object().description("Extra environment variables (name → string)."),
            )
            .with(
                "kwarg_op",
                ParamSpec::string()
                    .default("--")
                    .description("What goes before the name of a named argument of a script."),
            )
            .with(
                "sudo",
                ParamSpec::boolean()
                    .default(false)
                    .description("Run the command with sudo (passwordless: sudo -n)."),
            )
            .with(
                "sudo_password",
                ParamSpec::string()
                    .secret()
                    .description("Not supported: configure passwordless sudo instead."),
            )
            .with(
                "timeout",
                // StackStorm's is an integer; any positive number of seconds works here.
                ParamSpec::number()
                    .default(60)
                    .description("Seconds before the command is stopped (status timeout)."),
            )
    };
    match runner {
        "announcement" => Some(
            ParamSchema::new()
                .with(
                    "experimental",
                    ParamSpec::boolean()
                        .required()
                        .description("Must be true: the runner is experimental."),
                )
                .with(
                    "route",
                    ParamSpec::string()
                        .default("general")
                        .description("Where the announcement goes (StackStorm's stream event st2.announcement__<route>)."),
                ),
        ),
        "inquirer" => Some(
            ParamSchema::new()
                .with(
                    "schema",
                    ParamSpec::object()
                        .default(super::super::runtime::default_schema())
                        .description("The JSON Schema the response must fit."),
                )
                .with(
                    "roles",
                    ParamSpec::array()
                        .default(serde_json::json!([]))
                        .description("Roles that may respond (any when both lists are empty)."),
                )
                .with(
                    "users",
                    ParamSpec::array()
                        .default(serde_json::json!([]))
                        .description("Users that may respond (any when both lists are empty)."),
                )
                .with(
                    "route",
                    ParamSpec::string()
                        .default("")
                        .description("Where the inquiry is announced (notification route)."),
                )
                .with(
                    "ttl",
                    ParamSpec::integer()
                        .default(1440)
                        .description("Minutes before an unanswered inquiry ends timeout."),
                ),
        ),
        "local-shell-cmd" => Some(shell().with(
            "cmd",
            ParamSpec::string().description("The command line, run by the shell."),
        )),
        "local-shell-script" => Some(shell()),
        "python-script" => Some(
            ParamSchema::new()
                .with(
                    "env",
                    ParamSpec::object().description(
                        "Extra environment variables of the action (name → string).",
                    ),
                )
                .with(
                    "log_level",
                    ParamSpec::string()
                        .default("DEBUG")
                        .enum_values(
                            ["AUDIT", "CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
                                .map(Into::into)
                                .to_vec(),
                        )
                        .description("The level of the action's logger."),
                )
                .with(
                    "debug",
                    ParamSpec::boolean()
                        .default(false)
                        .description("Log at level DEBUG whatever log_level says."),
                )
                .with(
                    "content_version",
                    ParamSpec::string().description(
                        "Not supported: Attune runs the pack as it is on disk.",
                    ),
                )
                .with(
                    "timeout",
                    ParamSpec::number()
                        .default(600)
                        .description("Seconds before the action is stopped (status timeout)."),
                ),
        ),
        _ => None,
    }
}
