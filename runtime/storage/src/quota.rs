//! Quota counters per caller, kept in the store so every node sharing it counts the same:
//! executions and fuel per caller, scope (all tools, or one tool) and UTC day
//! (`quota_use`), and the executions running now as leases (`quota_leases`) that end when the
//! call is finished, or by themselves after their deadline if the node that took one died.
//!
//! A reservation is one transaction that reads the counters, decides and counts the new
//! execution, serialized per caller (SQLite: the write lock; PostgreSQL: an advisory lock on the
//! caller), so two nodes never both take the last execution of a day.

use cordon_core::{QuotaKind, QuotaLimits};
use serde::Serialize;

/// One set of limits and the counters it applies to: `scope` is empty for the caller's use of
/// every tool together, or a tool's name for its use of that tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaScope {
    pub scope: String,
    pub limits: QuotaLimits,
}

/// A reservation asked for before a call runs.
#[derive(Debug, Clone)]
pub struct QuotaRequest<'a> {
    /// The caller's identity (a key id, or `issuer#subject`).
    pub caller: &'a str,
    /// The UTC day (`cordon_core::quota::day_of`).
    pub day: i64,
    pub now_ms: i64,
    /// When the running lease ends by itself (past the call's deadline).
    pub lease_until_ms: i64,
    pub scopes: &'a [QuotaScope],
}

/// What a reservation decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Counted; `lease` is held while the call runs (when a concurrency limit applies).
    Granted {
        lease: Option<String>,
    },
    Refused(QuotaRefusal),
}

/// The quota a call would exceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuotaRefusal {
    #[schema(value_type = String)]
    pub quota: QuotaKind,
    /// Empty: all tools together; else the tool whose policy sets it.
    pub scope: String,
    pub limit: u64,
    pub used: u64,
}

/// A caller's use in one scope today.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuotaUse {
    /// Empty: all tools together; else one tool.
    pub scope: String,
    pub executions: u64,
    pub fuel: u64,
    /// Executions running now, on every node.
    pub running: u64,
}

/// The first limit of `request` that one more execution would break, given the use so far
/// (`used` in the same order as `request.scopes`).
pub(crate) fn decide(request: &QuotaRequest<'_>, used: &[QuotaUse]) -> Option<QuotaRefusal> {
    for (scope, used) in request.scopes.iter().zip(used) {
        for kind in QuotaKind::ALL {
            let Some(limit) = kind.limit(&scope.limits) else {
                continue;
            };
            let now = match kind {
                QuotaKind::Concurrent => used.running,
                QuotaKind::ExecutionsPerDay => used.executions,
                QuotaKind::FuelPerDay => used.fuel,
            };
            if now >= limit {
                return Some(QuotaRefusal {
                    quota: kind,
                    scope: scope.scope.clone(),
                    limit,
                    used: now,
                });
            }
        }
    }
    None
}

/// Whether a lease is needed (some scope limits concurrent executions).
pub(crate) fn needs_lease(request: &QuotaRequest<'_>) -> bool {
    request.scopes.iter().any(|s| s.limits.concurrent.is_some())
}

/// One backend's counters inside the transaction a reservation runs in.
pub(crate) trait Counters {
    fn read(
        &mut self,
        caller: &str,
        scope: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<QuotaUse, crate::StorageError>;
    /// One more execution in `scope` on `day`.
    fn count(&mut self, caller: &str, scope: &str, day: i64) -> Result<(), crate::StorageError>;
    fn lease(
        &mut self,
        id: &str,
        caller: &str,
        scope: &str,
        until_ms: i64,
    ) -> Result<(), crate::StorageError>;
}

/// A reservation, decided and counted with a backend's counters (the caller holds the
/// transaction and the per-caller serialization).
pub(crate) fn acquire_with(
    c: &mut impl Counters,
    request: &QuotaRequest<'_>,
) -> Result<QuotaDecision, crate::StorageError> {
    let mut used = Vec::with_capacity(request.scopes.len());
    for s in request.scopes {
        used.push(c.read(request.caller, &s.scope, request.day, request.now_ms)?);
    }
    if let Some(refusal) = decide(request, &used) {
        return Ok(QuotaDecision::Refused(refusal));
    }
    let lease = needs_lease(request).then(lease_id).transpose()?;
    for s in request.scopes {
        c.count(request.caller, &s.scope, request.day)?;
        if let (Some(id), Some(_)) = (&lease, s.limits.concurrent) {
            c.lease(id, request.caller, &s.scope, request.lease_until_ms)?;
        }
    }
    Ok(QuotaDecision::Granted { lease })
}

/// A new lease id.
pub(crate) fn lease_id() -> Result<String, crate::StorageError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::StorageError::Corrupt(format!("no randomness for a lease id: {e}")))?;
    Ok(hex::encode(bytes))
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The embedded store's counters: `quota_use` and `quota_leases` in `cordon.db`, on a
/// connection of their own.
#[derive(Debug)]
pub struct QuotaStore {
    conn: std::sync::Mutex<rusqlite::Connection>,
}

impl QuotaStore {
    pub fn open(data_dir: &std::path::Path) -> Result<Self, crate::StorageError> {
        let conn = crate::schema::open(&data_dir.join("cordon.db"))?;
        // Counters, not records: a power loss may forget the last few increments, which costs
        // a caller a few executions' worth of quota, never a record. Not waiting for fsync keeps
        // the two writes a limited call adds cheap.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(QuotaStore {
            conn: std::sync::Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn acquire(
        &self,
        request: &QuotaRequest<'_>,
    ) -> Result<QuotaDecision, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM quota_leases WHERE caller = ?1 AND expires_at <= ?2")?
            .execute(rusqlite::params![request.caller, request.now_ms])?;
        let decision = acquire_with(&mut SqliteCounters(&tx), request)?;
        tx.commit()?;
        Ok(decision)
    }

    pub fn finish(
        &self,
        caller: &str,
        day: i64,
        scopes: &[String],
        fuel: u64,
        lease: Option<&str>,
    ) -> Result<(), crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if fuel > 0 {
            for scope in scopes {
                tx.prepare_cached(
                    "INSERT INTO quota_use (caller, scope, day, executions, fuel) VALUES (?1, ?2, ?3, 0, ?4)
                     ON CONFLICT (caller, scope, day) DO UPDATE SET fuel = fuel + ?4",
                )?
                .execute(rusqlite::params![caller, scope, day, to_i64(fuel)])?;
            }
        }
        if let Some(id) = lease {
            tx.prepare_cached("DELETE FROM quota_leases WHERE id = ?1")?
                .execute([id])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn prune(&self, before_day: i64, now_ms: i64) -> Result<u64, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let days = tx.execute("DELETE FROM quota_use WHERE day < ?1", [before_day])?;
        let leases = tx.execute("DELETE FROM quota_leases WHERE expires_at <= ?1", [now_ms])?;
        tx.commit()?;
        Ok((days + leases) as u64)
    }

    pub fn usage(
        &self,
        caller: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<Vec<QuotaUse>, crate::StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let scopes: Vec<String> = tx
            .prepare_cached(
                "SELECT scope FROM quota_use WHERE caller = ?1 AND day = ?2
                 UNION SELECT scope FROM quota_leases WHERE caller = ?1 AND expires_at > ?3
                 ORDER BY 1",
            )?
            .query_map(rusqlite::params![caller, day, now_ms], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut counters = SqliteCounters(&tx);
        let mut out = Vec::with_capacity(scopes.len());
        for scope in scopes {
            out.push(counters.read(caller, &scope, day, now_ms)?);
        }
        Ok(out)
    }
}

struct SqliteCounters<'a, 'c>(&'a rusqlite::Transaction<'c>);

impl Counters for SqliteCounters<'_, '_> {
    fn read(
        &mut self,
        caller: &str,
        scope: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<QuotaUse, crate::StorageError> {
        use rusqlite::OptionalExtension;
        let (executions, fuel) = self
            .0
            .prepare_cached(
                "SELECT executions, fuel FROM quota_use WHERE caller = ?1 AND scope = ?2 AND day = ?3",
            )?
            .query_row(rusqlite::params![caller, scope, day], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
            .unwrap_or((0, 0));
        let running: i64 = self
            .0
            .prepare_cached(
                "SELECT COUNT(*) FROM quota_leases WHERE caller = ?1 AND scope = ?2 AND expires_at > ?3",
            )?
            .query_row(rusqlite::params![caller, scope, now_ms], |r| r.get(0))?;
        Ok(QuotaUse {
            scope: scope.to_owned(),
            executions: to_u64(executions),
            fuel: to_u64(fuel),
            running: to_u64(running),
        })
    }

    fn count(&mut self, caller: &str, scope: &str, day: i64) -> Result<(), crate::StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO quota_use (caller, scope, day, executions, fuel) VALUES (?1, ?2, ?3, 1, 0)
                 ON CONFLICT (caller, scope, day) DO UPDATE SET executions = executions + 1",
            )?
            .execute(rusqlite::params![caller, scope, day])?;
        Ok(())
    }

    fn lease(
        &mut self,
        id: &str,
        caller: &str,
        scope: &str,
        until_ms: i64,
    ) -> Result<(), crate::StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO quota_leases (id, caller, scope, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(rusqlite::params![id, caller, scope, until_ms])?;
        Ok(())
    }
}
