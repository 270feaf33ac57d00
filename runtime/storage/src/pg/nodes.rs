//! The nodes sharing this store, on PostgreSQL (`crate::nodes`).

use super::Postgres;
use crate::StorageError;
use crate::nodes::{FORGOTTEN_AFTER_MS, NodeRow};

impl Postgres {
    pub(super) fn node_beat_pg(
        &self,
        name: &str,
        beat: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        c.execute(
            "INSERT INTO nodes (name, beat, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET beat = excluded.beat, seen_at = excluded.seen_at",
            &[
                &name as &(dyn postgres::types::ToSql + Sync),
                &beat,
                &now_ms,
            ],
        )?;
        c.execute(
            "DELETE FROM nodes WHERE seen_at < $1",
            &[&(now_ms - FORGOTTEN_AFTER_MS)],
        )?;
        Ok(())
    }

    pub(super) fn nodes_pg(&self) -> Result<Vec<NodeRow>, StorageError> {
        Ok(self
            .conn()?
            .query("SELECT name, seen_at, beat FROM nodes ORDER BY name", &[])?
            .iter()
            .map(|r| NodeRow {
                name: r.get(0),
                seen_at_ms: r.get(1),
                beat: r.get(2),
            })
            .collect())
    }
}
