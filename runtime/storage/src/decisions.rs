//! The decisions bundle in force (docs/decisions.md): the Rego modules an operator applied, as
//! the server keeps them, with their hash. One table of every bundle applied, newest last; the
//! newest row is the one in force (a removal is a row without a bundle). Each change is one
//! `decisions.apply` or `decisions.remove` event, in the same transaction, announced to every
//! node sharing the store.

use crate::error::StorageError;
use crate::events::AdminAction;
use rusqlite::{Connection, OptionalExtension, params};

/// A bundle as stored: its hash (what records and events name) and its JSON (the server's own
/// form: package and modules; the store does not read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionBundle {
    pub hash: String,
    pub bundle: String,
    /// The package that answers, and how many modules: named in the event.
    pub package: String,
    pub modules: u64,
}

/// The bundle in force, as of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    pub hash: String,
    pub bundle: String,
    pub at_ms: i64,
}

/// The event a change from `previous` (the hash in force, if any) to `next` records, or `None`
/// when nothing changes.
pub(crate) fn change_of(
    previous: Option<String>,
    next: Option<&DecisionBundle>,
) -> Option<AdminAction> {
    match (previous, next) {
        (Some(p), Some(n)) if p == n.hash => None,
        (None, None) => None,
        (previous, Some(n)) => Some(AdminAction::DecisionsApply {
            hash: n.hash.clone(),
            previous,
            package: n.package.clone(),
            modules: n.modules,
        }),
        (Some(previous), None) => Some(AdminAction::DecisionsRemove { previous }),
    }
}

/// The newest row: `Some` with the bundle in force, `None` when there is none.
pub(crate) fn in_force(conn: &Connection) -> Result<Option<InForce>, StorageError> {
    let row: Option<(String, String, i64)> = conn
        .query_row(
            "SELECT hash, bundle, at FROM decisions ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(row
        .filter(|(hash, _, _)| !hash.is_empty())
        .map(|(hash, bundle, at_ms)| InForce {
            hash,
            bundle,
            at_ms,
        }))
}

/// Puts `next` in force (`None`: no bundle); returns the event to record, if anything changed.
pub(crate) fn set(
    conn: &Connection,
    next: Option<&DecisionBundle>,
    at_ms: i64,
) -> Result<Option<AdminAction>, StorageError> {
    let previous = in_force(conn)?.map(|f| f.hash);
    let action = change_of(previous, next);
    if action.is_some() {
        let (hash, bundle) = next.map_or(("", ""), |n| (n.hash.as_str(), n.bundle.as_str()));
        conn.execute(
            "INSERT INTO decisions (hash, bundle, at) VALUES (?1, ?2, ?3)",
            params![hash, bundle, at_ms],
        )?;
    }
    Ok(action)
}

/// A bundle applied at some time, by its hash (to show one the history names).
pub(crate) fn by_hash(conn: &Connection, hash: &str) -> Result<Option<InForce>, StorageError> {
    Ok(conn
        .query_row(
            "SELECT hash, bundle, at FROM decisions WHERE hash = ?1 AND hash != '' ORDER BY seq DESC LIMIT 1",
            [hash],
            |r| {
                Ok(InForce {
                    hash: r.get(0)?,
                    bundle: r.get(1)?,
                    at_ms: r.get(2)?,
                })
            },
        )
        .optional()?)
}
