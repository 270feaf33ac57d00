//! Calls held for a person's approval (docs/decisions.md): the operator's decisions allowed a
//! call only once someone approves it. The row keeps everything the call needs to run later on
//! any node (its caller, tool version, input) and what binds the approval (the input's hash, the
//! decisions bundle's hash, the expiry). Its state moves once, under the store's lock: from
//! `pending` to `approved` (the node that approves runs it, exactly once), `denied` or
//! `expired`; each move is one event in the audit log, in the same transaction.

use crate::error::StorageError;
use crate::events::{Actor, AdminAction};
use serde::{Deserialize, Serialize};

/// Where a held call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalState> {
        [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Denied,
            ApprovalState::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A held call as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// The execution id the call is recorded under (the one its caller was given).
    pub id: String,
    /// The caller's id and name (as in the record), and what the server needs to run the call
    /// as that caller (JSON, the server's own).
    pub caller: String,
    pub caller_name: String,
    pub held_caller: String,
    pub tool: String,
    pub version: String,
    pub digest: String,
    pub policy_hash: String,
    /// `http` or `mcp`, as the record names it.
    pub transport: String,
    /// The input as sent (JSON text).
    pub input: String,
    pub input_sha256: String,
    /// The decisions bundle that held it.
    pub decision: String,
    /// Who may approve (`role:NAME`, `key:NAME`; none: any admin).
    pub approvers: Vec<String>,
    /// Why the decisions hold it, as the bundle says (for the approvers).
    pub reasons: Vec<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub state: ApprovalState,
    /// Who approved or denied it, why and when (`server` for an expiry).
    pub decided_by: Option<Actor>,
    pub reason: Option<String>,
    pub decided_at_ms: Option<i64>,
}

/// What deciding on a held call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Moved from `pending`, as asked; the row as it is now.
    Done(ApprovalRow),
    /// Its time was up: it is `expired` now (this decision expired it).
    Expired(ApprovalRow),
    /// It was no longer pending: decided (or expired) before.
    NotPending(ApprovalRow),
    /// No such held call.
    Missing,
}

pub(crate) const COLUMNS: &str = "id, caller, caller_name, held_caller, tool, version, digest, \
     policy_hash, transport, input, input_sha256, decision, approvers, reasons, created_at, \
     expires_at, state, decided_by, decided_name, reason, decided_at";

/// The columns as one row's values, in [`COLUMNS`] order (the approvers as JSON).
pub(crate) struct Flat {
    pub text: [String; 14],
    pub created_at: i64,
    pub expires_at: i64,
    pub state: &'static str,
}

impl ApprovalRow {
    pub(crate) fn flat(&self) -> Flat {
        Flat {
            text: [
                self.id.clone(),
                self.caller.clone(),
                self.caller_name.clone(),
                self.held_caller.clone(),
                self.tool.clone(),
                self.version.clone(),
                self.digest.clone(),
                self.policy_hash.clone(),
                self.transport.clone(),
                self.input.clone(),
                self.input_sha256.clone(),
                self.decision.clone(),
                serde_json::to_string(&self.approvers).unwrap_or_else(|_| "[]".into()),
                serde_json::to_string(&self.reasons).unwrap_or_else(|_| "[]".into()),
            ],
            created_at: self.created_at_ms,
            expires_at: self.expires_at_ms,
            state: self.state.as_str(),
        }
    }

    /// A row from its columns as read (`text` the first 14, then the rest).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_columns(
        text: [String; 14],
        created_at_ms: i64,
        expires_at_ms: i64,
        state: &str,
        decided_by: Option<String>,
        decided_name: Option<String>,
        reason: Option<String>,
        decided_at_ms: Option<i64>,
    ) -> Result<ApprovalRow, StorageError> {
        let [
            id,
            caller,
            caller_name,
            held_caller,
            tool,
            version,
            digest,
            policy_hash,
            transport,
            input,
            input_sha256,
            decision,
            approvers,
            reasons,
        ] = text;
        Ok(ApprovalRow {
            approvers: serde_json::from_str(&approvers)
                .map_err(|_| StorageError::Corrupt(format!("approval {id}: approvers")))?,
            reasons: serde_json::from_str(&reasons)
                .map_err(|_| StorageError::Corrupt(format!("approval {id}: reasons")))?,
            state: ApprovalState::parse(state)
                .ok_or_else(|| StorageError::Corrupt(format!("approval {id}: state")))?,
            decided_by: decided_by.map(|key_id| Actor {
                key_id,
                name: decided_name.unwrap_or_default(),
            }),
            id,
            caller,
            caller_name,
            held_caller,
            tool,
            version,
            digest,
            policy_hash,
            transport,
            input,
            input_sha256,
            decision,
            created_at_ms,
            expires_at_ms,
            reason,
            decided_at_ms,
        })
    }

    /// The event of holding it.
    pub(crate) fn requested(&self) -> AdminAction {
        AdminAction::ApprovalRequest {
            execution_id: self.id.clone(),
            tool: self.tool.clone(),
            version: self.version.clone(),
            input_sha256: self.input_sha256.clone(),
            decision: self.decision.clone(),
            approvers: self.approvers.clone(),
            expires_at_ms: self.expires_at_ms,
        }
    }
}

/// The event of a decision on `row` (`state` is where it moves).
pub(crate) fn decided(row: &ApprovalRow, state: ApprovalState, reason: &str) -> AdminAction {
    match state {
        ApprovalState::Approved => AdminAction::ApprovalGrant {
            execution_id: row.id.clone(),
            tool: row.tool.clone(),
            reason: reason.to_owned(),
        },
        _ => AdminAction::ApprovalDeny {
            execution_id: row.id.clone(),
            tool: row.tool.clone(),
            reason: reason.to_owned(),
            expired: state == ApprovalState::Expired,
        },
    }
}

/// The reason an expiry records.
pub const EXPIRED: &str = "no approver decided before the approval expired";

/// Where a decision moves `row` at `now_ms`: `None` when it is not pending; `Expired` when it
/// is pending but its time is up (whatever was asked).
pub(crate) fn next_state(
    row: &ApprovalRow,
    approve: bool,
    now_ms: i64,
) -> Option<(ApprovalState, bool)> {
    if row.state != ApprovalState::Pending {
        return None;
    }
    Some(if now_ms >= row.expires_at_ms {
        (ApprovalState::Expired, true)
    } else if approve {
        (ApprovalState::Approved, false)
    } else {
        (ApprovalState::Denied, false)
    })
}

pub(crate) mod sqlite {
    use super::*;
    use rusqlite::{Connection, OptionalExtension, params};

    /// One row's columns as read, before they are checked.
    type Raw = (
        Vec<String>,
        i64,
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
        let mut text = Vec::with_capacity(14);
        for i in 0..14 {
            text.push(r.get::<_, String>(i)?);
        }
        Ok((
            text,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
            r.get(17)?,
            r.get(18)?,
            r.get(19)?,
            r.get(20)?,
        ))
    }

    fn row_of(raw: Raw) -> Result<ApprovalRow, StorageError> {
        let (text, created, expires, state, by, name, reason, at) = raw;
        let text: [String; 14] = text
            .try_into()
            .map_err(|_| StorageError::Corrupt("approval columns".into()))?;
        ApprovalRow::from_columns(text, created, expires, &state, by, name, reason, at)
    }

    pub(crate) fn insert(conn: &Connection, row: &ApprovalRow) -> Result<(), StorageError> {
        let f = row.flat();
        let t = &f.text;
        conn.execute(
            &format!("INSERT INTO approvals ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, NULL, NULL, NULL, NULL)"),
            params![t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13], f.created_at, f.expires_at, f.state],
        )?;
        Ok(())
    }

    pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<ApprovalRow>, StorageError> {
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
            [id],
            read,
        )
        .optional()?
        .map(row_of)
        .transpose()
    }

    /// Pending calls, oldest first, at most `limit`.
    pub(crate) fn pending(
        conn: &Connection,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ApprovalRow>, StorageError> {
        let (at, id) = after.unwrap_or((i64::MIN, String::new()));
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE state = 'pending' AND (created_at, id) > (?1, ?2) ORDER BY created_at, id LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![at, id, limit], read)?;
        rows.map(|r| row_of(r?)).collect()
    }

    /// Moves `row` to `state`, as `by` at `now_ms`.
    pub(crate) fn decide(
        conn: &Connection,
        row: &mut ApprovalRow,
        state: ApprovalState,
        reason: &str,
        by: &Actor,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        conn.execute(
            "UPDATE approvals SET state = ?2, decided_by = ?3, decided_name = ?4, reason = ?5, decided_at = ?6 WHERE id = ?1 AND state = 'pending'",
            params![row.id, state.as_str(), by.key_id, by.name, reason, now_ms],
        )?;
        row.state = state;
        row.decided_by = Some(by.clone());
        row.reason = Some(reason.to_owned());
        row.decided_at_ms = Some(now_ms);
        Ok(())
    }

    /// Pending calls whose time is up at `now_ms`.
    pub(crate) fn expired(
        conn: &Connection,
        now_ms: i64,
    ) -> Result<Vec<ApprovalRow>, StorageError> {
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE state = 'pending' AND expires_at <= ?1 ORDER BY expires_at LIMIT 100"
        ))?;
        let rows = stmt.query_map([now_ms], read)?;
        rows.map(|r| row_of(r?)).collect()
    }

    /// Forgets decided calls decided before `before_ms` (their records and events stay).
    pub(crate) fn prune(conn: &Connection, before_ms: i64) -> Result<u64, StorageError> {
        Ok(conn.execute(
            "DELETE FROM approvals WHERE state != 'pending' AND decided_at < ?1",
            [before_ms],
        )? as u64)
    }
}
