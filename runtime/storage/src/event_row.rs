//! How an administrative event is laid out in the `events` table, and back.
//!
//! Administrative events are rare (a publish, a key revocation), so the body is stored as it is
//! hashed: its canonical JSON. `kind`, `at`, `actor` and `tool` are copies kept for the listing
//! filters; what is served is read from the body, and [`check_columns`] names any copy that no
//! longer agrees with it.

use crate::error::StorageError;
use crate::events::AdminEvent;
use crate::log_row::{Interner, digest_value};
use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

/// The columns of `events` after `seq`, in the order [`encode`] returns them.
pub(crate) const EVENT_COLUMNS: &str = "kind, at, actor, tool, body, checks, hash";

/// The column values for `e` (in [`EVENT_COLUMNS`] order).
pub(crate) fn encode(
    conn: &Connection,
    interner: &mut Interner,
    e: &AdminEvent,
    body: &str,
    checks: &[u8],
    hash: &str,
) -> Result<Vec<Value>, StorageError> {
    let mut s = |v: &str| interner.intern(conn, v).map(Value::Integer);
    Ok(vec![
        s(e.action.kind())?,
        Value::Integer(e.at_ms),
        s(&e.actor.key_id)?,
        match e.action.tool() {
            Some(t) => s(t)?,
            None => Value::Null,
        },
        Value::Text(body.to_owned()),
        Value::Blob(checks.to_vec()),
        digest_value(hash),
    ])
}

/// An event row read back (selected as `seq, <EVENT_COLUMNS>` with the interned columns
/// resolved to text).
pub(crate) struct DecodedEvent {
    pub seq: i64,
    /// The body as stored (what is hashed).
    pub body: String,
    /// The body parsed, when it still parses.
    pub event: Option<AdminEvent>,
    pub hash: String,
    pub checks: Option<Vec<u8>>,
    /// The filter copies as stored: kind, at, actor, tool.
    pub columns: (Option<String>, Option<i64>, Option<String>, Option<String>),
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_owned),
        _ => None,
    }
}

pub(crate) fn decode(row: &rusqlite::Row<'_>) -> Result<DecodedEvent, (i64, &'static str)> {
    let seq: i64 = row.get(0).map_err(|_| (0, "seq"))?;
    let get = |i: usize| row.get_ref(i + 1).ok();
    let body = get(4).and_then(text).ok_or((seq, "body"))?;
    let hash = match get(6) {
        Some(ValueRef::Blob(b)) => hex::encode(b),
        Some(v) => text(v).ok_or((seq, "hash"))?,
        None => return Err((seq, "hash")),
    };
    let checks = match get(5) {
        Some(ValueRef::Blob(b)) => Some(b.to_vec()),
        _ => None,
    };
    let at = match get(1) {
        Some(ValueRef::Integer(v)) => Some(v),
        _ => None,
    };
    Ok(DecodedEvent {
        seq,
        event: serde_json::from_str(&body).ok(),
        body,
        hash,
        checks,
        columns: (
            get(0).and_then(text),
            at,
            get(2).and_then(text),
            get(3).and_then(text),
        ),
    })
}

/// The filter copies that disagree with the hashed body, as problems naming the column.
pub(crate) fn check_columns(d: &DecodedEvent) -> Vec<String> {
    let Some(e) = &d.event else {
        return vec!["its body is not an administrative event (the record was edited)".into()];
    };
    let (kind, at, actor, tool) = &d.columns;
    let mut out = Vec::new();
    let mut differs = |column: &str| {
        out.push(format!(
            "column {column} differs from the hashed event (the column was edited)"
        ));
    };
    if kind.as_deref() != Some(e.action.kind()) {
        differs("kind");
    }
    if *at != Some(e.at_ms) {
        differs("at");
    }
    if actor.as_deref() != Some(e.actor.key_id.as_str()) {
        differs("actor");
    }
    if tool.as_deref() != e.action.tool() {
        differs("tool");
    }
    out
}
