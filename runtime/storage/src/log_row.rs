//! How one execution record is laid out in the `executions` table, and back.
//!
//! Every field of [`NewExecution`] is stored exactly once, in its own column, in the most
//! compact form SQLite offers that still gives the field back byte for byte:
//!
//! - strings that repeat across records (caller, transport, tool, version, digest, publisher,
//!   signer, policy hash) are interned in the `strings` table and stored as a small integer;
//! - hex digests (`input_sha256`, the record's own `hash`) are stored as 32-byte blobs, and the
//!   id as its 12 random bytes, whenever they have the canonical form (anything else is stored
//!   as text, so nothing is ever lost);
//! - the outcome is a one-byte code ([`outcome_code`]), the finish time a duration, the usage
//!   counters plain integers, and denials JSON only when there are any.
//!
//! Nothing is hashed in this form: the chain hashes the canonical JSON of the record
//! (`log.rs`), rebuilt from these columns, so an edit of any column (or of an interned
//! string) changes what is hashed and is detected.

use crate::error::StorageError;
use crate::record::NewExecution;
use cordon_core::{Outcome, Usage};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;

/// The columns of `executions` after `seq`, in the order [`encode`] returns them and the
/// queries of `log.rs` select them.
pub(crate) const COLUMNS: &str = "id, started_at, duration_ms, caller, transport, tool, version, digest, \
     publisher, signer, policy_hash, input_bytes, input_sha256, input, outcome, error, fuel, \
     peak_memory, wall_time_us, usage_input_bytes, output_bytes, stdout_bytes, stderr_bytes, \
     truncated, http_requests, denials, hash, caller_name, output_sha256, checks, credentials, \
     progress_reports, log_messages, exchange, decision, findings, trace_id, caller_certificate";

/// The interned-string columns, by their position in [`COLUMNS`].
pub(crate) const INTERNED: [usize; 10] = [3, 4, 5, 6, 7, 8, 9, 10, 27, 34];

/// Position of the stored hash in [`COLUMNS`].
pub(crate) const HASH_AT: usize = 26;

/// Stable one-byte codes for outcomes. Never renumber: stored records use them.
pub(crate) fn outcome_code(outcome: Outcome) -> i64 {
    Outcome::ALL
        .iter()
        .position(|o| *o == outcome)
        .map_or(-1, |i| i as i64)
}

fn outcome_from(code: i64) -> Option<Outcome> {
    usize::try_from(code)
        .ok()
        .and_then(|i| Outcome::ALL.get(i))
        .copied()
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A 64-character lowercase hex digest as its 32 bytes; anything else as text.
pub(crate) fn digest_value(s: &str) -> Value {
    match (is_lower_hex(s, 64), hex::decode(s)) {
        (true, Ok(bytes)) => Value::Blob(bytes),
        _ => Value::Text(s.to_owned()),
    }
}

/// An execution id `ex_<24 lowercase hex>` as its 12 bytes; anything else as text.
pub(crate) fn id_value(id: &str) -> Value {
    match id.strip_prefix("ex_") {
        Some(h) if is_lower_hex(h, 24) => {
            hex::decode(h).map_or_else(|_| Value::Text(id.to_owned()), Value::Blob)
        }
        _ => Value::Text(id.to_owned()),
    }
}

fn text_of(v: ValueRef<'_>, blob: impl Fn(&[u8]) -> String) -> Option<String> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_owned),
        ValueRef::Blob(b) => Some(blob(b)),
        _ => None,
    }
}

/// Interns strings for the writer: string → `strings.ref`, cached. The cache holds one entry
/// per distinct caller, tool, version, digest, publisher, signer and policy hash ever
/// recorded, which grows with the registry and the key table, not with the number of calls.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    refs: HashMap<String, i64>,
}

impl Interner {
    pub(crate) fn intern(&mut self, conn: &Connection, s: &str) -> Result<i64, StorageError> {
        if let Some(r) = self.refs.get(s) {
            return Ok(*r);
        }
        let found: Option<i64> = conn
            .prepare_cached("SELECT ref FROM strings WHERE value = ?1")?
            .query_row([s], |r| r.get(0))
            .optional()?;
        let r = match found {
            Some(r) => r,
            None => {
                conn.prepare_cached("INSERT INTO strings (value) VALUES (?1)")?
                    .execute([s])?;
                conn.last_insert_rowid()
            }
        };
        self.refs.insert(s.to_owned(), r);
        Ok(r)
    }

    /// Forgets everything: after a rolled-back transaction the cached refs may not exist.
    pub(crate) fn clear(&mut self) {
        self.refs.clear();
    }
}

fn int(v: u64) -> Value {
    // Bit-preserving: u64 counters above i64::MAX come back unchanged through `as u64`.
    Value::Integer(v as i64)
}

fn opt_text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
}

/// The column values for `e` (in [`COLUMNS`] order), interning strings through `interner`.
pub(crate) fn encode(
    conn: &Connection,
    interner: &mut Interner,
    e: &NewExecution,
    hash: &str,
    checks: &[u8],
) -> Result<Vec<Value>, StorageError> {
    let mut s = |v: &str| interner.intern(conn, v).map(Value::Integer);
    let u = &e.usage;
    let denials = if u.denials.is_empty() {
        Value::Null
    } else {
        Value::Text(
            serde_json::to_string(&u.denials).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        )
    };
    let credentials = if u.credentials.is_empty() {
        Value::Null
    } else {
        Value::Text(
            serde_json::to_string(&u.credentials)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        )
    };
    let truncated = i64::from(u.stdout_truncated) | (i64::from(u.stderr_truncated) << 1);
    Ok(vec![
        id_value(&e.id),
        Value::Integer(e.started_at_ms),
        Value::Integer(e.finished_at_ms.wrapping_sub(e.started_at_ms)),
        s(&e.caller)?,
        s(&e.transport)?,
        s(&e.tool)?,
        s(&e.version)?,
        s(&e.digest)?,
        match &e.publisher {
            Some(p) => s(p)?,
            None => Value::Null,
        },
        match &e.signer {
            Some(p) => s(p)?,
            None => Value::Null,
        },
        s(&e.policy_hash)?,
        int(e.input_bytes),
        digest_value(&e.input_sha256),
        opt_text(&e.input),
        Value::Integer(outcome_code(e.outcome)),
        opt_text(&e.error),
        int(u.fuel_consumed),
        int(u.peak_memory_bytes),
        int(u.wall_time_us),
        // Almost always the same as the record's input_bytes: stored only when it differs.
        if u.input_bytes == e.input_bytes {
            Value::Null
        } else {
            int(u.input_bytes)
        },
        int(u.output_bytes),
        int(u.stdout_bytes),
        int(u.stderr_bytes),
        Value::Integer(truncated),
        int(u.http_requests),
        denials,
        digest_value(hash),
        match &e.caller_name {
            Some(n) => s(n)?,
            None => Value::Null,
        },
        e.output_sha256.as_deref().map_or(Value::Null, digest_value),
        Value::Blob(checks.to_vec()),
        credentials,
        // NULL for the many calls that report no progress.
        if u.progress_reports == 0 {
            Value::Null
        } else {
            int(u.progress_reports)
        },
        // NULL likewise for the calls that log nothing (and every tool of contract 0.1.0).
        if u.log_messages == 0 {
            Value::Null
        } else {
            int(u.log_messages)
        },
        match &e.exchange {
            Some(x) => Value::Text(
                serde_json::to_string(x).map_err(|e| StorageError::Corrupt(e.to_string()))?,
            ),
            None => Value::Null,
        },
        match &e.decision {
            Some(h) => s(h)?,
            None => Value::Null,
        },
        if e.findings.is_empty() {
            Value::Null
        } else {
            Value::Text(
                serde_json::to_string(&e.findings)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
            )
        },
        e.trace_id
            .as_ref()
            .map_or(Value::Null, |t| Value::Text(t.clone())),
        e.caller_certificate
            .as_ref()
            .map_or(Value::Null, |t| Value::Text(t.clone())),
    ])
}

/// An execution row read back: the record, its stored hash and its check bytes.
pub(crate) struct Decoded {
    pub seq: i64,
    pub execution: NewExecution,
    pub hash: String,
    pub checks: Option<Vec<u8>>,
}

/// A row selected as `seq, <COLUMNS>` read back, with interned strings resolved through
/// `strings`. Returns the record or the name of the first unreadable field.
pub(crate) fn decode(
    row: &rusqlite::Row<'_>,
    strings: &dyn Fn(i64) -> Option<String>,
) -> Result<Decoded, (i64, &'static str)> {
    let seq: i64 = row.get(0).map_err(|_| (0, "seq"))?;
    let bad = |field: &'static str| (seq, field);
    let raw = |i: usize| row.get_ref(i + 1).map_err(|_| ());
    let int_at = |i: usize, field: &'static str| -> Result<i64, (i64, &'static str)> {
        match raw(i) {
            Ok(ValueRef::Integer(v)) => Ok(v),
            _ => Err(bad(field)),
        }
    };
    let string_at = |i: usize,
                     field: &'static str|
     -> Result<Option<String>, (i64, &'static str)> {
        debug_assert!(INTERNED.contains(&i));
        match raw(i) {
            Ok(ValueRef::Null) => Ok(None),
            Ok(ValueRef::Integer(r)) => strings(r).map(Some).ok_or(bad(field)),
            // Already resolved by a join (see `decode_resolved`).
            Ok(v @ ValueRef::Text(_)) => text_of(v, |_| String::new()).map(Some).ok_or(bad(field)),
            _ => Err(bad(field)),
        }
    };
    let required = |i: usize, field: &'static str| string_at(i, field)?.ok_or(bad(field));
    let text_at = |i: usize, field: &'static str| -> Result<Option<String>, (i64, &'static str)> {
        match raw(i) {
            Ok(ValueRef::Null) => Ok(None),
            Ok(v @ ValueRef::Text(_)) => text_of(v, |_| String::new()).map(Some).ok_or(bad(field)),
            _ => Err(bad(field)),
        }
    };
    let hex_at = |i: usize, field: &'static str| -> Result<String, (i64, &'static str)> {
        raw(i)
            .ok()
            .and_then(|v| text_of(v, |b| hex::encode(b)))
            .ok_or(bad(field))
    };
    let id = raw(0)
        .ok()
        .and_then(|v| text_of(v, |b| format!("ex_{}", hex::encode(b))))
        .ok_or(bad("id"))?;
    let started_at_ms = int_at(1, "started_at")?;
    let input_bytes = int_at(11, "input_bytes")? as u64;
    let truncated = int_at(23, "truncated")?;
    let denials = match text_at(25, "denials")? {
        None => Vec::new(),
        Some(t) => serde_json::from_str(&t).map_err(|_| bad("denials"))?,
    };
    let credentials = match text_at(30, "credentials")? {
        None => Vec::new(),
        Some(t) => serde_json::from_str(&t).map_err(|_| bad("credentials"))?,
    };
    let record = NewExecution {
        id,
        started_at_ms,
        finished_at_ms: started_at_ms.wrapping_add(int_at(2, "duration_ms")?),
        caller: required(3, "caller")?,
        transport: required(4, "transport")?,
        tool: required(5, "tool")?,
        version: required(6, "version")?,
        digest: required(7, "digest")?,
        publisher: string_at(8, "publisher")?,
        signer: string_at(9, "signer")?,
        policy_hash: required(10, "policy_hash")?,
        input_bytes,
        input_sha256: hex_at(12, "input_sha256")?,
        input: text_at(13, "input")?,
        outcome: outcome_from(int_at(14, "outcome")?).ok_or(bad("outcome"))?,
        error: text_at(15, "error")?,
        usage: Usage {
            fuel_consumed: int_at(16, "fuel")? as u64,
            peak_memory_bytes: int_at(17, "peak_memory")? as u64,
            wall_time_us: int_at(18, "wall_time_us")? as u64,
            input_bytes: match raw(19) {
                Ok(ValueRef::Null) => input_bytes,
                Ok(ValueRef::Integer(v)) => v as u64,
                _ => return Err(bad("usage_input_bytes")),
            },
            output_bytes: int_at(20, "output_bytes")? as u64,
            stdout_bytes: int_at(21, "stdout_bytes")? as u64,
            stderr_bytes: int_at(22, "stderr_bytes")? as u64,
            stdout_truncated: truncated & 1 != 0,
            stderr_truncated: truncated & 2 != 0,
            http_requests: int_at(24, "http_requests")? as u64,
            denials,
            credentials,
            progress_reports: match raw(31) {
                Ok(ValueRef::Null) => 0,
                Ok(ValueRef::Integer(v)) if v > 0 => v as u64,
                _ => return Err(bad("progress_reports")),
            },
            log_messages: match raw(32) {
                Ok(ValueRef::Null) => 0,
                Ok(ValueRef::Integer(v)) if v > 0 => v as u64,
                _ => return Err(bad("log_messages")),
            },
        },
        caller_name: string_at(27, "caller_name")?,
        decision: string_at(34, "decision")?,
        findings: match text_at(35, "findings")? {
            None => Vec::new(),
            Some(t) => serde_json::from_str(&t).map_err(|_| bad("findings"))?,
        },
        trace_id: text_at(36, "trace_id")?,
        caller_certificate: text_at(37, "caller_certificate")?,
        exchange: match raw(33) {
            Ok(ValueRef::Null) => None,
            Ok(ValueRef::Text(t)) => Some(serde_json::from_slice(t).map_err(|_| bad("exchange"))?),
            _ => return Err(bad("exchange")),
        },
        output_sha256: match raw(28) {
            Ok(ValueRef::Null) => None,
            Ok(v) => Some(text_of(v, |b| hex::encode(b)).ok_or(bad("output_sha256"))?),
            Err(()) => return Err(bad("output_sha256")),
        },
    };
    if truncated & !3 != 0 {
        return Err(bad("truncated"));
    }
    let hash = hex_at(HASH_AT, "hash")?;
    let checks = match raw(29) {
        Ok(ValueRef::Blob(b)) => Some(b.to_vec()),
        _ => None,
    };
    Ok(Decoded {
        seq,
        execution: record,
        hash,
        checks,
    })
}

/// [`decode`] for a row whose interned columns were joined to their strings already.
pub(crate) fn decode_resolved(row: &rusqlite::Row<'_>) -> Result<Decoded, (i64, &'static str)> {
    decode(row, &|_| None)
}

pub(crate) fn marks(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT` of one record with its sequence number.
pub(crate) fn insert_sql() -> String {
    let n = COLUMNS.split(',').count() + 1;
    format!(
        "INSERT INTO executions (seq, {COLUMNS}) VALUES ({})",
        marks(n)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_codes_are_stable() {
        let codes: Vec<i64> = Outcome::ALL.iter().map(|o| outcome_code(*o)).collect();
        assert_eq!(codes, (0..14).collect::<Vec<_>>());
        // New outcomes only ever go at the end: the codes written before keep their meaning.
        assert_eq!(outcome_code(Outcome::HostError), 8);
        assert_eq!(outcome_code(Outcome::Cancelled), 9);
        assert_eq!(outcome_code(Outcome::Interrupted), 10);
        assert_eq!(outcome_code(Outcome::InputRequired), 11);
        assert_eq!(outcome_code(Outcome::Denied), 12);
        assert_eq!(outcome_code(Outcome::Blocked), 13);
        for o in Outcome::ALL {
            assert_eq!(outcome_from(outcome_code(o)), Some(o));
        }
        assert_eq!(outcome_from(14), None);
        assert_eq!(outcome_from(-1), None);
    }

    #[test]
    fn compact_forms_only_for_canonical_values() {
        let d = "ab".repeat(32);
        assert_eq!(digest_value(&d), Value::Blob(vec![0xab; 32]));
        assert_eq!(digest_value(&"AB".repeat(32)), Value::Text("AB".repeat(32)));
        assert_eq!(digest_value("i"), Value::Text("i".into()));
        assert_eq!(
            id_value("ex_000102030405060708090a0b"),
            Value::Blob((0..12).collect())
        );
        assert_eq!(id_value("ex-3"), Value::Text("ex-3".into()));
        assert_eq!(
            id_value("ex_0g0102030405060708090a0b"),
            Value::Text("ex_0g0102030405060708090a0b".into())
        );
    }
}
