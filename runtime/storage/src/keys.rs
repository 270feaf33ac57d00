//! API keys: random 256-bit secrets, shown once at creation and stored only as a sha256 hash.
//!
//! A key reads `cordon_<id>_<secret>`: `id` (12 hex characters) is public and finds the row;
//! the secret's hash is then compared in constant time. A lookup of an unknown id still does a
//! comparison, so timing does not tell a known id from an unknown one.

use crate::error::StorageError;
use crate::schema;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cordon_core::Role;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use subtle::ConstantTimeEq;

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// What it is for (free text, at most 256 characters).
    #[serde(default)]
    pub description: String,
    pub created_at_ms: i64,
    /// After this the key authenticates nothing (none: it does not expire).
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// When the key last authenticated a request (kept to the minute: written at most once a
    /// minute per key, so authentication does not write on every request).
    pub last_used_at_ms: Option<i64>,
}

/// What a new key is to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub role: Role,
    pub description: String,
    pub expires_at_ms: Option<i64>,
}

/// The longest key name and description accepted.
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 256;

impl KeySpec {
    pub fn new(name: &str, role: Role) -> Self {
        KeySpec {
            name: name.to_owned(),
            role,
            description: String::new(),
            expires_at_ms: None,
        }
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    pub fn expires_at(mut self, at_ms: Option<i64>) -> Self {
        self.expires_at_ms = at_ms;
        self
    }

    /// Refuses a name that is empty, too long or not `[A-Za-z0-9_.@-]` (it appears in logs and
    /// tables), a description past 256 characters or with control characters, and an expiry
    /// that is not in the future.
    pub fn check(&self, now_ms: i64) -> Result<(), StorageError> {
        let bad = |why: String| Err(StorageError::InvalidKey(why));
        let name_ok = (1..=MAX_NAME).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'));
        if !name_ok {
            return bad(format!(
                "a key name is 1 to {MAX_NAME} characters of A-Z a-z 0-9 _ . @ -"
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION
            || self.description.chars().any(char::is_control)
        {
            return bad(format!(
                "a key description is at most {MAX_DESCRIPTION} characters, without control characters"
            ));
        }
        if let Some(at) = self.expires_at_ms
            && at <= now_ms
        {
            return bad("the expiry must be in the future".into());
        }
        Ok(())
    }
}

impl ApiKey {
    /// `active`, `expired` or `revoked`, at `now_ms`.
    pub fn state(&self, now_ms: i64) -> &'static str {
        if self.revoked_at_ms.is_some() {
            "revoked"
        } else if self.expires_at_ms.is_some_and(|at| at <= now_ms) {
            "expired"
        } else {
            "active"
        }
    }
}

/// How stale `last_used_at` may get before an authentication writes it again.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The full key, returned once by [`KeyStore::create`]. `Debug` hides it.
pub struct NewKey {
    pub key: ApiKey,
    pub secret: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The columns [`KeyStore::read`] reads, in its order.
const COLUMNS: &str =
    "id, name, role, hash, created_at, revoked_at, last_used_at, description, expires_at";

pub struct KeyStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random<const N: usize>() -> Result<[u8; N], StorageError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| StorageError::Corrupt(format!("no randomness: {e}")))?;
    Ok(b)
}

impl KeyStore {
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        Ok(KeyStore {
            conn: Mutex::new(schema::open(&data_dir.join("cordon.db"))?),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiKey, String)> {
        let role: String = r.get(2)?;
        Ok((
            ApiKey {
                id: r.get(0)?,
                name: r.get(1)?,
                role: Role::parse(&role).unwrap_or(Role::Auditor),
                created_at_ms: r.get(4)?,
                revoked_at_ms: r.get(5)?,
                last_used_at_ms: r.get(6)?,
                description: r.get(7)?,
                expires_at_ms: r.get(8)?,
            },
            r.get(3)?,
        ))
    }

    /// Every key with its stored hash.
    pub fn table(&self) -> Result<KeyTable, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM api_keys"))?;
        let rows = stmt.query_map([], Self::read)?;
        Ok(KeyTable::new(rows.collect::<Result<_, _>>()?))
    }

    /// Records when keys were last used (never moving a time back).
    pub fn touch(&self, used: &[(String, i64)]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (id, at) in used {
            tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1
                 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )?
            .execute(params![id, at])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<ApiKey>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([], Self::read)?;
        Ok(rows.map(|r| r.map(|(k, _)| k)).collect::<Result<_, _>>()?)
    }
}

/// A presented key split into its id and secret (`cordon_<id>_<secret>`); anything else is
/// all secret and no id, which matches nothing.
pub(crate) fn split(presented: &str) -> (&str, &str) {
    presented
        .strip_prefix("cordon_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap_or(("", presented))
}

/// The key whose row was found, if `secret` is its secret (compared in constant time, and
/// compared even when no row was found), it is not revoked, and it has not expired by `now_ms`.
pub(crate) fn check(found: Option<(ApiKey, String)>, secret: &str, now_ms: i64) -> Option<ApiKey> {
    let presented_hash = hash(secret);
    let (key, stored) = match found {
        Some((key, stored)) => (Some(key), hex::decode(stored).unwrap_or_default()),
        None => (None, vec![0u8; 32]),
    };
    let matches: bool = presented_hash.ct_eq(stored.as_slice()).into();
    key.filter(|k| {
        matches && k.revoked_at_ms.is_none() && k.expires_at_ms.is_none_or(|at| now_ms < at)
    })
}

/// Every key with its stored hash, for a server to hold in memory so that authenticating a
/// request reads no database (it is reloaded from the store every second, and after each change
/// the server makes).
#[derive(Clone, Default)]
pub struct KeyTable {
    by_id: std::collections::HashMap<String, (ApiKey, String)>,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("keys", &self.by_id.len())
            .finish_non_exhaustive()
    }
}

impl KeyTable {
    /// A table of (key, stored hash) rows.
    pub fn new(rows: Vec<(ApiKey, String)>) -> Self {
        KeyTable {
            by_id: rows
                .into_iter()
                .map(|(k, h)| (k.id.clone(), (k, h)))
                .collect(),
        }
    }

    /// The key a presented secret belongs to, if it is valid, not revoked and not expired
    /// at `now_ms` (compared in constant time).
    pub fn authenticate(&self, presented: &str, now_ms: i64) -> Option<ApiKey> {
        let (id, secret) = split(presented);
        let found = (id.len() == 12)
            .then(|| self.by_id.get(id).cloned())
            .flatten();
        check(found, secret, now_ms)
    }

    /// Whether a key with this id exists (revoked or not).
    pub fn knows(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The key with this id or name (revoked or not), without its hash.
    pub fn find(&self, id_or_name: &str) -> Option<ApiKey> {
        self.by_id
            .get(id_or_name)
            .or_else(|| self.by_id.values().find(|(k, _)| k.name == id_or_name))
            .map(|(k, _)| k.clone())
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Whether an authentication at `now_ms` should write the key's `last_used_at`.
pub fn last_used_is_stale(key: &ApiKey, now_ms: i64) -> bool {
    key.last_used_at_ms
        .is_none_or(|t| now_ms - t >= LAST_USED_RESOLUTION_MS)
}

/// A new key: the key, whose secret is the only copy, and the hash to store (hex).
pub(crate) fn generate(spec: &KeySpec, now_ms: i64) -> Result<(NewKey, String), StorageError> {
    spec.check(now_ms)?;
    let id = hex::encode(random::<6>()?);
    let secret = URL_SAFE_NO_PAD.encode(random::<32>()?);
    let stored = hex::encode(hash(&secret));
    Ok((
        NewKey {
            secret: format!("cordon_{id}_{secret}"),
            key: ApiKey {
                id,
                name: spec.name.clone(),
                role: spec.role,
                description: spec.description.clone(),
                created_at_ms: now_ms,
                expires_at_ms: spec.expires_at_ms,
                revoked_at_ms: None,
                last_used_at_ms: None,
            },
        },
        stored,
    ))
}

/// Creates a key (inside the change's transaction). The returned secret is the only copy.
pub(crate) fn create(
    conn: &Connection,
    spec: &KeySpec,
    now_ms: i64,
) -> Result<NewKey, StorageError> {
    let (new, stored) = generate(spec, now_ms)?;
    let taken: bool = conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE name = ?1",
        [&spec.name],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if taken {
        return Err(StorageError::KeyNameTaken(spec.name.clone()));
    }
    conn.execute(
        "INSERT INTO api_keys (id, name, role, hash, created_at, description, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            new.key.id,
            spec.name,
            spec.role.as_str(),
            stored,
            now_ms,
            spec.description,
            spec.expires_at_ms
        ],
    )?;
    Ok(new)
}

/// Revokes by id or name; the key, if a live one was revoked.
pub(crate) fn revoke(
    conn: &Connection,
    id_or_name: &str,
    now_ms: i64,
) -> Result<Option<ApiKey>, StorageError> {
    let found = conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM api_keys WHERE (id = ?1 OR name = ?1) AND revoked_at IS NULL"
            ),
            [id_or_name],
            KeyStore::read,
        )
        .optional()?;
    let Some((mut key, _)) = found else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1",
        params![key.id, now_ms],
    )?;
    key.revoked_at_ms = Some(now_ms);
    Ok(Some(key))
}
