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
    /// Set-based: a few statements a flush however many keys it adds (a spray of failures
    /// from thousands of addresses is one insert, one expiry and one sum here, not thousands of
    /// round trips).
    pub(super) fn detect_flush_pg(
        &self,
        now_ms: i64,
        tallies: &[Tally],
    ) -> Result<Vec<Reached>, StorageError> {
        if tallies.is_empty() {
            return Ok(Vec::new());
        }
        let rules: Vec<&str> = tallies.iter().map(|t| t.rule.as_str()).collect();
        let keys: Vec<&str> = tallies.iter().map(|t| t.key.as_str()).collect();
        let counts: Vec<i64> = tallies.iter().map(|t| i64::from(t.n)).collect();
        let evidence: Vec<String> = tallies
            .iter()
            .map(|t| serde_json::to_string(&t.executions).unwrap_or_else(|_| "[]".into()))
            .collect();
        let since: Vec<i64> = tallies
            .iter()
            .map(|t| now_ms.saturating_sub(t.window_ms))
            .collect();
        let wanted: Vec<i64> = tallies.iter().map(|t| i64::from(t.count)).collect();
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DETECT_LOCK])?;
        tx.execute(
            "INSERT INTO detect_signals (rule, key, at, n, executions)
             SELECT r, k, $1, n, e FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) AS t(r, k, n, e)",
            &[&now_ms, &rules, &keys, &counts, &evidence],
        )?;
        // Past each rule's window (every key of the rule: they are past it too).
        tx.execute(
            "DELETE FROM detect_signals d USING (SELECT DISTINCT r, s FROM unnest($1::text[], $2::bigint[]) AS w(r, s)) w
             WHERE d.rule = w.r AND d.at <= w.s",
            &[&rules, &since],
        )?;
        let full = tx.query(
            "SELECT d.rule, d.key, SUM(d.n)::bigint FROM detect_signals d
             JOIN (SELECT DISTINCT r, k, c FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(r, k, c)) t
               ON d.rule = t.r AND d.key = t.k
             GROUP BY d.rule, d.key, t.c HAVING SUM(d.n) >= t.c",
            &[&rules, &keys, &wanted],
        )?;
        let mut reached = Vec::with_capacity(full.len());
        for row in &full {
            let (rule, key): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let within: i64 = row.try_get(2)?;
            let mut executions = Vec::new();
            for gone in tx.query(
                "DELETE FROM detect_signals WHERE rule = $1 AND key = $2 RETURNING executions",
                &[&rule, &key],
            )? {
                let text: String = gone.try_get(0)?;
                merge_evidence(
                    &mut executions,
                    serde_json::from_str(&text).unwrap_or_default(),
                );
            }
            reached.push(Reached {
                rule,
                key,
                n: within.max(0) as u64,
                executions,
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
