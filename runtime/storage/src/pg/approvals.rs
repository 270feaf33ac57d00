//! Calls held for approval on PostgreSQL (`crate::approvals`): the same rows, moves and events
//! as the embedded store, each move under the log's lock with its event.

use super::Postgres;
use crate::approvals::{
    self, ApprovalRow, ApprovalState, COLUMNS, Decided, EXPIRED, decided, next_state,
};
use crate::error::StorageError;
use crate::events::{Actor, AdminEvent};
use postgres::GenericClient;

fn row_of(r: &postgres::Row) -> Result<ApprovalRow, StorageError> {
    let text: [String; 14] = std::array::from_fn(|i| r.get::<_, String>(i));
    ApprovalRow::from_columns(
        text,
        r.get(14),
        r.get(15),
        r.get::<_, String>(16).as_str(),
        r.get(17),
        r.get(18),
        r.get(19),
        r.get(20),
    )
}

fn get(
    c: &mut impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<ApprovalRow>, StorageError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&id])?.map(|r| row_of(&r)).transpose()
}

fn decide(
    c: &mut impl GenericClient,
    row: &mut ApprovalRow,
    state: ApprovalState,
    reason: &str,
    by: &Actor,
    now_ms: i64,
) -> Result<(), StorageError> {
    c.execute(
        "UPDATE approvals SET state = $2, decided_by = $3, decided_name = $4, reason = $5, decided_at = $6 WHERE id = $1 AND state = 'pending'",
        &[&row.id, &state.as_str(), &by.key_id, &by.name, &reason, &now_ms],
    )?;
    row.state = state;
    row.decided_by = Some(by.clone());
    row.reason = Some(reason.to_owned());
    row.decided_at_ms = Some(now_ms);
    Ok(())
}

impl Postgres {
    pub(super) fn approval_hold_pg(&self, row: &ApprovalRow) -> Result<(), StorageError> {
        let by = Actor::key(&row.caller, &row.caller_name);
        let f = row.flat();
        self.change_with(row.created_at_ms, &by, |tx| {
            let t = &f.text;
            tx.execute(
                &format!("INSERT INTO approvals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, NULL, NULL, NULL)"),
                &[&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8], &t[9], &t[10], &t[11], &t[12], &t[13], &f.created_at, &f.expires_at, &f.state],
            )?;
            Ok(((), Some(row.requested())))
        })
    }

    pub(super) fn approval_pg(&self, id: &str) -> Result<Option<ApprovalRow>, StorageError> {
        get(&mut *self.conn()?, id, false)
    }

    pub(super) fn approvals_pending_pg(
        &self,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ApprovalRow>, StorageError> {
        let limit = i64::from(limit);
        let (at, id) = after.unwrap_or((i64::MIN, String::new()));
        self.conn()?
            .query(
                &format!("SELECT {COLUMNS} FROM approvals WHERE state = 'pending' AND (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3"),
                &[&at, &id, &limit],
            )?
            .iter()
            .map(row_of)
            .collect()
    }

    pub(super) fn approval_decide_pg(
        &self,
        id: &str,
        approve: bool,
        reason: &str,
        by: &Actor,
        now_ms: i64,
    ) -> Result<Decided, StorageError> {
        let (decided_, _) = self.change(|tx| {
            let Some(mut row) = get(tx, id, true)? else {
                return Ok((Decided::Missing, Vec::new()));
            };
            let Some((state, expired)) = next_state(&row, approve, now_ms) else {
                return Ok((Decided::NotPending(row), Vec::new()));
            };
            let (actor, why) = if expired {
                (Actor::server(), EXPIRED)
            } else {
                (by.clone(), reason)
            };
            decide(tx, &mut row, state, why, &actor, now_ms)?;
            let event = AdminEvent::new(now_ms, &actor, decided(&row, state, why));
            Ok((
                if expired {
                    Decided::Expired(row)
                } else {
                    Decided::Done(row)
                },
                vec![event],
            ))
        })?;
        Ok(decided_)
    }

    pub(super) fn approvals_expire_pg(
        &self,
        now_ms: i64,
    ) -> Result<Vec<ApprovalRow>, StorageError> {
        // Read first, without the log's lock: every node sweeps each second, and almost always
        // finds nothing to expire.
        let due: bool = self
            .conn()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM approvals WHERE state = 'pending' AND expires_at <= $1)",
                &[&now_ms],
            )?
            .get(0);
        if !due {
            return Ok(Vec::new());
        }
        let (rows, _) = self.change(|tx| {
            let mut rows: Vec<ApprovalRow> = tx
                .query(
                    &format!("SELECT {COLUMNS} FROM approvals WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT 100 FOR UPDATE"),
                    &[&now_ms],
                )?
                .iter()
                .map(row_of)
                .collect::<Result<_, _>>()?;
            let mut events = Vec::new();
            for row in &mut rows {
                let state = ApprovalState::Expired;
                decide(tx, row, state, EXPIRED, &Actor::server(), now_ms)?;
                events.push(AdminEvent::new(
                    now_ms,
                    &Actor::server(),
                    approvals::decided(row, state, EXPIRED),
                ));
            }
            Ok((rows, events))
        })?;
        Ok(rows)
    }

    pub(super) fn approvals_prune_pg(&self, before_ms: i64) -> Result<u64, StorageError> {
        Ok(self.conn()?.execute(
            "DELETE FROM approvals WHERE state != 'pending' AND decided_at < $1",
            &[&before_ms],
        )?)
    }
}
