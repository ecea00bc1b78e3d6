//! `mlops`: the command line a CI job or a person at a shell uses.
//!
//! Each group of subcommands lives in its own module, which defines a clap
//! `Subcommand` enum and a `run` function; this file only flattens them together.
//! Exit codes follow one rule everywhere: 0 success / check passed, 1 check failed
//! (invalid data, drift, failed gate, broken audit chain), 2 an error stopped the work.
//!
//! Output rule: stdout carries the command's result only (a table, or pure JSON under
//! `--json`); warnings and logs of the SDK go to stderr through the subscriber
//! [`mlops_examples::init_logging`] installs (`RUST_LOG`, `-v`, `-q`).

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use mlops_examples::{Verbosity, init_logging};

mod audit;
mod completions;
mod data;
mod drift;
mod eval;
mod judge;
mod models;
mod monitor;
mod rollout;
mod serve;
mod store;
mod table;

/// The mlops command line.
#[derive(Debug, Parser)]
#[command(
    name = "mlops",
    version,
    about = "MLOps pipeline tools: data, models, tracking, audit"
)]
struct Cli {
    #[command(flatten)]
    log: Verbosity,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Audit(audit::Cmd),
    #[command(flatten)]
    Models(models::Cmd),
    #[command(flatten)]
    Store(store::Cmd),
    #[command(flatten)]
    Drift(drift::Cmd),
    #[command(flatten)]
    Data(data::Cmd),
    #[command(flatten)]
    Eval(eval::Cmd),
    #[command(flatten)]
    Judge(judge::Cmd),
    #[command(flatten)]
    Rollout(rollout::Cmd),
    #[command(flatten)]
    Completions(completions::Cmd),
    #[command(flatten)]
    Monitor(monitor::Cmd),
    #[command(flatten)]
    Serve(serve::Cmd),
}

/// What a subcommand returns: an exit code, or an error that becomes exit code 2.
pub type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log);
    let result = match cli.command {
        Command::Audit(c) => audit::run(c),
        Command::Models(c) => models::run(c),
        Command::Store(c) => store::run(c),
        Command::Drift(c) => drift::run(c),
        Command::Data(c) => data::run(c),
        Command::Eval(c) => eval::run(c),
        Command::Judge(c) => judge::run(c),
        Command::Rollout(c) => rollout::run(c),
        Command::Completions(c) => completions::run(c, Cli::command()),
        Command::Monitor(c) => monitor::run(c),
        Command::Serve(c) => serve::run(c),
    };
    match result {
        Ok(code) => code,
        // `mlops runs list | head`: a closed pipe ends the listing quietly.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
