//! The execution log: one record per execution, hash-chained so that an edited, deleted,
//! inserted or reordered record is detected.
//!
//! Each row stores the record as canonical JSON (`body`: the fields of [`NewExecution`] in
//! declaration order), the hash of the previous row (`prev_hash`) and its own hash:
//! `hash = sha256(prev_hash || "\n" || seq || "\n" || body)` in lowercase hex. The first record
//! links to 64 zeros, or, after retention deleted older records, to the hash of the last deleted
//! one (kept as the chain's anchor in `meta`), so the chain stays verifiable.
//!
//! Anyone who can rewrite the whole database can rewrite the whole chain; the chain catches
//! edits that do not also recompute every later hash (and tools that export the latest hash
//! elsewhere can catch those too).

use crate::error::StorageError;
use crate::schema;
use cordon_core::{Outcome, Usage};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most problems a verification report lists (it always counts them all).
const MAX_LISTED: usize = 100;

/// What is recorded about one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewExecution {
    /// Unique id, returned to the caller.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// API key id (or `cli`) of whoever asked.
    pub caller: String,
    /// `http`, `mcp`, ...
    pub transport: String,
    pub tool: String,
    pub version: String,
    /// sha256 of the component that ran.
    pub digest: String,
    pub publisher: Option<String>,
    pub signer: Option<String>,
    /// sha256 of the policy the call ran under.
    pub policy_hash: String,
    pub input_bytes: u64,
    pub input_sha256: String,
    /// The raw input, only when the operator enabled storing it.
    pub input: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub usage: Usage,
}

/// A record as stored: the execution, its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub execution: NewExecution,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainReport {
    pub intact: bool,
    /// Records checked.
    pub records: u64,
    /// Every problem found (at most 100 listed), each naming the record.
    pub problems: Vec<String>,
    /// Problems found in all.
    pub problem_count: u64,
    /// Hash of the newest record (or of the anchor when the log is empty).
    pub head: String,
}

/// Filters for [`ExecutionLog::list`]; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tool: Option<String>,
    pub outcome: Option<String>,
    pub caller: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Return records older than this sequence number (the previous page's cursor).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

pub struct ExecutionLog {
    /// The writer: appends and pruning are serialized, and `head` is the hash new records link to.
    writer: Mutex<(Connection, String, i64)>,
    /// Readers use their own connection so listing never waits for a commit.
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for ExecutionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionLog").finish_non_exhaustive()
    }
}

fn hash(prev: &str, seq: i64, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ExecutionLog {
    /// Opens (or creates) the log in `db_path`.
    pub fn open(db_path: &Path) -> Result<Self, StorageError> {
        let writer = schema::open(db_path)?;
        let reader = schema::open(db_path)?;
        let (head, last_seq) = Self::head(&writer)?;
        Ok(ExecutionLog {
            writer: Mutex::new((writer, head, last_seq)),
            reader: Mutex::new(reader),
        })
    }

    /// With `durable` false, commits no longer wait for fsync (SQLite `synchronous = NORMAL` in
    /// WAL mode): a killed process still loses nothing, a power loss may lose the last commits.
    /// The default is durable.
    pub fn set_durable(&self, durable: bool) -> Result<(), StorageError> {
        let guard = lock(&self.writer);
        let level = if durable { "FULL" } else { "NORMAL" };
        guard.0.pragma_update(None, "synchronous", level)?;
        Ok(())
    }

    fn anchor(conn: &Connection) -> Result<(String, i64), StorageError> {
        let get = |key: &str| -> Result<Option<String>, StorageError> {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        let hash = get("anchor_hash")?.unwrap_or_else(|| GENESIS.to_owned());
        let seq = get("anchor_seq")?
            .map(|s| {
                s.parse()
                    .map_err(|_| StorageError::Corrupt("anchor_seq".into()))
            })
            .transpose()?
            .unwrap_or(0);
        Ok((hash, seq))
    }

    fn head(conn: &Connection) -> Result<(String, i64), StorageError> {
        let last: Option<(String, i64)> = conn
            .query_row(
                "SELECT hash, seq FROM executions ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match last {
            Some(last) => Ok(last),
            None => Self::anchor(conn),
        }
    }

    /// Appends executions in one transaction (group commit) and returns them as stored. When
    /// this returns, the records are durable.
    pub fn append(&self, batch: &[NewExecution]) -> Result<Vec<ExecutionRecord>, StorageError> {
        let mut guard = lock(&self.writer);
        let (conn, head, last_seq) = &mut *guard;
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        let (mut prev, mut seq) = (head.clone(), *last_seq);
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO executions (seq, id, started_at, body, prev_hash, hash, tool, outcome, caller)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for e in batch {
                seq += 1;
                let body =
                    serde_json::to_string(e).map_err(|e| StorageError::Corrupt(e.to_string()))?;
                let h = hash(&prev, seq, &body);
                insert.execute(params![
                    seq,
                    e.id,
                    e.started_at_ms,
                    body,
                    prev,
                    h,
                    e.tool,
                    e.outcome.as_str(),
                    e.caller
                ])?;
                out.push(ExecutionRecord {
                    seq,
                    execution: e.clone(),
                    prev_hash: prev.clone(),
                    hash: h.clone(),
                });
                prev = h;
            }
        }
        tx.commit()?;
        *head = prev;
        *last_seq = seq;
        Ok(out)
    }

    fn record(
        seq: i64,
        body: &str,
        prev_hash: String,
        hash: String,
    ) -> Result<ExecutionRecord, StorageError> {
        let execution = serde_json::from_str(body)
            .map_err(|e| StorageError::Corrupt(format!("record {seq}: {e}")))?;
        Ok(ExecutionRecord {
            seq,
            execution,
            prev_hash,
            hash,
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError> {
        let conn = lock(&self.reader);
        let row: Option<(i64, String, String, String)> = conn
            .query_row(
                "SELECT seq, body, prev_hash, hash FROM executions WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(seq, body, p, h)| Self::record(seq, &body, p, h))
            .transpose()
    }

    /// Newest first. Returns the page and the cursor for the next one (`None` at the end).
    pub fn list(&self, f: &Filter) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
        let limit = f.limit.clamp(1, 1000);
        let mut sql = String::from("SELECT seq, body, prev_hash, hash FROM executions WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(t) = &f.tool {
            add("tool =", t.clone().into());
        }
        if let Some(o) = &f.outcome {
            add("outcome =", o.clone().into());
        }
        if let Some(c) = &f.caller {
            add("caller =", c.clone().into());
        }
        if let Some(s) = f.since_ms {
            add("started_at >=", s.into());
        }
        if let Some(u) = f.until_ms {
            add("started_at <", u.into());
        }
        if let Some(b) = f.before_seq {
            add("seq <", b.into());
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", limit + 1));
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body, p, h) = row?;
            out.push(Self::record(seq, &body, p, h)?);
        }
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().map(|r| r.seq)
        } else {
            None
        };
        Ok((out, next))
    }

    /// Walks the whole chain and reports whether it is intact, naming every broken record.
    pub fn verify(&self) -> Result<ChainReport, StorageError> {
        let conn = lock(&self.reader);
        let (anchor, anchor_seq) = Self::anchor(&conn)?;
        let mut stmt =
            conn.prepare("SELECT seq, id, body, prev_hash, hash FROM executions ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut expected_prev = anchor;
        let mut expected_seq = anchor_seq + 1;
        let mut problems = Vec::new();
        let mut count = 0u64;
        let mut records = 0u64;
        let mut note = |p: String| {
            count += 1;
            if problems.len() < MAX_LISTED {
                problems.push(p);
            }
        };
        while let Some(row) = rows.next()? {
            records += 1;
            let seq: i64 = row.get(0)?;
            let id: String = row.get(1)?;
            let body: String = row.get(2)?;
            let prev: String = row.get(3)?;
            let stored: String = row.get(4)?;
            if seq != expected_seq {
                note(format!(
                    "record {seq} ({id}): expected record {expected_seq} here; records {expected_seq}..{} are missing",
                    seq - 1
                ));
            }
            if prev != expected_prev {
                note(format!(
                    "record {seq} ({id}): does not link to the record before it (a record was deleted, inserted or reordered)"
                ));
            }
            if hash(&prev, seq, &body) != stored {
                note(format!(
                    "record {seq} ({id}): contents do not match its hash (the record was edited)"
                ));
            }
            expected_prev = stored;
            expected_seq = seq + 1;
        }
        Ok(ChainReport {
            intact: count == 0,
            records,
            problems,
            problem_count: count,
            head: expected_prev,
        })
    }

    /// Deletes the oldest records started before `cutoff_ms` (a contiguous prefix of the
    /// chain), keeping the chain verifiable by anchoring it at the last deleted record.
    /// Returns how many were deleted.
    pub fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        let mut guard = lock(&self.writer);
        let (conn, _, _) = &mut *guard;
        let tx = conn.transaction()?;
        // The first record at or after the cutoff bounds the prefix; without one, all go.
        let keep_from: Option<i64> = tx
            .query_row(
                "SELECT MIN(seq) FROM executions WHERE started_at >= ?1",
                [cutoff_ms],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let last_deleted: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM executions WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
                [keep_from.unwrap_or(i64::MAX)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((seq, hash)) = last_deleted else {
            return Ok(0);
        };
        let deleted = tx.execute("DELETE FROM executions WHERE seq <= ?1", [seq])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('anchor_hash', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&hash],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('anchor_seq', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [seq.to_string()],
        )?;
        tx.commit()?;
        Ok(deleted as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cordon-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("cordon.db")
    }

    fn exec(i: i64, tool: &str, outcome: Outcome) -> NewExecution {
        NewExecution {
            id: format!("ex-{i}"),
            started_at_ms: 1_000 * i,
            finished_at_ms: 1_000 * i + 5,
            caller: "key-a".into(),
            transport: "http".into(),
            tool: tool.into(),
            version: "0.1.0".into(),
            digest: "d".repeat(64),
            publisher: Some("acme".into()),
            signer: Some("ed25519:x".into()),
            policy_hash: "p".repeat(64),
            input_bytes: 2,
            input_sha256: "i".repeat(64),
            input: None,
            outcome,
            error: None,
            usage: Usage {
                fuel_consumed: 100 + i as u64,
                ..Usage::default()
            },
        }
    }

    fn fill(log: &ExecutionLog, n: i64) {
        let batch: Vec<_> = (1..=n)
            .map(|i| exec(i, if i % 2 == 0 { "echo" } else { "sha256" }, Outcome::Ok))
            .collect();
        log.append(&batch).unwrap();
    }

    #[test]
    fn append_survives_reopen_and_chain_verifies() {
        let db = temp_db("reopen");
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 5);
        drop(log);
        let log = ExecutionLog::open(&db).unwrap();
        let more = log.append(&[exec(6, "echo", Outcome::Timeout)]).unwrap();
        assert_eq!(more[0].seq, 6);
        let report = log.verify().unwrap();
        assert!(report.intact, "{report:?}");
        assert_eq!(report.records, 6);
        assert_eq!(report.head, more[0].hash);
        let got = log.get("ex-3").unwrap().unwrap();
        assert_eq!(got.execution, exec(3, "sha256", Outcome::Ok));
    }

    #[test]
    fn edits_deletions_and_reordering_are_detected_and_named() {
        let db = temp_db("tamper");
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 6);
        let raw = Connection::open(&db).unwrap();

        raw.execute("UPDATE executions SET body = replace(body, '\"fuel_consumed\":103', '\"fuel_consumed\":1') WHERE seq = 3", []).unwrap();
        let r = log.verify().unwrap();
        assert!(!r.intact);
        assert_eq!(
            r.problems,
            ["record 3 (ex-3): contents do not match its hash (the record was edited)"]
        );
        raw.execute("UPDATE executions SET body = replace(body, '\"fuel_consumed\":1,', '\"fuel_consumed\":103,') WHERE seq = 3", []).unwrap();
        assert!(log.verify().unwrap().intact);

        raw.execute("DELETE FROM executions WHERE seq = 4", [])
            .unwrap();
        let r = log.verify().unwrap();
        assert_eq!(r.problem_count, 2, "{r:?}");
        assert!(r.problems[0].starts_with("record 5 (ex-5): expected record 4 here"));
        assert!(r.problems[1].starts_with("record 5 (ex-5): does not link"));
    }

    #[test]
    fn swapped_records_are_detected() {
        let db = temp_db("swap");
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 4);
        let raw = Connection::open(&db).unwrap();
        raw.execute_batch(
            "UPDATE executions SET seq = -2 WHERE seq = 2;
             UPDATE executions SET seq = 2 WHERE seq = 3;
             UPDATE executions SET seq = 3 WHERE seq = -2;",
        )
        .unwrap();
        let r = log.verify().unwrap();
        assert!(!r.intact);
        assert!(
            r.problems.iter().any(|p| p.starts_with("record 2 (ex-3)")),
            "{r:?}"
        );
    }

    #[test]
    fn retention_keeps_the_chain_verifiable() {
        let db = temp_db("prune");
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 10);
        assert_eq!(log.prune_before(4_500).unwrap(), 4);
        let r = log.verify().unwrap();
        assert!(r.intact, "{r:?}");
        assert_eq!(r.records, 6);
        // Appending after pruning and reopening still links up.
        drop(log);
        let log = ExecutionLog::open(&db).unwrap();
        log.append(&[exec(11, "echo", Outcome::Ok)]).unwrap();
        assert!(log.verify().unwrap().intact);
        // Deleting the new oldest record is still caught.
        Connection::open(&db)
            .unwrap()
            .execute("DELETE FROM executions WHERE seq = 5", [])
            .unwrap();
        assert!(!log.verify().unwrap().intact);
    }

    #[test]
    fn list_filters_and_paginates_newest_first() {
        let db = temp_db("list");
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 9);
        let (page, next) = log
            .list(&Filter {
                tool: Some("echo".into()),
                limit: 3,
                ..Filter::default()
            })
            .unwrap();
        let ids: Vec<_> = page.iter().map(|r| r.execution.id.as_str()).collect();
        assert_eq!(ids, ["ex-8", "ex-6", "ex-4"]);
        let (page, next2) = log
            .list(&Filter {
                tool: Some("echo".into()),
                limit: 3,
                before_seq: next,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].execution.id, "ex-2");
        assert_eq!(next2, None);
        let (page, _) = log
            .list(&Filter {
                since_ms: Some(3_000),
                until_ms: Some(6_000),
                limit: 10,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(page.len(), 3);
    }
}
