//! The nodes sharing a store, as each reports itself every few seconds: its name, when it was
//! last seen, and what it said of itself (JSON the server defines: readiness, version, calls
//! running). An operator's console lists them, so a node that stopped reporting shows as not
//! seen since then. A node not seen for a week is forgotten.

/// A node as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    /// When its last report was stored (ms since the epoch, the reporting node's clock).
    pub seen_at_ms: i64,
    /// What it reported (JSON).
    pub beat: String,
}

/// How long a node that stopped reporting stays listed: a week, long enough to notice one that
/// went away over a weekend, short enough that renamed or retired nodes do not pile up.
pub const FORGOTTEN_AFTER_MS: i64 = 7 * 86_400_000;

/// The embedded store's nodes: `nodes` in `cordon.db` (one node's store: its own rows), on a
/// connection of their own.
#[derive(Debug)]
pub struct NodeStore {
    conn: std::sync::Mutex<rusqlite::Connection>,
}

impl NodeStore {
    pub fn open(data_dir: &std::path::Path) -> Result<Self, crate::StorageError> {
        Ok(NodeStore {
            conn: std::sync::Mutex::new(crate::schema::open(&data_dir.join("cordon.db"))?),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `name`'s report, and forgets nodes not seen for [`FORGOTTEN_AFTER_MS`].
    pub fn beat(&self, name: &str, beat: &str, now_ms: i64) -> Result<(), crate::StorageError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO nodes (name, beat, seen_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET beat = excluded.beat, seen_at = excluded.seen_at",
        )?
        .execute(rusqlite::params![name, beat, now_ms])?;
        conn.prepare_cached("DELETE FROM nodes WHERE seen_at < ?1")?
            .execute([now_ms - FORGOTTEN_AFTER_MS])?;
        Ok(())
    }

    /// Every node listed, by name.
    pub fn list(&self) -> Result<Vec<NodeRow>, crate::StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT name, seen_at, beat FROM nodes ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(NodeRow {
                    name: r.get(0)?,
                    seen_at_ms: r.get(1)?,
                    beat: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
