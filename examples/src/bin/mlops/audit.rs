//! `mlops audit verify LOG` and `mlops audit show LOG`: check and read an audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::{AuditLog, Error};

use crate::CmdResult;

/// Audit-log subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCmd),
}

/// `mlops audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Verify the hash chain: exit 0 intact, 1 tampered, 2 unreadable.
    Verify {
        /// The audit log (JSON lines).
        log: PathBuf,
    },
    /// Print the records, one per line.
    Show {
        /// The audit log (JSON lines).
        log: PathBuf,
        /// Print raw JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an audit subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    let Cmd::Audit(cmd) = cmd;
    match cmd {
        AuditCmd::Verify { log } => match AuditLog::open(&log).verify() {
            Ok(v) => {
                println!(
                    "ok: {} records, head {}",
                    v.records,
                    v.head.map(|h| h.to_string()).unwrap_or_else(|| "-".into())
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ Error::AuditTampered { .. }) => {
                println!("TAMPERED: {e}");
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e.into()),
        },
        AuditCmd::Show { log, json } => {
            for r in AuditLog::open(&log).records()? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{:>5}  {:>13}  {:<12} {:<20} {}  {}",
                        r.seq, r.time_ms, r.actor, r.action, r.subject, r.payload
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
