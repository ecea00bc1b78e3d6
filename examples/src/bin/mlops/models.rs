//! `mlops models list|versions NAME|alias NAME ALIAS VERSION|history NAME ALIAS`: look at
//! a model registry from a shell or a CI log, on either backend.
//!
//! The registry is the one `--tracking-uri` names, else `MLFLOW_REGISTRY_URI`, else
//! `MLFLOW_TRACKING_URI`, else `./mlruns` (the MLflow client's order): a path or
//! `file:` URI opens the local store, `http(s)://` a real MLflow server.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::registry::{ModelQuery, VersionQuery};
use mlops_core::{AliasChange, Registry, registry_from_env, registry_from_uri};

use crate::CmdResult;
use crate::table::{Align, Listing, clip, utc};

/// Model-registry subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Model registry: models, versions, aliases and alias history.
    Models {
        /// Registry location: a path, a file: URI or an http(s):// MLflow server
        /// (default: MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_URI, ./mlruns).
        #[arg(long, global = true)]
        tracking_uri: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
}

/// `mlops models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCmd {
    /// List registered models with their aliases.
    List {
        /// Only names matching this SQL LIKE pattern (`fraud%`).
        #[arg(long)]
        filter: Option<String>,
    },
    /// List the versions of a model, newest first.
    Versions {
        /// Registered model name.
        name: String,
    },
    /// Point ALIAS at VERSION (recorded in the alias history and the audit log).
    Alias {
        /// Registered model name.
        name: String,
        /// Alias (`champion`, `challenger`, ...).
        alias: String,
        /// Version number.
        version: u64,
        /// Why (kept in the history).
        #[arg(long, default_value = "set from the command line")]
        reason: String,
        /// Who (default: MLOPS_ACTOR, else USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Show every recorded move of ALIAS: when, who, from, to, why.
    History {
        /// Registered model name.
        name: String,
        /// Alias.
        alias: String,
    },
}

/// Writes a line to the command's output (errors, a closed pipe included, end the
/// command; `main` treats a closed pipe as success).
macro_rules! out {
    ($o:expr, $($arg:tt)*) => {
        writeln!($o, $($arg)*)?
    };
}

/// Runs a models subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let code = run_to(cmd, &mut o)?;
    o.flush()?;
    Ok(code)
}

fn run_to(cmd: Cmd, o: &mut dyn Write) -> CmdResult {
    let Cmd::Models {
        tracking_uri,
        json,
        cmd,
    } = cmd;
    let reg: Box<dyn Registry> = match tracking_uri.as_deref() {
        Some(u) => registry_from_uri(u)?,
        None => registry_from_env()?,
    };
    match cmd {
        ModelsCmd::List { filter } => {
            let mut q = ModelQuery {
                name_like: filter,
                ..ModelQuery::default()
            };
            let mut t = Listing::new(&[
                ("NAME", Align::Left),
                ("UPDATED (UTC)", Align::Left),
                ("ALIASES", Align::Left),
                ("DESCRIPTION", Align::Left),
            ]);
            loop {
                let page = reg.search_models(&q)?;
                for m in &page.items {
                    if json {
                        out!(o, "{}", serde_json::to_string(m)?);
                        continue;
                    }
                    let aliases: Vec<String> =
                        m.aliases.iter().map(|(a, v)| format!("{a}=v{v}")).collect();
                    t.row(vec![
                        m.name.clone(),
                        utc(m.last_updated_timestamp),
                        aliases.join(","),
                        clip(m.description.as_deref().unwrap_or(""), 60),
                    ]);
                }
                match page.next_page_token {
                    Some(t) => q.page_token = Some(t),
                    None => break,
                }
            }
            if !json {
                t.print(o)?;
            }
        }
        ModelsCmd::Versions { name } => {
            // A typed "no such model" rather than an empty list.
            let aliases = reg.get_model(&name)?.aliases;
            let mut q = VersionQuery::of_model(&name);
            let mut t = Listing::new(&[
                ("VERSION", Align::Right),
                ("CREATED (UTC)", Align::Left),
                ("STATUS", Align::Left),
                ("ALIASES", Align::Left),
                ("PACKAGE", Align::Left),
                ("RUN", Align::Left),
                ("SOURCE", Align::Left),
            ]);
            loop {
                let page = reg.search_versions(&q)?;
                for v in &page.items {
                    if json {
                        out!(o, "{}", serde_json::to_string(v)?);
                        continue;
                    }
                    let al: Vec<&str> = aliases
                        .iter()
                        .filter(|(_, n)| **n == v.version)
                        .map(|(a, _)| a.as_str())
                        .collect();
                    let pkg = match v.package_digest() {
                        Ok(Some(d)) => d.short(),
                        _ => "-".into(),
                    };
                    t.row(vec![
                        v.version.to_string(),
                        utc(v.creation_timestamp),
                        v.status.as_str().to_string(),
                        al.join(","),
                        pkg,
                        v.run_id
                            .as_ref()
                            .map(|r| r.as_str().to_string())
                            .unwrap_or_else(|| "-".into()),
                        clip(&v.source, 64),
                    ]);
                }
                match page.next_page_token {
                    Some(t) => q.page_token = Some(t),
                    None => break,
                }
            }
            if !json {
                t.print(o)?;
            }
        }
        ModelsCmd::Alias {
            name,
            alias,
            version,
            reason,
            actor,
        } => {
            let mut change = AliasChange::new(reason);
            if let Some(a) = actor {
                change = change.by(a);
            }
            let m = reg.set_alias(&name, &alias, version, &change)?;
            if json {
                out!(o, "{}", serde_json::to_string(&m)?);
            } else {
                out!(
                    o,
                    "models:/{name}@{alias}: {} -> v{version} (by {}, recorded at {})",
                    m.from_version
                        .map(|v| format!("v{v}"))
                        .unwrap_or_else(|| "unset".into()),
                    m.actor,
                    utc(m.time_ms)
                );
            }
        }
        ModelsCmd::History { name, alias } => {
            let moves = reg.alias_history(&name, &alias)?;
            if json {
                for m in &moves {
                    out!(o, "{}", serde_json::to_string(m)?);
                }
            } else if moves.is_empty() {
                out!(o, "(no recorded moves of models:/{name}@{alias})");
            } else {
                let v = |x: Option<u64>| x.map(|n| format!("v{n}")).unwrap_or_else(|| "-".into());
                let mut t = Listing::new(&[
                    ("TIME (UTC)", Align::Left),
                    ("KIND", Align::Left),
                    ("FROM", Align::Right),
                    ("TO", Align::Right),
                    ("ACTOR", Align::Left),
                    ("REASON", Align::Left),
                ]);
                for m in &moves {
                    t.row(vec![
                        utc_ms(m.time_ms),
                        format!("{:?}", m.kind).to_lowercase(),
                        v(m.from_version),
                        v(m.to_version),
                        clip(&m.actor, 24),
                        clip(&m.reason, 80),
                    ]);
                }
                t.print(o)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) of a time in ms since the Unix epoch: alias moves
/// can be milliseconds apart.
fn utc_ms(ms: u64) -> String {
    mlops_core::format_utc_ms(ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_ms(0), "1970-01-01 00:00:00.000");
        assert_eq!(super::utc_ms(951_782_400_123), "2000-02-29 00:00:00.123");
    }
}
