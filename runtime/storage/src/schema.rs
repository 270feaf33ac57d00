//! The database schema, created on open. Changing a table means adding a migration step here.

use rusqlite::Connection;

pub(crate) fn open(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer. FULL: a commit is on disk before it returns, so a
    // response sent after the commit never loses its record, even to kill -9 or power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS executions (
            seq          INTEGER PRIMARY KEY,
            id           TEXT NOT NULL UNIQUE,
            started_at   INTEGER NOT NULL,
            body         TEXT NOT NULL,
            prev_hash    TEXT NOT NULL,
            hash         TEXT NOT NULL,
            tool         TEXT NOT NULL,
            outcome      TEXT NOT NULL,
            caller       TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS executions_tool ON executions (tool, seq);
        CREATE INDEX IF NOT EXISTS executions_started ON executions (started_at);
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
            revoked_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );",
    )?;
    Ok(conn)
}
