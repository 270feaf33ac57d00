//! Running and recently finished calls on PostgreSQL (`crate::tasks`): the same rows as the
//! embedded store's, shared by every node; a cancellation is announced (`Change::Tasks`) so the
//! node running the call reads it at once.

use super::Postgres;
use super::listen::announce;
use crate::changes::Change;
use crate::error::StorageError;
use crate::tasks::{Abandoned, NewTask, PRUNE, TASK_COLUMNS, TaskRow, WAITING};

fn row(r: &postgres::Row) -> TaskRow {
    TaskRow {
        id: r.get(0),
        caller: r.get(1),
        tool: r.get(2),
        version: r.get(3),
        node: r.get(4),
        started_at_ms: r.get(5),
        updated_at_ms: r.get(6),
        lease_until_ms: r.get(7),
        progress: r.get(8),
        cancel_by: r.get(9),
        outcome: r.get(10),
        result: r.get(11),
        expires_at_ms: r.get(12),
        waiting: crate::Waiting::parse(r.get(13)),
        next: r.get(14),
        trace: r.get(15),
    }
}

/// What the task `id` waits for, when it is waiting for input (its row locked within `tx`).
fn waiting_in(
    tx: &mut postgres::Transaction<'_>,
    id: &str,
) -> Result<Option<crate::Waiting>, StorageError> {
    let found = tx.query_opt(
        &format!("SELECT waiting FROM tasks WHERE id = $1 AND {WAITING} FOR UPDATE"),
        &[&id],
    )?;
    Ok(crate::Waiting::parse(found.and_then(|r| r.get(0))))
}

impl Postgres {
    pub(super) fn start_tasks(&self, tasks: &[NewTask<'_>]) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        for t in tasks {
            tx.execute(
                "INSERT INTO tasks (id, caller, tool, version, node, started_at, updated_at,
                 lease_until, interrupted, trace) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)",
                &[
                    &t.id,
                    &t.caller,
                    &t.tool,
                    &t.version,
                    &t.node,
                    &t.now_ms,
                    &t.lease_until_ms,
                    &t.interrupted,
                    &t.trace,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn finish_tasks(
        &self,
        ends: &[crate::tasks::TaskEnd<'_>],
    ) -> Result<Vec<bool>, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let mut out = Vec::with_capacity(ends.len());
        for e in ends {
            let n = tx.execute(
                "UPDATE tasks SET outcome = $2, result = $3, updated_at = $4, expires_at = $5,
                 progress = COALESCE($6, progress), interrupted = NULL, waiting = $7
                 WHERE id = $1 AND outcome IS NULL",
                &[
                    &e.id,
                    &e.outcome,
                    &e.result,
                    &e.now_ms,
                    &e.expires_at_ms,
                    &e.progress,
                    &e.waiting,
                ],
            )?;
            out.push(n == 1);
        }
        tx.commit()?;
        Ok(out)
    }

    pub(super) fn start_task(&self, t: &NewTask<'_>) -> Result<(), StorageError> {
        self.conn()?.execute(
            "INSERT INTO tasks (id, caller, tool, version, node, started_at, updated_at,
             lease_until, interrupted, trace) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)",
            &[
                &t.id,
                &t.caller,
                &t.tool,
                &t.version,
                &t.node,
                &t.now_ms,
                &t.lease_until_ms,
                &t.interrupted,
                &t.trace,
            ],
        )?;
        Ok(())
    }

    pub(super) fn touch_task(
        &self,
        id: &str,
        progress: Option<&str>,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<String>, StorageError> {
        let found = self.conn()?.query_opt(
            "UPDATE tasks SET progress = COALESCE($2, progress), updated_at = $3,
             lease_until = $4 WHERE id = $1 AND outcome IS NULL RETURNING cancel_by",
            &[&id, &progress, &now_ms, &lease_until_ms],
        )?;
        Ok(found.and_then(|r| r.get(0)))
    }

    pub(super) fn finish_task(
        &self,
        id: &str,
        outcome: &str,
        result: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StorageError> {
        let n = self.conn()?.execute(
            "UPDATE tasks SET outcome = $2, result = $3, updated_at = $4, expires_at = $5,
             interrupted = NULL WHERE id = $1 AND outcome IS NULL",
            &[&id, &outcome, &result, &now_ms, &expires_at_ms],
        )?;
        Ok(n == 1)
    }

    pub(super) fn get_task(&self, id: &str) -> Result<Option<TaskRow>, StorageError> {
        Ok(self
            .conn()?
            .query_opt(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(row))
    }

    pub(super) fn cancel_task(
        &self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<TaskRow>, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let marked = tx.execute(
            &format!(
                "UPDATE tasks SET cancel_by = $2, updated_at = $3, waiting = NULL
                 WHERE id = $1 AND cancel_by IS NULL AND (outcome IS NULL OR ({WAITING}))"
            ),
            &[&id, &by, &now_ms],
        )?;
        if marked == 1 {
            announce(&mut tx, Change::Tasks)?;
        }
        let found = tx
            .query_opt(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(row);
        tx.commit()?;
        Ok(found)
    }

    pub(super) fn answer_task(
        &self,
        id: &str,
        responses: &serde_json::Map<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<Option<crate::Waiting>, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let Some(mut waiting) = waiting_in(&mut tx, id)? else {
            return Ok(None);
        };
        if waiting.take(responses) {
            let text = serde_json::to_string(&waiting)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            tx.execute(
                "UPDATE tasks SET waiting = $2, updated_at = $3 WHERE id = $1",
                &[&id, &text, &now_ms],
            )?;
        }
        tx.commit()?;
        Ok(Some(waiting))
    }

    pub(super) fn proceed_task(
        &self,
        id: &str,
        next: &str,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        if !waiting_in(&mut tx, id)?.is_some_and(|w| w.complete()) {
            return Ok(false);
        }
        // The answers leave with the claim; the round is kept while the task goes on (`PRUNE`).
        tx.execute(
            "UPDATE tasks SET next = $2, updated_at = $3, waiting = NULL, expires_at = NULL
             WHERE id = $1",
            &[&id, &next, &now_ms],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub(super) fn abandoned_tasks(
        &self,
        now_ms: i64,
        node: Option<&str>,
    ) -> Result<Vec<Abandoned>, StorageError> {
        Ok(self
            .conn()?
            .query(
                "SELECT id, interrupted FROM tasks WHERE outcome IS NULL
                 AND (lease_until <= $1 OR node = $2) ORDER BY started_at, id",
                &[&now_ms, &node],
            )?
            .iter()
            .map(|r| Abandoned {
                id: r.get(0),
                interrupted: r.get::<_, Option<String>>(1).unwrap_or_default(),
            })
            .collect())
    }

    pub(super) fn prune_tasks(&self, now_ms: i64) -> Result<u64, StorageError> {
        let mut c = self.conn()?;
        let n = c.execute(&PRUNE[0].replace("{now}", "$1"), &[&now_ms])?;
        let before = now_ms.saturating_sub(crate::tasks::CHAIN_GRACE_MS);
        let chained = c.execute(&PRUNE[1].replace("{before}", "$1"), &[&before])?;
        Ok(n + chained)
    }
}
