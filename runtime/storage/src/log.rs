//! The audit log of the embedded backend: one record per execution (`executions`, compact
//! columns, `log_row.rs`) and one per administrative event (`events`, `event_row.rs`), in one
//! sequence and one hash chain (`chain.rs`).
//!
//! An execution's body is not stored: each field has its own compact column, and the body is
//! rebuilt from the columns wherever it is needed. So everything served about a record is read
//! from exactly what is hashed, and an edit of any column, or of an interned string, is caught
//! by [`ExecutionLog::verify`], which names the record and the field.
//!
//! Administrative changes (publish, delete, quarantine, release, policy, keys) are applied by
//! [`ExecutionLog::change`] in the same transaction as the event that records them: a change is
//! never stored without its event, nor an event without its change.
//!
//! Anyone who can rewrite the whole database can rewrite the whole chain; signed checkpoints
//! copied elsewhere (`log_verify.rs`) are what catches that.

use crate::chain;
use crate::error::StorageError;
use crate::event_row::{self, EVENT_COLUMNS};
use crate::events::{AdminEvent, Event, EventFilter};
use crate::log_row::{self, COLUMNS, Interner, insert_sql, marks};
use crate::record::{Appended, ExecutionRecord, Filter, NewExecution, Prepared};
use crate::schema;
use crate::seal::{SealerSlot, StoredSeal};
use cordon_core::Outcome;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params_from_iter};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

pub struct ExecutionLog {
    /// The writer: appends, changes and pruning are serialized (and, through SQLite's write
    /// lock, with any other process writing the same database); each reads the head it links
    /// to inside its own transaction.
    pub(crate) writer: Mutex<Writer>,
    /// Readers use their own connection so listing never waits for a commit.
    pub(crate) reader: Mutex<Connection>,
    /// Signs each appended group before it commits (`seal.rs`).
    pub(crate) sealer: SealerSlot,
}

pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) interner: Interner,
}

impl std::fmt::Debug for ExecutionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionLog").finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn hash_text(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    match v {
        rusqlite::types::ValueRef::Blob(b) if b.len() == 32 => Some(hex::encode(b)),
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

fn insert_event_sql() -> String {
    let n = EVENT_COLUMNS.split(',').count() + 1;
    format!(
        "INSERT INTO events (seq, {EVENT_COLUMNS}) VALUES ({})",
        marks(n)
    )
}

/// The hash of the link before `seq`, whichever table holds it.
const PREV_HASH: &str = "COALESCE((SELECT hash FROM executions WHERE seq = e.seq - 1), \
     (SELECT hash FROM events WHERE seq = e.seq - 1))";

/// `SELECT` of stored records with the interned strings resolved, for `get` and `list`.
fn select_resolved() -> String {
    let mut cols = Vec::new();
    let mut joins = String::new();
    for (i, col) in COLUMNS.split(',').map(str::trim).enumerate() {
        if log_row::INTERNED.contains(&i) {
            cols.push(format!("s{i}.value"));
            joins.push_str(&format!(" LEFT JOIN strings s{i} ON s{i}.ref = e.{col}"));
        } else {
            cols.push(format!("e.{col}"));
        }
    }
    format!(
        "SELECT e.seq, {}, {PREV_HASH} FROM executions e{joins}",
        cols.join(", ")
    )
}

/// `SELECT` of stored administrative events with the interned strings resolved.
fn select_events_resolved() -> String {
    format!(
        "SELECT e.seq, sk.value, e.at, sa.value, st.value, e.body, e.checks, e.hash, {PREV_HASH}
         FROM events e LEFT JOIN strings sk ON sk.ref = e.kind
         LEFT JOIN strings sa ON sa.ref = e.actor LEFT JOIN strings st ON st.ref = e.tool"
    )
}

impl ExecutionLog {
    /// Opens (or creates) the log in `db_path`.
    pub fn open(db_path: &Path) -> Result<Self, StorageError> {
        let conn = schema::open(db_path)?;
        let reader = schema::open(db_path)?;
        Ok(ExecutionLog {
            writer: Mutex::new(Writer {
                conn,
                interner: Interner::default(),
            }),
            reader: Mutex::new(reader),
            sealer: SealerSlot::default(),
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

    pub(crate) fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StorageError> {
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StorageError> {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// The hash and sequence number the chain starts after.
    pub(crate) fn anchor(conn: &Connection) -> Result<(String, i64), StorageError> {
        chain::anchor_of(
            Self::meta(conn, "anchor_hash")?,
            Self::meta(conn, "anchor_seq")?,
        )
    }

    /// (sequence number, hash) of the newest link, or of the anchor when there is none.
    pub(crate) fn head_of(conn: &Connection) -> Result<(i64, String), StorageError> {
        let mut newest: Option<(i64, Option<String>)> = None;
        // Read once per group commit: statements cached, not parsed each time.
        for sql in [
            "SELECT seq, hash FROM executions ORDER BY seq DESC LIMIT 1",
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        ] {
            let last: Option<(i64, Option<String>)> = conn
                .prepare_cached(sql)?
                .query_row([], |r| Ok((r.get(0)?, hash_text(r.get_ref(1)?))))
                .optional()?;
            if let Some(l) = last
                && newest.as_ref().is_none_or(|n| l.0 > n.0)
            {
                newest = Some(l);
            }
        }
        match newest {
            Some((seq, h)) => Ok((seq, h.unwrap_or_default())),
            None => Self::anchor(conn).map(|(h, s)| (s, h)),
        }
    }

    /// (sequence number, hash) of the newest link as committed.
    pub fn head(&self) -> Result<(i64, String), StorageError> {
        Self::head_of(&lock(&self.reader))
    }

    /// This log's identity: random, made when the database was created, never changed.
    pub fn log_id(&self) -> Result<String, StorageError> {
        let w = lock(&self.writer);
        if let Some(id) = Self::meta(&w.conn, "log_id")? {
            return Ok(id);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| StorageError::Corrupt(format!("no randomness: {e}")))?;
        let id = hex::encode(bytes);
        // Another connection may have made it first: keep whichever is stored.
        w.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('log_id', ?1) ON CONFLICT(key) DO NOTHING",
            [&id],
        )?;
        Ok(Self::meta(&w.conn, "log_id")?.unwrap_or(id))
    }

    /// Appends executions in one transaction (group commit) and returns them as stored. When
    /// this returns, the records are durable.
    pub fn append(&self, batch: &[NewExecution]) -> Result<Vec<ExecutionRecord>, StorageError> {
        Ok(self.append_prepared(&Prepared::all(batch)?)?.records)
    }

    /// [`ExecutionLog::append`] of records already prepared: under the write lock only the
    /// chaining and the inserts remain.
    pub fn append_prepared(&self, batch: &[Prepared]) -> Result<Appended, StorageError> {
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        let result = Self::append_locked(w, &self.sealer, batch);
        if result.is_err() {
            // The transaction rolled back: strings it interned are gone again.
            w.interner.clear();
        }
        result
    }

    fn append_locked(
        w: &mut Writer,
        sealer: &SealerSlot,
        batch: &[Prepared],
    ) -> Result<Appended, StorageError> {
        let tx = w
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // The head as committed (another process, such as `cordon keys create --data`, may
        // have appended since), read under the write lock.
        let (mut seq, mut prev) = Self::head_of(&tx)?;
        let mut out = Vec::with_capacity(batch.len());
        let sql = insert_sql();
        for p in batch {
            seq += 1;
            let h = chain::link_hash(&prev, seq, &p.body);
            let mut values = vec![Value::Integer(seq)];
            values.extend(log_row::encode(
                &tx,
                &mut w.interner,
                &p.execution,
                &h,
                &p.checks,
            )?);
            tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
            out.push(ExecutionRecord {
                seq,
                execution: p.execution.clone(),
                prev_hash: std::mem::replace(&mut prev, h.clone()),
                hash: h,
            });
        }
        let hashes: Vec<&str> = out.iter().map(|r| r.hash.as_str()).collect();
        let seal = Self::put_seal(&tx, sealer, out.first().map_or(0, |r| r.seq), &hashes)?;
        tx.commit()?;
        Ok(Appended { records: out, seal })
    }

    /// Seals a group about to commit and keeps the seal in the same transaction.
    fn put_seal(
        tx: &Transaction<'_>,
        sealer: &SealerSlot,
        first_seq: i64,
        hashes: &[&str],
    ) -> Result<Option<String>, StorageError> {
        if hashes.is_empty() {
            return Ok(None);
        }
        let Some(seal) = sealer.seal(first_seq, hashes)? else {
            if let Some(holder) = Self::meta(tx, "log_key")? {
                return Err(crate::seal::unsealed_refused(&holder));
            }
            return Ok(None);
        };
        let last_seq = first_seq + hashes.len() as i64 - 1;
        tx.prepare_cached("INSERT INTO seals (last_seq, first_seq, signed) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![last_seq, first_seq, seal])?;
        Ok(Some(seal))
    }

    /// Seals every group appended from now on.
    pub fn set_sealer(&self, sealer: std::sync::Arc<dyn crate::seal::Sealer>) {
        self.sealer.set(sealer);
    }

    /// The seals of groups ending in `(after_seq, through_seq]`, in order.
    pub fn seals(&self, after_seq: i64, through_seq: i64) -> Result<Vec<StoredSeal>, StorageError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT first_seq, last_seq, signed FROM seals WHERE last_seq > ?1 AND last_seq <= ?2
             ORDER BY last_seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![after_seq, through_seq, crate::seal::MAX_SEALS_READ],
            read_seal,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The seal of the group holding link `seq`.
    pub fn seal_covering(&self, seq: i64) -> Result<Option<StoredSeal>, StorageError> {
        let conn = lock(&self.reader);
        Ok(conn
            .prepare_cached(
                "SELECT first_seq, last_seq, signed FROM seals WHERE last_seq >= ?1
                 ORDER BY last_seq LIMIT 1",
            )?
            .query_row([seq], read_seal)
            .optional()?
            .filter(|s| s.first_seq <= seq))
    }

    /// The signed claim of the log's key, as kept.
    pub fn log_claim(&self) -> Result<Option<String>, StorageError> {
        Self::meta(&lock(&self.reader), "log_claim")
    }

    /// Claims the log for `key_id` unless a key already holds it; returns the holder. The
    /// first claim keeps `sign`'s statement over the newest link's number.
    pub fn claim_log_key(
        &self,
        key_id: &str,
        sign: &crate::seal::ClaimSigner<'_>,
    ) -> Result<String, StorageError> {
        let mut w = lock(&self.writer);
        let tx = w
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(holder) = Self::meta(&tx, "log_key")? {
            return Ok(holder);
        }
        let (head, _) = Self::head_of(&tx)?;
        let claim = sign(head).map_err(StorageError::Seal)?;
        Self::set_meta(&tx, "log_key", key_id)?;
        Self::set_meta(&tx, "log_claim", &claim)?;
        tx.commit()?;
        Ok(key_id.to_owned())
    }

    /// Applies an administrative change and appends the events it returns, in one transaction:
    /// `apply` runs inside it and says what it did (`Ok((result, events))`); an error rolls
    /// the whole change back. Returns the result and the events as stored.
    pub fn change<T>(
        &self,
        apply: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<AdminEvent>), StorageError>,
    ) -> Result<(T, Vec<Event>), StorageError> {
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        let result = (|| {
            let tx = w
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (value, events) = apply(&tx)?;
            let (mut seq, mut prev) = Self::head_of(&tx)?;
            let sql = insert_event_sql();
            let mut out = Vec::with_capacity(events.len());
            for e in events {
                seq += 1;
                let body = e.canonical();
                let h = chain::link_hash(&prev, seq, &body);
                let mut values = vec![Value::Integer(seq)];
                values.extend(event_row::encode(
                    &tx,
                    &mut w.interner,
                    &e,
                    &body,
                    &chain::field_checks(&body),
                    &h,
                )?);
                tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
                out.push(Event::of_admin(
                    seq,
                    e,
                    std::mem::replace(&mut prev, h.clone()),
                    h,
                ));
            }
            let hashes: Vec<&str> = out.iter().map(|e| e.hash.as_str()).collect();
            Self::put_seal(&tx, &self.sealer, out.first().map_or(0, |e| e.seq), &hashes)?;
            tx.commit()?;
            Ok((value, out))
        })();
        match result {
            Ok(done) => Ok(done),
            Err(e) => {
                w.interner.clear();
                Err(e)
            }
        }
    }

    /// Appends one event that changes nothing else (server start and stop, a reload summary).
    pub fn record(&self, event: AdminEvent) -> Result<Event, StorageError> {
        let ((), mut events) = self.change(|_| Ok(((), vec![event])))?;
        events
            .pop()
            .ok_or_else(|| StorageError::Corrupt("event not stored".into()))
    }

    /// Reads rows of [`select_resolved`]: the strings come resolved in their columns.
    fn read_resolved(
        conn: &Connection,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<ExecutionRecord>, StorageError> {
        let (anchor, anchor_seq) = Self::anchor(conn)?;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        let prev_at = COLUMNS.split(',').count() + 1;
        while let Some(row) = rows.next()? {
            let d = log_row::decode_resolved(row).map_err(unreadable)?;
            let prev_hash = match hash_text(row.get_ref(prev_at)?) {
                Some(h) => h,
                None if d.seq - 1 == anchor_seq => anchor.clone(),
                None => String::new(),
            };
            out.push(ExecutionRecord {
                seq: d.seq,
                execution: d.execution,
                prev_hash,
                hash: d.hash,
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

    /// The execution at `seq`, if that link is one.
    pub fn get_seq(&self, seq: i64) -> Result<Option<ExecutionRecord>, StorageError> {
        let conn = lock(&self.reader);
        let sql = format!("{} WHERE e.seq = ?1", select_resolved());
        Ok(Self::read_resolved(&conn, &sql, vec![Value::Integer(seq)])?
            .into_iter()
            .next())
    }

    /// Newest first. Returns the page and the cursor for the next one (`None` at the end).
    pub fn list(&self, f: &Filter) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
        let limit = f.limit.clamp(1, 1000);
        let mut sql = format!("{} WHERE 1 = 1", select_resolved());
        let mut args: Vec<Value> = Vec::new();
        let mut add = |clause: &str, v: Value| {
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

    /// Executions and administrative events together: newest first (`before_seq` pages back),
    /// or oldest first after `after_seq` (following the log). Returns the page and the cursor
    /// for the next one.
    pub fn events(&self, f: &EventFilter) -> Result<(Vec<Event>, Option<i64>), StorageError> {
        let limit = f.limit.clamp(1, 1000) as usize;
        let ascending = f.after_seq.is_some();
        let want_executions = f.kind.as_deref().is_none_or(|k| k == "execution");
        let want_admin = f.kind.as_deref() != Some("execution");
        let conn = lock(&self.reader);
        let mut out: Vec<Event> = Vec::new();
        let order = if ascending { "ASC" } else { "DESC" };
        if want_executions {
            let mut sql = format!("{} WHERE 1 = 1", select_resolved());
            let mut args: Vec<Value> = Vec::new();
            Self::event_clauses(f, &mut sql, &mut args, "started_at", "caller");
            sql.push_str(&format!(" ORDER BY e.seq {order} LIMIT {}", limit + 1));
            for r in Self::read_resolved(&conn, &sql, args)? {
                out.push(Event::of_execution(r.seq, r.execution, r.prev_hash, r.hash));
            }
        }
        if want_admin {
            let mut sql = format!("{} WHERE 1 = 1", select_events_resolved());
            let mut args: Vec<Value> = Vec::new();
            if let Some(k) = &f.kind {
                args.push(k.clone().into());
                sql.push_str(&format!(
                    " AND e.kind = (SELECT ref FROM strings WHERE value = ?{})",
                    args.len()
                ));
            }
            Self::event_clauses(f, &mut sql, &mut args, "at", "actor");
            sql.push_str(&format!(" ORDER BY e.seq {order} LIMIT {}", limit + 1));
            let (anchor, anchor_seq) = Self::anchor(&conn)?;
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(args))?;
            while let Some(row) = rows.next()? {
                let d = event_row::decode(row).map_err(unreadable)?;
                let event = d.event.ok_or_else(|| unreadable((d.seq, "body")))?;
                let prev_hash = match hash_text(row.get_ref(8)?) {
                    Some(h) => h,
                    None if d.seq - 1 == anchor_seq => anchor.clone(),
                    None => String::new(),
                };
                out.push(Event::of_admin(d.seq, event, prev_hash, d.hash));
            }
        }
        if ascending {
            out.sort_by_key(|e| e.seq);
        } else {
            out.sort_by_key(|e| std::cmp::Reverse(e.seq));
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|e| e.seq)
        } else {
            None
        };
        Ok((out, next))
    }

    fn event_clauses(
        f: &EventFilter,
        sql: &mut String,
        args: &mut Vec<Value>,
        time: &str,
        actor: &str,
    ) {
        let mut add = |clause: String, v: Value| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{})", args.len()));
        };
        if let Some(t) = &f.tool {
            add(
                "e.tool = (SELECT ref FROM strings WHERE value =".into(),
                t.clone().into(),
            );
        }
        if let Some(a) = &f.actor {
            add(
                format!("e.{actor} = (SELECT ref FROM strings WHERE value ="),
                a.clone().into(),
            );
        }
        if let Some(s) = f.since_ms {
            add(format!("(e.{time} >="), s.into());
        }
        if let Some(u) = f.until_ms {
            add(format!("(e.{time} <"), u.into());
        }
        if let Some(b) = f.before_seq {
            add("(e.seq <".into(), b.into());
        }
        if let Some(a) = f.after_seq {
            add("(e.seq >".into(), a.into());
        }
    }
}

fn read_seal(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSeal> {
    Ok(StoredSeal {
        first_seq: r.get(0)?,
        last_seq: r.get(1)?,
        signed: r.get(2)?,
    })
}

fn unreadable((seq, field): (i64, &'static str)) -> StorageError {
    StorageError::Corrupt(format!("record {seq}: field {field} is unreadable"))
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
