//! The tool registry: published tool versions with their metadata and policy, quarantine
//! marks, and the components themselves as content-addressed blobs (`blobs/<sha256>`).
//!
//! The blob is the component exactly as published (with its signature section), so the server
//! can verify it again at every start before compiling anything.

use crate::error::StorageError;
use crate::schema;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// One published version of a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    pub name: String,
    pub version: String,
    /// sha256 of the component without its signature section (what ran is reported by it).
    pub digest: String,
    /// sha256 of the published file (the blob's name).
    pub blob: String,
    pub publisher: String,
    pub signer: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    pub output_schema: Option<serde_json::Value>,
    /// The policy file's text the tool runs under.
    pub policy: String,
    /// sha256 of `policy`.
    pub policy_hash: String,
    pub published_at_ms: i64,
}

/// Why a tool cannot be invoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub reason: String,
    pub at_ms: i64,
}

pub struct Registry {
    conn: Mutex<Connection>,
    blobs: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |error| StorageError::Io {
        path: path.to_owned(),
        error,
    }
}

impl Registry {
    /// Opens the registry in `data_dir` (`cordon.db` and `blobs/`).
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        let blobs = data_dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let conn = schema::open(&data_dir.join("cordon.db"))?;
        Ok(Registry {
            conn: Mutex::new(conn),
            blobs,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a component's bytes (idempotent) and returns the blob name (its sha256).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, StorageError> {
        let name = hex::encode(Sha256::digest(bytes));
        let path = self.blobs.join(&name);
        if !path.exists() {
            let tmp = self
                .blobs
                .join(format!(".{name}.tmp{}", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        }
        Ok(name)
    }

    /// A blob's bytes, checked against its name.
    pub fn blob(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::Corrupt(format!("bad blob name {name:?}")));
        }
        let path = self.blobs.join(name);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        if hex::encode(Sha256::digest(&bytes)) != name {
            return Err(StorageError::Corrupt(format!(
                "blob {name} does not match its hash"
            )));
        }
        Ok(bytes)
    }

    /// Records a published version. Fails if that name and version already exist.
    pub fn insert(&self, t: &ToolRecord) -> Result<(), StorageError> {
        self.conn().execute(
            "INSERT INTO tools (name, version, digest, blob, publisher, signer, description,
                                input_schema, output_schema, policy, policy_hash, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                t.name,
                t.version,
                t.digest,
                t.blob,
                t.publisher,
                t.signer,
                t.description,
                t.input_schema.to_string(),
                t.output_schema.as_ref().map(|s| s.to_string()),
                t.policy,
                t.policy_hash,
                t.published_at_ms
            ],
        )?;
        Ok(())
    }

    /// Replaces the policy of every version of `name` (policy reload).
    pub fn set_policy(
        &self,
        name: &str,
        policy: &str,
        policy_hash: &str,
    ) -> Result<usize, StorageError> {
        Ok(self.conn().execute(
            "UPDATE tools SET policy = ?2, policy_hash = ?3 WHERE name = ?1",
            params![name, policy, policy_hash],
        )?)
    }

    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<ToolRecord> {
        let schema = |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Ok(ToolRecord {
            name: row.get(0)?,
            version: row.get(1)?,
            digest: row.get(2)?,
            blob: row.get(3)?,
            publisher: row.get(4)?,
            signer: row.get(5)?,
            description: row.get(6)?,
            input_schema: schema(row.get(7)?),
            output_schema: row.get::<_, Option<String>>(8)?.map(schema),
            policy: row.get(9)?,
            policy_hash: row.get(10)?,
            published_at_ms: row.get(11)?,
        })
    }

    const COLUMNS: &'static str = "name, version, digest, blob, publisher, signer, description,
        input_schema, output_schema, policy, policy_hash, published_at";

    /// Every version of every tool, in publication order.
    pub fn all(&self) -> Result<Vec<ToolRecord>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {} FROM tools ORDER BY seq", Self::COLUMNS))?;
        let rows = stmt.query_map([], Self::read)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The named version, or the newest (last published) one.
    pub fn get(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<ToolRecord>, StorageError> {
        let conn = self.conn();
        let found = match version {
            Some(v) => conn
                .query_row(
                    &format!(
                        "SELECT {} FROM tools WHERE name = ?1 AND version = ?2",
                        Self::COLUMNS
                    ),
                    params![name, v],
                    Self::read,
                )
                .optional()?,
            None => conn
                .query_row(
                    &format!(
                        "SELECT {} FROM tools WHERE name = ?1 ORDER BY seq DESC LIMIT 1",
                        Self::COLUMNS
                    ),
                    params![name],
                    Self::read,
                )
                .optional()?,
        };
        Ok(found)
    }

    /// Deletes every version of `name` (blobs stay: they are content-addressed and may be
    /// shared). Returns the number of versions removed.
    pub fn delete(&self, name: &str) -> Result<usize, StorageError> {
        let conn = self.conn();
        conn.execute("DELETE FROM quarantine WHERE name = ?1", [name])?;
        Ok(conn.execute("DELETE FROM tools WHERE name = ?1", [name])?)
    }

    pub fn quarantine(&self, name: &str, reason: &str, at_ms: i64) -> Result<(), StorageError> {
        self.conn().execute(
            "INSERT INTO quarantine (name, reason, at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET reason = excluded.reason, at = excluded.at",
            params![name, reason, at_ms],
        )?;
        Ok(())
    }

    /// Lifts a quarantine; true if there was one.
    pub fn release(&self, name: &str) -> Result<bool, StorageError> {
        Ok(self
            .conn()
            .execute("DELETE FROM quarantine WHERE name = ?1", [name])?
            > 0)
    }

    /// Every quarantine mark, by tool name.
    pub fn all_quarantined(&self) -> Result<Vec<(String, Quarantine)>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, reason, at FROM quarantine ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                Quarantine {
                    reason: r.get(1)?,
                    at_ms: r.get(2)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn quarantined(&self, name: &str) -> Result<Option<Quarantine>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT reason, at FROM quarantine WHERE name = ?1",
                [name],
                |r| {
                    Ok(Quarantine {
                        reason: r.get(0)?,
                        at_ms: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, version: &str, blob: &str) -> ToolRecord {
        ToolRecord {
            name: name.into(),
            version: version.into(),
            digest: "d".repeat(64),
            blob: blob.into(),
            publisher: "acme".into(),
            signer: "ed25519:k".into(),
            description: "a tool".into(),
            input_schema: serde_json::json!({"type": "object"}),
            output_schema: None,
            policy: "[limits]\n".into(),
            policy_hash: "p".repeat(64),
            published_at_ms: 1,
        }
    }

    #[test]
    fn versions_quarantine_delete_and_blobs() {
        let dir = std::env::temp_dir().join(format!("cordon-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let reg = Registry::open(&dir).unwrap();
        let blob = reg.put_blob(b"component bytes").unwrap();
        assert_eq!(reg.put_blob(b"component bytes").unwrap(), blob);
        assert_eq!(reg.blob(&blob).unwrap(), b"component bytes");
        std::fs::write(dir.join("blobs").join(&blob), b"tampered").unwrap();
        assert!(matches!(reg.blob(&blob), Err(StorageError::Corrupt(_))));
        assert!(reg.blob("../etc/passwd").is_err());

        reg.insert(&record("echo", "1.0.0", &blob)).unwrap();
        reg.insert(&record("echo", "1.1.0", &blob)).unwrap();
        reg.insert(&record("other", "0.1.0", &blob)).unwrap();
        assert!(
            reg.insert(&record("echo", "1.0.0", &blob)).is_err(),
            "duplicate version"
        );
        assert_eq!(reg.get("echo", None).unwrap().unwrap().version, "1.1.0");
        assert_eq!(
            reg.get("echo", Some("1.0.0")).unwrap().unwrap().version,
            "1.0.0"
        );
        assert_eq!(reg.get("echo", Some("9")).unwrap(), None);

        reg.quarantine("echo", "suspicious", 5).unwrap();
        assert_eq!(
            reg.quarantined("echo").unwrap().unwrap().reason,
            "suspicious"
        );
        assert!(reg.release("echo").unwrap());
        assert!(!reg.release("echo").unwrap());
        assert_eq!(reg.delete("echo").unwrap(), 2);
        assert_eq!(reg.all().unwrap().len(), 1);
        drop(reg);
        let reg = Registry::open(&dir).unwrap();
        assert_eq!(reg.all().unwrap()[0].name, "other");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
