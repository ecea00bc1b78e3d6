//! `mlops completions SHELL`: the shell completion script, generated from the same clap
//! definition the binary parses with (so it never lags behind a new subcommand).
//!
//! Install, for example: `mlops completions bash > ~/.local/share/bash-completion/completions/mlops`,
//! `mlops completions zsh > ~/.zfunc/_mlops`, `mlops completions fish > ~/.config/fish/completions/mlops.fish`.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use clap_complete::Shell;

use crate::CmdResult;

/// Completion-script subcommand.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete in.
        shell: Shell,
    },
}

/// Writes the script for `cmd`'s shell of the command line `cli` to stdout.
pub fn run(cmd: Cmd, mut cli: clap::Command) -> CmdResult {
    let Cmd::Completions { shell } = cmd;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli, "mlops", &mut out);
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    o.write_all(&out)?;
    o.flush()?;
    Ok(ExitCode::SUCCESS)
}
