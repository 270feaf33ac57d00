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
    /// Where the component came from, when it was not uploaded: the OCI reference it was
    /// pulled from, pinned by the manifest digest resolved at publish
    /// (`oci://HOST/REPO:TAG@sha256:...`).
    pub source: Option<String>,
    /// What the review at publish found (docs/detection.md): instructions or hidden characters
    /// in its description or schemas, imports its policy does not grant. Never the values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<cordon_core::Finding>,
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

    /// Reads with this registry's connection (what shares its database file: the decisions).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn())
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
            source: row.get(12)?,
            review: row
                .get::<_, Option<String>>(13)?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        })
    }

    const COLUMNS: &'static str = "name, version, digest, blob, publisher, signer, description,
        input_schema, output_schema, policy, policy_hash, published_at, source, review";

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

/// A version's review findings as stored: JSON, or NULL when there are none.
pub(crate) fn review_text(review: &[cordon_core::Finding]) -> Option<String> {
    (!review.is_empty()).then(|| serde_json::to_string(review).unwrap_or_default())
}

/// Records a published version (inside the change's transaction). Fails if that name and
/// version already exist.
pub(crate) fn insert(conn: &Connection, t: &ToolRecord) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO tools (name, version, digest, blob, publisher, signer, description,
                            input_schema, output_schema, policy, policy_hash, published_at,
                            source, review)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
            t.published_at_ms,
            t.source,
            review_text(&t.review)
        ],
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StorageError::AlreadyPublished {
            name: t.name.clone(),
            version: t.version.clone(),
        },
        _ => e.into(),
    })?;
    Ok(())
}

/// Replaces the policy of every version of `name` that does not already have it. Returns how
/// many versions changed and the distinct policy hashes they had before.
pub(crate) fn set_policy(
    conn: &Connection,
    name: &str,
    policy: &str,
    policy_hash: &str,
) -> Result<(usize, Vec<String>), StorageError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT policy_hash FROM tools WHERE name = ?1 AND policy_hash != ?2 ORDER BY policy_hash",
    )?;
    let old: Vec<String> = stmt
        .query_map(params![name, policy_hash], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let changed = conn.execute(
        "UPDATE tools SET policy = ?2, policy_hash = ?3 WHERE name = ?1 AND policy_hash != ?3",
        params![name, policy, policy_hash],
    )?;
    Ok((changed, old))
}

/// Deletes every version of `name` and its quarantine mark (blobs stay: they are
/// content-addressed and may be shared). Returns the versions removed, oldest first.
pub(crate) fn delete(conn: &Connection, name: &str) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare("SELECT version FROM tools WHERE name = ?1 ORDER BY seq")?;
    let versions: Vec<String> = stmt
        .query_map([name], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute("DELETE FROM quarantine WHERE name = ?1", [name])?;
    conn.execute("DELETE FROM tools WHERE name = ?1", [name])?;
    Ok(versions)
}

pub(crate) fn quarantine(
    conn: &Connection,
    name: &str,
    reason: &str,
    at_ms: i64,
) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO quarantine (name, reason, at) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET reason = excluded.reason, at = excluded.at",
        params![name, reason, at_ms],
    )?;
    Ok(())
}

/// Lifts a quarantine; true if there was one.
pub(crate) fn release(conn: &Connection, name: &str) -> Result<bool, StorageError> {
    Ok(conn.execute("DELETE FROM quarantine WHERE name = ?1", [name])? > 0)
}
