//! The execution log: one record per execution, hash-chained so that an edited, deleted,
//! inserted or reordered record is detected.
//!
//! A record's hash covers its whole content: `hash = sha256(prev_hash || "\n" || seq || "\n" ||
//! body)` in lowercase hex, where `body` is the canonical JSON of the record (the fields of
//! [`NewExecution`] in declaration order, as `serde_json` writes them) and `prev_hash` the hash
//! of the record before it. The first record links to 64 zeros, or, after retention deleted
//! older records, to the hash of the last deleted one (kept as the chain's anchor in `meta`).
//!
//! The body is not stored: each field has its own compact column (`log_row.rs`), and the body is
//! rebuilt from the columns wherever it is needed. So everything served about a record is read
//! from exactly what is hashed, and an edit of any column, or of an interned string, is caught
//! by [`ExecutionLog::verify`], which names the record (and the field, when it no longer reads).
//!
//! Anyone who can rewrite the whole database can rewrite the whole chain; the chain catches
//! edits that do not also recompute every later hash (and tools that export the latest hash
//! elsewhere can catch those too).

use crate::error::StorageError;
use crate::log_row::{self, COLUMNS, Interner};
use crate::schema;
use cordon_core::{Outcome, Usage};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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
    writer: Mutex<Writer>,
    /// Readers use their own connection so listing never waits for a commit.
    reader: Mutex<Connection>,
}

struct Writer {
    conn: Connection,
    head: String,
    last_seq: i64,
    interner: Interner,
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

/// The canonical JSON the chain hashes.
fn canonical(e: &NewExecution) -> Result<String, StorageError> {
    serde_json::to_string(e).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every interned string, for reading many records.
fn all_strings(conn: &Connection) -> Result<HashMap<i64, String>, StorageError> {
    let mut stmt = conn.prepare("SELECT ref, value FROM strings")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn unreadable((seq, field): (i64, &'static str)) -> StorageError {
    StorageError::Corrupt(format!("record {seq}: field {field} is unreadable"))
}

/// Moves the records of a version 1 log (`executions_v1`, JSON bodies) into the version 2
/// columns, keeping every stored hash as it was: the body rebuilt from the columns is the body
/// that was hashed, so the chain verifies exactly as before (and a record edited before the
/// migration is still reported). Returns the sequence numbers whose original row must be kept:
/// a body that does not parse (left out of the new table: `verify` reports the gap) or does not
/// rebuild byte for byte (migrated, and its hash will not match). Nothing is lost either way.
pub(crate) fn migrate_v1(conn: &Connection) -> Result<Vec<i64>, StorageError> {
    let mut interner = Interner::default();
    let mut read = conn.prepare("SELECT seq, body, hash FROM executions_v1 ORDER BY seq")?;
    let mut rows = read.query([])?;
    let sql = insert_sql();
    let mut kept = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let body: String = row.get(1)?;
        let stored: String = row.get(2)?;
        let Ok(e) = serde_json::from_str::<NewExecution>(&body) else {
            kept.push(seq);
            continue;
        };
        if canonical(&e)? != body {
            kept.push(seq);
        }
        let mut values = vec![rusqlite::types::Value::Integer(seq)];
        values.extend(log_row::encode(conn, &mut interner, &e, &stored)?);
        conn.prepare_cached(&sql)?
            .execute(params_from_iter(values))?;
    }
    Ok(kept)
}

/// The table where rows a migration could not carry over exactly are kept.
pub(crate) const UNMIGRATED: &str = "executions_v1_unmigrated";

fn insert_sql() -> String {
    let n = COLUMNS.split(',').count() + 1;
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO executions (seq, {COLUMNS}) VALUES ({})",
        marks.join(", ")
    )
}

/// `SELECT` of stored records with the interned strings resolved, for `get` and `list`.
fn select_resolved() -> String {
    let mut cols = Vec::new();
    let mut joins = String::new();
    for (i, col) in COLUMNS.split(',').map(str::trim).enumerate() {
        if (3..=10).contains(&i) {
            cols.push(format!("s{i}.value"));
            joins.push_str(&format!(" LEFT JOIN strings s{i} ON s{i}.ref = e.{col}"));
        } else {
            cols.push(format!("e.{col}"));
        }
    }
    format!(
        "SELECT e.seq, {}, p.hash FROM executions e{joins} LEFT JOIN executions p ON p.seq = e.seq - 1",
        cols.join(", ")
    )
}

impl ExecutionLog {
    /// Opens (or creates) the log in `db_path`.
    pub fn open(db_path: &Path) -> Result<Self, StorageError> {
        let conn = schema::open(db_path)?;
        let reader = schema::open(db_path)?;
        let (head, last_seq) = Self::head(&conn)?;
        Ok(ExecutionLog {
            writer: Mutex::new(Writer {
                conn,
                head,
                last_seq,
                interner: Interner::default(),
            }),
            reader: Mutex::new(reader),
        })
    }

    /// With `durable` false, commits no longer wait for fsync (SQLite `synchronous = NORMAL` in
    /// WAL mode): a killed process still loses nothing, a power loss may lose the last commits.
    /// The default is durable.
    pub fn set_durable(&self, durable: bool) -> Result<(), StorageError> {
        let guard = lock(&self.writer);
        let level = if durable { "FULL" } else { "NORMAL" };
        guard.conn.pragma_update(None, "synchronous", level)?;
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
        let last: Option<(Vec<u8>, i64)> = conn
            .query_row(
                "SELECT CAST(hash AS BLOB), seq FROM executions ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match last {
            Some((h, seq)) if h.len() == 32 => Ok((hex::encode(h), seq)),
            Some((h, seq)) => Ok((String::from_utf8_lossy(&h).into_owned(), seq)),
            None => Self::anchor(conn),
        }
    }

    /// Appends executions in one transaction (group commit) and returns them as stored. When
    /// this returns, the records are durable.
    pub fn append(&self, batch: &[NewExecution]) -> Result<Vec<ExecutionRecord>, StorageError> {
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        let result = Self::append_locked(w, batch);
        if result.is_err() {
            // The transaction rolled back: strings it interned are gone again.
            w.interner.clear();
        }
        result
    }

    fn append_locked(
        w: &mut Writer,
        batch: &[NewExecution],
    ) -> Result<Vec<ExecutionRecord>, StorageError> {
        let tx = w.conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        let (mut prev, mut seq) = (w.head.clone(), w.last_seq);
        let sql = insert_sql();
        for e in batch {
            seq += 1;
            let h = hash(&prev, seq, &canonical(e)?);
            let mut values = vec![rusqlite::types::Value::Integer(seq)];
            values.extend(log_row::encode(&tx, &mut w.interner, e, &h)?);
            tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
            out.push(ExecutionRecord {
                seq,
                execution: e.clone(),
                prev_hash: std::mem::replace(&mut prev, h.clone()),
                hash: h,
            });
        }
        tx.commit()?;
        w.head = prev;
        w.last_seq = seq;
        Ok(out)
    }

    /// Reads rows of [`select_resolved`]: the strings come resolved in their columns.
    fn read_resolved(
        conn: &Connection,
        sql: &str,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<ExecutionRecord>, StorageError> {
        let (anchor, anchor_seq) = Self::anchor(conn)?;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        let prev_at = COLUMNS.split(',').count() + 1;
        while let Some(row) = rows.next()? {
            // Resolved strings arrive as text in the interned columns: the decoder takes a
            // text where it would look a ref up.
            let (seq, execution, hash) = log_row::decode_resolved(row).map_err(unreadable)?;
            let prev_hash = match row.get_ref(prev_at)? {
                rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ if seq - 1 == anchor_seq => anchor.clone(),
                _ => String::new(),
            };
            out.push(ExecutionRecord {
                seq,
                execution,
                prev_hash,
                hash,
            });
        }
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError> {
        let conn = lock(&self.reader);
        let sql = format!("{} WHERE e.id = ?1", select_resolved());
        Ok(
            Self::read_resolved(&conn, &sql, vec![log_row::id_value(id)])?
                .into_iter()
                .next(),
        )
    }

    /// Newest first. Returns the page and the cursor for the next one (`None` at the end).
    pub fn list(&self, f: &Filter) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
        let limit = f.limit.clamp(1, 1000);
        let mut sql = format!("{} WHERE 1 = 1", select_resolved());
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{})", args.len()));
        };
        if let Some(t) = &f.tool {
            add(
                "e.tool = (SELECT ref FROM strings WHERE value =",
                t.clone().into(),
            );
        }
        if let Some(o) = &f.outcome {
            let code = Outcome::ALL
                .iter()
                .find(|x| x.as_str() == o)
                .map_or(-1, |x| log_row::outcome_code(*x));
            add("(e.outcome =", code.into());
        }
        if let Some(c) = &f.caller {
            add(
                "e.caller = (SELECT ref FROM strings WHERE value =",
                c.clone().into(),
            );
        }
        if let Some(s) = f.since_ms {
            add("(e.started_at >=", s.into());
        }
        if let Some(u) = f.until_ms {
            add("(e.started_at <", u.into());
        }
        if let Some(b) = f.before_seq {
            add("(e.seq <", b.into());
        }
        sql.push_str(&format!(" ORDER BY e.seq DESC LIMIT {}", limit + 1));
        let conn = lock(&self.reader);
        let mut out = Self::read_resolved(&conn, &sql, args)?;
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
        // One read transaction: the strings and the records are seen at the same instant.
        let tx = conn.unchecked_transaction()?;
        let (anchor, anchor_seq) = Self::anchor(&tx)?;
        let strings = all_strings(&tx)?;
        let lookup = |r: i64| strings.get(&r).cloned();
        let mut stmt = tx.prepare(&format!(
            "SELECT seq, {COLUMNS} FROM executions ORDER BY seq"
        ))?;
        let mut rows = stmt.query([])?;
        let mut expected_prev = anchor;
        let mut expected_seq = anchor_seq + 1;
        let mut prev_bad = false;
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
            let (seq, execution, stored) = match log_row::decode(row, &lookup) {
                Ok(decoded) => decoded,
                Err((seq, field)) => {
                    note(format!(
                        "record {seq}: field {field} is unreadable (the record was edited)"
                    ));
                    // The chain cannot be followed through it; pick up after it.
                    let stored: Option<Vec<u8>> = row.get(27).ok();
                    expected_prev = stored.map(hex::encode).unwrap_or_default();
                    expected_seq = seq + 1;
                    prev_bad = true;
                    continue;
                }
            };
            let id = &execution.id;
            if seq != expected_seq {
                note(format!(
                    "record {seq} ({id}): expected record {expected_seq} here; records {expected_seq}..{} are missing",
                    seq - 1
                ));
            }
            let bad = hash(&expected_prev, seq, &canonical(&execution)?) != stored;
            if bad {
                note(if seq != expected_seq {
                    format!(
                        "record {seq} ({id}): does not link to the record before it (a record was deleted, inserted or reordered)"
                    )
                } else if prev_bad {
                    // Without a stored link, a changed hash of the record before makes this one
                    // fail too: either may be the edited one.
                    format!(
                        "record {seq} ({id}): does not match its hash, or the record before it was changed"
                    )
                } else {
                    format!(
                        "record {seq} ({id}): contents do not match its hash (the record was edited)"
                    )
                });
            }
            prev_bad = bad;
            expected_prev = stored;
            expected_seq = seq + 1;
        }
        let unmigrated: bool = tx.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [UNMIGRATED],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if unmigrated {
            let mut stmt = tx.prepare(&format!("SELECT seq FROM {UNMIGRATED} ORDER BY seq"))?;
            let seqs = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            for seq in seqs {
                note(format!(
                    "record {}: its schema v1 row did not carry over exactly; the original is kept in table {UNMIGRATED}",
                    seq?
                ));
            }
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
        let tx = guard.conn.transaction()?;
        // The first record at or after the cutoff bounds the prefix; without one, all go.
        let keep_from: Option<i64> = tx
            .query_row(
                "SELECT MIN(seq) FROM executions WHERE started_at >= ?1",
                [cutoff_ms],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let last_deleted: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT seq, CAST(hash AS BLOB) FROM executions WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
                [keep_from.unwrap_or(i64::MAX)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((seq, hash)) = last_deleted else {
            return Ok(0);
        };
        let hash = if hash.len() == 32 {
            hex::encode(hash)
        } else {
            String::from_utf8_lossy(&hash).into_owned()
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

        raw.execute("UPDATE executions SET fuel = 1 WHERE seq = 3", [])
            .unwrap();
        let r = log.verify().unwrap();
        assert!(!r.intact);
        assert_eq!(
            r.problems,
            ["record 3 (ex-3): contents do not match its hash (the record was edited)"]
        );
        raw.execute("UPDATE executions SET fuel = 103 WHERE seq = 3", [])
            .unwrap();
        assert!(log.verify().unwrap().intact);

        raw.execute("DELETE FROM executions WHERE seq = 4", [])
            .unwrap();
        let r = log.verify().unwrap();
        assert_eq!(r.problem_count, 2, "{r:?}");
        assert!(r.problems[0].starts_with("record 5 (ex-5): expected record 4 here"));
        assert!(r.problems[1].starts_with("record 5 (ex-5): does not link"));
    }

    #[test]
    fn an_edit_of_any_column_or_interned_string_is_detected() {
        let db = temp_db("columns");
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 4);
        let raw = Connection::open(&db).unwrap();
        let timeout = log_row::outcome_code(Outcome::Timeout);
        let edits = [
            format!("UPDATE executions SET outcome = {timeout} WHERE seq = 2"),
            "UPDATE executions SET tool = (SELECT tool FROM executions WHERE seq = 1) WHERE seq = 2".into(),
            "UPDATE executions SET started_at = started_at + 1 WHERE seq = 2".into(),
            "UPDATE executions SET duration_ms = 0 WHERE seq = 2".into(),
            "UPDATE executions SET id = 'ex-forged' WHERE seq = 2".into(),
            "UPDATE executions SET error = 'x' WHERE seq = 2".into(),
            "UPDATE executions SET input_sha256 = zeroblob(32) WHERE seq = 2".into(),
            r#"UPDATE executions SET denials = '[{"kind":"env","target":"X","reason":"y"}]' WHERE seq = 2"#.into(),
            "UPDATE executions SET usage_input_bytes = 9 WHERE seq = 2".into(),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let db = temp_db(&format!("columns-{i}"));
            let log = ExecutionLog::open(&db).unwrap();
            fill(&log, 4);
            assert!(log.verify().unwrap().intact);
            Connection::open(&db).unwrap().execute_batch(edit).unwrap();
            let r = log.verify().unwrap();
            assert!(!r.intact, "{edit} not detected");
            assert!(
                r.problems.iter().all(|p| p.starts_with("record 2")),
                "{edit}: {r:?}"
            );
        }
        // An interned string shared by several records: every one of them is named.
        raw.execute(
            "UPDATE strings SET value = 'key-b' WHERE value = 'key-a'",
            [],
        )
        .unwrap();
        let r = log.verify().unwrap();
        assert_eq!(r.problem_count, 4, "{r:?}");
        // The listing and lookup serve what is stored, and the forged value is what verify
        // reports as edited: nothing is served from outside the hashed content.
        let got = log.get("ex-1").unwrap().unwrap();
        assert_eq!(got.execution.caller, "key-b");
        // A column that no longer decodes is named.
        raw.execute("UPDATE executions SET outcome = 77 WHERE seq = 3", [])
            .unwrap();
        let r = log.verify().unwrap();
        assert!(
            r.problems.contains(
                &"record 3: field outcome is unreadable (the record was edited)".to_owned()
            ),
            "{r:?}"
        );
    }

    #[test]
    fn canonical_ids_and_digests_are_stored_compactly_and_read_back_exactly() {
        let db = temp_db("compact");
        let log = ExecutionLog::open(&db).unwrap();
        let mut e = exec(1, "echo", Outcome::Ok);
        e.id = "ex_00112233445566778899aabb".into();
        e.input_sha256 = "0f".repeat(32);
        e.usage.stdout_truncated = true;
        e.usage.denials = vec![cordon_core::Denial {
            kind: cordon_core::DenialKind::Network,
            target: "http://x".into(),
            reason: "not allowed".into(),
        }];
        e.usage.fuel_consumed = u64::MAX;
        e.usage.input_bytes = 7;
        log.append(std::slice::from_ref(&e)).unwrap();
        let got = log.get(&e.id).unwrap().unwrap();
        assert_eq!(got.execution, e);
        let raw = Connection::open(&db).unwrap();
        let (id_len, sha_len, hash_len): (i64, i64, i64) = raw
            .query_row(
                "SELECT length(id), length(input_sha256), length(hash) FROM executions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((id_len, sha_len, hash_len), (12, 32, 32));
        assert!(log.verify().unwrap().intact);
    }

    /// A version 1 database with three chained records; `damaged` has its body replaced by
    /// text that is not JSON (its hash left as it was).
    fn v1_db(name: &str, damaged: Option<i64>) -> std::path::PathBuf {
        let db = temp_db(name);
        let raw = Connection::open(&db).unwrap();
        raw.execute_batch(
            "CREATE TABLE executions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                started_at INTEGER NOT NULL, body TEXT NOT NULL, prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL, tool TEXT NOT NULL, outcome TEXT NOT NULL, caller TEXT NOT NULL);
             CREATE INDEX executions_tool ON executions (tool, seq);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .unwrap();
        let mut prev = GENESIS.to_owned();
        for i in 1..=3 {
            let e = exec(i, "echo", Outcome::Ok);
            let body = canonical(&e).unwrap();
            let h = hash(&prev, i, &body);
            let stored = if damaged == Some(i) {
                "{not json".to_owned()
            } else {
                body
            };
            raw.execute(
                "INSERT INTO executions VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'echo', 'ok', 'key-a')",
                rusqlite::params![i, e.id, e.started_at_ms, stored, prev, h],
            )
            .unwrap();
            prev = h;
        }
        db
    }

    #[test]
    fn a_version_1_log_is_migrated_and_still_verifies() {
        let db = v1_db("v1", None);
        let log = ExecutionLog::open(&db).unwrap();
        let r = log.verify().unwrap();
        assert!(r.intact, "{r:?}");
        assert_eq!(r.records, 3);
        assert_eq!(
            log.get("ex-2").unwrap().unwrap().execution,
            exec(2, "echo", Outcome::Ok)
        );
        let more = log.append(&[exec(4, "echo", Outcome::Ok)]).unwrap();
        assert_eq!(more[0].seq, 4);
        assert!(log.verify().unwrap().intact);
        let version: i64 = Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_row_that_does_not_carry_over_is_kept_and_reported() {
        // Record 2's body was damaged before the upgrade.
        let db = v1_db("v1-bad", Some(2));
        let log = ExecutionLog::open(&db).unwrap();
        let r = log.verify().unwrap();
        assert!(!r.intact);
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with("record 2:") && p.contains(UNMIGRATED)),
            "{r:?}"
        );
        let kept: String = Connection::open(&db)
            .unwrap()
            .query_row(
                &format!("SELECT body FROM {UNMIGRATED} WHERE seq = 2"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, "{not json");
        assert!(log.get("ex-3").unwrap().is_some());
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let db = temp_db("newer");
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = ExecutionLog::open(&db).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
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
