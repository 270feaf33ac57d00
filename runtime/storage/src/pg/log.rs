//! The audit log on PostgreSQL: one `links` row per link (execution or administrative event),
//! holding the canonical body the chain hashes beside copies of its fields for the filters.
//! Appends from every node take one advisory lock inside their transaction and read the head
//! there, so the chain has one order whatever node wrote each link.

use super::meta::{meta, set_meta};
use crate::chain::{self, ChainReport, Claim, Link, Walk};
use crate::error::StorageError;
use crate::events::{AdminEvent, Event, EventFilter};
use crate::record::{Appended, ExecutionRecord, Filter, NewExecution, Prepared};
use crate::seal::SealerSlot;
use postgres::types::ToSql;
use postgres::{GenericClient, Transaction};

/// The advisory lock every change to the chain holds until it commits.
const LOG_LOCK: i64 = 0x636f_7264_6f6e_0002;

/// Takes the log's lock for the rest of the transaction.
pub(crate) fn lock(tx: &mut Transaction<'_>) -> Result<(), StorageError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOG_LOCK])?;
    Ok(())
}

fn anchor(c: &mut impl GenericClient) -> Result<(String, i64), StorageError> {
    chain::anchor_of(meta(c, "anchor_hash")?, meta(c, "anchor_seq")?)
}

/// (sequence number, hash) of the newest link, or of the anchor when there is none.
pub(crate) fn head(c: &mut impl GenericClient) -> Result<(i64, String), StorageError> {
    match c.query_opt("SELECT seq, hash FROM links ORDER BY seq DESC LIMIT 1", &[])? {
        Some(r) => Ok((r.get(0), r.get(1))),
        None => anchor(c).map(|(h, s)| (s, h)),
    }
}

const INSERT: &str = "INSERT INTO links (seq, kind, at, actor, tool, outcome, exec_id, body, checks, prev_hash, hash)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Takes the log's lock and reads the head after it, in one round trip: two statements in one
/// simple query. Under READ COMMITTED each statement takes its own snapshot when it starts, so
/// the head is read once the lock is held and sees every link committed before it.
fn lock_then_head(tx: &mut Transaction<'_>) -> Result<(i64, String), StorageError> {
    let replies = tx.simple_query(&format!(
        "SELECT pg_advisory_xact_lock({LOG_LOCK}); \
         SELECT seq, hash FROM links ORDER BY seq DESC LIMIT 1"
    ))?;
    let newest = replies.iter().find_map(|m| match m {
        // The lock's own row has one column; the head's has two.
        postgres::SimpleQueryMessage::Row(row) if row.len() == 2 => {
            Some((row.get(0)?.to_owned(), row.get(1)?.to_owned()))
        }
        _ => None,
    });
    match newest {
        Some((seq, hash)) => {
            let seq = seq
                .parse()
                .map_err(|_| StorageError::Corrupt(format!("links.seq {seq:?}")))?;
            Ok((seq, hash))
        }
        None => anchor(tx).map(|(h, s)| (s, h)),
    }
}

/// Every record of a group in one statement (one array per column), so a group costs the same
/// round trips whatever its size.
const INSERT_EXECUTIONS: &str = "WITH sealed AS (INSERT INTO seals (last_seq, first_seq, signed)
                     SELECT $11, $12, $13 WHERE $13 IS NOT NULL)
     INSERT INTO links (seq, kind, at, actor, tool, outcome, exec_id, body, checks, prev_hash, hash)
     SELECT u.seq, 'execution', u.at, u.actor, u.tool, u.outcome, u.exec_id, u.body, u.checks, u.prev_hash, u.hash
     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[], $9::text[], $10::text[])
          AS u(seq, at, actor, tool, outcome, exec_id, body, checks, prev_hash, hash)";

/// Takes the log's lock and appends prepared executions after the head: with `BEGIN` and
/// `COMMIT` around it, four round trips for a whole group (lock and head in one, every insert in
/// one statement with its parameters typed, so nothing is prepared first). The group's seal is
/// made while the lock is held and kept by the same statement.
pub(crate) fn append_executions(
    tx: &mut Transaction<'_>,
    batch: &[Prepared],
    sealer: &SealerSlot,
) -> Result<Appended, StorageError> {
    use postgres::types::Type;
    let (mut seq, mut prev) = lock_then_head(tx)?;
    let mut out = Vec::with_capacity(batch.len());
    let n = batch.len();
    let (mut seqs, mut ats, mut actors, mut tools, mut outcomes, mut ids) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut bodies, mut checks, mut prevs, mut hashes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for p in batch {
        seq += 1;
        let e = &p.execution;
        let h = chain::link_hash(&prev, seq, p.body());
        seqs.push(seq);
        ats.push(e.started_at_ms);
        actors.push(e.caller.as_str());
        tools.push(e.tool.as_str());
        outcomes.push(e.outcome.as_str());
        ids.push(e.id.as_str());
        bodies.push(p.body());
        checks.push(p.checks.as_slice());
        prevs.push(prev.clone());
        hashes.push(h.clone());
        out.push(ExecutionRecord {
            seq,
            execution: e.clone(),
            prev_hash: std::mem::replace(&mut prev, h.clone()),
            hash: h,
        });
    }
    let first_seq = out.first().map_or(0, |r| r.seq);
    let last_seq = out.last().map_or(0, |r| r.seq);
    let seal = {
        let group: Vec<&str> = hashes.iter().map(String::as_str).collect();
        sealer.seal(first_seq, &group)?
    };
    if seal.is_none() {
        refuse_unsealed(tx)?;
    }
    tx.execute_typed(
        INSERT_EXECUTIONS,
        &[
            (&seqs, Type::INT8_ARRAY),
            (&ats, Type::INT8_ARRAY),
            (&actors, Type::TEXT_ARRAY),
            (&tools, Type::TEXT_ARRAY),
            (&outcomes, Type::TEXT_ARRAY),
            (&ids, Type::TEXT_ARRAY),
            (&bodies, Type::TEXT_ARRAY),
            (&checks, Type::BYTEA_ARRAY),
            (&prevs, Type::TEXT_ARRAY),
            (&hashes, Type::TEXT_ARRAY),
            (&last_seq, Type::INT8),
            (&first_seq, Type::INT8),
            (&seal, Type::TEXT),
        ],
    )?;
    Ok(Appended { records: out, seal })
}

/// Appends administrative events after the head (the caller holds the lock).
pub(crate) fn append_events(
    tx: &mut Transaction<'_>,
    events: Vec<AdminEvent>,
    sealer: &SealerSlot,
) -> Result<Vec<Event>, StorageError> {
    let (mut seq, mut prev) = head(tx)?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        seq += 1;
        let body = e.canonical();
        let h = chain::link_hash(&prev, seq, &body);
        let checks = chain::field_checks(&body);
        tx.execute(
            INSERT,
            &[
                &seq,
                &e.action.kind(),
                &e.at_ms,
                &e.actor.key_id,
                &e.action.tool(),
                &None::<String>,
                &None::<String>,
                &body,
                &checks,
                &prev,
                &h,
            ],
        )?;
        out.push(Event::of_admin(
            seq,
            e,
            std::mem::replace(&mut prev, h.clone()),
            h,
        ));
    }
    let hashes: Vec<&str> = out.iter().map(|e| e.hash.as_str()).collect();
    let first_seq = out.first().map_or(0, |e| e.seq);
    match sealer.seal(first_seq, &hashes)? {
        Some(seal) => {
            tx.execute(
                "INSERT INTO seals (last_seq, first_seq, signed) VALUES ($1, $2, $3)",
                &[&(first_seq + hashes.len() as i64 - 1), &first_seq, &seal],
            )?;
        }
        None if !hashes.is_empty() => refuse_unsealed(tx)?,
        None => {}
    }
    Ok(out)
}

/// An append without a sealer is refused once a log key claimed the store (`crate::seal`).
fn refuse_unsealed(tx: &mut Transaction<'_>) -> Result<(), StorageError> {
    match meta(tx, "log_key")? {
        Some(holder) => Err(crate::seal::unsealed_refused(&holder)),
        None => Ok(()),
    }
}

fn execution_of(r: &postgres::Row) -> Result<ExecutionRecord, StorageError> {
    let body: String = r.try_get("body")?;
    Ok(ExecutionRecord {
        seq: r.try_get("seq")?,
        execution: serde_json::from_str(&body)
            .map_err(|e| StorageError::Corrupt(format!("record body: {e}")))?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn event_of(r: &postgres::Row) -> Result<Event, StorageError> {
    let (seq, kind, body): (i64, String, String) =
        (r.try_get("seq")?, r.try_get("kind")?, r.try_get("body")?);
    let (prev, hash) = (r.try_get("prev_hash")?, r.try_get("hash")?);
    let corrupt = |e: serde_json::Error| StorageError::Corrupt(format!("record {seq}: {e}"));
    Ok(if kind == "execution" {
        Event::of_execution(
            seq,
            serde_json::from_str(&body).map_err(corrupt)?,
            prev,
            hash,
        )
    } else {
        Event::of_admin(
            seq,
            serde_json::from_str(&body).map_err(corrupt)?,
            prev,
            hash,
        )
    })
}

const COLUMNS: &str = "seq, kind, body, prev_hash, hash";

/// The one execution matching `clause` (on `$1`).
pub(crate) fn execution_where(
    c: &mut impl GenericClient,
    clause: &str,
    arg: &(dyn ToSql + Sync),
) -> Result<Option<ExecutionRecord>, StorageError> {
    c.query_opt(
        &format!("SELECT {COLUMNS} FROM links WHERE {clause}"),
        &[arg],
    )?
    .as_ref()
    .map(execution_of)
    .transpose()
}

/// A WHERE clause built from optional conditions, each with its argument.
#[derive(Default)]
struct Conditions {
    sql: String,
    args: Vec<Box<dyn ToSql + Sync>>,
}

impl Conditions {
    fn add(&mut self, column_op: &str, v: impl ToSql + Sync + 'static) {
        self.args.push(Box::new(v));
        self.sql
            .push_str(&format!(" AND {column_op} ${}", self.args.len()));
    }

    fn page<T>(
        self,
        c: &mut impl GenericClient,
        order: &str,
        limit: u32,
        read: impl Fn(&postgres::Row) -> Result<T, StorageError>,
        seq: impl Fn(&T) -> i64,
    ) -> Result<(Vec<T>, Option<i64>), StorageError> {
        let limit = limit.clamp(1, 1000);
        let sql = format!(
            "SELECT {COLUMNS} FROM links WHERE true{} ORDER BY seq {order} LIMIT {}",
            self.sql,
            limit + 1
        );
        let args: Vec<&(dyn ToSql + Sync)> = self.args.iter().map(|a| a.as_ref()).collect();
        let mut out = c
            .query(&sql, &args)?
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().map(seq)
        } else {
            None
        };
        Ok((out, next))
    }
}

/// A page of executions, newest first, and the cursor of the next one.
pub(crate) fn executions(
    c: &mut impl GenericClient,
    f: &Filter,
) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
    let mut w = Conditions::default();
    w.add("kind =", "execution");
    if let Some(t) = &f.tool {
        w.add("tool =", t.clone());
    }
    if let Some(o) = &f.outcome {
        w.add("outcome =", o.clone());
    }
    if let Some(caller) = &f.caller {
        w.add("actor =", caller.clone());
    }
    if let Some(s) = f.since_ms {
        w.add("at >=", s);
    }
    if let Some(u) = f.until_ms {
        w.add("at <", u);
    }
    if let Some(b) = f.before_seq {
        w.add("seq <", b);
    }
    w.page(c, "DESC", f.limit, execution_of, |r| r.seq)
}

/// A page of events: newest first (`before_seq`), or oldest first after `after_seq`.
pub(crate) fn events(
    c: &mut impl GenericClient,
    f: &EventFilter,
) -> Result<(Vec<Event>, Option<i64>), StorageError> {
    let mut w = Conditions::default();
    if let Some(k) = &f.kind {
        w.add("kind =", k.clone());
    }
    if let Some(a) = &f.actor {
        w.add("actor =", a.clone());
    }
    if let Some(t) = &f.tool {
        w.add("tool =", t.clone());
    }
    if let Some(s) = f.since_ms {
        w.add("at >=", s);
    }
    if let Some(u) = f.until_ms {
        w.add("at <", u);
    }
    let order = if let Some(a) = f.after_seq {
        w.add("seq >", a);
        "ASC"
    } else {
        if let Some(b) = f.before_seq {
            w.add("seq <", b);
        }
        "DESC"
    };
    w.page(c, order, f.limit, event_of, |e| e.seq)
}

/// What a link's filter columns should say, from its body; the differences are named.
fn column_problems(r: &postgres::Row, prev_stored: &str) -> Result<Vec<String>, StorageError> {
    let kind: String = r.try_get("kind")?;
    let body: String = r.try_get("body")?;
    let mut out = Vec::new();
    let expected = if kind == "execution" {
        serde_json::from_str::<NewExecution>(&body).ok().map(|e| {
            (
                e.started_at_ms,
                e.caller.clone(),
                Some(e.tool.clone()),
                Some(e.outcome.as_str().to_owned()),
                Some(e.id),
            )
        })
    } else {
        serde_json::from_str::<AdminEvent>(&body).ok().map(|e| {
            if e.action.kind() != kind {
                out.push("column kind differs from the record".to_owned());
            }
            (
                e.at_ms,
                e.actor.key_id.clone(),
                e.action.tool().map(str::to_owned),
                None,
                None,
            )
        })
    };
    if let Some((at, actor, tool, outcome, id)) = expected {
        let stored: (i64, String, Option<String>, Option<String>, Option<String>) = (
            r.try_get("at")?,
            r.try_get("actor")?,
            r.try_get("tool")?,
            r.try_get("outcome")?,
            r.try_get("exec_id")?,
        );
        for (name, same) in [
            ("at", stored.0 == at),
            ("actor", stored.1 == actor),
            ("tool", stored.2 == tool),
            ("outcome", stored.3 == outcome),
            ("exec_id", stored.4 == id),
        ] {
            if !same {
                out.push(format!("column {name} differs from the record"));
            }
        }
    }
    let prev: String = r.try_get("prev_hash")?;
    if prev != prev_stored {
        out.push("column prev_hash differs from the hash of the link before it".into());
    }
    Ok(out)
}

/// Walks the whole chain in one snapshot, against the kept checkpoints and `claims`.
pub(crate) fn verify(
    c: &mut postgres::Client,
    claims: &[Claim],
) -> Result<ChainReport, StorageError> {
    let mut tx = c
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let (anchor_hash, anchor_seq) = anchor(&mut tx)?;
    let mut walk = Walk::new(&anchor_hash, anchor_seq);
    walk.claim(claims.iter().cloned());
    let kept = tx.query(
        "SELECT size, head, at FROM checkpoints WHERE size >= $1 ORDER BY size",
        &[&anchor_seq],
    )?;
    walk.claim(kept.iter().map(|r| Claim {
        size: r.get(0),
        head: r.get(1),
        label: format!("kept by the log, made at {} ms", r.get::<_, i64>(2)),
    }));
    let mut prev_stored = anchor_hash;
    // In pages, so a long log is never held in memory at once.
    let mut after = i64::MIN;
    loop {
        let rows = tx.query(
            "SELECT seq, kind, at, actor, tool, outcome, exec_id, body, checks, prev_hash, hash
             FROM links WHERE seq > $1 ORDER BY seq LIMIT 1000",
            &[&after],
        )?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.get(0);
        for r in &rows {
            let seq: i64 = r.try_get("seq")?;
            let kind: String = r.try_get("kind")?;
            let stored_hash: String = r.try_get("hash")?;
            let label = if kind == "execution" {
                r.try_get::<_, Option<String>>("exec_id")?
                    .unwrap_or_else(|| kind.clone())
            } else {
                kind
            };
            walk.link(Link {
                seq,
                label,
                column_problems: column_problems(r, &prev_stored)?,
                body: r.try_get("body")?,
                stored_hash: stored_hash.clone(),
                checks: Some(r.try_get("checks")?),
            });
            prev_stored = stored_hash;
        }
    }
    tx.commit()?;
    Ok(walk.finish())
}

/// Deletes the oldest links from before `cutoff_ms`, up to the newest kept checkpoint among
/// them, which becomes the anchor (the caller holds the lock).
pub(crate) fn prune_before(tx: &mut Transaction<'_>, cutoff_ms: i64) -> Result<u64, StorageError> {
    let (last_seq, _) = head(tx)?;
    let (_, anchor_seq) = anchor(tx)?;
    let keep_from: Option<i64> = tx
        .query_one("SELECT MIN(seq) FROM links WHERE at >= $1", &[&cutoff_ms])?
        .get(0);
    let last_old = keep_from.map_or(last_seq, |s| s - 1);
    let Some(cp) = tx.query_opt(
        "SELECT size, head, signed FROM checkpoints WHERE size <= $1 AND size > $2
         ORDER BY size DESC LIMIT 1",
        &[&last_old, &anchor_seq],
    )?
    else {
        return Ok(0);
    };
    let (size, cp_head, signed): (i64, String, String) = (cp.get(0), cp.get(1), cp.get(2));
    let stored: Option<String> = tx
        .query_opt("SELECT hash FROM links WHERE seq = $1", &[&size])?
        .map(|r| r.get(0));
    if stored.as_deref() != Some(cp_head.as_str()) {
        return Err(StorageError::Corrupt(format!(
            "retention stopped: record {size} no longer matches its checkpoint; run `cordon audit verify`"
        )));
    }
    let deleted = tx.execute("DELETE FROM links WHERE seq <= $1", &[&size])?;
    tx.execute("DELETE FROM checkpoints WHERE size < $1", &[&size])?;
    tx.execute("DELETE FROM seals WHERE last_seq <= $1", &[&size])?;
    set_meta(tx, "anchor_hash", &cp_head)?;
    set_meta(tx, "anchor_seq", &size.to_string())?;
    set_meta(tx, "anchor_checkpoint", &signed)?;
    Ok(deleted)
}
