//! Quota counters on PostgreSQL (`crate::quota`): one reservation is one transaction holding an
//! advisory lock on the caller, so reservations of one caller from every node are serialized
//! while other callers' run beside them. The counters' commits do not wait for the WAL flush
//! (`synchronous_commit = off` for these transactions only): a crash of PostgreSQL may forget
//! the last few increments, never an execution record.

use super::Postgres;
use crate::error::StorageError;
use crate::quota::{Counters, QuotaDecision, QuotaRequest, QuotaUse, acquire_with, to_i64, to_u64};

/// The first key of the two-part advisory lock taken per caller (the second is the hash of the
/// caller's identity). Two-part keys are a space apart from the log's single-key locks.
const QUOTA_LOCK_SPACE: i32 = 0x636f_7271; // "corq"

struct PgCounters<'a, 'c>(&'a mut postgres::Transaction<'c>);

impl Counters for PgCounters<'_, '_> {
    fn read(
        &mut self,
        caller: &str,
        scope: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<QuotaUse, StorageError> {
        let row = self.0.query_opt(
            "SELECT executions, fuel FROM quota_use WHERE caller = $1 AND scope = $2 AND day = $3",
            &[&caller, &scope, &day],
        )?;
        let (executions, fuel): (i64, i64) = row.map_or((0, 0), |r| (r.get(0), r.get(1)));
        let running: i64 = self
            .0
            .query_one(
                "SELECT COUNT(*) FROM quota_leases WHERE caller = $1 AND scope = $2 AND expires_at > $3",
                &[&caller, &scope, &now_ms],
            )?
            .get(0);
        Ok(QuotaUse {
            scope: scope.to_owned(),
            executions: to_u64(executions),
            fuel: to_u64(fuel),
            running: to_u64(running),
        })
    }

    fn count(&mut self, caller: &str, scope: &str, day: i64) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO quota_use (caller, scope, day, executions, fuel) VALUES ($1, $2, $3, 1, 0)
             ON CONFLICT (caller, scope, day) DO UPDATE SET executions = quota_use.executions + 1",
            &[&caller, &scope, &day],
        )?;
        Ok(())
    }

    fn lease(
        &mut self,
        id: &str,
        caller: &str,
        scope: &str,
        until_ms: i64,
    ) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO quota_leases (id, caller, scope, expires_at) VALUES ($1, $2, $3, $4)",
            &[&id, &caller, &scope, &until_ms],
        )?;
        Ok(())
    }
}

impl Postgres {
    pub(super) fn acquire_quota(
        &self,
        request: &QuotaRequest<'_>,
    ) -> Result<QuotaDecision, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&QUOTA_LOCK_SPACE, &request.caller],
        )?;
        tx.execute(
            "DELETE FROM quota_leases WHERE caller = $1 AND expires_at <= $2",
            &[&request.caller, &request.now_ms],
        )?;
        let decision = acquire_with(&mut PgCounters(&mut tx), request)?;
        tx.commit()?;
        Ok(decision)
    }

    pub(super) fn finish_quota(
        &self,
        caller: &str,
        day: i64,
        scopes: &[String],
        fuel: u64,
        lease: Option<&str>,
    ) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")?;
        if fuel > 0 {
            for scope in scopes {
                tx.execute(
                    "INSERT INTO quota_use (caller, scope, day, executions, fuel) VALUES ($1, $2, $3, 0, $4)
                     ON CONFLICT (caller, scope, day) DO UPDATE SET fuel = quota_use.fuel + $4",
                    &[&caller, scope, &day, &to_i64(fuel)],
                )?;
            }
        }
        if let Some(id) = lease {
            tx.execute("DELETE FROM quota_leases WHERE id = $1", &[&id])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn quota_usage(
        &self,
        caller: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<Vec<QuotaUse>, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.build_transaction().read_only(true).start()?;
        let scopes: Vec<String> = tx
            .query(
                "SELECT scope FROM quota_use WHERE caller = $1 AND day = $2
                 UNION SELECT scope FROM quota_leases WHERE caller = $1 AND expires_at > $3
                 ORDER BY 1",
                &[&caller, &day, &now_ms],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut counters = PgCounters(&mut tx);
        let mut out = Vec::with_capacity(scopes.len());
        for scope in scopes {
            out.push(counters.read(caller, &scope, day, now_ms)?);
        }
        tx.commit()?;
        Ok(out)
    }

    pub(super) fn prune_quotas(&self, before_day: i64, now_ms: i64) -> Result<u64, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let days = tx.execute("DELETE FROM quota_use WHERE day < $1", &[&before_day])?;
        let leases = tx.execute(
            "DELETE FROM quota_leases WHERE expires_at <= $1",
            &[&now_ms],
        )?;
        tx.commit()?;
        Ok(days + leases)
    }
}
