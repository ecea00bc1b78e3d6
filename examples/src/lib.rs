//! What the example binaries share: the log subscriber a program (never a library)
//! installs.
//!
//! The SDK reports through `tracing` events (spool lines skipped, entries unreadable,
//! retries) and installs nothing, as a library must. A binary that installs no
//! subscriber drops every one of those events, so each of ours calls [`init_logging`]
//! first: events go to **stderr** (stdout stays the command's output, pure JSON under
//! `--json`), `warn` and above by default, `RUST_LOG` for anything finer.
//!
//! The filter is tracing-subscriber's `Targets` (`target=level` directives, as
//! `RUST_LOG` is written everywhere) rather than `EnvFilter`: the latter's span and
//! field filters need regex DFA features that would rebuild regex, and with it polars,
//! for nothing a command line needs.

#![warn(missing_docs)]

pub mod story;

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// How much a binary logs: its `-v`/`-q` flags, to flatten into a clap parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::Args)]
pub struct Verbosity {
    /// More log output on stderr: -v info, -vv debug, -vvv trace (default: warnings;
    /// RUST_LOG=target=level for finer filters).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output on stderr: -q errors only, -qq nothing.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
}

impl Verbosity {
    /// The level the flags ask for, or `None` when neither was given.
    pub fn level(self) -> Option<LevelFilter> {
        if self.verbose == 0 && self.quiet == 0 {
            return None;
        }
        let rank = 2i16 + i16::from(self.verbose) - i16::from(self.quiet);
        Some(match rank {
            i16::MIN..=0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }
}

/// The filter [`init_logging`] installs, from the flags and the value of `RUST_LOG`.
///
/// `RUST_LOG` is read as everywhere: comma-separated `level` (the global level),
/// `target=level` (a crate or module path prefix: `mlops_core=debug`) or `target` alone
/// (everything of it); with only target directives, other targets are off. Unset or
/// empty means `warn`. A level from `-v`/`-q` replaces the global level; `RUST_LOG`'s
/// target directives still apply. Directives that do not parse are reported on stderr
/// and skipped.
pub fn log_filter(verbosity: Verbosity, rust_log: Option<&str>) -> Targets {
    let mut targets = Targets::new();
    let mut global = None;
    let mut any = false;
    for part in rust_log.unwrap_or("").split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        any = true;
        match part.split_once('=') {
            None => match part.parse::<LevelFilter>() {
                Ok(level) => global = Some(level),
                Err(_) => targets = targets.with_target(part, LevelFilter::TRACE),
            },
            Some((target, level)) => match level.trim().parse::<LevelFilter>() {
                Ok(level) if !target.trim().is_empty() => {
                    targets = targets.with_target(target.trim(), level);
                }
                _ => eprintln!("ignoring RUST_LOG directive {part:?}: expected target=level"),
            },
        }
    }
    let global = verbosity
        .level()
        .or(global)
        .or((!any).then_some(LevelFilter::WARN));
    match global {
        Some(level) => targets.with_default(level),
        None => targets,
    }
}

/// Installs the process-wide subscriber of a binary: formatted events on stderr,
/// filtered by [`log_filter`] over the `RUST_LOG` environment variable, colours only
/// when stderr is a terminal. Call it once, first thing in `main`; a second call (or a
/// subscriber installed elsewhere) leaves the first in place.
pub fn init_logging(verbosity: Verbosity) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true)
        .with_filter(log_filter(verbosity, rust_log.as_deref()));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn v(verbose: u8, quiet: u8) -> Verbosity {
        Verbosity { verbose, quiet }
    }

    #[test]
    fn flags_to_levels() {
        assert_eq!(v(0, 0).level(), None);
        assert_eq!(v(1, 0).level(), Some(LevelFilter::INFO));
        assert_eq!(v(2, 0).level(), Some(LevelFilter::DEBUG));
        assert_eq!(v(9, 0).level(), Some(LevelFilter::TRACE));
        assert_eq!(v(0, 1).level(), Some(LevelFilter::ERROR));
        assert_eq!(v(0, 2).level(), Some(LevelFilter::OFF));
        assert_eq!(v(0, 200).level(), Some(LevelFilter::OFF));
    }

    /// Which of (core error, core warn, core info, core debug, other warn, other info)
    /// the filter lets through, as a string of 0/1.
    fn passes(v: Verbosity, rust_log: Option<&str>) -> String {
        let f = log_filter(v, rust_log);
        [
            ("mlops_core::tracking", Level::ERROR),
            ("mlops_core::tracking", Level::WARN),
            ("mlops_core::tracking", Level::INFO),
            ("mlops_core::tracking", Level::DEBUG),
            ("hyper", Level::WARN),
            ("hyper", Level::INFO),
        ]
        .iter()
        .map(|(t, l)| if f.would_enable(t, l) { '1' } else { '0' })
        .collect()
    }

    #[test]
    fn filters() {
        // Default: warnings and errors, everywhere.
        assert_eq!(passes(v(0, 0), None), "110010");
        assert_eq!(passes(v(0, 0), Some(" ")), "110010");
        assert_eq!(passes(v(0, 1), None), "100000");
        assert_eq!(passes(v(0, 2), None), "000000");
        assert_eq!(passes(v(1, 0), None), "111011");
        assert_eq!(passes(v(2, 0), None), "111111");
        // RUST_LOG as everywhere.
        assert_eq!(passes(v(0, 0), Some("info")), "111011");
        assert_eq!(passes(v(0, 0), Some("off")), "000000");
        assert_eq!(passes(v(0, 0), Some("mlops_core=debug")), "111100");
        assert_eq!(passes(v(0, 0), Some("mlops_core")), "111100");
        assert_eq!(passes(v(0, 0), Some("warn,mlops_core=error")), "100010");
        // Flags replace the global level; target directives stay.
        assert_eq!(passes(v(0, 2), Some("info,mlops_core=debug")), "111100");
        assert_eq!(passes(v(0, 1), Some("info")), "100000");
        assert_eq!(passes(v(1, 0), Some("mlops_core=error")), "100011");
        // A directive that does not parse is skipped, the rest applies.
        assert_eq!(passes(v(0, 0), Some("mlops_core=loud,error")), "100000");
    }
}
