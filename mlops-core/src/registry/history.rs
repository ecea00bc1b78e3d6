//! Alias history: the records and the two questions asked of them (what was the alias
//! at time T, and what does a rollback go back to). Storage is the backends' business;
//! this file is pure functions over a slice of moves, oldest first.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Prefix of the registered-model tags holding the alias history on an MLflow server
/// (`mlops.alias_history.<alias>.<13-digit ms>.<8 hex>`); `sync_models` skips them.
pub const HISTORY_TAG_PREFIX: &str = "mlops.alias_history.";

/// What kind of move an [`AliasMove`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AliasMoveKind {
    /// The alias was set or moved to a version.
    Set,
    /// The alias was removed.
    Delete,
    /// The alias was moved back by [`Registry::rollback_alias`](super::Registry::rollback_alias).
    Rollback,
}

/// Where a recorded move stands (see `registry/alias.rs` for the order of writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MoveState {
    /// Recorded before the alias was moved; not (yet) confirmed. The next move of the
    /// alias settles it as done or aborted.
    Intended,
    /// The alias was moved (records written before intents existed read as done).
    #[default]
    Done,
    /// The move did not happen (it failed, or was cut off before the alias moved).
    Aborted,
}

/// One recorded move of an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasMove {
    /// The move's id: its intent and its confirmation are two writes of one record.
    /// (Empty in records written before ids existed.)
    #[serde(default)]
    pub id: String,
    /// When, in ms since the Unix epoch, by the mover's clock (when the move began).
    pub time_ms: u64,
    /// The alias.
    pub alias: String,
    /// The version it pointed at before (`None`: it was not set).
    pub from_version: Option<u64>,
    /// The version it points at after (`None`: removed).
    pub to_version: Option<u64>,
    /// Who moved it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Set, delete or rollback.
    pub kind: AliasMoveKind,
    /// Intended, done or aborted.
    #[serde(default)]
    pub state: MoveState,
    /// The server's time of the move (ms), when the backend's server gives one (the
    /// MLflow server's `Date` answer header: whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time_ms: Option<u64>,
}

impl AliasMove {
    /// The time moves are ordered and dated by: the mover's clock, unless the server
    /// dated the move and the two disagree by more than [`SERVER_DATE_TOLERANCE_MS`]
    /// (a mover with a skewed clock), then the server's. The server's `Date` header is
    /// whole seconds and can lag well behind a busy server's moves (see the constant),
    /// so within that tolerance the mover's milliseconds are the better clock.
    pub fn effective_ms(&self) -> u64 {
        match self.server_time_ms {
            Some(s) if s.abs_diff(self.time_ms) > SERVER_DATE_TOLERANCE_MS => s,
            _ => self.time_ms,
        }
    }
}

/// How far a mover's clock may be from the server's `Date` before the server's is used.
///
/// 30 s, not a second or two: a busy MLflow server's cached `Date` was seen more than
/// 2 s behind a mover on the same machine (all five moves of a test then sorted before
/// the time they were made), while a mover whose clock is really wrong is off by
/// minutes or hours. Moves by movers within 30 s of each other are ordered by their
/// own clocks, which NTP keeps within milliseconds.
pub const SERVER_DATE_TOLERANCE_MS: u64 = 30_000;

/// A fresh move id (16 hex digits).
pub(crate) fn new_move_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The version the alias pointed at at `time_ms`: the target of the last move at or
/// before that time (moves in the same millisecond count in recorded order).
/// Only moves that were done count.
pub(crate) fn version_at(moves: &[AliasMove], time_ms: u64) -> Option<u64> {
    let mut sorted: Vec<&AliasMove> = moves
        .iter()
        .filter(|m| m.state == MoveState::Done)
        .collect();
    sorted.sort_by_key(|m| m.effective_ms()); // stable: recorded order within a millisecond
    sorted
        .iter()
        .take_while(|m| m.effective_ms() <= time_ms)
        .last()
        .and_then(|m| m.to_version)
}

/// The version a rollback moves the alias back to (only moves that were done count).
///
/// The moves are replayed as an undo stack: a set or delete pushes its target, a
/// rollback pops. The rollback target is the state under the top, which must be a
/// version (rolling back to "not set" is a delete, not a rollback).
pub(crate) fn rollback_target(model: &str, alias: &str, moves: &[AliasMove]) -> Result<u64> {
    let mut stack: Vec<Option<u64>> = Vec::new();
    let mut sorted: Vec<&AliasMove> = moves
        .iter()
        .filter(|m| m.state == MoveState::Done)
        .collect();
    sorted.sort_by_key(|m| m.effective_ms());
    for m in sorted {
        match m.kind {
            AliasMoveKind::Set | AliasMoveKind::Delete => {
                if stack.is_empty() && m.from_version.is_some() {
                    // The alias was set before the history starts (by another client).
                    stack.push(m.from_version);
                }
                stack.push(m.to_version);
            }
            AliasMoveKind::Rollback => {
                stack.pop();
                // Keep the stack honest if the rollback landed elsewhere than expected.
                match stack.last_mut() {
                    Some(top) => *top = m.to_version,
                    None => stack.push(m.to_version),
                }
            }
        }
    }
    let none = || {
        Error::InvalidArgument(format!(
            "models:/{model}@{alias}: no earlier version in the alias history to roll back to"
        ))
    };
    if stack.len() < 2 {
        return Err(none());
    }
    stack[stack.len() - 2].ok_or_else(none)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(t: u64, from: Option<u64>, to: Option<u64>, kind: AliasMoveKind) -> AliasMove {
        AliasMove {
            id: t.to_string(),
            time_ms: t,
            alias: "champion".into(),
            from_version: from,
            to_version: to,
            actor: "t".into(),
            reason: String::new(),
            kind,
            state: MoveState::Done,
            server_time_ms: None,
        }
    }

    #[test]
    fn at_and_rollback() {
        use AliasMoveKind::*;
        let mut h = vec![
            mv(10, None, Some(1), Set),
            mv(20, Some(1), Some(2), Set),
            mv(30, Some(2), Some(3), Set),
        ];
        assert_eq!(version_at(&h, 5), None);
        assert_eq!(version_at(&h, 10), Some(1));
        assert_eq!(version_at(&h, 25), Some(2));
        assert_eq!(version_at(&h, 99), Some(3));
        assert_eq!(rollback_target("m", "a", &h).unwrap(), 2);
        h.push(mv(40, Some(3), Some(2), Rollback));
        assert_eq!(rollback_target("m", "a", &h).unwrap(), 1);
        h.push(mv(50, Some(2), Some(1), Rollback));
        assert!(rollback_target("m", "a", &h).is_err());
        h.push(mv(60, Some(1), None, Delete));
        assert_eq!(version_at(&h, 61), None);
        assert_eq!(rollback_target("m", "a", &h).unwrap(), 1);
        // History that starts with the alias already set elsewhere.
        let h = vec![mv(10, Some(7), Some(8), Set)];
        assert_eq!(rollback_target("m", "a", &h).unwrap(), 7);
    }

    #[test]
    fn server_clock_orders_moves_and_only_done_moves_count() {
        use AliasMoveKind::*;
        // B's clock is 10 s behind A's: by the movers' clocks B's later move sorts first.
        let mut a = mv(20_000, None, Some(1), Set);
        let mut b = mv(10_500, Some(1), Some(2), Set);
        assert_eq!(version_at(&[a.clone(), b.clone()], u64::MAX), Some(1));
        a.server_time_ms = Some(100_000);
        b.server_time_ms = Some(101_000);
        assert_eq!(b.effective_ms(), 101_000);
        let mut in_step = mv(100_250, None, None, Set);
        in_step.server_time_ms = Some(100_000);
        assert_eq!(
            in_step.effective_ms(),
            100_250,
            "an agreeing clock keeps its ms"
        );
        assert_eq!(version_at(&[b.clone(), a.clone()], u64::MAX), Some(2));
        assert_eq!(version_at(&[b.clone(), a.clone()], 100_500), Some(1));
        // Intended and aborted moves are not moves.
        let mut c = mv(30_000, Some(2), Some(3), Set);
        c.server_time_ms = Some(102_000);
        c.state = MoveState::Aborted;
        assert_eq!(
            version_at(&[a.clone(), b.clone(), c.clone()], u64::MAX),
            Some(2)
        );
        c.state = MoveState::Intended;
        assert_eq!(rollback_target("m", "a", &[a, b, c]).unwrap(), 1);
    }
}
