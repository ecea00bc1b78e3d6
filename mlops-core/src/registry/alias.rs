//! The alias move, written once for both backends.
//!
//! Moving an alias is four writes to two or three places: the history record, the audit
//! log, the alias itself, and the record's confirmation. A process can die between any
//! two of them, so the order is chosen to make every cut readable:
//!
//! 1. settle earlier unconfirmed moves of the alias (see below);
//! 2. read where the alias points now; refuse a move that cannot be made;
//! 3. **record the intent**: a history record in state [`MoveState::Intended`], then an
//!    audit record (`registry.alias.<set|delete|rollback>`) carrying the move's `id`;
//! 4. move the alias (the backend's call; the MLflow server's clock is taken from its
//!    answer when it gives one);
//! 5. **confirm**: the history record again, same `id`, in state [`MoveState::Done`],
//!    then an audit record `registry.alias.confirm`.
//!
//! Killed before 3: nothing happened. Between 3 and 5: the history and the audit log
//! say the move is unconfirmed. A failed move (4 returns an error and the alias is not
//! where the move wanted it) is marked [`MoveState::Aborted`] at once. An unconfirmed intent is settled by the next move of
//! the alias (and read as settled before that): it is **done** when it is the alias's
//! last record and the alias points where it says, **aborted** otherwise; settling
//! writes the outcome to the history and an audit record
//! (`registry.alias.confirm`/`registry.alias.abort` with `"settled": true`). On the
//! MLflow server, where movers hold no common lock, an intent younger than
//! [`AliasStore::settle_after_ms`] may still be in flight and is left alone.
//!
//! What differs between the backends is only [`AliasStore`]: where the alias and the
//! history records live, and whether the server dates the move.

use serde_json::json;

use super::AliasChange;
use super::history::{self, AliasMove, AliasMoveKind, MoveState};
use crate::{AuditLog, Error, Result, now_ms};

/// What a backend provides for an alias move; [`move_alias`] does the rest.
pub(crate) trait AliasStore {
    /// The registry's location (for audit payloads; credentials redacted).
    fn alias_location(&self) -> String;
    /// The audit log moves are recorded in.
    fn alias_audit(&self) -> &AuditLog;
    /// Where `alias` of `name` points now (`None`: not set). Fails when the model is
    /// missing.
    fn current_alias(&self, name: &str, alias: &str) -> Result<Option<u64>>;
    /// Checks that `alias` can be pointed at `to` (the version exists), before
    /// anything is written.
    fn check_target(&self, name: &str, to: u64) -> Result<()>;
    /// Points `alias` at `to`, or removes it (`None`). Returns the server's time of the
    /// move in ms when the backend has one.
    fn point_alias(&self, name: &str, alias: &str, to: Option<u64>) -> Result<Option<u64>>;
    /// Stores a history record: a new one, or the new state of the record with the
    /// same `id`.
    fn write_record(&self, name: &str, m: &AliasMove) -> Result<()>;
    /// Every stored record of `alias`, one per `id` in its latest state, in stored
    /// order.
    fn read_records(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>>;
    /// How old an unconfirmed intent must be before another mover may settle it: 0
    /// where movers hold one lock (local), longer where they do not (a server).
    fn settle_after_ms(&self) -> u64;
}

fn action(kind: AliasMoveKind) -> &'static str {
    match kind {
        AliasMoveKind::Set => "registry.alias.set",
        AliasMoveKind::Delete => "registry.alias.delete",
        AliasMoveKind::Rollback => "registry.alias.rollback",
    }
}

/// The audit record of a move's intent: the whole move with model and registry.
fn audit_intent(store: &dyn AliasStore, name: &str, m: &AliasMove) -> Result<()> {
    let mut payload = serde_json::to_value(m).map_err(|source| Error::Json {
        context: "alias move".into(),
        source,
    })?;
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("model".into(), name.into());
        obj.insert("registry".into(), store.alias_location().into());
    }
    store.alias_audit().append(
        &m.actor,
        action(m.kind),
        &format!("models:/{name}@{}", m.alias),
        payload,
    )?;
    Ok(())
}

/// The audit record of a move's outcome (`confirm` or `abort`).
fn audit_outcome(
    store: &dyn AliasStore,
    name: &str,
    m: &AliasMove,
    actor: &str,
    settled: bool,
) -> Result<()> {
    let verb = match m.state {
        MoveState::Done => "registry.alias.confirm",
        _ => "registry.alias.abort",
    };
    store.alias_audit().append(
        actor,
        verb,
        &format!("models:/{name}@{}", m.alias),
        json!({
            "id": m.id,
            "model": name,
            "registry": store.alias_location(),
            "to_version": m.to_version,
            "server_time_ms": m.server_time_ms,
            "settled": settled,
        }),
    )?;
    Ok(())
}

/// The records of `alias` with unconfirmed intents resolved as settling would resolve
/// them (nothing is written), oldest first by [`AliasMove::effective_ms`].
pub(crate) fn history(store: &dyn AliasStore, name: &str, alias: &str) -> Result<Vec<AliasMove>> {
    let mut records = store.read_records(name, alias)?;
    if records.iter().any(|m| m.state == MoveState::Intended) {
        let current = store.current_alias(name, alias)?;
        resolve(&mut records, current, now_ms(), store.settle_after_ms());
    }
    records.sort_by_key(AliasMove::effective_ms); // stable: stored order within a ms
    Ok(records)
}

/// Decides unconfirmed intents: the last record is done when the alias points where it
/// says; any other intent old enough is aborted. Returns the indexes changed.
fn resolve(records: &mut [AliasMove], current: Option<u64>, now: u64, grace: u64) -> Vec<usize> {
    let last = records.len().checked_sub(1);
    let mut changed = Vec::new();
    for (i, m) in records.iter_mut().enumerate() {
        if m.state != MoveState::Intended {
            continue;
        }
        if Some(i) == last && m.to_version == current {
            m.state = MoveState::Done;
            changed.push(i);
        } else if now.saturating_sub(m.time_ms) >= grace {
            m.state = MoveState::Aborted;
            changed.push(i);
        }
    }
    changed
}

/// Writes the outcome of unconfirmed intents of `alias` (see the module docs).
fn settle(store: &dyn AliasStore, name: &str, alias: &str, actor: &str) -> Result<()> {
    let mut records = store.read_records(name, alias)?;
    if !records.iter().any(|m| m.state == MoveState::Intended) {
        return Ok(());
    }
    let current = store.current_alias(name, alias)?;
    for i in resolve(&mut records, current, now_ms(), store.settle_after_ms()) {
        let m = &records[i];
        store.write_record(name, m)?;
        audit_outcome(store, name, m, actor, true)?;
        tracing::warn!(model = name, alias, id = %m.id, state = ?m.state, "unconfirmed alias move settled");
    }
    Ok(())
}

/// Moves `alias` of `name` to `to` (`None`: removes it) in the order of the module
/// docs, and returns the confirmed move.
pub(crate) fn move_alias(
    store: &dyn AliasStore,
    name: &str,
    alias: &str,
    to: Option<u64>,
    kind: AliasMoveKind,
    change: &AliasChange,
) -> Result<AliasMove> {
    settle(store, name, alias, &change.actor)?;
    let from = store.current_alias(name, alias)?;
    match to {
        Some(v) => store.check_target(name, v)?,
        None if from.is_none() => {
            return Err(Error::AliasNotFound {
                name: name.into(),
                alias: alias.into(),
            });
        }
        None => {}
    }
    let mut m = AliasMove {
        id: history::new_move_id(),
        time_ms: now_ms(),
        alias: alias.into(),
        from_version: from,
        to_version: to,
        actor: change.actor.clone(),
        reason: change.reason.clone(),
        kind,
        state: MoveState::Intended,
        server_time_ms: None,
    };
    store.write_record(name, &m)?;
    audit_intent(store, name, &m)?;
    match store.point_alias(name, alias, to) {
        Ok(server_time) => m.server_time_ms = server_time,
        Err(e) => {
            // An error can come after the move took effect (a lost answer): ask. When
            // the answer is unclear too, the intent stays for the next move to settle.
            if let Ok(now) = store.current_alias(name, alias)
                && now != to
            {
                m.state = MoveState::Aborted;
                if store.write_record(name, &m).is_ok() {
                    let _ = audit_outcome(store, name, &m, &change.actor, false);
                }
            }
            return Err(e);
        }
    }
    m.state = MoveState::Done;
    store.write_record(name, &m)?;
    audit_outcome(store, name, &m, &change.actor, false)?;
    tracing::info!(model = name, alias, ?from, ?to, ?kind, "alias moved");
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(t: u64, to: Option<u64>, state: MoveState) -> AliasMove {
        AliasMove {
            id: format!("{t}"),
            time_ms: t,
            alias: "a".into(),
            from_version: None,
            to_version: to,
            actor: "t".into(),
            reason: String::new(),
            kind: AliasMoveKind::Set,
            state,
            server_time_ms: None,
        }
    }

    #[test]
    fn resolving_intents() {
        use MoveState::*;
        // Last intent that took effect: done. An earlier one: aborted.
        let mut r = vec![mv(1, Some(1), Intended), mv(2, Some(2), Intended)];
        assert_eq!(resolve(&mut r, Some(2), 100, 0), vec![0, 1]);
        assert_eq!((r[0].state, r[1].state), (Aborted, Done));
        // Last intent that did not take effect: aborted, but only once old enough.
        let mut r = vec![mv(1, Some(1), Done), mv(50, Some(2), Intended)];
        assert!(resolve(&mut r, Some(1), 60, 30).is_empty());
        assert_eq!(r[1].state, Intended);
        assert_eq!(resolve(&mut r, Some(1), 90, 30), vec![1]);
        assert_eq!(r[1].state, Aborted);
    }
}
