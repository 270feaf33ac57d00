//! Running and recently finished calls, kept in the store so that every node sharing it sees
//! the same state: a call started asynchronously on one node can be read, awaited and cancelled
//! through another, and its answer is kept for a while after it ends (`async_result_ttl`).
//!
//! A running task has a lease its node renews while the call runs; a task whose lease ran out
//! belongs to a node that died, and any node may end it as `interrupted` (recording the
//! execution it prepared at the start). Cancellation is a mark in the row (who asked), which
//! the running node reads at its next renewal or on the change announcement that follows.

/// How a running task ends (see [`crate::Storage::tasks_finish`]).
#[derive(Debug, Clone, Copy)]
pub struct TaskEnd<'a> {
    pub id: &'a str,
    pub outcome: &'a str,
    pub result: &'a str,
    /// The last progress the call reported (JSON of a `cordon_core::Progress`), kept over
    /// what the lease renewals wrote last; `None` keeps that.
    pub progress: Option<&'a str>,
    /// For a round that ended asking for input: what the task keeps until it is answered
    /// (JSON of a [`crate::Waiting`]).
    pub waiting: Option<&'a str>,
    pub now_ms: i64,
    pub expires_at_ms: i64,
}

/// A task as it starts.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    /// The execution id it will be recorded under.
    pub id: &'a str,
    /// Who started it (a key id, or `issuer#subject`): the only caller besides an admin who
    /// may read or cancel it.
    pub caller: &'a str,
    pub tool: &'a str,
    pub version: &'a str,
    /// The node running it.
    pub node: &'a str,
    pub now_ms: i64,
    /// When the task counts as abandoned unless its node renews the lease.
    pub lease_until_ms: i64,
    /// The execution record (JSON of a `NewExecution`) to append if the task is interrupted:
    /// prepared at the start, when everything it names is known.
    pub interrupted: &'a str,
    /// The W3C `traceparent` of the span the call runs under, when its spans are exported:
    /// where a later round, a poll or a cancellation on any node joins the call's trace.
    pub trace: Option<&'a str>,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub id: String,
    pub caller: String,
    pub tool: String,
    pub version: String,
    pub node: String,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub lease_until_ms: i64,
    /// The last progress the call reported (JSON of a `cordon_core::Progress`).
    pub progress: Option<String>,
    /// Who asked for the call to stop, once someone did.
    pub cancel_by: Option<String>,
    /// The outcome, once the call ended (`cordon_core::Outcome` names).
    pub outcome: Option<String>,
    /// The answer, once the call ended (JSON, as the invoke answered it).
    pub result: Option<String>,
    /// When a finished task is forgotten.
    pub expires_at_ms: Option<i64>,
    /// A round that ended asking for input: what it asked is in `result`, the answers so far
    /// here.
    pub waiting: Option<crate::Waiting>,
    /// Once every request is answered: the execution id of the task's next round, which has a
    /// row of its own.
    pub next: Option<String>,
    /// The W3C `traceparent` of the span the call runs under, when its spans are exported.
    pub trace: Option<String>,
}

impl TaskRow {
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }
}

/// A task found abandoned: its id and the record to append for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    pub id: String,
    pub interrupted: String,
}

/// The columns a [`TaskRow`] is read from, in its field order.
pub(crate) const TASK_COLUMNS: &str = "id, caller, tool, version, node, started_at, updated_at, \
     lease_until, progress, cancel_by, outcome, result, expires_at, waiting, next, trace";

/// The condition a task waiting for input meets: answered neither by a next round nor by a
/// cancellation.
pub(crate) const WAITING: &str = "waiting IS NOT NULL AND next IS NULL AND cancel_by IS NULL";

/// Forgets finished tasks whose answer expired (`?1`/`$1`: now), and the rounds of a task
/// whose next round is gone (one link a sweep; `?2`/`$2`: before when a claim counts as
/// abandoned). A round continued by another is kept while that one is.
pub(crate) const PRUNE: [&str; 2] = [
    "DELETE FROM tasks WHERE outcome IS NOT NULL AND expires_at <= {now}",
    "DELETE FROM tasks WHERE next IS NOT NULL AND updated_at <= {before}
     AND NOT EXISTS (SELECT 1 FROM tasks later WHERE later.id = tasks.next)",
];

/// How long a round continued by another is kept once its next round is gone, and so how long
/// a claimed round that never started stays readable (as `failed`).
pub const CHAIN_GRACE_MS: i64 = 3_600_000;

/// The embedded store's tasks: `tasks` in `cordon.db`, on a connection of their own.
#[derive(Debug)]
pub struct TaskStore {
    conn: std::sync::Mutex<rusqlite::Connection>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        caller: r.get(1)?,
        tool: r.get(2)?,
        version: r.get(3)?,
        node: r.get(4)?,
        started_at_ms: r.get(5)?,
        updated_at_ms: r.get(6)?,
        lease_until_ms: r.get(7)?,
        progress: r.get(8)?,
        cancel_by: r.get(9)?,
        outcome: r.get(10)?,
        result: r.get(11)?,
        expires_at_ms: r.get(12)?,
        waiting: crate::Waiting::parse(r.get(13)?),
        next: r.get(14)?,
        trace: r.get(15)?,
    })
}

/// What the task `id` waits for, when it is waiting for input (read within `tx`).
fn waiting_in(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
) -> Result<Option<crate::Waiting>, crate::StorageError> {
    use rusqlite::OptionalExtension;
    let found: Option<Option<String>> = tx
        .prepare_cached(&format!(
            "SELECT waiting FROM tasks WHERE id = ?1 AND {WAITING}"
        ))?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(crate::Waiting::parse(found.flatten()))
}

impl TaskStore {
    pub fn open(data_dir: &std::path::Path) -> Result<Self, crate::StorageError> {
        Ok(TaskStore {
            conn: std::sync::Mutex::new(crate::schema::open(&data_dir.join("cordon.db"))?),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Several tasks in one transaction (one commit for all).
    pub fn start_many(&self, tasks: &[NewTask<'_>]) -> Result<(), crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for t in tasks {
            tx.prepare_cached(
                "INSERT INTO tasks (id, caller, tool, version, node, started_at, updated_at,
                 lease_until, interrupted, trace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
            )?
            .execute(rusqlite::params![
                t.id,
                t.caller,
                t.tool,
                t.version,
                t.node,
                t.now_ms,
                t.lease_until_ms,
                t.interrupted,
                t.trace
            ])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Several tasks ended in one transaction; whether each was still running.
    pub fn finish_many(&self, ends: &[TaskEnd<'_>]) -> Result<Vec<bool>, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(ends.len());
        for e in ends {
            let n = tx
                .prepare_cached(
                    "UPDATE tasks SET outcome = ?2, result = ?3, updated_at = ?4, expires_at = ?5,
                     progress = COALESCE(?6, progress), interrupted = NULL, waiting = ?7
                     WHERE id = ?1 AND outcome IS NULL",
                )?
                .execute(rusqlite::params![
                    e.id,
                    e.outcome,
                    e.result,
                    e.now_ms,
                    e.expires_at_ms,
                    e.progress,
                    e.waiting
                ])?;
            out.push(n == 1);
        }
        tx.commit()?;
        Ok(out)
    }

    pub fn start(&self, t: &NewTask<'_>) -> Result<(), crate::StorageError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO tasks (id, caller, tool, version, node, started_at, updated_at,
                 lease_until, interrupted, trace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
            )?
            .execute(rusqlite::params![
                t.id,
                t.caller,
                t.tool,
                t.version,
                t.node,
                t.now_ms,
                t.lease_until_ms,
                t.interrupted,
                t.trace
            ])?;
        Ok(())
    }

    pub fn touch(
        &self,
        id: &str,
        progress: Option<&str>,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<String>, crate::StorageError> {
        use rusqlite::OptionalExtension;
        let conn = self.conn();
        let cancel_by = conn
            .prepare_cached(
                "UPDATE tasks SET progress = COALESCE(?2, progress), updated_at = ?3,
                 lease_until = ?4 WHERE id = ?1 AND outcome IS NULL RETURNING cancel_by",
            )?
            .query_row(
                rusqlite::params![id, progress, now_ms, lease_until_ms],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten();
        Ok(cancel_by)
    }

    pub fn finish(
        &self,
        id: &str,
        outcome: &str,
        result: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, crate::StorageError> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE tasks SET outcome = ?2, result = ?3, updated_at = ?4, expires_at = ?5,
                 interrupted = NULL WHERE id = ?1 AND outcome IS NULL",
            )?
            .execute(rusqlite::params![
                id,
                outcome,
                result,
                now_ms,
                expires_at_ms
            ])?;
        Ok(n == 1)
    }

    pub fn get(&self, id: &str) -> Result<Option<TaskRow>, crate::StorageError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?
            .query_row([id], row)
            .optional()?)
    }

    pub fn cancel(
        &self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<TaskRow>, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.prepare_cached(&format!(
            "UPDATE tasks SET cancel_by = ?2, updated_at = ?3, waiting = NULL
             WHERE id = ?1 AND cancel_by IS NULL AND (outcome IS NULL OR ({WAITING}))"
        ))?
        .execute(rusqlite::params![id, by, now_ms])?;
        let found = {
            use rusqlite::OptionalExtension;
            tx.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?
                .query_row([id], row)
                .optional()?
        };
        tx.commit()?;
        Ok(found)
    }

    /// Adds `responses` to the answers of a task waiting for input; the task as it waits now,
    /// or `None` when it is not waiting (unknown, running, answered, cancelled).
    pub fn answer(
        &self,
        id: &str,
        responses: &serde_json::Map<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<Option<crate::Waiting>, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(mut waiting) = waiting_in(&tx, id)? else {
            return Ok(None);
        };
        if waiting.take(responses) {
            tx.prepare_cached("UPDATE tasks SET waiting = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(rusqlite::params![
                    id,
                    serde_json::to_string(&waiting)
                        .map_err(|e| crate::StorageError::Corrupt(e.to_string()))?,
                    now_ms
                ])?;
        }
        tx.commit()?;
        Ok(Some(waiting))
    }

    /// Claims the next round of a task whose every request is answered, naming the execution
    /// id it runs under; false when it is not waiting, not answered yet, or claimed already.
    pub fn proceed(&self, id: &str, next: &str, now_ms: i64) -> Result<bool, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if !waiting_in(&tx, id)?.is_some_and(|w| w.complete()) {
            return Ok(false);
        }
        // The answers leave with the claim (the next round has them); the round is kept while
        // the task goes on (`PRUNE`).
        tx.prepare_cached(
            "UPDATE tasks SET next = ?2, updated_at = ?3, waiting = NULL, expires_at = NULL
             WHERE id = ?1",
        )?
        .execute(rusqlite::params![id, next, now_ms])?;
        tx.commit()?;
        Ok(true)
    }

    pub fn abandoned(
        &self,
        now_ms: i64,
        node: Option<&str>,
    ) -> Result<Vec<Abandoned>, crate::StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, interrupted FROM tasks WHERE outcome IS NULL
             AND (lease_until <= ?1 OR node = ?2) ORDER BY started_at, id",
        )?;
        let found = stmt
            .query_map(rusqlite::params![now_ms, node], |r| {
                Ok(Abandoned {
                    id: r.get(0)?,
                    interrupted: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(found)
    }

    pub fn prune(&self, now_ms: i64) -> Result<u64, crate::StorageError> {
        let n = self
            .conn()
            .prepare_cached(&PRUNE[0].replace("{now}", "?1"))?
            .execute([now_ms])?;
        let chained = self
            .conn()
            .prepare_cached(&PRUNE[1].replace("{before}", "?1"))?
            .execute([now_ms.saturating_sub(CHAIN_GRACE_MS)])?;
        Ok((n + chained) as u64)
    }
}
