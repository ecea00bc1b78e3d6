//! `mlops audit verify LOG`, `mlops audit repair LOG` and `mlops audit show LOG`: check,
//! repair after a crash, and read an audit log.
//!
//! A crash mid-append leaves a torn last line: that is not tampering, so `verify` gives
//! it its own message and exit 2 (an error stopped the check, and it names `repair`);
//! exit 1 stays for tampering only. `repair` cuts the torn bytes and records the repair
//! as a new record; it refuses (exit 1) to touch a tampered log.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::{AuditLog, Error};
use serde_json::Value;

use crate::CmdResult;
use crate::table::{Align, Listing, clip, num, utc};

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
    /// Verify the hash chain: exit 0 intact, 1 tampered, 2 torn tail (a crash
    /// mid-append: run `mlops audit repair`) or unreadable.
    Verify {
        /// The audit log (JSON lines).
        log: PathBuf,
    },
    /// Cut a torn last record left by a crash and record the repair: exit 0 repaired
    /// (or nothing to repair), 1 refused because the log is tampered, 2 error.
    Repair {
        /// The audit log (JSON lines).
        log: PathBuf,
        /// Who repairs (recorded in the repair record).
        #[arg(long, default_value = "mlops-cli")]
        actor: String,
    },
    /// Print the records as a timeline table (UTC times, causal links, a summary of each
    /// payload).
    Show {
        /// The audit log (JSON lines).
        log: PathBuf,
        /// Print the records as raw JSON lines (full payloads and hashes) instead.
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
                    "ok: {} records, head {}{}",
                    v.records,
                    v.head.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
                    if v.head_lagging {
                        " (head file one record behind: an interrupted append, fixed by the next one)"
                    } else {
                        ""
                    }
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ Error::AuditTampered { .. }) => {
                println!("TAMPERED: {e}");
                Ok(ExitCode::from(1))
            }
            Err(e @ Error::AuditTornTail { .. }) => {
                println!("TORN TAIL (a crash, not tampering): {e}");
                Ok(ExitCode::from(2))
            }
            Err(e) => Err(e.into()),
        },
        AuditCmd::Repair { log, actor } => match AuditLog::open(&log).repair(&actor) {
            Ok(r) => {
                match &r.record {
                    Some(rec) => println!(
                        "repaired: {} torn bytes cut, recorded as record {}",
                        r.dropped_bytes, rec.seq
                    ),
                    None if r.head_rewritten => println!("repaired: head file brought up to date"),
                    None => println!("nothing to repair"),
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ Error::AuditTampered { .. }) => {
                println!("REFUSED, the log is tampered: {e}");
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e.into()),
        },
        AuditCmd::Show { log, json } => {
            let records = AuditLog::open(&log).records()?;
            let stdout = std::io::stdout();
            let mut o = stdout.lock();
            if json {
                for r in &records {
                    writeln!(o, "{}", serde_json::to_string(r)?)?;
                }
            } else {
                let mut t = Listing::new(&[
                    ("SEQ", Align::Right),
                    ("TIME (UTC)", Align::Left),
                    ("ACTOR", Align::Left),
                    ("ACTION", Align::Left),
                    ("CAUSE", Align::Right),
                    ("SUBJECT", Align::Left),
                    ("DETAILS", Align::Left),
                ]);
                // A record whose payload names an earlier record's hash (`cause`, as the
                // retrain loop writes them) is linked to it by sequence number, so a
                // chain (trigger -> retrain -> gate -> version -> rollout) reads down
                // the timeline.
                let mut seq_of = std::collections::HashMap::new();
                for r in &records {
                    let cause = r
                        .payload
                        .get("cause")
                        .and_then(Value::as_str)
                        .and_then(|h| seq_of.get(h))
                        .map(|s| format!("<- #{s}"))
                        .unwrap_or_default();
                    seq_of.insert(r.hash.to_string(), r.seq);
                    let mut details = r.payload.clone();
                    if let Some(o) = details.as_object_mut() {
                        o.remove("cause");
                    }
                    t.row(vec![
                        r.seq.to_string(),
                        utc(r.time_ms),
                        clip(&r.actor, 20),
                        r.action.clone(),
                        cause,
                        clip(&r.subject, 48),
                        clip(&summary(&details), 96),
                    ]);
                }
                t.print(&mut o)?;
            }
            o.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A payload on one line for a person: `key=value` pairs of an object (numbers at a
/// readable precision, strings unquoted, SHA-256 digests shortened, nested values as
/// compact JSON).
fn summary(payload: &Value) -> String {
    let one = |v: &Value| match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (_, Some(i), _) => i.to_string(),
            (_, _, Some(f)) => num(f),
            _ => n.to_string(),
        },
        // A full SHA-256 in hex: its 12-character prefix, as digests print elsewhere.
        Value::String(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            s[..12].to_string()
        }
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    match payload {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", one(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => one(other),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_summaries() {
        let p = serde_json::json!({"from": 1, "p_value": 0.0123456, "reason": "better", "to": null, "x": [1, 2],
            "package": "6410c79b6266f0ef40b76482453510acb9c6ebf95cf8d520954c35576aa25746"});
        assert_eq!(
            super::summary(&p),
            "from=1 p_value=0.01235 package=6410c79b6266 reason=better to=- x=[1,2]"
        );
        assert_eq!(super::summary(&serde_json::json!("plain")), "plain");
    }
}
