//! The detection rules' counts and callers' suspensions on PostgreSQL (`crate::detect`,
//! `crate::suspensions`): the same rows and events as the embedded store. Flushes from every
//! node take one advisory lock, so the signals one of them sums are the ones it consumes.

use super::Postgres;
use crate::detect::{Reached, Tally, merge_evidence};
use crate::error::StorageError;
use crate::events::{Actor, AdminAction};
use crate::suspensions::{COLUMNS, Suspension};

/// The advisory lock a flush of the detection counts holds until it commits.
const DETECT_LOCK: i64 = 0x636f_7264_6f6e_0003;

impl Postgres {
    pub(super) fn detect_flush_pg(
        &self,
        now_ms: i64,
        tallies: &[Tally],
    ) -> Result<Vec<Reached>, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DETECT_LOCK])?;
        let mut reached = Vec::new();
        for t in tallies {
            let executions = serde_json::to_string(&t.executions).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT INTO detect_signals (rule, key, at, n, executions) VALUES ($1, $2, $3, $4, $5)",
                &[&t.rule, &t.key, &now_ms, &i64::from(t.n), &executions],
            )?;
            let since = now_ms.saturating_sub(t.window_ms);
            tx.execute(
                "DELETE FROM detect_signals WHERE rule = $1 AND key = $2 AND at <= $3",
                &[&t.rule, &t.key, &since],
            )?;
            let within: i64 = tx
                .query_one(
                    "SELECT COALESCE(SUM(n), 0)::bigint FROM detect_signals WHERE rule = $1 AND key = $2",
                    &[&t.rule, &t.key],
                )?
                .try_get(0)?;
            if within < i64::from(t.count) {
                continue;
            }
            let mut evidence = Vec::new();
            for row in tx.query(
                "DELETE FROM detect_signals WHERE rule = $1 AND key = $2 RETURNING executions",
                &[&t.rule, &t.key],
            )? {
                let text: String = row.try_get(0)?;
                merge_evidence(
                    &mut evidence,
                    serde_json::from_str(&text).unwrap_or_default(),
                );
            }
            reached.push(Reached {
                rule: t.rule.clone(),
                key: t.key.clone(),
                n: within.max(0) as u64,
                executions: evidence,
            });
        }
        tx.commit()?;
        Ok(reached)
    }

    pub(super) fn detect_prune_pg(&self, before_ms: i64) -> Result<u64, StorageError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM detect_signals WHERE at < $1", &[&before_ms])?)
    }

    pub(super) fn suspend_caller_pg(&self, s: &Suspension, by: &Actor) -> Result<(), StorageError> {
        self.change_with(s.at_ms, by, |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO suspensions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (caller) DO UPDATE SET at = excluded.at, until_at = excluded.until_at,
                     reason = excluded.reason, by_actor = excluded.by_actor"
                ),
                &[&s.caller, &s.at_ms, &s.until_ms, &s.reason, &s.by],
            )?;
            Ok(((), Some(s.suspended())))
        })
    }

    pub(super) fn resume_caller_pg(
        &self,
        caller: &str,
        at_ms: i64,
        by: &Actor,
    ) -> Result<bool, StorageError> {
        self.change_with(at_ms, by, |tx| {
            let active = tx
                .query_opt(
                    "DELETE FROM suspensions WHERE caller = $1 RETURNING until_at",
                    &[&caller],
                )?
                .map(|r| r.try_get::<_, i64>(0))
                .transpose()?
                .is_some_and(|until| until > at_ms);
            let action = active.then(|| AdminAction::CallerResume {
                caller: caller.to_owned(),
            });
            Ok((active, action))
        })
    }

    pub(super) fn suspensions_pg(&self, now_ms: i64) -> Result<Vec<Suspension>, StorageError> {
        let rows = self.conn()?.query(
            &format!("SELECT {COLUMNS} FROM suspensions WHERE until_at > $1 ORDER BY caller"),
            &[&now_ms],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Suspension {
                    caller: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    until_ms: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    by: r.try_get(4)?,
                })
            })
            .collect()
    }
}
