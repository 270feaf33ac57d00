//! Verifying the embedded log, keeping its checkpoints, and pruning it for retention.
//!
//! Checkpoints are signed by the server (the store keeps the signed text as it is given, and
//! never checks signatures: that needs the log key, which the store does not hold). The log
//! checks itself against every checkpoint it kept, and against any given from outside.
//!
//! Retention deletes a prefix of the chain that ends exactly at a kept checkpoint: that
//! checkpoint becomes the anchor the remaining chain starts from, so what is left stays provable
//! against the signed copies held elsewhere.

use crate::chain::{ChainReport, Claim, Link, Walk};
use crate::error::StorageError;
use crate::event_row;
use crate::log::{ExecutionLog, hash_text, lock};
use crate::log_row::{self, COLUMNS, HASH_AT};
use crate::record::canonical;
use crate::schema::UNMIGRATED;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A checkpoint as the store keeps it: the log's size (last sequence number) and head hash at
/// the time, and the signed statement exactly as the server made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    pub size: i64,
    pub head: String,
    pub at_ms: i64,
    pub signed: String,
}

fn read_checkpoint(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: r.get(0)?,
        head: hash_text(r.get_ref(1)?).unwrap_or_default(),
        at_ms: r.get(2)?,
        signed: r.get(3)?,
    })
}

/// One link as read for verification, from either table.
enum Item {
    Link(Link),
    Unreadable(i64, &'static str, Option<String>),
}

impl ExecutionLog {
    /// Keeps a checkpoint. A second one for the same size must agree with the first.
    pub fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StorageError> {
        let w = lock(&self.writer);
        let existing: Option<StoredCheckpoint> = w
            .conn
            .query_row(
                "SELECT size, head, at, signed FROM checkpoints WHERE size = ?1",
                [cp.size],
                read_checkpoint,
            )
            .optional()?;
        match existing {
            Some(e) if e.head == cp.head => Ok(()),
            Some(e) => Err(StorageError::Corrupt(format!(
                "a checkpoint for record {} with head {} is already kept; the new one says {}",
                cp.size, e.head, cp.head
            ))),
            None => {
                w.conn.execute(
                    "INSERT INTO checkpoints (size, head, at, signed) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![
                        cp.size,
                        log_row::digest_value(&cp.head),
                        cp.at_ms,
                        cp.signed
                    ],
                )?;
                Ok(())
            }
        }
    }

    /// The newest kept checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT size, head, at, signed FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                read_checkpoint,
            )
            .optional()?)
    }

    /// The oldest kept checkpoint whose log holds record `seq` (its `size` at least `seq`).
    pub fn checkpoint_covering(&self, seq: i64) -> Result<Option<StoredCheckpoint>, StorageError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT size, head, at, signed FROM checkpoints WHERE size >= ?1 ORDER BY size LIMIT 1",
                [seq],
                read_checkpoint,
            )
            .optional()?)
    }

    /// Every kept checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StorageError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare("SELECT size, head, at, signed FROM checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], read_checkpoint)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The signed checkpoint the chain is anchored at after retention pruned older links.
    pub fn anchor_checkpoint(&self) -> Result<Option<String>, StorageError> {
        let conn = lock(&self.reader);
        Self::meta(&conn, "anchor_checkpoint")
    }

    /// Walks the whole chain and reports whether it is intact, naming every broken link, and
    /// holds it against every kept checkpoint and every one in `claims` (whose signatures the
    /// caller checked).
    pub fn verify(&self, claims: &[Claim]) -> Result<ChainReport, StorageError> {
        let conn = lock(&self.reader);
        // One read transaction: the strings and the records are seen at the same instant.
        let tx = conn.unchecked_transaction()?;
        let (anchor, anchor_seq) = Self::anchor(&tx)?;
        let mut walk = Walk::new(&anchor, anchor_seq);
        walk.claim(claims.iter().cloned());
        let kept = {
            let mut stmt = tx.prepare(
                "SELECT size, head, at, signed FROM checkpoints WHERE size >= ?1 ORDER BY size",
            )?;
            let rows = stmt.query_map([anchor_seq], read_checkpoint)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        walk.claim(kept.into_iter().map(|c| Claim {
            size: c.size,
            head: c.head,
            label: format!("kept by the log, made at {} ms", c.at_ms),
        }));
        let strings: HashMap<i64, String> = {
            let mut stmt = tx.prepare("SELECT ref, value FROM strings")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let lookup = |r: i64| strings.get(&r).cloned();

        let mut exec_stmt = tx.prepare(&format!(
            "SELECT seq, {COLUMNS} FROM executions ORDER BY seq"
        ))?;
        let mut event_stmt = tx.prepare(
            "SELECT e.seq, sk.value, e.at, sa.value, st.value, e.body, e.checks, e.hash
             FROM events e LEFT JOIN strings sk ON sk.ref = e.kind
             LEFT JOIN strings sa ON sa.ref = e.actor LEFT JOIN strings st ON st.ref = e.tool
             ORDER BY e.seq",
        )?;
        let mut execs = exec_stmt.query([])?;
        let mut events = event_stmt.query([])?;
        let next_exec = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<Item>, StorageError> {
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            Ok(Some(match log_row::decode(row, &lookup) {
                Ok(d) => Item::Link(Link {
                    seq: d.seq,
                    label: d.execution.id.clone(),
                    body: canonical(&d.execution)?,
                    stored_hash: d.hash,
                    checks: d.checks,
                    column_problems: Vec::new(),
                }),
                Err((seq, field)) => Item::Unreadable(
                    seq,
                    field,
                    row.get_ref(HASH_AT + 1).ok().and_then(hash_text),
                ),
            }))
        };
        let next_event = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<Item>, StorageError> {
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            Ok(Some(match event_row::decode(row) {
                Ok(d) => Item::Link(Link {
                    seq: d.seq,
                    label: d
                        .event
                        .as_ref()
                        .map_or("event".into(), |e| e.action.kind().to_owned()),
                    column_problems: event_row::check_columns(&d),
                    body: d.body,
                    stored_hash: d.hash,
                    checks: d.checks,
                }),
                Err((seq, field)) => Item::Unreadable(seq, field, None),
            }))
        };
        let seq_of = |i: &Item| match i {
            Item::Link(l) => l.seq,
            Item::Unreadable(s, ..) => *s,
        };
        let mut a = next_exec(&mut execs)?;
        let mut b = next_event(&mut events)?;
        loop {
            let take_a = match (&a, &b) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(x), Some(y)) => seq_of(x) <= seq_of(y),
            };
            let item = if take_a {
                std::mem::replace(&mut a, next_exec(&mut execs)?)
            } else {
                std::mem::replace(&mut b, next_event(&mut events)?)
            };
            match item {
                Some(Item::Link(l)) => walk.link(l),
                Some(Item::Unreadable(seq, field, h)) => walk.unreadable(seq, field, h),
                None => break,
            }
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
                walk.note(format!(
                    "record {}: its schema v1 row did not carry over exactly; the original is kept in table {UNMIGRATED}",
                    seq?
                ));
            }
        }
        Ok(walk.finish())
    }

    /// Deletes the oldest links (executions and events) from before `cutoff_ms`, up to the
    /// newest kept checkpoint among them, which becomes the chain's anchor. Nothing is deleted
    /// past a checkpoint, so without one nothing is. Returns how many links were deleted.
    pub fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        let mut guard = lock(&self.writer);
        let tx = guard
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (last_seq, _) = Self::head_of(&tx)?;
        let (_, anchor_seq) = Self::anchor(&tx)?;
        // The first link at or after the cutoff bounds the prefix; without one, all may go.
        let keep_from: Option<i64> = tx.query_row(
            "SELECT MIN(s) FROM (SELECT MIN(seq) AS s FROM executions WHERE started_at >= ?1
             UNION ALL SELECT MIN(seq) FROM events WHERE at >= ?1)",
            [cutoff_ms],
            |r| r.get(0),
        )?;
        let last_old = keep_from.map_or(last_seq, |s| s - 1);
        let Some(cp) = tx
            .query_row(
                "SELECT size, head, at, signed FROM checkpoints WHERE size <= ?1 AND size > ?2
                 ORDER BY size DESC LIMIT 1",
                [last_old, anchor_seq],
                read_checkpoint,
            )
            .optional()?
        else {
            return Ok(0);
        };
        // The checkpoint must still be what the log says, or the anchor would lie.
        let stored: Option<String> = tx
            .query_row(
                "SELECT hash FROM executions WHERE seq = ?1 UNION ALL SELECT hash FROM events WHERE seq = ?1",
                [cp.size],
                |r| Ok(hash_text(r.get_ref(0)?)),
            )
            .optional()?
            .flatten();
        if stored.as_deref() != Some(cp.head.as_str()) {
            return Err(StorageError::Corrupt(format!(
                "retention stopped: record {} no longer matches its checkpoint; run `cordon audit verify`",
                cp.size
            )));
        }
        let mut deleted = tx.execute("DELETE FROM executions WHERE seq <= ?1", [cp.size])?;
        deleted += tx.execute("DELETE FROM events WHERE seq <= ?1", [cp.size])?;
        tx.execute("DELETE FROM checkpoints WHERE size < ?1", [cp.size])?;
        tx.execute("DELETE FROM seals WHERE last_seq <= ?1", [cp.size])?;
        Self::set_meta(&tx, "anchor_hash", &cp.head)?;
        Self::set_meta(&tx, "anchor_seq", &cp.size.to_string())?;
        Self::set_meta(&tx, "anchor_checkpoint", &cp.signed)?;
        tx.commit()?;
        Ok(deleted as u64)
    }
}
