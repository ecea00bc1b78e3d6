//! Alias history: the records and the two questions asked of them (what was the alias
//! at time T, and what does a rollback go back to). Storage is the backends' business;
//! this file is pure functions over a slice of moves, oldest first.

use serde::{Deserialize, Serialize};

use crate::{AuditLog, Error, Result};

/// Prefix of the registered-model tags holding the alias history on an MLflow server
/// (`mlops.alias_history.<alias>.<13-digit ms>.<8 hex>`); `sync_models` skips them.
pub const HISTORY_TAG_PREFIX: &str = "mlops.alias_history.";

/// Writes a recorded move of `name`'s alias to the audit log (action
/// `registry.alias.<set|delete|rollback>`, subject `models:/NAME@ALIAS`, the move with
/// the model and `registry` location as payload). Both backends call it after storing
/// the move.
pub(crate) fn audit_move(
    audit: &AuditLog,
    registry: &str,
    name: &str,
    m: &AliasMove,
) -> Result<()> {
    let action = match m.kind {
        AliasMoveKind::Set => "registry.alias.set",
        AliasMoveKind::Delete => "registry.alias.delete",
        AliasMoveKind::Rollback => "registry.alias.rollback",
    };
    let mut payload = serde_json::to_value(m).map_err(|source| Error::Json {
        context: "alias move".into(),
        source,
    })?;
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("model".into(), name.into());
        obj.insert("registry".into(), registry.into());
    }
    audit.append(
        &m.actor,
        action,
        &format!("models:/{name}@{}", m.alias),
        payload,
    )?;
    Ok(())
}

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

/// One recorded move of an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasMove {
    /// When, in ms since the Unix epoch (the mover's clock).
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
}

/// The version the alias pointed at at `time_ms`: the target of the last move at or
/// before that time (moves in the same millisecond count in recorded order).
pub(crate) fn version_at(moves: &[AliasMove], time_ms: u64) -> Option<u64> {
    let mut sorted: Vec<&AliasMove> = moves.iter().collect();
    sorted.sort_by_key(|m| m.time_ms); // stable: recorded order within a millisecond
    sorted
        .iter()
        .take_while(|m| m.time_ms <= time_ms)
        .last()
        .and_then(|m| m.to_version)
}

/// The version a rollback moves the alias back to.
///
/// The moves are replayed as an undo stack: a set or delete pushes its target, a
/// rollback pops. The rollback target is the state under the top, which must be a
/// version (rolling back to "not set" is a delete, not a rollback).
pub(crate) fn rollback_target(model: &str, alias: &str, moves: &[AliasMove]) -> Result<u64> {
    let mut stack: Vec<Option<u64>> = Vec::new();
    let mut sorted: Vec<&AliasMove> = moves.iter().collect();
    sorted.sort_by_key(|m| m.time_ms);
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
            time_ms: t,
            alias: "champion".into(),
            from_version: from,
            to_version: to,
            actor: "t".into(),
            reason: String::new(),
            kind,
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
}
