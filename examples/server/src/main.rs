//! `attune`: validate and test packs, run actions and events on an embedded engine.
//!
//! Exit codes: 0 success (for `rule test`: a rule matched), 1 a negative answer (problems
//! found, no rule matched, the execution did not succeed), 2 an error (bad input, a pack
//! that does not load). `--json` prints one JSON document, described in docs/cli.md.

mod cli;
mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

/// What a command produced: the JSON document, the text, and the exit code.
#[derive(Debug)]
pub struct Report {
    /// For `--json`.
    pub json: serde_json::Value,
    /// For people.
    pub text: String,
    /// 0, 1 or 2.
    pub code: u8,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ATTUNE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
    let report = runtime.block_on(commands::dispatch(cli, style));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.json).unwrap_or_default()
        );
    } else if report.code == 2 {
        eprint!("{}", report.text);
    } else {
        print!("{}", report.text);
    }
    ExitCode::from(report.code)
}
