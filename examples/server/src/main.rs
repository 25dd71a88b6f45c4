//! `attune`: validate and test packs, run actions and events on an embedded engine.
//!
//! Exit codes: 0 success (for `rule test`: a rule matched), 1 a negative answer (problems
//! found, no rule matched, the execution did not succeed), 2 an error (bad input, a pack
//! that does not load), 130/143 after SIGINT/SIGTERM (see `interrupt`). `--json` prints one
//! JSON document, described in docs/cli.md.

mod cli;
mod commands;
mod http;
mod interrupt;
mod output;
mod worker;

use clap::Parser;
use interrupt::Interrupt;
use serde_json::json;
use std::process::ExitCode;

/// `attune` is a program of its own, not an embedder's host, so it picks its allocator: the
/// engine allocates per event and request, and glibc's malloc cost about a fifth of the
/// server's time under webhook load (docs/api.md, Load). Build with `--features
/// system-alloc` to run it on the system allocator.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What a command produced: the JSON document, the text, and the exit code.
#[derive(Debug)]
pub struct Report {
    /// For `--json`.
    pub json: serde_json::Value,
    /// For people.
    pub text: String,
    /// 0, 1 or 2; 130/143 after SIGINT/SIGTERM.
    pub code: u8,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // A daemon says what it does; a one-shot command only what went wrong.
    let level = if cli.command.ends_on_signal() {
        "info"
    } else {
        "warn"
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ATTUNE_LOG").unwrap_or_else(|_| level.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Json => logs.json().init(),
        cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attune: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let style = output::Style::detect();
    let json = cli.json;
    let name = cli.command.name();
    let work = cli.command.runs_work();
    let ends_on_signal = cli.command.ends_on_signal();
    let note = if ends_on_signal {
        Some(
            "draining: sensors stop, new work is refused, the work in flight gets --drain-grace; send it again to exit at once",
        )
    } else if work {
        Some(
            "canceling the running work (the actions get SIGTERM, then SIGKILL after the cancel grace); send it again to exit at once",
        )
    } else {
        None
    };
    let (mut report, interrupt, at_once) = runtime.block_on(async {
        let interrupt = match Interrupt::install(note) {
            Ok(i) => i,
            Err(e) => {
                let f = commands::Failure::Other(format!("cannot catch signals: {e}"));
                return (f.report(name, style), None, false);
            }
        };
        let command = commands::dispatch(cli, style, interrupt.clone());
        // A command that runs work stops it at the first signal and reports; a second one
        // ends it at once. Any other command ends at the first.
        tokio::select! {
            r = command => (r, Some(interrupt), false),
            () = interrupt.twice(), if work => {
                let f = commands::Failure::Other(
                    "interrupted twice: exited at once; the actions still running were killed"
                        .into(),
                );
                (f.report(name, style), Some(interrupt), true)
            }
            sig = interrupt.first(), if !work => {
                let f = commands::Failure::Other(format!("interrupted ({})", sig.name()));
                (f.report(name, style), Some(interrupt), true)
            }
        }
    });
    let signaled = interrupt.as_ref().and_then(Interrupt::received);
    if at_once || signaled.is_some() {
        // Dropping the tasks drops the runs, whose guards kill the actions' process groups;
        // a read of stdin still blocked on its thread is left behind.
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    }
    if let Some(sig) = signaled.filter(|_| at_once || !ends_on_signal) {
        report.code = sig.exit_code();
        if let serde_json::Value::Object(m) = &mut report.json {
            m.insert("exit_code".into(), json!(report.code));
            m.insert("interrupted".into(), json!(sig.name()));
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.json).unwrap_or_default()
        );
    } else if report.code == 2 || at_once {
        eprint!("{}", report.text);
    } else {
        print!("{}", report.text);
    }
    if std::env::var_os("ATTUNE_REPORT_PEAK_MEMORY").is_some() {
        peak_memory();
    }
    ExitCode::from(report.code)
}

/// Prints this process's peak resident memory (`VmHWM` of /proc/self/status) on stderr:
/// a diagnostic for tests and for sizing, with `ATTUNE_REPORT_PEAK_MEMORY` set.
fn peak_memory() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
        Some(v) => eprintln!("attune: peak memory (VmHWM) {}", v.trim()),
        None => eprintln!("attune: peak memory unknown (no VmHWM in /proc/self/status)"),
    }
}
