//! The counts of the detection rules, kept in the store so that every node sharing it counts
//! toward the same rule (docs/detection.md). Each node tallies the signals it sees (a denial, a
//! failed authentication, ...) in memory and adds its tallies here about once a second; a rule
//! fires when its signals within its window, across the nodes, reach its count. Firing consumes
//! those signals in the same transaction (they are deleted), so a burst fires its rule once
//! however many nodes see it reach the count, and the next firing takes as many signals again.

use serde::{Deserialize, Serialize};

/// Executions kept as one rule's evidence, at most.
pub const MAX_EVIDENCE: usize = 20;

/// What one node counted of one rule under one key since it last added to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub rule: String,
    /// The tool, caller or address the rule counts per (empty for a rule that counts all).
    pub key: String,
    pub n: u32,
    /// Some of the executions counted ([`MAX_EVIDENCE`] at most).
    pub executions: Vec<String>,
    /// The rule's window and count.
    pub window_ms: i64,
    pub count: u32,
}

/// A rule whose count was reached across the store: the signals it consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    pub rule: String,
    pub key: String,
    /// The signals within the window (at least the rule's count).
    pub n: u64,
    pub executions: Vec<String>,
}

/// Merges `more` into `into`, keeping [`MAX_EVIDENCE`] at most and each once.
pub(crate) fn merge_evidence(into: &mut Vec<String>, more: Vec<String>) {
    for e in more {
        if into.len() >= MAX_EVIDENCE {
            return;
        }
        if !into.contains(&e) {
            into.push(e);
        }
    }
}

pub(crate) mod sqlite {
    use super::{Reached, Tally, merge_evidence};
    use crate::error::StorageError;
    use rusqlite::{Connection, params};

    /// Adds `tallies` at `now_ms`; the rules that reached their counts, their signals consumed.
    pub(crate) fn flush(
        tx: &Connection,
        now_ms: i64,
        tallies: &[Tally],
    ) -> Result<Vec<Reached>, StorageError> {
        let mut reached = Vec::new();
        for t in tallies {
            let executions = serde_json::to_string(&t.executions).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT INTO detect_signals (rule, key, at, n, executions) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.rule, t.key, now_ms, i64::from(t.n), executions],
            )?;
            let since = now_ms.saturating_sub(t.window_ms);
            tx.execute(
                "DELETE FROM detect_signals WHERE rule = ?1 AND key = ?2 AND at <= ?3",
                params![t.rule, t.key, since],
            )?;
            let within: i64 = tx.query_row(
                "SELECT COALESCE(SUM(n), 0) FROM detect_signals WHERE rule = ?1 AND key = ?2",
                params![t.rule, t.key],
                |r| r.get(0),
            )?;
            if within < i64::from(t.count) {
                continue;
            }
            // One writer at a time: what was summed is what is consumed.
            let mut evidence = Vec::new();
            let mut stmt = tx.prepare(
                "DELETE FROM detect_signals WHERE rule = ?1 AND key = ?2 RETURNING executions",
            )?;
            let rows = stmt.query_map(params![t.rule, t.key], |r| r.get::<_, String>(0))?;
            for row in rows {
                merge_evidence(
                    &mut evidence,
                    serde_json::from_str(&row?).unwrap_or_default(),
                );
            }
            reached.push(Reached {
                rule: t.rule.clone(),
                key: t.key.clone(),
                n: within.max(0) as u64,
                executions: evidence,
            });
        }
        Ok(reached)
    }

    /// Forgets the signals older than `before_ms` (past every rule's window).
    pub(crate) fn prune(tx: &Connection, before_ms: i64) -> Result<u64, StorageError> {
        Ok(tx.execute("DELETE FROM detect_signals WHERE at < ?1", [before_ms])? as u64)
    }
}
