//! The database schema, created or migrated on open. The version is SQLite's `user_version`;
//! changing a table means a new version and a migration step here. A database of a newer
//! version than this build knows is refused rather than misread.
//!
//! - version 1 (unnumbered, `user_version` 0): executions stored as a JSON `body` beside
//!   copies of some of its fields, and both hashes as hex text (about 1 KB a record);
//! - version 2: every field of an execution in its own compact column, repeating strings
//!   interned in `strings` (`log_row.rs`), no stored `prev_hash` (it is the previous record's
//!   hash); the chain's hashes are unchanged, so a migrated log still verifies;
//! - version 3: `api_keys.last_used_at`;
//! - version 4: administrative events (`events`) in the same chain as executions, kept
//!   checkpoints (`checkpoints`), and per execution the caller's key name, the output's sha256
//!   and the field check bytes (`chain.rs`). Records written before keep their hashes;
//! - version 5: `api_keys.description` and `api_keys.expires_at`;
//! - version 6: quota counters (`quota_use`) and running leases (`quota_leases`), `quota.rs`;
//! - version 7: per execution the credentials the host attached (`executions.credentials`,
//!   names and destinations only); records written before keep their hashes;
//! - version 8: where a tool version came from (`tools.source`);
//! - version 9: per execution the progress reports its guest made
//!   (`executions.progress_reports`, NULL for none; records written before keep their hashes),
//!   and running and recently finished calls (`tasks`, `tasks.rs`);
//! - version 10: the nodes sharing the store, as each reports itself (`nodes`, `nodes.rs`);
//! - version 11: the seal of each group of links, signed with the log key before the group
//!   commits (`seals`, `seal.rs`);
//! - version 12: per execution the log messages its guest wrote (`executions.log_messages`,
//!   NULL for none; records written before keep their hashes);
//! - version 13: per execution its place in an exchange of rounds asking for input
//!   (`executions.exchange`, JSON, NULL for none; records written before keep their hashes);
//! - version 14: per task waiting for input, the answers so far and its next round
//!   (`tasks.waiting`, `tasks.next`; `task_input.rs`);
//! - version 15: the decisions bundles applied (`decisions`, `decisions.rs`), calls held for
//!   approval (`approvals`, `approvals.rs`), and per execution the bundle that allowed it
//!   (`executions.decision`, interned, NULL for none; records written before keep their
//!   hashes);
//! - version 16: per execution what its output scan found (`executions.findings`, JSON, NULL
//!   for none; records written before keep their hashes), and per tool version what the review
//!   at publish found (`tools.review`, JSON, NULL for none); alerts and their deliveries
//!   (`alerts`, `alert_deliveries`, `alerts.rs`);
//! - version 17: the detection rules' counts (`detect_signals`, `detect.rs`) and callers'
//!   suspensions (`suspensions`, `suspensions.rs`);
//! - version 18: per execution the OpenTelemetry trace its spans were exported in
//!   (`executions.trace_id`, NULL for none; records written before keep their hashes);
//! - version 19: per task the trace its call runs in (`tasks.trace`, a W3C `traceparent`), so
//!   that its later rounds and polls on any node join that trace;
//! - version 20: per execution the fingerprint of the client certificate its caller
//!   authenticated with (`executions.caller_certificate`, NULL for none; records written
//!   before keep their hashes).

use crate::chain;
use crate::error::StorageError;
use crate::log_row::{self, Interner};
use crate::record::{NewExecution, canonical};
use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params_from_iter};

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: i64 = 20;

const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS strings (
        ref   INTEGER PRIMARY KEY,
        value TEXT NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS executions (
        seq               INTEGER PRIMARY KEY,
        id                BLOB NOT NULL UNIQUE,
        started_at        INTEGER NOT NULL,
        duration_ms       INTEGER NOT NULL,
        caller            INTEGER NOT NULL,
        transport         INTEGER NOT NULL,
        tool              INTEGER NOT NULL,
        version           INTEGER NOT NULL,
        digest            INTEGER NOT NULL,
        publisher         INTEGER,
        signer            INTEGER,
        policy_hash       INTEGER NOT NULL,
        input_bytes       INTEGER NOT NULL,
        input_sha256      BLOB NOT NULL,
        input             TEXT,
        outcome           INTEGER NOT NULL,
        error             TEXT,
        fuel              INTEGER NOT NULL,
        peak_memory       INTEGER NOT NULL,
        wall_time_us      INTEGER NOT NULL,
        usage_input_bytes INTEGER,
        output_bytes      INTEGER NOT NULL,
        stdout_bytes      INTEGER NOT NULL,
        stderr_bytes      INTEGER NOT NULL,
        truncated         INTEGER NOT NULL,
        http_requests     INTEGER NOT NULL,
        denials           TEXT,
        hash              BLOB NOT NULL,
        caller_name       INTEGER,
        output_sha256     BLOB,
        checks            BLOB,
        credentials       TEXT,
        progress_reports  INTEGER,
        log_messages      INTEGER,
        exchange          TEXT,
        decision          INTEGER,
        findings          TEXT,
        trace_id          TEXT,
        caller_certificate TEXT
    );
    -- The listing filters (tool, outcome, caller: newest first, so with seq) and the time
    -- range (also used by retention). Nothing else is indexed: each index costs bytes per record.
    CREATE INDEX IF NOT EXISTS executions_tool ON executions (tool, seq);
    CREATE INDEX IF NOT EXISTS executions_outcome ON executions (outcome, seq);
    CREATE INDEX IF NOT EXISTS executions_caller ON executions (caller, seq);
    CREATE INDEX IF NOT EXISTS executions_started ON executions (started_at);
    -- Administrative events: the body is the canonical JSON that is hashed; kind, at, actor
    -- and tool are copies for the filters, checked against it by verify.
    CREATE TABLE IF NOT EXISTS events (
        seq    INTEGER PRIMARY KEY,
        kind   INTEGER NOT NULL,
        at     INTEGER NOT NULL,
        actor  INTEGER NOT NULL,
        tool   INTEGER,
        body   TEXT NOT NULL,
        checks BLOB,
        hash   BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq);
    CREATE INDEX IF NOT EXISTS events_actor ON events (actor, seq);
    CREATE INDEX IF NOT EXISTS events_tool ON events (tool, seq);
    CREATE INDEX IF NOT EXISTS events_at ON events (at);
    -- Signed checkpoints, as the server made them (size = last sequence number covered).
    CREATE TABLE IF NOT EXISTS checkpoints (
        size   INTEGER PRIMARY KEY,
        head   BLOB NOT NULL,
        at     INTEGER NOT NULL,
        signed TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS tools (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT NOT NULL,
        version       TEXT NOT NULL,
        digest        TEXT NOT NULL,
        blob          TEXT NOT NULL,
        publisher     TEXT NOT NULL,
        signer        TEXT NOT NULL,
        description   TEXT NOT NULL,
        input_schema  TEXT NOT NULL,
        output_schema TEXT,
        policy        TEXT NOT NULL,
        policy_hash   TEXT NOT NULL,
        published_at  INTEGER NOT NULL,
        source        TEXT,
        review        TEXT,
        UNIQUE (name, version)
    );
    CREATE TABLE IF NOT EXISTS quarantine (
        name   TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        at     INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS api_keys (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        role       TEXT NOT NULL,
        hash       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        last_used_at INTEGER,
        description TEXT NOT NULL DEFAULT '',
        expires_at INTEGER
    );
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS quota_use (
        caller     TEXT NOT NULL,
        scope      TEXT NOT NULL,
        day        INTEGER NOT NULL,
        executions INTEGER NOT NULL,
        fuel       INTEGER NOT NULL,
        PRIMARY KEY (caller, scope, day)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS quota_leases (
        id         TEXT NOT NULL,
        caller     TEXT NOT NULL,
        scope      TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (id, scope)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS quota_leases_caller ON quota_leases (caller, scope);
    CREATE TABLE IF NOT EXISTS tasks (
        id          TEXT PRIMARY KEY,
        caller      TEXT NOT NULL,
        tool        TEXT NOT NULL,
        version     TEXT NOT NULL,
        node        TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        lease_until INTEGER NOT NULL,
        progress    TEXT,
        cancel_by   TEXT,
        outcome     TEXT,
        result      TEXT,
        expires_at  INTEGER,
        interrupted TEXT,
        waiting     TEXT,
        next        TEXT,
        trace       TEXT
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS tasks_running ON tasks (lease_until) WHERE outcome IS NULL;
    CREATE INDEX IF NOT EXISTS tasks_expiring ON tasks (expires_at) WHERE outcome IS NOT NULL;
    CREATE TABLE IF NOT EXISTS nodes (
        name    TEXT PRIMARY KEY,
        beat    TEXT NOT NULL,
        seen_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS alerts (
        id       TEXT PRIMARY KEY,
        at       INTEGER NOT NULL,
        rule     TEXT NOT NULL,
        severity TEXT NOT NULL,
        summary  TEXT NOT NULL,
        details  TEXT NOT NULL,
        key      TEXT
    );
    CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);
    CREATE INDEX IF NOT EXISTS alerts_rule_key ON alerts (rule, key, at);
    CREATE TABLE IF NOT EXISTS alert_deliveries (
        alert        TEXT NOT NULL,
        webhook      TEXT NOT NULL,
        state        TEXT NOT NULL,
        attempts     INTEGER NOT NULL,
        next_at      INTEGER NOT NULL,
        lease_until  INTEGER,
        node         TEXT,
        last_error   TEXT,
        delivered_at INTEGER,
        PRIMARY KEY (alert, webhook)
    );
    CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (next_at) WHERE state = 'pending';
    CREATE TABLE IF NOT EXISTS detect_signals (
        rule       TEXT NOT NULL,
        key        TEXT NOT NULL,
        at         INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        executions TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS detect_signals_key ON detect_signals (rule, key, at);
    CREATE INDEX IF NOT EXISTS detect_signals_at ON detect_signals (at);
    CREATE TABLE IF NOT EXISTS suspensions (
        caller   TEXT PRIMARY KEY,
        at       INTEGER NOT NULL,
        until_at INTEGER NOT NULL,
        reason   TEXT NOT NULL,
        by_actor TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS decisions (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        hash   TEXT NOT NULL,
        bundle TEXT NOT NULL,
        at     INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS approvals (
        id           TEXT PRIMARY KEY,
        caller       TEXT NOT NULL,
        caller_name  TEXT NOT NULL,
        held_caller  TEXT NOT NULL,
        tool         TEXT NOT NULL,
        version      TEXT NOT NULL,
        digest       TEXT NOT NULL,
        policy_hash  TEXT NOT NULL,
        transport    TEXT NOT NULL,
        input        TEXT NOT NULL,
        input_sha256 TEXT NOT NULL,
        decision     TEXT NOT NULL,
        approvers    TEXT NOT NULL,
        reasons      TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        state        TEXT NOT NULL,
        decided_by   TEXT,
        decided_name TEXT,
        reason       TEXT,
        decided_at   INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (expires_at) WHERE state = 'pending';
    CREATE TABLE IF NOT EXISTS seals (
        last_seq  INTEGER PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        signed    TEXT NOT NULL
    );";

pub(crate) fn open(path: &std::path::Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer. FULL: a commit is on disk before it returns, so a
    // response sent after the commit never loses its record, even to kill -9 or power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Temporary tables and sort spills in memory, not in /tmp: a confined server keeps no
    // access there (docs/security.md), and SQLite would fail only on the rare large query.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&conn)?;
    Ok(conn)
}

/// Brings the database to [`SCHEMA_VERSION`] in one exclusive transaction (every connection
/// runs this on open; the first one does the work).
fn migrate(conn: &Connection) -> Result<(), StorageError> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StorageError::SchemaTooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version < 2 {
        to_v2(&tx)?;
    }
    // 2 -> 3: when each key was last used.
    let has_last_used: bool = has_column(&tx, "api_keys", "last_used_at")?;
    if !has_last_used {
        tx.execute_batch("ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;")?;
    }
    // 3 -> 4: events and checkpoints (created by TABLES), and three execution columns.
    let has_checks: bool = has_column(&tx, "executions", "checks")?;
    if !has_checks {
        tx.execute_batch(
            "ALTER TABLE executions ADD COLUMN caller_name INTEGER;
             ALTER TABLE executions ADD COLUMN output_sha256 BLOB;
             ALTER TABLE executions ADD COLUMN checks BLOB;",
        )?;
    }
    // 4 -> 5: what a key is for, and when it expires.
    let has_expiry: bool = has_column(&tx, "api_keys", "expires_at")?;
    let has_keys: bool = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if has_keys && !has_expiry {
        tx.execute_batch(
            "ALTER TABLE api_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';
             ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;",
        )?;
    }
    // 6 -> 7: the credentials attached to each execution's requests.
    let has_executions: bool = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'executions'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    let has_credentials: bool = has_column(&tx, "executions", "credentials")?;
    if has_executions && !has_credentials {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN credentials TEXT;")?;
    }
    // 7 -> 8: where a tool version came from (an OCI reference pinned by digest).
    let has_tools: bool = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tools'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    let has_source: bool = has_column(&tx, "tools", "source")?;
    if has_tools && !has_source {
        tx.execute_batch("ALTER TABLE tools ADD COLUMN source TEXT;")?;
    }
    // 8 -> 9: the progress reports each execution's guest made.
    let has_progress: bool = has_column(&tx, "executions", "progress_reports")?;
    if has_executions && !has_progress {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN progress_reports INTEGER;")?;
    }
    // 11 -> 12: the log messages each execution's guest wrote.
    let has_logs: bool = has_column(&tx, "executions", "log_messages")?;
    if has_executions && !has_logs {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN log_messages INTEGER;")?;
    }
    // 12 -> 13: each execution's place in an exchange of rounds.
    let has_exchange: bool = has_column(&tx, "executions", "exchange")?;
    if has_executions && !has_exchange {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN exchange TEXT;")?;
    }
    // 13 -> 14: tasks waiting for input.
    let has_tasks: bool = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tasks'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    let has_waiting: bool = has_column(&tx, "tasks", "waiting")?;
    if has_tasks && !has_waiting {
        tx.execute_batch(
            "ALTER TABLE tasks ADD COLUMN waiting TEXT;
             ALTER TABLE tasks ADD COLUMN next TEXT;",
        )?;
    }
    // 14 -> 15: the decisions bundle that allowed each execution.
    let has_decision: bool = has_column(&tx, "executions", "decision")?;
    if has_executions && !has_decision {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN decision INTEGER;")?;
    }
    // 15 -> 16: what each execution's output scan found.
    let has_findings: bool = has_column(&tx, "executions", "findings")?;
    if has_executions && !has_findings {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN findings TEXT;")?;
    }
    // 17 -> 18: the trace each execution's spans were exported in.
    if has_executions && !has_column(&tx, "executions", "trace_id")? {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN trace_id TEXT;")?;
    }
    // 18 -> 19: the trace each task's call runs in.
    if has_tasks && !has_column(&tx, "tasks", "trace")? {
        tx.execute_batch("ALTER TABLE tasks ADD COLUMN trace TEXT;")?;
    }
    // 19 -> 20: the client certificate each execution's caller authenticated with.
    if has_executions && !has_column(&tx, "executions", "caller_certificate")? {
        tx.execute_batch("ALTER TABLE executions ADD COLUMN caller_certificate TEXT;")?;
    }
    if has_column(&tx, "tools", "name")? && !has_column(&tx, "tools", "review")? {
        tx.execute_batch("ALTER TABLE tools ADD COLUMN review TEXT;")?;
    }
    tx.execute_batch(TABLES)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Whether `table` has `column` (false when there is no such table).
fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )
}

/// Version 1 (or nothing) to version 2.
fn to_v2(tx: &Connection) -> Result<(), StorageError> {
    let has_v1_log: bool = has_column(tx, "executions", "body")?;
    if has_v1_log {
        tx.execute_batch(
            "ALTER TABLE executions RENAME TO executions_v1;
             DROP INDEX IF EXISTS executions_tool;
             DROP INDEX IF EXISTS executions_started;",
        )?;
    }
    tx.execute_batch(TABLES)?;
    if has_v1_log {
        let kept = migrate_v1(tx)?;
        if kept.is_empty() {
            tx.execute_batch("DROP TABLE executions_v1;")?;
        } else {
            // Rows that did not carry over exactly stay as they were, for the operator and for
            // `verify`, which names them.
            let list: Vec<String> = kept.iter().map(i64::to_string).collect();
            tx.execute_batch(&format!(
                "DELETE FROM executions_v1 WHERE seq NOT IN ({});
                 ALTER TABLE executions_v1 RENAME TO {};",
                list.join(", "),
                UNMIGRATED
            ))?;
        }
    }
    Ok(())
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
    let sql = log_row::insert_sql();
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
        let mut values = vec![Value::Integer(seq)];
        values.extend(log_row::encode(
            conn,
            &mut interner,
            &e,
            &stored,
            &chain::field_checks(&body),
        )?);
        conn.prepare_cached(&sql)?
            .execute(params_from_iter(values))?;
    }
    Ok(kept)
}

/// The table where rows a migration could not carry over exactly are kept.
pub(crate) const UNMIGRATED: &str = "executions_v1_unmigrated";
