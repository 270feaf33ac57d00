//! Callers suspended for a while (docs/detection.md): by a detection rule that says
//! `then = ["suspend_caller"]`, or by an admin. Every node refuses a suspended caller's requests
//! at authentication until the suspension ends or an admin lifts it. Each suspension and each
//! lift is an event in the chain (`caller.suspend`, `caller.resume`), the rule or the admin as
//! its actor.

use crate::events::AdminAction;
use serde::{Deserialize, Serialize};

/// One caller's suspension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suspension {
    /// The caller's id: an API key's id, or `issuer#subject` for a token.
    pub caller: String,
    pub at_ms: i64,
    /// When it ends by itself.
    pub until_ms: i64,
    /// Why, with the evidence for a rule's.
    pub reason: String,
    /// Who suspended the caller (`rule:NAME` for a detection rule).
    pub by: String,
}

impl Suspension {
    pub(crate) fn suspended(&self) -> AdminAction {
        AdminAction::CallerSuspend {
            caller: self.caller.clone(),
            until_ms: self.until_ms,
            reason: self.reason.clone(),
        }
    }
}

pub(crate) const COLUMNS: &str = "caller, at, until_at, reason, by_actor";

pub(crate) mod sqlite {
    use super::{COLUMNS, Suspension};
    use crate::error::StorageError;
    use rusqlite::{Connection, params};

    /// Suspends (or suspends again, until the new end) the caller.
    pub(crate) fn suspend(tx: &Connection, s: &Suspension) -> Result<(), StorageError> {
        tx.execute(
            &format!(
                "INSERT INTO suspensions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (caller) DO UPDATE SET at = excluded.at, until_at = excluded.until_at,
                 reason = excluded.reason, by_actor = excluded.by_actor"
            ),
            params![s.caller, s.at_ms, s.until_ms, s.reason, s.by],
        )?;
        Ok(())
    }

    /// Lifts the caller's suspension; whether one was in force at `now_ms`.
    pub(crate) fn resume(tx: &Connection, caller: &str, now_ms: i64) -> Result<bool, StorageError> {
        let active: bool = tx
            .query_row(
                "SELECT COUNT(*) FROM suspensions WHERE caller = ?1 AND until_at > ?2",
                params![caller, now_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)?;
        tx.execute("DELETE FROM suspensions WHERE caller = ?1", [caller])?;
        Ok(active)
    }

    /// The suspensions in force at `now_ms`, by caller.
    pub(crate) fn active(conn: &Connection, now_ms: i64) -> Result<Vec<Suspension>, StorageError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM suspensions WHERE until_at > ?1 ORDER BY caller"
        ))?;
        let rows = stmt.query_map([now_ms], |r| {
            Ok(Suspension {
                caller: r.get(0)?,
                at_ms: r.get(1)?,
                until_ms: r.get(2)?,
                reason: r.get(3)?,
                by: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
